/*
 * tests/test_server_clienthello.c — server/core/clienthello.c, the reader
 * that sorts a TLS listener's connections by their ClientHello: real
 * hellos of openssl, curl and node (captured into the fuzz corpus) and
 * what ALPN they offer; every prefix asks for more; a hello over two
 * records; what is not TLS; the limits; malformed ALPN lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "harness.h"
#include "server/core/clienthello.h"

#define CORPUS FL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_clienthello/"

static uint8_t *load(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, CORPUS "%s", name);
    uint8_t *p = (uint8_t *)fl_test_read_file(path, n);
    ck_assert_msg(p != NULL, "cannot read %s", path);
    return p;
}

static const struct {
    const char *file;
    int alpn, h2, http11;
} real[] = {
    {"openssl_h2_http11", 1, 1, 1},
    {"openssl_no_alpn", 0, 0, 0},
    {"openssl_tls12_http11", 1, 0, 1},
    {"curl_http2", 1, 1, 1},
    {"node_h2", 1, 1, 0},
    {"curl_http2_two_records", 1, 1, 1},
};

START_TEST(real_hellos)
{
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        size_t n = 0;
        uint8_t *p = load(real[i].file, &n);
        fl_clienthello_t ch;
        ck_assert_msg(fl_clienthello_scan(fl_slice(p, n), &ch) == 0, "%s", real[i].file);
        ck_assert_msg(ch.alpn == real[i].alpn && ch.h2 == real[i].h2 && ch.http11 == real[i].http11,
                      "%s: alpn %d h2 %d http/1.1 %d", real[i].file, ch.alpn, ch.h2, ch.http11);
        ck_assert_uint_eq(ch.len, n);
        free(p);
    }
}
END_TEST

/* Bytes arriving one at a time: until the last, the reader asks for more
 * (a record header, then the record), and never for more than the hello. */
START_TEST(every_prefix_asks_for_more)
{
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        size_t n = 0;
        uint8_t *p = load(real[i].file, &n);
        for (size_t k = 0; k < n; k++) {
            fl_clienthello_t ch;
            long r = fl_clienthello_scan(fl_slice(p, k), &ch);
            ck_assert_msg(r > (long)k && r <= (long)n, "%s: %zu bytes: %ld", real[i].file, k, r);
            if (k < 5)
                ck_assert_int_eq(r, 5);
        }
        free(p);
    }
}
END_TEST

/* A ClientHello: record header, handshake header, a body with these
 * extensions (type, length, data as given). */
static size_t hello(uint8_t *out, const uint8_t *ext, size_t next)
{
    uint8_t body[4096];
    size_t b = 0;
    body[b++] = 3;
    body[b++] = 3;
    memset(body + b, 0x11, 32);
    b += 32;
    body[b++] = 0; /* session id */
    body[b++] = 0;
    body[b++] = 2;
    body[b++] = 0x13;
    body[b++] = 0x01;
    body[b++] = 1; /* compression: null */
    body[b++] = 0;
    body[b++] = (uint8_t)(next >> 8);
    body[b++] = (uint8_t)next;
    memcpy(body + b, ext, next);
    b += next;
    size_t n = 0;
    out[n++] = 22;
    out[n++] = 3;
    out[n++] = 1;
    out[n++] = (uint8_t)((b + 4) >> 8);
    out[n++] = (uint8_t)(b + 4);
    out[n++] = 1;
    out[n++] = 0;
    out[n++] = (uint8_t)(b >> 8);
    out[n++] = (uint8_t)b;
    memcpy(out + n, body, b);
    return n + b;
}

/* An ALPN extension of the names given (length-prefixed list). */
static size_t alpn_ext(uint8_t *out, const char *const *names)
{
    uint8_t list[512];
    size_t l = 0;
    for (int i = 0; names[i]; i++) {
        size_t k = strlen(names[i]);
        list[l++] = (uint8_t)k;
        memcpy(list + l, names[i], k);
        l += k;
    }
    size_t n = 0;
    out[n++] = 0;
    out[n++] = 16;
    out[n++] = (uint8_t)((l + 2) >> 8);
    out[n++] = (uint8_t)(l + 2);
    out[n++] = (uint8_t)(l >> 8);
    out[n++] = (uint8_t)l;
    memcpy(out + n, list, l);
    return n + l;
}

START_TEST(alpn_names)
{
    uint8_t ext[1024], buf[4096];
    fl_clienthello_t ch;
    const char *exact[] = {"h2", NULL};
    size_t e = alpn_ext(ext, exact);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, hello(buf, ext, e)), &ch), 0);
    ck_assert(ch.alpn && ch.h2 && !ch.http11);
    /* h2c, h2-14 and h2x are other protocols */
    const char *others[] = {"h2c", "h2-14", "h2x", "http/1.0", NULL};
    e = alpn_ext(ext, others);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, hello(buf, ext, e)), &ch), 0);
    ck_assert(ch.alpn && !ch.h2 && !ch.http11);
    /* an empty extensions list, then none at all */
    size_t n = hello(buf, ext, 0);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, n), &ch), 0);
    ck_assert(!ch.alpn && !ch.h2);
    buf[4] -= 2; /* record and handshake lengths without the extensions' length */
    buf[8] -= 2;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, n - 2), &ch), 0);
    ck_assert(!ch.alpn && !ch.h2);
}
END_TEST

