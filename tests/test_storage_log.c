/*
 * tests/test_storage_log.c — storage/: the public API, one behaviour at a
 * time: store open and keys, log metadata, appends and completions (group
 * commit), reads by sequence and time, following the tail, encryption,
 * delete, split and merge, retention, and I/O errors injected through the
 * I/O table.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/diag.h"
#include "common/error.h"
#include "harness.h"
#include "storage/log.h"
#include "storage/storage_internal.h" /* fl_keys_unwrap: what a key opens */

/* ---- helpers ---- */

typedef struct {
    int64_t now;
} fake_clock_t;

static int64_t fake_now(void *data)
{
    return ((fake_clock_t *)data)->now;
}

/* An I/O table that counts calls and fails chosen ones. */
typedef struct {
    const fl_store_io_t *real;
    int fdatasyncs;
    long long read_bytes; /* bytes returned by pread */
    int fail_pwrite;      /* errno to return from pwrite (0: none) */
    int fail_fdatasync;   /* errno to return from fdatasync */
    int fail_fdatasync_n; /* ... for this many calls (0: every call) */
    int pass_fdatasync_n; /* ... after letting this many more succeed */
    int torn_pwrite;      /* write only half, then fail with EIO */
    int fail_unlink;      /* errno to return from unlink */
    int refuse_direct;    /* pwrite on an O_DIRECT descriptor: EINVAL */
    pthread_mutex_t mu;   /* guards the counters and the gate */
    pthread_cond_t cond;
    int gate_closed;  /* fdatasync waits while set */
    int wgate_closed; /* pwrite waits while set */
    int wwaiting;     /* a pwrite is waiting at its gate */
    int waiting;      /* an fdatasync is waiting at the gate */
} fault_io_t;

static fault_io_t *fio_of(void *ctx)
{
    return ctx;
}

static int f_open(void *c, const char *p, int fl, mode_t m)
{
    return fio_of(c)->real->open(NULL, p, fl, m);
}
static int f_close(void *c, int fd)
{
    return fio_of(c)->real->close(NULL, fd);
}
static ssize_t f_pread(void *c, int fd, void *b, size_t n, off_t o)
{
    fault_io_t *f = fio_of(c);
    ssize_t r = f->real->pread(NULL, fd, b, n, o);
    if (r > 0)
        __atomic_fetch_add(&f->read_bytes, r, __ATOMIC_RELAXED);
    return r;
}
static ssize_t f_pwrite(void *c, int fd, const void *b, size_t n, off_t o)
{
    fault_io_t *f = fio_of(c);
    pthread_mutex_lock(&f->mu);
    while (f->wgate_closed) {
        f->wwaiting = 1;
        pthread_cond_broadcast(&f->cond);
        pthread_cond_wait(&f->cond, &f->mu);
    }
    f->wwaiting = 0;
    pthread_mutex_unlock(&f->mu);
    if (f->torn_pwrite && n > 1) {
        f->real->pwrite(NULL, fd, b, n / 2, o);
        return -EIO;
    }
    if (f->fail_pwrite)
        return -f->fail_pwrite;
    if (f->refuse_direct && (fcntl(fd, F_GETFL) & O_DIRECT))
        return -EINVAL;
    return f->real->pwrite(NULL, fd, b, n, o);
}
static int f_fdatasync(void *c, int fd)
{
    fault_io_t *f = fio_of(c);
    pthread_mutex_lock(&f->mu);
    f->fdatasyncs++;
    while (f->gate_closed) {
        f->waiting = 1;
        pthread_cond_broadcast(&f->cond);
        pthread_cond_wait(&f->cond, &f->mu);
    }
    f->waiting = 0;
    int pass = f->pass_fdatasync_n > 0, e = 0;
    f->pass_fdatasync_n -= pass;
    if (f->fail_fdatasync && !pass) { /* (decided under mu: the sync pool's
                                         threads fdatasync concurrently) */
        e = f->fail_fdatasync;
        if (f->fail_fdatasync_n && --f->fail_fdatasync_n == 0)
            f->fail_fdatasync = 0;
    }
    pthread_mutex_unlock(&f->mu);
    if (e)
        return -e;
    return f->real->fdatasync(NULL, fd);
}
static int f_fsync(void *c, int fd)
{
    return fio_of(c)->real->fsync(NULL, fd);
}
static int f_ftruncate(void *c, int fd, off_t l)
{
    return fio_of(c)->real->ftruncate(NULL, fd, l);
}
static int f_fsize(void *c, int fd, uint64_t *s)
{
    return fio_of(c)->real->fsize(NULL, fd, s);
}
static int f_rename(void *c, const char *a, const char *b)
{
    return fio_of(c)->real->rename(NULL, a, b);
}
static int f_unlink(void *c, const char *p)
{
    if (fio_of(c)->fail_unlink)
        return -fio_of(c)->fail_unlink;
    return fio_of(c)->real->unlink(NULL, p);
}
static int f_mkdir(void *c, const char *p, mode_t m)
{
    return fio_of(c)->real->mkdir(NULL, p, m);
}
static int f_rmdir(void *c, const char *p)
{
    return fio_of(c)->real->rmdir(NULL, p);
}

static fl_store_io_t fault_table(fault_io_t *f)
{
    f->real = fl_store_io_default();
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    fl_store_io_t t = {f_open,  f_close,  f_pread,  f_pwrite, f_fdatasync, f_fsync, f_ftruncate,
                       f_fsize, f_rename, f_unlink, f_mkdir,  f_rmdir,     f};
    return t;
}

static fl_store_t *open_store(const char *dir, const fl_store_opts_t *extra)
{
    fl_store_opts_t o = {0};
    if (extra)
        o = *extra;
    o.dir = dir;
    fl_store_t *s = NULL;
    int rc = fl_store_open(&o, &s);
    ck_assert_msg(rc == 0, "open %s: %s", dir, fl_strerror(rc));
    return s;
}

static fl_log_record_t rec_of(const void *p, size_t n, int64_t pts)
{
    fl_log_record_t r = {0};
    r.payload = fl_slice(p, n);
    r.producer_ts_ns = pts;
    return r;
}

/* Collect exactly `want` completions (waiting on the fd), return them. */
static void drain(fl_store_t *s, fl_log_completion_t *out, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ck_assert_int_eq(fl_store_wait_completions(s, 10000), 0);
        size_t n = 0;
        ck_assert_int_eq(fl_store_poll_completions(s, out + got, want - got, &n), 0);
        got += n;
    }
}

static uint64_t append_ok(fl_log_t *log, uint32_t shard, const char *text, int64_t pts)
{
    uint64_t seq = 0;
    fl_log_record_t r = rec_of(text, strlen(text), pts);
    int rc = fl_log_append(log, shard, &r, (void *)text, &seq);
    ck_assert_msg(rc == 0, "append: %s", fl_strerror(rc));
    return seq;
}

static int count_files_with(const char *dir, const void *needle, size_t n);

/* ---- store and keys ---- */

START_TEST(open_creates_key_0600_and_locks_the_dir)
{
    char *dir = fl_test_mkdtemp("st-open");
    char sub[512];
    snprintf(sub, sizeof sub, "%s/data", dir);
    fl_store_t *s = open_store(sub, NULL);
    char kp[600];
    snprintf(kp, sizeof kp, "%s/master.key", sub);
    struct stat st;
    ck_assert_int_eq(stat(kp, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_uint_eq(st.st_size, 44);
    fl_store_opts_t o = {0};
    o.dir = sub;
    fl_store_t *s2 = NULL;
    ck_assert_int_eq(fl_store_open(&o, &s2), FL_EBUSY);
    uint32_t e1 = fl_store_epoch(s);
    fl_store_close(s);
    s = open_store(sub, NULL);
    ck_assert_uint_gt(fl_store_epoch(s), e1);
    fl_store_close(s);
    fl_store_close(NULL);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(open_refuses_bad_arguments_and_readable_key)
{
    fl_store_t *s = NULL;
    fl_store_opts_t o = {0};
    ck_assert_int_eq(fl_store_open(NULL, &s), FL_EINVAL);
    ck_assert_int_eq(fl_store_open(&o, &s), FL_EINVAL);
    char *dir = fl_test_mkdtemp("st-key");
    o.dir = dir;
    o.chunk_max_bytes = 1u << 30;
    ck_assert_int_eq(fl_store_open(&o, &s), FL_EINVAL);
    o.chunk_max_bytes = 0;
    s = open_store(dir, NULL);
    fl_store_close(s);
    char kp[512];
    snprintf(kp, sizeof kp, "%s/master.key", dir);
    chmod(kp, 0644);
    ck_assert_int_eq(fl_store_open(&o, &s), -EACCES);
    chmod(kp, 0600);
    /* a damaged key file is refused, not used */
    int fd = open(kp, O_RDWR);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, 10), 1);
    b ^= 0x5a; /* always a change (writing a fixed byte missed when it was there) */
    ck_assert_int_eq(pwrite(fd, &b, 1, 10), 1);
    close(fd);
    ck_assert_int_eq(fl_store_open(&o, &s), FL_ECORRUPT);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(wrong_master_key_cannot_open_logs)
{
    char *dir = fl_test_mkdtemp("st-wrongkey");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "cam1", NULL, &log), 0);
    fl_store_close(s);
    char other[512];
    snprintf(other, sizeof other, "%s/other.key", dir);
    fl_store_opts_t o = {0};
    o.dir = dir;
    o.master_key_path = other; /* created fresh: a different key */
    ck_assert_int_eq(fl_store_open(&o, &s), FL_ECRYPTO);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(named_master_key_is_remembered)
{
    char *dir = fl_test_mkdtemp("st-named");
    char kp[512];
    snprintf(kp, sizeof kp, "%s/tenant.key", dir);
    fl_store_t *s = open_store(dir, NULL);
    fl_log_opts_t lo = {0};
    lo.master_key_id = "tenant";
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "x", &lo, &log), FL_ENOTFOUND);
    ck_assert_int_eq(fl_store_add_master_key(s, "default", kp), FL_EINVAL);
    ck_assert_int_eq(fl_store_add_master_key(s, "tenant", kp), 0);
    ck_assert_int_eq(fl_log_create(s, "x", &lo, &log), 0);
    uint64_t seq = append_ok(log, 0, "hello", 1);
    fl_store_sync(s);
    fl_store_close(s);
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "x", &log), 0);
    fl_log_info_t info;
    ck_assert_int_eq(fl_log_info(log, &info), 0);
    ck_assert_str_eq(info.master_key_id, "tenant");
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(fl_slice_eq_str(b.records[0].payload, "hello"));
    fl_log_batch_free(&b);
    fl_store_close(s);

    /* a rotation retires the registered key too: its stream stays
     * readable (without the key's file), and neither old key opens what
     * the catalog keeps */
    char dp[512], np[512];
    snprintf(dp, sizeof dp, "%s/master.key", dir);
    snprintf(np, sizeof np, "%s/new.key", dir);
    uint8_t old_default[32], new_default[32], tenant[32], dk[32];
    ck_assert_int_eq(fl_master_key_load_file(dp, 0, old_default), 0);
    ck_assert_int_eq(fl_master_key_load_file(np, 1, new_default), 0);
    ck_assert_int_eq(fl_master_key_load_file(kp, 0, tenant), 0);
    uint8_t wrapped[FL_WRAPPED_KEY_LEN];
    int64_t log_id = 0;
    char cat[600];
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(sqlite3_open_v2(cat, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT id, wrapped_key FROM logs WHERE name = 'x'",
                                            -1, &st, NULL),
                         SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        log_id = sqlite3_column_int64(st, 0);
        ck_assert_int_eq(sqlite3_column_bytes(st, 1), FL_WRAPPED_KEY_LEN);
        memcpy(wrapped, sqlite3_column_blob(st, 1), FL_WRAPPED_KEY_LEN);
        sqlite3_finalize(st);
        sqlite3_close(db);
        /* before: the tenant key opens it; after: it does not */
        ck_assert_int_eq(fl_keys_unwrap(tenant, "tenant", (uint64_t)log_id, wrapped,
                                        FL_WRAPPED_KEY_LEN, dk) == 0,
                         round == 0);
        if (round == 0) {
            fl_rotate_counts_t counts;
            ck_assert_int_eq(fl_store_rotate_master_key(dir, old_default, new_default, &counts), 0);
            ck_assert_uint_eq(counts.streams, 1);
            ck_assert_uint_eq(counts.named_keys, 1);
        }
    }
    ck_assert_int_eq(unlink(kp), 0);
    fl_store_opts_t with_old = {0};
    with_old.master_key = old_default;
    with_old.dir = dir;
    ck_assert_int_eq(fl_store_open(&with_old, &s), FL_ECRYPTO);
    fl_store_opts_t with_new = {0};
    with_new.master_key = new_default;
    s = open_store(dir, &with_new);
    ck_assert_int_eq(fl_log_open(s, "x", &log), 0);
    ck_assert_int_eq(fl_log_info(log, &info), 0);
    ck_assert_str_eq(info.master_key_id, "tenant");
    memset(&b, 0, sizeof b);
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(b.count >= 1 && fl_slice_eq_str(b.records[0].payload, "hello"));
    fl_log_batch_free(&b);

    /* a named key made for a log, or for its key switch, is made in that
     * catalog transaction (with the switch's attribute), never apart */
    int made = 1;
    fl_log_t *y = NULL;
    fl_log_opts_t mk = {0};
    mk.master_key_id = "alias/k";
    mk.make_master_key = 1;
    mk.master_key_made = &made;
    ck_assert_int_eq(fl_log_create(s, "x", &mk, &y), FL_EEXISTS);
    ck_assert_int_eq(made, 0);
    fl_log_opts_t known_only = {0};
    known_only.master_key_id = "alias/k";
    ck_assert_int_eq(fl_log_create(s, "y", &known_only, &y), FL_ENOTFOUND);
    fl_log_key_opts_t ko = {1, "kms", "alias/k", &made};
    ck_assert_int_eq(fl_log_set_master_key_ex(log, "alias/k", &ko), 0);
    ck_assert_int_eq(made, 1);
    char val[64];
    ck_assert_int_eq(fl_log_attr_get(log, "kms", val, sizeof val), 0);
    ck_assert_str_eq(val, "alias/k");
    ck_assert_int_eq(fl_log_info(log, &info), 0);
    ck_assert_str_eq(info.master_key_id, "alias/k");
    ck_assert_int_eq(fl_log_create(s, "y", &known_only, &y), 0);
    fl_log_close(y);
    fl_log_close(log);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- log metadata ---- */

