/*
 * bench/bench_media_mkv.c — Matroska parser throughput on a large real
 * file, beside memcpy of the same bytes in the same run.
 *
 *   bench_media_mkv [FILE.mkv]
 *
 * Without a file it makes one with ffmpeg (2 minutes of 480p noise at a
 * camera's 8 Mbit/s, so ~33 KB video frames, libx264 + AAC, one cluster per
 * 2 s GOP, ~120 MB) in a temporary folder. The file is read into memory once; then, best of 5
 * rounds each:
 * - memcpy of the whole file into another buffer (the physical reference);
 * - the parser fed the whole buffer in one call;
 * - the parser fed 64 KiB pieces (as network reads arrive), which makes
 *   blocks that straddle pieces go through the parser's block buffer.
 * Every frame event touches its first and last byte so that the work is
 * not optimised away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "media/mkv_parser.h"

typedef struct {
    uint64_t frames, keys, bytes, sum;
} count_t;

static int cb(void *data, const fl_mkv_event_t *ev)
{
    count_t *c = data;
    if (ev->type == FL_MKV_EV_FRAME) {
        c->frames++;
        c->keys += ev->u.frame.keyframe;
        c->bytes += ev->u.frame.data.n;
        if (ev->u.frame.data.n)
            c->sum += ev->u.frame.data.p[0] + ev->u.frame.data.p[ev->u.frame.data.n - 1];
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse(const uint8_t *p, size_t n, size_t piece, count_t *c)
{
    fl_mkv_parser_t *ps;
    int rc = fl_mkv_parser_new(NULL, cb, c, &ps);
    if (rc)
        return rc;
    for (size_t off = 0; off < n && rc == 0; off += piece)
        rc = fl_mkv_parser_feed(ps, p + off, n - off < piece ? n - off : piece);
    if (rc == 0)
        rc = fl_mkv_parser_finish(ps);
    fl_mkv_parser_free(ps);
    return rc;
}

int main(int argc, char **argv)
{
    char path[512], dir[] = "/tmp/fl-bench-mkv-XXXXXX";
    int made = 0;
    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        if (!mkdtemp(dir))
            return 1;
        snprintf(path, sizeof path, "%s/big.mkv", dir);
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -nostdin -v error -y -f lavfi -i "
                 "testsrc2=size=854x480:rate=30,noise=alls=20:allf=t -f lavfi -i "
                 "sine=sample_rate=48000 -t 120 -c:v libx264 -preset ultrafast -b:v 8M "
                 "-maxrate 8M -bufsize 8M -g 60 "
                 "-c:a aac -cluster_time_limit 10000 -f matroska %s",
                 path);
        fprintf(stderr, "bench: making a test file with ffmpeg...\n");
        if (system(cmd) != 0) {
            fprintf(stderr, "bench: ffmpeg failed\n");
            return 1;
        }
        made = 1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *src = malloc(n), *dst = malloc(n);
    if (!src || !dst || fread(src, 1, n, f) != n) {
        fprintf(stderr, "bench: cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    memset(dst, 0, n); /* fault the pages in before timing memcpy */

    double best_cpy = 1e9, best_whole = 1e9, best_piece = 1e9;
    count_t c = {0};
    for (int round = 0; round < 5; round++) {
        double t0 = now_s();
        memcpy(dst, src, n);
        double t1 = now_s();
        if (dst[n / 2] != src[n / 2])
            return 1;
        memset(&c, 0, sizeof c);
        int rc = parse(src, n, n, &c);
        double t2 = now_s();
        if (rc) {
            fprintf(stderr, "bench: parse failed: %s\n", fl_strerror(rc));
            return 1;
        }
        count_t c2 = {0};
        rc = parse(src, n, 65536, &c2);
        double t3 = now_s();
        if (rc || c2.frames != c.frames || c2.sum != c.sum) {
            fprintf(stderr, "bench: 64 KiB feeding differs\n");
            return 1;
        }
        best_cpy = t1 - t0 < best_cpy ? t1 - t0 : best_cpy;
        best_whole = t2 - t1 < best_whole ? t2 - t1 : best_whole;
        best_piece = t3 - t2 < best_piece ? t3 - t2 : best_piece;
    }
    double mb = (double)n / 1e6;
    printf("file: %s, %.1f MB, %llu frames (%llu key), %.0f bytes/frame\n", path, mb,
           (unsigned long long)c.frames, (unsigned long long)c.keys,
           (double)c.bytes / (double)(c.frames ? c.frames : 1));
    printf("memcpy:                 %9.0f MB/s\n", mb / best_cpy);
    printf("parser, one feed:       %9.0f MB/s  (%.2f x memcpy; frames handed out in place)\n",
           mb / best_whole, best_cpy / best_whole);
    printf("parser, 64 KiB feeds:   %9.0f MB/s  (%.2f x memcpy)\n", mb / best_piece,
           best_cpy / best_piece);
    printf("target: >= 1000 MB/s: %s\n", mb / best_piece >= 1000 ? "met" : "NOT met");
    free(src);
    free(dst);
    if (made) {
        unlink(path);
        rmdir(dir);
    }
    return 0;
}
