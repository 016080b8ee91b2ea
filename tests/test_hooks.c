/*
 * tests/test_hooks.c — analytics hooks (server/hooks/, docs/hooks.md) in
 * the real framelogd on a free loopback port, fed by curl's PutMedia:
 *
 *   framecount sees every frame of an H.264+AAC push and of an H.265 push,
 *   in order, with the timestamps and key flags GetMedia returns;
 *   decoded frames have the pushed size (or the asked scale) and the asked
 *   pixel format; a key-frames-only hook gets one frame per GOP;
 *   a hook that sleeps 200 ms per frame: every ack arrives, a live
 *   GetMedia reader and another hook get every frame, and the drops are
 *   counted for the slow hook only;
 *   held frame bytes stay unchanged while the fragment's record grows;
 *   records a hook writes land in a data stream and reach other hooks, as
 *   PutRecord's do;
 *   refusals at start: another major ABI or a newer minor, a missing
 *   file, a shared object that is no hook, an init that fails.
 *
 * Hooks write what they see to files named by their config (framecount's
 * out=PATH, tests/hooks/test_hook.c); the test waits for those lines with
 * generous bounds and compares them with ffprobe's view of GetMedia.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "media_harness.h"

static char *hook_path(const char *name)
{
    static char buf[8][4300];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s.so", FL_HOOK_DIR, name);
    return p;
}

/* Wait (up to 120 s) until path holds at least n lines starting with
 * prefix. */
static void wait_lines(const char *path, const char *prefix, int n)
{
    long long until = fl_test_now_ms() + 120000;
    int got = 0;
    char needle[64];
    snprintf(needle, sizeof needle, "\n%s", prefix);
    while (fl_test_now_ms() < until) {
        size_t len;
        char *d = fl_test_read_file(path, &len);
        got = 0;
        if (d) {
            /* the first line has no newline before it */
            got = strncmp(d, prefix, strlen(prefix)) == 0;
            for (const char *p = d; (p = strstr(p, needle)) != NULL; p++)
                got++;
        }
        free(d);
        if (got >= n)
            return;
        usleep(100000);
    }
    ck_abort_msg("%s: %d lines of \"%s\", waited for %d", path, got, prefix, n);
}

static int count_lines(const char *path, const char *prefix)
{
    size_t len;
    char *d = fl_test_read_file(path, &len);
    int n = 0;
    for (char *l = d; l && *l;) {
        n += strncmp(l, prefix, strlen(prefix)) == 0;
        char *e = strchr(l, '\n');
        l = e ? e + 1 : NULL;
    }
    free(d);
    return n;
}

/* A track number's type ("video"/"audio") from the hook's "track" lines. */
static const char *track_type(const char *seen, uint64_t track)
{
    for (const char *l = seen; (l = strstr(l, "track ")) != NULL; l++) {
        char stream[300], codec[64];
        uint64_t num;
        if (sscanf(l, "track %299s %" SCNu64 " %63s", stream, &num, codec) == 3 && num == track)
            return codec[0] == 'V' ? "video" : "audio";
    }
    return "?";
}

/* The hook's "frame" lines are exactly ffprobe's packets of GetMedia's
 * output: same order, types, pts and key flags. Returns the count. */
