/*
 * tests/test_sdk_filestore.c — producer-sdk/filestore.c, the SDK's sealed
 * on-flash content store (docs/sdk-store-format.md): round trips, release
 * and reopen, wrap-around against a model, wrong keys, flipped bytes, torn
 * tails, a full store, headers kept for the fragments that need them, and
 * SIGKILL at random times while appending.
 *
 * Payloads are derived from their timecode, so every replayed record can be
 * checked byte for byte without keeping copies.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filestore.h"
#include "harness.h"
#include <framelog/producer.h>

#define KIB       1024u
#define DATA0     8192u /* start of the data area (format document) */
#define REC_EXTRA 64u   /* record header + tag */

static const uint8_t key_a[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key_b[32] = {99};

/* ---- payloads ---- */

static size_t frag_len(int64_t tc)
{
    return 50 + (size_t)((uint64_t)tc * 7919u % 3000u);
}

static size_t hdr_len(int64_t tc)
{
    return 100 + (size_t)((uint64_t)tc % 200u);
}

/* [0..8) tc, [8..16) the header's tc (fragments), then a stream seeded by tc */
static void fill(uint8_t *p, size_t n, int kind, int64_t tc, int64_t hdr_tc)
{
    uint64_t x = (uint64_t)tc * 0x9E3779B97F4A7C15ull + (uint64_t)kind;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    memcpy(p, &tc, 8);
    if (kind == FLP_REC_FRAGMENT)
        memcpy(p + 8, &hdr_tc, 8);
}

static uint8_t big[64 * KIB];

static int put(flp_filestore_t *fs, int kind, int64_t tc, int64_t hdr_tc)
{
    size_t n = kind == FLP_REC_HEADER ? hdr_len(tc) : frag_len(tc);
    fill(big, n, kind, tc, hdr_tc);
    return flp_filestore_append(fs, kind, tc, big, n);
}

/* ---- replay collection ---- */

typedef struct {
    int kind;
    int64_t tc;
    int64_t hdr_tc; /* fragments: from the payload */
} item_t;

typedef struct {
    item_t it[4096];
    int n;
    int bad; /* records whose bytes are not what fill() makes */
} got_t;

static int collect(void *ctx, int kind, int64_t tc, const uint8_t *p, size_t n)
{
    got_t *g = ctx;
    static uint8_t want[64 * KIB];
    int64_t hdr_tc = 0;
    if (kind == FLP_REC_FRAGMENT && n >= 16)
        memcpy(&hdr_tc, p + 8, 8);
    size_t wn = kind == FLP_REC_HEADER ? hdr_len(tc) : frag_len(tc);
    fill(want, wn, kind, tc, hdr_tc);
    if (n != wn || memcmp(p, want, n) != 0)
        g->bad++;
    if (g->n < 4096)
        g->it[g->n++] = (item_t){kind, tc, hdr_tc};
    return 0;
}

static got_t *replay(flp_filestore_t *fs, unsigned *damaged)
{
    static got_t g;
    memset(&g, 0, sizeof g);
    unsigned d = 0;
    ck_assert_int_eq(flp_filestore_replay(fs, collect, &g, &d), 0);
    ck_assert_int_eq(g.bad, 0);
    if (damaged)
        *damaged = d;
    else
        ck_assert_uint_eq(d, 0);
    return &g;
}

/* "H0 F1000 F2000": what a replay gave, for comparisons */
static char *describe(const got_t *g)
{
    static char s[65536];
    size_t o = 0;
    s[0] = 0;
    for (int i = 0; i < g->n && o < sizeof s - 32; i++)
        o += (size_t)snprintf(s + o, sizeof s - o, "%s%c%lld", i ? " " : "",
                              g->it[i].kind == FLP_REC_HEADER ? 'H' : 'F', (long long)g->it[i].tc);
    return s;
}

/* for records whose bytes are not made by fill(): count and sizes only */
typedef struct {
    int n;
    size_t len[64];
    int64_t tc[64];
} raw_t;

static int collect_raw(void *ctx, int kind, int64_t tc, const uint8_t *p, size_t n)
{
    raw_t *r = ctx;
    (void)kind, (void)p;
    if (r->n < 64)
        r->len[r->n] = n, r->tc[r->n] = tc;
    r->n++;
    return 0;
}

#define ck_replay(fs, want) ck_assert_str_eq(describe(replay((fs), NULL)), (want))

static char *tmpdir;
static char path[4096];

static void setup(void)
{
    tmpdir = fl_test_mkdtemp("sdkfs");
    ck_assert_ptr_nonnull(tmpdir);
    snprintf(path, sizeof path, "%s/store", tmpdir);
}

static void teardown(void)
{
    fl_test_rmtree(tmpdir);
    tmpdir = NULL;
}

static flp_filestore_t *open_ok(size_t cap)
{
    flp_filestore_t *fs = NULL;
    int rc = flp_filestore_open(path, key_a, cap, &fs);
    ck_assert_msg(rc == 0, "open: %d", rc);
    return fs;
}

static flp_filestore_t *reopen(flp_filestore_t *fs)
{
    size_t cap = flp_filestore_capacity(fs);
    flp_filestore_close(fs);
    return open_ok(cap);
}

static off_t file_size(void)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

static void poke(off_t off, uint8_t xor_with)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, off), 1);
    b ^= xor_with;
    ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

