/*
 * common/bytes.h — bytes as slices, a bounds-checked reader with a sticky
 * error, and a growable buffer whose error is checked once at the end.
 *
 * Every parser of untrusted bytes in framelog reads through fl_reader_t
 * (GStreamer's byte reader habit): a read past the end sets a sticky error,
 * returns zeros, and every later read fails too, so a parser can read a whole
 * header and check `r.err` once. Nothing here allocates except fl_buf_t.
 *
 * fl_buf_t is the writer side: appends grow the buffer up to an optional cap;
 * a failed allocation or a cap overrun sets `err` and later appends do
 * nothing, so a writer checks `b.err` once when it is done.
 *
 * Fixed-width integers are read and written little- or big-endian as the
 * format in question says; the helpers name the order.
 */
#ifndef FL_COMMON_BYTES_H
#define FL_COMMON_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} fl_slice_t;

static inline fl_slice_t fl_slice(const void *p, size_t n)
{
    fl_slice_t s = {(const uint8_t *)p, n};
    return s;
}

static inline fl_slice_t fl_slice_str(const char *s)
{
    return fl_slice(s, s ? strlen(s) : 0);
}

static inline int fl_slice_eq(fl_slice_t a, fl_slice_t b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline int fl_slice_eq_str(fl_slice_t a, const char *s)
{
    return fl_slice_eq(a, fl_slice_str(s));
}

/* ---- fixed-width integers ---- */

/* The value of one hexadecimal digit (either case), or -1. */
static inline int fl_hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline uint16_t fl_load_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t fl_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t fl_load_be64(const uint8_t *p)
{
    return (uint64_t)fl_load_be32(p) << 32 | fl_load_be32(p + 4);
}
static inline uint16_t fl_load_le16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[1] << 8 | p[0]);
}
static inline uint32_t fl_load_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline uint64_t fl_load_le64(const uint8_t *p)
{
    return (uint64_t)fl_load_le32(p + 4) << 32 | fl_load_le32(p);
}
static inline void fl_store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void fl_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void fl_store_be64(uint8_t *p, uint64_t v)
{
    fl_store_be32(p, (uint32_t)(v >> 32));
    fl_store_be32(p + 4, (uint32_t)v);
}
static inline void fl_store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void fl_store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void fl_store_le64(uint8_t *p, uint64_t v)
{
    fl_store_le32(p, (uint32_t)v);
    fl_store_le32(p + 4, (uint32_t)(v >> 32));
}

/* ---- bounds-checked reader ---- */

typedef struct {
    const uint8_t *p; /* start of the bytes */
    size_t n;         /* their count */
    size_t off;       /* next byte to read */
    int err;          /* 0, or FL_ETRUNCATED once a read ran past the end */
} fl_reader_t;

void fl_reader_init(fl_reader_t *r, fl_slice_t s);
/* Bytes left to read (0 once err is set). */
size_t fl_reader_left(const fl_reader_t *r);
/* Take n bytes as a slice into the reader's bytes; an empty slice on error. */
fl_slice_t fl_reader_take(fl_reader_t *r, size_t n);
/* Copy n bytes out; zeros on error. */
void fl_reader_copy(fl_reader_t *r, void *dst, size_t n);
void fl_reader_skip(fl_reader_t *r, size_t n);
uint8_t fl_reader_u8(fl_reader_t *r);
uint16_t fl_reader_be16(fl_reader_t *r);
uint32_t fl_reader_be32(fl_reader_t *r);
uint64_t fl_reader_be64(fl_reader_t *r);
uint16_t fl_reader_le16(fl_reader_t *r);
uint32_t fl_reader_le32(fl_reader_t *r);
uint64_t fl_reader_le64(fl_reader_t *r);

/* ---- growable buffer ---- */

typedef struct {
    uint8_t *p; /* bytes, owned; NULL until the first append */
    size_t n;   /* bytes used */
    size_t cap; /* bytes allocated */
    size_t max; /* 0 for no cap, else appends past it set err = FL_ELIMIT */
    int err;    /* sticky: FL_ENOMEM or FL_ELIMIT */
} fl_buf_t;

void fl_buf_init(fl_buf_t *b, size_t max);
void fl_buf_free(fl_buf_t *b);
/* Forget the contents but keep the allocation; clears err. */
void fl_buf_reset(fl_buf_t *b);
/* Make room for n more bytes; returns 0 or the sticky error. */
int fl_buf_reserve(fl_buf_t *b, size_t n);
void fl_buf_append(fl_buf_t *b, const void *p, size_t n);
void fl_buf_append_str(fl_buf_t *b, const char *s);
void fl_buf_u8(fl_buf_t *b, uint8_t v);
void fl_buf_be16(fl_buf_t *b, uint16_t v);
void fl_buf_be32(fl_buf_t *b, uint32_t v);
void fl_buf_be64(fl_buf_t *b, uint64_t v);
void fl_buf_le16(fl_buf_t *b, uint16_t v);
void fl_buf_le32(fl_buf_t *b, uint32_t v);
void fl_buf_le64(fl_buf_t *b, uint64_t v);
/* printf-style append. */
void fl_buf_printf(fl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (n <= b->n), moving the rest down. */
void fl_buf_consume(fl_buf_t *b, size_t n);
static inline fl_slice_t fl_buf_slice(const fl_buf_t *b)
{
    return fl_slice(b->p, b->n);
}

#endif
