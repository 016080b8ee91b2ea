/*
 * tests/test_common_eventstream.c — common/eventstream: AWS's event-stream
 * framing written and read back; AWS's own test vector; every length and
 * CRC checked; the limits; and what the writer makes read by botocore's
 * parser (botocore.eventstream, an independent implementation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/eventstream.h"
#include "harness.h"

START_TEST(crc32_is_ieee)
{
    /* the standard check value of CRC-32 (IEEE), and AWS's empty message */
    ck_assert_uint_eq(fl_evs_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(
        fl_evs_crc32(fl_evs_crc32(0, (const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5),
        0xCBF43926u);
    static const uint8_t empty[] = {0,    0,    0,    0x10, 0,    0,    0,    0,
                                    0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff};
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_evs_write(&b, NULL, NULL, 0, fl_slice(NULL, 0));
    ck_assert_int_eq(b.n, sizeof empty);
    ck_assert_int_eq(memcmp(b.p, empty, sizeof empty), 0);
    fl_evs_message_t m;
    size_t used = 0;
    ck_assert_int_eq(fl_evs_read(fl_slice(empty, sizeof empty), &m, &used), 0);
    ck_assert_int_eq(used, 16);
    ck_assert_int_eq(m.n_headers, 0);
    ck_assert_int_eq(m.payload.n, 0);
    fl_buf_free(&b);
}
END_TEST

static void write_event(fl_buf_t *b, const char *type, const char *payload)
{
    const char *names[] = {":message-type", ":event-type", ":content-type"};
    const char *values[] = {"event", type, "application/json"};
    fl_evs_write(b, names, values, 3, fl_slice_str(payload));
}

START_TEST(round_trip_and_stream_of_messages)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    write_event(&b, "initial-response", "{}");
    write_event(&b, "SubscribeToShardEvent", "{\"Records\":[],\"MillisBehindLatest\":0}");
    ck_assert_int_eq(b.err, 0);
    size_t off = 0, used = 0;
    fl_evs_message_t m;
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), 0);
    ck_assert_int_eq(m.n_headers, 3);
    ck_assert(fl_slice_eq_str(fl_evs_header_str(&m, ":event-type"), "initial-response"));
    ck_assert(fl_slice_eq_str(fl_evs_header_str(&m, ":message-type"), "event"));
    ck_assert(fl_slice_eq_str(m.payload, "{}"));
    ck_assert_ptr_null(fl_evs_header_str(&m, ":exception-type").p);
    off += used;
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p + off, b.n - off), &m, &used), 0);
    ck_assert(fl_slice_eq_str(fl_evs_header_str(&m, ":event-type"), "SubscribeToShardEvent"));
    ck_assert(fl_slice_eq_str(m.payload, "{\"Records\":[],\"MillisBehindLatest\":0}"));
    off += used;
    ck_assert_int_eq(off, b.n);
    /* every prefix of a message is "read more", never an error */
    for (size_t k = 0; k < used; k++)
        ck_assert_int_eq(fl_evs_read(fl_slice(b.p + off - used, k), &m, &used), FL_ETRUNCATED);
    fl_buf_free(&b);
}
END_TEST

START_TEST(every_flipped_byte_is_refused)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    write_event(&b, "SubscribeToShardEvent", "{\"a\":1}");
    fl_evs_message_t m;
    size_t used;
    for (size_t i = 0; i < b.n; i++) {
        b.p[i] ^= 0x20;
        int rc = fl_evs_read(fl_slice(b.p, b.n), &m, &used);
        ck_assert_msg(rc == FL_EMALFORMED || rc == FL_ETRUNCATED || rc == FL_ELIMIT,
                      "byte %zu flipped: %d", i, rc);
        b.p[i] ^= 0x20;
    }
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), 0);
    fl_buf_free(&b);
}
END_TEST

/* A message with a valid prelude and CRCs around arbitrary header bytes. */
static void raw_message(fl_buf_t *b, uint32_t total, uint32_t hlen, fl_slice_t body)
{
    fl_buf_reset(b);
    fl_buf_be32(b, total);
    fl_buf_be32(b, hlen);
    fl_buf_be32(b, fl_evs_crc32(0, b->p, 8));
    fl_buf_append(b, body.p, body.n);
    fl_buf_be32(b, fl_evs_crc32(0, b->p, b->n));
}

