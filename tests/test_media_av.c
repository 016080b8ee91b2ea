/*
 * tests/test_media_av.c — media/av.h: fragmented MP4, MPEG-TS and MP4
 * remux and thumbnails, on Matroska made by ffmpeg (libx264/libx265 + AAC)
 * at test time and parsed with media/'s parser, checked with ffprobe and
 * ffmpeg: packet counts, timestamps, key frames, end-to-end decoding of
 * init + concatenated segments, image codec and size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "harness.h"
#include "media/av.h"
#include "media/mkv_parser.h"

/* ---- a parsed file: tracks (deep-copied) and frames ---- */

typedef struct {
    size_t off, len;
    uint64_t track;
    int64_t pts_ns, dur_ns;
    int key;
    int cluster;
} fr_t;

typedef struct {
    fl_mkv_track_t tracks[4];
    fl_buf_t strs[4][2]; /* codec id, codec private */
    size_t n_tracks;
    fl_buf_t data;
    fr_t *v;
    size_t n, cap;
    int cluster;
} mkv_t;

static int mkv_cb(void *d, const fl_mkv_event_t *ev)
{
    mkv_t *m = d;
    if (ev->type == FL_MKV_EV_TRACKS) {
        m->n_tracks = ev->u.tracks.n < 4 ? ev->u.tracks.n : 4;
        for (size_t i = 0; i < m->n_tracks; i++) {
            m->tracks[i] = ev->u.tracks.v[i];
            fl_buf_init(&m->strs[i][0], 0);
            fl_buf_init(&m->strs[i][1], 0);
            fl_buf_append(&m->strs[i][0], m->tracks[i].codec_id.p, m->tracks[i].codec_id.n);
            fl_buf_append(&m->strs[i][1], m->tracks[i].codec_private.p,
                          m->tracks[i].codec_private.n);
        }
    } else if (ev->type == FL_MKV_EV_CLUSTER_START) {
        m->cluster++;
    } else if (ev->type == FL_MKV_EV_FRAME) {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 256;
            m->v = realloc(m->v, m->cap * sizeof *m->v);
        }
        fr_t *f = &m->v[m->n++];
        f->off = m->data.n;
        f->len = ev->u.frame.data.n;
        f->track = ev->u.frame.track;
        f->pts_ns = ev->u.frame.pts_ns;
        f->dur_ns = ev->u.frame.duration_ns;
        f->key = ev->u.frame.keyframe;
        f->cluster = m->cluster;
        fl_buf_append(&m->data, ev->u.frame.data.p, ev->u.frame.data.n);
    }
    return 0;
}

static void mkv_load(const char *path, mkv_t *m)
{
    memset(m, 0, sizeof *m);
    fl_buf_init(&m->data, 0);
    size_t n;
    char *bytes = fl_test_read_file(path, &n);
    ck_assert_ptr_nonnull(bytes);
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(NULL, mkv_cb, m, &p), 0);
    ck_assert_int_eq(fl_mkv_parser_feed(p, bytes, n), 0);
    ck_assert_int_eq(fl_mkv_parser_finish(p), 0);
    fl_mkv_parser_free(p);
    free(bytes);
    for (size_t i = 0; i < m->n_tracks; i++) {
        m->tracks[i].codec_id = fl_buf_slice(&m->strs[i][0]);
        m->tracks[i].codec_private = fl_buf_slice(&m->strs[i][1]);
        m->tracks[i].name = m->tracks[i].language = fl_slice(NULL, 0);
    }
}

static void mkv_free(mkv_t *m)
{
    for (size_t i = 0; i < m->n_tracks; i++) {
        fl_buf_free(&m->strs[i][0]);
        fl_buf_free(&m->strs[i][1]);
    }
    fl_buf_free(&m->data);
    free(m->v);
}

/* Frames of clusters [c0, c1] as fl_av_frame_t (malloc'd). */
static fl_av_frame_t *frames_of(const mkv_t *m, int c0, int c1, size_t *n_out)
{
    fl_av_frame_t *v = calloc(m->n ? m->n : 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].cluster < c0 || m->v[i].cluster > c1)
            continue;
        v[n].track = m->v[i].track;
        v[n].pts_ns = m->v[i].pts_ns;
        v[n].duration_ns = m->v[i].dur_ns;
        v[n].keyframe = m->v[i].key;
        v[n].data = fl_slice(m->data.p + m->v[i].off, m->v[i].len);
        n++;
    }
    *n_out = n;
    return v;
}