START_TEST(create_list_info_tags_retention)
{
    char *dir = fl_test_mkdtemp("st-meta");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *a, *b, *x;
    fl_log_opts_t lo = {.shard_count = 4, .retention_hours = 24};
    ck_assert_int_eq(fl_log_create(s, "beta", &lo, &b), 0);
    ck_assert_int_eq(fl_log_create(s, "alpha", NULL, &a), 0);
    ck_assert_int_eq(fl_log_create(s, "alpha", NULL, &x), FL_EEXISTS);
    ck_assert_int_eq(fl_log_create(s, "", NULL, &x), FL_EINVAL);
    ck_assert_int_eq(fl_log_create(s, "a\\b", NULL, &x), FL_EINVAL);
    fl_log_opts_t big = {.shard_count = FL_LOG_MAX_SHARDS + 1, .retention_hours = 0};
    ck_assert_int_eq(fl_log_create(s, "big", &big, &x), FL_EINVAL);
    ck_assert_int_eq(fl_log_open(s, "nope", &x), FL_ENOTFOUND);
    char **names;
    size_t n;
    ck_assert_int_eq(fl_log_list(s, &names, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "alpha");
    ck_assert_str_eq(names[1], "beta");
    fl_log_list_free(names, n);
    ck_assert_int_eq(fl_log_create(s, "sp ace", NULL, &x), FL_EINVAL);
    fl_log_info_t info;
    ck_assert_int_eq(fl_log_info(b, &info), 0);
    ck_assert_str_eq(info.name, "beta");
    ck_assert_uint_eq(info.open_shards, 4);
    ck_assert_uint_eq(info.retention_hours, 24);
    uint64_t v = info.version;
    ck_assert_int_eq(fl_log_tag_set(b, "owner", "ana"), 0);
    ck_assert_int_eq(fl_log_set_retention(b, 48), 0);
    char val[32];
    ck_assert_int_eq(fl_log_tag_get(b, "owner", val, sizeof val), 0);
    ck_assert_str_eq(val, "ana");
    ck_assert_int_eq(fl_log_tag_remove(b, "owner"), 0);
    ck_assert_int_eq(fl_log_tag_remove(b, "owner"), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_tag_get(b, "owner", val, sizeof val), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_tag_set(b, "", "x"), FL_EINVAL);
    ck_assert_int_eq(fl_log_tag_set(b, "k2", "v2"), 0);
    ck_assert_int_eq(fl_log_attr_set(b, "MediaType", "video/h264"), 0);
    ck_assert_int_eq(fl_log_attr_get(b, "MediaType", val, sizeof val), 0);
    ck_assert_str_eq(val, "video/h264");
    ck_assert_int_eq(fl_log_attr_get(b, "k2", val, sizeof val), FL_ENOTFOUND);
    fl_log_info(b, &info);
    ck_assert_uint_eq(info.version, v + 5);
    /* tags and attributes can come with the creation, atomically */
    const char *tk[] = {"b", "a"}, *tv[] = {"2", "1"}, *ak[] = {"DeviceName"}, *av[] = {"cam"};
    fl_log_opts_t with = {1, 0, NULL, tk, tv, 2, ak, av, 1, 0, NULL};
    ck_assert_int_eq(fl_log_create(s, "v/with:tags", &with, &x), 0);
    char **keys, **vals;
    ck_assert_int_eq(fl_log_tags(x, &keys, &vals, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(keys[0], "a");
    ck_assert_str_eq(vals[0], "1");
    ck_assert_str_eq(keys[1], "b");
    fl_log_tags_free(keys, vals, n);
    ck_assert_int_eq(fl_log_attr_get(x, "DeviceName", val, sizeof val), 0);
    ck_assert_str_eq(val, "cam");
    static char longv[FL_LOG_MAX_TAG_VAL + 2];
    memset(longv, 'x', sizeof longv - 1);
    ck_assert_int_eq(fl_log_tag_set(x, "k", longv), FL_EINVAL);
    const char *bad_v[] = {longv, "1"};
    fl_log_opts_t bad = {1, 0, NULL, tk, bad_v, 2, NULL, NULL, 0, 0, NULL};
    ck_assert_int_eq(fl_log_create(s, "bad", &bad, &x), FL_EINVAL);
    fl_store_close(s);
    /* all of it is in the catalog */
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "beta", &b), 0);
    fl_log_info(b, &info);
    ck_assert_uint_eq(info.version, v + 5);
    ck_assert_uint_eq(info.retention_hours, 48);
    ck_assert_int_eq(fl_log_attr_get(b, "MediaType", val, sizeof val), 0);
    ck_assert_int_eq(fl_log_tag_get(b, "k2", val, sizeof val), 0);
    ck_assert_str_eq(val, "v2");
    fl_log_shard_info_t *sh;
    ck_assert_int_eq(fl_log_shards(b, &sh, &n), 0);
    ck_assert_uint_eq(n, 4);
    /* the ranges tile the 128-bit space */
    static const uint8_t zero[16],
        ones[16] = {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
    ck_assert_mem_eq(sh[0].hash_start, zero, 16);
    ck_assert_mem_eq(sh[3].hash_end, ones, 16);
    ck_assert_uint_eq(sh[1].hash_start[0], 0x40);
    ck_assert_uint_eq(sh[0].hash_end[0], 0x3f);
    free(sh);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(partition_key_picks_shard_by_md5)
{
    char *dir = fl_test_mkdtemp("st-md5");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    fl_log_opts_t lo = {.shard_count = 4, .retention_hours = 0};
    ck_assert_int_eq(fl_log_create(s, "d", &lo, &log), 0);
    uint32_t shard;
    /* MD5("a") = 0cc175b9...: first quarter; MD5("b") = 92eb5ffe...: third */
    ck_assert_int_eq(fl_log_shard_for_key(log, fl_slice_str("a"), &shard), 0);
    ck_assert_uint_eq(shard, 0);
    ck_assert_int_eq(fl_log_shard_for_key(log, fl_slice_str("b"), &shard), 0);
    ck_assert_uint_eq(shard, 2);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- appends, completions, reads ---- */

START_TEST(append_completes_through_fd_and_reads_back)
{
    char *dir = fl_test_mkdtemp("st-append");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    int fd = fl_store_completion_fd(s);
    ck_assert_int_ge(fd, 0);
    const char *texts[] = {"one", "two", "three"};
    uint64_t seqs[3];
    for (int i = 0; i < 3; i++)
        seqs[i] = append_ok(log, 0, texts[i], 100 + i);
    ck_assert(seqs[1] == seqs[0] + 1 && seqs[2] == seqs[1] + 1);
    ck_assert(seqs[0] >> 40 == fl_store_epoch(s));
    struct pollfd pfd = {fd, POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    fl_log_completion_t c[3];
    drain(s, c, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(c[i].status, 0);
        ck_assert_ptr_eq(c[i].log, log);
        ck_assert(c[i].seq == seqs[i]);
        ck_assert_ptr_eq(c[i].data, texts[i]);
    }
    size_t n = 9;
    ck_assert_int_eq(fl_store_poll_completions(s, c, 3, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(poll(&pfd, 1, 0), 0); /* drained: fd no longer readable */
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seqs[0], 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert_uint_eq(b.count, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert(fl_slice_eq_str(b.records[i].payload, texts[i]));
        ck_assert(b.records[i].seq == seqs[i]);
        ck_assert_int_eq(b.records[i].producer_ts_ns, 100 + i);
        ck_assert_int_gt(b.records[i].server_ts_ns, 0);
    }
    ck_assert(b.next_seq == seqs[2] + 1);
    ro.seq = b.next_seq;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), FL_EAGAIN);
    ck_assert_uint_eq(b.count, 0);
    ck_assert_int_eq(fl_log_read(log, 7, &ro, &b), FL_ENOTFOUND);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(append_rejects_bad_records)
{
    char *dir = fl_test_mkdtemp("st-badrec");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    uint64_t seq;
    static uint8_t key[FL_LOG_MAX_KEY + 1];
    fl_log_record_t r = {0};
    r.key = fl_slice(key, sizeof key);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), FL_EINVAL);
    r.key = fl_slice(key, 4);
    r.payload = fl_slice(NULL, 5);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), FL_EINVAL);
    r.payload = fl_slice(key, FL_LOG_MAX_PAYLOAD + 1u);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), FL_EINVAL);
    r.payload = fl_slice(key, 3);
    ck_assert_int_eq(fl_log_append(log, 1, &r, NULL, &seq), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_append(log, 0, NULL, NULL, &seq), FL_EINVAL);
    /* empty payload is fine, keys come back */
    r.payload = fl_slice(NULL, 0);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
    fl_store_sync(s);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert_uint_eq(b.records[0].payload.n, 0);
    ck_assert_mem_eq(b.records[0].key.p, key, 4);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(large_record_round_trips)
{
    char *dir = fl_test_mkdtemp("st-large");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    size_t n = 9u << 20; /* bigger than a chunk: a chunk of its own */
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 2654435761u >> 13);
    fl_log_record_t r = rec_of(p, n, 5);
    uint64_t seq;
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
    fl_store_sync(s);
    fl_store_close(s);
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq, 0, 1024, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0); /* at least one record */
    ck_assert_uint_eq(b.count, 1);
    ck_assert_uint_eq(b.records[0].payload.n, n);
    ck_assert_mem_eq(b.records[0].payload.p, p, n);
    fl_log_batch_free(&b);
    free(p);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(read_limits_bytes_and_records)
{
    char *dir = fl_test_mkdtemp("st-limits");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    char buf[100];
    memset(buf, 'x', sizeof buf);
    uint64_t first = 0, seq;
    for (int i = 0; i < 50; i++) {
        fl_log_record_t r = rec_of(buf, sizeof buf, i);
        ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
        if (i == 0)
            first = seq;
        if (i == 7)
            fl_store_sync(s); /* records 0..7 in a chunk of their own */
    }
    fl_store_sync(s);
    fl_log_batch_t b = {0};
    /* 1,000 bytes of payload span two chunks: the read takes both */
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, first, 0, 1000, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert_uint_eq(b.count, 10);
    ck_assert_uint_eq(b.bytes, 1000);
    ro.max_bytes = 0;
    ro.max_records = 7;
    ro.seq = b.next_seq;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert_uint_eq(b.count, 7);
    ck_assert(b.records[0].seq == first + 10);
    /* walking with next_seq visits every record once */
    ro.max_records = 0;
    ro.seq = first;
    size_t total = 0;
    ro.max_bytes = 350;
    while (fl_log_read(log, 0, &ro, &b) == 0) {
        total += b.count;
        ro.seq = b.next_seq;
    }
    ck_assert_uint_eq(total, 50);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

static uint8_t *pattern(size_t n, unsigned salt);

/* fl_log_read_each's records, copied out as they come. */
typedef struct {
    fl_log_record_t v[64];
    size_t n, calls, fail_at; /* fail_at: the call that fails (0: none) */
} each_t;

static int each_collect(void *arg, const fl_log_record_t *recs, size_t n)
{
    each_t *e = arg;
    ck_assert_uint_ge(n, 1);
    if (++e->calls == e->fail_at)
        return FL_EIO;
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(e->n, 64);
        e->v[e->n] = recs[i];
        uint8_t *c = malloc(recs[i].payload.n + 1);
        memcpy(c, recs[i].payload.p, recs[i].payload.n);
        e->v[e->n++].payload.p = c;
    }
    return 0;
}

