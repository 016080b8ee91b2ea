/*
 * tests/fuzz/fuzz_pb_images_token.c — fuzz target for GetImages' NextToken
 * (server/playback/images.c, fl_pb_images_token_open): any text opens or
 * fails cleanly. The first byte picks the mode: even, the rest is a
 * NextToken's text as a client sends it; odd, the rest is a payload,
 * sealed here (core/token.h, kind FL_TOKEN_IMAGES_PAGE) and written in
 * base64 with padding as the server writes it, so that the checks behind
 * the tag are reached too. A token that opens seals again to one that
 * opens to the same request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/token.h"
#include "server/playback/playback.h"

static const uint8_t key[FL_TOKEN_KEY_BYTES + 1] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    fl_buf_t text;
    fl_buf_init(&text, 0);
    if ((data[0] & 1) == 0) {
        fl_buf_append(&text, data + 1, size - 1);
    } else {
        fl_buf_t t;
        fl_buf_init(&t, 0);
        if (fl_token_seal(key, FL_TOKEN_IMAGES_PAGE, fl_slice(data + 1, size - 1), INT64_MAX / 2,
                          &t) == 0) {
            size_t n = strlen((const char *)t.p);
            for (size_t i = 0; i < n; i++)
                fl_buf_u8(&text, t.p[i] == '-' ? '+' : t.p[i] == '_' ? '/' : t.p[i]);
            for (size_t i = n; i % 4; i++)
                fl_buf_u8(&text, '=');
        }
        fl_buf_free(&t);
    }
    fl_pb_images_req_t q, q2;
    int64_t next = 0, next2 = 0;
    if (fl_pb_images_token_open(key, fl_buf_slice(&text), 0, &q, &next) == 0) {
        fl_buf_t again;
        fl_buf_init(&again, 0);
        if (fl_pb_images_token_seal(key, &q, next, 0, &again) != 0 ||
            fl_pb_images_token_open(key, fl_buf_slice(&again), 0, &q2, &next2) != 0 ||
            next2 != next || strcmp(q.name, q2.name) != 0 || q.start_ns != q2.start_ns ||
            q.end_ns != q2.end_ns || q.interval_ms != q2.interval_ms || q.width != q2.width ||
            q.height != q2.height || q.quality != q2.quality || q.format != q2.format ||
            q.selector != q2.selector || q.incarnation_ms != q2.incarnation_ms)
            __builtin_trap();
        fl_buf_free(&again);
    }
    fl_buf_free(&text);
    return 0;
}