/* Offset of the k-th record (0-based) of a fresh file holding H0 then
 * F1000, F2000, ... with nothing released or wrapped. */
static off_t rec_off(int k)
{
    off_t o = DATA0;
    for (int i = 0; i < k; i++)
        o += REC_EXTRA + (i == 0 ? hdr_len(0) : frag_len(i * 1000));
    return o;
}

static flp_filestore_t *make_h_f(size_t cap, int frags)
{
    flp_filestore_t *fs = open_ok(cap);
    ck_assert_int_eq(put(fs, FLP_REC_HEADER, 0, 0), 0);
    for (int i = 1; i <= frags; i++)
        ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, i * 1000, 0), 0);
    return fs;
}

/* ---- basics ---- */

static int stop_cb(void *ctx, int kind, int64_t tc, const uint8_t *p, size_t n)
{
    (void)ctx, (void)kind, (void)tc, (void)p, (void)n;
    return 42;
}

START_TEST(t_roundtrip)
{
    flp_filestore_t *fs = make_h_f(256 * KIB, 5);
    ck_assert_uint_eq(flp_filestore_capacity(fs), 256 * KIB);
    ck_assert_uint_eq(file_size(), 256 * KIB);
    size_t used = flp_filestore_used(fs);
    ck_assert_uint_eq(used, (size_t)(rec_off(6) - DATA0));
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000 F5000");
    fs = reopen(fs);
    ck_assert_uint_eq(flp_filestore_used(fs), used);
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000 F5000");
    /* appends continue after a reopen */
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 6000, 0), 0);
    fs = reopen(fs);
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000 F5000 F6000");
    /* an empty store replays nothing; a zero-length record is fine */
    flp_filestore_close(fs);
    unlink(path);
    fs = open_ok(64 * KIB);
    ck_assert_uint_eq(flp_filestore_used(fs), 0);
    ck_replay(fs, "");
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, -7, NULL, 0), 0);
    fs = reopen(fs);
    raw_t r = {0};
    ck_assert_int_eq(flp_filestore_replay(fs, collect_raw, &r, NULL), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.tc[0], -7);
    ck_assert_uint_eq(r.len[0], 0);
    /* a callback's non-zero return stops the replay with it */
    ck_assert_int_eq(flp_filestore_replay(fs, stop_cb, NULL, NULL), 42);
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_args)
{
    flp_filestore_t *fs = (flp_filestore_t *)1;
    ck_assert_int_eq(flp_filestore_open(path, key_a, 64 * KIB - 1, &fs), FLP_EINVAL);
    ck_assert_ptr_null(fs);
    ck_assert_int_eq(flp_filestore_open(path, key_a, (size_t)5 << 30, &fs), FLP_EINVAL);
    ck_assert_int_eq(flp_filestore_open(NULL, key_a, 64 * KIB, &fs), FLP_EINVAL);
    ck_assert_int_eq(flp_filestore_open(path, NULL, 64 * KIB, &fs), FLP_EINVAL);
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing created */
    fs = open_ok(64 * KIB);
    ck_assert_int_eq(flp_filestore_append(fs, 3, 0, big, 10), FLP_EINVAL);
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 0, NULL, 10), FLP_EINVAL);
    /* a second opener of the same file is refused while the first has it */
    flp_filestore_t *fs2 = NULL;
    ck_assert_int_eq(flp_filestore_open(path, key_a, 64 * KIB, &fs2), -EWOULDBLOCK);
    /* an existing file keeps its own capacity */
    flp_filestore_close(fs);
    fs = open_ok(128 * KIB);
    ck_assert_uint_eq(flp_filestore_capacity(fs), 64 * KIB);
    flp_filestore_close(fs);
    flp_filestore_close(NULL);
}
END_TEST

