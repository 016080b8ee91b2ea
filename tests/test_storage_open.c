/*
 * tests/test_storage_open.c — open does not grow with data: a sealed
 * segment costs open its summary, never its index entries; those are
 * loaded when a read first needs the segment, through a bounded cache.
 *
 * Stores are built with many sealed segments of small chunks in 4 shards
 * and one fixed active segment (the store is reopened with a tiny segment
 * size and one batch is appended: that seals the last big segment and
 * leaves the same tail whatever came before). Open goes through an I/O
 * table that counts the bytes read from each file. What must hold:
 *   - open reads the same bytes per sealed segment, and the same from the
 *     active one, when every sealed segment holds twice the chunks (twice
 *     the data, same segment count), and no more than header + summary;
 *   - open loads no sealed entries (index_loads = 0, index_entries_read =
 *     the active segment's entries);
 *   - afterwards reads by sequence number, server time and producer time
 *     ("first record in sequence order with producer ts >= ts") return
 *     byte-identical records, also with a cache of one segment;
 *   - a damaged entry in a sealed index is not noticed at open; the first
 *     read of that segment rebuilds the index from the segment (logged with
 *     file and offset) and returns the records; the next open is clean;
 *   - a sealed index without its summary (version 1, cut footer) is
 *     rebuilt at open, once.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/error.h"
#include "harness.h"
#include "storage/log.h"

#define SHARDS    4
#define CHUNK_MAX 1024
#define TAIL_RECS 8

/* ---- an I/O table that counts bytes read per file ---- */

#define MAX_FD 1024

typedef struct {
    char *path[MAX_FD];
    char *names[4096]; /* files read, and bytes from each */
    uint64_t bytes[4096];
    size_t n;
} counter_t;

static const fl_store_io_t *real;

static int cnt_open(void *ctx, const char *path, int flags, mode_t mode)
{
    counter_t *c = ctx;
    int fd = real->open(real->ctx, path, flags, mode);
    if (fd >= 0 && fd < MAX_FD) {
        free(c->path[fd]);
        c->path[fd] = strdup(path);
    }
    return fd;
}

static ssize_t cnt_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
    counter_t *c = ctx;
    ssize_t r = real->pread(real->ctx, fd, buf, n, off);
    if (r > 0 && fd >= 0 && fd < MAX_FD && c->path[fd]) {
        const char *base = strrchr(c->path[fd], '/');
        base = base ? base + 1 : c->path[fd];
        size_t i;
        for (i = 0; i < c->n; i++)
            if (strcmp(c->names[i], base) == 0)
                break;
        if (i == c->n && c->n < 4096)
            c->names[c->n++] = strdup(base);
        if (i < c->n)
            c->bytes[i] += (uint64_t)r;
    }
    return r;
}

static void counter_reset(counter_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    for (int i = 0; i < MAX_FD; i++) {
        free(c->path[i]);
        c->path[i] = NULL;
    }
    c->n = 0;
}

static fl_store_io_t counting_io(counter_t *c)
{
    real = fl_store_io_default();
    fl_store_io_t io = *real;
    io.open = cnt_open;
    io.pread = cnt_pread;
    io.ctx = c;
    return io;
}

/* ---- records ---- */

typedef struct {
    uint32_t shard;
    uint64_t seq;
    int64_t sts, pts;
    uint64_t id;
} rec_t;

typedef struct {
    rec_t *v;
    size_t n;
} recs_t;

static size_t len_of(uint64_t id)
{
    return 200 + (size_t)((id * 7919) % 300);
}

static void fill(uint64_t id, uint8_t *p, size_t n)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ull + 11;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    memcpy(p, &id, 8);
}

