/*
 * tests/test_storage_crash.c — kill -9 at random moments.
 *
 * Each round forks a child that opens the store and appends records of
 * random sizes to several shards as fast as it can, writing every
 * completion it gets (shard, sequence number, record id) to a pipe. The
 * parent SIGKILLs it after a random delay (sometimes while it is still
 * opening, i.e. during recovery), reopens the store and checks that:
 *   - every record whose completion was reported reads back byte-identical;
 *   - a full scan of every shard returns only intact records, with
 *     strictly increasing sequence numbers;
 *   - new sequence numbers are above everything seen before.
 * 200 rounds by default; FL_CRASH_ROUNDS=N runs N (thousands for soak);
 * FL_CRASH_VERBOSE=1 logs what each recovery did.
 *
 * A rolled segment's index is sealed by a helper thread while the writer
 * goes on in the next segment. kill9_while_sealing holds that seal (the
 * index's cut to its footer blocks in the I/O table) until records were
 * completed in the segments after it, kills the child there, and checks
 * the same: every completed record reads back, in order, after reopen.
 *
 * The next segment is made ahead of its roll (a spare: a segment file of
 * its header only, after the active one). kill9_with_spare_segment kills
 * the child while a spare is on disk (sometimes with the spare's header
 * then cut short, as a power cut during its creation leaves it) and checks
 * that every completed record reads back, that open removed the spare (the
 * active segment is the one before it again) and that later rounds append
 * and roll on.
 */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/error.h"
#include "harness.h"
#include "storage/log.h"

#define SHARDS 4

typedef struct {
    uint32_t shard;
    uint32_t pad;
    uint64_t seq;
    uint64_t id;
} done_t;

static size_t len_of(uint64_t id)
{
    if (id % 291 == 0)
        return 300000 + (size_t)(id % 4099); /* its chunk is written O_DIRECT */
    if (id % 97 == 0)
        return 150000 + (size_t)(id % 1000);
    return 8 + (size_t)((id * 7919) % 3000);
}

static void fill(uint64_t id, uint8_t *p, size_t n)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    memcpy(p, &id, 8);
}

static fl_store_opts_t opts(const char *dir)
{
    fl_store_opts_t o = {0};
    o.dir = dir;
    o.segment_max_bytes = 512 * 1024; /* rolls often */
    return o;
}

/* kill9_while_sealing: once armed (the child saw a completion: its open
 * and its writer's start are behind it), the I/O table's ftruncate of an
 * index file (only the seal of a rolled segment cuts an index) reports
 * itself on the pipe (a done_t with shard UINT32_MAX), then blocks until
 * the kill. */
static int seal_pipe = -1;
static int seal_armed; /* atomic */

