/*
 * server/core/clienthello.c — a bounded reader of a TLS ClientHello, for
 * one question: does the client offer ALPN "h2"?
 *
 * Layout read (RFC 8446 4.1.2 and 5.1, RFC 7301 3.1; TLS 1.2's ClientHello
 * is the same up to the extensions), all integers big-endian:
 *
 *   record:      type u8 (22, handshake) | version u16 (3.x) |
 *                length u16 (1..16384) | fragment
 *   handshake:   msg_type u8 (1, client_hello) | length u24 | body
 *                (the message may span several records: their fragments
 *                are joined in order)
 *   body:        legacy_version u16 | random [32] |
 *                session_id u8 len (0..32) + bytes |
 *                cipher_suites u16 len (even, >= 2) + bytes |
 *                compression_methods u8 len (>= 1) + bytes |
 *                [ extensions u16 len + extension... ]   (the rest exactly)
 *   extension:   type u16 | length u16 | data
 *   ALPN (16):   list u16 len (the rest exactly) + { name u8 len (>= 1) + bytes }...
 *
 * Limits and invariants:
 * - Only the first FL_CLIENTHELLO_MAX bytes of a connection are read (one
 *   full-size record); a ClientHello that does not end within them is
 *   FL_ELIMIT. Nothing past in is read; the joined message is copied into
 *   a buffer of that size on the stack.
 * - Anything that is not a well-formed ClientHello is FL_EMALFORMED. This
 *   reader only sorts connections: the TLS library that then gets the
 *   untouched bytes (ours or libwebsockets') checks everything again, so
 *   a hello this reader is lenient about is still refused there.
 * - A second ALPN extension is malformed (RFC 8446 4.2: at most one of
 *   each type).
 * Fuzzed by tests/fuzz/fuzz_clienthello.c.
 */
#include "server/core/clienthello.h"

#include <string.h>

#include "common/error.h"

#define REC_HANDSHAKE    22
#define HS_CLIENT_HELLO  1
#define EXT_ALPN         16
#define REC_MAX_FRAGMENT 16384

/* The body of a ClientHello (msg_type and length already taken). */
static int parse_body(fl_slice_t body, fl_clienthello_t *out)
{
    fl_reader_t r;
    fl_reader_init(&r, body);
    fl_reader_skip(&r, 2 + 32); /* legacy_version, random */
    uint8_t sid = fl_reader_u8(&r);
    if (sid > 32)
        return FL_EMALFORMED;
    fl_reader_skip(&r, sid);
    uint16_t cs = fl_reader_be16(&r);
    if (cs < 2 || cs % 2)
        return FL_EMALFORMED;
    fl_reader_skip(&r, cs);
    uint8_t comp = fl_reader_u8(&r);
    if (comp < 1)
        return FL_EMALFORMED;
    fl_reader_skip(&r, comp);
    if (r.err)
        return FL_EMALFORMED;
    if (fl_reader_left(&r) == 0)
        return 0; /* no extensions */
    uint16_t exts = fl_reader_be16(&r);
    if (r.err || exts != fl_reader_left(&r))
        return FL_EMALFORMED;
    while (fl_reader_left(&r) > 0) {
        uint16_t type = fl_reader_be16(&r);
        uint16_t len = fl_reader_be16(&r);
        fl_slice_t data = fl_reader_take(&r, len);
        if (r.err)
            return FL_EMALFORMED;
        if (type != EXT_ALPN)
            continue;
        if (out->alpn)
            return FL_EMALFORMED;
        out->alpn = 1;
        fl_reader_t a;
        fl_reader_init(&a, data);
        uint16_t list = fl_reader_be16(&a);
        if (a.err || list < 2 || list != fl_reader_left(&a))
            return FL_EMALFORMED;
        while (fl_reader_left(&a) > 0) {
            uint8_t n = fl_reader_u8(&a);
            fl_slice_t name = fl_reader_take(&a, n);
            if (a.err || n == 0)
                return FL_EMALFORMED;
            if (fl_slice_eq_str(name, "h2"))
                out->h2 = 1;
            else if (fl_slice_eq_str(name, "http/1.1"))
                out->http11 = 1;
        }
    }
    return r.err ? FL_EMALFORMED : 0;
}

long fl_clienthello_scan(fl_slice_t in, fl_clienthello_t *out)
{
    uint8_t msg[FL_CLIENTHELLO_MAX]; /* the handshake message's bytes, joined */
    size_t mn = 0, off = 0;
    memset(out, 0, sizeof *out);
    for (;;) {
        /* a record header at off */
        if (off + 5 > FL_CLIENTHELLO_MAX)
            return FL_ELIMIT;
        if (in.n < off + 5)
            return (long)(off + 5);
        const uint8_t *h = in.p + off;
        size_t len = fl_load_be16(h + 3);
        if (h[0] != REC_HANDSHAKE || h[1] != 3 || len == 0 || len > REC_MAX_FRAGMENT)
            return FL_EMALFORMED;
        if (off + 5 + len > FL_CLIENTHELLO_MAX)
            return FL_ELIMIT;
        if (in.n < off + 5 + len)
            return (long)(off + 5 + len);
        /* mn <= off, so mn + len <= FL_CLIENTHELLO_MAX */
        memcpy(msg + mn, h + 5, len);
        mn += len;
        off += 5 + len;
        if (mn < 4)
            continue; /* the message's header spans records */
        if (msg[0] != HS_CLIENT_HELLO)
            return FL_EMALFORMED;
        size_t body = ((size_t)msg[1] << 16) | ((size_t)msg[2] << 8) | msg[3];
        if (4 + body > FL_CLIENTHELLO_MAX)
            return FL_ELIMIT;
        if (mn < 4 + body)
            continue; /* the message goes on in the next record */
        if (mn > 4 + body)
            return FL_EMALFORMED; /* other handshake messages before the server spoke */
        int rc = parse_body(fl_slice(msg + 4, body), out);
        if (rc)
            return rc;
        out->len = off;
        return 0;
    }
}
