/*
 * tests/test_playback_llhls.c — low-latency HLS and the segment cache
 * against the real framelogd: a producer pushing frame by frame in real
 * time (GStreamer's x264enc and matroskamux streamable, piped to curl's
 * chunked PutMedia), LIVE session URLs from the AWS CLI, and curl and
 * ffprobe as the clients.
 *
 *   - the LIVE fMP4 playlist carries the LL-HLS tags (server control with
 *     blocking reloads, part target, parts, a preload hint) and ffprobe
 *     still plays it; an MPEG_TS session's does not;
 *   - a blocking reload for the hinted part (not there when asked) returns
 *     with that part listed, round after round (counted in
 *     framelog_hls_blocked_reloads_total); requests too far ahead are 400;
 *   - a part fetched from the live tail while its fragment is still
 *     arriving, and the fragment's other parts, concatenate to the segment
 *     storage serves once the fragment is durable (same bytes: the same
 *     frames at the same times);
 *   - N parallel fetches of one segment remux it once
 *     (framelog_hls_remuxes_total), the others answered with its bytes.
 * Every wait counts progress (rounds, playlists) with generous bounds;
 * nothing asserts a duration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "media_harness.h"

/* GET url with curl (binary-safe, unlike the harness's http_get): the status; the body into *body
 * (malloc'd, *len its length) when not NULL. */
static int get_body(const char *url, char **body, size_t *len)
{
    char *dir = fl_test_mkdtemp("get");
    char bpath[4200];
    snprintf(bpath, sizeof bpath, "%s/body", dir);
    char *argv[] = {"curl", "-sS", "--max-time",   "60",        "-o",
                    bpath,  "-w",  "%{http_code}", (char *)url, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 90000, &out, NULL), 0);
    int status = atoi(out);
    free(out);
    if (body) {
        *body = fl_test_read_file(bpath, len);
        if (!*body) {
            *body = strdup("");
            if (len)
                *len = 0;
        }
    }
    fl_test_rmtree(dir);
    return status;
}

static double metric(const fl_test_server_t *s, const char *name)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s->url);
    char *text = NULL;
    ck_assert_int_eq(get_body(url, &text, NULL), 200);
    double v = fl_test_metric(text, name);
    free(text);
    return v;
}

/* A fragment number's sequence (its low 64 bits): the media sequence
 * number of a LIVE playlist's segment. */
static unsigned long long seq_of(const char *number)
{
    unsigned __int128 v = 0;
    for (const char *p = number; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (unsigned)(*p - '0');
    return (unsigned long long)(v & 0xffffffffffffffffULL);
}

/* The playlist's preload hint: its fragment number and part. */
static int hint_of(const char *pl, char *number, size_t cap, int *part)
{
    const char *h = strstr(pl, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"");
    if (!h)
        return -1;
    const char *f = strstr(h, "FragmentNumber=");
    const char *p = strstr(h, "PartNumber=");
    if (!f || !p)
        return -1;
    snprintf(number, cap, "%.*s", (int)strspn(f + 15, "0123456789"), f + 15);
    *part = atoi(p + 11);
    return 0;
}

/* Does the playlist list part k of fragment `number` (an #EXT-X-PART)? */
static int lists_part(const char *pl, const char *number, int k)
{
    char needle[128];
    snprintf(needle, sizeof needle, "#EXT-X-PART:DURATION=");
    char want[128];
    snprintf(want, sizeof want, "FragmentNumber=%s&PartNumber=%d&", number, k);
    for (const char *p = pl; (p = strstr(p, needle)) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *w = strstr(p, want);
        if (w && (!eol || w < eol))
            return 1;
    }
    return 0;
}

static int have_gst(void)
{
    const char *need[] = {"videotestsrc", "x264enc", "h264parse", "matroskamux", NULL};
    for (int i = 0; need[i]; i++) {
        char *args[] = {"gst-inspect-1.0", "--exists", (char *)need[i], NULL};
        if (fl_test_run(args, 60000, NULL, NULL) != 0) {
            fprintf(stderr, "skipped: GStreamer element %s is missing\n", need[i]);
            return 0;
        }
    }
    return 1;
}

/* Push `frames` frames of 320x240 H.264 at 30 fps in real time, frame by
 * frame, key frames every 2 s (one fragment each). */
static void start_producer(const fl_test_server_t *s, const char *stream, int frames,
                           fl_test_proc_t *p)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "gst-launch-1.0 -q videotestsrc is-live=true num-buffers=%d ! "
             "video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc tune=zerolatency key-int-max=60 bitrate=1000 ! h264parse ! "
             "matroskamux streamable=true min-cluster-duration=0 ! fdsink fd=1 | "
             "curl -sS -N --max-time 300 -H 'x-amzn-stream-name: %s' "
             "-H 'x-amzn-fragment-timecode-type: RELATIVE' "
             "-H 'x-amzn-producer-start-timestamp: %.3f' -H 'Transfer-Encoding: chunked' "
             "-H 'Content-Type: application/octet-stream' -X POST -T - %s/putMedia",
             frames, stream, (double)time(NULL), s->url);
    char *sh[] = {"sh", "-c", cmd, NULL};
    ck_assert_int_eq(fl_test_spawn(p, sh, NULL), 0);
}