START_TEST(malformed_alpn)
{
    uint8_t ext[1024], buf[4096];
    fl_clienthello_t ch;
    const char *h2[] = {"h2", NULL};
    /* an empty name */
    const char *empty[] = {"h2", "", NULL};
    size_t e = alpn_ext(ext, empty);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, hello(buf, ext, e)), &ch), FL_EMALFORMED);
    /* the list's length disagrees with the extension's */
    e = alpn_ext(ext, h2);
    ext[5] = 2;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, hello(buf, ext, e)), &ch), FL_EMALFORMED);
    /* a name running past its list */
    e = alpn_ext(ext, h2);
    ext[6] = 9;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, hello(buf, ext, e)), &ch), FL_EMALFORMED);
    /* two ALPN extensions */
    e = alpn_ext(ext, h2);
    e += alpn_ext(ext + e, h2);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, hello(buf, ext, e)), &ch), FL_EMALFORMED);
    /* an extension running past the extensions */
    e = alpn_ext(ext, h2);
    ext[3] = 40;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, hello(buf, ext, e)), &ch), FL_EMALFORMED);
}
END_TEST

START_TEST(not_a_client_hello)
{
    fl_clienthello_t ch;
    const char *plain[] = {"GET /healthz HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"};
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(fl_clienthello_scan(fl_slice_str(plain[i]), &ch), FL_EMALFORMED);
    /* an SSLv2-style hello, a record of length 0, one past 2^14, a
     * version 2 record, an alert record */
    const uint8_t v2[] = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00};
    const uint8_t zero[] = {22, 3, 1, 0, 0, 1};
    const uint8_t big[] = {22, 3, 1, 0x40, 0x01, 1};
    const uint8_t ver2[] = {22, 2, 0, 0, 4, 1};
    const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(v2, sizeof v2), &ch), FL_EMALFORMED);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(zero, sizeof zero), &ch), FL_EMALFORMED);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(big, sizeof big), &ch), FL_EMALFORMED);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(ver2, sizeof ver2), &ch), FL_EMALFORMED);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(alert, sizeof alert), &ch), FL_EMALFORMED);
    /* a handshake that is not a ClientHello (ServerHello) */
    uint8_t buf[4096], ext[8];
    size_t n = hello(buf, ext, 0);
    buf[5] = 2;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, n), &ch), FL_EMALFORMED);
    /* a second handshake message after the hello in the same record */
    n = hello(buf, ext, 0);
    buf[n] = 0;
    buf[n + 1] = 0;
    buf[4] += 2;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, n + 2), &ch), FL_EMALFORMED);
}
END_TEST

/* Only FL_CLIENTHELLO_MAX bytes are ever looked at. */
START_TEST(limits)
{
    static uint8_t buf[2 * FL_CLIENTHELLO_MAX];
    fl_clienthello_t ch;
    /* a full record whose hello says it goes on: the next record's header
     * would be past the bytes looked at */
    memset(buf, 0, sizeof buf);
    buf[0] = 22;
    buf[1] = 3;
    buf[2] = 1;
    buf[3] = 0x40;
    buf[4] = 0x00;
    buf[5] = 1;
    buf[6] = 0;
    buf[7] = 0x50; /* 20,480 bytes */
    buf[8] = 0;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, 100), &ch), FL_CLIENTHELLO_MAX);
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, sizeof buf), &ch), FL_ELIMIT);
    /* the same hello length in a small record: past the limit at once */
    buf[3] = 0;
    buf[4] = 8;
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, 13), &ch), FL_ELIMIT);
    /* a hello of 16 KiB in records of one byte each (the message header
     * 1, 0x004000): it asks for each header and record in turn, never past
     * the limit, which it then reaches */
    static const uint8_t head[4] = {1, 0, 0x40, 0};
    size_t off = 0;
    int records = 0;
    while (off + 5 + 1 <= FL_CLIENTHELLO_MAX) {
        buf[off] = 22;
        buf[off + 1] = 3;
        buf[off + 2] = 1;
        buf[off + 3] = 0;
        buf[off + 4] = 1;
        buf[off + 5] = records < 4 ? head[records] : 0;
        off += 6;
        records++;
        long r = fl_clienthello_scan(fl_slice(buf, off), &ch);
        ck_assert_msg(r == FL_ELIMIT || (r > (long)off && r <= FL_CLIENTHELLO_MAX), "%d: %ld",
                      records, r);
        if (r == FL_ELIMIT)
            break;
    }
    ck_assert_int_eq(fl_clienthello_scan(fl_slice(buf, off), &ch), FL_ELIMIT);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("server_clienthello");
    TCase *tc = tcase_create("clienthello");
    tcase_add_test(tc, real_hellos);
    tcase_add_test(tc, every_prefix_asks_for_more);
    tcase_add_test(tc, alpn_names);
    tcase_add_test(tc, malformed_alpn);
    tcase_add_test(tc, not_a_client_hello);
    tcase_add_test(tc, limits);
    suite_add_tcase(su, tc);
    return fl_test_main(su);
}