START_TEST(t_release_reopen)
{
    flp_filestore_t *fs = make_h_f(256 * KIB, 20);
    size_t used = flp_filestore_used(fs);
    ck_assert_int_eq(flp_filestore_release(fs, 10000), 0);
    ck_assert_uint_lt(flp_filestore_used(fs), used);
    const char *want = "H0 F11000 F12000 F13000 F14000 F15000 F16000 F17000 F18000 F19000 "
                       "F20000";
    ck_replay(fs, want);
    fs = reopen(fs);
    ck_replay(fs, want);
    /* releasing below what is held changes nothing */
    ck_assert_int_eq(flp_filestore_release(fs, 500), 0);
    ck_replay(fs, want);
    ck_assert_int_eq(flp_filestore_release(fs, 19999), 0);
    fs = reopen(fs);
    ck_replay(fs, "H0 F20000");
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_wrong_key)
{
    flp_filestore_t *fs = make_h_f(64 * KIB, 3);
    flp_filestore_close(fs);
    fs = (flp_filestore_t *)1;
    ck_assert_int_eq(flp_filestore_open(path, key_b, 64 * KIB, &fs), FLP_ECRYPTO);
    ck_assert_ptr_null(fs);
    fs = open_ok(64 * KIB);
    ck_replay(fs, "H0 F1000 F2000 F3000");
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_superblock_damage)
{
    flp_filestore_t *fs = make_h_f(64 * KIB, 3);
    ck_assert_int_eq(flp_filestore_release(fs, 1000), 0); /* generation 3, slot 1 */
    flp_filestore_close(fs);
    /* the newest copy damaged: the older one is used (one release back) */
    poke(4096 + 40, 0x01);
    fs = open_ok(64 * KIB);
    ck_replay(fs, "H0 F1000 F2000 F3000");
    ck_assert_int_eq(flp_filestore_release(fs, 1000), 0); /* rewrites slot 1 */
    fs = reopen(fs);
    ck_replay(fs, "H0 F2000 F3000");
    flp_filestore_close(fs);
    /* both damaged: refused, and not as a key problem */
    poke(0 + 50, 0x80);
    poke(4096 + 50, 0x80);
    fs = (flp_filestore_t *)1;
    ck_assert_int_eq(flp_filestore_open(path, key_a, 64 * KIB, &fs), FLP_ECORRUPT);
    ck_assert_ptr_null(fs);
}
END_TEST

/* ---- damage ---- */

START_TEST(t_flip_payload)
{
    flp_filestore_t *fs = make_h_f(64 * KIB, 5);
    flp_filestore_close(fs);
    poke(rec_off(3) + 48 + 20, 0x40); /* F3000's ciphertext */
    fs = open_ok(64 * KIB);
    unsigned damaged = 0;
    got_t *g = replay(fs, &damaged);
    ck_assert_uint_eq(damaged, 1);
    ck_assert_str_eq(describe(g), "H0 F1000 F2000 F4000 F5000");
    /* appends continue after it */
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 6000, 0), 0);
    fs = reopen(fs);
    g = replay(fs, &damaged);
    ck_assert_uint_eq(damaged, 1);
    ck_assert_str_eq(describe(g), "H0 F1000 F2000 F4000 F5000 F6000");
    /* releasing over the damaged record frees it */
    ck_assert_int_eq(flp_filestore_release(fs, 4000), 0);
    fs = reopen(fs);
    ck_replay(fs, "H0 F5000 F6000");
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_flip_header_fields)
{
    /* a flipped timecode: the header still chains, the tag fails */
    flp_filestore_t *fs = make_h_f(64 * KIB, 5);
    flp_filestore_close(fs);
    poke(rec_off(2) + 24, 0x01);
    fs = open_ok(64 * KIB);
    unsigned damaged = 0;
    ck_assert_str_eq(describe(replay(fs, &damaged)), "H0 F1000 F3000 F4000 F5000");
    ck_assert_uint_eq(damaged, 1);
    flp_filestore_close(fs);
    /* a flipped length: the chain cannot be followed, the scan stops */
    unlink(path);
    fs = make_h_f(64 * KIB, 5);
    flp_filestore_close(fs);
    poke(rec_off(2) + 8, 0x10);
    fs = open_ok(64 * KIB);
    ck_replay(fs, "H0 F1000");
    /* and what follows is overwritten by new appends */
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 9000, 0), 0);
    fs = reopen(fs);
    ck_replay(fs, "H0 F1000 F9000");
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_flip_everywhere)
{
    /* every single-bit flip anywhere in a small file: no crash, and what is
     * replayed is always intact (collect() checks every byte) */
    flp_filestore_t *fs = make_h_f(64 * KIB, 3);
    ck_assert_int_eq(flp_filestore_release(fs, 1000), 0);
    flp_filestore_close(fs);
    size_t n;
    char *orig = fl_test_read_file(path, &n);
    ck_assert_ptr_nonnull(orig);
    off_t end = rec_off(4) + 8;
    /* every byte of the superblocks' fields and of record headers and tags;
     * every 5th byte of payloads; a sample of the rest */
    for (off_t off = 0; off < end; off += (off < 128 || (off >= 4096 && off < 4096 + 128)) ? 1
                                          : off >= DATA0                                   ? 5
                                                                                           : 97) {
        ck_assert_int_eq(fl_test_write_file(path, orig, n), 0);
        poke(off, (uint8_t)(1u << (off % 8)));
        flp_filestore_t *f2 = NULL;
        int rc = flp_filestore_open(path, key_a, 64 * KIB, &f2);
        if (rc != 0) {
            ck_assert_msg(rc == FLP_ECORRUPT && off < DATA0, "offset %lld: %d", (long long)off, rc);
            continue;
        }
        unsigned damaged;
        replay(f2, &damaged);
        ck_assert_int_eq(put(f2, FLP_REC_FRAGMENT, 50000, 0), 0);
        flp_filestore_close(f2);
    }
    free(orig);
}
END_TEST