static void append(fl_store_t *s, fl_log_t *log, recs_t *rs, uint64_t id)
{
    uint8_t buf[600];
    size_t n = len_of(id);
    fill(id, buf, n);
    rec_t *r = &rs->v[rs->n++];
    r->id = id;
    r->shard = (uint32_t)(id % SHARDS);
    r->sts = (int64_t)id * 1000;
    r->pts = (int64_t)((id * 37) % 101) * 1000; /* producer times jump back and forth */
    fl_log_record_t rec = {0};
    rec.server_ts_ns = r->sts;
    rec.producer_ts_ns = r->pts;
    rec.payload = fl_slice(buf, n);
    ck_assert_int_eq(fl_log_append(log, r->shard, &rec, NULL, &r->seq), 0);
    (void)s;
}

/* A store of about `segs` sealed segments of seg_max bytes, then
 * TAIL_RECS records, one batch each, so that every batch rolls and the
 * active segment holds exactly the last record, whatever the timing (one
 * batch of all of them was split by the writer differently under ASan). */
static char *build(uint64_t seg_max, int segs, recs_t *rs)
{
    char *dir = fl_test_mkdtemp("st-open");
    fl_store_opts_t o = {.dir = dir, .chunk_max_bytes = CHUNK_MAX, .segment_max_bytes = seg_max};
    fl_store_t *s;
    fl_log_t *log;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    fl_log_opts_t lo = {.shard_count = SHARDS};
    ck_assert_int_eq(fl_log_create(s, "o", &lo, &log), 0);
    size_t want = (size_t)(seg_max * (uint64_t)segs / 400);
    rs->v = calloc(want + TAIL_RECS + 16, sizeof *rs->v);
    rs->n = 0;
    for (size_t i = 0; i < want; i++) {
        append(s, log, rs, i + 1);
        if (i % 8 == 7) /* small batches: many chunks, a roll on time */
            fl_store_sync(s);
    }
    fl_store_sync(s);
    fl_store_close(s);
    /* every batch now rolls: the first one seals the last big segment */
    o.segment_max_bytes = 1;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    ck_assert_int_eq(fl_log_open(s, "o", &log), 0);
    for (int i = 0; i < TAIL_RECS; i++) {
        append(s, log, rs, want + 1 + (uint64_t)i);
        fl_store_sync(s);
    }
    fl_store_close(s);
    return dir;
}

typedef struct {
    uint64_t sealed_bytes;     /* read from sealed segments' files */
    uint64_t seg_max, idx_max; /* most read from one sealed .seg / .idx */
    uint64_t tail_bytes;       /* read from the active segment's files */
    int nsealed;
    uint64_t entries_read;
    uint64_t loads;
} open_cost_t;

static int is_seg_file(const char *name, uint64_t *segno)
{
    size_t n = strlen(name);
    if (n != 24 || (strcmp(name + 20, ".seg") != 0 && strcmp(name + 20, ".idx") != 0))
        return 0;
    *segno = strtoull(name, NULL, 10);
    return 1;
}

static open_cost_t measure_open(const char *dir)
{
    counter_t *c = calloc(1, sizeof *c);
    fl_store_io_t io = counting_io(c);
    fl_store_opts_t o = {.dir = dir, .io = &io};
    fl_store_t *s;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    fl_store_stats_t st;
    fl_store_stats(s, &st);
    open_cost_t oc = {0};
    oc.entries_read = st.index_entries_read;
    oc.loads = st.index_loads;
    ck_assert_uint_eq(st.index_rebuilds, 0);
    uint64_t last = 0, segno;
    for (size_t i = 0; i < c->n; i++)
        if (is_seg_file(c->names[i], &segno) && segno > last)
            last = segno;
    for (size_t i = 0; i < c->n; i++) {
        if (getenv("FL_TEST_VERBOSE"))
            printf("  %s: %llu bytes\n", c->names[i], (unsigned long long)c->bytes[i]);
        if (!is_seg_file(c->names[i], &segno))
            continue;
        if (segno == last) {
            oc.tail_bytes += c->bytes[i];
        } else {
            int seg = strstr(c->names[i], ".seg") != NULL;
            uint64_t *mx = seg ? &oc.seg_max : &oc.idx_max;
            oc.sealed_bytes += c->bytes[i];
            oc.nsealed += seg;
            if (c->bytes[i] > *mx)
                *mx = c->bytes[i];
        }
    }
    fl_store_close(s);
    counter_reset(c);
    free(c);
    return oc;
}

