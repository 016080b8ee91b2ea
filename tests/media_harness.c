/*
 * tests/media_harness.c — see media_harness.h.
 */
#include "media_harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"

char *g_dir;
char g_mkv[4200];
double g_start;

/* The 6 s test clip is the same for every test: made once per build tree
 * (FL_BINARY_DIR/test-media, renamed into place, so tests running side
 * by side never read half a file) and copied into each test's own
 * folder. Delete the folder to make it again. */
static void make_shared_clip(const char *path)
{
    if (access(path, R_OK) == 0)
        return;
    char dir[4096], tmp[4200];
    snprintf(dir, sizeof dir, "%s/test-media", FL_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(tmp, sizeof tmp, "%s/in.mkv.%d", dir, (int)getpid());
    char *ff[] = {"ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-y",
                  "-f",
                  "lavfi",
                  "-i",
                  "testsrc=size=320x240:rate=30",
                  "-f",
                  "lavfi",
                  "-i",
                  "sine=frequency=440",
                  "-t",
                  "6",
                  "-c:v",
                  "libx264",
                  "-g",
                  "60",
                  "-keyint_min",
                  "60",
                  "-sc_threshold",
                  "0",
                  "-pix_fmt",
                  "yuv420p",
                  "-c:a",
                  "aac",
                  "-cluster_time_limit",
                  "10000",
                  "-f",
                  "matroska",
                  tmp,
                  NULL};
    ck_assert_int_eq(fl_test_run(ff, 120000, NULL, NULL), 0);
    ck_assert_msg(rename(tmp, path) == 0, "rename %s: %s", tmp, strerror(errno));
}

void make_media(void)
{
    if (g_dir)
        return;
    char shared[4200];
    snprintf(shared, sizeof shared, "%s/test-media/in.mkv", FL_BINARY_DIR);
    make_shared_clip(shared);
    g_dir = fl_test_mkdtemp("media");
    snprintf(g_mkv, sizeof g_mkv, "%s/in.mkv", g_dir);
    size_t n = 0;
    char *clip = fl_test_read_file(shared, &n);
    ck_assert_msg(clip && n > 0, "cannot read %s", shared);
    ck_assert_int_eq(fl_test_write_file(g_mkv, clip, n), 0);
    free(clip);
}

int post_json(const fl_test_server_t *s, const char *path, const char *json, char **out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    char *argv[] = {
        "curl",          "-sS",        "--max-time", "60", "-H", "Content-Type: application/json",
        "--data-binary", (char *)json, url,          NULL};
    return fl_test_run(argv, 90000, out, NULL);
}

void create_stream(const fl_test_server_t *s, const char *name)
{
    char body[512], *out = NULL;
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\",\"DataRetentionInHours\":24}", name);
    ck_assert_int_eq(post_json(s, "/createStream", body, &out), 0);
    ck_assert_msg(strstr(out, "StreamARN") != NULL, "%s", out);
    free(out);
}

/* curl a file to /putMedia as a chunked body; the ack stream into *acks. */
int put_media_spawn(const fl_test_server_t *s, const char *stream, const char *file,
                    double start_ts, const char *rate, fl_test_proc_t *p)
{
    char url[256], h_name[300], h_start[100];
    snprintf(url, sizeof url, "%s/putMedia", s->url);
    snprintf(h_name, sizeof h_name, "x-amzn-stream-name: %s", stream);
    snprintf(h_start, sizeof h_start, "x-amzn-producer-start-timestamp: %.3f", start_ts);
    char data[4300];
    snprintf(data, sizeof data, "@%s", file);
    char *argv[32] = {"curl",
                      "-sS",
                      "-N",
                      "--max-time",
                      rate ? "120" : "60",
                      "-H",
                      h_name,
                      "-H",
                      "x-amzn-fragment-timecode-type: RELATIVE",
                      "-H",
                      h_start,
                      "-H",
                      "x-amzn-fragment-acknowledgment-required: 1",
                      "-H",
                      "Transfer-Encoding: chunked",
                      "-H",
                      "Expect: 100-continue",
                      "-H",
                      "Content-Type: application/octet-stream",
                      "--data-binary",
                      data};
    int n = 21;
    if (rate) {
        argv[n++] = "--limit-rate";
        argv[n++] = (char *)rate;
    }
    argv[n++] = url;
    argv[n] = NULL;
    return fl_test_spawn(p, argv, NULL);
}

