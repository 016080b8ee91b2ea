/*
 * tests/test_media_mkv.c — media/: the Matroska writer and the incremental
 * parser: round trips, split invariance, lacing, BlockGroups, sessions,
 * unknown sizes, limits and malformed input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "harness.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"

/* ---- an event log as text, so that two parses compare with strcmp ---- */

typedef struct {
    fl_buf_t log;
    int frames, keyframes, clusters, tags_events, sessions;
    int stop_after; /* stop (return FL_ECLOSED) after this many events; 0 never */
    int events;
    int64_t last_pts[8];
} rec_t;

static uint32_t fnv(fl_slice_t s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.n; i++)
        h = (h ^ s.p[i]) * 16777619u;
    return h;
}

static int rec_cb(void *data, const fl_mkv_event_t *ev)
{
    rec_t *r = data;
    fl_buf_t *b = &r->log;
    fl_buf_printf(b, "%d @%llu-%llu ", (int)ev->type, (unsigned long long)ev->offset,
                  (unsigned long long)ev->end);
    switch (ev->type) {
    case FL_MKV_EV_EBML_HEADER:
        r->sessions++;
        fl_buf_printf(b, "doctype=%.*s v=%llu", (int)ev->u.ebml.doc_type.n,
                      (const char *)ev->u.ebml.doc_type.p,
                      (unsigned long long)ev->u.ebml.doc_type_version);
        break;
    case FL_MKV_EV_INFO:
        fl_buf_printf(b, "scale=%llu mux=%.*s app=%.*s",
                      (unsigned long long)ev->u.info.timecode_scale, (int)ev->u.info.muxing_app.n,
                      (const char *)ev->u.info.muxing_app.p, (int)ev->u.info.writing_app.n,
                      (const char *)ev->u.info.writing_app.p);
        break;
    case FL_MKV_EV_TRACKS:
        for (size_t i = 0; i < ev->u.tracks.n; i++) {
            const fl_mkv_track_t *t = &ev->u.tracks.v[i];
            fl_buf_printf(
                b, "[%llu type=%llu %.*s priv=%zu/%08x name=%.*s %llux%llu %.0f/%llu dd=%llu]",
                (unsigned long long)t->number, (unsigned long long)t->type, (int)t->codec_id.n,
                (const char *)t->codec_id.p, t->codec_private.n, fnv(t->codec_private),
                (int)t->name.n, (const char *)t->name.p, (unsigned long long)t->pixel_width,
                (unsigned long long)t->pixel_height, t->sampling_frequency,
                (unsigned long long)t->channels, (unsigned long long)t->default_duration_ns);
        }
        break;
    case FL_MKV_EV_CLUSTER_START:
        r->clusters++;
        /* fall through */
    case FL_MKV_EV_CLUSTER_END:
        fl_buf_printf(b, "tc=%llu unknown=%d has=%d", (unsigned long long)ev->u.cluster.timecode,
                      ev->u.cluster.unknown_size, ev->u.cluster.has_timecode);
        break;
    case FL_MKV_EV_FRAME: {
        const fl_mkv_frame_t *f = &ev->u.frame;
        r->frames++;
        r->keyframes += f->keyframe;
        if (f->track < 8)
            r->last_pts[f->track] = f->pts_ns;
        fl_buf_printf(b, "t=%llu tc=%lld pts=%lld dur=%lld key=%d inv=%d lace=%u/%u n=%zu h=%08x",
                      (unsigned long long)f->track, (long long)f->timecode, (long long)f->pts_ns,
                      (long long)f->duration_ns, f->keyframe, f->invisible, f->lace_index,
                      f->lace_count, f->data.n, fnv(f->data));
        break;
    }
    case FL_MKV_EV_TAGS:
        r->tags_events++;
        for (size_t i = 0; i < ev->u.tags.n; i++)
            fl_buf_printf(b, "[%.*s=%.*s%s]", (int)ev->u.tags.v[i].name.n,
                          (const char *)ev->u.tags.v[i].name.p, (int)ev->u.tags.v[i].value.n,
                          (const char *)ev->u.tags.v[i].value.p,
                          ev->u.tags.v[i].binary ? " bin" : "");
        break;
    case FL_MKV_EV_SEGMENT_START:
    case FL_MKV_EV_SEGMENT_END:
        fl_buf_printf(b, "unknown=%d", ev->u.segment.unknown_size);
        break;
    }
    fl_buf_append_str(b, "\n");
    r->events++;
    if (r->stop_after && r->events >= r->stop_after)
        return FL_ECLOSED;
    return 0;
}

