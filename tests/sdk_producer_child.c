/*
 * tests/sdk_producer_child.c — a small producer for the kill -9 test of
 * test_sdk_e2e.c: a camera whose SDK keeps its content store in a file.
 *
 *   sdk_producer_child put ENDPOINT STREAM STORE MEDIA
 *       Put the video of MEDIA (an MP4 made by sdk_media_make()), looped,
 *       Annex-B, in real time with absolute timestamps; first print
 *       "base <ms>" (wall-clock ms of the file's time 0), then after every
 *       frame "put <frames taken> <fragments closed in the store>". Runs
 *       until killed (or 60 s, then exits 3).
 *   sdk_producer_child resume ENDPOINT STREAM STORE MEDIA FRAGMENTS
 *       Open the same stream on the same store, put nothing, wait until the
 *       store is empty or FRAGMENTS fragments are acked PERSISTED (20 s at
 *       most), then flp_stream_stop(…, 20000). Exit 0 when stop returned 0.
 *
 * Both use the same 32-byte storage key and a 1 MiB store. Callbacks and
 * stats go to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "framelog/producer.h"
#include "sdk_test_frames.h"

static const uint8_t key[32] = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45,
                                0x67, 0x89, 0xab, 0xcd, 0xef, 0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5,
                                0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_ack(void *ctx, flp_ack_type_t type, int64_t tc, const char *number, int error_id)
{
    (void)ctx;
    fprintf(stderr, "ack %d %lld %s %d\n", (int)type, (long long)tc, number ? number : "",
            error_id);
}

static void on_error(void *ctx, int err, int error_id, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "error %d (%s) %d: %s\n", err, flp_strerror(err), error_id, msg ? msg : "");
}

static void on_dropped(void *ctx, int64_t tc, uint32_t n, const char *why)
{
    (void)ctx;
    fprintf(stderr, "dropped %u from %lld: %s\n", n, (long long)tc, why ? why : "");
}

static void on_connection(void *ctx, flp_conn_state_t state, int err)
{
    (void)ctx;
    fprintf(stderr, "connection %d err %d (%s)\n", (int)state, err, flp_strerror(err));
}

static void print_stats(flp_stream_t *s)
{
    flp_stream_stats_t st;
    if (flp_stream_stats(s, &st) != 0)
        return;
    fprintf(stderr,
            "stats: frames_put %llu fragments %llu persisted %llu dropped %llu connects %llu "
            "resent %llu store %zu/%zu\n",
            (unsigned long long)st.frames_put, (unsigned long long)st.fragments,
            (unsigned long long)st.fragments_persisted, (unsigned long long)st.fragments_dropped,
            (unsigned long long)st.connects, (unsigned long long)st.resent_fragments, st.store_used,
            st.store_size);
}

int main(int argc, char **argv)
{
    if (argc < 6 || (strcmp(argv[1], "put") != 0 && strcmp(argv[1], "resume") != 0) ||
        (strcmp(argv[1], "resume") == 0 && argc < 7)) {
        fprintf(stderr, "usage: %s put|resume ENDPOINT STREAM STORE MEDIA [FRAGMENTS]\n", argv[0]);
        return 2;
    }
    int resume = strcmp(argv[1], "resume") == 0;
    sdk_media_t m;
    if (sdk_media_load(argv[5], &m) != 0)
        return 2;

    int rc = 1;
    flp_client_t *c = NULL;
    flp_stream_t *s = NULL;
    fl_buf_t scratch;
    fl_buf_init(&scratch, 0);
    flp_client_config_t cc;
    memset(&cc, 0, sizeof cc);
    cc.endpoint = argv[2];
    int err = flp_client_new(&cc, &c);
    if (err != 0) {
        fprintf(stderr, "flp_client_new: %s\n", flp_strerror(err));
        goto out;
    }
    flp_track_t t;
    memset(&t, 0, sizeof t);
    t.number = 1;
    t.codec = m.video_codec == 2 ? FLP_CODEC_H265 : FLP_CODEC_H264;
    flp_stream_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = argv[3];
    cfg.tracks = &t;
    cfg.n_tracks = 1;
    cfg.store_size = 1024 * 1024;
    cfg.absolute_timestamps = 1;
    cfg.full_policy = FLP_DROP_OLDEST;
    cfg.storage_path = argv[4];
    cfg.storage_key = key;
    cfg.callbacks.ack = on_ack;
    cfg.callbacks.error = on_error;
    cfg.callbacks.dropped = on_dropped;
    cfg.callbacks.connection = on_connection;
    err = flp_stream_new(c, &cfg, &s);
    if (err != 0) {
        fprintf(stderr, "flp_stream_new: %s\n", flp_strerror(err));
        goto out;
    }

    if (resume) {
        uint64_t want = strtoull(argv[6], NULL, 10);
        long long deadline = mono_ms() + 20000;
        flp_stream_stats_t st;
        while (mono_ms() < deadline && flp_stream_stats(s, &st) == 0 && st.store_used > 0 &&
               st.fragments_persisted < want)
            usleep(50000);
        print_stats(s);
        err = flp_stream_stop(s, 20000);
        print_stats(s);
        printf("stop %d\n", err);
        fflush(stdout);
        rc = err == 0 ? 0 : 1;
        goto out;
    }

    long long base = wall_ms(), t0 = mono_ms();
    printf("base %lld\n", base);
    fflush(stdout);
    for (uint64_t i = 0; mono_ms() < t0 + 60000; i++) {
        int64_t shift;
        const sdk_frame_t *f = sdk_media_loop(&m, i, &shift);
        long long due = t0 + shift + f->dts_ms, now = mono_ms();
        if (due > now)
            usleep((useconds_t)((due - now) * 1000));
        fl_buf_reset(&scratch);
        if (sdk_media_annexb(&m, f, &scratch) != 0)
            goto out;
        flp_frame_t fr = {1,
                          (base + shift + f->pts_ms) * 1000000,
                          (base + shift + f->dts_ms) * 1000000,
                          f->duration_ms * 1000000,
                          f->keyframe,
                          scratch.p,
                          scratch.n};
        err = flp_stream_put_frame(s, &fr);
        if (err != 0) {
            fprintf(stderr, "put_frame %llu: %s\n", (unsigned long long)i, flp_strerror(err));
            goto out;
        }
        flp_stream_stats_t st;
        flp_stream_stats(s, &st);
        printf("put %llu %llu\n", (unsigned long long)(i + 1), (unsigned long long)st.fragments);
        fflush(stdout);
    }
    rc = 3;
out:
    if (s)
        flp_stream_free(s);
    if (c)
        flp_client_free(c);
    fl_buf_free(&scratch);
    sdk_media_free(&m);
    return rc;
}
