/*
 * tests/test_storage_powerloss.c — power loss at any instant, simulated.
 *
 * kill -9 (test_storage_crash) keeps the page cache; a power cut does not.
 * Here the store runs on an I/O table that remembers every write that no
 * fdatasync has covered yet and every file created since its directory was
 * last fsync'd. After a random number of syncs the "power fails": that sync
 * and every later call fail with EIO. The store is closed, and then each
 * write that was not yet covered is, at random, kept, cut off (the file is
 * truncated where it began) or partly overwritten with garbage, and files
 * whose directory entry was not yet durable may vanish. The store is then
 * reopened on the real disk and must hold every record whose completion
 * said 0, byte for byte, return nothing else but intact records, and hand
 * out sequence numbers above all it handed out before.
 * FL_POWERLOSS_ROUNDS=N runs N rounds (default 60).
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

#define SHARDS 3
#define MAXFD  512

typedef struct {
    char path[512];
    uint64_t off, len;
} wrec_t;

typedef struct {
    const fl_store_io_t *real;
    pthread_mutex_t mu;
    int frozen;
    long syncs_left;
    char *fd_path[MAXFD];
    wrec_t *w;
    size_t nw, capw;
    char created[256][512];
    int ncreated;
} plio_t;

static int frozen(plio_t *p)
{
    pthread_mutex_lock(&p->mu);
    int f = p->frozen;
    pthread_mutex_unlock(&p->mu);
    return f;
}

static int p_open(void *c, const char *path, int fl, mode_t m)
{
    plio_t *p = c;
    if (frozen(p))
        return -EIO;
    int existed = access(path, F_OK) == 0;
    int fd = p->real->open(NULL, path, fl, m);
    if (fd >= 0 && fd < MAXFD) {
        pthread_mutex_lock(&p->mu);
        free(p->fd_path[fd]);
        p->fd_path[fd] = strdup(path);
        if ((fl & O_CREAT) && !existed && p->ncreated < 256)
            snprintf(p->created[p->ncreated++], 512, "%s", path);
        pthread_mutex_unlock(&p->mu);
    }
    return fd;
}

static int p_close(void *c, int fd)
{
    plio_t *p = c;
    pthread_mutex_lock(&p->mu);
    if (fd >= 0 && fd < MAXFD) {
        free(p->fd_path[fd]);
        p->fd_path[fd] = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    return p->real->close(NULL, fd);
}

static ssize_t p_pread(void *c, int fd, void *b, size_t n, off_t o)
{
    return ((plio_t *)c)->real->pread(NULL, fd, b, n, o);
}

static ssize_t p_pwrite(void *c, int fd, const void *b, size_t n, off_t o)
{
    plio_t *p = c;
    pthread_mutex_lock(&p->mu);
    if (p->frozen) {
        pthread_mutex_unlock(&p->mu);
        return -EIO;
    }
    /* Bytes rewritten with what they already hold (the store's direct
     * writes start at a page boundary, rewriting the page's earlier bytes)
     * cannot change on a power cut whatever the disk does: only what
     * follows them is at risk. */
    size_t same = 0;
    uint8_t old[4096];
    int rfd = fd < MAXFD && p->fd_path[fd] ? open(p->fd_path[fd], O_RDONLY) : -1;
    ssize_t had = rfd >= 0 ? pread(rfd, old, n < sizeof old ? n : sizeof old, o) : -1;
    if (rfd >= 0)
        close(rfd);
    while (had > 0 && same < (size_t)had && old[same] == ((const uint8_t *)b)[same])
        same++;
    ssize_t r = p->real->pwrite(NULL, fd, b, n, o);
    if (r > 0 && (size_t)r > same && fd < MAXFD && p->fd_path[fd]) {
        if (p->nw == p->capw) {
            p->capw = p->capw ? p->capw * 2 : 256;
            p->w = realloc(p->w, p->capw * sizeof *p->w);
        }
        wrec_t *w = &p->w[p->nw++];
        snprintf(w->path, sizeof w->path, "%s", p->fd_path[fd]);
        w->off = (uint64_t)o + same;
        w->len = (uint64_t)r - same;
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

static int p_sync(plio_t *p, int fd, int data_only)
{
    pthread_mutex_lock(&p->mu);
    if (p->frozen || --p->syncs_left <= 0) {
        p->frozen = 1; /* the power fails during this sync */
        pthread_mutex_unlock(&p->mu);
        return -EIO;
    }
    pthread_mutex_unlock(&p->mu);
    int rc = data_only ? p->real->fdatasync(NULL, fd) : p->real->fsync(NULL, fd);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&p->mu);
    const char *path = fd < MAXFD ? p->fd_path[fd] : NULL;
    if (path) {
        size_t k = 0;
        for (size_t i = 0; i < p->nw; i++)
            if (strcmp(p->w[i].path, path) != 0)
                p->w[k++] = p->w[i];
        p->nw = k;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t pl = strlen(path);
            int j = 0;
            for (int i = 0; i < p->ncreated; i++) {
                const char *cp = p->created[i];
                int in_dir =
                    strncmp(cp, path, pl) == 0 && cp[pl] == '/' && !strchr(cp + pl + 1, '/');
                if (!in_dir)
                    memmove(p->created[j++], cp, 512);
            }
            p->ncreated = j;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int p_fdatasync(void *c, int fd)
{
    return p_sync(c, fd, 1);
}
static int p_fsync(void *c, int fd)
{
    return p_sync(c, fd, 0);
}
static int p_ftruncate(void *c, int fd, off_t l)
{
    plio_t *p = c;
    return frozen(p) ? -EIO : p->real->ftruncate(NULL, fd, l);
}
static int p_fsize(void *c, int fd, uint64_t *s)
{
    return ((plio_t *)c)->real->fsize(NULL, fd, s);
}
static int p_rename(void *c, const char *a, const char *b)
{
    plio_t *p = c;
    return frozen(p) ? -EIO : p->real->rename(NULL, a, b);
}
static int p_unlink(void *c, const char *path)
{
    plio_t *p = c;
    return frozen(p) ? -EIO : p->real->unlink(NULL, path);
}
static int p_mkdir(void *c, const char *path, mode_t m)
{
    plio_t *p = c;
    return frozen(p) ? -EIO : p->real->mkdir(NULL, path, m);
}
static int p_rmdir(void *c, const char *path)
{
    plio_t *p = c;
    return frozen(p) ? -EIO : p->real->rmdir(NULL, path);
}

/* What the disk holds after the power comes back. */
static void power_cut(plio_t *p)
{
    for (size_t i = 0; i < p->nw; i++) {
        wrec_t *w = &p->w[i];
        struct stat st;
        if (stat(w->path, &st) != 0 || (uint64_t)st.st_size <= w->off)
            continue;
        int r = rand() % 3;
        if (r == 1) {
            ck_assert_int_eq(truncate(w->path, (off_t)w->off), 0);
        } else if (r == 2) {
            int fd = open(w->path, O_WRONLY);
            uint64_t a = w->off + (uint64_t)rand() % w->len;
            uint64_t n = 1 + (uint64_t)rand() % (w->off + w->len - a);
            uint8_t junk[4096];
            for (size_t k = 0; k < sizeof junk; k++)
                junk[k] = (uint8_t)rand();
            while (n > 0) {
                size_t m = n < sizeof junk ? (size_t)n : sizeof junk;
                ck_assert_int_eq(pwrite(fd, junk, m, (off_t)a), (ssize_t)m);
                a += m;
                n -= m;
            }
            close(fd);
        }
    }
    for (int i = 0; i < p->ncreated; i++)
        if (rand() % 2)
            unlink(p->created[i]);
}

/* Mostly small records; every 53rd a bigger one, and every 212th one big
 * enough that its chunk's aligned middle is written O_DIRECT. */
static size_t len_of(uint64_t id)
{
    if (id % 212 == 0)
        return 300000 + (size_t)(id % 4099);
    return id % 53 == 0 ? 70000 + (size_t)(id % 999) : 8 + (size_t)((id * 7919) % 2000);
}

static void fill(uint64_t id, uint8_t *p, size_t n)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ull + 3;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    memcpy(p, &id, 8);
}

typedef struct {
    uint32_t shard;
    uint64_t seq, id;
} acked_t;

START_TEST(power_loss_loses_no_completed_record)
{
    const char *env = getenv("FL_POWERLOSS_ROUNDS");
    int rounds = env ? atoi(env) : 60;
    srand(777);
    char *dir = NULL;
    uint8_t *buf = malloc(400000), *want = malloc(400000);
    uint64_t max_seen[SHARDS] = {0};
    size_t total_acked = 0, total_failed_opens = 0;
    for (int round = 0; round < rounds; round++) {
        if (round % 10 == 0) {
            if (dir)
                fl_test_rmtree(dir);
            dir = fl_test_mkdtemp("st-power");
            fl_store_opts_t o = {.dir = dir};
            fl_store_t *s;
            fl_log_t *log;
            ck_assert_int_eq(fl_store_open(&o, &s), 0);
            fl_log_opts_t lo = {.shard_count = SHARDS};
            ck_assert_int_eq(fl_log_create(s, "p", &lo, &log), 0);
            fl_store_close(s);
            memset(max_seen, 0, sizeof max_seen);
        }
        plio_t *p = calloc(1, sizeof *p);
        p->real = fl_store_io_default();
        pthread_mutex_init(&p->mu, NULL);
        p->syncs_left = 1 + rand() % 40;
        fl_store_io_t io = {p_open,  p_close,     p_pread, p_pwrite, p_fdatasync,
                            p_fsync, p_ftruncate, p_fsize, p_rename, p_unlink,
                            p_mkdir, p_rmdir,     p};
        fl_store_opts_t o = {.dir = dir, .io = &io, .segment_max_bytes = 256 * 1024};
        fl_store_t *s = NULL;
        fl_log_t *log;
        acked_t *acked = malloc(4000 * sizeof *acked);
        size_t nacked = 0;
        if (fl_store_open(&o, &s) == 0 && fl_log_open(s, "p", &log) == 0) {
            uint64_t id = (uint64_t)round * 100000;
            fl_log_completion_t c[64];
            for (int i = 0; i < 4000 && !frozen(p); i++, id++) {
                size_t n = len_of(id);
                fill(id, buf, n);
                fl_log_record_t r = {.payload = fl_slice(buf, n)};
                uint64_t seq;
                int rc =
                    fl_log_append(log, (uint32_t)(id % SHARDS), &r, (void *)(uintptr_t)id, &seq);
                ck_assert(rc == 0 || rc == FL_EIO);
                ck_assert(rc != 0 || seq > max_seen[id % SHARDS]);
                size_t got = 0;
                do {
                    fl_store_poll_completions(s, c, 64, &got);
                    for (size_t k = 0; k < got; k++) {
                        if (c[k].status != 0)
                            continue;
                        acked[nacked].shard = c[k].shard;
                        acked[nacked].seq = c[k].seq;
                        acked[nacked++].id = (uint64_t)(uintptr_t)c[k].data;
                    }
                } while (got);
                if (i % 7 == 0)
                    usleep(200); /* let batches form and complete */
            }
            fl_store_sync(s);
            size_t got = 0;
            do {
                fl_store_poll_completions(s, c, 64, &got);
                for (size_t k = 0; k < got; k++) {
                    if (c[k].status != 0)
                        continue;
                    acked[nacked].shard = c[k].shard;
                    acked[nacked].seq = c[k].seq;
                    acked[nacked++].id = (uint64_t)(uintptr_t)c[k].data;
                }
            } while (got);
        } else {
            total_failed_opens++;
        }
        fl_store_close(s);
        power_cut(p);
        total_acked += nacked;

        fl_store_opts_t ro_opts = {.dir = dir, .segment_max_bytes = 256 * 1024};
        int rc = fl_store_open(&ro_opts, &s);
        ck_assert_msg(rc == 0, "round %d: reopen after power loss: %s", round, fl_strerror(rc));
        ck_assert_int_eq(fl_log_open(s, "p", &log), 0);
        fl_log_batch_t b = {0};
        for (size_t i = 0; i < nacked; i++) {
            fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, acked[i].seq, 0, 0, 1};
            rc = fl_log_read(log, acked[i].shard, &ro, &b);
            ck_assert_msg(rc == 0 && b.records[0].seq == acked[i].seq,
                          "round %d: acknowledged record shard %u seq %llu lost: %s", round,
                          acked[i].shard, (unsigned long long)acked[i].seq, fl_strerror(rc));
            size_t n = len_of(acked[i].id);
            fill(acked[i].id, want, n);
            ck_assert(b.records[0].payload.n == n && memcmp(b.records[0].payload.p, want, n) == 0);
        }
        /* nothing but intact records, in order */
        for (uint32_t sh = 0; sh < SHARDS; sh++) {
            fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 1 << 20, 0};
            uint64_t prev = 0;
            while ((rc = fl_log_read(log, sh, &ro, &b)) == 0) {
                for (size_t i = 0; i < b.count; i++) {
                    const fl_log_record_t *r = &b.records[i];
                    ck_assert(r->seq > prev);
                    prev = r->seq;
                    uint64_t id;
                    ck_assert_uint_ge(r->payload.n, 8);
                    memcpy(&id, r->payload.p, 8);
                    size_t n = len_of(id);
                    fill(id, want, n);
                    ck_assert(r->payload.n == n && memcmp(r->payload.p, want, n) == 0);
                }
                ro.seq = b.next_seq;
            }
            ck_assert_int_eq(rc, FL_EAGAIN);
            uint64_t pid_ = (1ull << 50) + (uint64_t)round * SHARDS + sh;
            size_t n = len_of(pid_);
            fill(pid_, want, n);
            fl_log_record_t r = {.payload = fl_slice(want, n)};
            uint64_t seq;
            ck_assert_int_eq(fl_log_append(log, sh, &r, NULL, &seq), 0);
            ck_assert(seq > prev && seq > max_seen[sh]);
            max_seen[sh] = seq;
        }
        fl_log_batch_free(&b);
        fl_store_sync(s);
        fl_store_close(s);
        for (int i = 0; i < MAXFD; i++)
            free(p->fd_path[i]);
        free(p->w);
        pthread_mutex_destroy(&p->mu);
        free(p);
        free(acked);
    }
    fprintf(stderr, "powerloss: %d rounds, %zu acknowledged records checked, %zu opens cut\n",
            rounds, total_acked, total_failed_opens);
    free(buf);
    free(want);
    fl_test_rmtree(dir);
}
END_TEST

int main(void)
{
    fl_diag_set_level(getenv("FL_POWERLOSS_VERBOSE") ? FL_DIAG_INFO : FL_DIAG_OFF);
    Suite *s = suite_create("storage_powerloss");
    TCase *tc = tcase_create("powerloss");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, power_loss_loses_no_completed_record);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