/* Parse bytes in chunks of `step` (0: all at once); the log is NUL-ended.
 * Returns the final code (feed or finish); *err_off gets the error offset. */
static int parse(fl_slice_t in, size_t step, const fl_mkv_limits_t *lim, rec_t *r,
                 uint64_t *err_off)
{
    memset(r, 0, sizeof *r);
    fl_buf_init(&r->log, 0);
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(lim, rec_cb, r, &p), 0);
    int rc = 0;
    if (step == 0)
        step = in.n ? in.n : 1;
    for (size_t off = 0; off < in.n && rc == 0; off += step) {
        size_t k = in.n - off < step ? in.n - off : step;
        /* copy into a fresh allocation so ASan sees any overread */
        uint8_t *tmp = malloc(k);
        memcpy(tmp, in.p + off, k);
        rc = fl_mkv_parser_feed(p, tmp, k);
        free(tmp);
    }
    if (rc == 0)
        rc = fl_mkv_parser_finish(p);
    if (err_off)
        *err_off = fl_mkv_parser_error_offset(p);
    fl_mkv_parser_free(p);
    fl_buf_u8(&r->log, 0);
    return rc;
}

/* ---- a sample stream built with the writer ---- */

static const uint8_t avcc[] = {1,    0x64, 0,    0x1f, 0xff, 0xe1, 0,    4,   0x67,
                               0x64, 0,    0x1f, 1,    0,    2,    0x68, 0xee};

static void frame_bytes(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31 + i * 7);
}

/* Two sessions' worth of stream: header, info, 2 tracks, then clusters
 * (unknown and known size) with tags after each. */
static void build_stream(fl_buf_t *b, int clusters, int known_size_clusters)
{
    fl_mkv_info_t info = {0};
    info.timecode_scale = 1000000;
    info.muxing_app = fl_slice_str("framelog-test");
    info.writing_app = fl_slice_str("test_media_mkv");
    fl_mkv_track_t t[2];
    memset(t, 0, sizeof t);
    t[0].number = 1;
    t[0].type = FL_MKV_TRACK_VIDEO;
    t[0].codec_id = fl_slice_str("V_MPEG4/ISO/AVC");
    t[0].codec_private = fl_slice(avcc, sizeof avcc);
    t[0].name = fl_slice_str("camera");
    t[0].pixel_width = 320;
    t[0].pixel_height = 240;
    t[0].default_duration_ns = 33333333;
    t[1].number = 2;
    t[1].type = FL_MKV_TRACK_AUDIO;
    t[1].codec_id = fl_slice_str("A_AAC");
    t[1].sampling_frequency = 48000;
    t[1].channels = 2;
    ck_assert_int_eq(fl_mkv_write_ebml_header(b, NULL), 0);
    ck_assert_int_eq(fl_mkv_write_segment_start(b), 0);
    ck_assert_int_eq(fl_mkv_write_info(b, &info), 0);
    ck_assert_int_eq(fl_mkv_write_tracks(b, t, 2), 0);
    uint8_t buf[3000];
    for (int c = 0; c < clusters; c++) {
        size_t mark = 0;
        uint64_t tc = 1700000000000ull + (uint64_t)c * 2000;
        if (known_size_clusters)
            ck_assert_int_eq(fl_mkv_write_cluster_begin(b, tc, &mark), 0);
        else
            ck_assert_int_eq(fl_mkv_write_cluster_start(b, tc), 0);
        for (int i = 0; i < 10; i++) {
            size_t n = (size_t)(100 + (i * 577 + c * 91) % 2800);
            frame_bytes(buf, n, (unsigned)(c * 100 + i));
            ck_assert_int_eq(fl_mkv_write_simple_block(b, 1, i * 33, i == 0, fl_slice(buf, n)), 0);
            frame_bytes(buf, 200, (unsigned)(c * 100 + i + 50));
            ck_assert_int_eq(fl_mkv_write_simple_block(b, 2, i * 21, 1, fl_slice(buf, 200)), 0);
        }
        if (known_size_clusters)
            ck_assert_int_eq(fl_mkv_write_cluster_end(b, mark), 0);
        fl_mkv_tag_t tags[2];
        memset(tags, 0, sizeof tags);
        tags[0].name = fl_slice_str("AWS_KINESISVIDEO_FRAGMENT_NUMBER");
        tags[0].value = fl_slice_str("91343852333181432392682062607743920146264426117");
        tags[1].name = fl_slice_str("AWS_KINESISVIDEO_END_OF_FRAGMENT");
        ck_assert_int_eq(fl_mkv_write_tags(b, tags, 2), 0);
    }
}

