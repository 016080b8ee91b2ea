/*
 * tests/fuzz/fuzz_chunked.c — fuzz target for server/chunked.c: the first
 * byte picks a split size; decoding in pieces must give the same payload,
 * end and error as decoding the whole input at once, and always progress.
 */
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "server/core/chunked.h"

static int run(const uint8_t *p, size_t n, size_t step, fl_buf_t *out, fl_chunked_t *c)
{
    fl_chunked_init(c);
    size_t off = 0;
    while (off < n && !fl_chunked_done(c)) {
        size_t k = n - off < step ? n - off : step;
        fl_slice_t in = fl_slice(p + off, k);
        while (in.n && !fl_chunked_done(c)) {
            size_t used;
            fl_slice_t data;
            int rc = fl_chunked_decode(c, in, &used, &data);
            if (rc)
                return rc;
            if (used == 0 || used > in.n)
                __builtin_trap();
            if (data.n && (data.p < in.p || data.p + data.n > in.p + used))
                __builtin_trap();
            fl_buf_append(out, data.p, data.n);
            in.p += used;
            in.n -= used;
            off += used;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    fl_buf_t a, b;
    fl_buf_init(&a, 0);
    fl_buf_init(&b, 0);
    fl_chunked_t ca, cb;
    int ra = run(data + 1, size - 1, size, &a, &ca);
    int rb = run(data + 1, size - 1, step, &b, &cb);
    if (ra != rb || fl_chunked_done(&ca) != fl_chunked_done(&cb) || ca.offset != cb.offset)
        __builtin_trap();
    if (!ra && !fl_slice_eq(fl_buf_slice(&a), fl_buf_slice(&b)))
        __builtin_trap();
    fl_buf_free(&a);
    fl_buf_free(&b);
    return 0;
}