static int blocking_ftruncate(void *ctx, int fd, off_t len)
{
    if (!__atomic_load_n(&seal_armed, __ATOMIC_RELAXED))
        return fl_store_io_default()->ftruncate(ctx, fd, len);
    char link[64], path[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    if (n > 4 && strcmp(path + n - 4, ".idx") == 0) {
        done_t d = {UINT32_MAX, 0, 0, 0};
        if (write(seal_pipe, &d, sizeof d) != sizeof d)
            _exit(6);
        for (;;)
            pause();
    }
    return fl_store_io_default()->ftruncate(ctx, fd, len);
}

static void child(const char *dir, int wfd, uint64_t id_base, int block_seal)
{
    fl_store_opts_t o = opts(dir);
    fl_store_io_t io = *fl_store_io_default();
    if (block_seal) {
        seal_pipe = wfd;
        io.ftruncate = blocking_ftruncate;
        o.io = &io;
    }
    fl_store_t *s;
    fl_log_t *log;
    if (fl_store_open(&o, &s) < 0 || fl_log_open(s, "crash", &log) < 0)
        _exit(3);
    uint8_t *buf = malloc(400000);
    uint64_t id = id_base;
    size_t inflight = 0;
    fl_log_completion_t c[64];
    for (;;) {
        while (inflight < 48) {
            size_t n = len_of(id);
            fill(id, buf, n);
            fl_log_record_t r = {0};
            r.payload = fl_slice(buf, n);
            r.producer_ts_ns = (int64_t)id;
            uint64_t seq;
            if (fl_log_append(log, (uint32_t)(id % SHARDS), &r, (void *)(uintptr_t)id, &seq) < 0)
                _exit(4);
            id++;
            inflight++;
        }
        fl_store_wait_completions(s, 1000);
        size_t n = 0;
        fl_store_poll_completions(s, c, 64, &n);
        if (n)
            __atomic_store_n(&seal_armed, 1, __ATOMIC_RELAXED);
        for (size_t i = 0; i < n; i++) {
            inflight--;
            if (c[i].status != 0)
                continue;
            done_t d = {c[i].shard, 0, c[i].seq, (uint64_t)(uintptr_t)c[i].data};
            if (write(wfd, &d, sizeof d) != sizeof d)
                _exit(5);
        }
    }
}

/* Every record in the shard is intact and in order; returns the count. */
static size_t scan_shard(fl_log_t *log, uint32_t shard, uint64_t *max_seq)
{
    fl_log_batch_t b = {0};
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 1 << 20, 0};
    uint8_t *want = malloc(400000);
    size_t count = 0;
    uint64_t prev = 0;
    int rc;
    while ((rc = fl_log_read(log, shard, &ro, &b)) == 0) {
        for (size_t i = 0; i < b.count; i++) {
            const fl_log_record_t *r = &b.records[i];
            ck_assert(count == 0 || r->seq > prev);
            prev = r->seq;
            ck_assert_uint_ge(r->payload.n, 8);
            uint64_t id;
            memcpy(&id, r->payload.p, 8);
            ck_assert_uint_eq(r->payload.n, len_of(id));
            ck_assert_uint_eq(id % SHARDS, shard);
            fill(id, want, r->payload.n);
            ck_assert(memcmp(want, r->payload.p, r->payload.n) == 0);
            count++;
        }
        ro.seq = b.next_seq;
    }
    ck_assert_int_eq(rc, FL_EAGAIN);
    if (count && prev > *max_seq)
        *max_seq = prev;
    fl_log_batch_free(&b);
    free(want);
    return count;
}