START_TEST(t_torn_tail)
{
    flp_filestore_t *fs = make_h_f(64 * KIB, 5);
    flp_filestore_close(fs);
    /* cut in the middle of F5000 */
    ck_assert_int_eq(truncate(path, rec_off(5) + 30), 0);
    fs = open_ok(64 * KIB);
    ck_assert_uint_eq(file_size(), 64 * KIB); /* given its size back */
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000");
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 6000, 0), 0);
    fs = reopen(fs);
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000 F6000");
    flp_filestore_close(fs);

    /* the tail of the last record cut (zeros where its end was) */
    unlink(path);
    fs = make_h_f(64 * KIB, 5);
    flp_filestore_close(fs);
    ck_assert_int_eq(truncate(path, rec_off(6) - 5), 0);
    fs = open_ok(64 * KIB);
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000");
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_garbage_after_tail)
{
    flp_filestore_t *fs = make_h_f(64 * KIB, 5);
    flp_filestore_close(fs);
    /* random bytes after the last record */
    uint8_t junk[2000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, junk, sizeof junk, rec_off(6)), (ssize_t)sizeof junk);
    /* and at the start of the data area, where a wrapped record would be */
    uint8_t hdr[64];
    ck_assert_int_eq(pread(fd, hdr, 64, rec_off(5)), 64);
    close(fd);
    fs = open_ok(64 * KIB);
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000 F5000");
    flp_filestore_close(fs);
    /* a forged next record: F5000's header with the next seq, after it */
    hdr[16] += 1;
    fd = open(path, O_RDWR);
    ck_assert_int_eq(pwrite(fd, hdr, 64, rec_off(6)), 64);
    close(fd);
    fs = open_ok(64 * KIB);
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000 F5000");
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 6000, 0), 0);
    fs = reopen(fs);
    ck_replay(fs, "H0 F1000 F2000 F3000 F4000 F5000 F6000");
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_torn_rewrite_new_iv)
{
    /* a record torn by a crash and written again with the same seq at the
     * same place must not reuse its IV (format: salt at +40, seq at +16) */
    flp_filestore_t *fs = make_h_f(64 * KIB, 5);
    flp_filestore_close(fs);
    int fd = open(path, O_RDONLY);
    uint8_t before[48], after[48];
    ck_assert_int_eq(pread(fd, before, 48, rec_off(5)), 48);
    close(fd);
    ck_assert_int_eq(truncate(path, rec_off(5) + 100), 0);
    fs = open_ok(64 * KIB);
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 5000, 0), 0);
    flp_filestore_close(fs);
    fd = open(path, O_RDONLY);
    ck_assert_int_eq(pread(fd, after, 48, rec_off(5)), 48);
    close(fd);
    ck_assert_mem_eq(before + 16, after + 16, 8);       /* same seq, same place */
    ck_assert(memcmp(before + 40, after + 40, 8) != 0); /* another salt */
}
END_TEST

