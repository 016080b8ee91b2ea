/*
 * tests/test_server_ingest.c — the PutMedia session core (server/ingest.c)
 * driven directly: acks in order, fragments stored whole and restamped, the
 * same result however the bytes are split, every ack error id for its
 * cause, cut fragments dropped, new sessions mid-stream, and a real
 * H.264+AAC file made by ffmpeg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"
#include "media_harness.h"
#include "server/video/fragment.h"
#include "server/video/ingest.h"

/* ---- a recording of what the session did ---- */

typedef struct {
    char acks[256][128]; /* each ack's JSON */
    int n_acks;
    fl_buf_t records[64];
    int64_t rec_tc[64], rec_abs[64];
    int n_records;
    int sessions;
    int frames;
    int next_number;
    int refuse_store; /* fragment hook answers this error id */
    int dropped;
    int64_t stored_abs; /* the "stored" hook knows a fragment at this time */
    fl_ingest_t *in;
} rec_t;

static int h_begin(void *data, int64_t tc, int64_t abs_ms, char *number, size_t cap)
{
    rec_t *r = data;
    (void)tc;
    (void)abs_ms;
    snprintf(number, cap, "%d", 1000 + r->next_number++);
    return 0;
}

static void h_ack(void *data, const fl_ack_t *a)
{
    rec_t *r = data;
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_ack_format(a, &b);
    fl_buf_u8(&b, 0);
    ck_assert_int_lt(r->n_acks, 256);
    snprintf(r->acks[r->n_acks++], sizeof r->acks[0], "%s", (char *)b.p);
    fl_buf_free(&b);
}

static int h_fragment(void *data, const char *number, int64_t tc, int64_t abs_ms, fl_slice_t rec)
{
    rec_t *r = data;
    (void)number;
    if (r->refuse_store)
        return r->refuse_store;
    /* the record was built in place, in the buffer hooks may share, and
     * is byte for byte what the format's encoder writes for its parts */
    fl_recbuf_t *rb = fl_ingest_record(r->in);
    ck_assert_ptr_nonnull(rb);
    ck_assert(rec.p == rb->b.p && rec.n == rb->b.n);
    fl_fragment_t fr;
    ck_assert_int_eq(fl_fragment_decode(rec, &fr), 0);
    fl_buf_t again;
    fl_buf_init(&again, 0);
    fl_fragment_encode(&again, &fr);
    ck_assert(fl_slice_eq(fl_buf_slice(&again), rec));
    fl_buf_free(&again);
    ck_assert_int_lt(r->n_records, 64);
    fl_buf_init(&r->records[r->n_records], 0);
    fl_buf_append(&r->records[r->n_records], rec.p, rec.n);
    r->rec_tc[r->n_records] = tc;
    r->rec_abs[r->n_records] = abs_ms;
    r->n_records++;
    return 0;
}

static void h_session(void *data, fl_slice_t tracks)
{
    rec_t *r = data;
    ck_assert_uint_gt(tracks.n, 0);
    r->sessions++;
}

static void h_frame(void *data, const char *number, uint64_t track, int64_t pts, int64_t dur,
                    int key, fl_slice_t bytes)
{
    rec_t *r = data;
    (void)number, (void)track, (void)pts, (void)dur, (void)key;
    /* the frame as stored, inside the record being built */
    fl_recbuf_t *rb = fl_ingest_record(r->in);
    ck_assert_ptr_nonnull(rb);
    ck_assert(bytes.p >= rb->b.p && bytes.p + bytes.n <= rb->b.p + rb->b.n);
    r->frames++;
}

static void h_dropped(void *data)
{
    rec_t *r = data;
    r->dropped++;
}

static int h_stored(void *data, int64_t abs_ms, char *number, size_t cap)
{
    rec_t *r = data;
    if (!r->stored_abs || abs_ms != r->stored_abs)
        return 0;
    snprintf(number, cap, "%s", "777");
    return 1;
}

