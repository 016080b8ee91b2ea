/*
 * common/cbor.c — CBOR to JSON text and back, for AWS's
 * application/x-amz-cbor-1.1 (see cbor.h).
 *
 * The reader is recursive with the depth bounded by the caller's limit;
 * every length is checked against the bytes left before anything is read
 * or allocated, so a hostile length cannot make it allocate or loop more
 * than the input's size allows. Writers append to an fl_buf_t (its sticky
 * error is checked once at the end).
 */
#include "common/cbor.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/awstime.h"
#include "common/base64.h"
#include "common/error.h"

#define INDEFINITE 31

typedef struct {
    const uint8_t *p;
    size_t n, off;
    size_t items, max_items, max_depth;
    fl_buf_t *out;
} rd_t;

/* The initial byte and its argument. ai INDEFINITE: no argument. */
static int head(rd_t *r, int *major, int *ai, uint64_t *val)
{
    if (r->off >= r->n)
        return FL_EMALFORMED;
    uint8_t b = r->p[r->off++];
    *major = b >> 5;
    *ai = b & 31;
    *val = 0;
    if (*ai < 24) {
        *val = (uint64_t)*ai;
        return 0;
    }
    if (*ai == INDEFINITE)
        return 0;
    if (*ai > 27)
        return FL_EMALFORMED;
    size_t len = (size_t)1 << (*ai - 24);
    if (r->n - r->off < len)
        return FL_EMALFORMED;
    for (size_t i = 0; i < len; i++)
        *val = *val << 8 | r->p[r->off++];
    return 0;
}

/* IEEE 754 half precision (RFC 8949, appendix D). */
static double half(uint16_t h)
{
    int e = (h >> 10) & 0x1f;
    int m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e != 31 ? ldexp(m + 1024, e - 25) : m ? NAN : INFINITY;
    return h & 0x8000 ? -v : v;
}

static int put_double(rd_t *r, double d)
{
    if (!isfinite(d))
        return FL_EMALFORMED; /* JSON has no NaN or infinity */
    fl_buf_printf(r->out, "%.17g", d);
    return 0;
}

/* A float of major 7 (ai 25/26/27) with its bits in val. */
static int put_float(rd_t *r, int ai, uint64_t val)
{
    if (ai == 25)
        return put_double(r, half((uint16_t)val));
    if (ai == 26) {
        uint32_t u = (uint32_t)val;
        float f;
        memcpy(&f, &u, sizeof f);
        return put_double(r, f);
    }
    double d;
    memcpy(&d, &val, sizeof d);
    return put_double(r, d);
}

/* The bytes of a (possibly indefinite) string of major m into b. */
static int string_bytes(rd_t *r, int major, int ai, uint64_t val, fl_buf_t *b)
{
    if (ai != INDEFINITE) {
        if (val > r->n - r->off)
            return FL_EMALFORMED;
        fl_buf_append(b, r->p + r->off, (size_t)val);
        r->off += (size_t)val;
        return 0;
    }
    for (;;) { /* definite chunks of the same major type, then a break */
        int m, a;
        uint64_t v;
        int rc = head(r, &m, &a, &v);
        if (rc)
            return rc;
        if (m == 7 && a == INDEFINITE)
            return 0;
        if (m != major || a == INDEFINITE)
            return FL_EMALFORMED;
        if ((rc = string_bytes(r, m, a, v, b)) != 0)
            return rc;
    }
}

static int item(rd_t *r, size_t depth);

/* Is the next byte a break (consumed if so)? */
static int at_break(rd_t *r)
{
    if (r->off < r->n && r->p[r->off] == 0xff) {
        r->off++;
        return 1;
    }
    return 0;
}

