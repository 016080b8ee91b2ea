/*
 * common/bytes.c — the bounds-checked reader and the growable buffer.
 * See bytes.h for the sticky-error contract.
 */
#include "common/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

void fl_reader_init(fl_reader_t *r, fl_slice_t s)
{
    r->p = s.p;
    r->n = s.n;
    r->off = 0;
    r->err = 0;
}

size_t fl_reader_left(const fl_reader_t *r)
{
    return r->err ? 0 : r->n - r->off;
}

/* Returns a pointer to n readable bytes, or NULL (and sets err). */
static const uint8_t *reader_need(fl_reader_t *r, size_t n)
{
    if (r->err)
        return NULL;
    if (n > r->n - r->off) {
        r->err = FL_ETRUNCATED;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

fl_slice_t fl_reader_take(fl_reader_t *r, size_t n)
{
    const uint8_t *p = reader_need(r, n);
    return p ? fl_slice(p, n) : fl_slice(NULL, 0);
}

void fl_reader_copy(fl_reader_t *r, void *dst, size_t n)
{
    const uint8_t *p = reader_need(r, n);
    if (p)
        memcpy(dst, p, n);
    else if (n)
        memset(dst, 0, n);
}

void fl_reader_skip(fl_reader_t *r, size_t n)
{
    (void)reader_need(r, n);
}

uint8_t fl_reader_u8(fl_reader_t *r)
{
    const uint8_t *p = reader_need(r, 1);
    return p ? p[0] : 0;
}

#define READER_INT(name, type, width, load)                                                        \
    type name(fl_reader_t *r)                                                                      \
    {                                                                                              \
        const uint8_t *p = reader_need(r, width);                                                  \
        return p ? load(p) : 0;                                                                    \
    }
READER_INT(fl_reader_be16, uint16_t, 2, fl_load_be16)
READER_INT(fl_reader_be32, uint32_t, 4, fl_load_be32)
READER_INT(fl_reader_be64, uint64_t, 8, fl_load_be64)
READER_INT(fl_reader_le16, uint16_t, 2, fl_load_le16)
READER_INT(fl_reader_le32, uint32_t, 4, fl_load_le32)
READER_INT(fl_reader_le64, uint64_t, 8, fl_load_le64)

void fl_buf_init(fl_buf_t *b, size_t max)
{
    b->p = NULL;
    b->n = 0;
    b->cap = 0;
    b->max = max;
    b->err = 0;
}

void fl_buf_free(fl_buf_t *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->err = 0;
}

void fl_buf_reset(fl_buf_t *b)
{
    b->n = 0;
    b->err = 0;
}

int fl_buf_reserve(fl_buf_t *b, size_t n)
{
    if (b->err)
        return b->err;
    if (n > SIZE_MAX - b->n || (b->max && b->n + n > b->max)) {
        b->err = FL_ELIMIT;
        return b->err;
    }
    size_t need = b->n + n;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->max && cap > b->max)
        cap = b->max;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->err = FL_ENOMEM;
        return b->err;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void fl_buf_append(fl_buf_t *b, const void *p, size_t n)
{
    if (n == 0 || fl_buf_reserve(b, n))
        return;
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void fl_buf_append_str(fl_buf_t *b, const char *s)
{
    fl_buf_append(b, s, strlen(s));
}

void fl_buf_u8(fl_buf_t *b, uint8_t v)
{
    fl_buf_append(b, &v, 1);
}

#define BUF_INT(name, type, width, store)                                                          \
    void name(fl_buf_t *b, type v)                                                                 \
    {                                                                                              \
        uint8_t t[width];                                                                          \
        store(t, v);                                                                               \
        fl_buf_append(b, t, width);                                                                \
    }
BUF_INT(fl_buf_be16, uint16_t, 2, fl_store_be16)
BUF_INT(fl_buf_be32, uint32_t, 4, fl_store_be32)
BUF_INT(fl_buf_be64, uint64_t, 8, fl_store_be64)
BUF_INT(fl_buf_le16, uint16_t, 2, fl_store_le16)
BUF_INT(fl_buf_le32, uint32_t, 4, fl_store_le32)
BUF_INT(fl_buf_le64, uint64_t, 8, fl_store_le64)

void fl_buf_printf(fl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    if (b->err)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = FL_EINVAL;
        return;
    }
    if (fl_buf_reserve(b, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void fl_buf_consume(fl_buf_t *b, size_t n)
{
    if (n >= b->n) {
        b->n = 0;
        return;
    }
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
}