static fl_ingest_t *session(rec_t *r, const fl_ingest_opts_t *o)
{
    memset(r, 0, sizeof *r);
    fl_ingest_cbs_t h = {.begin = h_begin,
                         .ack = h_ack,
                         .fragment = h_fragment,
                         .session = h_session,
                         .frame = h_frame,
                         .dropped = h_dropped,
                         .stored = h_stored,
                         .data = r};
    fl_ingest_opts_t def = {0};
    fl_ingest_t *in;
    ck_assert_int_eq(fl_ingest_new(o ? o : &def, &h, &in), 0);
    r->in = in;
    return in;
}

static void rec_free(rec_t *r)
{
    for (int i = 0; i < r->n_records; i++)
        fl_buf_free(&r->records[i]);
}

/* ---- building producer input ---- */

static void header(fl_buf_t *b, int n_tracks, const char *codec)
{
    fl_mkv_write_ebml_header(b, NULL);
    fl_mkv_write_segment_start(b);
    fl_mkv_info_t info = {0};
    info.muxing_app = fl_slice_str("test");
    info.writing_app = fl_slice_str("test");
    fl_mkv_write_info(b, &info);
    fl_mkv_track_t t[8];
    memset(t, 0, sizeof t);
    for (int i = 0; i < n_tracks; i++) {
        t[i].number = (uint64_t)i + 1;
        t[i].type = FL_MKV_TRACK_VIDEO;
        t[i].codec_id = fl_slice_str(codec);
        t[i].pixel_width = 320;
        t[i].pixel_height = 240;
    }
    fl_mkv_write_tracks(b, t, (size_t)n_tracks);
}

/* A known-size cluster at tc (ms) with n frames 33 ms apart, 100 bytes each. */
static void cluster(fl_buf_t *b, uint64_t tc, int n, uint64_t track)
{
    size_t mark;
    fl_mkv_write_cluster_begin(b, tc, &mark);
    uint8_t frame[100];
    for (int i = 0; i < n; i++) {
        memset(frame, i, sizeof frame);
        fl_mkv_write_simple_block(b, track, 33 * i, i == 0, fl_slice(frame, sizeof frame));
    }
    fl_mkv_write_cluster_end(b, mark);
}

static void open_cluster(fl_buf_t *b, uint64_t tc, int n)
{
    fl_mkv_write_cluster_start(b, tc);
    uint8_t frame[100] = {0};
    for (int i = 0; i < n; i++)
        fl_mkv_write_simple_block(b, 1, 33 * i, i == 0, fl_slice(frame, sizeof frame));
}

static void feed_all(fl_ingest_t *in, const fl_buf_t *b, size_t step)
{
    for (size_t off = 0; off < b->n; off += step) {
        size_t n = b->n - off < step ? b->n - off : step;
        if (fl_ingest_feed(in, fl_slice(b->p + off, n)) != 0)
            return;
    }
}

typedef struct {
    int n;
    int64_t first;
} frame_count_t;

static int count_cb(void *d, const fl_mkv_event_t *ev)
{
    frame_count_t *st = d;
    if (ev->type == FL_MKV_EV_FRAME && st->n++ == 0)
        st->first = ev->u.frame.pts_ns / 1000000;
    return 0;
}

/* Frames in a stored record's Cluster, with absolute timestamps. */
static int count_cluster_frames(const fl_buf_t *rec, int64_t *first_pts_ms)
{
    fl_fragment_t f;
    ck_assert_int_eq(fl_fragment_decode(fl_buf_slice(rec), &f), 0);
    /* parse Tracks + Cluster as a stream */
    fl_buf_t s;
    fl_buf_init(&s, 0);
    fl_mkv_write_ebml_header(&s, NULL);
    fl_mkv_write_segment_start(&s);
    fl_buf_append(&s, f.tracks.p, f.tracks.n);
    fl_buf_append(&s, f.cluster.p, f.cluster.n);
    frame_count_t st = {0, -1};
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(NULL, count_cb, &st, &p), 0);
    ck_assert_int_eq(fl_mkv_parser_feed(p, s.p, s.n), 0);
    ck_assert_int_eq(fl_mkv_parser_finish(p), 0);
    fl_mkv_parser_free(p);
    fl_buf_free(&s);
    ck_assert_uint_eq(f.n_frames, (unsigned)st.n);
    *first_pts_ms = st.first;
    return st.n;
}

