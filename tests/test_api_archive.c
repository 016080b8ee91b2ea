/*
 * tests/test_api_archive.c — the archive side and the limits of PutMedia,
 * against the real framelogd: ListFragments and GetMediaForFragmentList
 * through `aws kinesis-video-archived-media`, the media counters of
 * /metrics, an oversized fragment (4001), a video track without codec
 * private data (4006), and persisted fragments of several producers
 * surviving kill -9.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/awstime.h"
#include "common/json.h"
#include "media/mkv_writer.h"
#include "media_harness.h"

/* Run aws with args (see fl_test_aws); it must succeed. Its stdout. */
static char *aws_ok(const fl_test_server_t *s, char **args)
{
    char *out = NULL, *err = NULL;
    int rc = fl_test_aws(s, args, &out, &err);
    ck_assert_msg(rc == 0, "aws %s failed (%d): %s", args[1], rc, err);
    free(err);
    return out;
}

static void fmt_ts(char *buf, size_t n, double t)
{
    snprintf(buf, n, "%.3f", t);
}

START_TEST(list_fragments_and_get_them_by_number)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "arch");
    double start = (double)time(NULL) - 60;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "arch", g_mkv, start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);

    /* by producer time, one page at a time: the CLI follows NextToken */
    char sel[256], t0[32], t1[32];
    fmt_ts(t0, sizeof t0, start - 1);
    fmt_ts(t1, sizeof t1, start + 100);
    snprintf(sel, sizeof sel,
             "FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={StartTimestamp=%s,"
             "EndTimestamp=%s}",
             t0, t1);
    char *a1[] = {"kinesis-video-archived-media",
                  "list-fragments",
                  "--stream-name",
                  "arch",
                  "--fragment-selector",
                  sel,
                  "--page-size",
                  "1",
                  NULL};
    char *out = aws_ok(&s, a1);
    fl_json_doc_t *d = NULL;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(out), NULL, &d, NULL), 0);
    const fl_json_t *frags = fl_json_get(fl_json_root(d), "Fragments");
    ck_assert_msg(frags && frags->count == 3, "%s", out);
    char numbers[3][64];
    int i = 0;
    double prev = 0;
    for (const fl_json_t *f = frags->child; f; f = f->next, i++) {
        snprintf(numbers[i], sizeof numbers[i], "%s", fl_json_get(f, "FragmentNumber")->str);
        int64_t size, len;
        ck_assert_int_eq(fl_json_int64(fl_json_get(f, "FragmentSizeInBytes"), &size), 0);
        ck_assert_int_gt(size, 1000);
        ck_assert_int_eq(fl_json_int64(fl_json_get(f, "FragmentLengthInMilliseconds"), &len), 0);
        ck_assert_msg(len > 1800 && len <= 2100, "length %lld", (long long)len);
        double pt;
        ck_assert_int_eq(fl_json_double(fl_json_get(f, "ProducerTimestamp"), &pt), 0);
        ck_assert(pt >= start && pt < start + 6.1 && pt > prev);
        prev = pt;
        ck_assert_ptr_nonnull(fl_json_get(f, "ServerTimestamp"));
    }
    fl_json_free(d);
    free(out);

    /* a range that holds only the middle fragment */
    fmt_ts(t0, sizeof t0, start + 1.5);
    fmt_ts(t1, sizeof t1, start + 2.5);
    snprintf(sel, sizeof sel,
             "FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={StartTimestamp=%s,"
             "EndTimestamp=%s}",
             t0, t1);
    char *a2[] = {"kinesis-video-archived-media",
                  "list-fragments",
                  "--stream-name",
                  "arch",
                  "--fragment-selector",
                  sel,
                  NULL};
    out = aws_ok(&s, a2);
    ck_assert_int_eq(fl_json_parse(fl_slice_str(out), NULL, &d, NULL), 0);
    frags = fl_json_get(fl_json_root(d), "Fragments");
    ck_assert_uint_eq(frags->count, 1);
    ck_assert_str_eq(fl_json_get(frags->child, "FragmentNumber")->str, numbers[1]);
    fl_json_free(d);
    free(out);

    /* fragments 1 and 3 by number */
    char path[4300];
    snprintf(path, sizeof path, "%s/list.mkv", g_dir);
    char *a3[] = {"kinesis-video-archived-media",
                  "get-media-for-fragment-list",
                  "--stream-name",
                  "arch",
                  path,
                  "--fragments",
                  numbers[0],
                  numbers[2],
                  NULL};
    free(aws_ok(&s, a3));
    ck_assert_int_eq(count_in_file(path, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), 2);
    ck_assert_int_eq(count_in_file(path, numbers[1]), 0);
    ck_assert_int_ge(count_in_file(path, numbers[2]), 1);
    char *pin = probe(g_mkv), *pout = probe(path);
    int in_packets = 0, out_packets = 0;
    for (char *c = pin; *c; c++)
        in_packets += *c == '\n';
    for (char *c = pout; *c; c++)
        out_packets += *c == '\n';
    /* two of three equal fragments */
    ck_assert_msg(out_packets > in_packets / 2 && out_packets < in_packets, "%d of %d", out_packets,
                  in_packets);
    free(pin);
    free(pout);

    /* a number of another stream is not found */
    create_stream(&s, "other");
    char *body = NULL;
    char json[512];
    snprintf(json, sizeof json, "{\"StreamName\":\"other\",\"Fragments\":[\"%s\"]}", numbers[0]);
    ck_assert_int_eq(post_json(&s, "/getMediaForFragmentList", json, &body), 0);
    ck_assert_msg(strstr(body, "is not a fragment of stream other") != NULL, "%s", body);
    free(body);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

