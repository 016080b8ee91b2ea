/*
 * tests/test_sdk_samples.c — the SDK's sample programs end to end against
 * the real framelogd: framelog-put pushes a file made by ffmpeg into a
 * fresh stream (--create), then GetMedia from EARLIEST must give back the
 * same packets: per track, the same count, the same pts (in ms, shifted by
 * one constant since the SDK maps the first frame to the wall clock), the
 * same key flags and the same bytes (ffprobe's MD5 of each packet). Then the
 * failures: a missing file, a file without video, a missing stream without
 * --create and an unreachable server each end non-zero with one clear line.
 *
 * Needs ffmpeg/ffprobe (with libx264, libx265 and aac); tests skip when
 * they are missing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media_harness.h"

#define PUT_TIMEOUT_MS 180000

typedef struct {
    char type[8]; /* "video" / "audio" */
    double pts_ms;
    int key;
    int discard; /* the demuxer's D flag */
    long size;
    char hash[48];
} pkt_t;

typedef struct {
    pkt_t *p;
    size_t n;
} pkts_t;

/* Make a test file: 4 s of 320x240 at 30 fps, a key frame every 30 frames.
 * codec: "libx264" / "libx265"; audio: add AAC; container by extension. */
static char *make_file(const char *dir, const char *name, const char *codec, int audio)
{
    char *path = malloc(4300);
    snprintf(path, 4300, "%s/%s", dir, name);
    char *argv[48];
    int n = 0;
    argv[n++] = "ffmpeg";
    argv[n++] = "-hide_banner";
    argv[n++] = "-loglevel";
    argv[n++] = "error";
    if (codec) {
        argv[n++] = "-f";
        argv[n++] = "lavfi";
        argv[n++] = "-i";
        argv[n++] = "testsrc=size=320x240:rate=30";
    }
    if (audio) {
        argv[n++] = "-f";
        argv[n++] = "lavfi";
        argv[n++] = "-i";
        argv[n++] = "sine=frequency=440:sample_rate=48000";
    }
    argv[n++] = "-t";
    argv[n++] = "4";
    if (codec) {
        argv[n++] = "-c:v";
        argv[n++] = (char *)codec;
        argv[n++] = "-pix_fmt";
        argv[n++] = "yuv420p";
        if (strcmp(codec, "libx265") == 0) {
            argv[n++] = "-x265-params";
            argv[n++] = "keyint=30:min-keyint=30:scenecut=0:log-level=error";
        } else {
            argv[n++] = "-g";
            argv[n++] = "30";
            argv[n++] = "-keyint_min";
            argv[n++] = "30";
            argv[n++] = "-sc_threshold";
            argv[n++] = "0";
        }
    }
    if (audio) {
        argv[n++] = "-c:a";
        argv[n++] = "aac";
    }
    argv[n++] = "-y";
    argv[n++] = path;
    argv[n] = NULL;
    char *err = NULL;
    int rc = fl_test_run(argv, 120000, NULL, &err);
    ck_assert_msg(rc == 0, "ffmpeg failed for %s: %s", name, err);
    free(err);
    return path;
}

/* ffprobe's packets of a file, with each packet's MD5. Packets the demuxer
 * marks for discard (AAC priming in MP4) are left out: framelog-put skips
 * them. */
static pkts_t probe_packets(const char *file)
{
    char *argv[] = {"ffprobe",
                    "-v",
                    "error",
                    "-show_data_hash",
                    "MD5",
                    "-show_entries",
                    "packet=codec_type,pts_time,flags,size,data_hash",
                    "-of",
                    "default=nw=1",
                    (char *)file,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 60000, &out, &err);
    ck_assert_msg(rc == 0, "ffprobe %s: %s", file, err);
    free(err);
    pkts_t r = {NULL, 0};
    size_t cap = 0;
    pkt_t cur;
    int have = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
        if (!line || strncmp(line, "codec_type=", 11) == 0) {
            if (have && !cur.discard) {
                if (r.n == cap) {
                    cap = cap ? cap * 2 : 256;
                    r.p = realloc(r.p, cap * sizeof *r.p);
                    ck_assert_ptr_nonnull(r.p);
                }
                r.p[r.n++] = cur;
            }
            if (!line)
                break;
            memset(&cur, 0, sizeof cur);
            have = 1;
            snprintf(cur.type, sizeof cur.type, "%s", line + 11);
        } else if (strncmp(line, "pts_time=", 9) == 0) {
            ck_assert_msg(strcmp(line + 9, "N/A") != 0, "%s: a packet without pts", file);
            cur.pts_ms = atof(line + 9) * 1000.0;
        } else if (strncmp(line, "size=", 5) == 0) {
            cur.size = atol(line + 5);
        } else if (strncmp(line, "flags=", 6) == 0) {
            cur.key = line[6] == 'K';
            cur.discard = strchr(line + 6, 'D') != NULL;
        } else if (strncmp(line, "data_hash=", 10) == 0) {
            snprintf(cur.hash, sizeof cur.hash, "%s", line + 10);
        }
    }
    free(out);
    return r;
}