START_TEST(round_trip_events)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    build_stream(&b, 3, 0);
    rec_t r;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &r, NULL), 0);
    ck_assert_int_eq(r.sessions, 1);
    ck_assert_int_eq(r.clusters, 3);
    ck_assert_int_eq(r.frames, 60);
    ck_assert_int_eq(r.keyframes, 3 + 30); /* one video key per cluster, all audio */
    ck_assert_int_eq(r.tags_events, 3);
    const char *log = (const char *)r.log.p;
    ck_assert_ptr_nonnull(strstr(log, "doctype=matroska v=4"));
    ck_assert_ptr_nonnull(strstr(log, "scale=1000000 mux=framelog-test app=test_media_mkv"));
    ck_assert_ptr_nonnull(strstr(log, "[1 type=1 V_MPEG4/ISO/AVC priv=17/"));
    ck_assert_ptr_nonnull(strstr(log, "name=camera 320x240 0/0 dd=33333333]"));
    ck_assert_ptr_nonnull(strstr(log, "[2 type=2 A_AAC priv=0/811c9dc5 name= 0x0 48000/2 dd=0]"));
    ck_assert_ptr_nonnull(strstr(log, "[AWS_KINESISVIDEO_END_OF_FRAGMENT=]"));
    /* last video frame of the last cluster: 1700000004000 + 9*33 ms */
    ck_assert(r.last_pts[1] == (int64_t)(1700000004000ll + 297) * 1000000);
    ck_assert(r.last_pts[2] == (int64_t)(1700000004000ll + 189) * 1000000);
    /* unknown-size clusters end where the Tags element starts */
    ck_assert_ptr_nonnull(strstr(log, "unknown=1 has=1"));
    fl_buf_free(&r.log);
    fl_buf_free(&b);
}
END_TEST

START_TEST(byte_by_byte_equals_whole)
{
    for (int known = 0; known <= 1; known++) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        build_stream(&b, 2, known);
        rec_t whole, r;
        ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &whole, NULL), 0);
        const size_t steps[] = {1, 2, 3, 7, 13, 64, 1000, 4097};
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            ck_assert_int_eq(parse(fl_buf_slice(&b), steps[i], NULL, &r, NULL), 0);
            ck_assert_str_eq((const char *)r.log.p, (const char *)whole.log.p);
            fl_buf_free(&r.log);
        }
        fl_buf_free(&whole.log);
        fl_buf_free(&b);
    }
}
END_TEST