START_TEST(kill9_loses_no_completed_record)
{
    const char *env = getenv("FL_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 200;
    char *dir = NULL;
    srand(12345);
    uint64_t max_seen[SHARDS] = {0};
    uint8_t *want = malloc(400000);
    size_t total_done = 0, total_recovered = 0;
    for (int round = 0; round < rounds; round++) {
        if (round % 10 == 0) { /* keep the data dir small: start afresh */
            if (dir)
                fl_test_rmtree(dir);
            dir = fl_test_mkdtemp("st-crash");
            fl_store_opts_t o = opts(dir);
            fl_store_t *s;
            fl_log_t *log;
            ck_assert_int_eq(fl_store_open(&o, &s), 0);
            fl_log_opts_t lo = {.shard_count = SHARDS, .retention_hours = 0};
            ck_assert_int_eq(fl_log_create(s, "crash", &lo, &log), 0);
            fl_store_close(s);
            memset(max_seen, 0, sizeof max_seen);
        }
        int pfd[2];
        ck_assert_int_eq(pipe(pfd), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(pfd[0]);
            child(dir, pfd[1], (uint64_t)round * 10000000ull, 0);
        }
        close(pfd[1]);
        usleep((useconds_t)(rand() % 40000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        ck_assert_msg(WIFSIGNALED(st), "child exited on its own: status %d", st);
        /* completions the child reported before it died */
        size_t cap = 1024, n = 0;
        done_t *done = malloc(cap * sizeof *done);
        for (;;) {
            if (n == cap)
                done = realloc(done, (cap *= 2) * sizeof *done);
            ssize_t r = read(pfd[0], &done[n], sizeof *done);
            if (r <= 0)
                break;
            ck_assert_int_eq(r, sizeof *done);
            n++;
        }
        close(pfd[0]);
        total_done += n;

        fl_store_opts_t o = opts(dir);
        fl_store_t *s;
        fl_log_t *log;
        int rc = fl_store_open(&o, &s);
        ck_assert_msg(rc == 0, "round %d: reopen: %s", round, fl_strerror(rc));
        ck_assert_int_eq(fl_log_open(s, "crash", &log), 0);
        fl_log_batch_t b = {0};
        for (size_t i = 0; i < n; i++) {
            fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, done[i].seq, 0, 0, 1};
            rc = fl_log_read(log, done[i].shard, &ro, &b);
            ck_assert_msg(rc == 0, "round %d: completed record shard %u seq %llu: %s", round,
                          done[i].shard, (unsigned long long)done[i].seq, fl_strerror(rc));
            ck_assert(b.records[0].seq == done[i].seq);
            size_t len = len_of(done[i].id);
            ck_assert_uint_eq(b.records[0].payload.n, len);
            fill(done[i].id, want, len);
            ck_assert_msg(memcmp(b.records[0].payload.p, want, len) == 0,
                          "round %d: record differs", round);
            /* numbers handed out after the last reopen's probe are above it */
            ck_assert(done[i].seq > max_seen[done[i].shard]);
        }
        fl_log_batch_free(&b);
        uint64_t max_seq[SHARDS] = {0};
        for (uint32_t sh = 0; sh < SHARDS; sh++) {
            total_recovered += scan_shard(log, sh, &max_seq[sh]);
            /* sequence numbers only grow, whatever was lost: probe with a
             * record of the same format (ids from a range of its own) */
            uint64_t pid_ = (1ull << 50) + (uint64_t)round * SHARDS + sh;
            fill(pid_, want, len_of(pid_));
            fl_log_record_t r = {0};
            r.payload = fl_slice(want, len_of(pid_));
            uint64_t seq;
            ck_assert_int_eq(fl_log_append(log, sh, &r, NULL, &seq), 0);
            ck_assert(seq > max_seq[sh]);
            ck_assert(seq > max_seen[sh]);
            max_seen[sh] = seq;
        }
        fl_store_sync(s);
        fl_store_close(s);
        free(done);
    }
    fprintf(stderr, "crash: %d rounds, %zu completed records checked, %zu records scanned\n",
            rounds, total_done, total_recovered);
    free(want);
    fl_test_rmtree(dir);
}
END_TEST

/* Reopen dir and check that every record in done[0..n) reads back
 * byte-identical and that every shard scans intact and in order; returns
 * the records scanned. */
static size_t check_after_kill(const char *dir, const done_t *done, size_t n)
{
    fl_store_opts_t o = opts(dir);
    fl_store_t *s;
    fl_log_t *log;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    ck_assert_int_eq(fl_log_open(s, "crash", &log), 0);
    uint8_t *want = malloc(400000);
    fl_log_batch_t b = {0};
    for (size_t i = 0; i < n; i++) {
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, done[i].seq, 0, 0, 1};
        int rc = fl_log_read(log, done[i].shard, &ro, &b);
        ck_assert_msg(rc == 0, "completed record shard %u seq %llu: %s", done[i].shard,
                      (unsigned long long)done[i].seq, fl_strerror(rc));
        ck_assert(b.records[0].seq == done[i].seq);
        size_t len = len_of(done[i].id);
        ck_assert_uint_eq(b.records[0].payload.n, len);
        fill(done[i].id, want, len);
        ck_assert(memcmp(b.records[0].payload.p, want, len) == 0);
    }
    fl_log_batch_free(&b);
    size_t scanned = 0;
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        uint64_t max_seq = 0;
        scanned += scan_shard(log, sh, &max_seq);
    }
    fl_store_close(s);
    free(want);
    return scanned;
}