static int count_track(const mkv_t *m, uint64_t track)
{
    int n = 0;
    for (size_t i = 0; i < m->n; i++)
        n += m->v[i].track == track;
    return n;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* ---- probing ---- */

typedef struct {
    long long pts_ms[2048];
    int key[2048];
    int n;
    int audio;
} probed_t;

static void probe_packets(const char *path, probed_t *p)
{
    char *argv[] = {"ffprobe",       "-v",
                    "error",         "-show_packets",
                    "-show_entries", "packet=codec_type,pts_time,flags",
                    "-of",           "csv=p=0",
                    (char *)path,    NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    memset(p, 0, sizeof *p);
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        char type[16];
        double t;
        char flags[16] = "";
        if (sscanf(l, "%15[^,],%lf,%15s", type, &t, flags) < 2)
            continue;
        if (strcmp(type, "audio") == 0) {
            p->audio++;
        } else if (strcmp(type, "video") == 0 && p->n < 2048) {
            p->pts_ms[p->n] = (long long)(t * 1000 + (t >= 0 ? 0.5 : -0.5));
            p->key[p->n] = flags[0] == 'K';
            p->n++;
        }
    }
    free(out);
}

/* Video presentation times of the probe equal those of the Matroska frames
 * (shifted by a constant when the muxer moves the start, as TS does not). */
static void check_video_pts(const mkv_t *m, const probed_t *p, int allow_offset)
{
    long long a[2048], b[2048];
    int n = 0;
    for (size_t i = 0; i < m->n && n < 2048; i++)
        if (m->v[i].track == m->tracks[0].number)
            a[n++] = m->v[i].pts_ns / 1000000;
    ck_assert_int_eq(n, p->n);
    memcpy(b, p->pts_ms, sizeof(long long) * (size_t)n);
    qsort(a, (size_t)n, sizeof a[0], cmp_ll);
    qsort(b, (size_t)n, sizeof b[0], cmp_ll);
    long long off = allow_offset ? b[0] - a[0] : 0;
    /* B-frames make the first decode time negative near t=0, and MP4 then
     * moves the whole track forward by at most the reordering delay */
    ck_assert_int_ge(off, 0);
    ck_assert_int_le(off, 100);
    for (int i = 0; i < n; i++)
        ck_assert_msg(llabs(b[i] - off - a[i]) <= 1, "video pts %d: %lld vs %lld", i, b[i] - off,
                      a[i]);
}

static char *dir;

static void make_dir(void)
{
    dir = fl_test_mkdtemp("media-av");
}

static void rm_dir(void)
{
    if (getenv("FL_KEEP")) /* FL_KEEP=1 keeps the outputs for a look */
        free(dir);
    else
        fl_test_rmtree(dir);
}

static void make_mkv(const char *path, const char *enc, int audio)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=30 %s -t 3 "
             "-c:v %s %s -pix_fmt yuv420p -g 30 %s -cluster_time_limit 10000 -f matroska %s",
             audio ? "-f lavfi -i sine=frequency=440:sample_rate=48000" : "", enc,
             strcmp(enc, "libx265") == 0 ? "-x265-params log-level=error" : "",
             audio ? "-c:a aac" : "", path);
    char *argv[] = {"sh", "-c", cmd, NULL};
    ck_assert_int_eq(fl_test_run(argv, 120000, NULL, NULL), 0);
}

static void write_out(const char *name, fl_slice_t s, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", dir, name);
    ck_assert_int_eq(fl_test_write_file(path, s.p, s.n), 0);
}

/* ffmpeg decodes the whole file without a word on stderr; returns the
 * number of video frames decoded. */
static int decode_all(const char *path)
{
    char *argv[] = {"ffprobe",
                    "-v",
                    "error",
                    "-count_frames",
                    "-select_streams",
                    "v:0",
                    "-show_entries",
                    "stream=nb_read_frames",
                    "-of",
                    "csv=p=0",
                    (char *)path,
                    NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, &err), 0);
    ck_assert_msg(err == NULL || err[0] == 0, "decoding %s: %s", path, err);
    int n = atoi(out);
    free(out);
    free(err);
    return n;
}

