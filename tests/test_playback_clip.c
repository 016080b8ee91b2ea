/*
 * tests/test_playback_clip.c — GetClip and GetImages against the real
 * framelogd: a known H.264 + AAC file (6 s, 320x240, 30 fps, a fragment
 * every 2 s) pushed with PutMedia; clips fetched by the AWS CLI v2
 * (/usr/bin/aws) and v1 (the `aws` on PATH) and read by ffprobe (MP4, the
 * asked duration within a fragment, the pushed codec and size, every
 * frame); images fetched by boto3 (JPEG and PNG of the asked size at the
 * sampling interval, NO_MEDIA where no fragment is, pages with NextToken)
 * and decoded by ffprobe; AWS's errors for bad ranges, streams and
 * tokens; CORS on both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "media_harness.h"

typedef struct {
    char format[64];
    double duration;
    char codec[32];
    int width, height;
    long frames;
} clip_probe_t;

/* ffprobe a clip file: its container, duration, and first video stream. */
static void probe_clip(const char *path, clip_probe_t *p)
{
    memset(p, 0, sizeof *p);
    char *a1[] = {"ffprobe",
                  "-v",
                  "error",
                  "-show_entries",
                  "format=format_name,duration",
                  "-of",
                  "default=noprint_wrappers=1",
                  (char *)path,
                  NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(fl_test_run(a1, 60000, &out, &err) == 0, "ffprobe %s: %s", path, err);
    const char *fn = strstr(out, "format_name="), *du = strstr(out, "duration=");
    ck_assert_msg(fn && du && sscanf(fn, "format_name=%63s", p->format) == 1 &&
                      sscanf(du, "duration=%lf", &p->duration) == 1,
                  "ffprobe: %s", out);
    free(out);
    free(err);
    char *a2[] = {"ffprobe",       "-v",
                  "error",         "-select_streams",
                  "v:0",           "-count_packets",
                  "-show_entries", "stream=codec_name,width,height,nb_read_packets",
                  "-of",           "csv=p=0",
                  (char *)path,    NULL};
    ck_assert_msg(fl_test_run(a2, 60000, &out, &err) == 0, "ffprobe %s: %s", path, err);
    ck_assert_msg(sscanf(out, "%31[^,],%d,%d,%ld", p->codec, &p->width, &p->height, &p->frames) ==
                      4,
                  "ffprobe: %s", out);
    free(out);
    free(err);
}

/* get-clip with the CLI bin into path; the exit code, stderr into *err. */
static int get_clip(const char *bin, const fl_test_server_t *s, const char *stream, const char *sel,
                    const char *path, char **err)
{
    char *args[] = {"kinesis-video-archived-media", "get-clip",  "--stream-name", (char *)stream,
                    "--clip-fragment-selector",     (char *)sel, (char *)path,    NULL};
    char *out = NULL;
    int rc = fl_test_aws_bin(bin, s, args, &out, err);
    ck_assert_msg(rc != -1, "aws get-clip timed out");
    if (rc == 0)
        ck_assert_msg(strstr(out, "video/mp4") != NULL, "ContentType: %s", out);
    free(out);
    return rc;
}

START_TEST(clip_of_a_range_probes_as_mp4_with_its_duration)
{
    fl_test_server_t s;
    pushed_stream(&s, "clip");
    char *dir = fl_test_mkdtemp("clip");
    char path[4200], sel[256];
    const char *clis[] = {"/usr/bin/aws", "aws"};
    for (int c = 0; c < 2; c++) {
        /* the whole stream: 6 s, every frame */
        snprintf(path, sizeof path, "%s/all-%d.mp4", dir, c);
        ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 100);
        char *err = NULL;
        ck_assert_msg(get_clip(clis[c], &s, "clip", sel, path, &err) == 0, "%s: %s", clis[c], err);
        free(err);
        clip_probe_t p;
        probe_clip(path, &p);
        ck_assert_msg(strstr(p.format, "mp4") != NULL, "%s", p.format);
        ck_assert_str_eq(p.codec, "h264");
        ck_assert_int_eq(p.width, 320);
        ck_assert_int_eq(p.height, 240);
        ck_assert_int_eq(p.frames, 180);
        ck_assert_msg(p.duration > 5.5 && p.duration < 6.5, "duration %f", p.duration);

        /* 3 s from the start: fragments starting at 0 and 2 s (asked 3 s,
         * within one 2 s fragment) */
        snprintf(path, sizeof path, "%s/part-%d.mp4", dir, c);
        ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start, g_start + 3);
        ck_assert_msg(get_clip(clis[c], &s, "clip", sel, path, &err) == 0, "%s", err);
        free(err);
        probe_clip(path, &p);
        ck_assert_msg(p.duration >= 3 - 2 && p.duration <= 3 + 2, "duration %f", p.duration);
        ck_assert_int_eq(p.frames, 120);
    }
    /* by server time: the fragments arrived in the last minute */
    snprintf(path, sizeof path, "%s/server.mp4", dir);
    double now = (double)time(NULL);
    ts_selector(sel, sizeof sel, "SERVER_TIMESTAMP", now - 300, now + 5);
    char *err = NULL;
    ck_assert_msg(get_clip("/usr/bin/aws", &s, "clip", sel, path, &err) == 0, "%s", err);
    free(err);
    clip_probe_t p;
    probe_clip(path, &p);
    ck_assert_int_eq(p.frames, 180);

    /* progress headers and CORS, read with curl */
    char body[512], url[256];
    snprintf(body, sizeof body,
             "{\"StreamName\":\"clip\",\"ClipFragmentSelector\":{\"FragmentSelectorType\":"
             "\"PRODUCER_TIMESTAMP\",\"TimestampRange\":{\"StartTimestamp\":%.3f,"
             "\"EndTimestamp\":%.3f}}}",
             g_start - 1, g_start + 100);
    snprintf(url, sizeof url, "%s/getClip", s.url);
    snprintf(path, sizeof path, "%s/curl.mp4", dir);
    char hpath[4300];
    snprintf(hpath, sizeof hpath, "%s/headers", dir);
    char *curl[] = {"curl",       "-sS",
                    "--max-time", "60",
                    "-H",         "Origin: http://console.example",
                    "-H",         "Content-Type: application/json",
                    "-d",         body,
                    "-o",         path,
                    "-D",         hpath,
                    url,          NULL};
    ck_assert_int_eq(fl_test_run(curl, 90000, NULL, NULL), 0);
    char *h = fl_test_read_file(hpath, NULL);
    ck_assert_msg(strstr(h, "x-framelog-clip-fragments: 3") != NULL, "%s", h);
    ck_assert_msg(strstr(h, "x-framelog-clip-estimated-bytes: ") != NULL, "%s", h);
    ck_assert_msg(strstr(h, "Access-Control-Allow-Origin: *") ||
                      strstr(h, "access-control-allow-origin: *"),
                  "%s", h);
    ck_assert_msg(strstr(h, "video/mp4") != NULL, "%s", h);
    free(h);
    /* the fragmented MP4 with its moov first is a file tools take as it
     * is: ffmpeg copies it into a plain MP4 (one moov, faststart) with
     * every frame */
    char copy[4300];
    snprintf(copy, sizeof copy, "%s/copy.mp4", dir);
    char *ffc[] = {"ffmpeg", "-hide_banner", "-loglevel", "error",      "-y", "-i", path,
                   "-c",     "copy",         "-movflags", "+faststart", copy, NULL};
    ck_assert_int_eq(fl_test_run(ffc, 120000, NULL, NULL), 0);
    probe_clip(copy, &p);
    ck_assert_int_eq(p.frames, 180);
    ck_assert_str_eq(p.codec, "h264");
    char *pre = NULL;
    snprintf(url, sizeof url, "%s/getClip", s.url);
    ck_assert_int_eq(http_get(url, "OPTIONS", NULL, &pre), 204);
    ck_assert_msg(strcasestr(pre, "access-control-allow-methods") != NULL, "%s", pre);
    free(pre);
    fl_test_rmtree(dir);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(clip_errors_are_aws_errors)
{
    fl_test_server_t s;
    pushed_stream(&s, "clip");
    char sel[256];
    const char *AM = "kinesis-video-archived-media";
    /* end before start */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start + 10, g_start);
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-clip", "--stream-name", "clip",
              "--clip-fragment-selector", sel, "/dev/null");
    /* more than 24 h */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 90000, g_start + 10);
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-clip", "--stream-name", "clip",
              "--clip-fragment-selector", sel, "/dev/null");
    /* nothing in the range */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 600, g_start - 300);
    AWS_FAILS(&s, "ResourceNotFoundException", AM, "get-clip", "--stream-name", "clip",
              "--clip-fragment-selector", sel, "/dev/null");
    /* no such stream */
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start, g_start + 10);
    AWS_FAILS(&s, "ResourceNotFoundException", AM, "get-clip", "--stream-name", "nope",
              "--clip-fragment-selector", sel, "/dev/null");
    /* a selector type AWS does not have */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-clip", "--stream-name", "clip",
              "--clip-fragment-selector",
              "FragmentSelectorType=NOW,TimestampRange={StartTimestamp=1,EndTimestamp=2}",
              "/dev/null");

    /* a stream of VP8 video: not H.264/H.265 */
    char vp8[4300];
    snprintf(vp8, sizeof vp8, "%s/vp8.mkv", g_dir);
    const char *vpx[] = {"-c:v", "libvpx", "-g", "10", NULL};
    make_clip(vp8, "testsrc=size=160x120:rate=10", "2", 0, vpx);
    create_stream(&s, "vp8");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "vp8", vp8, g_start, &acks, &err), 0);
    ck_assert_msg(count_acks(acks, "PERSISTED") >= 1, "%s / %s", acks, err);
    free(acks);
    free(err);
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", g_start - 1, g_start + 10);
    AWS_FAILS(&s, "UnsupportedStreamMediaTypeException", AM, "get-clip", "--stream-name", "vp8",
              "--clip-fragment-selector", sel, "/dev/null");
    fl_test_server_free(&s);
}
END_TEST