static void each_free(each_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free((void *)e->v[i].payload.p);
    memset(e, 0, sizeof *e);
}

/* Chunks of every size around the 256 KiB pieces a read goes through (the
 * tag split by a piece's end, or just at it), read whole and a chunk at a
 * time: the same records, next_seq and answers. */
START_TEST(read_each_matches_read)
{
    char *dir = fl_test_mkdtemp("st-each");
    fl_store_opts_t o = {.chunk_max_bytes = 1u << 20};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    /* a chunk of one record of payload p with an empty key is p + 122
     * bytes: 262022 ends at a piece's end, 262030 splits the tag, 262038
     * has the tag as the next piece */
    const size_t sizes[] = {100,    262022, 5,   262030,         262038, 524174,
                            700000, 17,     900, (2u << 20) + 3, 1};
    enum { N = sizeof sizes / sizeof sizes[0] };
    uint8_t *want[N];
    uint64_t seq[N];
    for (int i = 0; i < N; i++) {
        want[i] = pattern(sizes[i], (unsigned)i * 5 + 3);
        fl_log_record_t r = rec_of(want[i], sizes[i], i);
        ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq[i]), 0);
        if (i != 0 && i != 7) /* 0+1 and 7+8 share a chunk */
            ck_assert_int_eq(fl_store_sync(s), 0);
    }
    ck_assert_int_eq(fl_store_sync(s), 0);
    const size_t limits[][2] = {{0, 0}, {1, 0}, {0, 1}, {300000, 0}, {0, 3}, {1u << 20, 2}};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        for (int from = 0; from < N; from++) {
            fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq[from], 0, limits[l][0], limits[l][1]};
            fl_log_batch_t b = {0};
            each_t e = {0};
            fl_log_each_t res;
            int rb = fl_log_read(log, 0, &ro, &b);
            int re = fl_log_read_each(log, 0, &ro, each_collect, &e, &res);
            ck_assert_int_eq(rb, 0);
            ck_assert_int_eq(re, 0);
            ck_assert_uint_eq(res.count, b.count);
            ck_assert_uint_eq(e.n, b.count);
            ck_assert_uint_eq(res.bytes, b.bytes);
            ck_assert(res.next_seq == b.next_seq);
            for (size_t i = 0; i < b.count; i++) {
                int k = from + (int)i;
                ck_assert(e.v[i].seq == b.records[i].seq && e.v[i].seq == seq[k]);
                ck_assert(e.v[i].server_ts_ns == b.records[i].server_ts_ns);
                ck_assert_uint_eq(e.v[i].payload.n, sizes[k]);
                ck_assert_mem_eq(e.v[i].payload.p, want[k], sizes[k]);
                ck_assert_mem_eq(b.records[i].payload.p, want[k], sizes[k]);
            }
            fl_log_batch_free(&b);
            each_free(&e);
        }
    }
    /* past the end: the same answer and next_seq */
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq[N - 1] + 1, 0, 0, 0};
    fl_log_batch_t b = {0};
    each_t e = {0};
    fl_log_each_t res;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), FL_EAGAIN);
    ck_assert_int_eq(fl_log_read_each(log, 0, &ro, each_collect, &e, &res), FL_EAGAIN);
    ck_assert(res.next_seq == b.next_seq && res.count == 0 && e.n == 0);
    /* the function's error ends the read and is its answer */
    ro.seq = seq[0];
    e.fail_at = 2;
    ck_assert_int_eq(fl_log_read_each(log, 0, &ro, each_collect, &e, &res), FL_EIO);
    ck_assert_uint_eq(e.calls, 2);
    ck_assert_uint_eq(res.count, 0);
    each_free(&e);
    ck_assert_int_eq(fl_log_read_each(log, 0, &ro, NULL, &e, &res), FL_EINVAL);
    fl_log_batch_free(&b);
    for (int i = 0; i < N; i++)
        free(want[i]);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(read_by_server_and_producer_time)
{
    char *dir = fl_test_mkdtemp("st-time");
    fake_clock_t fc = {1000};
    fl_clock_t clk = {fake_now, &fc};
    fl_store_opts_t o = {0};
    o.clock = &clk;
    o.chunk_max_bytes = 64; /* many chunks: exercises the chunk search */
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    /* producer time goes back and forth; server time steps by 10 */
    const int64_t pts[] = {50, 10, 70, 30, 90, 20};
    uint64_t seq[6];
    for (int i = 0; i < 6; i++) {
        fc.now = 1000 + 10 * i;
        char t[8];
        snprintf(t, sizeof t, "r%d", i);
        fl_log_record_t r = rec_of(t, strlen(t), pts[i]);
        ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq[i]), 0);
        fl_store_sync(s);
    }
    /* a server time given by the caller that goes backwards is clamped */
    fl_log_record_t r = rec_of("late", 4, 0);
    r.server_ts_ns = 5;
    uint64_t late;
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &late), 0);
    fl_store_sync(s);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SERVER_TS, 0, 1025, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(b.records[0].seq == seq[3]);
    ck_assert_int_eq(b.records[0].server_ts_ns, 1030);
    ck_assert_int_eq(b.records[b.count - 1].server_ts_ns, 1050);
    ro.ts_ns = 1051;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), FL_EAGAIN);
    ro.from = FL_LOG_AT_PRODUCER_TS;
    ro.ts_ns = 60; /* first in sequence order with pts >= 60: r2 (70) */
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(b.records[0].seq == seq[2]);
    ro.ts_ns = 80;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(b.records[0].seq == seq[4]);
    ro.ts_ns = 91;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), FL_EAGAIN);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(sequence_numbers_grow_across_reopen)
{
    char *dir = fl_test_mkdtemp("st-seq");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    uint64_t a = append_ok(log, 0, "a", 0);
    uint64_t b2 = append_ok(log, 0, "b", 0); /* never waited for */
    fl_store_close(s);
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    uint64_t c = append_ok(log, 0, "c", 0);
    ck_assert(c > b2 && b2 > a);
    fl_store_sync(s);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert_uint_eq(b.count, 3);
    ck_assert(b.records[0].seq == a && b.records[1].seq == b2 && b.records[2].seq == c);
    fl_log_shard_info_t *sh;
    size_t n;
    ck_assert_int_eq(fl_log_shards(log, &sh, &n), 0);
    ck_assert(sh[0].first_seq == a && sh[0].next_seq == c + 1);
    free(sh);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(max_producer_time_is_kept_across_reopen)
{
    char *dir = fl_test_mkdtemp("st-pts");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    fl_log_shard_info_t *sh;
    size_t n;
    ck_assert_int_eq(fl_log_shards(log, &sh, &n), 0);
    ck_assert(sh[0].max_producer_ts_ns == 0);
    free(sh);
    append_ok(log, 0, "a", 5000);
    append_ok(log, 0, "b", 9000);
    append_ok(log, 0, "c", 7000);
    /* known at once, before durability */
    ck_assert_int_eq(fl_log_shards(log, &sh, &n), 0);
    ck_assert(sh[0].max_producer_ts_ns == 9000);
    free(sh);
    fl_store_sync(s);
    fl_store_close(s);
    /* and found again from the index after a restart */
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    ck_assert_int_eq(fl_log_shards(log, &sh, &n), 0);
    ck_assert(sh[0].max_producer_ts_ns == 9000);
    free(sh);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(group_commit_shares_fdatasync_across_shards_and_logs)
{
    char *dir = fl_test_mkdtemp("st-group");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {0};
    o.io = &io;
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *a, *b;
    fl_log_opts_t lo = {.shard_count = 64, .retention_hours = 0};
    ck_assert_int_eq(fl_log_create(s, "a", &lo, &a), 0);
    ck_assert_int_eq(fl_log_create(s, "b", &lo, &b), 0);
    /* warm up: create both segments */
    append_ok(a, 0, "w", 0);
    append_ok(b, 0, "w", 0);
    fl_store_sync(s);
    /* hold the writer in the fdatasync of a first batch, queue 512
     * records in 128 shards of 2 logs, then let it go */
    fl_store_stats_t st0;
    fl_store_stats(s, &st0);
    pthread_mutex_lock(&f.mu);
    f.gate_closed = 1;
    pthread_mutex_unlock(&f.mu);
    append_ok(a, 0, "first", 0);
    pthread_mutex_lock(&f.mu);
    while (!f.waiting)
        pthread_cond_wait(&f.cond, &f.mu);
    int before = f.fdatasyncs;
    pthread_mutex_unlock(&f.mu);
    size_t total = 1;
    for (int round = 0; round < 4; round++) {
        for (uint32_t sh = 0; sh < 64; sh++) {
            append_ok(a, sh, "x", 0);
            append_ok(b, sh, "y", 0);
            total += 2;
        }
    }
    pthread_mutex_lock(&f.mu);
    f.gate_closed = 0;
    pthread_cond_broadcast(&f.cond);
    pthread_mutex_unlock(&f.mu);
    fl_store_sync(s);
    /* the whole queue is one batch: one fdatasync per log, not per shard
     * or per record */
    ck_assert_int_eq(f.fdatasyncs - before, 2);
    fl_store_stats_t st;
    fl_store_stats(s, &st);
    ck_assert_uint_eq(st.appends, total + 2);
    ck_assert_uint_eq(st.completed, total + 2);
    ck_assert_uint_eq(st.failed, 0);
    ck_assert_uint_eq(st.batches - st0.batches, 2); /* "first", then all 512 */
    ck_assert_uint_eq(st.pending_bytes, 0);
    ck_assert_uint_eq(st.segment_bytes, fl_store_bytes(s));
    fl_log_completion_t *c = malloc((total + 2) * sizeof *c);
    drain(s, c, total + 2);
    for (size_t i = 0; i < total + 2; i++)
        ck_assert_int_eq(c[i].status, 0);
    free(c);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(payload_is_encrypted_on_disk)
{
    char *dir = fl_test_mkdtemp("st-enc");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    const char *secret = "PLAINTEXT-MARKER-7f3a9";
    for (int i = 0; i < 20; i++)
        append_ok(log, 0, secret, 0);
    fl_store_sync(s);
    fl_store_close(s);
    ck_assert_int_eq(count_files_with(dir, secret, strlen(secret)), 0);
    ck_assert_int_eq(count_files_with(dir, "FLCK", 4), 1); /* one segment */
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(delete_destroys_key_then_files)
{
    char *dir = fl_test_mkdtemp("st-del");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log, *keep;
    ck_assert_int_eq(fl_log_create(s, "gone", NULL, &log), 0);
    ck_assert_int_eq(fl_log_create(s, "keep", NULL, &keep), 0);
    append_ok(log, 0, "bye", 0);
    append_ok(keep, 0, "stay", 0);
    fl_store_sync(s);
    fl_log_info_t info;
    fl_log_info(log, &info);
    char ld[600];
    snprintf(ld, sizeof ld, "%s/logs/%llu", dir, (unsigned long long)info.id);
    ck_assert_int_eq(access(ld, F_OK), 0);
    fl_log_watch_t *w;
    ck_assert_int_eq(fl_log_watch_new(log, 0, &w), 0);
    ck_assert_int_eq(fl_log_delete(s, "gone"), FL_EBUSY);
    fl_log_watch_free(w);
    ck_assert_int_eq(fl_log_delete(s, "gone"), 0);
    ck_assert_int_eq(fl_log_delete(s, "gone"), FL_ENOTFOUND);
    ck_assert_int_ne(access(ld, F_OK), 0);
    ck_assert_int_eq(fl_log_open(s, "gone", &log), FL_ENOTFOUND);
    /* the name can be used again, for a new log with a new id */
    fl_log_t *again;
    ck_assert_int_eq(fl_log_create(s, "gone", NULL, &again), 0);
    fl_log_info_t info2;
    fl_log_info(again, &info2);
    ck_assert_uint_ne(info2.id, info.id);
    fl_store_close(s);
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "keep", &keep), 0);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(keep, 0, &ro, &b), 0);
    ck_assert(fl_slice_eq_str(b.records[0].payload, "stay"));
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- handles: open, close, delete ---- */

START_TEST(handles_are_counted_and_closed)
{
    char *dir = fl_test_mkdtemp("st-handles");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log, *a, *b;
    ck_assert_int_eq(fl_log_create(s, "h", NULL, &log), 0);
    append_ok(log, 0, "one", 0);
    fl_store_sync(s);
    fl_log_close(log); /* the log stays: closing a handle is not deleting */
    fl_log_close(NULL);
    ck_assert_int_eq(fl_log_open(s, "h", &a), 0);
    ck_assert_int_eq(fl_log_open(s, "h", &b), 0);
    ck_assert_ptr_eq(a, b);
    fl_log_close(a);
    fl_log_batch_t bt = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(b, 0, &ro, &bt), 0);
    ck_assert(fl_slice_eq_str(bt.records[0].payload, "one"));
    fl_log_batch_free(&bt);
    fl_log_close(b);
    char **names;
    size_t n;
    ck_assert_int_eq(fl_log_list(s, &names, &n), 0);
    ck_assert_uint_eq(n, 1);
    fl_log_list_free(names, n);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(delete_with_open_handles_is_safe)
{
    char *dir = fl_test_mkdtemp("st-delh");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log, *h, *other;
    ck_assert_int_eq(fl_log_create(s, "d", NULL, &log), 0);
    ck_assert_int_eq(fl_log_create(s, "other", NULL, &other), 0);
    append_ok(log, 0, "x", 0);
    fl_store_sync(s);
    ck_assert_int_eq(fl_log_open(s, "d", &h), 0);
    fl_log_close(log);
    ck_assert_int_eq(fl_log_delete(s, "d"), 0);
    /* the handle still answers, without touching freed memory (ASan) */
    uint64_t seq;
    fl_log_record_t r = rec_of("y", 1, 0);
    ck_assert_int_eq(fl_log_append(h, 0, &r, NULL, &seq), FL_ECLOSED);
    fl_log_batch_t bt = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(h, 0, &ro, &bt), FL_ENOTFOUND);
    fl_log_batch_free(&bt);
    fl_log_watch_t *w;
    ck_assert_int_eq(fl_log_watch_new(h, 0, &w), FL_ENOTFOUND);
    fl_log_info_t info;
    ck_assert_int_eq(fl_log_info(h, &info), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_tag_set(h, "k", "v"), FL_ENOTFOUND);
    char buf[16];
    ck_assert_int_eq(fl_log_tag_get(h, "k", buf, sizeof buf), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_set_retention(h, 1), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_open(s, "d", &log), FL_ENOTFOUND);
    /* a new log of the same name is another log */
    fl_log_t *again;
    ck_assert_int_eq(fl_log_create(s, "d", NULL, &again), 0);
    ck_assert_ptr_ne(again, h);
    append_ok(again, 0, "z", 0);
    fl_store_sync(s);
    fl_log_close(h); /* the last handle: its memory goes now */
    ck_assert_int_eq(fl_log_read(again, 0, &ro, &bt), 0);
    ck_assert(fl_slice_eq_str(bt.records[0].payload, "z"));
    fl_log_batch_free(&bt);
    /* a deleted log whose handle is never closed is freed by the store */
    ck_assert_int_eq(fl_log_delete(s, "other"), 0);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

typedef struct {
    fl_log_t *log;
    int reads;
} handle_reader_t;

static void *read_until_gone(void *arg)
{
    handle_reader_t *hr = arg;
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    for (;;) {
        fl_log_batch_t bt = {0};
        int rc = fl_log_read(hr->log, 0, &ro, &bt);
        fl_log_batch_free(&bt);
        hr->reads++;
        if (rc == FL_ENOTFOUND)
            break;
    }
    fl_log_close(hr->log);
    return NULL;
}

START_TEST(reads_racing_a_delete_end_with_notfound)
{
    char *dir = fl_test_mkdtemp("st-delrace");
    fl_store_opts_t o = {0};
    o.segment_max_bytes = 4096; /* several segments, so reads load indexes */
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "r", NULL, &log), 0);
    char text[600];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = 0;
    for (int i = 0; i < 40; i++)
        append_ok(log, 0, text, i);
    fl_store_sync(s);
    pthread_t th[2];
    handle_reader_t hr[2];
    for (int i = 0; i < 2; i++) {
        hr[i].reads = 0;
        ck_assert_int_eq(fl_log_open(s, "r", &hr[i].log), 0);
        ck_assert_int_eq(pthread_create(&th[i], NULL, read_until_gone, &hr[i]), 0);
    }
    fl_log_close(log);
    usleep(20000);
    ck_assert_int_eq(fl_log_delete(s, "r"), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_gt(hr[i].reads, 0);
    }
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- following the tail ---- */

typedef struct {
    fl_log_watch_t *w;
    uint64_t seq;
    int rc;
    long long waited_ms;
} waiter_t;

static void *wait_thread(void *arg)
{
    waiter_t *wt = arg;
    long long t0 = fl_test_now_ms();
    wt->rc = fl_log_watch_wait(wt->w, wt->seq, 10000);
    wt->waited_ms = fl_test_now_ms() - t0;
    return NULL;
}

START_TEST(watch_wakes_follower_on_new_data)
{
    char *dir = fl_test_mkdtemp("st-watch");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    fl_log_watch_t *w;
    ck_assert_int_eq(fl_log_watch_new(log, 3, &w), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_watch_new(log, 0, &w), 0);
    int fd = fl_log_watch_fd(w);
    struct pollfd pfd = {fd, POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    fl_log_shard_info_t *sh;
    size_t n;
    fl_log_shards(log, &sh, &n);
    uint64_t next = sh[0].next_seq;
    free(sh);
    ck_assert_int_eq(fl_log_watch_wait(w, next, 20), FL_ETIMEDOUT);
    waiter_t wt = {w, next, 1, 0};
    pthread_t th;
    pthread_create(&th, NULL, wait_thread, &wt);
    usleep(50000);
    uint64_t seq = append_ok(log, 0, "live", 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(wt.rc, 0);
    ck_assert_int_ge(wt.waited_ms, 40);
    ck_assert(seq == next);
    ck_assert_int_eq(poll(&pfd, 1, 0), 0); /* the wait drained it */
    append_ok(log, 0, "more", 0);
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1); /* event-loop style */
    ck_assert_int_eq(fl_log_watch_wait(w, seq + 1, 0), 0);
    fl_log_watch_free(w);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- split and merge ---- */

START_TEST(split_and_merge_keep_lineage)
{
    char *dir = fl_test_mkdtemp("st-split");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "d", NULL, &log), 0);
    uint64_t old = append_ok(log, 0, "before", 0);
    fl_log_watch_t *w;
    ck_assert_int_eq(fl_log_watch_new(log, 0, &w), 0);
    uint8_t mid[16] = {0x80};
    uint32_t kids[2];
    uint8_t bad[16] = {0};
    ck_assert_int_eq(fl_log_split_shard(log, 0, bad, kids), FL_EINVAL);
    ck_assert_int_eq(fl_log_split_shard(log, 9, mid, kids), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_split_shard(log, 0, mid, kids), 0);
    ck_assert_uint_eq(kids[0], 1);
    ck_assert_uint_eq(kids[1], 2);
    ck_assert_int_eq(fl_log_split_shard(log, 0, mid, kids), FL_ECLOSED);
    uint64_t seq;
    fl_log_record_t r = rec_of("x", 1, 0);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), FL_ECLOSED);
    uint32_t shard;
    ck_assert_int_eq(fl_log_shard_for_key(log, fl_slice_str("b"), &shard), 0);
    ck_assert_uint_eq(shard, 2); /* MD5("b") = 0x92...: upper half */
    append_ok(log, 1, "low", 0);
    append_ok(log, 2, "high", 0);
    fl_store_sync(s);
    /* the parent stays readable, then says it has ended */
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(b.records[0].seq == old);
    ro.seq = b.next_seq;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), FL_EEOF);
    ck_assert_int_eq(fl_log_watch_wait(w, ro.seq, 1000), FL_EEOF);
    fl_log_watch_free(w);
    uint32_t child;
    ck_assert_int_eq(fl_log_merge_shards(log, 1, 0, &child), FL_ECLOSED);
    ck_assert_int_eq(fl_log_merge_shards(log, 1, 2, &child), 0);
    ck_assert_uint_eq(child, 3);
    fl_store_close(s);
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "d", &log), 0);
    fl_log_shard_info_t *sh;
    size_t n;
    ck_assert_int_eq(fl_log_shards(log, &sh, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert(!sh[0].open && !sh[1].open && !sh[2].open && sh[3].open);
    ck_assert_uint_eq(sh[1].parent, 0);
    ck_assert_uint_eq(sh[2].parent, 0);
    ck_assert_uint_eq(sh[3].parent, 1);
    ck_assert_uint_eq(sh[3].adjacent_parent, 2);
    ck_assert_mem_eq(sh[3].hash_start, sh[0].hash_start, 16);
    ck_assert_mem_eq(sh[3].hash_end, sh[0].hash_end, 16);
    free(sh);
    fl_log_info_t info;
    fl_log_info(log, &info);
    ck_assert_uint_eq(info.open_shards, 1);
    ro.seq = 0;
    ck_assert_uint_eq(info.total_shards, 4);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- retention ---- */

START_TEST(retention_by_age_expires_whole_segments)
{
    char *dir = fl_test_mkdtemp("st-ret-age");
    fake_clock_t fc = {(int64_t)1700000000 * 1000000000};
    fl_clock_t clk = {fake_now, &fc};
    fl_store_opts_t o = {0};
    o.clock = &clk;
    o.segment_max_bytes = 4096;
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    fl_log_opts_t lo = {.shard_count = 1, .retention_hours = 1}; /* one hour */
    ck_assert_int_eq(fl_log_create(s, "v", &lo, &log), 0);
    char buf[1000];
    memset(buf, 'a', sizeof buf);
    uint64_t first = 0, seq, last = 0;
    for (int i = 0; i < 20; i++) {
        fl_log_record_t r = rec_of(buf, sizeof buf, i);
        ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
        fl_store_sync(s);
        if (i == 0)
            first = seq;
        last = seq;
    }
    uint64_t bytes = fl_store_bytes(s);
    ck_assert_uint_gt(bytes, 16000);
    ck_assert_int_eq(fl_store_enforce_retention(s), 0);
    ck_assert(fl_store_bytes(s) == bytes); /* nothing is an hour old */
    fc.now += (int64_t)2 * 3600 * 1000000000;
    ck_assert_int_eq(fl_store_enforce_retention(s), 0);
    ck_assert_uint_lt(fl_store_bytes(s), 8000); /* only the active segment is left */
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, first, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), FL_EEXPIRED);
    ck_assert(b.next_seq > first && b.next_seq <= last);
    ro.seq = b.next_seq;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(b.records[b.count - 1].seq == last);
    /* by server and by producer time (the records' producer times are
     * 0..19): before what is kept is expired too */
    const fl_log_from_t by[] = {FL_LOG_AT_SERVER_TS, FL_LOG_AT_PRODUCER_TS};
    const int64_t kept[] = {b.records[0].server_ts_ns, b.records[0].producer_ts_ns};
    ck_assert_int_gt(kept[1], 0);
    for (int k = 0; k < 2; k++) {
        fl_log_read_opts_t rt = {by[k], 0, kept[k] - 1, 0, 0};
        ck_assert_int_eq(fl_log_read(log, 0, &rt, &b), FL_EEXPIRED);
        ck_assert(b.next_seq == ro.seq);
        rt.ts_ns = kept[k];
        ck_assert_int_eq(fl_log_read(log, 0, &rt, &b), 0);
        ck_assert(b.records[0].seq == ro.seq);
    }
    fl_store_close(s);
    /* the trim point is in the catalog */
    s = open_store(dir, &o);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    ro.seq = first;
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), FL_EEXPIRED);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(retention_by_bytes_removes_oldest_first)
{
    char *dir = fl_test_mkdtemp("st-ret-bytes");
    fake_clock_t fc = {(int64_t)1700000000 * 1000000000};
    fl_clock_t clk = {fake_now, &fc};
    fl_store_opts_t o = {0};
    o.clock = &clk;
    o.segment_max_bytes = 4096;
    o.retention_max_bytes = 30000; /* each log fills 5 segments of 4520 bytes */
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *a, *b;
    ck_assert_int_eq(fl_log_create(s, "a", NULL, &a), 0);
    ck_assert_int_eq(fl_log_create(s, "b", NULL, &b), 0);
    char buf[1000];
    memset(buf, 'a', sizeof buf);
    uint64_t a_first = 0, b_first = 0, seq;
    for (int i = 0; i < 40; i++) {
        fc.now += 1000000000;
        fl_log_record_t r = rec_of(buf, sizeof buf, i);
        ck_assert_int_eq(fl_log_append(i < 20 ? a : b, 0, &r, NULL, &seq), 0);
        fl_store_sync(s);
        if (i == 0)
            a_first = seq;
        if (i == 20)
            b_first = seq;
    }
    ck_assert_int_eq(fl_store_enforce_retention(s), 0);
    ck_assert_uint_le(fl_store_bytes(s), 30000);
    ck_assert_uint_gt(fl_store_bytes(s), 30000 - 4520);
    fl_log_batch_t bt = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, a_first, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(a, 0, &ro, &bt), FL_EEXPIRED); /* older log went first */
    ro.seq = b_first;
    ck_assert_int_eq(fl_log_read(b, 0, &ro, &bt), 0);
    ck_assert(bt.records[0].seq == b_first);
    fl_log_batch_free(&bt);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- injected I/O errors ---- */

