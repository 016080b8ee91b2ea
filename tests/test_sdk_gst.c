/*
 * tests/test_sdk_gst.c — framelogsink end to end: gst-launch-1.0 pipelines
 * that end in the element push to the real framelogd, and what GetMedia
 * then returns is counted frame by frame with ffprobe (H.264 avc and
 * byte-stream, H.265, H.264+AAC); gst-inspect-1.0 lists the element; a
 * missing stream with create-stream=false and an unreachable server fail
 * the pipeline with the reason; the fragment-ack signal reports every
 * fragment PERSISTED before EOS completes.
 *
 * The GStreamer tools run with GST_PLUGIN_PATH at the build's gst-plugins
 * folder and a registry file of their own in the build folder. Under the
 * sanitizers (FL_SANITIZE) the plugin is instrumented but gst-launch-1.0 is
 * not, so the tools run with LD_PRELOAD of the sanitizer runtimes
 * (FL_GST_PRELOAD) and leak detection off (GStreamer keeps its globals at
 * exit); the SDK's own tests check its leaks.
 *
 * The signal test runs a pipeline inside this program (re-executed with
 * --pipeline, so that GStreamer never runs in the Check process itself) and
 * prints each signal as a line on stdout.
 *
 * A case is skipped, with the reason printed, only when a GStreamer element
 * it needs is not installed.
 */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "media_harness.h"

#ifndef FL_GST_PLUGIN_DIR
#error "FL_GST_PLUGIN_DIR must name the folder of libgstframelog.so"
#endif
#ifndef FL_GST_PRELOAD
#define FL_GST_PRELOAD ""
#endif

#define GST_TIMEOUT_MS 180000

/* ---- running the GStreamer tools ---- */

/* Run args (NULL-terminated, at most 72) with the plugin's environment;
 * exit code as fl_test_run. */
static int gst_run(char *const args[], int timeout_ms, char **out, char **err)
{
    char plugin_path[4200], registry[4200], preload[4200];
    snprintf(plugin_path, sizeof plugin_path, "GST_PLUGIN_PATH=%s", FL_GST_PLUGIN_DIR);
    snprintf(registry, sizeof registry, "GST_REGISTRY=%s/tests/gst-registry.bin", FL_BINARY_DIR);
    char *argv[80];
    int n = 0;
    argv[n++] = "env";
    argv[n++] = plugin_path;
    argv[n++] = registry;
    if (FL_GST_PRELOAD[0]) {
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s", FL_GST_PRELOAD);
        argv[n++] = preload;
        argv[n++] = "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0";
        argv[n++] = "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1";
    }
    for (int i = 0; args[i]; i++) {
        ck_assert_int_lt(n, 79);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return fl_test_run(argv, timeout_ms, out, err);
}

/* Are all these elements installed? Prints why not. */
static int have_elements(const char *const names[])
{
    for (int i = 0; names[i]; i++) {
        char *args[] = {"gst-inspect-1.0", "--exists", (char *)names[i], NULL};
        if (gst_run(args, 60000, NULL, NULL) != 0) {
            printf("test_sdk_gst: SKIP: GStreamer element %s is not installed "
                   "(scripts/deps.sh --test)\n",
                   names[i]);
            fflush(stdout);
            return 0;
        }
    }
    return 1;
}

/* gst-launch-1.0 -e PIPELINE; its exit code, stderr into *err. The
 * pipeline is split at spaces into words, as a shell would (gst-launch-1.0
 * escapes the spaces inside one argument). */
static int launch(const char *pipeline, char **err)
{
    char *copy = strdup(pipeline), *args[64 + 1], *save = NULL;
    int n = 0;
    args[n++] = "gst-launch-1.0";
    args[n++] = "-e";
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        ck_assert_int_lt(n, 64);
        args[n++] = w;
    }
    args[n] = NULL;
    char *out = NULL;
    int rc = gst_run(args, GST_TIMEOUT_MS, &out, err);
    free(out);
    free(copy);
    return rc;
}

