/*
 * tests/test_media_mkv_files.c — media/: the Matroska parser on files made
 * at test time by real muxers (ffmpeg with libx264/libx265 + AAC, as a file
 * and as a non-seekable stream; GStreamer's matroskamux), checked against
 * what ffprobe -show_packets reports: the same packets in the same order,
 * with the same tracks, timestamps and key-frame flags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "harness.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"

typedef struct {
    int stream; /* index of the track in Tracks order */
    long long pts;
    int key;
} pkt_t;

typedef struct {
    pkt_t *v;
    size_t n, cap;
    uint64_t track_numbers[8];
    size_t n_tracks;
    char codec[8][32];
    uint64_t width, height;
    double rate;
    uint64_t channels;
    int clusters;
    int clusters_starting_with_key; /* first video frame of the cluster is key */
    int in_cluster_first_video;
    fl_buf_t log; /* offsets and sizes, for split comparison */
} got_t;

static int got_cb(void *data, const fl_mkv_event_t *ev)
{
    got_t *g = data;
    fl_buf_printf(&g->log, "%d %llu %llu\n", (int)ev->type, (unsigned long long)ev->offset,
                  (unsigned long long)ev->end);
    if (ev->type == FL_MKV_EV_TRACKS) {
        g->n_tracks = ev->u.tracks.n < 8 ? ev->u.tracks.n : 8;
        for (size_t i = 0; i < g->n_tracks; i++) {
            const fl_mkv_track_t *t = &ev->u.tracks.v[i];
            g->track_numbers[i] = t->number;
            snprintf(g->codec[i], sizeof g->codec[i], "%.*s", (int)t->codec_id.n,
                     (const char *)t->codec_id.p);
            if (t->type == FL_MKV_TRACK_VIDEO) {
                g->width = t->pixel_width;
                g->height = t->pixel_height;
            } else if (t->type == FL_MKV_TRACK_AUDIO) {
                g->rate = t->sampling_frequency;
                g->channels = t->channels;
            }
        }
    } else if (ev->type == FL_MKV_EV_CLUSTER_START) {
        g->clusters++;
        g->in_cluster_first_video = 1;
    } else if (ev->type == FL_MKV_EV_FRAME) {
        int idx = -1;
        for (size_t i = 0; i < g->n_tracks; i++)
            if (g->track_numbers[i] == ev->u.frame.track)
                idx = (int)i;
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 256;
            g->v = realloc(g->v, g->cap * sizeof *g->v);
        }
        g->v[g->n].stream = idx;
        /* ffprobe shows Matroska times in ms (TimecodeScale 1 ms here) */
        g->v[g->n].pts = ev->u.frame.pts_ns / 1000000;
        g->v[g->n].key = ev->u.frame.keyframe;
        g->n++;
        fl_buf_printf(
            &g->log, "  %zu %08zx\n", ev->u.frame.data.n,
            (size_t)(ev->u.frame.data.n ? ev->u.frame.data.p[ev->u.frame.data.n / 2] : 0));
        if (idx >= 0 && strncmp(g->codec[idx], "V_", 2) == 0 && g->in_cluster_first_video) {
            g->clusters_starting_with_key += ev->u.frame.keyframe;
            g->in_cluster_first_video = 0;
        }
    }
    return 0;
}

static void got_free(got_t *g)
{
    free(g->v);
    fl_buf_free(&g->log);
    memset(g, 0, sizeof *g);
}

static void parse_file(const char *path, size_t step, got_t *g)
{
    size_t n;
    char *bytes = fl_test_read_file(path, &n);
    ck_assert_msg(bytes != NULL, "cannot read %s", path);
    memset(g, 0, sizeof *g);
    fl_buf_init(&g->log, 0);
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(NULL, got_cb, g, &p), 0);
    if (!step)
        step = n;
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        int rc = fl_mkv_parser_feed(p, bytes + off, k);
        ck_assert_msg(rc == 0, "%s: %s at %llu: %s", path, fl_strerror(rc),
                      (unsigned long long)fl_mkv_parser_error_offset(p),
                      fl_mkv_parser_error_text(p));
    }
    ck_assert_int_eq(fl_mkv_parser_finish(p), 0);
    fl_mkv_parser_free(p);
    free(bytes);
}