int put_media(const fl_test_server_t *s, const char *stream, const char *file, double start_ts,
              char **acks, char **err)
{
    fl_test_proc_t p;
    if (acks)
        *acks = NULL;
    if (err)
        *err = NULL;
    if (put_media_spawn(s, stream, file, start_ts, NULL, &p) != 0) {
        fl_test_proc_free(&p);
        return -1;
    }
    int st = fl_test_wait(&p, 90000);
    if (acks)
        *acks = fl_test_proc_stdout(&p);
    if (err)
        *err = fl_test_proc_stderr(&p);
    fl_test_proc_free(&p);
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void get_media_earliest(const fl_test_server_t *s, const char *stream, const char *out)
{
    char url[256], json[512];
    snprintf(url, sizeof url, "%s/getMedia", s->url);
    snprintf(json, sizeof json,
             "{\"StreamName\":\"%s\",\"StartSelector\":{\"StartSelectorType\":\"EARLIEST\"}}",
             stream);
    char *argv[] = {"curl",      "-sS",           "--max-time", "60", "-o",
                    (char *)out, "--data-binary", json,         url,  NULL};
    ck_assert_int_eq(fl_test_run(argv, 90000, NULL, NULL), 0);
}

int count_acks(const char *acks, const char *type)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"EventType\":\"%s\"", type);
    return fl_test_count(acks, needle);
}

/* Every fragment gets BUFFERING, RECEIVED, PERSISTED in that order. */
void check_ack_order(const char *acks, int fragments)
{
    ck_assert_int_eq(count_acks(acks, "BUFFERING"), fragments);
    ck_assert_int_eq(count_acks(acks, "RECEIVED"), fragments);
    ck_assert_int_eq(count_acks(acks, "PERSISTED"), fragments);
    ck_assert_int_eq(count_acks(acks, "ERROR"), 0);
    /* per fragment number: the three events in order */
    const char *p = acks;
    char prev_number[64] = "";
    while ((p = strstr(p, "\"EventType\":\"BUFFERING\"")) != NULL) {
        const char *num = strstr(p, "\"FragmentNumber\":\"");
        ck_assert_ptr_nonnull(num);
        num += strlen("\"FragmentNumber\":\"");
        char number[64];
        size_t n = strcspn(num, "\"");
        ck_assert_uint_lt(n, sizeof number);
        memcpy(number, num, n);
        number[n] = 0;
        /* numbers grow */
        ck_assert(strlen(number) > strlen(prev_number) ||
                  (strlen(number) == strlen(prev_number) && strcmp(number, prev_number) > 0));
        snprintf(prev_number, sizeof prev_number, "%s", number);
        char rec[160], per[160];
        snprintf(rec, sizeof rec, "\"EventType\":\"RECEIVED\",\"FragmentTimecode\"");
        const char *r = strstr(p, rec);
        ck_assert_ptr_nonnull(r);
        snprintf(per, sizeof per, "\"FragmentNumber\":\"%s\"}", number);
        /* the PERSISTED for this number comes after its RECEIVED */
        const char *q = r, *persisted = NULL;
        while ((q = strstr(q, "\"EventType\":\"PERSISTED\"")) != NULL) {
            const char *eol = strchr(q, '\n');
            if (eol && memmem(q, (size_t)(eol - q), per, strlen(per))) {
                persisted = q;
                break;
            }
            q++;
        }
        ck_assert_msg(persisted != NULL, "no PERSISTED after RECEIVED for %s:\n%s", number, acks);
        p++;
    }
}