/* ---- tests ---- */

START_TEST(acks_and_fragments_in_order)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    cluster(&b, 1700000000000ULL, 30, 1);
    cluster(&b, 1700000001000ULL, 30, 1);
    /* any split gives the same acks and records */
    static const size_t steps[] = {1, 7, 100, 1 << 20};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        rec_t r;
        fl_ingest_t *in = session(&r, NULL);
        feed_all(in, &b, steps[k]);
        ck_assert_int_eq(fl_ingest_finish(in, 1), 0);
        ck_assert_int_eq(r.n_acks, 4);
        ck_assert_str_eq(r.acks[0], "{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":"
                                    "1700000000000,\"FragmentNumber\":\"1000\"}");
        ck_assert_str_eq(r.acks[1], "{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":"
                                    "1700000000000,\"FragmentNumber\":\"1000\"}");
        ck_assert_ptr_nonnull(strstr(r.acks[2], "BUFFERING\",\"FragmentTimecode\":1700000001000"));
        ck_assert_ptr_nonnull(strstr(r.acks[3], "\"FragmentNumber\":\"1001\""));
        ck_assert_int_eq(r.n_records, 2);
        ck_assert_int_eq(r.sessions, 1);
        ck_assert_int_eq(r.frames, 60);
        int64_t first;
        ck_assert_int_eq(count_cluster_frames(&r.records[1], &first), 30);
        ck_assert(first == 1700000001000LL);
        fl_fragment_t f;
        ck_assert_int_eq(fl_fragment_decode(fl_buf_slice(&r.records[0]), &f), 0);
        ck_assert_uint_eq(f.duration_ms, 29 * 33);
        ck_assert_uint_eq(f.flags & FL_FRAGMENT_KEYFRAME, FL_FRAGMENT_KEYFRAME);
        ck_assert_uint_eq(fl_ingest_fragments(in), 2);
        fl_ingest_free(in);
        rec_free(&r);
    }
    fl_buf_free(&b);
}
END_TEST

START_TEST(unknown_size_clusters_end_at_the_next_one)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    open_cluster(&b, 5000, 10);
    open_cluster(&b, 6000, 10);
    rec_t r;
    fl_ingest_t *in = session(&r, NULL);
    feed_all(in, &b, 13);
    ck_assert_int_eq(r.n_records, 1); /* the 2nd is still open */
    ck_assert_int_eq(fl_ingest_finish(in, 1), 0);
    ck_assert_int_eq(r.n_records, 2); /* a clean end completes it */
    fl_ingest_free(in);
    rec_free(&r);

    in = session(&r, NULL);
    feed_all(in, &b, 13);
    ck_assert_int_eq(fl_ingest_finish(in, 0), 0);
    ck_assert_int_eq(r.n_records, 1); /* a broken connection drops it */
    ck_assert_int_eq(r.dropped, 1);
    ck_assert_int_eq(r.n_acks, 3); /* BUFFERING, RECEIVED, BUFFERING */
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

START_TEST(cut_known_size_cluster_is_dropped)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    cluster(&b, 1000, 10, 1);
    cluster(&b, 2000, 10, 1);
    rec_t r;
    fl_ingest_t *in = session(&r, NULL);
    /* the connection breaks inside the second (known-size) cluster */
    ck_assert_int_eq(fl_ingest_feed(in, fl_slice(b.p, b.n - 300)), 0);
    ck_assert_int_eq(fl_ingest_finish(in, 0), 0);
    ck_assert_int_eq(r.n_records, 1);
    ck_assert_int_eq(r.dropped, 1); /* the live tail hears of it */
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