/* ffprobe's packets: "stream_index,pts,flags" per line. */
static pkt_t *probe_packets(const char *path, size_t *n_out)
{
    char *argv[] = {"ffprobe",       "-v",
                    "error",         "-show_packets",
                    "-show_entries", "packet=stream_index,pts,flags",
                    "-of",           "csv=p=0",
                    (char *)path,    NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    size_t cap = 256, n = 0;
    pkt_t *v = malloc(cap * sizeof *v);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int s;
        long long pts;
        char flags[16] = "";
        if (sscanf(line, "%d,%lld,%15s", &s, &pts, flags) < 2)
            continue;
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n].stream = s;
        v[n].pts = pts;
        v[n].key = flags[0] == 'K';
        n++;
    }
    free(out);
    *n_out = n;
    return v;
}

static void check_against_ffprobe(const char *path, const char *video_codec, int has_audio,
                                  int min_frames)
{
    got_t g;
    parse_file(path, 0, &g);
    size_t np;
    pkt_t *probe = probe_packets(path, &np);
    ck_assert_int_ge((int)np, min_frames);
    ck_assert_uint_eq(g.n, np);
    int keys = 0;
    for (size_t i = 0; i < np; i++) {
        ck_assert_msg(g.v[i].stream == probe[i].stream && g.v[i].pts == probe[i].pts &&
                          g.v[i].key == probe[i].key,
                      "%s packet %zu: parser %d/%lld/%d, ffprobe %d/%lld/%d", path, i,
                      g.v[i].stream, g.v[i].pts, g.v[i].key, probe[i].stream, probe[i].pts,
                      probe[i].key);
        keys += probe[i].key && g.codec[probe[i].stream][0] == 'V';
    }
    ck_assert_int_ge(keys, 1);
    ck_assert_str_eq(g.codec[0], video_codec);
    ck_assert_uint_eq(g.width, 320);
    ck_assert_uint_eq(g.height, 240);
    if (has_audio) {
        ck_assert_uint_eq(g.n_tracks, 2);
        ck_assert_str_eq(g.codec[1], "A_AAC");
        ck_assert(g.rate == 48000);
        ck_assert_uint_eq(g.channels, 1);
    }
    /* byte by byte gives the same events */
    got_t b1;
    parse_file(path, 1, &b1);
    ck_assert_uint_eq(b1.log.n, g.log.n);
    ck_assert(memcmp(b1.log.p, g.log.p, g.log.n) == 0);
    got_free(&b1);
    free(probe);
    got_free(&g);
}

static char *dir;

static void make_dir(void)
{
    dir = fl_test_mkdtemp("media-files");
}

static void rm_dir(void)
{
    fl_test_rmtree(dir);
}

static void ffmpeg_make(const char *codec, const char *out, int to_pipe)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi "
             "-i sine=frequency=440:sample_rate=48000 -t 4 -c:v %s %s -g 30 -pix_fmt yuv420p "
             "-c:a aac -cluster_time_limit 10000 -f matroska %s%s",
             codec, strcmp(codec, "libx265") == 0 ? "-x265-params log-level=error" : "",
             to_pipe ? "- > " : "", out);
    char *argv[] = {"sh", "-c", cmd, NULL};
    char *err = NULL;
    int rc = fl_test_run(argv, 120000, NULL, &err);
    ck_assert_msg(rc == 0, "ffmpeg failed: %s", err ? err : "");
    free(err);
}

START_TEST(ffmpeg_h264_aac)
{
    if (!fl_test_have("ffmpeg") || !fl_test_have("ffprobe"))
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/h264.mkv", dir);
    ffmpeg_make("libx264", path, 0);
    check_against_ffprobe(path, "V_MPEG4/ISO/AVC", 1, 120);
    /* -cluster_time_limit with -g 30: one cluster per GOP, each opening
     * with a key frame, as a camera's fragments do */
    got_t g;
    parse_file(path, 0, &g);
    ck_assert_int_eq(g.clusters, 4);
    ck_assert_int_eq(g.clusters_starting_with_key, 4);
    got_free(&g);
}
END_TEST