/* ffprobe packets as "codec_type,pts_time,flags" lines. */
char *probe(const char *file)
{
    char *argv[] = {
        "ffprobe", "-v",         "error", "-show_entries", "packet=codec_type,pts,flags", "-of",
        "csv=p=0", (char *)file, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    return out;
}

/* Same packets: same count, types and key flags, and pts shifted by
 * shift_ms exactly (output is absolute, input relative). */
void same_packets(const char *in, const char *out, long long shift_ms)
{
    int n = 0;
    const char *a = in, *b = out;
    while (*a && *b) {
        char ta[16], tb[16], fa[8], fb[8];
        long long pa, pb;
        ck_assert_int_eq(sscanf(a, "%15[^,],%lld,%7s", ta, &pa, fa), 3);
        ck_assert_int_eq(sscanf(b, "%15[^,],%lld,%7s", tb, &pb, fb), 3);
        ck_assert_str_eq(ta, tb);
        ck_assert_msg(pb - pa == shift_ms, "packet %d: %lld vs %lld (shift %lld)", n, pa, pb,
                      shift_ms);
        ck_assert_int_eq(fa[0] == 'K', fb[0] == 'K');
        a = strchr(a, '\n');
        b = strchr(b, '\n');
        ck_assert((a == NULL) == (b == NULL));
        if (!a)
            break;
        a++;
        b++;
        n++;
    }
    ck_assert_msg(*a == 0 && *b == 0, "packet counts differ");
    ck_assert_int_gt(n, 200); /* 6 s of 30 fps video and audio */
}

int count_in_file(const char *path, const char *needle)
{
    size_t n;
    char *d = fl_test_read_file(path, &n);
    int count = 0;
    for (const char *p = d; p && (p = memmem(p, n - (size_t)(p - d), needle, strlen(needle))); p++)
        count++;
    free(d);
    return count;
}

/* GET url with curl: the status; body and headers into *body / *headers
 * (malloc'd) when not NULL. */
int http_get(const char *url, const char *method, char **body, char **headers)
{
    char *dir = fl_test_mkdtemp("get");
    char bpath[4200], hpath[4200];
    snprintf(bpath, sizeof bpath, "%s/body", dir);
    snprintf(hpath, sizeof hpath, "%s/headers", dir);
    char *argv[] = {"curl", "-sS",          "--max-time", "60",
                    "-X",   (char *)method, "-H",         "Origin: http://player.example",
                    "-o",   bpath,          "-D",         hpath,
                    "-w",   "%{http_code}", (char *)url,  NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 90000, &out, NULL), 0);
    int status = atoi(out);
    free(out);
    if (body) {
        *body = fl_test_read_file(bpath, NULL);
        if (!*body)
            *body = strdup("");
    }
    if (headers)
        *headers = fl_test_read_file(hpath, NULL);
    fl_test_rmtree(dir);
    return status;
}

/* A server with stream `name` holding the test file's 3 fragments, pushed
 * with producer times from 60 s ago. */
void pushed_stream(fl_test_server_t *s, const char *name)
{
    make_media();
    fl_test_server_start(s, NULL, NULL);
    create_stream(s, name);
    g_start = (double)time(NULL) - 60;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(s, name, g_mkv, g_start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);
}

void make_clip(const char *out, const char *video, const char *secs, int audio,
               const char *const codec[])
{
    const char *argv[48] = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                            "-f",     "lavfi",        "-i",        video};
    int n = 9;
    if (audio) {
        const char *a[] = {"-f", "lavfi", "-i", "sine=frequency=440"};
        for (int i = 0; i < 4; i++)
            argv[n++] = a[i];
    }
    argv[n++] = "-t";
    argv[n++] = secs;
    for (int i = 0; codec[i] && n < 36; i++)
        argv[n++] = codec[i];
    if (audio) {
        argv[n++] = "-c:a";
        argv[n++] = "aac";
    }
    const char *tail[] = {"-pix_fmt", "yuv420p", "-cluster_time_limit", "10000", "-f",
                          "matroska", out};
    for (int i = 0; i < 7; i++)
        argv[n++] = tail[i];
    argv[n] = NULL;
    ck_assert_int_eq(fl_test_run((char *const *)argv, 120000, NULL, NULL), 0);
}