START_TEST(metrics_count_media)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "m");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "m", g_mkv, (double)time(NULL), &acks, &err), 0);
    free(acks);
    free(err);
    char *body = NULL;
    ck_assert_int_eq(post_json(&s, "/getMedia",
                               "{\"StreamName\":\"m\",\"StartSelector\":{\"StartSelectorType\":"
                               "\"EARLIEST\"}}",
                               &body),
                     0);
    free(body);
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", s.url);
    char *argv[] = {"curl", "-sS", url, NULL};
    char *m = NULL;
    ck_assert_int_eq(fl_test_run(argv, 30000, &m, NULL), 0);
    ck_assert_msg(fl_test_metric(m, "framelog_ingest_fragments_total") == 3, "%s", m);
    ck_assert(fl_test_metric(m, "framelog_ingest_bytes_total") > 10000);
    ck_assert(
        fl_test_metric(m, "framelog_http_requests_total{route=\"PutMedia\",status=\"200\"}") == 1);
    ck_assert(
        fl_test_metric(m, "framelog_http_requests_total{route=\"GetMedia\",status=\"200\"}") == 1);
    ck_assert(fl_test_metric(
                  m, "framelog_http_requests_total{route=\"CreateStream\",status=\"200\"}") == 1);
    ck_assert(fl_test_metric(m, "framelog_ack_persisted_ms_count") == 3);
    ck_assert(fl_test_metric(m, "framelog_ack_persisted_ms_bucket{le=\"+Inf\"}") == 3);
    ck_assert(fl_test_metric(m, "framelog_live_readers") == 0);
    ck_assert(fl_test_metric(m, "framelog_producers") == 0);
    free(m);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* An MKV with one H.264 track and no CodecPrivate, one fragment. */
static void write_no_codec_private(const char *path)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_mkv_write_ebml_header(&b, NULL);
    fl_mkv_write_segment_start(&b);
    fl_mkv_info_t info;
    memset(&info, 0, sizeof info);
    fl_mkv_write_info(&b, &info);
    fl_mkv_track_t t;
    memset(&t, 0, sizeof t);
    t.number = 1;
    t.type = FL_MKV_TRACK_VIDEO;
    t.codec_id = fl_slice_str("V_MPEG4/ISO/AVC");
    t.pixel_width = 320;
    t.pixel_height = 240;
    fl_mkv_write_tracks(&b, &t, 1);
    size_t mark;
    fl_mkv_write_cluster_begin(&b, 0, &mark);
    uint8_t frame[64] = {0, 0, 0, 1, 0x65};
    fl_mkv_write_simple_block(&b, 1, 0, 1, fl_slice(frame, sizeof frame));
    fl_mkv_write_cluster_end(&b, mark);
    ck_assert_int_eq(b.err, 0);
    ck_assert_int_eq(fl_test_write_file(path, b.p, b.n), 0);
    fl_buf_free(&b);
}