START_TEST(cluster_offsets_cut_fragments)
{
    /* The CLUSTER_END offset of an unknown-size cluster is where the next
     * element starts; the bytes [start, end) re-parse on their own. */
    fl_buf_t b;
    fl_buf_init(&b, 0);
    build_stream(&b, 2, 0);
    rec_t r;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &r, NULL), 0);
    const char *line = strstr((const char *)r.log.p, "\n8 @");
    ck_assert_ptr_nonnull(line);
    unsigned long long s, e;
    ck_assert_int_eq(sscanf(line + 1, "8 @%llu-%llu", &s, &e), 2);
    ck_assert_uint_lt(s, e);
    ck_assert_uint_le(e, b.n);
    /* bytes at s are a Cluster ID, bytes at e a Tags ID */
    ck_assert_uint_eq(b.p[s], 0x1F);
    ck_assert_uint_eq(b.p[s + 1], 0x43);
    ck_assert_uint_eq(b.p[e], 0x12);
    ck_assert_uint_eq(b.p[e + 1], 0x54);
    fl_buf_free(&r.log);
    fl_buf_free(&b);
}
END_TEST

START_TEST(new_ebml_header_starts_new_session)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    build_stream(&b, 1, 0);
    build_stream(&b, 2, 0);
    rec_t whole, r;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &whole, NULL), 0);
    ck_assert_int_eq(whole.sessions, 2);
    ck_assert_int_eq(whole.clusters, 3);
    ck_assert_int_eq(whole.frames, 60);
    /* the first Segment (unknown size) ends at the second EBML header */
    ck_assert_ptr_nonnull(strstr((const char *)whole.log.p, "9 @"));
    ck_assert_int_eq(parse(fl_buf_slice(&b), 1, NULL, &r, NULL), 0);
    ck_assert_str_eq((const char *)r.log.p, (const char *)whole.log.p);
    fl_buf_free(&r.log);
    fl_buf_free(&whole.log);
    fl_buf_free(&b);
}
END_TEST

/* Raw element helpers for hand-made streams. */
static void el(fl_buf_t *b, uint32_t id, const void *p, size_t n)
{
    if (id > 0xFFFFFF)
        fl_buf_u8(b, (uint8_t)(id >> 24));
    if (id > 0xFFFF)
        fl_buf_u8(b, (uint8_t)(id >> 16));
    if (id > 0xFF)
        fl_buf_u8(b, (uint8_t)(id >> 8));
    fl_buf_u8(b, (uint8_t)id);
    fl_buf_u8(b, 0x01); /* 8-byte size */
    fl_buf_u8(b, 0);
    fl_buf_be16(b, 0);
    fl_buf_be32(b, (uint32_t)n);
    fl_buf_append(b, p, n);
}

static void header_only(fl_buf_t *b)
{
    fl_mkv_info_t info = {0};
    fl_mkv_track_t t = {0};
    t.number = 1;
    t.type = FL_MKV_TRACK_AUDIO;
    t.codec_id = fl_slice_str("A_OPUS");
    t.default_duration_ns = 20000000;
    fl_mkv_write_ebml_header(b, "webm");
    fl_mkv_write_segment_start(b);
    fl_mkv_write_info(b, &info);
    fl_mkv_write_tracks(b, &t, 1);
}