static void launch_ok(const char *pipeline)
{
    char *err = NULL;
    int rc = launch(pipeline, &err);
    ck_assert_msg(rc == 0, "gst-launch-1.0 exited %d:\n%s\npipeline: %s", rc, err, pipeline);
    ck_assert_msg(strstr(err, "ERROR") == NULL, "%s", err);
    free(err);
}

/* ---- checking what GetMedia returns ---- */

/* Frames ffprobe decodes in the first stream of a type ("v" or "a"). */
static long count_frames(const char *file, const char *type)
{
    char sel[8];
    snprintf(sel, sizeof sel, "%s:0", type);
    char *argv[] = {"ffprobe",
                    "-v",
                    "error",
                    "-count_frames",
                    "-select_streams",
                    sel,
                    "-show_entries",
                    "stream=nb_read_frames",
                    "-of",
                    "csv=p=0",
                    (char *)file,
                    NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(fl_test_run(argv, 120000, &out, &err) == 0, "ffprobe: %s", err);
    long n = *out ? strtol(out, NULL, 10) : 0;
    free(out);
    free(err);
    return n;
}

typedef struct {
    int video, audio, keys;
    long long first_pts, last_pts; /* video, ms */
} packets_t;

/* Video and audio packets (media_harness probe()), checking that video pts
 * grow and come step_ms apart (within 1 ms: timecodes are whole ms). */
static packets_t check_packets(const char *file, int step_ms)
{
    packets_t p = {0, 0, 0, -1, -1};
    char *lines = probe(file);
    long long prev = -1;
    for (const char *l = lines; l && *l;) {
        char type[16], flags[8];
        long long pts;
        ck_assert_int_eq(sscanf(l, "%15[^,],%lld,%7s", type, &pts, flags), 3);
        if (strcmp(type, "video") == 0) {
            if (prev >= 0)
                ck_assert_msg(llabs(pts - prev - step_ms) <= 1,
                              "video packet %d: pts %lld after %lld (step %d ms)", p.video, pts,
                              prev, step_ms);
            if (p.video == 0) {
                p.first_pts = pts;
                ck_assert_msg(flags[0] == 'K', "the first video packet is not a key frame");
            }
            prev = p.last_pts = pts;
            p.video++;
            p.keys += flags[0] == 'K';
        } else if (strcmp(type, "audio") == 0) {
            p.audio++;
        }
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    free(lines);
    /* producer timestamps: the first frame was mapped to the wall clock */
    long long now_ms = (long long)time(NULL) * 1000;
    ck_assert_msg(llabs(now_ms - p.first_pts) < 300000, "first pts %lld, now %lld", p.first_pts,
                  now_ms);
    return p;
}

/* Lines of text that start with prefix. */
static int count_acks_lines(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *l = text; l && *l;) {
        n += strncmp(l, prefix, strlen(prefix)) == 0;
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return n;
}

/* A round trip: a fresh server (trip_start), a pipeline that must succeed,
 * then its stream read from EARLIEST into t->out (trip_fetch; trip_get
 * for the read alone). */
typedef struct {
    fl_test_server_t s;
    char *dir;
    char out[4300];
} trip_t;

static void trip_start(trip_t *t)
{
    fl_test_server_start(&t->s, NULL, NULL);
    t->dir = fl_test_mkdtemp("gst");
    ck_assert_ptr_nonnull(t->dir);
}

static void trip_get(trip_t *t, const char *stream)
{
    snprintf(t->out, sizeof t->out, "%s/%s.mkv", t->dir, stream);
    get_media_earliest(&t->s, stream, t->out);
}

static void trip_fetch(trip_t *t, const char *pipeline, const char *stream)
{
    launch_ok(pipeline);
    trip_get(t, stream);
}

static void trip_end(trip_t *t)
{
    fl_test_rmtree(t->dir);
    fl_test_server_free(&t->s);
}

/* ---- cases ---- */

START_TEST(inspect_lists_the_element)
{
    char *args[] = {"gst-inspect-1.0", "framelogsink", NULL};
    char *out = NULL, *err = NULL;
    int rc = gst_run(args, 60000, &out, &err);
    ck_assert_msg(rc == 0, "gst-inspect-1.0 framelogsink exited %d: %s", rc, err);
    const char *want[] = {"stream-name",   "endpoint",     "access-key",        "secret-key",
                          "ca-file",       "buffer-size",  "fragment-duration", "retention-period",
                          "create-stream", "storage-path", "storage-key",       "region",
                          "stop-timeout",  "fragment-ack", "stream-error",      "video/x-h264",
                          "video/x-h265",  "audio/mpeg",   "audio_%u",          NULL};
    for (int i = 0; want[i]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "gst-inspect has no %s:\n%s", want[i], out);
    free(out);
    free(err);
    /* the plugin declares its licence (LICENSE: Apache License 2.0) */
    char *plugin[] = {"gst-inspect-1.0", "framelog", NULL};
    rc = gst_run(plugin, 60000, &out, &err);
    ck_assert_msg(rc == 0, "gst-inspect-1.0 framelog exited %d: %s", rc, err);
    ck_assert_msg(strstr(out, "License") != NULL && strstr(out, "Apache 2.0") != NULL &&
                      strstr(out, "unknown") == NULL,
                  "licence not declared:\n%s", out);
    free(out);
    free(err);
}
END_TEST

START_TEST(h264_300_frames_come_back_from_getmedia)
{
    const char *need[] = {"videotestsrc", "x264enc", "h264parse", NULL};
    if (!have_elements(need))
        return;
    trip_t t;
    trip_start(&t);
    char pipe[1024];
    snprintf(pipe, sizeof pipe,
             "videotestsrc num-buffers=300 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc key-int-max=30 tune=zerolatency ! h264parse ! "
             "framelogsink stream-name=gst-h264 endpoint=%s create-stream=true",
             t.s.url);
    trip_fetch(&t, pipe, "gst-h264");
    ck_assert_int_eq(count_frames(t.out, "v"), 300);
    packets_t p = check_packets(t.out, 33);
    ck_assert_int_eq(p.video, 300);
    ck_assert_int_eq(p.audio, 0);
    ck_assert_int_eq(p.keys, 10); /* key-int-max=30 on a still pattern */
    /* 2 s fragments (the default fragment-duration), key frames every 1 s */
    ck_assert_int_eq(count_in_file(t.out, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), 5);
    ck_assert_int_eq(count_in_file(t.out, "V_MPEG4/ISO/AVC"), 1);
    trip_end(&t);
}
END_TEST

START_TEST(h264_byte_stream_gets_codec_private_in_band)
{
    const char *need[] = {"videotestsrc", "x264enc", "h264parse", NULL};
    if (!have_elements(need))
        return;
    trip_t t;
    trip_start(&t);
    char pipe[1024];
    snprintf(pipe, sizeof pipe,
             "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc key-int-max=30 tune=zerolatency ! h264parse ! "
             "video/x-h264,stream-format=byte-stream,alignment=au ! "
             "framelogsink stream-name=gst-annexb endpoint=%s fragment-duration=0",
             t.s.url);
    trip_fetch(&t, pipe, "gst-annexb");
    ck_assert_int_eq(count_frames(t.out, "v"), 60);
    packets_t p = check_packets(t.out, 33);
    ck_assert_int_eq(p.video, 60);
    /* fragment-duration=0: a fragment per key frame */
    ck_assert_int_eq(count_in_file(t.out, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), 2);
    trip_end(&t);
}
END_TEST

START_TEST(h265_60_frames_come_back)
{
    const char *need[] = {"videotestsrc", "x265enc", "h265parse", NULL};
    if (!have_elements(need))
        return;
    trip_t t;
    trip_start(&t);
    char pipe[1024];
    snprintf(
        pipe, sizeof pipe,
        "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
        "x265enc key-int-max=30 tune=zerolatency ! h265parse ! video/x-h265,stream-format=hvc1 ! "
        "framelogsink stream-name=gst-h265 endpoint=%s content-type=video/h265",
        t.s.url);
    trip_fetch(&t, pipe, "gst-h265");
    ck_assert_int_eq(count_frames(t.out, "v"), 60);
    packets_t p = check_packets(t.out, 33);
    ck_assert_int_eq(p.video, 60);
    ck_assert_int_eq(count_in_file(t.out, "V_MPEGH/ISO/HEVC"), 1);
    trip_end(&t);
}
END_TEST

START_TEST(h264_and_aac_come_back)
{
    const char *need[] = {"videotestsrc", "x264enc", "h264parse", "audiotestsrc", "aacparse", NULL};
    if (!have_elements(need))
        return;
    const char *voaac[] = {"voaacenc", NULL}, *avaac[] = {"avenc_aac", NULL};
    const char *enc = have_elements(voaac) ? "voaacenc" : have_elements(avaac) ? "avenc_aac" : NULL;
    if (!enc)
        return;
    trip_t t;
    trip_start(&t);
    /* 5 s of each: 150 frames at 30/s; 235 AAC frames of 1024 samples */
    char pipe[2048];
    snprintf(pipe, sizeof pipe,
             "videotestsrc num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc key-int-max=30 tune=zerolatency ! h264parse ! queue ! fl. "
             "audiotestsrc num-buffers=235 samplesperbuffer=1024 ! "
             "audio/x-raw,rate=48000,channels=1 ! %s ! aacparse ! queue ! fl. "
             "framelogsink name=fl stream-name=gst-av endpoint=%s",
             enc, t.s.url);
    trip_fetch(&t, pipe, "gst-av");
    ck_assert_int_eq(count_frames(t.out, "v"), 150);
    packets_t p = check_packets(t.out, 33);
    ck_assert_int_eq(p.video, 150);
    /* every AAC frame from the first video key frame on (an encoder may add
     * one frame of priming or flush) */
    ck_assert_msg(p.audio >= 234 && p.audio <= 236, "%d audio packets", p.audio);
    ck_assert_int_eq(count_in_file(t.out, "A_AAC"), 1);
    trip_end(&t);
}
END_TEST

START_TEST(missing_stream_fails_with_the_servers_reason)
{
    const char *need[] = {"videotestsrc", "x264enc", "h264parse", NULL};
    if (!have_elements(need))
        return;
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char pipe[1024];
    snprintf(pipe, sizeof pipe,
             "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc tune=zerolatency ! h264parse ! "
             "framelogsink stream-name=gst-missing endpoint=%s create-stream=false",
             s.url);
    char *err = NULL;
    int rc = launch(pipe, &err);
    ck_assert_msg(rc != 0, "gst-launch-1.0 succeeded on a missing stream:\n%s", err);
    ck_assert_msg(strstr(err, "ResourceNotFound") != NULL, "no server reason in:\n%s", err);
    ck_assert_msg(strstr(err, "gst-missing") != NULL, "stream not named in:\n%s", err);
    free(err);
    /* and nothing created it */
    char *desc = NULL;
    ck_assert_int_eq(post_json(&s, "/describeStream", "{\"StreamName\":\"gst-missing\"}", &desc),
                     0);
    ck_assert_msg(strstr(desc, "ResourceNotFound") != NULL, "%s", desc);
    free(desc);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(unreachable_server_fails_the_pipeline)
{
    const char *need[] = {"videotestsrc", "x264enc", "h264parse", NULL};
    if (!have_elements(need))
        return;
    /* a port nobody listens on: start a server, note its port, stop it */
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char url[64];
    snprintf(url, sizeof url, "%s", s.url);
    fl_test_server_free(&s);
    char pipe[1024];
    snprintf(pipe, sizeof pipe,
             "videotestsrc num-buffers=30 ! x264enc tune=zerolatency ! h264parse ! "
             "framelogsink stream-name=gst-nowhere endpoint=%s",
             url);
    char *err = NULL;
    long long t0 = fl_test_now_ms();
    int rc = launch(pipe, &err);
    ck_assert_msg(rc != 0, "gst-launch-1.0 succeeded without a server:\n%s", err);
    ck_assert_msg(strstr(err, url) != NULL, "endpoint not named in:\n%s", err);
    ck_assert_msg(fl_test_now_ms() - t0 < 120000, "took %lld ms", fl_test_now_ms() - t0);
    free(err);
}
END_TEST

START_TEST(every_fragment_is_signalled_persisted_before_eos)
{
    const char *need[] = {"videotestsrc", "x264enc", "h264parse", NULL};
    if (!have_elements(need))
        return;
    trip_t t;
    trip_start(&t);
    char pipe[1024], self[4096];
    snprintf(pipe, sizeof pipe,
             "videotestsrc num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc key-int-max=30 tune=zerolatency ! h264parse ! "
             "framelogsink name=fl stream-name=gst-acks endpoint=%s fragment-duration=1000",
             t.s.url);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = 0;
    char *args[] = {self, "--pipeline", pipe, NULL};
    char *out = NULL, *err = NULL;
    int rc = gst_run(args, GST_TIMEOUT_MS, &out, &err);
    ck_assert_msg(rc == 0, "pipeline exited %d:\n%s", rc, err);

    /* 150 frames, a key frame every 30 and fragments of >= 1 s: 5 */
    ck_assert_int_eq(count_acks_lines(out, "ack BUFFERING "), 5);
    ck_assert_int_eq(count_acks_lines(out, "ack RECEIVED "), 5);
    ck_assert_int_eq(count_acks_lines(out, "ack PERSISTED "), 5);
    ck_assert_msg(strstr(out, "ack ERROR") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "stream-error") == NULL, "%s", out);
    /* the EOS line comes after the last PERSISTED */
    const char *eos = strstr(out, "eos\n"), *last = NULL;
    for (const char *q = out; (q = strstr(q, "ack PERSISTED ")) != NULL; q++)
        last = q;
    ck_assert_msg(eos && last && last < eos, "%s", out);

    /* each persisted fragment number is in GetMedia's tags */
    trip_get(&t, "gst-acks");
    ck_assert_int_eq(count_in_file(t.out, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), 5);
    for (const char *q = out; (q = strstr(q, "ack PERSISTED ")) != NULL; q++) {
        char number[64];
        long long tc;
        ck_assert_int_eq(sscanf(q, "ack PERSISTED %63s %lld", number, &tc), 2);
        ck_assert_msg(count_in_file(t.out, number) >= 1, "fragment %s not in GetMedia", number);
        ck_assert(llabs((long long)time(NULL) * 1000 - tc) < 300000);
    }
    free(out);
    free(err);
    trip_end(&t);
}
END_TEST

/* EOS stops the stream (every fragment acked); a seek back to the start
 * then flushes, and the element must start the stream again: the frames
 * come twice, on one timeline that does not go back (the first run, as
 * fast as the pipeline goes, ended ahead of the clock). */
START_TEST(a_seek_after_eos_starts_the_stream_again)
{
    const char *need[] = {"videotestsrc", "x264enc",  "h264parse",     "matroskamux",
                          "filesrc",      "filesink", "matroskademux", NULL};
    if (!have_elements(need))
        return;
    trip_t t;
    trip_start(&t);
    /* a file, since videotestsrc's num-buffers does not start over on a seek */
    char file[4300], pipe[8192], self[4096];
    snprintf(file, sizeof file, "%s/in.mkv", t.dir);
    snprintf(pipe, sizeof pipe,
             "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc key-int-max=30 tune=zerolatency ! h264parse ! matroskamux ! "
             "filesink location=%s",
             file);
    launch_ok(pipe);
    snprintf(pipe, sizeof pipe,
             "filesrc location=%s ! matroskademux ! h264parse ! "
             "framelogsink name=fl stream-name=gst-seek endpoint=%s fragment-duration=1000",
             file, t.s.url);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = 0;
    char *args[] = {self, "--pipeline-seek-after-eos", pipe, NULL};
    char *out = NULL, *err = NULL;
    int rc = gst_run(args, GST_TIMEOUT_MS, &out, &err);
    ck_assert_msg(rc == 0, "pipeline exited %d:\n%s\n%s", rc, out, err);
    ck_assert_int_eq(count_acks_lines(out, "eos"), 2);
    ck_assert_msg(count_acks_lines(out, "ack PERSISTED ") == 4, "%s\n%s", out, err);
    ck_assert_msg(strstr(out, "ack ERROR") == NULL, "%s", out);
    trip_get(&t, "gst-seek");
    ck_assert_int_eq(count_frames(t.out, "v"), 120);
    ck_assert_int_eq(count_in_file(t.out, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), 4);
    free(out);
    free(err);
    trip_end(&t);
}
END_TEST

/* ---- --pipeline: run one pipeline here, printing the element's signals ---- */

static GMutex g_print_lock;

static void on_ack(GstElement *e, const gchar *type, gint64 timecode_ms, const gchar *number,
                   gpointer data)
{
    (void)e;
    (void)data;
    g_mutex_lock(&g_print_lock);
    printf("ack %s %s %" G_GINT64_FORMAT "\n", type, *number ? number : "-", timecode_ms);
    fflush(stdout);
    g_mutex_unlock(&g_print_lock);
}

static void on_error(GstElement *e, gint error_id, const gchar *msg, gpointer data)
{
    (void)e;
    (void)data;
    g_mutex_lock(&g_print_lock);
    printf("stream-error %d %s\n", error_id, msg);
    fflush(stdout);
    g_mutex_unlock(&g_print_lock);
}

/* Run desc to EOS (printing "eos"), then seek back to the start with a
 * flush and run it to EOS again, `seeks` times. */
static int run_pipeline(const char *desc, int seeks)
{
    gst_init(NULL, NULL);
    GError *gerr = NULL;
    GstElement *pipe = gst_parse_launch(desc, &gerr);
    if (!pipe) {
        fprintf(stderr, "parse: %s\n", gerr ? gerr->message : "?");
        return 2;
    }
    GstElement *fl = gst_bin_get_by_name(GST_BIN(pipe), "fl");
    if (!fl) {
        fprintf(stderr, "no element named fl\n");
        return 2;
    }
    g_signal_connect(fl, "fragment-ack", G_CALLBACK(on_ack), NULL);
    g_signal_connect(fl, "stream-error", G_CALLBACK(on_error), NULL);
    gst_element_set_state(pipe, GST_STATE_PLAYING);
    GstBus *bus = gst_element_get_bus(pipe);
    int rc = 0;
    for (int run = 0; run <= seeks && rc == 0; run++) {
        if (run > 0 && !gst_element_seek_simple(pipe, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, 0)) {
            fprintf(stderr, "error: the seek back to 0 was refused\n");
            rc = 1;
            break;
        }
        GstMessage *m = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
                                                   GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
            GError *e = NULL;
            gchar *dbg = NULL;
            gst_message_parse_error(m, &e, &dbg);
            fprintf(stderr, "error: %s\n%s\n", e->message, dbg ? dbg : "");
            g_error_free(e);
            g_free(dbg);
            rc = 1;
        } else {
            g_mutex_lock(&g_print_lock);
            printf("eos\n");
            fflush(stdout);
            g_mutex_unlock(&g_print_lock);
        }
        gst_message_unref(m);
    }
    gst_object_unref(bus);
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(fl);
    gst_object_unref(pipe);
    gst_deinit();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--pipeline") == 0)
        return run_pipeline(argv[2], 0);
    if (argc == 3 && strcmp(argv[1], "--pipeline-seek-after-eos") == 0)
        return run_pipeline(argv[2], 1);
    Suite *s = suite_create("sdk_gst");
    TCase *tc = tcase_create("element");
    tcase_add_test(tc, inspect_lists_the_element);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tc = tcase_create("codecs");
    tcase_add_test(tc, h264_300_frames_come_back_from_getmedia);
    tcase_add_test(tc, h264_byte_stream_gets_codec_private_in_band);
    tcase_add_test(tc, h265_60_frames_come_back);
    tcase_add_test(tc, h264_and_aac_come_back);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, missing_stream_fails_with_the_servers_reason);
    tcase_add_test(tc, unreachable_server_fails_the_pipeline);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tc = tcase_create("signals");
    tcase_add_test(tc, every_fragment_is_signalled_persisted_before_eos);
    tcase_add_test(tc, a_seek_after_eos_starts_the_stream_again);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