/* Every record by sequence number (one at a time, and in long reads), by
 * server time and by producer time. */
static void read_all(fl_log_t *log, const recs_t *rs)
{
    uint8_t want[600];
    fl_log_batch_t b = {0};
    for (size_t i = 0; i < rs->n; i += 3) {
        const rec_t *r = &rs->v[i];
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, r->seq, 0, 0, 1};
        ck_assert_int_eq(fl_log_read(log, r->shard, &ro, &b), 0);
        ck_assert_uint_eq(b.records[0].seq, r->seq);
        size_t n = len_of(r->id);
        fill(r->id, want, n);
        ck_assert_uint_eq(b.records[0].payload.n, n);
        ck_assert(memcmp(b.records[0].payload.p, want, n) == 0);
        ck_assert_int_eq(b.records[0].server_ts_ns, r->sts);
        ck_assert_int_eq(b.records[0].producer_ts_ns, r->pts);

        ro.from = FL_LOG_AT_SERVER_TS;
        ro.ts_ns = r->sts;
        ck_assert_int_eq(fl_log_read(log, r->shard, &ro, &b), 0);
        ck_assert_uint_eq(b.records[0].seq, r->seq);
    }
    /* producer time: the first record in sequence order with pts >= ts */
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        for (int64_t ts = 0; ts <= 101000; ts += 7000) {
            const rec_t *expect = NULL;
            for (size_t i = 0; i < rs->n && !expect; i++)
                if (rs->v[i].shard == sh && rs->v[i].pts >= ts)
                    expect = &rs->v[i];
            fl_log_read_opts_t ro = {FL_LOG_AT_PRODUCER_TS, 0, ts, 0, 1};
            int rc = fl_log_read(log, sh, &ro, &b);
            if (!expect) {
                ck_assert_int_eq(rc, FL_EAGAIN);
                continue;
            }
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(b.records[0].seq, expect->seq);
        }
    }
    /* long reads walk across segments */
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        size_t next = 0;
        uint64_t seq = 0;
        for (;;) {
            fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq, 0, 64 * 1024, 0};
            int rc = fl_log_read(log, sh, &ro, &b);
            if (rc == FL_EAGAIN)
                break;
            ck_assert_int_eq(rc, 0);
            for (size_t k = 0; k < b.count; k++) {
                while (next < rs->n && rs->v[next].shard != sh)
                    next++;
                ck_assert_uint_lt(next, rs->n);
                ck_assert_uint_eq(b.records[k].seq, rs->v[next].seq);
                size_t n = len_of(rs->v[next].id);
                fill(rs->v[next].id, want, n);
                ck_assert(b.records[k].payload.n == n &&
                          memcmp(b.records[k].payload.p, want, n) == 0);
                next++;
            }
            seq = b.next_seq;
        }
        while (next < rs->n && rs->v[next].shard != sh)
            next++;
        ck_assert_uint_eq(next, rs->n);
    }
    fl_log_batch_free(&b);
}