static void fmp4_check(const char *enc)
{
    char src[4096], path[4200];
    snprintf(src, sizeof src, "%s/%s.mkv", dir, enc);
    make_mkv(src, enc, 1);
    mkv_t m;
    mkv_load(src, &m);
    ck_assert_int_eq(m.cluster, 3); /* one per 1 s GOP */
    int nvideo = count_track(&m, m.tracks[0].number);
    ck_assert_int_eq(nvideo, 90);

    fl_buf_t init, all;
    fl_buf_init(&init, 0);
    fl_buf_init(&all, 0);
    fl_av_remux_t *r;
    ck_assert_int_eq(fl_av_fmp4_new(m.tracks, m.n_tracks, &init, &r), 0);
    ck_assert_uint_gt(init.n, 100);
    ck_assert(memcmp(init.p + 4, "ftyp", 4) == 0);
    fl_buf_append(&all, init.p, init.n);
    for (int c = 1; c <= m.cluster; c++) {
        size_t n;
        fl_av_frame_t *f = frames_of(&m, c, c, &n);
        fl_buf_t seg;
        fl_buf_init(&seg, 0);
        ck_assert_int_eq(fl_av_fmp4_segment(r, f, n, &seg), 0);
        ck_assert_uint_gt(seg.n, 8);
        /* a media segment is moof + mdat */
        ck_assert(memcmp(seg.p + 4, "moof", 4) == 0);
        fl_buf_append(&all, seg.p, seg.n);
        fl_buf_free(&seg);
        free(f);
    }
    fl_av_remux_free(r);
    write_out("concat.mp4", fl_buf_slice(&all), path, sizeof path);
    probed_t p;
    probe_packets(path, &p);
    ck_assert_int_eq(p.n, nvideo);
    ck_assert_int_eq(p.audio, count_track(&m, m.tracks[1].number));
    check_video_pts(&m, &p, 1);
    int keys = 0;
    for (int i = 0; i < p.n; i++)
        keys += p.key[i];
    ck_assert_int_eq(keys, 3);
    ck_assert_int_eq(decode_all(path), nvideo);
    fl_buf_free(&init);
    fl_buf_free(&all);
    mkv_free(&m);
}

START_TEST(fmp4_h264_segments_decode_end_to_end)
{
    fmp4_check("libx264");
}
END_TEST

START_TEST(fmp4_h265_segments_decode_end_to_end)
{
    fmp4_check("libx265");
}
END_TEST

START_TEST(mpegts_and_mp4_clips)
{
    char src[4096], path[4200];
    snprintf(src, sizeof src, "%s/clip.mkv", dir);
    make_mkv(src, "libx264", 1);
    mkv_t m;
    mkv_load(src, &m);
    int nvideo = count_track(&m, m.tracks[0].number);
    size_t n;
    fl_av_frame_t *f = frames_of(&m, 2, 3, &n); /* the last two fragments */
    int want = 0;
    for (size_t i = 0; i < n; i++)
        want += f[i].track == m.tracks[0].number;
    ck_assert_int_eq(want, nvideo - 30);

    fl_buf_t ts;
    fl_buf_init(&ts, 0);
    ck_assert_int_eq(fl_av_remux(FL_AV_MPEGTS, m.tracks, m.n_tracks, f, n, &ts), 0);
    ck_assert_uint_eq(ts.n % 188, 0);
    ck_assert_uint_eq(ts.p[0], 0x47);
    write_out("clip.ts", fl_buf_slice(&ts), path, sizeof path);
    probed_t p;
    probe_packets(path, &p);
    ck_assert_int_eq(p.n, want);
    ck_assert_int_gt(p.audio, 0);
    ck_assert_int_eq(decode_all(path), want);
    /* TS keeps the Matroska clock exactly */
    long long first = p.pts_ms[0], want_first = -1;
    for (int i = 0; i < p.n; i++)
        first = p.pts_ms[i] < first ? p.pts_ms[i] : first;
    for (size_t i = 0; i < n; i++)
        if (f[i].track == m.tracks[0].number &&
            (want_first < 0 || f[i].pts_ns / 1000000 < want_first))
            want_first = f[i].pts_ns / 1000000;
    ck_assert_int_ge(want_first, 1000);
    ck_assert_int_eq(first, want_first);

    fl_buf_t mp4;
    fl_buf_init(&mp4, 0);
    ck_assert_int_eq(fl_av_remux(FL_AV_MP4, m.tracks, m.n_tracks, f, n, &mp4), 0);
    write_out("clip.mp4", fl_buf_slice(&mp4), path, sizeof path);
    probe_packets(path, &p);
    ck_assert_int_eq(p.n, want);
    ck_assert_int_gt(p.audio, 0);
    ck_assert_int_eq(decode_all(path), want);

    /* unsupported codecs and empty track lists are refused */
    fl_mkv_track_t bad = m.tracks[0];
    bad.codec_id = fl_slice_str("V_THEORA");
    fl_buf_t junk;
    fl_buf_init(&junk, 0);
    ck_assert_int_eq(fl_av_remux(FL_AV_MP4, &bad, 1, f, n, &junk), FL_EUNSUPPORTED);
    ck_assert_int_eq(fl_av_remux(FL_AV_MP4, m.tracks, 0, f, n, &junk), FL_EINVAL);
    fl_buf_free(&junk);
    fl_buf_free(&ts);
    fl_buf_free(&mp4);
    free(f);
    mkv_free(&m);
}
END_TEST

