/*
 * common/eventstream.c — AWS's event-stream framing; see eventstream.h
 * for the byte layout and the limits. The reader goes through one
 * bounds-checked reader (fl_reader_t) whose sticky error is checked once
 * per header and once at the end; both CRCs are checked before any header
 * is read.
 */
#include "common/eventstream.h"

#include <string.h>

#include "common/error.h"

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t fl_evs_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
        crc_init(); /* idempotent: two threads at once write the same table */
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

void fl_evs_write(fl_buf_t *b, const char *const *names, const char *const *values, size_t n,
                  fl_slice_t payload)
{
    size_t hlen = 0;
    for (size_t i = 0; i < n; i++)
        hlen += 1 + strlen(names[i]) + 1 + 2 + strlen(values[i]);
    size_t total = FL_EVS_PRELUDE + hlen + payload.n + 4;
    if (total > UINT32_MAX) {
        b->err = b->err ? b->err : FL_ELIMIT;
        return;
    }
    size_t start = b->n;
    fl_buf_be32(b, (uint32_t)total);
    fl_buf_be32(b, (uint32_t)hlen);
    if (b->err)
        return;
    fl_buf_be32(b, fl_evs_crc32(0, b->p + start, 8));
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]), vl = strlen(values[i]);
        fl_buf_u8(b, (uint8_t)nl);
        fl_buf_append(b, names[i], nl);
        fl_buf_u8(b, FL_EVS_STRING);
        fl_buf_be16(b, (uint16_t)vl);
        fl_buf_append(b, values[i], vl);
    }
    fl_buf_append(b, payload.p, payload.n);
    if (b->err)
        return;
    fl_buf_be32(b, fl_evs_crc32(0, b->p + start, total - 4));
}

int fl_evs_read(fl_slice_t in, fl_evs_message_t *m, size_t *used)
{
    memset(m, 0, sizeof *m);
    if (in.n < FL_EVS_PRELUDE)
        return FL_ETRUNCATED;
    uint32_t total = fl_load_be32(in.p), hlen = fl_load_be32(in.p + 4);
    if (fl_load_be32(in.p + 8) != fl_evs_crc32(0, in.p, 8))
        return FL_EMALFORMED;
    if (total < FL_EVS_MIN_MESSAGE || hlen > total - FL_EVS_MIN_MESSAGE)
        return FL_EMALFORMED;
    if (total > FL_EVS_MAX_MESSAGE || hlen > FL_EVS_MAX_HEADERS_LEN)
        return FL_ELIMIT;
    if (in.n < total)
        return FL_ETRUNCATED;
    if (fl_load_be32(in.p + total - 4) != fl_evs_crc32(0, in.p, total - 4))
        return FL_EMALFORMED;
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(in.p + FL_EVS_PRELUDE, hlen));
    while (fl_reader_left(&r) > 0) {
        if (m->n_headers == FL_EVS_MAX_HEADERS)
            return FL_ELIMIT;
        fl_evs_header_t *h = &m->headers[m->n_headers];
        uint8_t nl = fl_reader_u8(&r);
        h->name = fl_reader_take(&r, nl);
        h->type = fl_reader_u8(&r);
        switch (h->type) {
        case FL_EVS_TRUE:
            h->num = 1;
            break;
        case FL_EVS_FALSE:
            h->num = 0;
            break;
        case FL_EVS_BYTE:
            h->num = (int8_t)fl_reader_u8(&r);
            break;
        case FL_EVS_INT16:
            h->num = (int16_t)fl_reader_be16(&r);
            break;
        case FL_EVS_INT32:
            h->num = (int32_t)fl_reader_be32(&r);
            break;
        case FL_EVS_INT64:
        case FL_EVS_TIMESTAMP:
            h->num = (int64_t)fl_reader_be64(&r);
            break;
        case FL_EVS_BYTES:
        case FL_EVS_STRING: {
            uint16_t vl = fl_reader_be16(&r);
            h->str = fl_reader_take(&r, vl);
            break;
        }
        case FL_EVS_UUID:
            h->str = fl_reader_take(&r, 16);
            break;
        default:
            return FL_EMALFORMED;
        }
        if (r.err || nl == 0)
            return FL_EMALFORMED;
        m->n_headers++;
    }
    m->payload = fl_slice(in.p + FL_EVS_PRELUDE + hlen, total - FL_EVS_PRELUDE - hlen - 4);
    *used = total;
    return 0;
}

fl_slice_t fl_evs_header_str(const fl_evs_message_t *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (m->headers[i].type == FL_EVS_STRING && fl_slice_eq_str(m->headers[i].name, name))
            return m->headers[i].str;
    return fl_slice(NULL, 0);
}