START_TEST(open_reads_no_sealed_entries)
{
    recs_t small, big;
    char *d1 = build(24 * 1024, 8, &small);
    char *d2 = build(48 * 1024, 8, &big);
    open_cost_t a = measure_open(d1), b = measure_open(d2);
    if (getenv("FL_TEST_VERBOSE"))
        printf("open: D: %d sealed segments, %llu bytes read from them, %llu from the active "
               "one, %llu entries | 2D: %d, %llu, %llu, %llu\n",
               a.nsealed, (unsigned long long)a.sealed_bytes, (unsigned long long)a.tail_bytes,
               (unsigned long long)a.entries_read, b.nsealed, (unsigned long long)b.sealed_bytes,
               (unsigned long long)b.tail_bytes, (unsigned long long)b.entries_read);
    ck_assert_int_ge(a.nsealed, 6);
    ck_assert_int_ge(b.nsealed, 6);
    /* per sealed segment: its header, and its index's header, footer and
     * one summary record per shard present, whatever the chunks */
    ck_assert_uint_eq(a.seg_max, 32);
    ck_assert_uint_eq(b.seg_max, 32);
    ck_assert_uint_eq(a.idx_max, 32 + 48 + 64 * SHARDS);
    ck_assert_uint_eq(b.idx_max, 32 + 48 + 64 * SHARDS);
    ck_assert_uint_le(a.sealed_bytes, (uint64_t)a.nsealed * (32 + 32 + 48 + 64 * SHARDS));
    ck_assert_uint_le(b.sealed_bytes, (uint64_t)b.nsealed * (32 + 32 + 48 + 64 * SHARDS));
    ck_assert_uint_eq(a.tail_bytes, b.tail_bytes);
    ck_assert_uint_eq(a.entries_read, b.entries_read);
    ck_assert_uint_le(a.entries_read, TAIL_RECS);
    ck_assert_uint_eq(a.loads, 0);
    ck_assert_uint_eq(b.loads, 0);

    /* reads afterwards: byte-identical, entries loaded on demand */
    fl_store_opts_t o = {.dir = d2};
    fl_store_t *s;
    fl_log_t *log;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    ck_assert_int_eq(fl_log_open(s, "o", &log), 0);
    read_all(log, &big);
    fl_store_stats_t st;
    fl_store_stats(s, &st);
    ck_assert_uint_ge(st.index_loads, (uint64_t)b.nsealed);
    ck_assert_uint_eq(st.index_rebuilds, 0);
    fl_store_close(s);

    /* with a cache of one segment, the same answers */
    o.index_cache_segments = 1;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    ck_assert_int_eq(fl_log_open(s, "o", &log), 0);
    read_all(log, &big);
    fl_store_stats(s, &st);
    ck_assert_uint_gt(st.index_loads, 3 * (uint64_t)b.nsealed);
    fl_store_close(s);

    free(small.v);
    free(big.v);
    fl_test_rmtree(d1);
    fl_test_rmtree(d2);
}
END_TEST

/* stderr of fn(arg) while it runs, at level WARN. */
static char *capture_stderr(const char *dir, void (*fn)(void *), void *arg)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    int ef = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(ef, 2);
    close(ef);
    fl_diag_set_level(FL_DIAG_WARN);
    fn(arg);
    fl_diag_set_level(FL_DIAG_OFF);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t len;
    char *text = fl_test_read_file(path, &len);
    unlink(path);
    ck_assert_ptr_nonnull(text);
    return text;
}

typedef struct {
    const char *dir;
    fl_store_t *s;
    fl_log_t *log;
    const rec_t *rec;
    int rc;
} damage_ctx_t;

static void do_open(void *arg)
{
    damage_ctx_t *d = arg;
    fl_store_opts_t o = {.dir = d->dir};
    ck_assert_int_eq(fl_store_open(&o, &d->s), 0);
    ck_assert_int_eq(fl_log_open(d->s, "o", &d->log), 0);
}

static void do_read(void *arg)
{
    damage_ctx_t *d = arg;
    uint8_t want[600];
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, d->rec->seq, 0, 0, 1};
    d->rc = fl_log_read(d->log, d->rec->shard, &ro, &b);
    if (d->rc == 0) {
        size_t n = len_of(d->rec->id);
        fill(d->rec->id, want, n);
        ck_assert_uint_eq(b.records[0].seq, d->rec->seq);
        ck_assert(b.records[0].payload.n == n && memcmp(b.records[0].payload.p, want, n) == 0);
    }
    fl_log_batch_free(&b);
}

static char *idx_path(const char *dir, uint64_t segno)
{
    char *p = malloc(1200);
    snprintf(p, 1200, "%s/logs/1/%020llu.idx", dir, (unsigned long long)segno);
    return p;
}

