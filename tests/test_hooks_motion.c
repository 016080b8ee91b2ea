/*
 * tests/test_hooks_motion.c — the motion sample hook (samples/hooks/motion)
 * in the real framelogd: a video made by ffmpeg at test time that is
 * still for 10 s and then has a moving square, pushed with PutMedia; the
 * hook's records, read back with `aws kinesis get-records`, lie only in
 * the moving part (their producer times against the known switch time,
 * within a GOP), and it refuses a config without its data stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/json.h"
#include "media_harness.h"

#define STILL_MS 10000 /* the square stands still this long */
#define TOTAL_MS 20000
#define GOP_MS   1000 /* a key frame every 25 frames at 25 fps */
#define FPS      5    /* the hook compares so many frames a second */

/* 20 s of 320x240 H.264 at 25 fps: SMPTE bars and a white square, which
 * stands still until 10 s and then moves right at 150 px/s. */
static void make_motion_video(const char *path)
{
    char *ff[] = {"ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-f",
                  "lavfi",
                  "-i",
                  "smptebars=size=320x240:rate=25",
                  "-f",
                  "lavfi",
                  "-i",
                  "color=c=white:size=40x40:rate=25",
                  "-filter_complex",
                  "[0][1]overlay=x='if(lt(t,10),20,20+mod((t-10)*150,240))':y=100:shortest=1",
                  "-t",
                  "20",
                  "-c:v",
                  "libx264",
                  "-g",
                  "25",
                  "-keyint_min",
                  "25",
                  "-sc_threshold",
                  "0",
                  "-pix_fmt",
                  "yuv420p",
                  "-cluster_time_limit",
                  "10000",
                  "-f",
                  "matroska",
                  (char *)path,
                  NULL};
    ck_assert_int_eq(fl_test_run(ff, 120000, NULL, NULL), 0);
}

/* Wait (bounded) for the hook's line about the stream's end:
 * "stream NAME stopped: N frames compared, M with motion". */
static void wait_stopped(fl_test_server_t *s, const char *stream, long *compared, long *moving)
{
    char needle[300];
    snprintf(needle, sizeof needle, "stream %s stopped: ", stream);
    for (int i = 0; i < 1200; i++) {
        char *log = fl_test_proc_stderr(&s->proc);
        char *at = strstr(log, needle);
        if (at && sscanf(at + strlen(needle), "%ld frames compared, %ld with motion", compared,
                         moving) == 2) {
            free(log);
            return;
        }
        free(log);
        usleep(100000);
    }
    char *log = fl_test_proc_stderr(&s->proc);
    ck_abort_msg("the motion hook never reported the end of %s:\n%s", stream, log);
    free(log);
}

/* A member's number (or numeric string). */
static long long num(const fl_json_t *obj, const char *key)
{
    const fl_json_t *v = fl_json_get(obj, key);
    ck_assert_msg(v && (v->type == FL_JSON_NUMBER || v->type == FL_JSON_STRING), "no %s", key);
    return atoll(v->str);
}

static const char *str(const fl_json_t *obj, const char *key)
{
    const fl_json_t *v = fl_json_get(obj, key);
    ck_assert_msg(v && v->type == FL_JSON_STRING, "no string %s", key);
    return v->str;
}

/* Every record of the single-shard data stream, read with the AWS CLI
 * until `want` are there (records become durable shortly after the hook
 * writes them). Their decoded data into datas[] (malloc'd), keys into
 * keys[]. */
static size_t read_records(fl_test_server_t *s, const char *stream, size_t want, char **datas,
                           char **keys, size_t cap)
{
    char *out = NULL;
    AWS_OK(s, &out, "kinesis", "get-shard-iterator", "--stream-name", stream, "--shard-id",
           "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON");
    fl_json_doc_t *d = NULL;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(out), NULL, &d, NULL), 0);
    free(out);
    char *it = strdup(str(fl_json_root(d), "ShardIterator"));
    fl_json_free(d);
    size_t n = 0;
    for (int round = 0; round < 120 && n < want; round++) {
        AWS_OK(s, &out, "kinesis", "get-records", "--shard-iterator", it);
        ck_assert_int_eq(fl_json_parse(fl_slice_str(out), NULL, &d, NULL), 0);
        free(out);
        const fl_json_t *recs = fl_json_get(fl_json_root(d), "Records");
        ck_assert_ptr_nonnull(recs);
        for (const fl_json_t *r = recs->child; r; r = r->next) {
            ck_assert_uint_lt(n, cap);
            fl_buf_t b = {0};
            ck_assert_int_eq(fl_base64_decode(&b, fl_slice_str(str(r, "Data"))), 0);
            fl_buf_append(&b, "", 1);
            datas[n] = (char *)b.p;
            keys[n] = strdup(str(r, "PartitionKey"));
            n++;
        }
        free(it);
        it = strdup(str(fl_json_root(d), "NextShardIterator"));
        int empty = recs->child == NULL;
        fl_json_free(d);
        if (empty && n < want)
            usleep(250000);
    }
    free(it);
    return n;
}