START_TEST(lengths_headers_and_limits)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_evs_message_t m;
    size_t used;
    /* headers length past the message */
    raw_message(&b, 16, 4, fl_slice(NULL, 0));
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), FL_EMALFORMED);
    /* a total under the smallest message */
    raw_message(&b, 15, 0, fl_slice(NULL, 0));
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), FL_EMALFORMED);
    /* over the message limit: refused from the prelude, before reading */
    fl_buf_reset(&b);
    fl_buf_be32(&b, FL_EVS_MAX_MESSAGE + 1);
    fl_buf_be32(&b, 0);
    fl_buf_be32(&b, fl_evs_crc32(0, b.p, 8));
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), FL_ELIMIT);
    /* a header whose value runs past the headers */
    static const uint8_t h1[] = {2, 'a', 'b', FL_EVS_STRING, 0, 9, 'x'};
    raw_message(&b, 16 + sizeof h1, sizeof h1, fl_slice(h1, sizeof h1));
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), FL_EMALFORMED);
    /* an unknown type, and an empty name */
    static const uint8_t h2[] = {1, 'a', 10};
    raw_message(&b, 16 + sizeof h2, sizeof h2, fl_slice(h2, sizeof h2));
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), FL_EMALFORMED);
    static const uint8_t h3[] = {0, FL_EVS_TRUE};
    raw_message(&b, 16 + sizeof h3, sizeof h3, fl_slice(h3, sizeof h3));
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), FL_EMALFORMED);
    /* every type read */
    static const uint8_t h4[] = {1,
                                 't',
                                 FL_EVS_TRUE,
                                 1,
                                 'f',
                                 FL_EVS_FALSE,
                                 1,
                                 'b',
                                 FL_EVS_BYTE,
                                 0xff,
                                 1,
                                 's',
                                 FL_EVS_INT16,
                                 0x80,
                                 0,
                                 1,
                                 'i',
                                 FL_EVS_INT32,
                                 0,
                                 0,
                                 1,
                                 0,
                                 1,
                                 'l',
                                 FL_EVS_INT64,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 7,
                                 1,
                                 'y',
                                 FL_EVS_BYTES,
                                 0,
                                 1,
                                 0,
                                 1,
                                 'm',
                                 FL_EVS_TIMESTAMP,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 1,
                                 0,
                                 1,
                                 'u',
                                 FL_EVS_UUID,
                                 1,
                                 2,
                                 3,
                                 4,
                                 5,
                                 6,
                                 7,
                                 8,
                                 9,
                                 10,
                                 11,
                                 12,
                                 13,
                                 14,
                                 15,
                                 16};
    fl_buf_t full;
    fl_buf_init(&full, 0);
    fl_buf_be32(&full, 16 + sizeof h4 + 2);
    fl_buf_be32(&full, sizeof h4);
    fl_buf_be32(&full, fl_evs_crc32(0, full.p, 8));
    fl_buf_append(&full, h4, sizeof h4);
    fl_buf_append(&full, "hi", 2);
    fl_buf_be32(&full, fl_evs_crc32(0, full.p, full.n));
    ck_assert_int_eq(fl_evs_read(fl_slice(full.p, full.n), &m, &used), 0);
    ck_assert_int_eq(m.n_headers, 9);
    ck_assert_int_eq(m.headers[0].num, 1);
    ck_assert_int_eq(m.headers[1].num, 0);
    ck_assert_int_eq(m.headers[2].num, -1);
    ck_assert_int_eq(m.headers[3].num, -32768);
    ck_assert_int_eq(m.headers[4].num, 256);
    ck_assert_int_eq(m.headers[5].num, 7);
    ck_assert_int_eq(m.headers[6].str.n, 1);
    ck_assert_int_eq(m.headers[7].num, 256);
    ck_assert_int_eq(m.headers[8].str.n, 16);
    ck_assert(fl_slice_eq_str(m.payload, "hi"));
    /* more headers than the limit */
    fl_buf_t many;
    fl_buf_init(&many, 0);
    for (int i = 0; i <= FL_EVS_MAX_HEADERS; i++) {
        fl_buf_u8(&many, 1);
        fl_buf_u8(&many, 'h');
        fl_buf_u8(&many, FL_EVS_TRUE);
    }
    raw_message(&b, 16 + (uint32_t)many.n, (uint32_t)many.n, fl_buf_slice(&many));
    ck_assert_int_eq(fl_evs_read(fl_slice(b.p, b.n), &m, &used), FL_ELIMIT);
    fl_buf_free(&many);
    fl_buf_free(&full);
    fl_buf_free(&b);
}
END_TEST

START_TEST(botocore_reads_what_we_write)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    write_event(&b, "initial-response", "{}");
    write_event(&b, "SubscribeToShardEvent", "{\"ContinuationSequenceNumber\":\"7\"}");
    const char *names[] = {":message-type", ":exception-type", ":content-type"};
    const char *values[] = {"exception", "ResourceInUseException", "application/json"};
    fl_evs_write(&b, names, values, 3, fl_slice_str("{\"message\":\"busy\"}"));
    char *dir = fl_test_mkdtemp("evs");
    char path[512];
    snprintf(path, sizeof path, "%s/events", dir);
    ck_assert_int_eq(fl_test_write_file(path, b.p, b.n), 0);
    const char *py = "import sys\n"
                     "from botocore.eventstream import EventStreamBuffer\n"
                     "buf = EventStreamBuffer()\n"
                     "buf.add_data(open(sys.argv[1], 'rb').read())\n"
                     "for m in buf:\n"
                     "    h = m.headers\n"
                     "    print(h.get(':event-type') or h.get(':exception-type'), "
                     "m.payload.decode())\n";
    char *args[] = {"/usr/bin/python3", "-c", (char *)py, path, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 60000, &out, &err);
    ck_assert_msg(rc == 0, "botocore (%d): %s", rc, err);
    ck_assert_str_eq(out, "initial-response {}\n"
                          "SubscribeToShardEvent {\"ContinuationSequenceNumber\":\"7\"}\n"
                          "ResourceInUseException {\"message\":\"busy\"}\n");
    free(out);
    free(err);
    fl_test_rmtree(dir);
    fl_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common_eventstream");
    TCase *tc = tcase_create("eventstream");
    tcase_add_test(tc, crc32_is_ieee);
    tcase_add_test(tc, round_trip_and_stream_of_messages);
    tcase_add_test(tc, every_flipped_byte_is_refused);
    tcase_add_test(tc, lengths_headers_and_limits);
    tcase_add_test(tc, botocore_reads_what_we_write);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