START_TEST(damaged_sealed_index_is_rebuilt_on_first_read)
{
    recs_t rs;
    char *dir = build(16 * 1024, 6, &rs);
    /* segment 2 is sealed; flip a byte inside its 5th entry */
    char *ip = idx_path(dir, 2);
    int fd = open(ip, O_RDWR);
    ck_assert_int_ge(fd, 0);
    off_t off = 32 + 4 * 72 + 20;
    uint8_t byte;
    ck_assert_int_eq(pread(fd, &byte, 1, off), 1);
    byte ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &byte, 1, off), 1);
    close(fd);

    damage_ctx_t d = {.dir = dir};
    char *text = capture_stderr(dir, do_open, &d);
    ck_assert_msg(strstr(text, "00000000000000000002.idx") == NULL, "open noticed: %s", text);
    free(text);
    fl_store_stats_t st;
    fl_store_stats(d.s, &st);
    ck_assert_uint_eq(st.index_rebuilds, 0);
    ck_assert_uint_eq(st.index_loads, 0);

    /* the first read of segment 2: the record the damaged entry pointed at
     * is in there, so read every record to be sure to meet it */
    int checked = 0;
    for (size_t i = 0; i < rs.n; i++) {
        d.rec = &rs.v[i];
        if (checked == 0) {
            text = capture_stderr(dir, do_read, &d);
            fl_store_stats(d.s, &st);
            if (st.index_rebuilds || st.index_loads) {
                if (st.index_rebuilds == 0) { /* segment 1 first: not it */
                    free(text);
                    ck_assert_int_eq(d.rc, 0);
                    continue;
                }
                ck_assert_msg(strstr(text, "00000000000000000002.idx") &&
                                  strstr(text, "offset 320"),
                              "log was: %s", text);
                checked = 1;
            }
            free(text);
        } else {
            do_read(&d);
        }
        ck_assert_int_eq(d.rc, 0);
    }
    ck_assert_int_eq(checked, 1);
    fl_store_stats(d.s, &st);
    ck_assert_uint_eq(st.index_rebuilds, 1);
    fl_store_close(d.s);

    /* the index was rewritten: the next open and reads are clean */
    do_open(&d);
    read_all(d.log, &rs);
    fl_store_stats(d.s, &st);
    ck_assert_uint_eq(st.index_rebuilds, 0);
    fl_store_close(d.s);
    free(ip);
    free(rs.v);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(sealed_index_without_summary_is_rebuilt_at_open)
{
    recs_t rs;
    char *dir = build(16 * 1024, 4, &rs);
    char *ip = idx_path(dir, 1);
    struct stat st0;
    ck_assert_int_eq(stat(ip, &st0), 0);
    /* cut the footer, and make segment 2's index a version 1 file (its
     * entries only, header version 1 with its CRC) */
    ck_assert_int_eq(truncate(ip, st0.st_size - 10), 0);
    char *ip2 = idx_path(dir, 2);
    size_t len;
    uint8_t *p = (uint8_t *)fl_test_read_file(ip2, &len);
    ck_assert_ptr_nonnull(p);
    uint32_t nsum = 0;
    memcpy(&nsum, p + len - 48 + 4, 4);
    uint64_t nent;
    memcpy(&nent, p + len - 48 + 8, 8);
    size_t v1len = 32 + (size_t)nent * 72;
    p[4] = 1;
    fl_test_write_file(ip2, p, v1len);
    free(p);
    /* the header CRC of the version 1 file */
    {
        int fd = open(ip2, O_RDWR);
        uint8_t h[32];
        ck_assert_int_eq(pread(fd, h, 32, 0), 32);
        uint32_t c = 0xFFFFFFFFu;
        for (int i = 0; i < 28; i++) {
            c ^= h[i];
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        c ^= 0xFFFFFFFFu;
        memcpy(h + 28, &c, 4);
        ck_assert_int_eq(pwrite(fd, h, 32, 0), 32);
        close(fd);
    }
    damage_ctx_t d = {.dir = dir};
    do_open(&d);
    fl_store_stats_t st;
    fl_store_stats(d.s, &st);
    ck_assert_uint_eq(st.index_rebuilds, 2);
    read_all(d.log, &rs);
    fl_store_close(d.s);
    struct stat st1;
    ck_assert_int_eq(stat(ip, &st1), 0);
    ck_assert_int_eq(st1.st_size, st0.st_size);
    do_open(&d);
    fl_store_stats(d.s, &st);
    ck_assert_uint_eq(st.index_rebuilds, 0);
    read_all(d.log, &rs);
    fl_store_close(d.s);
    free(ip);
    free(ip2);
    free(rs.v);
    fl_test_rmtree(dir);
}
END_TEST

/* Readers missing the cache of two segments while the writer appends,
 * seals segments and retention removes the oldest. */
typedef struct {
    fl_log_t *log;
    const recs_t *rs;
    unsigned seed;
    int ok, expired;
} reader_arg_t;

static void *reader_main(void *arg)
{
    reader_arg_t *a = arg;
    uint8_t want[600];
    fl_log_batch_t b = {0};
    for (int i = 0; i < 400; i++) {
        const rec_t *r = &a->rs->v[(size_t)rand_r(&a->seed) % a->rs->n];
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, r->seq, 0, 0, 1};
        int rc = fl_log_read(a->log, r->shard, &ro, &b);
        if (rc == FL_EEXPIRED || (rc == 0 && b.records[0].seq > r->seq)) {
            a->expired++;
            continue;
        }
        if (rc != 0 || b.records[0].seq != r->seq)
            return NULL;
        size_t n = len_of(r->id);
        fill(r->id, want, n);
        if (b.records[0].payload.n != n || memcmp(b.records[0].payload.p, want, n) != 0)
            return NULL;
        a->ok++;
    }
    fl_log_batch_free(&b);
    return NULL;
}