START_TEST(lacing_xiph_ebml_fixed)
{
    fl_buf_t b, cl;
    fl_buf_init(&b, 0);
    fl_buf_init(&cl, 0);
    header_only(&b);
    uint8_t tc[] = {0x10};
    el(&cl, 0xE7, tc, 1);
    /* Xiph: 3 frames of 300, 2, 5 bytes */
    uint8_t x[4 + 1 + 3 + 300 + 2 + 5] = {0x81, 0, 0, 0x82, 2, 255, 45, 2};
    el(&cl, 0xA3, x, sizeof x);
    /* EBML: 3 frames of 10, 12, 4 bytes: 10 as vint 0x8A, +2 as signed 0xBF+2 */
    uint8_t e[4 + 1 + 2 + 26] = {0x81, 0, 5, 0x86, 2, 0x8A, 0xC1};
    el(&cl, 0xA3, e, sizeof e);
    /* fixed: 4 frames of 3 bytes */
    uint8_t f[4 + 1 + 12] = {0x81, 0, 9, 0x84, 3};
    el(&cl, 0xA3, f, sizeof f);
    /* fixed lacing that does not divide evenly is rejected */
    size_t bad_at = b.n + 12 + cl.n;
    uint8_t g[4 + 1 + 13] = {0x81, 0, 9, 0x84, 3};
    el(&cl, 0xA3, g, sizeof g);
    el(&b, 0x1F43B675, cl.p, cl.n);

    rec_t r;
    uint64_t off;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 1, NULL, &r, &off), FL_EMALFORMED);
    ck_assert_uint_eq(off, bad_at);
    const char *log = (const char *)r.log.p;
    ck_assert_int_eq(r.frames, 3 + 3 + 4);
    ck_assert_ptr_nonnull(strstr(log, "lace=0/3 n=300"));
    ck_assert_ptr_nonnull(strstr(log, "lace=1/3 n=2"));
    ck_assert_ptr_nonnull(strstr(log, "lace=2/3 n=5"));
    ck_assert_ptr_nonnull(strstr(log, "lace=0/3 n=10"));
    ck_assert_ptr_nonnull(strstr(log, "lace=1/3 n=12"));
    ck_assert_ptr_nonnull(strstr(log, "lace=2/3 n=4"));
    ck_assert_ptr_nonnull(strstr(log, "lace=3/4 n=3"));
    /* laced frames step by DefaultDuration: 16 + 5 ms + 2 * 20 ms */
    ck_assert_ptr_nonnull(strstr(log, "tc=61 pts=61000000 dur=20000000 key=1 inv=0 lace=2/3 n=4"));
    fl_buf_free(&r.log);
    fl_buf_free(&cl);
    fl_buf_free(&b);
}
END_TEST

START_TEST(block_group_reference_and_duration)
{
    fl_buf_t b, cl, g1, g2;
    fl_buf_init(&b, 0);
    fl_buf_init(&cl, 0);
    fl_buf_init(&g1, 0);
    fl_buf_init(&g2, 0);
    header_only(&b);
    uint8_t tc[] = {0x03, 0xE8}; /* 1000 */
    el(&cl, 0xE7, tc, 2);
    uint8_t blk[4 + 50] = {0x81, 0, 40, 0};
    el(&g1, 0xA1, blk, sizeof blk);
    uint8_t dur[] = {60};
    el(&g1, 0x9B, dur, 1);
    el(&cl, 0xA0, g1.p, g1.n);
    uint8_t blk2[4 + 20] = {0x81, 0xFF, 0xF6, 0}; /* -10 */
    el(&g2, 0xA1, blk2, sizeof blk2);
    uint8_t ref[] = {0xD8}; /* -40 */
    el(&g2, 0xFB, ref, 1);
    el(&cl, 0xA0, g2.p, g2.n);
    el(&b, 0x1F43B675, cl.p, cl.n);
    rec_t r, whole;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &whole, NULL), 0);
    ck_assert_int_eq(parse(fl_buf_slice(&b), 1, NULL, &r, NULL), 0);
    ck_assert_str_eq((const char *)r.log.p, (const char *)whole.log.p);
    const char *log = (const char *)r.log.p;
    ck_assert_ptr_nonnull(strstr(log, "tc=1040 pts=1040000000 dur=60000000 key=1"));
    ck_assert_ptr_nonnull(strstr(log, "tc=990 pts=990000000 dur=20000000 key=0"));
    ck_assert_ptr_nonnull(strstr(log, "doctype=webm"));
    fl_buf_free(&r.log);
    fl_buf_free(&whole.log);
    fl_buf_free(&cl);
    fl_buf_free(&g1);
    fl_buf_free(&g2);
    fl_buf_free(&b);
}
END_TEST