static void expect_error(rec_t *r, int error_id)
{
    ck_assert_int_gt(r->n_acks, 0);
    char want[64];
    snprintf(want, sizeof want, "\"ErrorId\":%d}", error_id);
    ck_assert_msg(strstr(r->acks[r->n_acks - 1], want) != NULL, "last ack %s, want %d",
                  r->acks[r->n_acks - 1], error_id);
    ck_assert_ptr_nonnull(strstr(r->acks[r->n_acks - 1], "\"EventType\":\"ERROR\""));
}

START_TEST(decreasing_timecode_is_4004)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    cluster(&b, 9000, 5, 1);
    cluster(&b, 8000, 5, 1);
    rec_t r;
    fl_ingest_t *in = session(&r, NULL);
    feed_all(in, &b, 1 << 20);
    expect_error(&r, FL_ACK_ERR_TIMECODE_LOWER);
    ck_assert_ptr_nonnull(strstr(r.acks[r.n_acks - 1], "\"FragmentTimecode\":8000"));
    ck_assert_int_eq(r.n_records, 1); /* the good one stays */
    /* the session is over */
    ck_assert_int_eq(fl_ingest_feed(in, fl_slice("x", 1)), FL_ECLOSED);
    ck_assert_int_eq(fl_ingest_finish(in, 1), FL_ECLOSED);
    fl_ingest_free(in);
    rec_free(&r);

    /* a later connection cannot go back before what the stream holds */
    fl_buf_reset(&b);
    header(&b, 1, "V_VP8");
    cluster(&b, 8999, 5, 1);
    fl_ingest_opts_t o = {.min_abs_ms = 9000};
    in = session(&r, &o);
    feed_all(in, &b, 1 << 20);
    expect_error(&r, FL_ACK_ERR_TIMECODE_LOWER);
    ck_assert_int_eq(r.n_records, 0);
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

/* A producer that reconnects sends again the fragments it has no
 * PERSISTED ack for: one the stream holds already is acked again (with its
 * stored number) and not stored twice; the new ones after it are stored. */
START_TEST(resent_fragment_is_acked_not_stored)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    cluster(&b, 9000, 5, 1);
    cluster(&b, 10000, 5, 1);
    fl_ingest_opts_t o = {.min_abs_ms = 9000};
    rec_t r;
    fl_ingest_t *in = session(&r, &o);
    r.stored_abs = 9000;
    feed_all(in, &b, 1 << 20);
    ck_assert_int_eq(fl_ingest_finish(in, 1), 0);
    ck_assert_int_eq(r.n_records, 1); /* only 10000 */
    ck_assert_int_eq(r.rec_abs[0], 10000);
    ck_assert_int_eq(r.frames, 5); /* the resend's frames reach no live reader */
    ck_assert_int_ge(r.n_acks, 5);
    const char *want[] = {"BUFFERING", "RECEIVED", "PERSISTED"};
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(strstr(r.acks[i], want[i]) &&
                          strstr(r.acks[i], "\"FragmentTimecode\":9000") &&
                          strstr(r.acks[i], "\"FragmentNumber\":\"777\""),
                      "ack %d: %s", i, r.acks[i]);
    }
    ck_assert_ptr_nonnull(strstr(r.acks[3], "\"FragmentTimecode\":10000"));
    fl_ingest_free(in);
    rec_free(&r);

    /* an earlier timecode the stream does not hold is still 4004 */
    fl_buf_reset(&b);
    header(&b, 1, "V_VP8");
    cluster(&b, 8500, 5, 1);
    in = session(&r, &o);
    r.stored_abs = 9000;
    feed_all(in, &b, 1 << 20);
    expect_error(&r, FL_ACK_ERR_TIMECODE_LOWER);
    ck_assert_int_eq(r.n_records, 0);
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