START_TEST(oversized_fragment_and_missing_codec_private)
{
    make_media();
    fl_test_server_t s;
    char *extra[] = {"--max-fragment-bytes", "20000", NULL};
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "lim");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "lim", g_mkv, (double)time(NULL), &acks, &err), 0);
    ck_assert_msg(strstr(acks, "\"ErrorId\":4001") != NULL, "%s", acks);
    ck_assert_int_eq(count_acks(acks, "PERSISTED"), 0);
    free(acks);
    free(err);

    char bad[4300];
    snprintf(bad, sizeof bad, "%s/nocp.mkv", g_dir);
    write_no_codec_private(bad);
    ck_assert_int_eq(put_media(&s, "lim", bad, (double)time(NULL), &acks, &err), 0);
    ck_assert_msg(strstr(acks, "\"ErrorId\":4006") != NULL, "%s", acks);
    free(acks);
    free(err);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* ---- issue 12: what the AWS SDKs and CLI tripped on ---- */

/* The stream's fragments as the server lists them, with the exact text of
 * their timestamps (the JavaScript SDK sends back what it got). */
typedef struct {
    int n;
    char number[8][64];
    char producer[8][40], server[8][40]; /* "1700000000.123" */
    int64_t producer_ns[8], server_ns[8];
    int64_t length_ms[8];
} listing_t;

/* POST /listFragments with body json (curl, exact bytes); its fragments. */
static void list_raw(const fl_test_server_t *s, const char *json, listing_t *l)
{
    char *out = NULL;
    ck_assert_int_eq(post_json(s, "/listFragments", json, &out), 0);
    fl_json_doc_t *d = NULL;
    ck_assert_msg(fl_json_parse(fl_slice_str(out), NULL, &d, NULL) == 0, "%s", out);
    const fl_json_t *frags = fl_json_get(fl_json_root(d), "Fragments");
    ck_assert_msg(frags && frags->count <= 8, "%s", out);
    memset(l, 0, sizeof *l);
    for (const fl_json_t *f = frags->child; f; f = f->next, l->n++) {
        const fl_json_t *p = fl_json_get(f, "ProducerTimestamp");
        const fl_json_t *sv = fl_json_get(f, "ServerTimestamp");
        snprintf(l->number[l->n], sizeof l->number[0], "%s", fl_json_get(f, "FragmentNumber")->str);
        snprintf(l->producer[l->n], sizeof l->producer[0], "%.*s", (int)p->len, p->str);
        snprintf(l->server[l->n], sizeof l->server[0], "%.*s", (int)sv->len, sv->str);
        ck_assert_int_eq(fl_awstime_parse_json(p, &l->producer_ns[l->n]), 0);
        ck_assert_int_eq(fl_awstime_parse_json(sv, &l->server_ns[l->n]), 0);
        ck_assert_int_eq(
            fl_json_int64(fl_json_get(f, "FragmentLengthInMilliseconds"), &l->length_ms[l->n]), 0);
    }
    fl_json_free(d);
    free(out);
}

/* ListFragments of stream by type over [from, to] (timestamps as text). */
static void list_range(const fl_test_server_t *s, const char *stream, const char *type,
                       const char *from, const char *to, listing_t *l)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"StreamName\":\"%s\",\"FragmentSelector\":{\"FragmentSelectorType\":\"%s\","
             "\"TimestampRange\":{\"StartTimestamp\":%s,\"EndTimestamp\":%s}}}",
             stream, type, from, to);
    list_raw(s, json, l);
}

/* GetMedia with a StartSelector (JSON text) by curl into the file path,
 * until the server ends the stream. */
static void get_media_sel(const fl_test_server_t *s, const char *stream, const char *selector,
                          const char *path)
{
    char url[256], json[512];
    snprintf(url, sizeof url, "%s/getMedia", s->url);
    snprintf(json, sizeof json, "{\"StreamName\":\"%s\",\"StartSelector\":%s}", stream, selector);
    char *argv[] = {"curl",       "-sS",           "--max-time", "60", "-o",
                    (char *)path, "--data-binary", json,         url,  NULL};
    ck_assert_int_eq(fl_test_run(argv, 90000, NULL, NULL), 0);
}

