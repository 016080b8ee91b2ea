/*
 * server/records/api_shards.c — resharding a data stream: SplitShard,
 * MergeShards, UpdateShardCount (UNIFORM_SCALING).
 *
 * Storage does one split or merge at a time, each one catalog transaction
 * (storage/reshard.c): the parent closes (readable until retention) and
 * the children open with their lineage. UpdateShardCount is a sequence of
 * them, as Kinesis does it: first every open shard that straddles one of
 * the N uniform boundaries (fl_log_uniform_range, the ranges a stream
 * created with N shards has) is split there, then the shards inside each
 * uniform range are merged pairwise into one. Each step is durable on its
 * own, so a crash in between leaves a consistent, if not yet uniform, set
 * of shards; calling UpdateShardCount again finishes the job when scaling
 * up (scaling down, the split phase may leave more than twice the target
 * open, which the retry's limit check refuses: the next session's fix is
 * to merge first when scaling down).
 *
 * One reshard at a time per stream (fl_rec_begin_update on the loop: the
 * others get ResourceInUseException, DescribeStream says UPDATING). The
 * work runs on a worker (each step waits for the catalog's fsync);
 * PutRecord(s) racing a step find the children (api_data.c retries an
 * append refused with FL_ECLOSED).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "server/records/records.h"

typedef struct {
    fl_rec_job_t j;           /* first */
    uint32_t shard, adjacent; /* split, merge */
    uint8_t at[16];           /* split: NewStartingHashKey */
    uint32_t target;          /* UpdateShardCount */
    uint32_t current;
} shard_job_t;

/* What storage's reshard refusals mean to the caller. */
static void fail(fl_rec_job_t *j, int rc, uint32_t a, uint32_t b)
{
    char ida[32], idb[32];
    fl_rec_shard_id(a, ida, sizeof ida);
    fl_rec_shard_id(b, idb, sizeof idb);
    const char *acct = fl_server_config(j->rs->srv)->account_id;
    if (rc == FL_ENOTFOUND)
        fl_rec_job_fail(j, "ResourceNotFoundException",
                        "Could not find shard %s in stream %s under account %s.", ida, j->name,
                        acct);
    else if (rc == FL_ECLOSED)
        fl_rec_job_fail(j, "InvalidArgumentException",
                        "Shard %s%s%s in stream %s under account %s has already been merged or "
                        "split, and thus is not eligible for merging or splitting.",
                        ida, a == b ? "" : " or ", a == b ? "" : idb, j->name, acct);
    else
        j->rc = rc;
}

/* The account's shard limit leaves room for more open shards? */
static int room_for(fl_rec_job_t *j, uint32_t more)
{
    uint32_t open = 0;
    if ((j->rc = fl_rec_count_shards(j->store, &open, NULL)) != 0)
        return 0;
    if (open + more > FL_RECORDS_SHARD_LIMIT) {
        fl_rec_job_fail(j, "LimitExceededException",
                        "This request would exceed the shard limit for the account: %u open "
                        "shards, %u more asked, limit %u.",
                        open, more, FL_RECORDS_SHARD_LIMIT);
        return 0;
    }
    return 1;
}

/* Resharding is for PROVISIONED streams only, as AWS's: ON_DEMAND ones
 * scale themselves. 1, or 0 having named the error. */
static int provisioned(fl_rec_job_t *j)
{
    char mode[32] = "PROVISIONED";
    fl_log_attr_get(j->st.log, "mode", mode, sizeof mode);
    if (strcmp(mode, "ON_DEMAND") == 0) {
        fl_rec_job_fail(j, "ValidationException",
                        "Stream %s is in ON_DEMAND mode: its shards are not split, merged or "
                        "counted by hand.",
                        j->name);
        return 0;
    }
    return 1;
}

/* The one of two shards that does not exist (FL_ENOTFOUND from a merge). */
static uint32_t missing_of(fl_log_t *log, uint32_t a, uint32_t b)
{
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    int a_found = 0;
    if (fl_log_shards(log, &sh, &n) == 0)
        for (size_t i = 0; i < n; i++)
            a_found |= sh[i].id == a;
    free(sh);
    return a_found ? b : a;
}

static void end_update(fl_rec_job_t *j)
{
    fl_rec_end_update(&j->st);
}

