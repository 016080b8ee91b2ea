/*
 * tests/fuzz/fuzz_token.c — fuzz target for server/core/token.c: opening
 * any text never crashes and never accepts what was not sealed under the
 * key; sealing the input and opening it gives the input back, and any
 * one-byte change to that token is refused.
 */
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "server/core/token.h"

static const uint8_t key[FL_TOKEN_KEY_BYTES] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                                12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                                23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_buf_t out, tok;
    fl_buf_init(&out, 0);
    fl_buf_init(&tok, 0);
    /* arbitrary text: refused (a random MAC matching is 2^-256) */
    if (fl_token_open(key, 1, fl_slice(data, size), 0, &out) == 0)
        __builtin_trap();
    /* a round trip of the input as payload */
    size_t n = size > FL_TOKEN_MAX_PAYLOAD ? FL_TOKEN_MAX_PAYLOAD : size;
    if (fl_token_seal(key, 2, fl_slice(data, n), 1000, &tok) != 0)
        __builtin_trap();
    if (fl_token_open(key, 2, fl_buf_slice(&tok), 999, &out) != 0 || out.n != n ||
        (n && memcmp(out.p, data, n) != 0))
        __builtin_trap();
    if (fl_token_open(key, 2, fl_buf_slice(&tok), 1001, &out) != FL_EEXPIRED)
        __builtin_trap();
    if (fl_token_open(key, 1, fl_buf_slice(&tok), 999, &out) == 0)
        __builtin_trap(); /* another kind */
    if (tok.n) {
        size_t at = size ? data[0] % tok.n : 0;
        tok.p[at] = tok.p[at] == 'A' ? 'B' : 'A';
        if (fl_token_open(key, 2, fl_buf_slice(&tok), 999, &out) == 0)
            __builtin_trap();
    }
    fl_buf_free(&out);
    fl_buf_free(&tok);
    return 0;
}