START_TEST(write_error_fails_batch_then_recovers)
{
    char *dir = fl_test_mkdtemp("st-eio");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {0};
    o.io = &io;
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    uint64_t good = append_ok(log, 0, "good", 0);
    fl_store_sync(s);
    fl_log_completion_t c[4];
    drain(s, c, 1);
    /* a torn write (half the chunk, then EIO) */
    f.torn_pwrite = 1;
    append_ok(log, 0, "torn", 0);
    fl_store_sync(s);
    drain(s, c, 1);
    ck_assert_int_eq(c[0].status, FL_EIO);
    f.torn_pwrite = 0;
    f.fail_pwrite = ENOSPC;
    append_ok(log, 0, "full", 0);
    fl_store_sync(s);
    drain(s, c, 1);
    ck_assert_int_eq(c[0].status, -ENOSPC);
    f.fail_pwrite = 0;
    f.fail_fdatasync = EIO; /* once: the cut that follows succeeds */
    f.fail_fdatasync_n = 1;
    append_ok(log, 0, "nosync", 0);
    fl_store_sync(s);
    drain(s, c, 1);
    ck_assert_int_eq(c[0].status, FL_EIO);
    f.fail_fdatasync = 0;
    uint64_t after = append_ok(log, 0, "after", 0);
    fl_store_sync(s);
    drain(s, c, 1);
    ck_assert_int_eq(c[0].status, 0);
    /* only the good records exist, now and after reopen */
    for (int pass = 0; pass < 2; pass++) {
        fl_log_batch_t b = {0};
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
        ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
        ck_assert_uint_eq(b.count, 2);
        ck_assert(b.records[0].seq == good && b.records[1].seq == after);
        ck_assert(fl_slice_eq_str(b.records[1].payload, "after"));
        fl_log_batch_free(&b);
        fl_store_close(s);
        s = open_store(dir, &o);
        ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    }
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* fl_log_append_nocopy: the payload is read in place and handed back
 * through release exactly once, after its write, also when the write
 * failed; a refused append keeps it the caller's. */
typedef struct {
    pthread_mutex_t mu;
    int released;
} release_count_t;

static release_count_t g_rel = {PTHREAD_MUTEX_INITIALIZER, 0};

static void count_release(void *arg)
{
    pthread_mutex_lock(&g_rel.mu);
    g_rel.released++;
    pthread_mutex_unlock(&g_rel.mu);
    free(arg);
}

static int released(void)
{
    pthread_mutex_lock(&g_rel.mu);
    int n = g_rel.released;
    pthread_mutex_unlock(&g_rel.mu);
    return n;
}

static uint8_t *pattern(size_t n, unsigned salt)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i + salt) * 2654435761u >> 13);
    return p;
}