static shard_job_t *begin(fl_http_req_t *r, fl_rec_stream_t *st, void (*work)(fl_rec_job_t *))
{
    if (fl_rec_begin_update(r, st) != 0) {
        fl_rec_put(st);
        return NULL;
    }
    shard_job_t *j = (shard_job_t *)fl_rec_job_new(r, sizeof *j, work);
    if (!j) {
        fl_rec_end_update(st);
        fl_rec_put(st);
        return NULL;
    }
    j->j.st = *st;
    j->j.after = end_update;
    snprintf(j->j.name, sizeof j->j.name, "%s", st->name);
    return j;
}

/* A shard id member. Responds, -1 when bad. */
static int shard_arg(fl_http_req_t *r, const char *key, uint32_t *id)
{
    const fl_json_t *v = fl_http_json(r, key);
    if (!v || v->type != FL_JSON_STRING || fl_rec_parse_shard_id(v->str, id) != 0) {
        fl_http_respond_error(r, 400, "ValidationException", "%s (a shard id) is required", key);
        return -1;
    }
    return 0;
}

/* ---- SplitShard ---- */

static void split_work(fl_rec_job_t *base)
{
    shard_job_t *j = (shard_job_t *)base;
    uint32_t kids[2];
    if (!provisioned(base) || !room_for(base, 1))
        return;
    int rc = fl_log_split_shard(base->st.log, j->shard, j->at, kids);
    if (rc == FL_EINVAL) {
        char id[32];
        fl_rec_shard_id(j->shard, id, sizeof id);
        fl_rec_job_fail(base, "InvalidArgumentException",
                        "NewStartingHashKey must be within the hash key range of shard %s, above "
                        "its StartingHashKey.",
                        id);
    } else if (rc) {
        fail(base, rc, j->shard, j->shard);
    }
}