START_TEST(limits_give_their_error_ids)
{
    struct {
        int tracks;
        const char *codec;
        int frames;
        uint64_t frame_track;
        fl_ingest_opts_t o;
        int error_id;
    } cases[] = {
        {4, "V_VP8", 5, 1, {0}, FL_ACK_ERR_TOO_MANY_TRACKS},
        {1, "V_VP8", 50, 1, {.max_fragment_bytes = 2000}, FL_ACK_ERR_TOO_LARGE},
        {1, "V_VP8", 50, 1, {.max_fragment_ms = 1000}, FL_ACK_ERR_TOO_LONG},
        {1, "V_MPEG4/ISO/AVC", 5, 1, {0}, FL_ACK_ERR_INVALID_MKV}, /* no CodecPrivate */
        {1, "V_VP8", 5, 2, {0}, FL_ACK_ERR_TRACK_MISMATCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        header(&b, cases[i].tracks, cases[i].codec);
        cluster(&b, 1000, cases[i].frames, cases[i].frame_track);
        rec_t r;
        fl_ingest_t *in = session(&r, &cases[i].o);
        feed_all(in, &b, 64);
        expect_error(&r, cases[i].error_id);
        ck_assert_int_eq(r.n_records, 0);
        fl_ingest_free(in);
        rec_free(&r);
        fl_buf_free(&b);
    }
}
END_TEST

START_TEST(garbage_is_4006)
{
    rec_t r;
    fl_ingest_t *in = session(&r, NULL);
    char junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 37 + 11);
    ck_assert_int_eq(fl_ingest_feed(in, fl_slice(junk, sizeof junk)), FL_ECLOSED);
    expect_error(&r, FL_ACK_ERR_INVALID_MKV);
    fl_ingest_free(in);
    rec_free(&r);

    /* a clean end inside an element is invalid too */
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    cluster(&b, 1000, 5, 1);
    in = session(&r, NULL);
    ck_assert_int_eq(fl_ingest_feed(in, fl_slice(b.p, b.n - 20)), 0);
    ck_assert_int_eq(fl_ingest_finish(in, 1), FL_ECLOSED);
    expect_error(&r, FL_ACK_ERR_INVALID_MKV);
    ck_assert_int_eq(r.n_records, 0); /* never half-stored */
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

START_TEST(metadata_tags_go_with_the_next_fragment)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    fl_mkv_tag_t t[2] = {{fl_slice_str("site"), fl_slice_str("lab"), 0},
                         {fl_slice_str("AWS_KINESISVIDEO_END_OF_FRAGMENT"), fl_slice_str(""), 0}};
    fl_mkv_write_tags(&b, t, 1);
    open_cluster(&b, 1000, 5);
    fl_mkv_write_tags(&b, &t[1], 1); /* ends the open cluster */
    rec_t r;
    fl_ingest_t *in = session(&r, NULL);
    feed_all(in, &b, 1 << 20);
    ck_assert_int_eq(r.n_records, 1); /* ended by the tag, before any finish */
    fl_fragment_t f;
    ck_assert_int_eq(fl_fragment_decode(fl_buf_slice(&r.records[0]), &f), 0);
    ck_assert_uint_gt(f.tags.n, 0);
    ck_assert_ptr_nonnull(memmem(f.tags.p, f.tags.n, "site", 4));
    fl_ingest_free(in);
    rec_free(&r);

    /* more than max_tags before one fragment: 4009 */
    fl_buf_reset(&b);
    header(&b, 1, "V_VP8");
    for (int i = 0; i < 11; i++)
        fl_mkv_write_tags(&b, t, 1);
    fl_ingest_opts_t o = {0};
    in = session(&r, &o);
    feed_all(in, &b, 1 << 20);
    expect_error(&r, FL_ACK_ERR_TOO_MANY_TAGS);
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

START_TEST(relative_timecodes_and_new_sessions)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    cluster(&b, 0, 5, 1);
    cluster(&b, 2000, 5, 1);
    header(&b, 2, "V_VP8"); /* a new EBML header: new session, new tracks */
    cluster(&b, 4000, 5, 2);
    fl_ingest_opts_t o = {.relative = 1, .producer_start_ms = 1700000000000LL};
    rec_t r;
    fl_ingest_t *in = session(&r, &o);
    feed_all(in, &b, 50);
    ck_assert_int_eq(fl_ingest_finish(in, 1), 0);
    ck_assert_int_eq(r.sessions, 2);
    ck_assert_int_eq(r.n_records, 3);
    /* acks carry the timecode as sent; records are absolute */
    ck_assert_ptr_nonnull(strstr(r.acks[2], "\"FragmentTimecode\":2000"));
    ck_assert(r.rec_abs[1] == 1700000002000LL);
    int64_t first;
    count_cluster_frames(&r.records[2], &first);
    ck_assert(first == 1700000004000LL);
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

START_TEST(storage_failure_is_an_error_ack)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    header(&b, 1, "V_VP8");
    cluster(&b, 1000, 5, 1);
    rec_t r;
    fl_ingest_t *in = session(&r, NULL);
    r.refuse_store = FL_ACK_ERR_ARCHIVAL;
    feed_all(in, &b, 1 << 20);
    expect_error(&r, FL_ACK_ERR_ARCHIVAL);
    ck_assert_ptr_nonnull(strstr(r.acks[r.n_acks - 1], "\"FragmentNumber\":\"1000\""));
    fl_ingest_free(in);
    rec_free(&r);
    fl_buf_free(&b);
}
END_TEST