/* Elements of an array or map: val of them, or up to a break. */
static int elements(rd_t *r, size_t depth, int ai, uint64_t val, int map)
{
    if (ai != INDEFINITE && val > r->n - r->off)
        return FL_EMALFORMED; /* each element takes a byte at least */
    fl_buf_u8(r->out, map ? '{' : '[');
    for (uint64_t i = 0;; i++) {
        if (ai == INDEFINITE ? at_break(r) : i == val)
            break;
        if (i)
            fl_buf_u8(r->out, ',');
        if (map) {
            int m, a;
            uint64_t v;
            int rc = head(r, &m, &a, &v);
            if (rc)
                return rc;
            if (m != 3)
                return FL_EMALFORMED; /* keys are text */
            fl_buf_t key;
            fl_buf_init(&key, 0);
            if ((rc = string_bytes(r, m, a, v, &key)) == 0)
                fl_json_write_string(r->out, fl_buf_slice(&key));
            fl_buf_free(&key);
            if (rc)
                return rc;
            fl_buf_u8(r->out, ':');
        }
        int rc = item(r, depth + 1);
        if (rc)
            return rc;
    }
    fl_buf_u8(r->out, map ? '}' : ']');
    return 0;
}

/* Tag 1: an epoch time, as JSON epoch seconds. An integer counts
 * milliseconds (AWS's Java SDK), a float seconds. */
static int timestamp(rd_t *r)
{
    int m, a;
    uint64_t v;
    int rc = head(r, &m, &a, &v);
    if (rc)
        return rc;
    if (m == 7 && a >= 25 && a <= 27)
        return put_float(r, a, v);
    if ((m != 0 && m != 1) || a == INDEFINITE)
        return FL_EMALFORMED;
    /* |ms| within what ns in 64 bits holds (years 1678..2262); a negative
     * one is -1 - v */
    if (v >= (uint64_t)INT64_MAX / 1000000)
        return FL_ELIMIT;
    int64_t ms = m == 0 ? (int64_t)v : -1 - (int64_t)v;
    fl_awstime_buf_epoch(r->out, ms * 1000000, 3);
    return 0;
}

static int item(rd_t *r, size_t depth)
{
    if (depth > r->max_depth || ++r->items > r->max_items)
        return FL_ELIMIT;
    int major, ai;
    uint64_t val;
    int rc = head(r, &major, &ai, &val);
    if (rc)
        return rc;
    if (ai == INDEFINITE && (major < 2 || major == 6))
        return FL_EMALFORMED;
    switch (major) {
    case 0:
        fl_buf_printf(r->out, "%" PRIu64, val);
        return 0;
    case 1: /* -1 - val, which may be -2^64 */
        fl_buf_printf(r->out, "-%" PRIu64, val + 1);
        if (val == UINT64_MAX) {
            r->out->n -= 1; /* printed "-0": write 18446744073709551616 */
            fl_buf_append_str(r->out, "18446744073709551616");
        }
        return 0;
    case 2: {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        if ((rc = string_bytes(r, major, ai, val, &b)) == 0) {
            fl_buf_u8(r->out, '"');
            fl_base64_encode(r->out, fl_buf_slice(&b));
            fl_buf_u8(r->out, '"');
        }
        fl_buf_free(&b);
        return rc;
    }
    case 3: {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        if ((rc = string_bytes(r, major, ai, val, &b)) == 0)
            fl_json_write_string(r->out, fl_buf_slice(&b));
        fl_buf_free(&b);
        return rc;
    }
    case 4:
    case 5:
        return elements(r, depth, ai, val, major == 5);
    case 6:
        if (val == 1)
            return timestamp(r);
        return item(r, depth + 1); /* other tags: their value as is */
    default:                       /* 7 */
        if (ai == 20 || ai == 21) {
            fl_buf_append_str(r->out, ai == 21 ? "true" : "false");
            return 0;
        }
        if (ai == 22 || ai == 23) { /* null, undefined */
            fl_buf_append_str(r->out, "null");
            return 0;
        }
        if (ai >= 25 && ai <= 27)
            return put_float(r, ai, val);
        return FL_EMALFORMED; /* a break out of place, or another simple value */
    }
}