START_TEST(unknown_elements_are_skipped)
{
    fl_buf_t b, cl;
    fl_buf_init(&b, 0);
    fl_buf_init(&cl, 0);
    header_only(&b);
    uint8_t junk[100];
    memset(junk, 0xAB, sizeof junk);
    el(&b, 0xEC, junk, sizeof junk);       /* Void in Segment */
    el(&b, 0x1C53BB6B, junk, sizeof junk); /* Cues */
    uint8_t tc[] = {0};
    el(&cl, 0xE7, tc, 1);
    el(&cl, 0x4242, junk, sizeof junk); /* unknown element in a cluster */
    uint8_t blk[4 + 8] = {0x81, 0, 0, 0x80};
    el(&cl, 0xA3, blk, sizeof blk);
    el(&b, 0x1F43B675, cl.p, cl.n);
    rec_t r;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 3, NULL, &r, NULL), 0);
    ck_assert_int_eq(r.frames, 1);
    ck_assert_int_eq(r.keyframes, 1);
    fl_buf_free(&r.log);
    fl_buf_free(&cl);
    fl_buf_free(&b);
}
END_TEST

START_TEST(limits_are_enforced)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    build_stream(&b, 2, 0);
    rec_t r;
    uint64_t off;
    fl_mkv_limits_t lim = fl_mkv_limits_default();
    lim.max_tracks = 1;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, &lim, &r, &off), FL_ELIMIT);
    ck_assert_uint_gt(off, 0);
    ck_assert_uint_eq(b.p[off], 0xAE); /* the second TrackEntry */
    fl_buf_free(&r.log);

    lim = fl_mkv_limits_default();
    lim.max_block_size = 1000;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 1, &lim, &r, &off), FL_ELIMIT);
    ck_assert_uint_eq(b.p[off], 0xA3);
    ck_assert_int_gt(r.frames, 0); /* the small ones before it went through */
    fl_buf_free(&r.log);

    lim = fl_mkv_limits_default();
    lim.max_tags = 1;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, &lim, &r, &off), FL_ELIMIT);
    fl_buf_free(&r.log);

    lim = fl_mkv_limits_default();
    lim.max_meta_size = 16; /* CodecPrivate and names do not fit */
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, &lim, &r, &off), FL_ELIMIT);
    fl_buf_free(&r.log);

    lim = fl_mkv_limits_default();
    lim.max_element_size = 64;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, &lim, &r, &off), FL_ELIMIT);
    fl_buf_free(&r.log);
    fl_buf_free(&b);

    /* depth: Segment > Tags > Tag > SimpleTag is four levels */
    fl_buf_t d, lv[3];
    fl_buf_init(&d, 0);
    for (int i = 0; i < 3; i++)
        fl_buf_init(&lv[i], 0);
    header_only(&d);
    uint8_t name[1] = {'x'};
    el(&lv[0], 0x45A3, name, 1);          /* TagName */
    el(&lv[1], 0x67C8, lv[0].p, lv[0].n); /* SimpleTag */
    el(&lv[2], 0x7373, lv[1].p, lv[1].n); /* Tag */
    size_t tags_at = d.n;
    el(&d, 0x1254C367, lv[2].p, lv[2].n); /* Tags */
    lim = fl_mkv_limits_default();
    lim.max_depth = 4;
    ck_assert_int_eq(parse(fl_buf_slice(&d), 0, &lim, &r, &off), 0);
    ck_assert_int_eq(r.tags_events, 1);
    fl_buf_free(&r.log);
    lim.max_depth = 3;
    ck_assert_int_eq(parse(fl_buf_slice(&d), 1, &lim, &r, &off), FL_ELIMIT);
    ck_assert_uint_eq(off, tags_at + 12 + 10); /* the SimpleTag */
    fl_buf_free(&r.log);
    for (int i = 0; i < 3; i++)
        fl_buf_free(&lv[i]);
    fl_buf_free(&d);
}
END_TEST