void put_media_live(const fl_test_server_t *s, const char *stream, const char *mkv, int max_secs,
                    fl_test_proc_t *p)
{
    /* curl -T - streams stdin as it comes (--data-binary @- would read it
     * all first) */
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -hide_banner -loglevel error -re -i %s -c copy -cluster_time_limit 10000 "
             "-f matroska - | curl -sS -N --max-time %d -H 'x-amzn-stream-name: %s' "
             "-H 'x-amzn-fragment-timecode-type: RELATIVE' "
             "-H 'x-amzn-producer-start-timestamp: %.3f' -H 'Transfer-Encoding: chunked' "
             "-H 'Content-Type: application/octet-stream' -X POST -T - %s/putMedia",
             mkv, max_secs, stream, (double)time(NULL), s->url);
    char *sh[] = {"sh", "-c", cmd, NULL};
    ck_assert_int_eq(fl_test_spawn(p, sh, NULL), 0);
}

/* `BIN kinesis-video-archived-media OP ARGS`: the answer's field. */
static char *session_url(const char *bin, const fl_test_server_t *s, const char *op,
                         const char *field, char **args, char **err)
{
    char *argv[40];
    int n = 0;
    argv[n++] = "kinesis-video-archived-media";
    argv[n++] = (char *)op;
    for (int i = 0; args[i] && n < 38; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out = NULL, *e = NULL;
    int rc = fl_test_aws_bin(bin, s, argv, &out, &e);
    if (err)
        *err = e;
    else
        free(e);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    fl_json_doc_t *d = NULL;
    ck_assert_msg(fl_json_parse(fl_slice_str(out), NULL, &d, NULL) == 0, "%s", out);
    const fl_json_t *u = fl_json_get(fl_json_root(d), field);
    ck_assert_msg(u && u->type == FL_JSON_STRING, "%s", out);
    char *url = strdup(u->str);
    fl_json_free(d);
    free(out);
    return url;
}

char *hls_url(const fl_test_server_t *s, char **args, char **err)
{
    return session_url("aws", s, "get-hls-streaming-session-url", "HLSStreamingSessionURL", args,
                       err);
}

char *hls_url_ok(const fl_test_server_t *s, char **args)
{
    char *err = NULL;
    char *url = hls_url(s, args, &err);
    ck_assert_msg(url != NULL, "get-hls-streaming-session-url failed: %s", err);
    free(err);
    ck_assert_msg(strstr(url, "/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=") != NULL, "%s",
                  url);
    return url;
}

char *dash_url(const fl_test_server_t *s, char **args, char **err)
{
    return session_url("/usr/bin/aws", s, "get-dash-streaming-session-url",
                       "DASHStreamingSessionURL", args, err);
}

char *dash_url_ok(const fl_test_server_t *s, char **args)
{
    char *err = NULL;
    char *url = dash_url(s, args, &err);
    ck_assert_msg(url != NULL, "get-dash-streaming-session-url failed: %s", err);
    free(err);
    ck_assert_msg(strstr(url, "/dash/v1/getDASHManifest.mpd?SessionToken=") != NULL, "%s", url);
    return url;
}

char *url_sibling(const char *url, const char *name, const char *more)
{
    const char *q = strchr(url, '?');
    ck_assert_ptr_nonnull(q);
    const char *slash = q;
    while (slash > url && slash[-1] != '/')
        slash--;
    size_t n = (size_t)(slash - url) + strlen(name) + strlen(q) + strlen(more) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s%s", (int)(slash - url), url, name, q, more);
    return s;
}

void ts_selector(char *buf, size_t cap, const char *type, double t0, double t1)
{
    snprintf(buf, cap,
             "FragmentSelectorType=%s,TimestampRange={StartTimestamp=%.3f,EndTimestamp=%.3f}", type,
             t0, t1);
}

int have_browser(int hls)
{
    return access("/usr/bin/chromium", X_OK) == 0 && fl_test_have("node") &&
           (!hls || access(FL_SOURCE_DIR "/tests/browser/node_modules/hls.js/dist/hls.min.js",
                           R_OK) == 0) &&
           access(FL_SOURCE_DIR "/tests/browser/node_modules/playwright-core", R_OK) == 0;
}