START_TEST(timestamp_bounds_are_inclusive_and_exact)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "ts");
    /* producer times with a millisecond fraction, as cameras stamp them */
    double start = (double)(time(NULL) - 60) + 0.123;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "ts", g_mkv, start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);
    listing_t all, l;
    list_raw(&s, "{\"StreamName\":\"ts\"}", &all);
    ck_assert_int_eq(all.n, 3);

    /* from the first fragment's ProducerTimestamp to the last one's: all */
    list_range(&s, "ts", "PRODUCER_TIMESTAMP", all.producer[0], all.producer[2], &l);
    ck_assert_msg(l.n == 3, "[%s, %s] gave %d fragments", all.producer[0], all.producer[2], l.n);
    /* a point range on each fragment's own timestamps: that fragment */
    for (int i = 0; i < 3; i++) {
        list_range(&s, "ts", "PRODUCER_TIMESTAMP", all.producer[i], all.producer[i], &l);
        ck_assert_msg(l.n == 1 && strcmp(l.number[0], all.number[i]) == 0,
                      "producer point %s gave %d", all.producer[i], l.n);
        /* (fragments that arrive within one millisecond share it) */
        list_range(&s, "ts", "SERVER_TIMESTAMP", all.server[i], all.server[i], &l);
        int found = 0;
        for (int k = 0; k < l.n; k++) {
            found |= strcmp(l.number[k], all.number[i]) == 0;
            ck_assert_str_eq(l.server[k], all.server[i]);
        }
        ck_assert_msg(found, "server point %s gave %d without fragment %d", all.server[i], l.n, i);
    }
    /* a millisecond before the middle one up to a millisecond before the
     * last: only the middle one */
    char t0[40], t1[40];
    fl_awstime_epoch(all.producer_ns[1] - 1000000, 3, t0, sizeof t0);
    fl_awstime_epoch(all.producer_ns[2] - 1000000, 3, t1, sizeof t1);
    list_range(&s, "ts", "PRODUCER_TIMESTAMP", t0, t1, &l);
    ck_assert_msg(l.n == 1 && strcmp(l.number[0], all.number[1]) == 0, "[%s, %s] gave %d", t0, t1,
                  l.n);

    /* GetMedia at the middle fragment's exact time starts with it */
    char path[4300], sel[256];
    snprintf(path, sizeof path, "%s/at.mkv", g_dir);
    snprintf(sel, sizeof sel,
             "{\"StartSelectorType\":\"PRODUCER_TIMESTAMP\",\"StartTimestamp\":%s}",
             all.producer[1]);
    get_media_sel(&s, "ts", sel, path);
    ck_assert_int_eq(count_in_file(path, all.number[0]), 0);
    ck_assert_msg(count_in_file(path, all.number[1]) >= 1, "GetMedia at %s skipped fragment 1",
                  all.producer[1]);
    /* at the last one's ServerTimestamp: from the first fragment stamped so */
    int first = 2;
    while (first > 0 && strcmp(all.server[first - 1], all.server[2]) == 0)
        first--;
    snprintf(sel, sizeof sel, "{\"StartSelectorType\":\"SERVER_TIMESTAMP\",\"StartTimestamp\":%s}",
             all.server[2]);
    get_media_sel(&s, "ts", sel, path);
    for (int i = 0; i < 3; i++)
        ck_assert_msg((count_in_file(path, all.number[i]) > 0) == (i >= first),
                      "GetMedia at server time %s: fragment %d", all.server[2], i);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

