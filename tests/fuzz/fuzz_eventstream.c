/*
 * tests/fuzz/fuzz_eventstream.c — fuzz target for common/eventstream.c:
 * any bytes read as a sequence of messages or fail cleanly within the
 * limits; each message read is written again from its string headers and
 * payload, and that reads back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/eventstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_slice_t in = fl_slice(data, size);
    fl_evs_message_t m;
    size_t used;
    while (fl_evs_read(in, &m, &used) == 0) {
        if (used < FL_EVS_MIN_MESSAGE || used > in.n || m.n_headers > FL_EVS_MAX_HEADERS)
            abort();
        /* rewrite the string headers whose name and value are text */
        char names[FL_EVS_MAX_HEADERS][256], values[FL_EVS_MAX_HEADERS][256];
        const char *np[FL_EVS_MAX_HEADERS], *vp[FL_EVS_MAX_HEADERS];
        size_t n = 0;
        for (size_t i = 0; i < m.n_headers; i++) {
            const fl_evs_header_t *h = &m.headers[i];
            if (h->type != FL_EVS_STRING || h->str.n > 255 || memchr(h->name.p, 0, h->name.n) ||
                (h->str.n && memchr(h->str.p, 0, h->str.n)))
                continue;
            memcpy(names[n], h->name.p, h->name.n);
            names[n][h->name.n] = 0;
            memcpy(values[n], h->str.p, h->str.n);
            values[n][h->str.n] = 0;
            np[n] = names[n];
            vp[n] = values[n];
            n++;
        }
        fl_buf_t b;
        fl_buf_init(&b, 0);
        fl_evs_write(&b, np, vp, n, m.payload);
        fl_evs_message_t m2;
        size_t used2;
        if (b.err || fl_evs_read(fl_buf_slice(&b), &m2, &used2) != 0 || used2 != b.n ||
            m2.n_headers != n || !fl_slice_eq(m2.payload, m.payload))
            abort();
        for (size_t i = 0; i < n; i++)
            if (!fl_slice_eq_str(m2.headers[i].name, np[i]) ||
                !fl_slice_eq_str(m2.headers[i].str, vp[i]))
                abort();
        fl_buf_free(&b);
        in.p += used;
        in.n -= used;
    }
    return 0;
}