/* The packets of one type, in file order. */
static size_t select_type(const pkts_t *all, const char *type, pkt_t **out)
{
    *out = calloc(all->n + 1, sizeof **out);
    size_t n = 0;
    for (size_t i = 0; i < all->n; i++)
        if (strcmp(all->p[i].type, type) == 0)
            (*out)[n++] = all->p[i];
    return n;
}

/* Same packets of a type: same count (expected when > 0), same bytes, key
 * flags and pts, the output's shifted by shift_ms (within 1 ms: the SDK
 * writes whole milliseconds). */
static void same_track(const pkts_t *in, const pkts_t *out, const char *type, size_t expected,
                       double shift_ms)
{
    pkt_t *a, *b;
    size_t na = select_type(in, type, &a), nb = select_type(out, type, &b);
    ck_assert_msg(na == nb, "%s: %zu packets in the file, %zu from GetMedia", type, na, nb);
    if (expected)
        ck_assert_msg(na == expected, "%s: %zu packets, expected %zu", type, na, expected);
    ck_assert_uint_gt(na, 0);
    for (size_t i = 0; i < na; i++) {
        ck_assert_msg(a[i].size == b[i].size, "%s packet %zu: %ld bytes sent, %ld back", type, i,
                      a[i].size, b[i].size);
        ck_assert_msg(strcmp(a[i].hash, b[i].hash) == 0, "%s packet %zu: bytes differ (%s, %s)",
                      type, i, a[i].hash, b[i].hash);
        ck_assert_msg(a[i].key == b[i].key, "%s packet %zu: key flag %d sent, %d back", type, i,
                      a[i].key, b[i].key);
        double d = b[i].pts_ms - a[i].pts_ms - shift_ms;
        ck_assert_msg(fabs(d) <= 1.0, "%s packet %zu: pts %.3f ms sent, %.3f back (shift %.3f)",
                      type, i, a[i].pts_ms, b[i].pts_ms, shift_ms);
    }
    free(a);
    free(b);
}

/* Run framelog-put with args (NULL-terminated, after FILE STREAM). */
static int run_put(const char *file, const char *stream, const char *endpoint, char **extra,
                   char **out, char **err)
{
    char *argv[32];
    int n = 0;
    argv[n++] = FL_FRAMELOG_PUT;
    argv[n++] = (char *)file;
    argv[n++] = (char *)stream;
    argv[n++] = "--endpoint";
    argv[n++] = (char *)endpoint;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return fl_test_run(argv, PUT_TIMEOUT_MS, out, err);
}

/* Push file into a fresh stream (created by default; --create, still
 * accepted, for the first test), read it back from EARLIEST and compare
 * packet by packet. */
static void round_trip(const char *file, const char *stream, int audio, size_t video_packets)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *create[] = {"--create", NULL};
    char *out = NULL, *err = NULL;
    int rc =
        run_put(file, stream, s.url, strcmp(stream, "put-h264") == 0 ? create : NULL, &out, &err);
    ck_assert_msg(rc == 0, "framelog-put exited %d: %s", rc, err);
    /* the summary: every frame sent, every fragment persisted */
    char want[64];
    snprintf(want, sizeof want, "%zu frames sent", video_packets);
    if (!audio)
        ck_assert_msg(strstr(err, want) != NULL, "summary: %s", err);
    ck_assert_msg(strstr(err, " 0 dropped") != NULL, "summary: %s", err);
    free(out);
    free(err);

    char *dir = fl_test_mkdtemp("sdk-get");
    char got[4300];
    snprintf(got, sizeof got, "%s/got.mkv", dir);
    get_media_earliest(&s, stream, got);
    pkts_t in = probe_packets(file), back = probe_packets(got);

    /* the shift: the first video packet of each */
    pkt_t *v_in, *v_back;
    ck_assert_uint_gt(select_type(&in, "video", &v_in), 0);
    ck_assert_uint_gt(select_type(&back, "video", &v_back), 0);
    double shift = v_back[0].pts_ms - v_in[0].pts_ms;
    free(v_in);
    free(v_back);
    same_track(&in, &back, "video", video_packets, shift);
    if (audio)
        same_track(&in, &back, "audio", 0, shift);
    else {
        pkt_t *none;
        ck_assert_uint_eq(select_type(&back, "audio", &none), 0);
        free(none);
    }
    free(in.p);
    free(back.p);
    fl_test_rmtree(dir);
    fl_test_server_free(&s);
}

