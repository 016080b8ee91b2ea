/*
 * tests/fuzz/fuzz_fragment.c — the fragment record's readers
 * (server/video/fragment.c, docs/fragment-format.md) on arbitrary bytes:
 * fl_fragment_decode, and on what it accepts fl_fragment_length_ms and
 * fl_fragment_tracks (the Tracks and Cluster inside come from a producer);
 * and fl_fragment_number_parse, which reads a client's FragmentNumber.
 *
 * Invariants: nothing crashes or reads out of bounds; a record that
 * decodes encodes back to the same bytes; a length is at most what a
 * uint32 holds; a fragment number that parses prints back as a number
 * that parses to the same (log, sequence).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "server/video/fragment.h"

static int count_tracks(void *data, const fl_mkv_track_t *t, size_t n)
{
    (void)t;
    *(size_t *)data += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_fragment_t f;
    if (fl_fragment_decode(fl_slice(data, size), &f) == 0) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        fl_fragment_encode(&b, &f);
        if (b.err || b.n != size || memcmp(b.p, data, size) != 0)
            abort(); /* decode and encode disagree */
        fl_buf_free(&b);
        uint32_t ms = 0;
        int rc = fl_fragment_length_ms(&f, &ms);
        if (rc != 0 && rc != FL_EMALFORMED && rc != FL_ENOMEM)
            abort();
        size_t n = 0; /* (the parser's errors, FL_ELIMIT among them, pass through) */
        if (fl_fragment_tracks(f.tracks, count_tracks, &n) > 0)
            abort();
    }
    /* the input as a FragmentNumber */
    char text[64];
    size_t k = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, k);
    text[k] = 0;
    uint64_t log_id, seq;
    if (fl_fragment_number_parse(text, &log_id, &seq) == 0) {
        char back[FL_FRAGMENT_NUMBER_CAP];
        uint64_t l2, s2;
        fl_fragment_number(log_id, seq, back, sizeof back);
        if (fl_fragment_number_parse(back, &l2, &s2) != 0 || l2 != log_id || s2 != seq)
            abort();
    }
    return 0;
}
