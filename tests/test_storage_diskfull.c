/*
 * tests/test_storage_diskfull.c — a full disk.
 *
 * The store lives on a 3 MiB tmpfs mounted in a private mount namespace
 * (unshare(CLONE_NEWNS), as root); beside it a ballast file takes space.
 * Appends of 64 KiB records go on until the disk is full. Then: the failing
 * appends complete with -ENOSPC, every earlier record still reads back,
 * and once the ballast is removed appends succeed again, also after a
 * reopen. Where no tmpfs can be mounted (not root), the same test runs on
 * an I/O table that answers ENOSPC past a byte budget, and says so.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/error.h"
#include "harness.h"
#include "storage/log.h"

#define REC (64 * 1024)

/* Fallback: ENOSPC once segment writes pass a budget. */
typedef struct {
    const fl_store_io_t *real;
    long long budget; /* bytes that may still be written */
} budget_io_t;

static ssize_t b_pwrite(void *c, int fd, const void *p, size_t n, off_t o)
{
    budget_io_t *b = c;
    if (b->budget <= 0)
        return -ENOSPC;
    if ((long long)n > b->budget)
        n = (size_t)b->budget;
    ssize_t w = b->real->pwrite(NULL, fd, p, n, o);
    if (w > 0)
        b->budget -= w;
    return w;
}

static int used_tmpfs;

static int try_tmpfs(const char *mnt)
{
    if (unshare(CLONE_NEWNS) != 0)
        return 0;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return 0;
    return mount("tmpfs", mnt, "tmpfs", 0, "size=3m,mode=0700") == 0;
}

static void fill(uint8_t *p, int i)
{
    memset(p, 'a' + i % 26, REC);
    memcpy(p, &i, sizeof i);
}

START_TEST(full_disk_fails_appends_then_recovers)
{
    char *dir = fl_test_mkdtemp("st-full");
    char mnt[600], data[700], ballast[700];
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    ck_assert_int_eq(mkdir(mnt, 0700), 0);
    used_tmpfs = try_tmpfs(mnt);
    snprintf(data, sizeof data, "%s/data", mnt);
    snprintf(ballast, sizeof ballast, "%s/ballast", mnt);

    static fl_store_io_t io;
    static budget_io_t bio;
    fl_store_opts_t o = {0};
    o.dir = data;
    if (!used_tmpfs) {
        fprintf(stderr, "diskfull: no tmpfs (not root?): using an ENOSPC budget instead\n");
        io = *fl_store_io_default();
        bio.real = fl_store_io_default();
        bio.budget = 2 * 1024 * 1024;
        io.pwrite = b_pwrite;
        io.ctx = &bio;
        o.io = &io;
    }
    fl_store_t *s;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    fl_log_t *log;
    ck_assert_int_eq(fl_log_create(s, "v", NULL, &log), 0);
    static uint8_t blob[512 * 1024];
    if (used_tmpfs)
        ck_assert_int_eq(fl_test_write_file(ballast, blob, sizeof blob), 0);

    static uint8_t buf[REC];
    uint64_t seqs[100];
    int ok = 0, full = 0;
    fl_log_completion_t c;
    size_t n;
    for (int i = 0; i < 100 && !full; i++) {
        fill(buf, i);
        fl_log_record_t r = {0};
        r.payload = fl_slice(buf, REC);
        uint64_t seq;
        ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
        ck_assert_int_eq(fl_store_wait_completions(s, 10000), 0);
        ck_assert_int_eq(fl_store_poll_completions(s, &c, 1, &n), 0);
        ck_assert_uint_eq(n, 1);
        if (c.status == 0) {
            seqs[ok++] = seq;
        } else {
            ck_assert_msg(c.status == -ENOSPC, "status %s", fl_strerror(c.status));
            full = 1;
        }
    }
    ck_assert_msg(full, "the disk never filled");
    ck_assert_int_gt(ok, 5);
    /* a second try fails the same clear way, and nothing breaks */
    fl_log_record_t r = {0};
    r.payload = fl_slice(buf, REC);
    uint64_t seq;
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
    fl_store_sync(s);
    ck_assert_int_eq(fl_store_poll_completions(s, &c, 1, &n), 0);
    ck_assert_int_eq(c.status, -ENOSPC);
    /* earlier data stays readable */
    fl_log_batch_t b = {0};
    for (int i = 0; i < ok; i++) {
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seqs[i], 0, 0, 1};
        ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
        ck_assert(b.records[0].seq == seqs[i]);
        fill(buf, i);
        ck_assert(b.records[0].payload.n == REC && memcmp(b.records[0].payload.p, buf, REC) == 0);
    }
    /* space comes back: appends succeed again */
    if (used_tmpfs)
        ck_assert_int_eq(unlink(ballast), 0);
    else
        bio.budget = 1 << 20;
    fill(buf, 1000);
    r.payload = fl_slice(buf, REC);
    uint64_t again;
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &again), 0);
    fl_store_sync(s);
    ck_assert_int_eq(fl_store_poll_completions(s, &c, 1, &n), 0);
    ck_assert_int_eq(c.status, 0);
    fl_store_close(s);
    /* and all of it is there after a reopen */
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    ck_assert_int_eq(fl_log_open(s, "v", &log), 0);
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, 0, 0, 0, 0};
    size_t total = 0;
    uint64_t last = 0;
    while (fl_log_read(log, 0, &ro, &b) == 0) {
        total += b.count;
        last = b.records[b.count - 1].seq;
        ro.seq = b.next_seq;
    }
    ck_assert_uint_eq(total, (size_t)ok + 1);
    ck_assert(last == again);
    fl_log_batch_free(&b);
    fl_store_close(s);
    if (used_tmpfs)
        umount2(mnt, MNT_DETACH);
    fl_test_rmtree(dir);
}
END_TEST

int main(void)
{
    fl_diag_set_level(FL_DIAG_OFF);
    Suite *s = suite_create("storage_diskfull");
    TCase *tc = tcase_create("enospc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_disk_fails_appends_then_recovers);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