START_TEST(t_torn_then_wrapped)
{
    /* F1..F5 (10000 bytes each, no header); F5 torn (bad tag) by a crash */
    flp_filestore_t *fs = open_ok(64 * KIB);
    memset(big, 3, sizeof big);
    for (int i = 1; i <= 5; i++)
        ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, i * 1000, big, 10000), 0);
    flp_filestore_close(fs);
    off_t f5 = DATA0 + 4 * 10064;
    poke(f5 + 10063, 0x01);
    fs = open_ok(64 * KIB);
    ck_assert_int_eq(flp_filestore_release(fs, 2000), 0);
    /* the same seq again, too big for the old place: at the data start */
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 5000, big, 17500), 0);
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 6000, big, 100), 0);
    /* a release walking over both places of that seq must take the good one */
    ck_assert_int_eq(flp_filestore_release(fs, 5500), 0);
    ck_assert_uint_eq(flp_filestore_used(fs), 164);
    fs = reopen(fs);
    raw_t r = {0};
    ck_assert_int_eq(flp_filestore_replay(fs, collect_raw, &r, NULL), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.tc[0], 6000);
    flp_filestore_close(fs);
}
END_TEST

/* ---- space ---- */

START_TEST(t_enospc)
{
    flp_filestore_t *fs = open_ok(64 * KIB);
    ck_assert_int_eq(put(fs, FLP_REC_HEADER, 0, 0), 0);
    int n = 0;
    int rc;
    memset(big, 7, 10000);
    while ((rc = flp_filestore_append(fs, FLP_REC_FRAGMENT, 1000 * (n + 1), big, 10000)) == 0)
        n++;
    ck_assert_int_eq(rc, FLP_ENOSPC);
    ck_assert_int_eq(n, 5); /* 56 KiB of data area, 10064-byte records */
    ck_assert_uint_ge(flp_filestore_used(fs), 5 * 10064);
    ck_assert_uint_le(flp_filestore_used(fs), 64 * KIB - 8192);
    /* small ones still fit where a big one does not */
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 6000, 0), 0);
    /* a record larger than the whole data area never fits */
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 1, big, 60000), FLP_ENOSPC);
    /* release frees room; the full store survives reopen */
    fs = reopen(fs);
    raw_t r = {0};
    ck_assert_int_eq(flp_filestore_replay(fs, collect_raw, &r, NULL), 0);
    ck_assert_int_eq(r.n, 7);
    ck_assert_int_eq(flp_filestore_release(fs, 2000), 0);
    /* two 10064-byte records went, with the header's place: two fit again
     * (the header is copied to the tail and pinned) */
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 7000, big, 10000), 0);
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 8000, big, 10000), 0);
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 9000, big, 10000), FLP_ENOSPC);
    fs = reopen(fs);
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(flp_filestore_replay(fs, collect_raw, &r, NULL), 0);
    ck_assert_int_eq(r.n, 7); /* H0 F3000 F4000 F5000 F6000 F7000 F8000 */
    ck_assert_int_eq(r.tc[0], 0);
    ck_assert_uint_eq(r.len[0], hdr_len(0));
    ck_assert_int_eq(r.tc[1], 3000);
    ck_assert_uint_eq(r.len[1], 10000);
    ck_assert_int_eq(r.tc[6], 8000);
    flp_filestore_close(fs);
}
END_TEST

START_TEST(t_full_to_the_byte)
{
    /* H (164 bytes) + fragments that would fill the data area exactly:
     * the last one is refused, so that the header can still be copied when
     * the others are released, and the space really comes back */
    flp_filestore_t *fs = open_ok(64 * KIB);
    ck_assert_int_eq(put(fs, FLP_REC_HEADER, 0, 0), 0);
    size_t each = (64 * KIB - DATA0 - 164) / 5 - REC_EXTRA; /* 11372 */
    memset(big, 9, each);
    int n = 0;
    while (flp_filestore_append(fs, FLP_REC_FRAGMENT, 1000 * (n + 1), big, each) == 0)
        n++;
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(flp_filestore_release(fs, 3000), 0);
    for (int i = 5; i <= 7; i++)
        ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 1000 * i, big, each), 0);
    ck_assert_int_eq(flp_filestore_append(fs, FLP_REC_FRAGMENT, 8000, big, each), FLP_ENOSPC);
    fs = reopen(fs);
    raw_t r = {0};
    ck_assert_int_eq(flp_filestore_replay(fs, collect_raw, &r, NULL), 0);
    ck_assert_int_eq(r.n, 5); /* H0 F4000 F5000 F6000 F7000 */
    ck_assert_int_eq(r.tc[0], 0);
    ck_assert_uint_eq(r.len[0], hdr_len(0));
    ck_assert_int_eq(r.tc[1], 4000);
    ck_assert_int_eq(r.tc[4], 7000);
    flp_filestore_close(fs);
}
END_TEST