static int same_frames(const char *seen_path, const char *getmedia)
{
    char *pk = probe(getmedia);
    size_t len;
    char *seen = fl_test_read_file(seen_path, &len);
    char *tracks = fl_test_read_file(seen_path, &len); /* seen is cut into lines below */
    ck_assert_ptr_nonnull(seen);
    const char *p = pk;
    int n = 0;
    for (char *l = seen; l && *l;) {
        char *e = strchr(l, '\n');
        if (e)
            *e = 0;
        if (strncmp(l, "frame ", 6) == 0) {
            char stream[300], frag[64];
            uint64_t track;
            int key;
            long long pts;
            size_t bytes;
            ck_assert_int_eq(sscanf(l, "frame %299s %" SCNu64 " %d %lld %63s %zu", stream, &track,
                                    &key, &pts, frag, &bytes),
                             6);
            ck_assert_msg(*p, "the hook saw more frames than GetMedia returned (%d)", n);
            char type[16], flags[8];
            long long ppts;
            ck_assert_int_eq(sscanf(p, "%15[^,],%lld,%7s", type, &ppts, flags), 3);
            ck_assert_msg(strcmp(type, track_type(tracks, track)) == 0, "frame %d: %s vs %s", n,
                          type, track_type(tracks, track));
            ck_assert_msg(ppts == pts, "frame %d: hook pts %lld, GetMedia %lld", n, pts, ppts);
            ck_assert_msg((flags[0] == 'K') == (key != 0), "frame %d: key %d vs %s", n, key, flags);
            ck_assert_uint_gt(bytes, 0);
            p = strchr(p, '\n');
            p = p ? p + 1 : "";
            n++;
        }
        l = e ? e + 1 : NULL;
    }
    ck_assert_msg(*p == 0, "GetMedia returned more frames than the hook saw (%d)", n);
    free(seen);
    free(tracks);
    free(pk);
    return n;
}

static char *metrics(const fl_test_server_t *s)
{
    char url[128], *out = NULL;
    snprintf(url, sizeof url, "%s/metrics", s->url);
    char *argv[] = {"curl", "-sS", "--max-time", "30", url, NULL};
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    return out;
}

/* Create stream "cam" and push file to it (RELATIVE timecodes from
 * 1700000000 s): every fragment acked PERSISTED. */
static void push_cam(const fl_test_server_t *s, const char *file, int fragments)
{
    create_stream(s, "cam");
    char *acks = NULL;
    ck_assert_int_eq(put_media(s, "cam", file, 1700000000.0, &acks, NULL), 0);
    check_ack_order(acks, fragments);
    free(acks);
}

/* ---- framecount ---- */

static void push_and_compare(const char *file, int fragments, int min_frames)
{
    char seen[4300], out[4300], arg[8700];
    snprintf(seen, sizeof seen, "%s/framecount.txt", g_dir);
    snprintf(out, sizeof out, "%s/get.mkv", g_dir);
    snprintf(arg, sizeof arg, "%s,out=%s", FL_FRAMECOUNT, seen);
    char *extra[] = {"--hook", arg, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    push_cam(&s, file, fragments);
    get_media_earliest(&s, "cam", out);
    wait_lines(seen, "persisted ", fragments);
    wait_lines(seen, "stop cam", 1);
    int n = same_frames(seen, out);
    ck_assert_int_ge(n, min_frames);
    char *m = metrics(&s);
    ck_assert_int_eq((int)fl_test_metric(m, "framelog_hook_frames_total{hook=\"framecount\"}"), n);
    ck_assert_int_eq((int)fl_test_metric(m, "framelog_hook_dropped_total{hook=\"framecount\"}"), 0);
    free(m);
    /* a clean stop: its stop callback ran last */
    ck_assert_int_eq(fl_test_server_stop(&s, 30000), 0);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "hook framecount: ") && strstr(log, " frames seen"), "%s", log);
    free(log);
    fl_test_server_free(&s);
}

START_TEST(framecount_h264_aac)
{
    make_media();
    push_and_compare(g_mkv, 3, 400); /* 180 video + ~260 audio frames */
    fl_test_rmtree(g_dir);
}
END_TEST

START_TEST(framecount_h265)
{
    make_media();
    char hevc[4300];
    snprintf(hevc, sizeof hevc, "%s/hevc.mkv", g_dir);
    const char *hevc_args[] = {"-c:v", "libx265", "-x265-params",
                               "log-level=none:keyint=50:min-keyint=50:scenecut=0", NULL};
    make_clip(hevc, "testsrc=size=320x240:rate=25", "4", 0, hevc_args);
    push_and_compare(hevc, 2, 100);
    fl_test_rmtree(g_dir);
}
END_TEST

/* ---- decoded frames ---- */

