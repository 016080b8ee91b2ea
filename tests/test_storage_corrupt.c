/*
 * tests/test_storage_corrupt.c — damaged files: random flipped bytes and
 * truncations in segment and index files.
 *
 * A store with several shards and segments is written once; every trial
 * copies it, damages one file, reopens it and reads every record back by
 * its sequence number. What must hold:
 *   - open succeeds and never crashes (ASan watches);
 *   - no read ever returns bytes that differ from what was appended;
 *   - a flipped byte in a segment costs at most the records of one chunk,
 *     all in one shard, and those reads say FL_ECORRUPT;
 *   - damage to an index file costs nothing (it is rebuilt);
 *   - a truncated segment costs at most the records of that segment;
 *   - the store still takes appends afterwards;
 *   - the damage is reported with the file and the offset.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/error.h"
#include "harness.h"
#include "storage/log.h"

#define SHARDS      3
#define RECORDS     240
#define CHUNK_MAX   2048
#define SEG_MAX     8192
#define MIN_PAYLOAD 300

typedef struct {
    uint32_t shard;
    uint64_t seq;
    uint64_t id;
} rec_t;

static rec_t recs[RECORDS];

static size_t len_of(uint64_t id)
{
    return MIN_PAYLOAD + (size_t)((id * 7919) % 400);
}

static void fill(uint64_t id, uint8_t *p, size_t n)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ull + 7;
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
    o.chunk_max_bytes = CHUNK_MAX;
    o.segment_max_bytes = SEG_MAX;
    return o;
}

static char *make_pristine(void)
{
    char *dir = fl_test_mkdtemp("st-pristine");
    fl_store_opts_t o = opts(dir);
    fl_store_t *s;
    fl_log_t *log;
    ck_assert_int_eq(fl_store_open(&o, &s), 0);
    fl_log_opts_t lo = {.shard_count = SHARDS, .retention_hours = 0};
    ck_assert_int_eq(fl_log_create(s, "c", &lo, &log), 0);
    uint8_t buf[1024];
    for (int i = 0; i < RECORDS; i++) {
        uint64_t id = (uint64_t)i + 1;
        size_t n = len_of(id);
        fill(id, buf, n);
        fl_log_record_t r = {0};
        r.payload = fl_slice(buf, n);
        recs[i].shard = (uint32_t)(i % SHARDS);
        recs[i].id = id;
        ck_assert_int_eq(fl_log_append(log, recs[i].shard, &r, NULL, &recs[i].seq), 0);
        if (i % 5 == 4) /* several records per chunk, several chunks per batch */
            fl_store_sync(s);
    }
    fl_store_sync(s);
    fl_store_close(s);
    return dir;
}

/* Files of the log, *.seg or *.idx, as a NULL-terminated malloc'd list. */
static char **list_files(const char *dir, const char *ext, int *n)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s/logs/1/*%s", dir, ext);
    FILE *p = popen(cmd, "r");
    char **v = calloc(256, sizeof *v);
    char line[1024];
    *n = 0;
    while (*n < 255 && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        v[(*n)++] = strdup(line);
    }
    pclose(p);
    return v;
}

static void free_list(char **v)
{
    for (int i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

typedef struct {
    int bad;     /* records not read back */
    int corrupt; /* of which FL_ECORRUPT */
    int shards_hit[SHARDS];
} outcome_t;

/* Reopen, read every record, append one more. */
static outcome_t check_store(const char *dir)
{
    outcome_t oc = {0};
    fl_store_opts_t o = opts(dir);
    fl_store_t *s;
    fl_log_t *log;
    int rc = fl_store_open(&o, &s);
    ck_assert_msg(rc == 0, "open after damage: %s", fl_strerror(rc));
    ck_assert_int_eq(fl_log_open(s, "c", &log), 0);
    uint8_t want[1024];
    fl_log_batch_t b = {0};
    for (int i = 0; i < RECORDS; i++) {
        fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, recs[i].seq, 0, 0, 1};
        rc = fl_log_read(log, recs[i].shard, &ro, &b);
        if (rc == 0 && b.records[0].seq == recs[i].seq) {
            size_t n = len_of(recs[i].id);
            fill(recs[i].id, want, n);
            ck_assert_uint_eq(b.records[0].payload.n, n);
            ck_assert_msg(memcmp(b.records[0].payload.p, want, n) == 0,
                          "record %d read back with different bytes", i);
            continue;
        }
        if (rc == 0 && fl_slice_eq_str(b.records[0].payload, "after")) {
            /* the next record is the one an earlier check_store appended
             * (the store's layout, hence where a cut lands, varies with how
             * appends were batched): this one is gone */
        } else if (rc == 0) { /* a later record came back: this one is gone */
            uint64_t id;
            ck_assert_uint_ge(b.records[0].payload.n, 8);
            memcpy(&id, b.records[0].payload.p, 8);
            size_t n = len_of(id);
            fill(id, want, n);
            ck_assert(b.records[0].payload.n == n && memcmp(b.records[0].payload.p, want, n) == 0);
        } else {
            ck_assert_msg(rc == FL_ECORRUPT || rc == FL_EAGAIN, "read: %s", fl_strerror(rc));
        }
        oc.bad++;
        oc.corrupt += rc == FL_ECORRUPT;
        oc.shards_hit[recs[i].shard] = 1;
    }
    fl_log_batch_free(&b);
    fl_log_record_t r = {0};
    r.payload = fl_slice("after", 5);
    uint64_t seq;
    ck_assert_int_eq(fl_log_append(log, 0, &r, NULL, &seq), 0);
    fl_store_sync(s);
    fl_log_read_opts_t ro = {FL_LOG_AT_SEQ, seq, 0, 0, 0};
    ck_assert_int_eq(fl_log_read(log, 0, &ro, &b), 0);
    ck_assert(fl_slice_eq_str(b.records[0].payload, "after"));
    fl_log_batch_free(&b);
    fl_store_close(s);
    return oc;
}