/* ---- headers ---- */

START_TEST(t_header_kept)
{
    flp_filestore_t *fs = make_h_f(64 * KIB, 10);
    ck_assert_int_eq(flp_filestore_release(fs, 10000), 0);
    ck_replay(fs, "H0");
    fs = reopen(fs);
    ck_replay(fs, "H0");
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 11000, 0), 0);
    fs = reopen(fs);
    ck_replay(fs, "H0 F11000");
    flp_filestore_close(fs);

    /* two sessions: H1 F1 F2 H2 F3 */
    unlink(path);
    fs = open_ok(64 * KIB);
    ck_assert_int_eq(put(fs, FLP_REC_HEADER, 100, 0), 0);
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 1000, 100), 0);
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 2000, 100), 0);
    ck_assert_int_eq(put(fs, FLP_REC_HEADER, 200, 0), 0);
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 3000, 200), 0);
    ck_assert_int_eq(flp_filestore_release(fs, 1000), 0);
    ck_replay(fs, "H100 F2000 H200 F3000");
    fs = reopen(fs);
    ck_replay(fs, "H100 F2000 H200 F3000");
    ck_assert_int_eq(put(fs, FLP_REC_FRAGMENT, 4000, 200), 0);
    ck_replay(fs, "H100 F2000 H200 F3000 F4000");
    ck_assert_int_eq(flp_filestore_release(fs, 2000), 0);
    ck_replay(fs, "H200 F3000 F4000");
    fs = reopen(fs);
    ck_replay(fs, "H200 F3000 F4000");
    ck_assert_int_eq(flp_filestore_release(fs, 3000), 0);
    fs = reopen(fs);
    ck_replay(fs, "H200 F4000");
    flp_filestore_close(fs);
}
END_TEST

/* A model of what must be held: items in append order and the release
 * point; the expected replay is the header the first held fragment needs
 * (or the newest header when none is held), then every later item. */
typedef struct {
    item_t it[20000];
    int n;
    int64_t released;
} model_t;

static void model_expect(const model_t *m, char *out, size_t cap)
{
    int first = m->n;
    for (int i = 0; i < m->n; i++)
        if (m->it[i].kind == FLP_REC_FRAGMENT && m->it[i].tc > m->released) {
            first = i;
            break;
        }
    int hdr = -1;
    for (int i = 0; i < first; i++)
        if (m->it[i].kind == FLP_REC_HEADER)
            hdr = i;
    size_t o = 0;
    out[0] = 0;
    if (hdr >= 0)
        o += (size_t)snprintf(out + o, cap - o, "H%lld", (long long)m->it[hdr].tc);
    for (int i = first; i < m->n && o < cap - 32; i++) {
        if (m->it[i].kind == FLP_REC_FRAGMENT && m->it[i].tc <= m->released)
            continue;
        o += (size_t)snprintf(out + o, cap - o, "%s%c%lld", o ? " " : "",
                              m->it[i].kind == FLP_REC_HEADER ? 'H' : 'F', (long long)m->it[i].tc);
    }
}

