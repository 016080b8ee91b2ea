/*
 * server/recbuf.c — see recbuf.h.
 */
#include "server/video/recbuf.h"

#include <stdlib.h>

fl_recbuf_t *fl_recbuf_new(size_t reserve, size_t max)
{
    fl_recbuf_t *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    fl_buf_init(&r->b, max);
    if (reserve && fl_buf_reserve(&r->b, reserve) != 0) {
        fl_buf_free(&r->b);
        free(r);
        return NULL;
    }
    return r;
}

fl_recbuf_t *fl_recbuf_ref(fl_recbuf_t *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void fl_recbuf_unref(fl_recbuf_t *r)
{
    /* release/acquire: whatever a holder did with the bytes happens
     * before the free */
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        fl_buf_free(&r->b);
        free(r);
    }
}

void fl_recbuf_release(void *r)
{
    fl_recbuf_unref(r);
}