/* boto3 get_images over every page: one "t,error-or-format,file" line per
 * sample, then "pages=N". The images are written into dir. */
static const char images_py[] =
    "import base64, json, sys, boto3, datetime\n"
    "from botocore.config import Config\n"
    "url, stream, t0, t1, dir, kw = sys.argv[1], sys.argv[2], float(sys.argv[3]), "
    "float(sys.argv[4]), sys.argv[5], json.loads(sys.argv[6])\n"
    "c = boto3.client('kinesis-video-archived-media', endpoint_url=url, region_name='us-west-2',\n"
    "    aws_access_key_id='AKIDFRAMELOGTEST', aws_secret_access_key='framelog-test-secret',\n"
    "    config=Config(retries={'max_attempts': 1}))\n"
    "args = dict(StreamName=stream, ImageSelectorType='PRODUCER_TIMESTAMP',\n"
    "    StartTimestamp=datetime.datetime.fromtimestamp(t0, datetime.timezone.utc),\n"
    "    EndTimestamp=datetime.datetime.fromtimestamp(t1, datetime.timezone.utc), **kw)\n"
    "pages, i = 0, 0\n"
    "while True:\n"
    "    r = c.get_images(**args)\n"
    "    pages += 1\n"
    "    for im in r['Images']:\n"
    "        t = im['TimeStamp'].timestamp()\n"
    "        if 'ImageContent' in im:\n"
    "            f = '%s/%03d.img' % (dir, i)\n"
    "            open(f, 'wb').write(base64.b64decode(im['ImageContent']))\n"
    "            print('%.3f,image,%s' % (t, f))\n"
    "        else:\n"
    "            print('%.3f,%s,-' % (t, im['Error']))\n"
    "        i += 1\n"
    "    if 'NextToken' not in r: break\n"
    "    args['NextToken'] = r['NextToken']\n"
    "print('pages=%d' % pages)\n";