static void wrap_run(size_t cap, unsigned seed, int appends)
{
    static model_t m;
    static char want[65536];
    memset(&m, 0, sizeof m);
    flp_filestore_t *fs = open_ok(cap);
    int64_t tc = 1, hdr_tc = 0;
    int laps_bytes = 0;
    for (int i = 0; i < appends; i++) {
        unsigned r = (unsigned)rand_r(&seed);
        int kind = (i == 0 || r % 400 == 0) ? FLP_REC_HEADER : FLP_REC_FRAGMENT;
        int rc = put(fs, kind, tc, hdr_tc);
        if (rc == FLP_ENOSPC) {
            /* release about half of what is held */
            int64_t lo = 0, hi = 0;
            for (int k = 0; k < m.n; k++)
                if (m.it[k].kind == FLP_REC_FRAGMENT && m.it[k].tc > m.released) {
                    if (!lo)
                        lo = m.it[k].tc;
                    hi = m.it[k].tc;
                }
            ck_assert_msg(lo != 0, "ENOSPC with no fragment held (append %d)", i);
            m.released = lo + (hi - lo) / 2;
            ck_assert_int_eq(flp_filestore_release(fs, m.released), 0);
            rc = put(fs, kind, tc, hdr_tc);
        }
        ck_assert_msg(rc == 0, "append %d: %d", i, rc);
        laps_bytes += (int)(kind == FLP_REC_HEADER ? hdr_len(tc) : frag_len(tc));
        ck_assert_int_lt(m.n, 20000);
        m.it[m.n++] = (item_t){kind, tc, hdr_tc};
        if (kind == FLP_REC_HEADER)
            hdr_tc = tc;
        tc++;
        if (r % 5 == 1) { /* a small release now and then */
            m.released = m.released + 2 < tc ? m.released + 2 : m.released;
            ck_assert_int_eq(flp_filestore_release(fs, m.released), 0);
        }
        if (r % 53 == 0 || i == appends - 1) {
            fs = reopen(fs);
            model_expect(&m, want, sizeof want);
            got_t *g = replay(fs, NULL);
            ck_assert_str_eq(describe(g), want);
            /* every fragment follows the header it was appended under */
            int64_t cur = -1;
            for (int k = 0; k < g->n; k++) {
                if (g->it[k].kind == FLP_REC_HEADER)
                    cur = g->it[k].tc;
                else
                    ck_assert_int_eq(g->it[k].hdr_tc, cur);
            }
        }
    }
    ck_assert_int_gt(laps_bytes, (int)(10 * cap)); /* it went round many times */
    flp_filestore_close(fs);
}

START_TEST(t_wrap_small)
{
    wrap_run(64 * KIB, 12345, 3000);
}
END_TEST

START_TEST(t_wrap_bigger)
{
    wrap_run(200 * KIB + 123, 777, 6000);
}
END_TEST

/* ---- crash ---- */

/* The child: open, continue from start_tc, append forever (a header first
 * and now and then), release when full or at random; report each append
 * ("A tc") and release ("R tc") that returned 0 down the pipe, and each
 * release before it starts ("r tc"): one cut short by the kill may or may
 * not have happened. */
static int say(int wfd, char c, int64_t v)
{
    char line[64];
    int k = snprintf(line, sizeof line, "%c %lld\n", c, (long long)v);
    return write(wfd, line, (size_t)k) == k ? 0 : -1;
}

static void crash_child(int wfd, int64_t tc, unsigned seed, int64_t released)
{
    flp_filestore_t *fs = NULL;
    if (flp_filestore_open(path, key_a, 64 * KIB, &fs) != 0)
        _exit(2);
    int64_t hdr_tc = tc, last = tc;
    int kind = FLP_REC_HEADER; /* the next record, until it is in */
    for (;;) {
        unsigned r = (unsigned)rand_r(&seed);
        int rc = put(fs, kind, tc, hdr_tc);
        if (rc == FLP_ENOSPC) {
            int64_t to = released + (last - released) / 2;
            if (say(wfd, 'r', to) != 0 || flp_filestore_release(fs, to) != 0)
                _exit(3);
            released = to;
            if (say(wfd, 'R', to) != 0)
                _exit(4);
            continue;
        }
        if (rc != 0)
            _exit(5);
        if (say(wfd, kind == FLP_REC_HEADER ? 'H' : 'A', tc) != 0)
            _exit(4);
        if (kind == FLP_REC_HEADER)
            hdr_tc = tc;
        else
            last = tc;
        tc++;
        kind = r % 97 == 0 ? FLP_REC_HEADER : FLP_REC_FRAGMENT;
        if (r % 11 == 0 && last - 3 > released) {
            released = last - 3;
            if (say(wfd, 'r', released) != 0 || flp_filestore_release(fs, released) != 0)
                _exit(3);
            if (say(wfd, 'R', released) != 0)
                _exit(4);
        }
    }
}

/* Appends the child reported in its first n bytes (complete lines only). */
static int count_appends(const char *b, size_t n)
{
    int count = 0;
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (b[i] == '\n') {
            count += b[start] == 'A';
            start = i + 1;
        }
    return count;
}