START_TEST(malformed_input_is_located)
{
    rec_t r;
    uint64_t off;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header_only(&b);
    size_t at = b.n;
    fl_buf_u8(&b, 0x00); /* no ID starts with a zero byte */
    fl_buf_u8(&b, 0x81);
    ck_assert_int_eq(parse(fl_buf_slice(&b), 1, NULL, &r, &off), FL_EMALFORMED);
    ck_assert_uint_eq(off, at);
    fl_buf_free(&r.log);

    /* a child larger than its parent */
    fl_buf_reset(&b);
    fl_mkv_write_ebml_header(&b, NULL);
    uint8_t seg[] = {0x15, 0x49, 0xA9, 0x66, 0x90, 0, 0}; /* Info of 16 bytes in 7 */
    el(&b, 0x18538067, seg, sizeof seg);
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &r, &off), FL_EMALFORMED);
    fl_buf_free(&r.log);

    /* a child header that crosses its parent's end */
    fl_buf_reset(&b);
    fl_mkv_write_ebml_header(&b, NULL);
    size_t seg_at = b.n;
    uint8_t cross[] = {0x15, 0x49, 0xA9, 0x66, 0x82, 0x2A, 0xD7, 0xB1, 0x81, 0x01};
    el(&b, 0x18538067, cross, sizeof cross);
    ck_assert_int_eq(parse(fl_buf_slice(&b), 1, NULL, &r, &off), FL_EMALFORMED);
    ck_assert_uint_eq(off, seg_at + 12 + 5); /* the TimecodeScale ID */
    fl_buf_free(&r.log);

    /* a doc type we do not read */
    fl_buf_reset(&b);
    fl_mkv_write_ebml_header(&b, "mp4ish");
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &r, &off), FL_EUNSUPPORTED);
    ck_assert_uint_eq(off, 0);
    fl_buf_free(&r.log);

    /* truncated: ends inside a block */
    fl_buf_reset(&b);
    build_stream(&b, 1, 1);
    ck_assert_int_eq(parse(fl_slice(b.p, b.n - 500), 0, NULL, &r, &off), FL_ETRUNCATED);
    fl_buf_free(&r.log);

    /* a block before the cluster's Timecode */
    fl_buf_reset(&b);
    header_only(&b);
    fl_buf_t cl;
    fl_buf_init(&cl, 0);
    uint8_t blk[4 + 8] = {0x81, 0, 0, 0x80};
    el(&cl, 0xA3, blk, sizeof blk);
    el(&b, 0x1F43B675, cl.p, cl.n);
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &r, &off), FL_EMALFORMED);
    fl_buf_free(&r.log);
    fl_buf_free(&cl);

    /* errors stick */
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(NULL, NULL, NULL, &p), 0);
    uint8_t zero = 0;
    ck_assert_int_eq(fl_mkv_parser_feed(p, &zero, 1), FL_EMALFORMED);
    ck_assert_int_eq(fl_mkv_parser_feed(p, b.p, b.n), FL_EMALFORMED);
    ck_assert_int_eq(fl_mkv_parser_finish(p), FL_EMALFORMED);
    ck_assert_str_eq(fl_mkv_parser_error_text(p), "invalid element ID");
    fl_mkv_parser_free(p);
    fl_mkv_parser_free(NULL);
    fl_buf_free(&b);
}
END_TEST

START_TEST(callback_can_stop)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    build_stream(&b, 2, 0);
    rec_t r;
    memset(&r, 0, sizeof r);
    fl_buf_init(&r.log, 0);
    r.stop_after = 5;
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(NULL, rec_cb, &r, &p), 0);
    ck_assert_int_eq(fl_mkv_parser_feed(p, b.p, b.n), FL_ECLOSED);
    ck_assert_int_eq(r.events, 5);
    ck_assert_int_eq(fl_mkv_parser_feed(p, b.p, b.n), FL_ECLOSED);
    ck_assert_int_eq(r.events, 5);
    fl_mkv_parser_free(p);
    fl_buf_free(&r.log);
    fl_buf_free(&b);
}
END_TEST