static void probe_image(const char *path, char *codec, size_t nc, int *w, int *h)
{
    char *argv[] = {
        "ffprobe", "-v",         "error", "-show_entries", "stream=codec_name,width,height", "-of",
        "csv=p=0", (char *)path, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    char c[32] = "";
    ck_assert_int_eq(sscanf(out, "%31[^,],%d,%d", c, w, h), 3);
    snprintf(codec, nc, "%s", c);
    free(out);
}

START_TEST(thumbnails_jpeg_and_png)
{
    char src[4096], path[4200];
    const char *encs[] = {"libx264", "libx265"};
    for (int e = 0; e < 2; e++) {
        snprintf(src, sizeof src, "%s/thumb-%d.mkv", dir, e);
        make_mkv(src, encs[e], 0);
        mkv_t m;
        mkv_load(src, &m);
        /* the key frame that starts the second fragment */
        size_t k = 0;
        while (k < m.n && !(m.v[k].key && m.v[k].cluster == 2))
            k++;
        ck_assert_uint_lt(k, m.n);
        fl_slice_t kf = fl_slice(m.data.p + m.v[k].off, m.v[k].len);
        fl_buf_t img;
        fl_buf_init(&img, 0);
        ck_assert_int_eq(fl_av_thumbnail(&m.tracks[0], kf, FL_AV_JPEG, 160, 120, &img), 0);
        ck_assert_uint_eq(img.p[0], 0xFF);
        ck_assert_uint_eq(img.p[1], 0xD8);
        write_out("t.jpg", fl_buf_slice(&img), path, sizeof path);
        char codec[32];
        int w, h;
        probe_image(path, codec, sizeof codec, &w, &h);
        ck_assert_str_eq(codec, "mjpeg");
        ck_assert_int_eq(w, 160);
        ck_assert_int_eq(h, 120);
        fl_buf_reset(&img);
        ck_assert_int_eq(fl_av_thumbnail(&m.tracks[0], kf, FL_AV_PNG, 0, 60, &img), 0);
        ck_assert(memcmp(img.p + 1, "PNG", 3) == 0);
        write_out("t.png", fl_buf_slice(&img), path, sizeof path);
        probe_image(path, codec, sizeof codec, &w, &h);
        ck_assert_str_eq(codec, "png");
        ck_assert_int_eq(w, 80); /* aspect kept */
        ck_assert_int_eq(h, 60);
        /* garbage does not decode */
        fl_buf_reset(&img);
        uint8_t junk[64];
        memset(junk, 0x5A, sizeof junk);
        ck_assert_int_eq(
            fl_av_thumbnail(&m.tracks[0], fl_slice(junk, sizeof junk), FL_AV_JPEG, 0, 0, &img),
            FL_EMALFORMED);
        fl_buf_free(&img);
        mkv_free(&m);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("media_av");
    TCase *tc = tcase_create("remux");
    tcase_add_unchecked_fixture(tc, make_dir, rm_dir);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fmp4_h264_segments_decode_end_to_end);
    tcase_add_test(tc, fmp4_h265_segments_decode_end_to_end);
    tcase_add_test(tc, mpegts_and_mp4_clips);
    tcase_add_test(tc, thumbnails_jpeg_and_png);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