START_TEST(readers_race_seal_and_retention)
{
    recs_t rs;
    char *dir = build(16 * 1024, 8, &rs);
    fl_store_opts_t o = {.dir = dir,
                         .chunk_max_bytes = CHUNK_MAX,
                         .segment_max_bytes = 16 * 1024,
                         .index_cache_segments = 2,
                         .retention_max_bytes = 400 * 1024};
    fl_store_t *s;
    fl_log_t *log;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    ck_assert_int_eq(fl_log_open(s, "o", &log), 0);
    reader_arg_t args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (reader_arg_t){log, &rs, (unsigned)i + 1, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
    }
    recs_t more = {calloc(2000, sizeof(rec_t)), 0};
    for (uint64_t i = 0; i < 2000; i++) {
        append(s, log, &more, 100000 + i);
        if (i % 16 == 15)
            fl_store_sync(s);
    }
    fl_store_sync(s);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].ok + args[i].expired, 400);
    }
    ck_assert_int_gt(args[0].ok + args[1].ok + args[2].ok, 0);
    /* the newest records, read back after the seals */
    fl_log_batch_t b = {0};
    uint8_t want[600];
    for (size_t i = more.n - 300; i < more.n; i++) {
        const rec_t *r = &more.v[i];
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, r->seq, 0, 0, 1};
        ck_assert_int_eq(fl_log_read(log, r->shard, &ro, &b), 0);
        ck_assert_uint_eq(b.records[0].seq, r->seq);
        size_t n = len_of(r->id);
        fill(r->id, want, n);
        ck_assert(b.records[0].payload.n == n && memcmp(b.records[0].payload.p, want, n) == 0);
    }
    fl_log_batch_free(&b);
    fl_store_stats_t st;
    fl_store_stats(s, &st);
    ck_assert_uint_gt(st.expired_segments, 0);
    fl_store_close(s);
    free(more.v);
    free(rs.v);
    fl_test_rmtree(dir);
}
END_TEST

int main(void)
{
    fl_diag_set_level(FL_DIAG_OFF);
    Suite *s = suite_create("storage_open");
    TCase *tc = tcase_create("open");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, open_reads_no_sealed_entries);
    tcase_add_test(tc, damaged_sealed_index_is_rebuilt_on_first_read);
    tcase_add_test(tc, sealed_index_without_summary_is_rebuilt_at_open);
    tcase_add_test(tc, readers_race_seal_and_retention);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