typedef struct {
    int n, images, no_media, pages;
    double t[64];
    char file[64][300];
} samples_t;

static void get_images(const fl_test_server_t *s, const char *dir, double t0, double t1,
                       const char *kw, samples_t *out)
{
    char py[4300];
    snprintf(py, sizeof py, "%s/images.py", dir);
    ck_assert_int_eq(fl_test_write_file(py, images_py, strlen(images_py)), 0);
    char a0[32], a1[32];
    snprintf(a0, sizeof a0, "%.3f", t0);
    snprintf(a1, sizeof a1, "%.3f", t1);
    char *argv[] = {"python3", py, (char *)s->url, "clip", a0, a1, (char *)dir, (char *)kw, NULL};
    char *o = NULL, *e = NULL;
    int rc = fl_test_run(argv, 120000, &o, &e);
    ck_assert_msg(rc == 0, "boto3 get_images: %s", e);
    memset(out, 0, sizeof *out);
    for (char *line = strtok(o, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "pages=%d", &out->pages) == 1)
            continue;
        ck_assert_int_lt(out->n, 64);
        char kind[32], file[300];
        ck_assert_msg(sscanf(line, "%lf,%31[^,],%299s", &out->t[out->n], kind, file) == 3, "%s",
                      line);
        if (strcmp(kind, "image") == 0) {
            out->images++;
            snprintf(out->file[out->n], sizeof out->file[0], "%s", file);
        } else {
            ck_assert_str_eq(kind, "NO_MEDIA");
            out->no_media++;
        }
        out->n++;
    }
    free(o);
    free(e);
}