/* A fresh data dir holding the log "crash". */
static char *fresh_store(const char *tag)
{
    char *dir = fl_test_mkdtemp(tag);
    fl_store_opts_t o = opts(dir);
    fl_store_t *s;
    fl_log_t *log;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    fl_log_opts_t lo = {.shard_count = SHARDS, .retention_hours = 0};
    ck_assert_int_eq(fl_log_create(s, "crash", &lo, &log), 0);
    fl_store_close(s);
    return dir;
}

/* Fork the appending child; *rfd: the read end of its report pipe. */
static pid_t spawn_child(const char *dir, uint64_t id_base, int block_seal, int *rfd)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        child(dir, pfd[1], id_base, block_seal);
    }
    close(pfd[1]);
    *rfd = pfd[0];
    return pid;
}

/* SIGKILL the child, then read the completions it reported before it died
 * (seal markers left out) and close the pipe. */
static void kill_and_collect(pid_t pid, int rfd, done_t **done, size_t *n, size_t *cap)
{
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFSIGNALED(st));
    for (;;) {
        if (*n == *cap)
            *done = realloc(*done, (*cap *= 2) * sizeof **done);
        ssize_t r = read(rfd, &(*done)[*n], sizeof **done);
        if (r <= 0)
            break;
        if ((*done)[*n].shard != UINT32_MAX)
            (*n)++;
    }
    close(rfd);
}

START_TEST(kill9_while_sealing)
{
    char *dir = fresh_store("st-crash-seal");
    for (int round = 0; round < 3; round++) {
        int rfd;
        pid_t pid = spawn_child(dir, (uint64_t)round * 10000000ull, 1, &rfd);
        /* completions until the seal blocked, then 2 MiB worth of segments
         * (4 rolls) completed behind it */
        size_t cap = 1024, n = 0, after = 0;
        uint64_t bytes_after = 0;
        int sealing = 0;
        done_t *done = malloc(cap * sizeof *done);
        while (bytes_after < (2u << 20)) {
            if (n == cap)
                done = realloc(done, (cap *= 2) * sizeof *done);
            /* commits must go on while the seal is held: a generous bound
             * on the next report, not a duration measured */
            struct pollfd pf = {rfd, POLLIN, 0};
            if (poll(&pf, 1, 120000) == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                ck_abort_msg("no completion for 120 s %s",
                             sealing ? "while a seal was held" : "before any seal");
            }
            ssize_t r = read(rfd, &done[n], sizeof *done);
            ck_assert_msg(r == sizeof *done, "child stopped reporting (%zd)", r);
            if (done[n].shard == UINT32_MAX) {
                sealing = 1;
                continue;
            }
            if (sealing) {
                after++;
                bytes_after += len_of(done[n].id);
            }
            n++;
        }
        kill_and_collect(pid, rfd, &done, &n, &cap);
        ck_assert_uint_gt(after, 0);
        size_t scanned = check_after_kill(dir, done, n);
        ck_assert_uint_ge(scanned, n);
        free(done);
    }
    fl_test_rmtree(dir);
}
END_TEST

/* The log's folder (the store holds one log) and its highest segment
 * number and that segment's size, and whether the segment before it holds
 * chunks: spare_seen says a spare is on disk. */
typedef struct {
    char logdir[1024];
    uint64_t top, top_size;
    int nsegs, before_has_chunks;
} segs_t;

static void list_segs(const char *dir, segs_t *g)
{
    memset(g, 0, sizeof *g);
    char logs[600];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    DIR *d = opendir(logs);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            snprintf(g->logdir, sizeof g->logdir, "%s/%s", logs, e->d_name);
    closedir(d);
    ck_assert(g->logdir[0]);
    d = opendir(g->logdir);
    ck_assert_ptr_nonnull(d);
    uint64_t prev = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n != 24 || strcmp(e->d_name + 20, ".seg") != 0)
            continue;
        uint64_t segno = strtoull(e->d_name, NULL, 10);
        g->nsegs++;
        if (segno > g->top) {
            prev = g->top;
            g->top = segno;
        } else if (segno > prev) {
            prev = segno;
        }
    }
    closedir(d);
    char path[1100];
    struct stat st;
    snprintf(path, sizeof path, "%s/%020llu.seg", g->logdir, (unsigned long long)g->top);
    g->top_size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    snprintf(path, sizeof path, "%s/%020llu.seg", g->logdir, (unsigned long long)prev);
    g->before_has_chunks = prev && stat(path, &st) == 0 && st.st_size > 32;
}