START_TEST(append_nocopy_reads_in_place_and_releases_once)
{
    char *dir = fl_test_mkdtemp("st-nocopy");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {.io = &io};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    g_rel.released = 0;
    /* small (staged), big (sealed in place) and chunk-sized, beside copies */
    const size_t sizes[] = {100, 40000, 5u << 20, 0, 700};
    enum { N = 5 };
    uint8_t *want[N];
    uint64_t seq[N + 1];
    for (int i = 0; i < N; i++) {
        want[i] = pattern(sizes[i], (unsigned)i);
        uint8_t *mine = malloc(sizes[i] ? sizes[i] : 1);
        memcpy(mine, want[i], sizes[i]);
        fl_log_record_t r = rec_of(mine, sizes[i], 10 + i);
        ck_assert_int_eq(fl_log_append_nocopy(log, 0, &r, count_release, mine, NULL, &seq[i]), 0);
        if (i == 2)
            seq[N] = append_ok(log, 0, "copied", 99);
    }
    /* refused appends: release is not called, the bytes stay ours */
    uint8_t keep[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    fl_log_record_t r = rec_of(keep, sizeof keep, 0);
    uint64_t x;
    ck_assert_int_eq(fl_log_append_nocopy(log, 1, &r, count_release, keep, NULL, &x), FL_ENOTFOUND);
    ck_assert_int_eq(fl_log_append_nocopy(log, 0, &r, NULL, keep, NULL, &x), FL_EINVAL);
    fl_store_sync(s);
    fl_log_completion_t c[N + 1];
    drain(s, c, N + 1);
    for (int i = 0; i < N + 1; i++)
        ck_assert_int_eq(c[i].status, 0);
    for (int i = 0; i < 5000 && released() < N; i++)
        usleep(1000); /* release may follow the completion */
    ck_assert_int_eq(released(), N);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq[0], 0, 64u << 20, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert_uint_eq(b.count, N + 1);
    for (size_t i = 0, k = 0; i < b.count; i++) {
        if (b.records[i].seq == seq[N]) {
            ck_assert(fl_slice_eq_str(b.records[i].payload, "copied"));
            continue;
        }
        ck_assert(b.records[i].seq == seq[k]);
        ck_assert_uint_eq(b.records[i].payload.n, sizes[k]);
        if (sizes[k])
            ck_assert_mem_eq(b.records[i].payload.p, want[k], sizes[k]);
        ck_assert_int_eq(b.records[i].producer_ts_ns, 10 + (int)k);
        k++;
    }
    fl_log_batch_free(&b);
    /* a failed write hands the bytes back too */
    f.fail_pwrite = ENOSPC;
    uint8_t *doomed = pattern(3000, 7);
    r = rec_of(doomed, 3000, 0);
    ck_assert_int_eq(fl_log_append_nocopy(log, 0, &r, count_release, doomed, NULL, &x), 0);
    fl_store_sync(s);
    drain(s, c, 1);
    ck_assert_int_eq(c[0].status, -ENOSPC);
    f.fail_pwrite = 0;
    fl_store_close(s); /* the writer has stopped: every release was made */
    ck_assert_int_eq(released(), N + 1);
    for (int i = 0; i < N; i++)
        free(want[i]);
    fl_test_rmtree(dir);
}
END_TEST

/* Does the file system under dir take O_DIRECT opens? */
static int fs_takes_direct(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/probe", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_DIRECT, 0600);
    if (fd >= 0)
        close(fd);
    unlink(path);
    return fd >= 0;
}

/* Big records at every alignment: written O_DIRECT where the file system
 * allows (their aligned middle), through the page cache when the store is
 * told so or when the direct write is refused; the bytes read back the
 * same every way, before and after reopen. */
static void big_records_round_trip(int buffered, int refuse)
{
    char *dir = fl_test_mkdtemp("st-direct");
    int direct_ok = fs_takes_direct(dir);
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    f.refuse_direct = refuse;
    fl_store_opts_t o = {.io = &io, .buffered_writes = buffered, .chunk_max_bytes = 1u << 20};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    fl_log_opts_t lo = {.shard_count = 2};
    ck_assert_int_eq(fl_log_create(s, "big", &lo, &log), 0);
    /* odd small records between big ones move every big chunk to another
     * offset within its page; 262,143 is just under the direct threshold
     * once framed, 4 MiB + 1 spans several chunk sizes */
    const size_t sizes[] = {1001,   300000, 7,  (5u << 20) + 7, 4096,
                            262143, 999999, 13, 1u << 20,       (4u << 20) + 1};
    enum { N = sizeof sizes / sizeof sizes[0] };
    uint8_t *want[N];
    uint64_t seq[N];
    for (int i = 0; i < N; i++) {
        want[i] = pattern(sizes[i], (unsigned)i * 7 + 1);
        fl_log_record_t r = rec_of(want[i], sizes[i], i);
        ck_assert_int_eq(fl_log_append(log, (uint32_t)(i % 2), &r, NULL, &seq[i]), 0);
        if (i % 3 == 2)
            ck_assert_int_eq(fl_store_sync(s), 0); /* several batches */
    }
    ck_assert_int_eq(fl_store_sync(s), 0);
    fl_log_completion_t c[N];
    drain(s, c, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(c[i].status, 0);
    fl_store_stats_t st;
    fl_store_stats(s, &st);
    if (direct_ok && !buffered && !refuse)
        ck_assert_uint_gt(st.direct_bytes, 10u << 20);
    else
        ck_assert_uint_eq(st.direct_bytes, 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            fl_log_batch_t b = {0};
            fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq[i], 0, 1, 0};
            ck_assert_int_eq(fl_log_read(log, (uint32_t)(i % 2), &ro, &b), 0);
            ck_assert_uint_ge(b.count, 1);
            ck_assert(b.records[0].seq == seq[i]);
            ck_assert_uint_eq(b.records[0].payload.n, sizes[i]);
            ck_assert_mem_eq(b.records[0].payload.p, want[i], sizes[i]);
            fl_log_batch_free(&b);
        }
        fl_store_close(s);
        s = open_store(dir, &o);
        ck_assert_int_eq(fl_log_open(s, "big", &log), 0);
    }
    fl_store_close(s);
    for (int i = 0; i < N; i++)
        free(want[i]);
    fl_test_rmtree(dir);
}