static int have_tools(void)
{
    return fl_test_have("ffmpeg") && fl_test_have("ffprobe") && fl_test_have("curl");
}

/* A file made by ffmpeg (name, video codec, with AAC or not) put and read
 * back as stream. */
static void file_round_trip(const char *name, const char *codec, int audio, const char *stream)
{
    if (!have_tools())
        return;
    char *dir = fl_test_mkdtemp("sdk-put");
    char *file = make_file(dir, name, codec, audio);
    round_trip(file, stream, audio, 120);
    free(file);
    fl_test_rmtree(dir);
}

START_TEST(h264_mp4_round_trip)
{
    file_round_trip("in.mp4", "libx264", 0, "put-h264");
}
END_TEST

START_TEST(h265_mp4_round_trip)
{
    file_round_trip("in.mp4", "libx265", 0, "put-h265");
}
END_TEST

START_TEST(h264_aac_mp4_round_trip)
{
    file_round_trip("in.mp4", "libx264", 1, "put-h264-aac");
}
END_TEST

START_TEST(h264_aac_mkv_round_trip)
{
    file_round_trip("in.mkv", "libx264", 1, "put-mkv");
}
END_TEST

/* The error line: exactly one line on stderr, containing needle. */
static void one_clear_line(const char *err, const char *needle)
{
    ck_assert_msg(strstr(err, needle) != NULL, "expected \"%s\" in: %s", needle, err);
    const char *nl = strchr(err, '\n');
    ck_assert_msg(nl != NULL && nl[1] == 0, "more than one line: %s", err);
    ck_assert_msg(strncmp(err, "framelog-put: ", 14) == 0, "no program name: %s", err);
}

