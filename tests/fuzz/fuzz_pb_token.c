/*
 * tests/fuzz/fuzz_pb_token.c — fuzz target for HLS session tokens
 * (server/playback/token.c), the one parser of the playback room that sees
 * network bytes: any text decodes or fails cleanly. The first byte picks
 * the mode: even, the rest is a token's text as a client sends it; odd,
 * the rest is a token's bytes, signed here with the fuzzer's key and
 * encoded, so that the checks behind the tag are reached too. A token that
 * decodes encodes back to the same text.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "server/playback/token.h"

static const uint8_t key[FL_PB_KEY_BYTES + 1] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    char *text = malloc(size * 2 + 64);
    size_t tl;
    if ((data[0] & 1) == 0) {
        tl = size - 1;
        memcpy(text, data + 1, tl);
        text[tl] = 0;
    } else {
        uint8_t *raw = malloc(size + 32);
        memcpy(raw, data + 1, size - 1);
        unsigned len = 32;
        HMAC(EVP_sha256(), key, FL_PB_KEY_BYTES, raw, size - 1, raw + size - 1, &len);
        fl_buf_t b;
        fl_buf_init(&b, 0);
        fl_base64url_encode(&b, fl_slice(raw, size - 1 + 32));
        tl = b.n;
        if (b.err)
            __builtin_trap();
        memcpy(text, b.p, tl);
        text[tl] = 0;
        fl_buf_free(&b);
        free(raw);
    }
    fl_pb_session_t s;
    int rc = fl_pb_token_decode(key, fl_slice(text, tl), 0, &s);
    if (rc == 0) {
        char again[FL_PB_TOKEN_CAP];
        if (fl_pb_token_encode(key, &s, again, sizeof again) != 0 || strlen(again) != tl ||
            memcmp(again, text, tl) != 0)
            __builtin_trap();
    }
    free(text);
    return 0;
}
