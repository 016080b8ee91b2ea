/*
 * server/recbuf.c — see recbuf.h.
 */
#include "server/video/recbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct fl_recbuf_old {
    fl_recbuf_old_t *next;
    uint8_t *p;
};

fl_recbuf_t *fl_recbuf_new(size_t reserve, size_t max)
{
    fl_recbuf_t *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->pinned = 0;
    r->old = NULL;
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
        while (r->old) {
            fl_recbuf_old_t *o = r->old;
            r->old = o->next;
            free(o->p);
            free(o);
        }
        free(r);
    }
}

void fl_recbuf_pin(fl_recbuf_t *r)
{
    r->pinned = 1;
}

int fl_recbuf_grow(fl_recbuf_t *r, size_t n)
{
    fl_buf_t *b = &r->b;
    if (b->err)
        return b->err;
    if (n <= b->cap - b->n)
        return 0;
    if (!r->pinned)
        return fl_buf_reserve(b, n);
    /* pinned: a new allocation; the old one stays until the record goes */
    if (n > SIZE_MAX / 2 - b->n || (b->max && b->n + n > b->max)) {
        b->err = FL_ELIMIT;
        return b->err;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n)
        cap *= 2;
    if (b->max && cap > b->max)
        cap = b->max;
    uint8_t *p = malloc(cap);
    fl_recbuf_old_t *o = malloc(sizeof *o);
    if (!p || !o) {
        free(p);
        free(o);
        b->err = FL_ENOMEM;
        return b->err;
    }
    if (b->n)
        memcpy(p, b->p, b->n);
    o->p = b->p;
    o->next = r->old;
    r->old = o;
    b->p = p;
    b->cap = cap;
    return 0;
}

void fl_recbuf_release(void *r)
{
    fl_recbuf_unref(r);
}