static int spare_seen(const segs_t *g)
{
    return g->nsegs > 1 && g->top_size <= 32 && g->before_has_chunks;
}

START_TEST(kill9_with_spare_segment)
{
    char *dir = fresh_store("st-crash-spare");
    segs_t g;
    list_segs(dir, &g);
    ck_assert_int_eq(g.nsegs, 1); /* a closed store leaves no spare */
    int killed_with_spare = 0;
    for (int round = 0; round < 40 && killed_with_spare < 4; round++) {
        int rfd;
        pid_t pid = spawn_child(dir, (uint64_t)round * 10000000ull, 0, &rfd);
        /* completions until a spare is on disk (a roll or two later at
         * most: the child rolls a 512 KiB segment every few batches) */
        size_t cap = 1024, n = 0;
        done_t *done = malloc(cap * sizeof *done);
        for (int reads = 0; reads < 100000; reads++) {
            if (n == cap)
                done = realloc(done, (cap *= 2) * sizeof *done);
            struct pollfd pf = {rfd, POLLIN, 0};
            if (poll(&pf, 1, 120000) == 0)
                break;
            ssize_t r = read(rfd, &done[n], sizeof *done);
            ck_assert_msg(r == sizeof *done, "child stopped reporting (%zd)", r);
            n++;
            list_segs(dir, &g);
            if (spare_seen(&g))
                break;
        }
        kill_and_collect(pid, rfd, &done, &n, &cap);
        list_segs(dir, &g); /* after the kill: what open will find */
        int spare = spare_seen(&g);
        uint64_t spare_no = g.top;
        char spare_path[1100];
        snprintf(spare_path, sizeof spare_path, "%s/%020llu.seg", g.logdir,
                 (unsigned long long)spare_no);
        if (spare) {
            killed_with_spare++;
            if (killed_with_spare % 2 == 0) /* as if its header never reached the disk */
                ck_assert_int_eq(truncate(spare_path, 10), 0);
        }
        size_t scanned = check_after_kill(dir, done, n);
        ck_assert_uint_ge(scanned, n);
        list_segs(dir, &g);
        if (spare) { /* gone, and the segment before it is the active one */
            ck_assert_msg(access(spare_path, F_OK) != 0, "spare %s still there", spare_path);
            ck_assert_uint_eq(g.top, spare_no - 1);
        }
        ck_assert(g.nsegs == 1 || g.top_size > 32); /* no spare after a close */
        free(done);
    }
    ck_assert_int_ge(killed_with_spare, 1);
    fl_test_rmtree(dir);
}
END_TEST

int main(void)
{
    /* FL_CRASH_VERBOSE=1 shows what recovery did (torn tails cut, ...) */
    fl_diag_set_level(getenv("FL_CRASH_VERBOSE") ? FL_DIAG_INFO : FL_DIAG_OFF);
    Suite *s = suite_create("storage_crash");
    TCase *tc = tcase_create("kill9");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, kill9_loses_no_completed_record);
    suite_add_tcase(s, tc);
    TCase *seal = tcase_create("seal");
    tcase_set_timeout(seal, 600);
    tcase_add_test(seal, kill9_while_sealing);
    suite_add_tcase(s, seal);
    TCase *spare = tcase_create("spare");
    tcase_set_timeout(spare, 600);
    tcase_add_test(spare, kill9_with_spare_segment);
    suite_add_tcase(s, spare);
    return fl_test_main(s);
}