/* ffprobe an image file: codec and size. */
static void probe_image(const char *file, const char *codec, int w, int h)
{
    char *argv[] = {
        "ffprobe", "-v",         "error", "-show_entries", "stream=codec_name,width,height", "-of",
        "csv=p=0", (char *)file, NULL};
    char *o = NULL, *e = NULL;
    ck_assert_msg(fl_test_run(argv, 60000, &o, &e) == 0, "ffprobe %s: %s", file, e);
    char c[32];
    int pw = 0, ph = 0;
    ck_assert_msg(sscanf(o, "%31[^,],%d,%d", c, &pw, &ph) == 3, "%s", o);
    ck_assert_str_eq(c, codec);
    ck_assert_int_eq(pw, w);
    ck_assert_int_eq(ph, h);
    free(o);
    free(e);
}

START_TEST(images_at_the_interval_with_pages_and_no_media)
{
    fl_test_server_t s;
    pushed_stream(&s, "clip");
    char *dir = fl_test_mkdtemp("images");
    samples_t sm;
    /* 2 s before the first fragment to 5 s into the stream (boto3 sends
     * whole seconds), every 0.7 s (no sample on a fragment's edge): 3
     * samples without media, then 8 images; 5 a page */
    get_images(&s, dir, g_start - 2, g_start + 5,
               "{\"Format\":\"JPEG\",\"SamplingInterval\":700,\"WidthPixels\":160,"
               "\"HeightPixels\":120,\"MaxResults\":5,\"FormatConfig\":{\"JPEGQuality\":\"90\"}}",
               &sm);
    ck_assert_int_eq(sm.n, 11);
    ck_assert_int_eq(sm.pages, 3);
    for (int i = 0; i < sm.n; i++)
        ck_assert_msg((i < 3) == (sm.file[i][0] == 0), "sample %d (%.3f s from the start): %s", i,
                      sm.t[i] - g_start, sm.file[i][0] ? "an image" : "NO_MEDIA");
    ck_assert_int_eq(sm.no_media, 3);
    ck_assert_int_eq(sm.images, 8);
    for (int i = 0; i < sm.n; i++) {
        double want = g_start - 2 + 0.7 * i;
        ck_assert_msg(sm.t[i] > want - 0.002 && sm.t[i] < want + 0.002, "sample %d at %f, not %f",
                      i, sm.t[i], want);
        if (i < 3)
            ck_assert_str_eq(sm.file[i], "");
        else
            probe_image(sm.file[i], "mjpeg", 160, 120);
    }
    /* the pictures move: two samples 0.5 s apart differ */
    size_t n1, n2;
    char *i1 = fl_test_read_file(sm.file[4], &n1), *i2 = fl_test_read_file(sm.file[5], &n2);
    ck_assert(n1 != n2 || memcmp(i1, i2, n1) != 0);
    free(i1);
    free(i2);

    /* PNG, the height alone (the width keeps 4:3), the default page */
    get_images(&s, dir, g_start + 1, g_start + 5,
               "{\"Format\":\"PNG\",\"SamplingInterval\":1300,\"HeightPixels\":60}", &sm);
    ck_assert_int_eq(sm.n, 4);
    ck_assert_int_eq(sm.pages, 1);
    ck_assert_int_eq(sm.images, 4);
    for (int i = 0; i < sm.n; i++)
        probe_image(sm.file[i], "png", 80, 60);
    /* no size: the source's */
    get_images(&s, dir, g_start + 1, g_start + 1, "{\"Format\":\"PNG\"}", &sm);
    ck_assert_int_eq(sm.images, 1);
    probe_image(sm.file[0], "png", 320, 240);
    fl_test_rmtree(dir);
    fl_test_server_free(&s);
}
END_TEST