START_TEST(get_media_inside_a_fragment_starts_with_it)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "in");
    double start = (double)(time(NULL) - 60) + 0.123;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "in", g_mkv, start, &acks, &err), 0);
    free(acks);
    free(err);
    listing_t all;
    list_raw(&s, "{\"StreamName\":\"in\"}", &all);
    ck_assert_int_eq(all.n, 3);

    /* the CLI sends whole seconds: one inside the middle fragment */
    int64_t sec = all.producer_ns[1] / 1000000000 + 1;
    ck_assert(sec * 1000000000 < all.producer_ns[2]);
    char sel[256], path[4300];
    snprintf(sel, sizeof sel, "StartSelectorType=PRODUCER_TIMESTAMP,StartTimestamp=%lld",
             (long long)sec);
    snprintf(path, sizeof path, "%s/inside.mkv", g_dir);
    char *a[] = {"kinesis-video-media",
                 "get-media",
                 "--stream-name",
                 "in",
                 "--start-selector",
                 sel,
                 path,
                 NULL};
    free(aws_ok(&s, a));
    ck_assert_int_eq(count_in_file(path, all.number[0]), 0);
    ck_assert_msg(count_in_file(path, all.number[1]) >= 1,
                  "GetMedia at %lld (inside fragment 1, %s) did not start with it", (long long)sec,
                  all.producer[1]);
    ck_assert_int_ge(count_in_file(path, all.number[2]), 1);

    /* half a second into the last one, in milliseconds (the JavaScript SDK) */
    char t[40];
    fl_awstime_epoch(all.producer_ns[2] + 500000000, 3, t, sizeof t);
    snprintf(sel, sizeof sel,
             "{\"StartSelectorType\":\"PRODUCER_TIMESTAMP\",\"StartTimestamp\":%s}", t);
    get_media_sel(&s, "in", sel, path);
    ck_assert_int_eq(count_in_file(path, all.number[1]), 0);
    ck_assert_int_ge(count_in_file(path, all.number[2]), 1);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* A video-only MKV of `clusters` fragments of 45 frames 40 ms apart, with
 * no duration on any frame (SimpleBlocks, no DefaultDuration), as cameras
 * send. */
static void write_video_only(const char *path, int clusters)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_mkv_write_ebml_header(&b, NULL);
    fl_mkv_write_segment_start(&b);
    fl_mkv_info_t info;
    memset(&info, 0, sizeof info);
    fl_mkv_write_info(&b, &info);
    fl_mkv_track_t t;
    memset(&t, 0, sizeof t);
    t.number = 1;
    t.type = FL_MKV_TRACK_VIDEO;
    t.codec_id = fl_slice_str("V_VP8");
    t.pixel_width = 320;
    t.pixel_height = 240;
    fl_mkv_write_tracks(&b, &t, 1);
    uint8_t frame[200];
    memset(frame, 0x5a, sizeof frame);
    for (int c = 0; c < clusters; c++) {
        size_t mark;
        fl_mkv_write_cluster_begin(&b, (uint64_t)c * 1800, &mark);
        for (int i = 0; i < 45; i++)
            fl_mkv_write_simple_block(&b, 1, i * 40, i == 0, fl_slice(frame, sizeof frame));
        fl_mkv_write_cluster_end(&b, mark);
    }
    ck_assert_int_eq(b.err, 0);
    ck_assert_int_eq(fl_test_write_file(path, b.p, b.n), 0);
    fl_buf_free(&b);
}