START_TEST(ffmpeg_h264_aac_streamed)
{
    if (!fl_test_have("ffmpeg") || !fl_test_have("ffprobe"))
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/h264-pipe.mkv", dir);
    ffmpeg_make("libx264", path, 1); /* non-seekable: Segment of unknown size */
    check_against_ffprobe(path, "V_MPEG4/ISO/AVC", 1, 120);
}
END_TEST

START_TEST(ffmpeg_h265_aac)
{
    if (!fl_test_have("ffmpeg") || !fl_test_have("ffprobe"))
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/h265.mkv", dir);
    ffmpeg_make("libx265", path, 0);
    check_against_ffprobe(path, "V_MPEGH/ISO/HEVC", 1, 120);
}
END_TEST

static void gst_make(const char *out, const char *mux_opts)
{
    char loc[4200];
    snprintf(loc, sizeof loc, "location=%s", out);
    char *argv[] = {"gst-launch-1.0",
                    "-q",
                    "videotestsrc",
                    "num-buffers=90",
                    "!",
                    "video/x-raw,width=320,height=240,framerate=30/1",
                    "!",
                    "x264enc",
                    "key-int-max=30",
                    "!",
                    "h264parse",
                    "!",
                    "matroskamux",
                    (char *)mux_opts,
                    "!",
                    "filesink",
                    loc,
                    NULL};
    char *err = NULL;
    int rc = fl_test_run(argv, 120000, NULL, &err);
    ck_assert_msg(rc == 0, "gst-launch failed: %s", err ? err : "");
    free(err);
}

START_TEST(gstreamer_matroskamux)
{
    if (!fl_test_have("gst-launch-1.0") || !fl_test_have("ffprobe"))
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/gst.mkv", dir);
    gst_make(path, "streamable=false");
    check_against_ffprobe(path, "V_MPEG4/ISO/AVC", 0, 90);
    snprintf(path, sizeof path, "%s/gst-live.mkv", dir);
    gst_make(path, "streamable=true");
    check_against_ffprobe(path, "V_MPEG4/ISO/AVC", 0, 90);
}
END_TEST

/* ---- the writer, checked by ffprobe rather than by our own parser ---- */

typedef struct {
    fl_mkv_track_t tracks[4];
    fl_buf_t strs[4][2];
    size_t n_tracks;
    fl_buf_t data;
    struct {
        size_t off, len;
        uint64_t track;
        int64_t pts_ms;
        int key;
        int cluster;
    } f[4096];
    size_t n;
    uint64_t cl_tc[64];
    int clusters;
} copy_t;

static int copy_cb(void *data, const fl_mkv_event_t *ev)
{
    copy_t *c = data;
    if (ev->type == FL_MKV_EV_TRACKS) {
        c->n_tracks = ev->u.tracks.n < 4 ? ev->u.tracks.n : 4;
        for (size_t i = 0; i < c->n_tracks; i++) {
            c->tracks[i] = ev->u.tracks.v[i];
            fl_buf_init(&c->strs[i][0], 0);
            fl_buf_init(&c->strs[i][1], 0);
            fl_buf_append(&c->strs[i][0], c->tracks[i].codec_id.p, c->tracks[i].codec_id.n);
            fl_buf_append(&c->strs[i][1], c->tracks[i].codec_private.p,
                          c->tracks[i].codec_private.n);
        }
    } else if (ev->type == FL_MKV_EV_CLUSTER_START && c->clusters < 64) {
        c->cl_tc[c->clusters++] = ev->u.cluster.timecode;
    } else if (ev->type == FL_MKV_EV_FRAME && c->n < 4096) {
        c->f[c->n].off = c->data.n;
        c->f[c->n].len = ev->u.frame.data.n;
        c->f[c->n].track = ev->u.frame.track;
        c->f[c->n].pts_ms = ev->u.frame.pts_ns / 1000000;
        c->f[c->n].key = ev->u.frame.keyframe;
        c->f[c->n].cluster = c->clusters - 1;
        c->n++;
        fl_buf_append(&c->data, ev->u.frame.data.p, ev->u.frame.data.n);
    }
    return 0;
}