/* A LIVE session once the stream has a fragment (the session call is
 * refused before). */
static char *live_session(const fl_test_server_t *s, const char *stream, const char *container)
{
    char *args[] = {"--stream-name",
                    (char *)stream,
                    "--playback-mode",
                    "LIVE",
                    "--container-format",
                    (char *)container,
                    NULL};
    char *url = NULL;
    for (int i = 0; i < 200 && !url; i++) { /* a few seconds of fragments at most */
        url = hls_url(s, args, NULL);
        if (!url)
            usleep(250000);
    }
    ck_assert_msg(url != NULL, "no LIVE session");
    return url;
}

/* The LL-HLS scenario on a server started with extra flags. */
static void ll_hls_scenario(char *const extra[])
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    create_stream(&s, "ll");
    fl_test_proc_t prod;
    start_producer(&s, "ll", 3600, &prod); /* 120 s: ended by the test */
    char *url = live_session(&s, "ll", "FRAGMENTED_MP4");
    char *media = url_sibling(url, "getHLSMediaPlaylist.m3u8", "");
    char *pl = NULL;

    /* the LL-HLS playlist: tags, then parts once the tail has some */
    int with_parts = 0;
    for (int i = 0; i < 100 && !with_parts; i++) {
        free(pl);
        ck_assert_int_eq(get_body(media, &pl, NULL), 200);
        with_parts = strstr(pl, "#EXT-X-PART:DURATION=") != NULL;
        if (!with_parts)
            usleep(200000);
    }
    ck_assert_msg(with_parts, "no parts listed: %s", pl);
    ck_assert_msg(strstr(pl, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=") != NULL,
                  "%s", pl);
    ck_assert_msg(strstr(pl, "#EXT-X-PART-INF:PART-TARGET=") != NULL, "%s", pl);
    ck_assert_msg(strstr(pl, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=") != NULL, "%s", pl);
    ck_assert_msg(strstr(pl, ",INDEPENDENT=YES") != NULL, "%s", pl);
    ck_assert_int_eq(fl_test_count(pl, "#EXT-X-ENDLIST"), 0);
    /* every part within the advertised target */
    double target = atof(strstr(pl, "PART-TARGET=") + 12);
    for (const char *p = pl; (p = strstr(p, "#EXT-X-PART:DURATION=")) != NULL; p++)
        ck_assert_msg(atof(p + 21) <= target + 1e-9, "a part longer than %.3f: %.40s", target, p);

    /* blocking reloads: ask for the hinted part, which is not there yet;
     * the answer lists it (or a later segment holds it) */
    double blocked0 = metric(&s, "framelog_hls_blocked_reloads_total");
    double tail0 = metric(&s, "framelog_hls_parts_from_tail_total");
    char f0[64] = "";
    int p0 = -1;
    /* six rounds, and on until a reload did block and a part from the
     * tail was seen. On a loaded machine this client (a curl per request)
     * can be so slow that the hinted part exists before its request
     * arrives, so no reload blocks: after the sixth round every other
     * round asks for the part after the hinted one (still within the
     * server's reach), which the answer lists unless the fragment ended
     * first (then a later fragment's part or the segment is there) */
    for (int round = 0;
         round < 6 || (round < 60 &&
                       (!f0[0] || metric(&s, "framelog_hls_blocked_reloads_total") < blocked0 + 1));
         round++) {
        char number[64];
        int part;
        ck_assert_msg(hint_of(pl, number, sizeof number, &part) == 0, "%s", pl);
        ck_assert_msg(!lists_part(pl, number, part), "the hinted part is listed already");
        if (round >= 6 && round % 2 == 0) {
            char q[160];
            snprintf(q, sizeof q, "&_HLS_msn=%llu&_HLS_part=%d", seq_of(number), part + 1);
            char *ahead = url_sibling(url, "getHLSMediaPlaylist.m3u8", q);
            free(pl);
            ck_assert_int_eq(get_body(ahead, &pl, NULL), 200);
            free(ahead);
            char later[64];
            int lp;
            ck_assert_msg(
                lists_part(pl, number, part + 1) ||
                    (hint_of(pl, later, sizeof later, &lp) == 0 && strcmp(later, number) != 0),
                "round %d: part %d of %s is not in the answer: %s", round, part + 1, number, pl);
            continue;
        }
        char q[160];
        snprintf(q, sizeof q, "&_HLS_msn=%llu&_HLS_part=%d", seq_of(number), part);
        char *blocking = url_sibling(url, "getHLSMediaPlaylist.m3u8", q);
        free(pl);
        ck_assert_int_eq(get_body(blocking, &pl, NULL), 200);
        free(blocking);
        char seg[128];
        snprintf(seg, sizeof seg, "getMP4MediaFragment.mp4?FragmentNumber=%s&SessionToken", number);
        ck_assert_msg(lists_part(pl, number, part) || strstr(pl, seg) != NULL,
                      "round %d: part %d of %s is not in the answer: %s", round, part, number, pl);
        if (lists_part(pl, number, part) && !strstr(pl, seg)) {
            /* a part of a fragment still arriving: from the live tail.
             * The newest such is kept: on a slow machine the rounds go on
             * for many fragments, and a playlist lists the parts of the
             * last few durable fragments only (FL_PB_LL_KEEP) */
            snprintf(f0, sizeof f0, "%s", number);
            p0 = part;
            char q2[160];
            snprintf(q2, sizeof q2, "&FragmentNumber=%s&PartNumber=%d", number, part);
            char *pu = url_sibling(url, "getMP4MediaFragment.mp4", q2);
            char *body = NULL;
            size_t n = 0;
            ck_assert_int_eq(get_body(pu, &body, &n), 200);
            ck_assert_int_gt(n, 100);
            ck_assert_msg(memcmp(body + 4, "moof", 4) == 0, "a part is an fMP4 moof+mdat");
            free(body);
            free(pu);
        }
    }
    ck_assert_msg(metric(&s, "framelog_hls_blocked_reloads_total") >= blocked0 + 1,
                  "no reload blocked");
    ck_assert_msg(f0[0], "no part of a fragment still arriving was listed");
    ck_assert_msg(metric(&s, "framelog_hls_parts_from_tail_total") >= tail0 + 1,
                  "the part did not come from the live tail");

    /* too far ahead (of the live edge the last answer hinted at): 400; a
     * part without a sequence number: 400 */
    char q[160], edge[64];
    int edge_part;
    ck_assert_msg(hint_of(pl, edge, sizeof edge, &edge_part) == 0, "%s", pl);
    snprintf(q, sizeof q, "&_HLS_msn=%llu", seq_of(edge) + 20); /* limit: 2 past the edge */
    char *far = url_sibling(url, "getHLSMediaPlaylist.m3u8", q);
    ck_assert_int_eq(get_body(far, NULL, NULL), 400);
    free(far);
    far = url_sibling(url, "getHLSMediaPlaylist.m3u8", "&_HLS_part=1");
    ck_assert_int_eq(get_body(far, NULL, NULL), 400);
    free(far);

    /* once f0 is durable (a blocking reload for its segment), its parts
     * — one of them made from the tail before — concatenate to the
     * segment storage serves */
    snprintf(q, sizeof q, "&_HLS_msn=%llu", seq_of(f0));
    char *until = url_sibling(url, "getHLSMediaPlaylist.m3u8", q);
    free(pl);
    ck_assert_int_eq(get_body(until, &pl, NULL), 200);
    free(until);
    char seg[128];
    snprintf(seg, sizeof seg, "getMP4MediaFragment.mp4?FragmentNumber=%s&SessionToken", f0);
    ck_assert_msg(strstr(pl, seg) != NULL, "segment %s not listed: %s", f0, pl);
    int parts = 0;
    while (lists_part(pl, f0, parts))
        parts++;
    ck_assert_int_gt(parts, p0);
    size_t cap = 1 << 20, have = 0;
    char *cat = malloc(cap);
    for (int k = 0; k < parts; k++) {
        char q2[160];
        snprintf(q2, sizeof q2, "&FragmentNumber=%s&PartNumber=%d", f0, k);
        char *pu = url_sibling(url, "getMP4MediaFragment.mp4", q2);
        char *body = NULL;
        size_t n = 0;
        ck_assert_int_eq(get_body(pu, &body, &n), 200);
        ck_assert_uint_le(have + n, cap);
        memcpy(cat + have, body, n);
        have += n;
        free(body);
        free(pu);
    }
    char q3[160];
    snprintf(q3, sizeof q3, "&FragmentNumber=%s", f0);
    char *su = url_sibling(url, "getMP4MediaFragment.mp4", q3);
    char *whole = NULL;
    size_t wn = 0;
    ck_assert_int_eq(get_body(su, &whole, &wn), 200);
    ck_assert_msg(wn == have && memcmp(whole, cat, wn) == 0,
                  "%d parts (%zu bytes) differ from the segment (%zu bytes)", parts, have, wn);
    free(whole);
    free(su);
    free(cat);

    /* a player without LL-HLS support plays the same playlist */
    char *pv[] = {"ffprobe",    "-v",
                  "error",      "-select_streams",
                  "v:0",        "-read_intervals",
                  "%+#30",      "-show_entries",
                  "packet=pts", "-of",
                  "csv=p=0",    url,
                  NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(fl_test_run(pv, 120000, &out, &err), 0);
    ck_assert_msg(fl_test_count(out, "\n") == 30, "%s / %s", out, err);
    free(out);
    free(err);

    /* an MPEG_TS session has no parts (they are fMP4) */
    char *ts = live_session(&s, "ll", "MPEG_TS");
    char *tsm = url_sibling(ts, "getHLSMediaPlaylist.m3u8", "");
    free(pl);
    ck_assert_int_eq(get_body(tsm, &pl, NULL), 200);
    ck_assert_int_eq(fl_test_count(pl, "#EXT-X-PART"), 0);
    ck_assert_int_gt(fl_test_count(pl, "#EXTINF:"), 0);
    free(tsm);
    free(ts);
    free(pl);
    free(media);
    free(url);
    fl_test_proc_free(&prod);
    if (extra) /* several loops: some requests met a follower on another loop than the tail's */
        ck_assert_int_gt(metric(&s, "framelog_live_remote_events_total"), 0);
    fl_test_server_free(&s);
}

START_TEST(ll_hls_parts_blocking_reloads_and_the_archive_agree)
{
    if (have_gst())
        ll_hls_scenario(NULL);
}
END_TEST

/* The same with two event loops: every request is a new connection (one
 * curl each), which the kernel spreads over both loops' sockets, so a
 * stream's tail is on one loop and its LL-HLS requests on both. A
 * follower on the other loop starts empty and is told the tail's
 * fragments by posts: until they have come it answers nothing from what
 * it holds (a part there was 404, a blocked reload listed a prefix). */
START_TEST(ll_hls_on_two_loops)
{
    char *extra[] = {"--loops", "2", NULL};
    if (have_gst())
        ll_hls_scenario(extra);
}
END_TEST

START_TEST(parallel_fetches_of_one_segment_remux_it_once)
{
    make_media();
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    create_stream(&s, "sf");
    double start = (double)time(NULL) - 60;
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "sf", g_mkv, start, &acks, &err), 0);
    check_ack_order(acks, 3);
    free(acks);
    free(err);
    char sel[256];
    ts_selector(sel, sizeof sel, "PRODUCER_TIMESTAMP", start - 1, start + 100);
    char *args[] = {"--stream-name",
                    "sf",
                    "--playback-mode",
                    "ON_DEMAND",
                    "--hls-fragment-selector",
                    sel,
                    NULL};
    char *url = hls_url(&s, args, NULL);
    ck_assert_ptr_nonnull(url);
    char *media = url_sibling(url, "getHLSMediaPlaylist.m3u8", "");
    char *pl = NULL;
    ck_assert_int_eq(get_body(media, &pl, NULL), 200);
    const char *line = strstr(pl, "\ngetMP4MediaFragment.mp4?");
    ck_assert_ptr_nonnull(line);
    char rel[2048];
    snprintf(rel, sizeof rel, "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    const char *slash = strrchr(strchr(url, '?') ? url : url, '/');
    char seg[4096];
    snprintf(seg, sizeof seg, "%.*s/%s", (int)(slash - url), url, rel);

    double r0 = metric(&s, "framelog_hls_remuxes_total");
    double j0 = metric(&s, "framelog_hls_cache_joins_total");
    double h0 = metric(&s, "framelog_hls_cache_hits_total");
    enum { N = 16 };
    char *dir = fl_test_mkdtemp("sf");
    char paths[N][4200];
    char *argv[8 + 3 * N + 1];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "--max-time";
    argv[n++] = "120";
    argv[n++] = "-Z"; /* all at once */
    argv[n++] = "--parallel-immediate";
    argv[n++] = "--parallel-max";
    argv[n++] = "16";
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%d", dir, i);
        argv[n++] = "-o";
        argv[n++] = paths[i];
        argv[n++] = seg;
    }
    argv[n] = NULL;
    ck_assert_int_eq(fl_test_run(argv, 180000, NULL, NULL), 0);
    size_t len0 = 0;
    char *first = fl_test_read_file(paths[0], &len0);
    ck_assert_ptr_nonnull(first);
    ck_assert_int_gt(len0, 1000);
    for (int i = 1; i < N; i++) {
        size_t len = 0;
        char *b = fl_test_read_file(paths[i], &len);
        ck_assert_msg(b && len == len0 && memcmp(b, first, len) == 0, "response %d differs", i);
        free(b);
    }
    free(first);
    ck_assert_int_eq(metric(&s, "framelog_hls_remuxes_total"), r0 + 1);
    double joined = metric(&s, "framelog_hls_cache_joins_total") - j0;
    double hits = metric(&s, "framelog_hls_cache_hits_total") - h0;
    ck_assert_int_eq(joined + hits, N - 1);
    fprintf(stderr, "%d fetches: 1 remux, %.0f joined it, %.0f from the cache\n", N, joined, hits);
    ck_assert_int_gt(metric(&s, "framelog_hls_cache_bytes"), 1000);
    fl_test_rmtree(dir);
    free(pl);
    free(media);
    free(url);
    fl_test_server_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("playback_llhls");
    TCase *t = tcase_create("ll_hls");
    tcase_add_test(t, ll_hls_parts_blocking_reloads_and_the_archive_agree);
    suite_add_tcase(s, t);
    t = tcase_create("ll_hls_loops");
    tcase_add_test(t, ll_hls_on_two_loops);
    suite_add_tcase(s, t);
    t = tcase_create("cache");
    tcase_add_test(t, parallel_fetches_of_one_segment_remux_it_once);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    int rc = fl_test_main(suite());
    if (g_dir)
        fl_test_rmtree(g_dir);
    return rc;
}