START_TEST(big_records_direct_buffered_and_refused_read_back)
{
    big_records_round_trip(0, 0);
    big_records_round_trip(1, 0);
    big_records_round_trip(0, 1);
}
END_TEST

START_TEST(failed_cut_refuses_appends_until_reopen)
{
    char *dir = fl_test_mkdtemp("st-broken");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {0};
    o.io = &io;
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    append_ok(log, 0, "good", 0);
    fl_store_sync(s);
    f.fail_fdatasync = EIO; /* the cut's fdatasync fails too */
    append_ok(log, 0, "bad", 0);
    fl_store_sync(s);
    uint64_t seq;
    fl_log_record_t r = rec_of("x", 1, 0);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), FL_EIO);
    f.fail_fdatasync = 0;
    fl_store_close(s);
    s = open_store(dir, &o);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(queue_limit_says_again)
{
    char *dir = fl_test_mkdtemp("st-again");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {0};
    o.io = &io;
    o.max_pending_bytes = 4096;
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    char buf[3000] = {0};
    fl_log_record_t r = rec_of(buf, sizeof buf, 0);
    uint64_t seq;
    int again = 0;
    for (int i = 0; i < 200 && !again; i++) {
        int rc = fl_log_append(log, 0, &r, NULL, &seq);
        ck_assert(rc == 0 || rc == FL_EAGAIN);
        again = rc == FL_EAGAIN;
    }
    ck_assert(again);
    fl_store_sync(s);
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(missing_index_is_rebuilt)
{
    char *dir = fl_test_mkdtemp("st-idx");
    fl_store_opts_t o = {0};
    o.segment_max_bytes = 2048;
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    fl_log_opts_t lo = {.shard_count = 3, .retention_hours = 0};
    ck_assert_int_eq(fl_log_create(s, "v", &lo, &log), 0);
    static char bufs[30][32];
    for (int i = 0; i < 30; i++) {
        snprintf(bufs[i], sizeof bufs[i], "record-%d", i);
        append_ok(log, (uint32_t)i % 3, bufs[i], i);
        if (i % 4 == 0)
            fl_store_sync(s);
    }
    fl_store_sync(s);
    fl_store_close(s);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -f %s/logs/1/*.idx", dir);
    ck_assert_int_eq(system(cmd), 0);
    s = open_store(dir, &o);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    size_t total = 0;
    for (uint32_t sh = 0; sh < 3; sh++) {
        fl_log_batch_t b = {0};
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
        ck_assert_int_eq(fl_log_read(log, sh, &ro, &b), 0);
        for (size_t i = 0; i < b.count; i++) {
            ck_assert(b.records[i].payload.n > 7);
            ck_assert_int_eq((int)b.records[i].producer_ts_ns % 3, (int)sh);
        }
        total += b.count;
        fl_log_batch_free(&b);
    }
    ck_assert_uint_eq(total, 30);
    fl_store_close(s);
    snprintf(cmd, sizeof cmd, "ls %s/logs/1/*.idx >/dev/null", dir);
    ck_assert_int_eq(system(cmd), 0);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(flags_key_and_server_time_round_trip)
{
    char *dir = fl_test_mkdtemp("st-flags");
    fl_store_t *s = open_store(dir, NULL);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    fl_log_record_t r = rec_of("payload", 7, -5);
    r.flags = 0xdeadbeef;
    r.key = fl_slice_str("partition-7");
    r.server_ts_ns = 123456789;
    uint64_t seq;
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
    fl_store_sync(s);
    fl_store_close(s);
    s = open_store(dir, NULL);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert_uint_eq(b.records[0].flags, 0xdeadbeef);
    ck_assert(fl_slice_eq_str(b.records[0].key, "partition-7"));
    ck_assert_int_eq(b.records[0].server_ts_ns, 123456789);
    ck_assert_int_eq(b.records[0].producer_ts_ns, -5);
    fl_log_read_opts_t bad = {(fl_log_from_t)7, 0, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &bad, &b), FL_EINVAL);
    ck_assert_int_eq(fl_log_read(log, 0, NULL, &b), FL_EINVAL);
    fl_log_batch_free(&b);
    fl_log_batch_free(NULL);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(unknown_versions_are_refused)
{
    char *dir = fl_test_mkdtemp("st-version");
    fl_store_t *s = open_store(dir, NULL);
    fl_store_close(s);
    fl_store_opts_t o = {.dir = dir};
    /* a catalog from a newer framelog */
    char path[600];
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version=2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(fl_store_open(&o, &s), FL_EVERSION);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version=1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    /* a master key file of another version (CRC made to match) */
    snprintf(path, sizeof path, "%s/master.key", dir);
    size_t n;
    char *k = fl_test_read_file(path, &n);
    ck_assert_uint_eq(n, 44);
    k[4] = 2;
    /* CRC-32C over the first 40 bytes, by hand (the test does not link
     * storage internals) */
    uint32_t c = 0xFFFFFFFFu;
    for (int i = 0; i < 40; i++) {
        c ^= (uint8_t)k[i];
        for (int j = 0; j < 8; j++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    c ^= 0xFFFFFFFFu;
    memcpy(k + 40, &c, 4); /* little-endian host */
    ck_assert_int_eq(fl_test_write_file(path, k, n), 0);
    chmod(path, 0600);
    ck_assert_int_eq(fl_store_open(&o, &s), FL_EVERSION);
    free(k);
    fl_test_rmtree(dir);
}
END_TEST

typedef struct {
    fl_store_t *s;
    int rc;
} deleter_t;

static void *delete_thread(void *arg)
{
    deleter_t *d = arg;
    d->rc = fl_log_delete(d->s, "doomed");
    return NULL;
}

START_TEST(delete_with_queued_appends_closes_them)
{
    char *dir = fl_test_mkdtemp("st-delq");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {.io = &io};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "doomed", NULL, &log), 0);
    append_ok(log, 0, "warm", 0);
    fl_store_sync(s);
    fl_log_completion_t c[8];
    drain(s, c, 1);
    /* the writer thread itself is held in the pwrite of "first" (held in its
     * fdatasync instead, the writer could take the next three into a
     * pipelined batch); three more wait in the queue */
    pthread_mutex_lock(&f.mu);
    f.wgate_closed = 1;
    pthread_mutex_unlock(&f.mu);
    append_ok(log, 0, "first", 0);
    pthread_mutex_lock(&f.mu);
    while (!f.wwaiting)
        pthread_cond_wait(&f.cond, &f.mu);
    pthread_mutex_unlock(&f.mu);
    for (int i = 0; i < 3; i++)
        append_ok(log, 0, "queued", 0);
    deleter_t d = {s, 1};
    pthread_t th;
    pthread_create(&th, NULL, delete_thread, &d);
    /* once delete has begun, appends are refused */
    uint64_t seq;
    fl_log_record_t r = rec_of("late", 4, 0);
    int rc = 0;
    size_t late_ok = 0;
    for (int i = 0; i < 2000 && rc == 0; i++) {
        rc = fl_log_append(log, 0, &r, NULL, &seq);
        if (rc == 0) {
            late_ok++; /* queued before the delete began: refused too */
            usleep(1000);
        }
    }
    ck_assert_int_eq(rc, FL_ECLOSED);
    pthread_mutex_lock(&f.mu);
    f.wgate_closed = 0;
    pthread_cond_broadcast(&f.cond);
    pthread_mutex_unlock(&f.mu);
    pthread_join(th, NULL);
    ck_assert_int_eq(d.rc, 0);
    size_t n = 0, ok = 0, closed = 0, got;
    while (fl_store_poll_completions(s, c, 8, &got) == 0 && got) {
        for (size_t i = 0; i < got; i++) {
            ok += c[i].status == 0;
            closed += c[i].status == FL_ECLOSED;
        }
        n += got;
    }
    ck_assert_uint_eq(ok, 1);               /* "first" was durable before the delete */
    ck_assert_uint_eq(closed, 3 + late_ok); /* queued ones: refused, not lost */
    ck_assert_uint_eq(n, 4 + late_ok);
    char **names;
    ck_assert_int_eq(fl_log_list(s, &names, &n), 0);
    ck_assert_uint_eq(n, 0);
    fl_log_list_free(names, n);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* A delete whose call the writer takes with only a prefix of the queue
 * (more than a batch's FL_BATCH_MAX_BYTES queued): the doomed log's record
 * behind the prefix is still queued when the delete runs. Its appender has
 * let go of its handle, so the delete frees the log; the queued record must
 * still complete (FL_ECLOSED), not reach a freed log (ASan). */
START_TEST(delete_behind_a_partly_taken_queue)
{
    char *dir = fl_test_mkdtemp("st-delbig");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {.io = &io};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *other, *doomed;
    ck_assert_int_eq(fl_log_create(s, "other", NULL, &other), 0);
    ck_assert_int_eq(fl_log_create(s, "doomed", NULL, &doomed), 0);
    append_ok(other, 0, "warm", 0);
    fl_store_sync(s);
    fl_log_completion_t c[8];
    drain(s, c, 1);
    pthread_mutex_lock(&f.mu);
    f.wgate_closed = 1; /* the writer waits in the write of "first" */
    pthread_mutex_unlock(&f.mu);
    uint64_t first = append_ok(other, 0, "first", 0);
    pthread_mutex_lock(&f.mu);
    while (!f.wwaiting)
        pthread_cond_wait(&f.cond, &f.mu);
    pthread_mutex_unlock(&f.mu);
    size_t big = 40u << 20; /* two of them fill the next batch */
    uint8_t *a = pattern(big, 5);
    fl_log_record_t ra = rec_of(a, big, 0);
    uint64_t seq_big[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(fl_log_append(other, 0, &ra, NULL, &seq_big[i]), 0);
    free(a);
    uint64_t seq_doomed = append_ok(doomed, 0, "doomed", 0);
    fl_log_close(doomed); /* its appender is done with it */
    deleter_t d = {s, 1};
    pthread_t th;
    pthread_create(&th, NULL, delete_thread, &d);
    for (;;) { /* the delete is queued for the writer */
        pthread_mutex_lock(&s->mu);
        int queued = s->ctl_head != NULL;
        pthread_mutex_unlock(&s->mu);
        if (queued)
            break;
        usleep(1000);
    }
    pthread_mutex_lock(&f.mu);
    f.wgate_closed = 0;
    pthread_cond_broadcast(&f.cond);
    pthread_mutex_unlock(&f.mu);
    pthread_join(th, NULL);
    ck_assert_int_eq(d.rc, 0);
    fl_store_sync(s);
    drain(s, c, 4);
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        if (c[i].log == other) {
            ck_assert(c[i].seq == first || c[i].seq == seq_big[0] || c[i].seq == seq_big[1]);
            ck_assert_int_eq(c[i].status, 0);
            seen++;
        } else {
            ck_assert(c[i].seq == seq_doomed);
            ck_assert_int_eq(c[i].status, FL_ECLOSED);
        }
    }
    ck_assert_int_eq(seen, 3);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(open_reads_indexes_not_data)
{
    char *dir = fl_test_mkdtemp("st-opencost");
    fl_store_opts_t o = {.segment_max_bytes = 64 * 1024};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    fl_log_opts_t lo = {.shard_count = 2};
    ck_assert_int_eq(fl_log_create(s, "v", &lo, &log), 0);
    static uint8_t buf[10000];
    for (int i = 0; i < 400; i++) {
        memset(buf, i, sizeof buf);
        fl_log_record_t r = rec_of(buf, sizeof buf, i);
        uint64_t seq;
        ck_assert_int_eq(fl_log_append(log, (uint32_t)i % 2, &r, NULL, &seq), 0);
        if (i % 8 == 7)
            fl_store_sync(s);
    }
    fl_store_sync(s);
    uint64_t data = fl_store_bytes(s);
    fl_store_close(s);
    ck_assert_uint_gt(data, 4000000);
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    o.io = &io;
    s = open_store(dir, &o);
    /* indexes (72 bytes a chunk) and segment headers, not the 4 MB */
    ck_assert_msg(f.read_bytes < 100000, "open read %lld bytes of %llu", f.read_bytes,
                  (unsigned long long)data);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_PRODUCER_TS, 0, 399, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 1, &ro, &b), 0);
    ck_assert_int_eq(b.records[0].producer_ts_ns, 399);
    ck_assert_uint_eq(b.records[0].payload.p[0], 399 & 0xff);
    fl_log_batch_free(&b);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(delete_destroys_key_before_files_go)
{
    char *dir = fl_test_mkdtemp("st-delkey");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {.io = &io};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "gone", NULL, &log), 0);
    append_ok(log, 0, "secret", 0);
    fl_store_sync(s);
    fl_log_info_t info;
    fl_log_info(log, &info);
    /* the files cannot be removed (as if the process died right after the
     * key was destroyed) */
    f.fail_unlink = EIO;
    ck_assert_int_eq(fl_log_delete(s, "gone"), 0);
    ck_assert_int_eq(fl_log_open(s, "gone", &log), FL_ENOTFOUND);
    fl_store_close(s);
    char path[600];
    snprintf(path, sizeof path, "%s/logs/%llu", dir, (unsigned long long)info.id);
    ck_assert_int_eq(access(path, F_OK), 0); /* the bytes are still there */
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT wrapped_key IS NULL, deleting FROM logs", -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1); /* but their key is gone */
    ck_assert_int_eq(sqlite3_column_int(st, 1), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* the next open finishes the delete */
    f.fail_unlink = 0;
    s = open_store(dir, &o);
    snprintf(path, sizeof path, "%s/logs/%llu", dir, (unsigned long long)info.id);
    ck_assert_int_ne(access(path, F_OK), 0);
    char **names;
    size_t n;
    ck_assert_int_eq(fl_log_list(s, &names, &n), 0);
    ck_assert_uint_eq(n, 0);
    fl_log_list_free(names, n);
    fl_store_close(s);
    fl_test_rmtree(dir);
}
END_TEST

/* X's write waits at the gate (the writer writes and syncs it itself:
 * nothing was queued behind it) until nbig records as big as a batch may
 * be (a batch each) and B are queued; then the first big one's fdatasync
 * fails. Every batch sealed behind it before the segment was cut back fails
 * too; B, sealed right behind the last big one, fails when that one was
 * sealed before the cut (nbig = 1: always) and may succeed otherwise.
 * Whatever completed with 0 reads back, nothing else does, also after
 * reopen. */
static void failed_sync_behind(int nbig)
{
    char *dir = fl_test_mkdtemp("st-pipe");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    /* (segments big enough that no spare segment is made: its fdatasyncs
     * would take the failure meant for the first big record) */
    fl_store_opts_t o = {.io = &io, .segment_max_bytes = UINT64_C(1) << 30};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    uint64_t warm = append_ok(log, 0, "warm", 0);
    fl_store_sync(s);
    fl_log_completion_t c[8];
    drain(s, c, 1);
    pthread_mutex_lock(&f.mu);
    f.wgate_closed = 1;
    f.fail_fdatasync = EIO;
    f.fail_fdatasync_n = 1;
    f.pass_fdatasync_n = 1; /* X's */
    pthread_mutex_unlock(&f.mu);
    uint64_t x = append_ok(log, 0, "X", 0);
    pthread_mutex_lock(&f.mu);
    while (!f.wwaiting)
        pthread_cond_wait(&f.cond, &f.mu);
    pthread_mutex_unlock(&f.mu);
    size_t big = FL_LOG_MAX_PAYLOAD;
    uint8_t *a = pattern(big, 3);
    fl_log_record_t ra = rec_of(a, big, 0);
    uint64_t seq_big[2];
    for (int i = 0; i < nbig; i++)
        ck_assert_int_eq(fl_log_append(log, 0, &ra, NULL, &seq_big[i]), 0);
    free(a);
    uint64_t seq_b = append_ok(log, 0, "B", 0);
    pthread_mutex_lock(&f.mu);
    f.wgate_closed = 0;
    pthread_cond_broadcast(&f.cond);
    pthread_mutex_unlock(&f.mu);
    fl_store_sync(s);
    drain(s, c, 2 + (size_t)nbig);
    ck_assert(c[0].seq == x);
    ck_assert_int_eq(c[0].status, 0);
    for (int i = 0; i < nbig; i++) { /* sealed before the first one's cut */
        ck_assert(c[1 + i].seq == seq_big[i]);
        ck_assert_int_eq(c[1 + i].status, FL_EIO);
    }
    ck_assert(c[1 + nbig].seq == seq_b);
    int b_ok = c[1 + nbig].status == 0;
    ck_assert(b_ok || c[1 + nbig].status == FL_EIO);
    if (nbig == 1)
        ck_assert(!b_ok); /* cut away with the big one: never "durable" */
    uint64_t after = append_ok(log, 0, "C", 0);
    fl_store_sync(s);
    drain(s, c, 1);
    ck_assert_int_eq(c[0].status, 0);
    for (int pass = 0; pass < 2; pass++) {
        fl_log_batch_t b = {0};
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
        ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
        ck_assert_uint_eq(b.count, 3u + (unsigned)b_ok);
        ck_assert(b.records[0].seq == warm && b.records[1].seq == x);
        if (b_ok)
            ck_assert(b.records[2].seq == seq_b && fl_slice_eq_str(b.records[2].payload, "B"));
        ck_assert(b.records[2 + b_ok].seq == after);
        ck_assert(fl_slice_eq_str(b.records[2 + b_ok].payload, "C"));
        fl_log_batch_free(&b);
        fl_store_close(s);
        s = open_store(dir, &o);
        ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    }
    fl_store_close(s);
    fl_test_rmtree(dir);
}

START_TEST(failed_sync_also_fails_the_batch_written_behind_it)
{
    failed_sync_behind(1);
}
END_TEST

START_TEST(failed_sync_fails_the_batches_queued_behind_it)
{
    failed_sync_behind(2);
}
END_TEST

/* The two-stage pipeline under failed fdatasyncs: 3 logs of 2 shards, 1 MiB
 * segments (rolls, spares, seals), records of 100 B to 5 KiB and one in 40
 * of 300 KiB (O_DIRECT where the file system takes it), appended as fast as
 * the queue takes them so that batches queue behind each other on the sync
 * stage, while an fdatasync fails every 150 records (after 0 to 3 that
 * pass). Every record completed with 0 reads back byte-identical, and
 * nothing else is read (unless its log could not cut a failed batch),
 * before and after reopen. */
typedef struct {
    uint32_t log, shard, size, salt;
    uint64_t seq;
    int status; /* 1: not completed yet */
} stress_rec_t;

static size_t stress_poll(fl_store_t *s, stress_rec_t *v)
{
    fl_log_completion_t c[64];
    size_t n = 0, got;
    while (fl_store_poll_completions(s, c, 64, &got) == 0 && got) {
        for (size_t i = 0; i < got; i++) {
            stress_rec_t *r = c[i].data;
            ck_assert(r >= v && r->status == 1 && c[i].seq == r->seq);
            r->status = c[i].status;
        }
        n += got;
    }
    return n;
}

static void stress_check(fl_log_t **logs, const int *broken, const stress_rec_t *v, size_t n)
{
    for (uint32_t l = 0; l < 3; l++)
        for (uint32_t sh = 0; sh < 2; sh++) {
            uint64_t at = 0, last = 0;
            size_t found = 0, want = 0;
            for (;;) {
                fl_log_batch_t b = {0};
                fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, at, 0, 0, 0};
                int rc = fl_log_read(logs[l], sh, &ro, &b);
                if (rc == FL_EAGAIN)
                    break;
                ck_assert_msg(rc == 0, "log %u shard %u read at %llu: %s", l, sh,
                              (unsigned long long)at, fl_strerror(rc));
                for (size_t k = 0; k < b.count; k++) {
                    const fl_log_record_t *x = &b.records[k];
                    ck_assert(x->seq > last || (last == 0 && found == 0));
                    last = x->seq;
                    const stress_rec_t *r = NULL;
                    for (size_t i = 0; i < n && !r; i++)
                        if (v[i].log == l && v[i].shard == sh && v[i].seq == x->seq)
                            r = &v[i];
                    ck_assert_msg(r != NULL, "log %u shard %u: seq %llu never appended", l, sh,
                                  (unsigned long long)x->seq);
                    ck_assert_msg(r->status == 0 || broken[l],
                                  "log %u shard %u: seq %llu read back, completed with %s", l, sh,
                                  (unsigned long long)x->seq, fl_strerror(r->status));
                    uint8_t *p = pattern(r->size, r->salt);
                    ck_assert(x->payload.n == r->size && !memcmp(x->payload.p, p, r->size));
                    free(p);
                    found += r->status == 0;
                }
                at = b.next_seq;
                fl_log_batch_free(&b);
            }
            for (size_t i = 0; i < n; i++)
                want += v[i].log == l && v[i].shard == sh && v[i].status == 0;
            ck_assert_msg(found == want, "log %u shard %u: %zu of %zu completed records read", l,
                          sh, found, want);
        }
}

START_TEST(pipeline_with_failed_syncs_keeps_what_completed)
{
    char *dir = fl_test_mkdtemp("st-pipestress");
    fault_io_t f = {0};
    fl_store_io_t io = fault_table(&f);
    fl_store_opts_t o = {.io = &io, .segment_max_bytes = 1u << 20};
    fl_store_t *s = open_store(dir, &o);
    fl_log_t *logs[3];
    fl_log_opts_t lo = {.shard_count = 2};
    char name[16];
    for (int l = 0; l < 3; l++) {
        snprintf(name, sizeof name, "p%d", l);
        ck_assert_int_eq(fl_log_create(s, name, &lo, &logs[l]), 0);
    }
    enum { N = 3000 };
    stress_rec_t *v = calloc(N, sizeof *v);
    int broken[3] = {0, 0, 0};
    size_t done = 0, appended = 0;
    unsigned rnd = 12345;
    for (size_t i = 0; i < N; i++) {
        rnd = rnd * 1103515245u + 12345u;
        stress_rec_t *r = &v[i];
        r->log = (rnd >> 8) % 3;
        r->shard = (rnd >> 12) & 1;
        r->size = i % 40 == 39 ? 300u << 10 : 100 + (rnd >> 16) % 5000;
        r->salt = (uint32_t)i;
        r->status = 1;
        if (broken[r->log]) {
            r->status = FL_EIO;
            continue;
        }
        if (i % 150 == 75) {
            pthread_mutex_lock(&f.mu);
            f.fail_fdatasync = EIO;
            f.fail_fdatasync_n = 1;
            f.pass_fdatasync_n = (int)((rnd >> 20) % 4);
            pthread_mutex_unlock(&f.mu);
        }
        uint8_t *p = pattern(r->size, r->salt);
        fl_log_record_t rec = rec_of(p, r->size, (int64_t)i);
        int rc;
        while ((rc = fl_log_append(logs[r->log], r->shard, &rec, r, &r->seq)) == FL_EAGAIN) {
            done += stress_poll(s, v);
            usleep(200);
        }
        free(p);
        if (rc == FL_EIO) { /* a cut that could not be made durable */
            broken[r->log] = 1;
            r->status = FL_EIO;
            continue;
        }
        ck_assert_msg(rc == 0, "append: %s", fl_strerror(rc));
        appended++;
        if (i % 16 == 0)
            done += stress_poll(s, v);
    }
    fl_store_sync(s);
    while (done < appended) {
        ck_assert_int_eq(fl_store_wait_completions(s, 10000), 0);
        done += stress_poll(s, v);
    }
    pthread_mutex_lock(&f.mu);
    f.fail_fdatasync = 0;
    pthread_mutex_unlock(&f.mu);
    size_t ok = 0;
    for (size_t i = 0; i < N; i++)
        ok += v[i].status == 0;
    ck_assert(ok > N / 10);
    for (int pass = 0; pass < 2; pass++) {
        stress_check(logs, broken, v, N);
        fl_store_close(s);
        s = open_store(dir, &o);
        for (int l = 0; l < 3; l++) {
            snprintf(name, sizeof name, "p%d", l);
            ck_assert_int_eq(fl_log_open(s, name, &logs[l]), 0);
        }
    }
    fl_store_close(s);
    free(v);
    fl_test_rmtree(dir);
}
END_TEST

static int count_files_with(const char *dir, const void *needle, size_t n)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "find %s -name '*.seg' -o -name '*.idx' -o -name '*.db*'", dir);
    FILE *p = popen(cmd, "r");
    char path[1024];
    int hits = 0;
    while (fgets(path, sizeof path, p)) {
        path[strcspn(path, "\n")] = 0;
        size_t len;
        char *data = fl_test_read_file(path, &len);
        if (data && len >= n && memmem(data, len, needle, n))
            hits++;
        free(data);
    }
    pclose(p);
    return hits;
}