int fl_cbor_to_json(fl_slice_t cbor, const fl_cbor_limits_t *lim, fl_buf_t *json, size_t *err_off)
{
    rd_t r = {.p = cbor.p,
              .n = cbor.n,
              .max_depth = lim && lim->max_depth ? lim->max_depth : 32,
              .max_items = lim && lim->max_items ? lim->max_items : 100000,
              .out = json};
    int rc = item(&r, 0);
    if (!rc && r.off != r.n)
        rc = FL_EMALFORMED; /* bytes after the item */
    if (!rc && json->err)
        rc = json->err == FL_ELIMIT ? FL_ELIMIT : FL_ENOMEM;
    if (rc && err_off)
        *err_off = r.off;
    return rc;
}

/* ---- JSON to CBOR ---- */

static void put_head(fl_buf_t *b, int major, uint64_t v)
{
    uint8_t m = (uint8_t)(major << 5);
    if (v < 24) {
        fl_buf_u8(b, m | (uint8_t)v);
    } else if (v <= 0xff) {
        fl_buf_u8(b, m | 24);
        fl_buf_u8(b, (uint8_t)v);
    } else if (v <= 0xffff) {
        fl_buf_u8(b, m | 25);
        fl_buf_be16(b, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        fl_buf_u8(b, m | 26);
        fl_buf_be32(b, (uint32_t)v);
    } else {
        fl_buf_u8(b, m | 27);
        fl_buf_be64(b, v);
    }
}

static int named(const char *const *list, const char *key)
{
    for (; key && list && *list; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

static void put_int(fl_buf_t *b, int64_t v)
{
    if (v >= 0)
        put_head(b, 0, (uint64_t)v);
    else
        put_head(b, 1, (uint64_t)(-1 - v));
}

static int value(const fl_json_t *v, const char *key, const fl_cbor_shape_t *shape, fl_buf_t *out)
{
    switch (v->type) {
    case FL_JSON_NULL:
        fl_buf_u8(out, 0xf6);
        return 0;
    case FL_JSON_FALSE:
    case FL_JSON_TRUE:
        fl_buf_u8(out, v->type == FL_JSON_TRUE ? 0xf5 : 0xf4);
        return 0;
    case FL_JSON_STRING:
        if (shape && named(shape->blobs, key)) {
            fl_buf_t raw;
            fl_buf_init(&raw, 0);
            int rc = fl_base64_decode(&raw, fl_slice(v->str, v->len));
            if (!rc) {
                put_head(out, 2, raw.n);
                fl_buf_append(out, raw.p, raw.n);
            }
            fl_buf_free(&raw);
            return rc ? FL_EINVAL : 0;
        }
        put_head(out, 3, v->len);
        fl_buf_append(out, v->str, v->len);
        return 0;
    case FL_JSON_NUMBER: {
        int64_t i;
        if (shape && named(shape->timestamps, key)) {
            int64_t ns;
            if (fl_awstime_parse_epoch(fl_slice(v->str, v->len), &ns) != 0)
                return FL_EINVAL;
            int64_t ms = ns / 1000000 - (ns % 1000000 < 0); /* floor */
            put_head(out, 6, 1);
            put_int(out, ms);
            return 0;
        }
        if (fl_json_int64(v, &i) == 0) {
            put_int(out, i);
            return 0;
        }
        double d;
        if (fl_json_double(v, &d) != 0)
            return FL_EINVAL;
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        fl_buf_u8(out, 0xfb);
        fl_buf_be64(out, bits);
        return 0;
    }
    case FL_JSON_ARRAY:
    case FL_JSON_OBJECT: {
        put_head(out, v->type == FL_JSON_OBJECT ? 5 : 4, v->count);
        for (const fl_json_t *e = v->child; e; e = e->next) {
            if (v->type == FL_JSON_OBJECT) {
                put_head(out, 3, e->key_len);
                fl_buf_append(out, e->key, e->key_len);
            }
            /* array elements keep the member name of their array */
            int rc = value(e, v->type == FL_JSON_OBJECT ? e->key : key, shape, out);
            if (rc)
                return rc;
        }
        return 0;
    }
    }
    return FL_EINVAL;
}

int fl_cbor_from_json(const fl_json_t *v, const fl_cbor_shape_t *shape, fl_buf_t *out)
{
    int rc = value(v, NULL, shape, out);
    if (!rc && out->err)
        rc = FL_ENOMEM;
    return rc;
}
