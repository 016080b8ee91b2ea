/*
 * tests/fuzz/fuzz_h2_head.c — fuzz target for server/core/h2.c's reading of
 * an HTTP/1.1 response head (fl_h2_head_end, fl_h2_head_parse): never reads
 * past the bytes, the end is within FL_H2_MAX_HEAD, a parsed head has a
 * status of three digits and at most FL_H2_MAX_FIELDS fields, each a slice
 * inside the head with a name of token characters.
 */
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "server/core/h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_slice_t in = fl_slice(data, size);
    long end = fl_h2_head_end(in);
    if (end > 0 && ((size_t)end > size || end > FL_H2_MAX_HEAD))
        __builtin_trap();
    /* parse whatever the end says, and the whole input too */
    fl_h2_head_t h;
    for (int pass = 0; pass < 2; pass++) {
        fl_slice_t head = pass == 0 && end > 0 ? fl_slice(data, (size_t)end) : in;
        if (fl_h2_head_parse(head, &h) != 0)
            continue;
        if (h.status < 100 || h.status > 999 || h.n > FL_H2_MAX_FIELDS)
            __builtin_trap();
        for (size_t i = 0; i < h.n; i++) {
            if (h.name[i].p < head.p || h.name[i].p + h.name[i].n > head.p + head.n ||
                h.value[i].p < head.p || h.value[i].p + h.value[i].n > head.p + head.n ||
                h.name[i].n == 0)
                __builtin_trap();
            for (size_t k = 0; k < h.name[i].n; k++)
                if (h.name[i].p[k] <= ' ' || h.name[i].p[k] == ':')
                    __builtin_trap();
        }
    }
    return 0;
}