int main(void)
{
    fl_diag_set_level(FL_DIAG_OFF);
    Suite *s = suite_create("storage");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, open_creates_key_0600_and_locks_the_dir);
    tcase_add_test(tc, big_records_direct_buffered_and_refused_read_back);
    tcase_add_test(tc, open_refuses_bad_arguments_and_readable_key);
    tcase_add_test(tc, wrong_master_key_cannot_open_logs);
    tcase_add_test(tc, named_master_key_is_remembered);
    tcase_add_test(tc, unknown_versions_are_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("meta");
    tcase_add_test(tc, create_list_info_tags_retention);
    tcase_add_test(tc, partition_key_picks_shard_by_md5);
    tcase_add_test(tc, delete_destroys_key_then_files);
    tcase_add_test(tc, delete_with_queued_appends_closes_them);
    tcase_add_test(tc, delete_destroys_key_before_files_go);
    tcase_add_test(tc, handles_are_counted_and_closed);
    tcase_add_test(tc, delete_with_open_handles_is_safe);
    tcase_add_test(tc, reads_racing_a_delete_end_with_notfound);
    tcase_add_test(tc, split_and_merge_keep_lineage);
    suite_add_tcase(s, tc);
    tc = tcase_create("append_read");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, append_completes_through_fd_and_reads_back);
    tcase_add_test(tc, append_rejects_bad_records);
    tcase_add_test(tc, flags_key_and_server_time_round_trip);
    tcase_add_test(tc, large_record_round_trips);
    tcase_add_test(tc, read_limits_bytes_and_records);
    tcase_add_test(tc, read_each_matches_read);
    tcase_add_test(tc, read_by_server_and_producer_time);
    tcase_add_test(tc, sequence_numbers_grow_across_reopen);
    tcase_add_test(tc, max_producer_time_is_kept_across_reopen);
    tcase_add_test(tc, group_commit_shares_fdatasync_across_shards_and_logs);
    tcase_add_test(tc, payload_is_encrypted_on_disk);
    tcase_add_test(tc, watch_wakes_follower_on_new_data);
    tcase_add_test(tc, missing_index_is_rebuilt);
    tcase_add_test(tc, open_reads_indexes_not_data);
    suite_add_tcase(s, tc);
    tc = tcase_create("retention");
    tcase_add_test(tc, retention_by_age_expires_whole_segments);
    tcase_add_test(tc, retention_by_bytes_removes_oldest_first);
    suite_add_tcase(s, tc);
    tc = tcase_create("faults");
    tcase_set_timeout(tc, 120); /* batches of 64 MiB records, on a busy machine */
    tcase_add_test(tc, write_error_fails_batch_then_recovers);
    tcase_add_test(tc, failed_cut_refuses_appends_until_reopen);
    tcase_add_test(tc, delete_behind_a_partly_taken_queue);
    tcase_add_test(tc, pipeline_with_failed_syncs_keeps_what_completed);
    tcase_add_test(tc, failed_sync_also_fails_the_batch_written_behind_it);
    tcase_add_test(tc, failed_sync_fails_the_batches_queued_behind_it);
    tcase_add_test(tc, queue_limit_says_again);
    tcase_add_test(tc, append_nocopy_reads_in_place_and_releases_once);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