START_TEST(fragment_length_is_the_media_duration)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);

    /* video and audio: the video's duration, not audio that runs on */
    create_stream(&s, "av");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "av", g_mkv, (double)(time(NULL) - 60), &acks, &err), 0);
    free(acks);
    free(err);
    listing_t l;
    list_raw(&s, "{\"StreamName\":\"av\"}", &l);
    ck_assert_int_eq(l.n, 3);
    /* (each holds 60 video frames at 30 fps; its Cluster timecode follows
     * the audio, so the gaps between fragment starts are not 2000 ms) */
    for (int i = 0; i < 3; i++)
        ck_assert_msg(l.length_ms[i] == 2000, "fragment %d: length %lld ms", i,
                      (long long)l.length_ms[i]);

    /* video only, frames without durations: the last frame counts */
    char vo[4300];
    snprintf(vo, sizeof vo, "%s/vo.mkv", g_dir);
    write_video_only(vo, 2);
    create_stream(&s, "vo");
    ck_assert_int_eq(put_media(&s, "vo", vo, (double)(time(NULL) - 60), &acks, &err), 0);
    free(acks);
    free(err);
    list_raw(&s, "{\"StreamName\":\"vo\"}", &l);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.length_ms[0], 1800);
    ck_assert_int_eq(l.length_ms[1], 1800);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* The value of the first SimpleTag named name in a GetMedia file (the
 * writer's TagString follows its TagName), into out; 0 or -1. */
static int tag_value(const char *path, const char *name, char *out, size_t cap)
{
    size_t n = 0;
    char *f = fl_test_read_file(path, &n);
    if (!f)
        return -1;
    size_t nl = strlen(name);
    int rc = -1;
    for (size_t i = 0; i + nl + 3 < n && rc; i++) {
        if (memcmp(f + i, name, nl) != 0)
            continue;
        const uint8_t *p = (const uint8_t *)f + i + nl;
        /* TagString 0x4487, then its size as an EBML varint */
        if (p[0] != 0x44 || p[1] != 0x87)
            continue;
        int len = 1;
        while (len <= 8 && !(p[2] & (0x80 >> (len - 1))))
            len++;
        if (len > 8 || (const char *)p + 2 + len > f + n)
            continue;
        uint64_t v = p[2] & (0xff >> len);
        for (int k = 1; k < len; k++)
            v = v << 8 | p[2 + k];
        if (v + 1 > cap || (const char *)p + 2 + len + v > f + n)
            continue;
        memcpy(out, p + 2 + len, v);
        out[v] = 0;
        rc = 0;
    }
    free(f);
    return rc;
}

START_TEST(get_media_now_without_producer_ends_well_formed_with_a_token)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "now");

    /* nobody puts: a whole (empty) Matroska session and a token */
    char path[4300], token[64];
    snprintf(path, sizeof path, "%s/now.mkv", g_dir);
    char *a[] = {"kinesis-video-media",
                 "get-media",
                 "--stream-name",
                 "now",
                 "--start-selector",
                 "StartSelectorType=NOW",
                 path,
                 NULL};
    free(aws_ok(&s, a));
    char *pe = NULL;
    char *ff[] = {"ffprobe", "-v", "error", path, NULL};
    int rc = fl_test_run(ff, 60000, NULL, &pe);
    ck_assert_msg(rc == 0 && pe[0] == 0, "ffprobe: %d %s", rc, pe);
    free(pe);
    ck_assert_msg(tag_value(path, "AWS_KINESISVIDEO_CONTINUATION_TOKEN", token, sizeof token) == 0,
                  "no continuation token");

    /* the token resumes where the reader stood: what comes after it */
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "now", g_mkv, (double)(time(NULL) - 60), &acks, &err), 0);
    free(acks);
    free(err);
    listing_t all;
    list_raw(&s, "{\"StreamName\":\"now\"}", &all);
    ck_assert_int_eq(all.n, 3);
    char sel[256];
    snprintf(sel, sizeof sel,
             "{\"StartSelectorType\":\"CONTINUATION_TOKEN\",\"ContinuationToken\":\"%s\"}", token);
    get_media_sel(&s, "now", sel, path);
    ck_assert_int_eq(count_in_file(path, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), 3);
    ck_assert_int_ge(count_in_file(path, all.number[0]), 1);

    /* again from NOW after them: the token is the last fragment's */
    free(aws_ok(&s, a));
    ck_assert_int_eq(tag_value(path, "AWS_KINESISVIDEO_CONTINUATION_TOKEN", token, sizeof token),
                     0);
    ck_assert_str_eq(token, all.number[2]);

    /* a missing AfterFragmentNumber is said to be missing */
    char *body = NULL;
    ck_assert_int_eq(post_json(&s, "/getMedia",
                               "{\"StreamName\":\"now\",\"StartSelector\":{"
                               "\"StartSelectorType\":\"FRAGMENT_NUMBER\"}}",
                               &body),
                     0);
    ck_assert_msg(strstr(body, "AfterFragmentNumber is required") != NULL, "%s", body);
    free(body);
    fl_test_server_free(&s);
    fl_test_rmtree(g_dir);
}
END_TEST

