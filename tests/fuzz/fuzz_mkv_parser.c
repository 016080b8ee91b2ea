/*
 * tests/fuzz/fuzz_mkv_parser.c — libFuzzer target for media/mkv_parser.c.
 *
 * Parses the input twice: whole, and in pieces whose sizes come from the
 * input's own bytes, with small limits so that limit paths run too. Both
 * parses must give the same events (frame data compared by content) and the
 * same outcome and error offset; anything else traps. ASan/UBSan catch
 * out-of-bounds reads and undefined behaviour; frame bytes are all read so
 * that a bad pointer is touched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "media/mkv_parser.h"

typedef struct {
    uint64_t h;
    uint64_t events;
} sum_t;

static void mix(sum_t *s, uint64_t v)
{
    s->h = (s->h ^ v) * 1099511628211ull;
}

static void mix_slice(sum_t *s, fl_slice_t x)
{
    mix(s, x.n);
    for (size_t i = 0; i < x.n; i++)
        mix(s, x.p[i]);
}

static int cb(void *data, const fl_mkv_event_t *ev)
{
    sum_t *s = data;
    s->events++;
    mix(s, ev->type);
    mix(s, ev->offset);
    mix(s, ev->end);
    switch (ev->type) {
    case FL_MKV_EV_EBML_HEADER:
        mix_slice(s, ev->u.ebml.doc_type);
        break;
    case FL_MKV_EV_INFO:
        mix(s, ev->u.info.timecode_scale);
        mix_slice(s, ev->u.info.muxing_app);
        mix_slice(s, ev->u.info.writing_app);
        mix_slice(s, ev->u.info.title);
        break;
    case FL_MKV_EV_TRACKS:
        for (size_t i = 0; i < ev->u.tracks.n; i++) {
            mix(s, ev->u.tracks.v[i].number);
            mix_slice(s, ev->u.tracks.v[i].codec_id);
            mix_slice(s, ev->u.tracks.v[i].codec_private);
            mix_slice(s, ev->u.tracks.v[i].name);
        }
        break;
    case FL_MKV_EV_FRAME:
        mix(s, ev->u.frame.track);
        mix(s, (uint64_t)ev->u.frame.pts_ns);
        mix(s, (uint64_t)ev->u.frame.duration_ns);
        mix(s, (uint64_t)ev->u.frame.keyframe);
        mix_slice(s, ev->u.frame.data);
        break;
    case FL_MKV_EV_TAGS:
        for (size_t i = 0; i < ev->u.tags.n; i++) {
            mix_slice(s, ev->u.tags.v[i].name);
            mix_slice(s, ev->u.tags.v[i].value);
        }
        break;
    case FL_MKV_EV_CLUSTER_START:
    case FL_MKV_EV_CLUSTER_END:
        mix(s, ev->u.cluster.timecode);
        break;
    default:
        break;
    }
    return s->events > 100000 ? -1 : 0;
}

static int run(const uint8_t *data, size_t size, int split, sum_t *s, uint64_t *err_off)
{
    fl_mkv_limits_t lim = fl_mkv_limits_default();
    lim.max_block_size = 1 << 20;
    lim.max_meta_size = 1 << 16;
    lim.max_element_size = 1 << 22;
    lim.max_depth = 8;
    lim.max_tracks = 4;
    lim.max_tags = 8;
    fl_mkv_parser_t *p;
    if (fl_mkv_parser_new(&lim, cb, s, &p))
        return 1;
    int rc = 0;
    size_t off = 0, i = 0;
    while (off < size && rc == 0) {
        size_t k = size - off;
        if (split) {
            k = 1 + data[i++ % size] % 97;
            if (k > size - off)
                k = size - off;
        }
        /* a fresh copy per piece so that ASan sees reads past the piece */
        uint8_t *piece = malloc(k);
        memcpy(piece, data + off, k);
        rc = fl_mkv_parser_feed(p, piece, k);
        free(piece);
        off += k;
    }
    if (rc == 0)
        rc = fl_mkv_parser_finish(p);
    *err_off = fl_mkv_parser_error_offset(p);
    fl_mkv_parser_free(p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sum_t a = {14695981039346656037ull, 0}, b = {14695981039346656037ull, 0};
    uint64_t oa, ob;
    int ra = run(data, size, 0, &a, &oa);
    int rb = run(data, size, 1, &b, &ob);
    if (ra != rb || oa != ob || a.h != b.h || a.events != b.events)
        __builtin_trap();
    return 0;
}