START_TEST(decoded_size_and_format)
{
    make_media();
    char gray[4300], rgb[4300], a1[8700], a2[8700];
    snprintf(gray, sizeof gray, "%s/gray.txt", g_dir);
    snprintf(rgb, sizeof rgb, "%s/rgb.txt", g_dir);
    snprintf(a1, sizeof a1, "%s,decode=gray8,out=%s", hook_path("thook_decode"), gray);
    snprintf(a2, sizeof a2, "%s,decode=rgb24,width=160,height=120,out=%s", hook_path("thook"), rgb);
    char *extra[] = {"--hook", a1, "--hook", a2, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    push_cam(&s, g_mkv, 3);
    wait_lines(gray, "stop cam", 1);
    wait_lines(rgb, "stop cam", 1);
    /* all 180 video frames (the decoders are drained at the stream's end) */
    int ng = count_lines(gray, "decoded "), nr = count_lines(rgb, "decoded ");
    ck_assert_int_eq(ng, 180);
    ck_assert_int_eq(nr, 180);
    const char *files[2] = {gray, rgb};
    for (int f = 0; f < 2; f++) {
        size_t len;
        char *d = fl_test_read_file(files[f], &len);
        long long last = -1;
        for (char *l = d; (l = strstr(l, "decoded ")) != NULL; l++) {
            char stream[300];
            uint64_t track, sum;
            int key, fmt, stride;
            long long pts;
            unsigned w, h;
            ck_assert_int_eq(sscanf(l, "decoded %299s %" SCNu64 " %d %lld %u %u %d %d %" SCNu64,
                                    stream, &track, &key, &pts, &w, &h, &fmt, &stride, &sum),
                             9);
            ck_assert_uint_eq(track, 1);
            ck_assert_msg(pts > last, "decoded pts %lld after %lld", pts, last);
            last = pts;
            ck_assert_uint_gt(sum, 0); /* testsrc is not black */
            if (f == 0) {
                ck_assert_uint_eq(w, 320);
                ck_assert_uint_eq(h, 240);
                ck_assert_int_eq(fmt, 1); /* FLH_PIX_GRAY8 */
                ck_assert_int_ge(stride, 320);
            } else {
                ck_assert_uint_eq(w, 160);
                ck_assert_uint_eq(h, 120);
                ck_assert_int_eq(fmt, 4); /* FLH_PIX_RGB24 */
                ck_assert_int_ge(stride, 160 * 3);
            }
        }
        free(d);
    }
    char *m = metrics(&s);
    ck_assert_int_eq((int)fl_test_metric(m, "framelog_hook_decoded_total{hook=\"thook_decode\"}"),
                     ng);
    /* no frame callback: none delivered */
    ck_assert_int_eq((int)fl_test_metric(m, "framelog_hook_delivered_total{hook=\"thook_decode\"}"),
                     0);
    free(m);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

START_TEST(key_frames_only)
{
    make_media();
    char keys[4300], arg[8700], out[4300];
    snprintf(keys, sizeof keys, "%s/keys.txt", g_dir);
    snprintf(out, sizeof out, "%s/get.mkv", g_dir);
    snprintf(arg, sizeof arg, "%s,decode=gray8,key_only=1,out=%s", hook_path("thook_decode"), keys);
    char *extra[] = {"--hook", arg, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    push_cam(&s, g_mkv, 3);
    wait_lines(keys, "stop cam", 1);
    /* one per GOP: 6 s with a key frame every 2 s */
    ck_assert_int_eq(count_lines(keys, "decoded "), 3);
    /* at the key frames' times, as GetMedia has them */
    get_media_earliest(&s, "cam", out);
    char *pk = probe(out);
    size_t len;
    char *d = fl_test_read_file(keys, &len);
    int matched = 0;
    for (char *l = d; (l = strstr(l, "decoded ")) != NULL; l++) {
        char stream[300], want[64];
        uint64_t track;
        int key;
        long long pts;
        ck_assert_int_eq(sscanf(l, "decoded %299s %" SCNu64 " %d %lld", stream, &track, &key, &pts),
                         4);
        ck_assert_int_eq(key, 1);
        snprintf(want, sizeof want, "video,%lld,K", pts);
        ck_assert_msg(strstr(pk, want) != NULL, "no video key frame at %lld", pts);
        matched++;
    }
    ck_assert_int_eq(matched, 3);
    free(d);
    free(pk);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* ---- isolation ---- */

START_TEST(slow_hook_isolated)
{
    make_media();
    /* 20 s at 30 fps + AAC: ~1460 frames, more than a hook's queue holds */
    char in[4300], seen[4300], slow[4300], live[4300], a1[8700], a2[8700], url[256];
    snprintf(in, sizeof in, "%s/long.mkv", g_dir);
    snprintf(seen, sizeof seen, "%s/framecount.txt", g_dir);
    snprintf(slow, sizeof slow, "%s/slow.txt", g_dir);
    snprintf(live, sizeof live, "%s/live.mkv", g_dir);
    const char *h264[] = {"-c:v", "libx264",       "-g", "60", "-keyint_min",
                          "60",   "-sc_threshold", "0",  NULL};
    make_clip(in, "testsrc=size=160x120:rate=30", "20", 1, h264);
    snprintf(a1, sizeof a1, "%s,sleep_ms=200,out=%s", hook_path("thook_slow"), slow);
    snprintf(a2, sizeof a2, "%s,out=%s", FL_FRAMECOUNT, seen);
    char *extra[] = {"--hook", a1, "--hook", a2, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "cam");

    /* a live reader from NOW, before the producer starts */
    snprintf(url, sizeof url, "%s/getMedia", s.url);
    char *get[] = {"curl",
                   "-sS",
                   "-N",
                   "--max-time",
                   "120",
                   "-o",
                   live,
                   "--data-binary",
                   "{\"StreamName\":\"cam\",\"StartSelector\":{\"StartSelectorType\":\"NOW\"}}",
                   url,
                   NULL};
    fl_test_proc_t reader;
    ck_assert_int_eq(fl_test_spawn(&reader, get, NULL), 0);
    /* it is connected once the server counts it */
    long long until = fl_test_now_ms() + 30000;
    for (;;) {
        char *m = metrics(&s);
        double readers = fl_test_metric(m, "framelog_live_readers");
        free(m);
        if (readers >= 1)
            break;
        ck_assert_msg(fl_test_now_ms() < until, "the live reader never connected");
        usleep(100000);
    }

    /* every fragment acked, although one hook is far behind */
    char *acks = NULL;
    ck_assert_int_eq(put_media(&s, "cam", in, 1700000000.0, &acks, NULL), 0);
    check_ack_order(acks, 10);
    free(acks);
    /* the live reader got every frame */
    ck_assert_int_ne(fl_test_wait(&reader, 60000), -1);
    fl_test_proc_free(&reader);
    char *pin = probe(in), *plive = probe(live);
    int packets = 0;
    for (const char *p = pin; (p = strchr(p, '\n')) != NULL; p++)
        packets++;
    same_packets(pin, plive, 1700000000000LL);
    free(pin);
    free(plive);
    /* so did the other hook */
    wait_lines(seen, "stop cam", 1);
    ck_assert_int_eq(count_lines(seen, "frame "), packets);
    /* the slow hook's drops are counted, and only its own */
    char *m = metrics(&s);
    double dropped = fl_test_metric(m, "framelog_hook_dropped_total{hook=\"thook_slow\"}");
    ck_assert_msg(dropped > 0, "no drops counted for the slow hook:\n%s", m);
    ck_assert_int_eq((int)fl_test_metric(m, "framelog_hook_dropped_total{hook=\"framecount\"}"), 0);
    double delivered = fl_test_metric(m, "framelog_hook_delivered_total{hook=\"thook_slow\"}");
    ck_assert_msg(delivered + dropped <= packets, "%f + %f > %d", delivered, dropped, packets);
    free(m);
    /* the stop is clean and does not wait for the queue: frames still
     * queued are not delivered; the hook's stop callback is its last */
    ck_assert_int_eq(fl_test_server_stop(&s, 60000), 0);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "hook thook_slow: falling behind") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "hook thook_slow stopped") != NULL, "%s", log);
    free(log);
    size_t len;
    char *d = fl_test_read_file(slow, &len);
    ck_assert_ptr_nonnull(strstr(d, "unload\n"));
    ck_assert_msg(strcmp(d + len - 7, "unload\n") == 0, "something came after stop");
    free(d);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* Frame bytes held past their callback stay the same while the
 * fragment's record grows and moves (big fragments, recbuf.h). */
START_TEST(held_frames_survive_growth)
{
    make_media();
    char in[4300], seen[4300], arg[8700];
    snprintf(in, sizeof in, "%s/big.mkv", g_dir);
    snprintf(seen, sizeof seen, "%s/held.txt", g_dir);
    const char *h264[] = {"-c:v",        "libx264", "-b:v",          "8M", "-g", "60",
                          "-keyint_min", "60",      "-sc_threshold", "0",  NULL};
    make_clip(in, "testsrc2=size=640x360:rate=30", "4", 0, h264);
    snprintf(arg, sizeof arg, "%s,hold=1,out=%s", hook_path("thook"), seen);
    char *extra[] = {"--hook", arg, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    push_cam(&s, in, 2);
    wait_lines(seen, "stop cam", 1);
    ck_assert_int_eq(count_lines(seen, "frame "), 120);
    ck_assert_int_eq(count_lines(seen, "HOLD-CHANGED"), 0);
    ck_assert_int_eq(fl_test_server_stop(&s, 30000), 0);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* ---- records ---- */

static int kds(const fl_test_server_t *s, const char *op, const char *json, char **out)
{
    char target[128];
    snprintf(target, sizeof target, "X-Amz-Target: Kinesis_20131202.%s", op);
    char url[128];
    snprintf(url, sizeof url, "%s/", s->url);
    char *argv[] = {"curl",
                    "-sS",
                    "--max-time",
                    "60",
                    "-H",
                    target,
                    "-H",
                    "Content-Type: application/x-amz-json-1.1",
                    "--data-binary",
                    (char *)json,
                    url,
                    NULL};
    return fl_test_run(argv, 90000, out, NULL);
}

START_TEST(records_out_and_in)
{
    make_media();
    char a[4300], b[4300], a1[8700], a2[8700];
    snprintf(a, sizeof a, "%s/a.txt", g_dir);
    snprintf(b, sizeof b, "%s/b.txt", g_dir);
    snprintf(a1, sizeof a1, "%s,record=results,out=%s", hook_path("thook"), a);
    snprintf(a2, sizeof a2, "%s,out=%s", hook_path("thook_b"), b);
    char *extra[] = {"--hook", a1, "--hook", a2, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    char *out = NULL;
    ck_assert_int_eq(kds(&s, "CreateStream", "{\"StreamName\":\"results\",\"ShardCount\":1}", &out),
                     0);
    free(out);
    push_cam(&s, g_mkv, 3);
    wait_lines(a, "stop cam", 1);
    /* one record per key frame, written */
    ck_assert_int_eq(count_lines(a, "wrote 0"), 3);
    /* the other hook heard of them, stamped with the frames' times */
    wait_lines(b, "record results k {\"pts\":", 3);
    size_t len;
    char *d = fl_test_read_file(b, &len);
    for (char *l = d; (l = strstr(l, "record results k ")) != NULL; l++) {
        long long pts, stamped;
        ck_assert_int_eq(sscanf(l, "record results k {\"pts\":%lld} %lld", &pts, &stamped), 2);
        ck_assert_int_eq(pts, stamped);
    }
    free(d);
    /* PutRecord's records reach hooks too (both: neither wrote it) */
    ck_assert_int_eq(kds(&s, "PutRecord",
                         "{\"StreamName\":\"results\",\"PartitionKey\":\"p\",\"Data\":\"aGk=\"}",
                         &out),
                     0);
    ck_assert_msg(strstr(out, "SequenceNumber") != NULL, "%s", out);
    free(out);
    wait_lines(b, "record results p hi", 1);
    wait_lines(a, "record results p hi", 1);
    /* a hook does not hear of its own records */
    ck_assert_int_eq(count_lines(a, "record results k"), 0);
    /* and they are in the data stream, readable as any */
    ck_assert_int_eq(kds(&s, "GetShardIterator",
                         "{\"StreamName\":\"results\",\"ShardId\":\"shardId-000000000000\","
                         "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
                         &out),
                     0);
    char *it = strstr(out, "\"ShardIterator\":\"");
    ck_assert_msg(it != NULL, "%s", out);
    it += strlen("\"ShardIterator\":\"");
    *strchr(it, '"') = 0;
    char body[2048];
    snprintf(body, sizeof body, "{\"ShardIterator\":\"%s\"}", it);
    free(out);
    long long until = fl_test_now_ms() + 60000;
    int n = 0;
    while (n < 4 && fl_test_now_ms() < until) {
        ck_assert_int_eq(kds(&s, "GetRecords", body, &out), 0);
        n = 0;
        for (const char *p = out; (p = strstr(p, "\"SequenceNumber\"")) != NULL; p++)
            n++;
        free(out);
        if (n < 4)
            usleep(200000);
    }
    ck_assert_int_eq(n, 4);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* ---- refusals at start ---- */

static void refused(const char *hook_arg, const char *message)
{
    char *dir = fl_test_mkdtemp("hookrefuse");
    char *argv[] = {FL_FRAMELOGD, "--listen", "127.0.0.1:0",    "--data-dir",
                    dir,          "--hook",   (char *)hook_arg, NULL};
    char *err = NULL;
    int rc = fl_test_run(argv, 60000, NULL, &err);
    ck_assert_msg(rc == 1, "framelogd exited %d: %s", rc, err);
    ck_assert_msg(strstr(err, message) != NULL, "expected \"%s\" in: %s", message, err);
    ck_assert_msg(strstr(err, "listening on") == NULL, "it started: %s", err);
    free(err);
    fl_test_rmtree(dir);
}

START_TEST(refuses_another_abi)
{
    refused(hook_path("thook_abi2"), "built for hook ABI 2.0, but framelogd has 1.0");
}
END_TEST

START_TEST(refuses_newer_minor)
{
    /* built for a newer minor than the server's: it may use what is not there */
    refused(hook_path("thook_minor"), "built for hook ABI 1.99, but framelogd has 1.0");
}
END_TEST

START_TEST(refuses_missing_file)
{
    refused("/nonexistent/nohook.so,a=b", "cannot read /nonexistent/nohook.so");
}
END_TEST

START_TEST(refuses_failed_init)
{
    char arg[4400];
    snprintf(arg, sizeof arg, "%s,fail=the camera model is missing", hook_path("thook"));
    refused(arg, "thook failed to start: the camera model is missing");
}
END_TEST

START_TEST(refuses_not_a_hook)
{
    /* a shared object without the entry point */
    refused("/lib/x86_64-linux-gnu/libm.so.6", "no framelog_hook() in it");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hooks");
    TCase *t = tcase_create("framecount");
    tcase_add_test(t, framecount_h264_aac);
    tcase_add_test(t, framecount_h265);
    suite_add_tcase(s, t);
    t = tcase_create("decoded");
    tcase_add_test(t, decoded_size_and_format);
    tcase_add_test(t, key_frames_only);
    suite_add_tcase(s, t);
    t = tcase_create("isolation");
    tcase_add_test(t, slow_hook_isolated);
    tcase_add_test(t, held_frames_survive_growth);
    suite_add_tcase(s, t);
    t = tcase_create("records");
    tcase_add_test(t, records_out_and_in);
    suite_add_tcase(s, t);
    t = tcase_create("refusals");
    tcase_add_test(t, refuses_another_abi);
    tcase_add_test(t, refuses_newer_minor);
    tcase_add_test(t, refuses_missing_file);
    tcase_add_test(t, refuses_failed_init);
    tcase_add_test(t, refuses_not_a_hook);
    suite_add_tcase(s, t);
    return fl_test_main(s);
}