START_TEST(motion_records_only_while_moving)
{
    char *dir = fl_test_mkdtemp("motion");
    char mkv[4200], hook[4300];
    snprintf(mkv, sizeof mkv, "%s/still-then-moving.mkv", dir);
    make_motion_video(mkv);

    snprintf(hook, sizeof hook, "%s,stream=motion-events,threshold=0.01,fps=%d", FL_HOOK_MOTION,
             FPS);
    char *args[] = {"--hook", hook, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, args);
    AWS_OK(&s, NULL, "kinesis", "create-stream", "--stream-name", "motion-events", "--shard-count",
           "1");
    create_stream(&s, "yard");

    /* RELATIVE timecodes from a whole second: the switch's producer time
     * is start + 10 s exactly */
    long long start_ms = ((long long)time(NULL) - 60) * 1000;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "yard", mkv, (double)start_ms / 1000.0, &acks, &err), 0);
    /* Matroska's muxer starts a cluster at a key frame only past 4 KiB:
     * this small video makes fewer fragments than GOPs */
    int fragments = count_acks(acks, "PERSISTED");
    ck_assert_int_ge(fragments, 1);
    check_ack_order(acks, fragments);
    free(acks);
    free(err);

    long compared = 0, moving = 0;
    wait_stopped(&s, "yard", &compared, &moving);
    /* it compared frames all along (so the still part was looked at, not
     * skipped): about FPS a second over 20 s, of which at most
     * FPS * 10 + 1 in the moving part */
    ck_assert_msg(compared >= FPS * 15 && compared <= FPS * 20 + 2, "%ld frames compared",
                  compared);
    ck_assert_msg(moving >= FPS * 10 / 2 && moving <= FPS * 10 + 2, "%ld with motion", moving);

    char *datas[256], *keys[256];
    size_t n = read_records(&s, "motion-events", (size_t)moving, datas, keys, 256);
    ck_assert_uint_eq(n, (size_t)moving);
    long long switch_ms = start_ms + STILL_MS, end_ms = start_ms + TOTAL_MS;
    long long first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        fl_json_doc_t *d = NULL;
        ck_assert_msg(fl_json_parse(fl_slice_str(datas[i]), NULL, &d, NULL) == 0, "not JSON: %s",
                      datas[i]);
        const fl_json_t *o = fl_json_root(d);
        ck_assert_str_eq(str(o, "stream"), "yard");
        ck_assert_str_eq(keys[i], "yard");
        double score = atof(fl_json_get(o, "score")->str);
        ck_assert_msg(score >= 0.01 && score <= 1, "score %f", score);
        long long t = num(o, "producer_ms");
        /* only in the moving part, within a GOP */
        ck_assert_msg(t >= switch_ms - GOP_MS && t <= end_ms,
                      "record at %lld ms, the square moves from %lld ms to %lld ms: %s",
                      t - start_ms, (long long)STILL_MS, (long long)TOTAL_MS, datas[i]);
        ck_assert_msg(i == 0 || t > last, "records out of order");
        if (i == 0)
            first = t;
        last = t;
        fl_json_free(d);
        free(datas[i]);
        free(keys[i]);
    }
    fprintf(stderr, "motion: %ld frames compared, %ld records, from %lld ms to %lld ms\n", compared,
            moving, first - start_ms, last - start_ms);
    /* and all through it: from its start to its end */
    ck_assert_msg(first <= switch_ms + GOP_MS, "first record at %lld ms", first - start_ms);
    ck_assert_msg(last >= end_ms - GOP_MS, "last record at %lld ms", last - start_ms);

    /* its counters on /metrics say the same */
    char url[128], *metrics = NULL;
    snprintf(url, sizeof url, "%s/metrics", s.url);
    char *curl[] = {"curl", "-sS", "--max-time", "30", url, NULL};
    ck_assert_int_eq(fl_test_run(curl, 60000, &metrics, NULL), 0);
    ck_assert_int_eq(
        (long)fl_test_metric(metrics, "framelog_hook_records_written_total{hook=\"motion\"}"),
        moving);
    ck_assert_int_eq(
        (long)fl_test_metric(metrics, "framelog_hook_frames_compared_total{hook=\"motion\"}"),
        compared);
    free(metrics);

    ck_assert_int_eq(fl_test_server_stop(&s, 30000), 0);
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
}
END_TEST

/* framelogd does not start with a motion hook that has nowhere to write,
 * and says why. */
START_TEST(motion_config_refused)
{
    char bad[4300];
    const char *cases[][2] = {
        {"", "stream=NAME"},
        {",stream=m,threshold=2", "bad threshold=2"},
        {",stream=m,colour=red", "bad colour=red"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(bad, sizeof bad, "%s%s", FL_HOOK_MOTION, cases[i][0]);
        char *args[] = {"--hook", bad, NULL};
        fl_test_server_refused(args, cases[i][1]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hooks_motion");
    TCase *tc = tcase_create("motion");
    tcase_add_test(tc, motion_records_only_while_moving);
    tcase_add_test(tc, motion_config_refused);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
