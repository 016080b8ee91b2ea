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

#endif