/* Several producers, throttled so that the server dies mid-way. */
START_TEST(kill_9_during_ingest_from_several_producers)
{
    make_media();
    char *dir = fl_test_mkdtemp("kill3");
    fl_test_server_t s;
    fl_test_server_start(&s, dir, NULL);
    const char *names[3] = {"p0", "p1", "p2"};
    fl_test_proc_t p[3];
    char url[256], data[4300], start_h[100];
    snprintf(url, sizeof url, "%s/putMedia", s.url);
    snprintf(data, sizeof data, "@%s", g_mkv);
    snprintf(start_h, sizeof start_h, "x-amzn-producer-start-timestamp: %ld", (long)time(NULL));
    for (int i = 0; i < 3; i++) {
        create_stream(&s, names[i]);
        char h[100];
        snprintf(h, sizeof h, "x-amzn-stream-name: %s", names[i]);
        char *argv[] = {"curl",
                        "-sS",
                        "-N",
                        "--limit-rate",
                        "40k",
                        "-H",
                        h,
                        "-H",
                        "x-amzn-fragment-timecode-type: RELATIVE",
                        "-H",
                        start_h,
                        "-H",
                        "Transfer-Encoding: chunked",
                        "--data-binary",
                        data,
                        url,
                        NULL};
        ck_assert_int_eq(fl_test_spawn(&p[i], argv, NULL), 0);
    }
    /* wait until every producer has a PERSISTED fragment, then kill -9 */
    long long deadline = fl_test_now_ms() + 60000;
    for (;;) {
        int ready = 0;
        for (int i = 0; i < 3; i++) {
            char *o = fl_test_proc_stdout(&p[i]);
            ready += count_acks(o, "PERSISTED") >= 1;
            free(o);
        }
        if (ready == 3)
            break;
        ck_assert_msg(fl_test_now_ms() < deadline, "producers never got PERSISTED");
        usleep(20000);
    }
    fl_test_server_kill(&s);
    char *acked[3];
    int cut = 0;
    for (int i = 0; i < 3; i++) {
        fl_test_wait(&p[i], 30000);
        acked[i] = fl_test_proc_stdout(&p[i]);
        fl_test_proc_free(&p[i]);
        cut += count_acks(acked[i], "PERSISTED") < 3;
    }
    /* the kill came mid-way: some upload was cut (on a loaded machine a
     * producer may finish before the slowest has its first PERSISTED) */
    ck_assert_int_ge(cut, 1);
    fl_test_server_free(&s);

    fl_test_server_start(&s, dir, NULL);
    for (int i = 0; i < 3; i++) {
        char json[256], *body = NULL;
        snprintf(json, sizeof json, "{\"StreamName\":\"%s\"}", names[i]);
        ck_assert_int_eq(post_json(&s, "/listFragments", json, &body), 0);
        /* every PERSISTED fragment number is listed */
        for (const char *a = acked[i]; (a = strstr(a, "\"EventType\":\"PERSISTED\"")); a++) {
            const char *num = strstr(a, "\"FragmentNumber\":\"") + strlen("\"FragmentNumber\":\"");
            char number[64];
            size_t n = strcspn(num, "\"");
            memcpy(number, num, n);
            number[n] = 0;
            ck_assert_msg(strstr(body, number) != NULL, "%s PERSISTED but not listed: %s", number,
                          body);
        }
        free(body);
        /* and GetMedia serves them */
        char path[4300];
        snprintf(path, sizeof path, "%s/after-%d.mkv", g_dir, i);
        get_media_earliest(&s, names[i], path);
        ck_assert_int_ge(count_in_file(path, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
                         count_acks(acked[i], "PERSISTED"));
        free(acked[i]);
    }
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
    fl_test_rmtree(g_dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_archive");
    TCase *tc = tcase_create("archive");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, list_fragments_and_get_them_by_number);
    tcase_add_test(tc, metrics_count_media);
    tcase_add_test(tc, oversized_fragment_and_missing_codec_private);
    tcase_add_test(tc, kill_9_during_ingest_from_several_producers);
    tcase_add_test(tc, timestamp_bounds_are_inclusive_and_exact);
    tcase_add_test(tc, get_media_inside_a_fragment_starts_with_it);
    tcase_add_test(tc, fragment_length_is_the_media_duration);
    tcase_add_test(tc, get_media_now_without_producer_ends_well_formed_with_a_token);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