START_TEST(ffmpeg_h264_aac_file)
{
    make_media(); /* 6 s of H.264 + AAC, a key frame every 2 s */
    char *path = g_mkv;
    size_t n;
    char *data = fl_test_read_file(path, &n);
    ck_assert_ptr_nonnull(data);
    rec_t r;
    fl_ingest_t *in = session(&r, NULL);
    fl_buf_t b = {(uint8_t *)data, n, n, 0, 0};
    feed_all(in, &b, 4096);
    ck_assert_int_eq(fl_ingest_finish(in, 1), 0);
    /* 6 s with a key frame every 2 s: 3 fragments, no errors */
    ck_assert_int_eq(r.n_records, 3);
    for (int i = 0; i < r.n_acks; i++)
        ck_assert_ptr_null(strstr(r.acks[i], "ERROR"));
    /* every packet ffprobe sees became a frame */
    char *pr[] = {"ffprobe", "-v", "error", "-show_entries", "packet=pts", "-of",
                  "csv=p=0", path, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(pr, 60000, &out, NULL), 0);
    int packets = 0;
    for (char *c = out; *c; c++)
        packets += *c == '\n';
    free(out);
    ck_assert_int_eq(r.frames, packets);
    fl_ingest_free(in);
    rec_free(&r);
    free(data);
    fl_test_rmtree(g_dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_ingest");
    TCase *tc = tcase_create("session");
    tcase_add_test(tc, acks_and_fragments_in_order);
    tcase_add_test(tc, unknown_size_clusters_end_at_the_next_one);
    tcase_add_test(tc, cut_known_size_cluster_is_dropped);
    tcase_add_test(tc, decreasing_timecode_is_4004);
    tcase_add_test(tc, resent_fragment_is_acked_not_stored);
    tcase_add_test(tc, limits_give_their_error_ids);
    tcase_add_test(tc, garbage_is_4006);
    tcase_add_test(tc, metadata_tags_go_with_the_next_fragment);
    tcase_add_test(tc, relative_timecodes_and_new_sessions);
    tcase_add_test(tc, storage_failure_is_an_error_ack);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, ffmpeg_h264_aac_file);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