static char *copy_of(const char *pristine)
{
    char *dir = fl_test_mkdtemp("st-damaged");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", pristine, dir);
    ck_assert_int_eq(system(cmd), 0);
    return dir;
}

/* Flip one bit at a random offset of a random file with this extension,
 * or truncate it to a random length; returns the file's path in buf. */
static void damage(const char *dir, const char *ext, int cut, char *buf, size_t cap)
{
    int n;
    char **files = list_files(dir, ext, &n);
    ck_assert_int_gt(n, 1);
    snprintf(buf, cap, "%s", files[rand() % n]);
    free_list(files);
    struct stat st;
    ck_assert_int_eq(stat(buf, &st), 0);
    ck_assert_int_gt(st.st_size, 0);
    off_t off = (off_t)(rand() % st.st_size);
    if (cut) {
        ck_assert_int_eq(truncate(buf, off), 0);
        return;
    }
    int fd = open(buf, O_RDWR);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, off), 1);
    b ^= (uint8_t)(1u << (rand() % 8));
    ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static int max_records_per_chunk(void)
{
    return CHUNK_MAX / (MIN_PAYLOAD + 26) + 1;
}

START_TEST(flipped_byte_in_segment_costs_one_chunk)
{
    srand(1);
    char *pristine = make_pristine();
    outcome_t clean = check_store(pristine);
    ck_assert_int_eq(clean.bad, 0);
    int hits = 0;
    for (int t = 0; t < 40; t++) {
        char *dir = copy_of(pristine);
        char path[1024];
        damage(dir, ".seg", 0, path, sizeof path);
        outcome_t oc = check_store(dir);
        int shards = oc.shards_hit[0] + oc.shards_hit[1] + oc.shards_hit[2];
        ck_assert_msg(oc.bad <= max_records_per_chunk(), "trial %d: %d records lost", t, oc.bad);
        ck_assert_int_le(shards, 1);
        ck_assert_int_eq(oc.corrupt, oc.bad);
        hits += oc.bad > 0;
        fl_test_rmtree(dir);
    }
    ck_assert_int_gt(hits, 20); /* most flips land in a chunk and are caught */
    fl_test_rmtree(pristine);
}
END_TEST

START_TEST(damaged_index_costs_nothing)
{
    srand(2);
    char *pristine = make_pristine();
    for (int t = 0; t < 30; t++) {
        char *dir = copy_of(pristine);
        char path[1024];
        damage(dir, ".idx", t % 3 == 0, path, sizeof path);
        outcome_t oc = check_store(dir);
        ck_assert_msg(oc.bad == 0, "trial %d (%s): %d records lost", t, path, oc.bad);
        fl_test_rmtree(dir);
    }
    fl_test_rmtree(pristine);
}
END_TEST

START_TEST(truncated_segment_costs_at_most_that_segment)
{
    srand(3);
    char *pristine = make_pristine();
    int lost_some = 0;
    for (int t = 0; t < 30; t++) {
        char *dir = copy_of(pristine);
        char path[1024];
        damage(dir, ".seg", 1, path, sizeof path);
        outcome_t oc = check_store(dir);
        ck_assert_msg(oc.bad <= SEG_MAX / MIN_PAYLOAD + max_records_per_chunk(),
                      "trial %d: %d records lost", t, oc.bad);
        lost_some += oc.bad > 0;
        /* and a second open finds the same state */
        outcome_t again = check_store(dir);
        ck_assert_int_eq(again.bad, oc.bad);
        fl_test_rmtree(dir);
    }
    ck_assert_int_gt(lost_some, 10);
    fl_test_rmtree(pristine);
}
END_TEST

START_TEST(damage_is_reported_with_file_and_offset)
{
    srand(4);
    char *pristine = make_pristine();
    char *dir = copy_of(pristine);
    /* flip a byte in the middle of the first segment's first chunk body */
    int n;
    char **files = list_files(dir, ".seg", &n);
    int fd = open(files[0], O_RDWR);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, 32 + 80 + 10), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, 32 + 80 + 10), 1);
    close(fd);
    char errpath[1100];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", pristine);
    fflush(stderr);
    int saved = dup(2);
    int ef = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(ef, 2);
    close(ef);
    fl_diag_set_level(FL_DIAG_ERROR);
    outcome_t oc = check_store(dir);
    fl_diag_set_level(FL_DIAG_OFF);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_gt(oc.corrupt, 0);
    size_t len;
    char *log = fl_test_read_file(errpath, &len);
    ck_assert_ptr_nonnull(log);
    const char *base = strrchr(files[0], '/') + 1;
    ck_assert_msg(strstr(log, base) && strstr(log, "offset 32 "), "log was: %s", log);
    ck_assert_ptr_nonnull(strstr(log, "integrity"));
    free(log);
    free_list(files);
    fl_test_rmtree(dir);
    fl_test_rmtree(pristine);
}
END_TEST

int main(void)
{
    fl_diag_set_level(FL_DIAG_OFF);
    Suite *s = suite_create("storage_corrupt");
    TCase *tc = tcase_create("damage");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, flipped_byte_in_segment_costs_one_chunk);
    tcase_add_test(tc, damaged_index_costs_nothing);
    tcase_add_test(tc, truncated_segment_costs_at_most_that_segment);
    tcase_add_test(tc, damage_is_reported_with_file_and_offset);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
