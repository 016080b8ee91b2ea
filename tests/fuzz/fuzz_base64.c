/*
 * tests/fuzz/fuzz_base64.c — fuzz target for common/base64.c's decoder
 * (PutRecords' Data, 16 characters at a time where the CPU allows): any
 * bytes decode or fail cleanly; the answer, success or not and the bytes,
 * is that of a plain character-by-character decoder written here; what
 * decodes encodes back to the same text (the decoder is strict).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/error.h"

static int val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The reference: 0 and the bytes in out (*n of them), or -1. */
static int reference(const uint8_t *s, size_t n, uint8_t *out, size_t *outn)
{
    *outn = 0;
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad = last && s[i + 3] == '=' ? (s[i + 2] == '=' ? 2 : 1) : 0;
        int v[4];
        for (int k = 0; k < 4 - pad; k++)
            if ((v[k] = val(s[i + k])) < 0)
                return -1;
        for (int k = 4 - pad; k < 4; k++)
            v[k] = 0;
        uint32_t x =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
            return -1; /* bits beyond the last byte: not canonical */
        out[(*outn)++] = (uint8_t)(x >> 16);
        if (pad < 2)
            out[(*outn)++] = (uint8_t)(x >> 8);
        if (pad < 1)
            out[(*outn)++] = (uint8_t)x;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *want = malloc(size / 4 * 3 + 3);
    size_t wn = 0;
    int ref = reference(data, size, want, &wn);
    fl_buf_t b;
    fl_buf_init(&b, 0);
    int rc = fl_base64_decode(&b, fl_slice(data, size));
    if ((rc == 0) != (ref == 0) || (rc && rc != FL_EMALFORMED))
        __builtin_trap();
    if (rc == 0) {
        if (b.n != wn || (wn && memcmp(b.p, want, wn) != 0))
            __builtin_trap();
        fl_buf_t e;
        fl_buf_init(&e, 0);
        fl_base64_encode(&e, fl_buf_slice(&b));
        if (e.n != size || (size && memcmp(e.p, data, size) != 0))
            __builtin_trap();
        fl_buf_free(&e);
    }
    fl_buf_free(&b);
    free(want);
    return 0;
}