START_TEST(missing_file_fails)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *create[] = {"--create", NULL};
    char *err = NULL;
    int rc = run_put("/nonexistent/none.mp4", "put-missing", s.url, create, NULL, &err);
    ck_assert_int_ne(rc, 0);
    one_clear_line(err, "/nonexistent/none.mp4: No such file or directory");
    free(err);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(file_without_video_fails)
{
    if (!have_tools())
        return;
    char *dir = fl_test_mkdtemp("sdk-novideo");
    char *file = make_file(dir, "audio.m4a", NULL, 1);
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *create[] = {"--create", NULL};
    char *err = NULL;
    int rc = run_put(file, "put-novideo", s.url, create, NULL, &err);
    ck_assert_int_ne(rc, 0);
    one_clear_line(err, "no video track");
    free(err);
    /* and nothing was created on the server */
    char *out = NULL;
    post_json(&s, "/describeStream", "{\"StreamName\":\"put-novideo\"}", &out);
    ck_assert_msg(strstr(out, "ResourceNotFoundException") != NULL, "%s", out);
    free(out);
    fl_test_server_free(&s);
    free(file);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(missing_stream_with_no_create_fails)
{
    if (!have_tools())
        return;
    char *dir = fl_test_mkdtemp("sdk-nostream");
    char *file = make_file(dir, "in.mp4", "libx264", 0);
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char *no_create[] = {"--no-create", NULL};
    char *err = NULL;
    int rc = run_put(file, "put-nostream", s.url, no_create, NULL, &err);
    ck_assert_int_ne(rc, 0);
    one_clear_line(err, "stream put-nostream not found");
    free(err);
    /* the stream was not made behind our back */
    char *out = NULL;
    post_json(&s, "/describeStream", "{\"StreamName\":\"put-nostream\"}", &out);
    ck_assert_msg(strstr(out, "ResourceNotFoundException") != NULL, "%s", out);
    free(out);
    fl_test_server_free(&s);
    free(file);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(unreachable_server_fails)
{
    if (!have_tools())
        return;
    char *dir = fl_test_mkdtemp("sdk-unreach");
    char *file = make_file(dir, "in.mp4", "libx264", 0);
    /* a server started and stopped: its port is closed now */
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char url[64];
    snprintf(url, sizeof url, "%s", s.url);
    fl_test_server_free(&s);
    char *create[] = {"--create", NULL};
    char *err = NULL;
    long long t0 = fl_test_now_ms();
    int rc = run_put(file, "put-unreach", url, create, NULL, &err);
    ck_assert_int_ne(rc, 0);
    one_clear_line(err, "cannot reach the server");
    ck_assert_int_lt(fl_test_now_ms() - t0, 60000);
    free(err);
    free(file);
    fl_test_rmtree(dir);
}
END_TEST

/* Two uploads into one stream, one right after the other, without
 * --realtime: the first runs ahead of the clock (4 s of video sent in
 * less), so the second must go on after it, not be refused with 4004. */
START_TEST(back_to_back_runs_into_one_stream)
{
    if (!have_tools())
        return;
    char *dir = fl_test_mkdtemp("sdk-b2b");
    char *file = make_file(dir, "in.mp4", "libx264", 0);
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    for (int run = 0; run < 2; run++) {
        char *err = NULL;
        int rc = run_put(file, "put-twice", s.url, NULL, NULL, &err);
        ck_assert_msg(rc == 0, "run %d exited %d: %s", run + 1, rc, err);
        free(err);
    }
    char got[4300];
    snprintf(got, sizeof got, "%s/got.mkv", dir);
    get_media_earliest(&s, "put-twice", got);
    pkts_t back = probe_packets(got);
    pkt_t *v;
    size_t n = select_type(&back, "video", &v);
    ck_assert_uint_eq(n, 240);
    /* one timeline: the second run's key frames all after the first's */
    double last_key = -1;
    for (size_t i = 0; i < n; i++)
        if (v[i].key) {
            ck_assert_msg(v[i].pts_ms > last_key, "key frame %zu at %.0f ms after %.0f ms", i,
                          v[i].pts_ms, last_key);
            last_key = v[i].pts_ms;
        }
    free(v);
    free(back.p);
    fl_test_server_free(&s);
    free(file);
    fl_test_rmtree(dir);
}
END_TEST

/* Every fragment refused (the server takes none over 1024 bytes: 4001):
 * the run fails, and its last line says what happened, not "success". */
START_TEST(refused_fragments_fail_the_run)
{
    if (!have_tools())
        return;
    char *dir = fl_test_mkdtemp("sdk-refused");
    char *file = make_file(dir, "in.mp4", "libx264", 0);
    fl_test_server_t s;
    char *small[] = {"--max-fragment-bytes", "1024", NULL};
    fl_test_server_start(&s, NULL, small);
    char *err = NULL;
    int rc = run_put(file, "put-refused", s.url, NULL, NULL, &err);
    ck_assert_int_eq(rc, 1);
    const char *last = err + strlen(err);
    while (last > err && last[-1] == '\n')
        last--;
    while (last > err && last[-1] != '\n')
        last--;
    ck_assert_msg(strstr(last, "success") == NULL, "a failed run says: %s", last);
    ck_assert_msg(strstr(last, "0 of 4 fragments persisted, 4 given up") != NULL &&
                      strstr(last, "error id 4001") != NULL,
                  "last line: %s", last);
    free(err);
    fl_test_server_free(&s);
    free(file);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(help_and_usage)
{
    char *argv[] = {FL_FRAMELOG_PUT, "--help", NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 10000, &out, NULL), 0);
    ck_assert_msg(strstr(out, "usage: framelog-put FILE STREAM") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "--create") != NULL && strstr(out, "--no-create") != NULL &&
                      strstr(out, "--realtime") != NULL,
                  "%s", out);
    free(out);
    char *bad[] = {FL_FRAMELOG_PUT, "only-one-arg", NULL};
    char *err = NULL;
    ck_assert_int_eq(fl_test_run(bad, 10000, NULL, &err), 2);
    ck_assert_msg(strstr(err, "expected FILE and STREAM") != NULL, "%s", err);
    free(err);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sdk_samples");
    TCase *t = tcase_create("framelog_put_round_trip");
    tcase_add_test(t, h264_mp4_round_trip);
    tcase_add_test(t, h265_mp4_round_trip);
    tcase_add_test(t, h264_aac_mp4_round_trip);
    tcase_add_test(t, h264_aac_mkv_round_trip);
    suite_add_tcase(s, t);
    TCase *f = tcase_create("framelog_put_failures");
    tcase_add_test(f, missing_file_fails);
    tcase_add_test(f, file_without_video_fails);
    tcase_add_test(f, missing_stream_with_no_create_fails);
    tcase_add_test(f, unreachable_server_fails);
    tcase_add_test(f, help_and_usage);
    tcase_add_test(f, refused_fragments_fail_the_run);
    suite_add_tcase(s, f);
    TCase *b = tcase_create("framelog_put_timeline");
    tcase_add_test(b, back_to_back_runs_into_one_stream);
    suite_add_tcase(s, b);
    return s;
}

int main(void)
{
    return fl_test_main(suite());
}