START_TEST(writer_output_reads_in_ffprobe)
{
    if (!fl_test_have("ffmpeg") || !fl_test_have("ffprobe"))
        return;
    char src[4096], out[4200];
    snprintf(src, sizeof src, "%s/src.mkv", dir);
    snprintf(out, sizeof out, "%s/written.mkv", dir);
    ffmpeg_make("libx264", src, 0);
    static copy_t c;
    memset(&c, 0, sizeof c);
    fl_buf_init(&c.data, 0);
    size_t n;
    char *bytes = fl_test_read_file(src, &n);
    ck_assert_ptr_nonnull(bytes);
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(NULL, copy_cb, &c, &p), 0);
    ck_assert_int_eq(fl_mkv_parser_feed(p, bytes, n), 0);
    ck_assert_int_eq(fl_mkv_parser_finish(p), 0);
    fl_mkv_parser_free(p);
    free(bytes);
    for (size_t i = 0; i < c.n_tracks; i++) {
        c.tracks[i].codec_id = fl_buf_slice(&c.strs[i][0]);
        c.tracks[i].codec_private = fl_buf_slice(&c.strs[i][1]);
        c.tracks[i].name = c.tracks[i].language = fl_slice(NULL, 0);
    }

    /* what GetMedia sends: header, Segment of unknown size, Info, Tracks,
     * then per fragment an unknown-size Cluster and a Tags element */
    fl_buf_t w;
    fl_buf_init(&w, 0);
    fl_mkv_info_t info = {0};
    info.muxing_app = fl_slice_str("framelog");
    fl_mkv_write_ebml_header(&w, NULL);
    fl_mkv_write_segment_start(&w);
    fl_mkv_write_info(&w, &info);
    ck_assert_int_eq(fl_mkv_write_tracks(&w, c.tracks, c.n_tracks), 0);
    int cl = -1;
    for (size_t i = 0; i < c.n; i++) {
        if (c.f[i].cluster != cl) {
            if (cl >= 0) {
                char num[32];
                snprintf(num, sizeof num, "%d", cl);
                fl_mkv_tag_t tag = {fl_slice_str("AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
                                    fl_slice_str(num), 0};
                fl_mkv_write_tags(&w, &tag, 1);
            }
            cl = c.f[i].cluster;
            fl_mkv_write_cluster_start(&w, c.cl_tc[cl]);
        }
        ck_assert_int_eq(fl_mkv_write_simple_block(&w, c.f[i].track,
                                                   c.f[i].pts_ms - (int64_t)c.cl_tc[cl], c.f[i].key,
                                                   fl_slice(c.data.p + c.f[i].off, c.f[i].len)),
                         0);
    }
    ck_assert_int_eq(w.err, 0);
    ck_assert_int_eq(fl_test_write_file(out, w.p, w.n), 0);

    size_t na, nb;
    pkt_t *a = probe_packets(src, &na);
    pkt_t *b = probe_packets(out, &nb);
    ck_assert_uint_eq(nb, na);
    ck_assert_uint_eq(nb, c.n);
    for (size_t i = 0; i < na; i++)
        ck_assert_msg(a[i].stream == b[i].stream && a[i].pts == b[i].pts && a[i].key == b[i].key,
                      "packet %zu differs", i);
    free(a);
    free(b);
    for (size_t i = 0; i < c.n_tracks; i++) {
        fl_buf_free(&c.strs[i][0]);
        fl_buf_free(&c.strs[i][1]);
    }
    fl_buf_free(&c.data);
    fl_buf_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("media_mkv_files");
    TCase *tc = tcase_create("muxers");
    tcase_add_unchecked_fixture(tc, make_dir, rm_dir);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, ffmpeg_h264_aac);
    tcase_add_test(tc, ffmpeg_h264_aac_streamed);
    tcase_add_test(tc, ffmpeg_h265_aac);
    tcase_add_test(tc, gstreamer_matroskamux);
    tcase_add_test(tc, writer_output_reads_in_ffprobe);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
