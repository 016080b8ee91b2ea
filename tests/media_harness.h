/*
 * tests/media_harness.h — what the media end-to-end tests share: a test
 * file made by ffmpeg, streams created over HTTP, PutMedia by curl with its
 * ack stream, and packet-by-packet comparison with ffprobe.
 */
#ifndef FL_TESTS_MEDIA_HARNESS_H
#define FL_TESTS_MEDIA_HARNESS_H

#include "harness.h"

/* The test media folder and its file: 6 s of H.264 320x240 at 30 fps + AAC,
 * a key frame every 2 s (3 fragments). make_media() in each test (Check
 * forks each) copies it into a fresh g_dir from the build tree's one copy
 * (made by the first test that asks, FL_BINARY_DIR/test-media); removed
 * with fl_test_rmtree(g_dir). */
extern char *g_dir;
extern char g_mkv[4200];
void make_media(void);

/* POST a JSON body with curl; its exit code, the response into *out. */
int post_json(const fl_test_server_t *s, const char *path, const char *json, char **out);
/* CreateStream with 24 h retention; fails the test otherwise. */
void create_stream(const fl_test_server_t *s, const char *name);
/* curl a file to /putMedia as a chunked body (RELATIVE timecodes from
 * start_ts); the ack stream into *acks. */
int put_media(const fl_test_server_t *s, const char *stream, const char *file, double start_ts,
              char **acks, char **err);
/* The same curl, started and left running in *p (its acks on its stdout);
 * rate: curl's --limit-rate (a producer paced like a camera), or NULL. */
int put_media_spawn(const fl_test_server_t *s, const char *stream, const char *file,
                    double start_ts, const char *rate, fl_test_proc_t *p);
/* GetMedia from EARLIEST with curl into the file out, until the server
 * ends the stream; fails the test otherwise. */
void get_media_earliest(const fl_test_server_t *s, const char *stream, const char *out);
/* Acks of one EventType in an ack stream. */
int count_acks(const char *acks, const char *type);
/* Every fragment got BUFFERING, RECEIVED, PERSISTED in order, numbers grow,
 * no ERROR. */
void check_ack_order(const char *acks, int fragments);
/* ffprobe's packets as "codec_type,pts,flags" lines (malloc'd). */
char *probe(const char *file);
/* Same packets, pts shifted by exactly shift_ms. */
void same_packets(const char *in, const char *out, long long shift_ms);
/* Occurrences of needle in a file. */
int count_in_file(const char *path, const char *needle);
/* curl url with method (and an Origin header): the status; body and
 * headers into *body / *headers (malloc'd) when not NULL. */
int http_get(const char *url, const char *method, char **body, char **headers);
/* Start a server (fl_test_server_start) with stream `name` holding the
 * test file's 3 fragments, pushed with producer times from g_start, 60 s
 * ago. */
extern double g_start;
void pushed_stream(fl_test_server_t *s, const char *name);

/* ffmpeg: secs of the lavfi source video (with a 440 Hz AAC tone when
 * audio) encoded with the codec arguments (NULL-ended) into the Matroska
 * file out, one Cluster per key frame. */
void make_clip(const char *out, const char *video, const char *secs, int audio,
               const char *const codec[]);
/* The Matroska file pushed to /putMedia at the pace of its timestamps
 * (ffmpeg -re | curl, RELATIVE timecodes from now), started and left
 * running in *p; curl gives up after max_secs. */
void put_media_live(const fl_test_server_t *s, const char *stream, const char *mkv, int max_secs,
                    fl_test_proc_t *p);

/* `aws kinesis-video-archived-media get-hls-streaming-session-url ARGS`
 * (NULL-ended): the URL (malloc'd), or NULL with the CLI's stderr in *err
 * (when err is not NULL). */
char *hls_url(const fl_test_server_t *s, char **args, char **err);
/* The same, which must succeed and name the master playlist. */
char *hls_url_ok(const fl_test_server_t *s, char **args);
/* get-dash-streaming-session-url, with the AWS CLI v2. */
char *dash_url(const fl_test_server_t *s, char **args, char **err);
char *dash_url_ok(const fl_test_server_t *s, char **args);
/* The URL with its path's file name replaced by name and more appended to
 * its query (malloc'd). */
char *url_sibling(const char *url, const char *name, const char *more);
/* "FragmentSelectorType=TYPE,TimestampRange={StartTimestamp=T0,...}" as the
 * CLI takes an HLS, DASH or clip fragment selector. */
void ts_selector(char *buf, size_t cap, const char *type, double t0, double t1);
/* Can the browser tests run: chromium, node, playwright-core (and hls.js
 * when hls) from tests/browser (scripts/deps.sh --test)? */
int have_browser(int hls);

#endif