START_TEST(images_errors_are_aws_errors)
{
    fl_test_server_t s;
    pushed_stream(&s, "clip");
    char t0[32], t1[32], far[32];
    snprintf(t0, sizeof t0, "%.3f", g_start);
    snprintf(t1, sizeof t1, "%.3f", g_start + 5);
    snprintf(far, sizeof far, "%.3f", g_start + 301);
    const char *AM = "kinesis-video-archived-media";
    /* more than 300 s */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", far, "--format", "JPEG", "--sampling-interval", "1000");
    /* end before start */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t1,
              "--end-timestamp", t0, "--format", "JPEG", "--sampling-interval", "1000");
    /* an interval under 200 ms */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", t1, "--format", "JPEG", "--sampling-interval", "100");
    /* a width without a height */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", t1, "--format", "JPEG", "--sampling-interval", "1000",
              "--width-pixels", "100");
    /* a quality out of range */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", t1, "--format", "JPEG", "--sampling-interval", "1000",
              "--format-config", "JPEGQuality=101");
    /* a NextToken the server did not give */
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", t1, "--format", "JPEG", "--sampling-interval", "1000",
              "--next-token", "QUJDREVGR0g=");
    /* no such stream */
    AWS_FAILS(&s, "ResourceNotFoundException", AM, "get-images", "--stream-name", "nope",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", t1, "--format", "JPEG", "--sampling-interval", "1000");

    /* a real NextToken, then the same token with another interval or
     * another stream's request: refused */
    char *out = NULL;
    AWS_OK(&s, &out, AM, "get-images", "--stream-name", "clip", "--image-selector-type",
           "PRODUCER_TIMESTAMP", "--start-timestamp", t0, "--end-timestamp", t1, "--format", "JPEG",
           "--sampling-interval", "1000", "--max-results", "2", "--no-paginate");
    fl_json_doc_t *d = NULL;
    ck_assert_msg(fl_json_parse(fl_slice_str(out), NULL, &d, NULL) == 0, "%s", out);
    const fl_json_t *nt = fl_json_get(fl_json_root(d), "NextToken");
    ck_assert_msg(nt && nt->type == FL_JSON_STRING, "%s", out);
    const fl_json_t *imgs = fl_json_get(fl_json_root(d), "Images");
    ck_assert_int_eq(imgs->count, 2);
    char *token = strdup(nt->str);
    /* AWS's pattern: standard base64 */
    ck_assert_uint_eq(
        strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
        strlen(token));
    fl_json_free(d);
    free(out);
    AWS_OK(&s, NULL, AM, "get-images", "--stream-name", "clip", "--image-selector-type",
           "PRODUCER_TIMESTAMP", "--start-timestamp", t0, "--end-timestamp", t1, "--format", "JPEG",
           "--sampling-interval", "1000", "--max-results", "2", "--no-paginate", "--next-token",
           token);
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", t1, "--format", "JPEG", "--sampling-interval", "2000",
              "--max-results", "2", "--no-paginate", "--next-token", token);
    /* one letter changed */
    token[10] = token[10] == 'A' ? 'B' : 'A';
    AWS_FAILS(&s, "InvalidArgumentException", AM, "get-images", "--stream-name", "clip",
              "--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", t0,
              "--end-timestamp", t1, "--format", "JPEG", "--sampling-interval", "1000",
              "--max-results", "2", "--no-paginate", "--next-token", token);
    free(token);

    /* CORS on the JSON answer */
    char body[512], url[256], *resp = NULL, *hdrs = NULL;
    snprintf(url, sizeof url, "%s/getImages", s.url);
    ck_assert_int_eq(http_get(url, "OPTIONS", NULL, &hdrs), 204);
    ck_assert_msg(strcasestr(hdrs, "access-control-allow-origin: *") != NULL, "%s", hdrs);
    free(hdrs);
    snprintf(body, sizeof body,
             "{\"StreamName\":\"clip\",\"ImageSelectorType\":\"PRODUCER_TIMESTAMP\","
             "\"StartTimestamp\":%s,\"EndTimestamp\":%s,\"Format\":\"PNG\","
             "\"SamplingInterval\":1000,\"HeightPixels\":30}",
             t0, t1);
    ck_assert_int_eq(post_json(&s, "/getImages", body, &resp), 0);
    ck_assert_msg(strstr(resp, "\"ImageContent\":\"iVBOR") != NULL, "%.200s", resp);
    free(resp);
    fl_test_server_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("playback_clip");
    TCase *c = tcase_create("clip");
    tcase_set_timeout(c, 300);
    tcase_add_test(c, clip_of_a_range_probes_as_mp4_with_its_duration);
    tcase_add_test(c, clip_errors_are_aws_errors);
    suite_add_tcase(s, c);
    TCase *i = tcase_create("images");
    tcase_set_timeout(i, 300);
    tcase_add_test(i, images_at_the_interval_with_pages_and_no_media);
    tcase_add_test(i, images_errors_are_aws_errors);
    suite_add_tcase(s, i);
    return fl_test_main(s);
}