START_TEST(t_crash_sigkill)
{
    static uint8_t acked[1 << 20]; /* by tc: 1 = fragment reported appended */
    memset(acked, 0, sizeof acked);
    unsigned seed = 4242;
    /* released: every release that returned; maybe: every one started */
    int64_t next_tc = 1, released = 0, maybe = 0;
    int total_replayed = 0, rounds_with_wrap = 0;
    static char buf[1 << 20];
    for (int round = 0; round < 50; round++) {
        int pfd[2];
        ck_assert_int_eq(pipe(pfd), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(pfd[0]);
            crash_child(pfd[1], next_tc, seed + (unsigned)round, maybe);
        }
        close(pfd[1]);
        /* kill after progress, not after time: once the child has reported
         * a drawn number of appends (1..120, so most rounds wrap the 64 KiB
         * file), wherever it then is; a busy machine only slows it down */
        int target = 1 + (int)((unsigned)rand_r(&seed) % 120u);
        size_t n = 0;
        ssize_t k;
        while (count_appends(buf, n) < target &&
               (k = read(pfd[0], buf + n, sizeof buf - 1 - n)) > 0)
            n += (size_t)k;
        kill(pid, SIGKILL);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st), "round %d: child exited %d", round, WEXITSTATUS(st));
        while ((k = read(pfd[0], buf + n, sizeof buf - 1 - n)) > 0)
            n += (size_t)k;
        close(pfd[0]);
        buf[n] = 0;
        /* what the child said it did */
        int64_t max_reported = next_tc - 1;
        int appended = 0;
        for (char *line = buf; *line;) {
            char *nl = strchr(line, '\n');
            if (!nl)
                break; /* a cut line was never completed: never reported */
            *nl = 0;
            long long v = atoll(line + 2);
            ck_assert_int_lt(v, (long long)sizeof acked);
            if (line[0] == 'A')
                acked[v] = 1, appended++;
            if (line[0] == 'R' && v > released)
                released = v;
            if (line[0] == 'r' && v > maybe)
                maybe = v;
            if (v > max_reported)
                max_reported = v;
            line = nl + 1;
        }
        if (appended > 40)
            rounds_with_wrap++;
        /* what the store holds (a copy kept for a post-mortem) */
        if (getenv("FL_FILESTORE_KEEP")) {
            size_t fl;
            char *img = fl_test_read_file(path, &fl);
            fl_test_write_file(getenv("FL_FILESTORE_KEEP"), img, fl);
            free(img);
            fl_test_write_file("/tmp/fs_crash_log.txt", buf, n);
        }
        flp_filestore_t *fs = open_ok(64 * KIB);
        got_t *g = replay(fs, NULL); /* every byte checked, nothing damaged */
        int64_t prev = released, cur_hdr = -1, max_seen = 0;
        int frags = 0;
        for (int i = 0; i < g->n; i++) {
            item_t *it = &g->it[i];
            if (it->tc > max_seen)
                max_seen = it->tc;
            if (it->kind == FLP_REC_HEADER) {
                cur_hdr = it->tc;
                continue;
            }
            ck_assert_msg(it->tc > prev, "round %d: F%lld after %lld (released %lld)", round,
                          (long long)it->tc, (long long)prev, (long long)released);
            ck_assert_msg(it->hdr_tc == cur_hdr, "round %d: F%lld without its header", round,
                          (long long)it->tc);
            /* every acked fragment between the previous replayed one and this */
            for (int64_t t = prev + 1; t < it->tc; t++)
                ck_assert_msg(t <= maybe || !acked[t], "round %d: acked F%lld lost", round,
                              (long long)t);
            prev = it->tc;
            frags++;
        }
        for (int64_t t = prev + 1; t <= max_reported; t++)
            ck_assert_msg(t <= maybe || !acked[t], "round %d: acked F%lld lost at the tail", round,
                          (long long)t);
        total_replayed += frags;
        flp_filestore_close(fs);
        next_tc = (max_seen > max_reported ? max_seen : max_reported) + 1;
    }
    ck_assert_int_gt(total_replayed, 50);
    ck_assert_int_gt(rounds_with_wrap, 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sdk_filestore");
    TCase *tc = tcase_create("basics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, t_roundtrip);
    tcase_add_test(tc, t_args);
    tcase_add_test(tc, t_release_reopen);
    tcase_add_test(tc, t_wrong_key);
    tcase_add_test(tc, t_superblock_damage);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, t_flip_payload);
    tcase_add_test(tc, t_flip_header_fields);
    tcase_add_test(tc, t_flip_everywhere);
    tcase_add_test(tc, t_torn_tail);
    tcase_add_test(tc, t_garbage_after_tail);
    tcase_add_test(tc, t_torn_rewrite_new_iv);
    tcase_add_test(tc, t_torn_then_wrapped);
    suite_add_tcase(s, tc);

    tc = tcase_create("space");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, t_enospc);
    tcase_add_test(tc, t_full_to_the_byte);
    tcase_add_test(tc, t_header_kept);
    tcase_add_test(tc, t_wrap_small);
    tcase_add_test(tc, t_wrap_bigger);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, t_crash_sigkill);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