START_TEST(writer_rejects_what_matroska_cannot_carry)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    uint8_t x = 0;
    ck_assert_int_eq(fl_mkv_write_simple_block(&b, 1, 40000, 1, fl_slice(&x, 1)), FL_EINVAL);
    ck_assert_int_eq(fl_mkv_write_simple_block(&b, 0, 0, 1, fl_slice(&x, 1)), FL_EINVAL);
    /* header + the caller's own frame bytes = the one-call SimpleBlock */
    fl_buf_t one, two;
    fl_buf_init(&one, 0);
    fl_buf_init(&two, 0);
    const uint8_t frame[300] = {1, 2, 3};
    ck_assert_int_eq(fl_mkv_write_simple_block(&one, 2, -7, 1, fl_slice(frame, sizeof frame)), 0);
    ck_assert_int_eq(fl_mkv_write_simple_block_header(&two, 2, -7, 1, sizeof frame), 0);
    ck_assert_uint_eq(two.n, 1 + 2 + 4);
    fl_buf_append(&two, frame, sizeof frame);
    ck_assert(fl_slice_eq(fl_buf_slice(&one), fl_buf_slice(&two)));
    fl_buf_free(&one);
    fl_buf_free(&two);
    fl_mkv_track_t t[2];
    memset(t, 0, sizeof t);
    t[0].number = t[1].number = 3;
    ck_assert_int_eq(fl_mkv_write_tracks(&b, t, 2), FL_EINVAL);
    ck_assert_uint_eq(b.n, 0);
    /* a capped buffer reports FL_ELIMIT once, at the end */
    fl_buf_t small;
    fl_buf_init(&small, 10);
    fl_mkv_write_ebml_header(&small, NULL);
    ck_assert_int_eq(fl_mkv_write_segment_start(&small), FL_ELIMIT);
    fl_buf_free(&small);
    fl_buf_free(&b);
}
END_TEST

START_TEST(random_splits_and_corruptions_never_crash)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    build_stream(&b, 2, 1);
    rec_t whole, r;
    ck_assert_int_eq(parse(fl_buf_slice(&b), 0, NULL, &whole, NULL), 0);
    unsigned seed = 12345;
    for (int iter = 0; iter < 200; iter++) {
        seed = seed * 1103515245 + 12345;
        size_t step = 1 + (seed >> 8) % 5000;
        ck_assert_int_eq(parse(fl_buf_slice(&b), step, NULL, &r, NULL), 0);
        ck_assert_str_eq((const char *)r.log.p, (const char *)whole.log.p);
        fl_buf_free(&r.log);
        /* flip a byte: any outcome but a crash is fine, and the same one
         * whole or split */
        uint8_t *copy = malloc(b.n);
        memcpy(copy, b.p, b.n);
        copy[(seed >> 4) % b.n] ^= (uint8_t)(1 + (seed >> 20) % 255);
        rec_t c1, c2;
        uint64_t o1, o2;
        int rc1 = parse(fl_slice(copy, b.n), 0, NULL, &c1, &o1);
        int rc2 = parse(fl_slice(copy, b.n), step, NULL, &c2, &o2);
        ck_assert_int_eq(rc1, rc2);
        ck_assert(o1 == o2);
        ck_assert_str_eq((const char *)c1.log.p, (const char *)c2.log.p);
        fl_buf_free(&c1.log);
        fl_buf_free(&c2.log);
        free(copy);
    }
    fl_buf_free(&whole.log);
    fl_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("media_mkv");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, round_trip_events);
    tcase_add_test(tc, byte_by_byte_equals_whole);
    tcase_add_test(tc, cluster_offsets_cut_fragments);
    tcase_add_test(tc, new_ebml_header_starts_new_session);
    tcase_add_test(tc, writer_rejects_what_matroska_cannot_carry);
    suite_add_tcase(s, tc);
    tc = tcase_create("blocks");
    tcase_add_test(tc, lacing_xiph_ebml_fixed);
    tcase_add_test(tc, block_group_reference_and_duration);
    tcase_add_test(tc, unknown_elements_are_skipped);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, limits_are_enforced);
    tcase_add_test(tc, malformed_input_is_located);
    tcase_add_test(tc, callback_can_stop);
    tcase_add_test(tc, random_splits_and_corruptions_never_crash);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