void fl_rec_split_shard(fl_http_req_t *r)
{
    uint32_t shard;
    uint8_t at[16];
    if (shard_arg(r, "ShardToSplit", &shard) != 0)
        return;
    const fl_json_t *k = fl_http_json(r, "NewStartingHashKey");
    if (!k || k->type != FL_JSON_STRING || memchr(k->str, 0, k->len) ||
        fl_rec_u128_parse(k->str, at) != 0) {
        fl_http_respond_error(r, 400, "ValidationException",
                              "NewStartingHashKey must be a decimal from 0 to 2^128-1");
        return;
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    shard_job_t *j = begin(r, &st, split_work);
    if (!j)
        return;
    j->shard = shard;
    memcpy(j->at, at, 16);
    fl_rec_job_submit(r, &j->j);
}

/* ---- MergeShards ---- */

static void merge_work(fl_rec_job_t *base)
{
    shard_job_t *j = (shard_job_t *)base;
    uint32_t kid;
    if (!provisioned(base))
        return;
    int rc = fl_log_merge_shards(base->st.log, j->shard, j->adjacent, &kid);
    if (rc == FL_EINVAL) {
        char a[32], b[32];
        fl_rec_shard_id(j->shard, a, sizeof a);
        fl_rec_shard_id(j->adjacent, b, sizeof b);
        fl_rec_job_fail(base, "InvalidArgumentException",
                        "Shards %s and %s in stream %s are not adjacent.", a, b, base->name);
    } else if (rc == FL_ENOTFOUND) {
        uint32_t gone = missing_of(base->st.log, j->shard, j->adjacent);
        fail(base, rc, gone, gone);
    } else if (rc) {
        fail(base, rc, j->shard, j->adjacent);
    }
}

void fl_rec_merge_shards(fl_http_req_t *r)
{
    uint32_t a, b;
    if (shard_arg(r, "ShardToMerge", &a) != 0 || shard_arg(r, "AdjacentShardToMerge", &b) != 0)
        return;
    if (a == b) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ShardToMerge and AdjacentShardToMerge are the same shard");
        return;
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    shard_job_t *j = begin(r, &st, merge_work);
    if (!j)
        return;
    j->shard = a;
    j->adjacent = b;
    fl_rec_job_submit(r, &j->j);
}

/* ---- UpdateShardCount ---- */

static int by_start(const void *a, const void *b)
{
    return memcmp(((const fl_log_shard_info_t *)a)->hash_start,
                  ((const fl_log_shard_info_t *)b)->hash_start, 16);
}

/* The open shards, in hash-key order. */
static int open_shards(fl_log_t *log, fl_log_shard_info_t **out, size_t *n_out)
{
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0, k = 0;
    int rc = fl_log_shards(log, &sh, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (sh[i].open)
            sh[k++] = sh[i];
    qsort(sh, k, sizeof *sh, by_start);
    *out = sh;
    *n_out = k;
    return 0;
}

/* Is h the start of one of the n uniform ranges (bounds: their starts,
 * ascending)? */
static int is_bound(const uint8_t (*bounds)[16], uint32_t n, const uint8_t h[16])
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = memcmp(bounds[mid], h, 16);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* One step towards n uniform shards: split a shard that straddles a
 * boundary, else merge two neighbours inside one range. *done once the
 * open shards are exactly the n ranges. */
static int uniform_step(fl_log_t *log, const uint8_t (*bounds)[16], uint32_t n, int *done)
{
    fl_log_shard_info_t *sh = NULL;
    size_t m = 0;
    int rc = open_shards(log, &sh, &m);
    if (rc)
        return rc;
    *done = 0;
    /* a boundary strictly inside a shard: split there */
    for (size_t i = 0, b = 1; i < m && b < n; i++) {
        while (b < n && memcmp(bounds[b], sh[i].hash_start, 16) <= 0)
            b++;
        if (b < n && memcmp(bounds[b], sh[i].hash_end, 16) <= 0) {
            uint32_t kids[2];
            rc = fl_log_split_shard(log, sh[i].id, bounds[b], kids);
            free(sh);
            return rc;
        }
    }
    /* two neighbours with no boundary between them: merge */
    for (size_t i = 0; i + 1 < m; i++) {
        if (!is_bound(bounds, n, sh[i + 1].hash_start)) {
            uint32_t kid;
            rc = fl_log_merge_shards(log, sh[i].id, sh[i + 1].id, &kid);
            free(sh);
            return rc;
        }
    }
    free(sh);
    *done = 1;
    return 0;
}

static void update_work(fl_rec_job_t *base)
{
    shard_job_t *j = (shard_job_t *)base;
    if (!provisioned(base))
        return;
    if (j->target > j->current && !room_for(base, j->target - j->current))
        return;
    uint8_t(*bounds)[16] = calloc(j->target, sizeof *bounds);
    if (!bounds) {
        base->rc = FL_ENOMEM;
        return;
    }
    uint8_t end[16];
    for (uint32_t i = 0; i < j->target; i++)
        fl_log_uniform_range(i, j->target, bounds[i], end);
    /* every step removes a boundary crossing or a shard, so this ends;
     * the bound is a guard against a storage surprise */
    size_t max_steps = 4 * ((size_t)j->target + j->current) + 16;
    int done = 0;
    for (size_t step = 0; !done && !base->rc && step < max_steps; step++)
        base->rc = uniform_step(base->st.log, (const uint8_t(*)[16])bounds, j->target, &done);
    free(bounds);
    if (!base->rc && !done)
        base->rc = FL_ESTATE;
    if (base->rc)
        return;
    fl_buf_t *b = &base->out;
    fl_buf_append_str(b, "{\"StreamName\":");
    fl_json_write_string(b, fl_slice_str(base->name));
    fl_buf_append_str(b, ",\"StreamARN\":");
    fl_json_write_string(b, fl_slice_str(base->st.arn));
    fl_buf_printf(b, ",\"CurrentShardCount\":%u,\"TargetShardCount\":%u}", j->current, j->target);
}

void fl_rec_update_shard_count(fl_http_req_t *r)
{
    int64_t target = 0;
    int has = fl_http_json_int(r, "TargetShardCount", 1, FL_RECORDS_SHARD_LIMIT, &target);
    if (has <= 0) {
        if (has == 0)
            fl_http_respond_error(r, 400, "ValidationException", "TargetShardCount is required");
        return;
    }
    const fl_json_t *sc = fl_http_json(r, "ScalingType");
    if (!sc || sc->type != FL_JSON_STRING || strcmp(sc->str, "UNIFORM_SCALING") != 0) {
        fl_http_respond_error(r, 400, "ValidationException", "ScalingType must be UNIFORM_SCALING");
        return;
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    uint32_t cur = st.info.open_shards;
    if ((uint64_t)target > 2 * (uint64_t)cur || (uint64_t)target * 2 < cur) {
        fl_http_respond_error(r, 400, "LimitExceededException",
                              "TargetShardCount %" PRId64 " for stream %s must be between half "
                              "and double its %u open shards.",
                              target, st.name, cur);
        fl_rec_put(&st);
        return;
    }
    shard_job_t *j = begin(r, &st, update_work);
    if (!j)
        return;
    j->target = (uint32_t)target;
    j->current = cur;
    fl_rec_job_submit(r, &j->j);
}
