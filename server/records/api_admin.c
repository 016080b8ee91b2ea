/*
 * server/records/api_admin.c — the data streams' control plane:
 * CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
 * ListStreams, ListShards, Increase/DecreaseStreamRetentionPeriod.
 * What changes the catalog (and waits for its fsync) runs on the worker
 * pool; what reads storage's in-memory metadata answers on the loop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "server/records/records.h"

#define DEFAULT_RETENTION_H 24
#define MAX_RETENTION_H     8760
#define ON_DEMAND_SHARDS    4

typedef enum { OP_CREATE, OP_DELETE, OP_LIST, OP_RETENTION, OP_DESCRIBE } op_t;

typedef struct {
    fl_http_async_t a; /* first */
    op_t op;
    fl_store_t *store;
    fl_records_t *rs;
    char name[FL_RECORDS_NAME_MAX + 1];
    char after[FL_RECORDS_NAME_MAX + 1];
    uint32_t shards;
    uint32_t hours;
    const char *mode;
    size_t limit;
    int summary;          /* OP_DESCRIBE */
    uint32_t after_shard; /* OP_DESCRIBE: ExclusiveStartShardId */
    int has_after;
    fl_log_t *log; /* OP_RETENTION: held by st */
    fl_rec_stream_t st;
    int rc;
    fl_buf_t out;
} admin_job_t;

static void put_str(fl_buf_t *b, const char *key, const char *val, int comma)
{
    if (comma)
        fl_buf_u8(b, ',');
    fl_json_write_string(b, fl_slice_str(key));
    fl_buf_u8(b, ':');
    fl_json_write_string(b, fl_slice_str(val));
}

static void describe_work(admin_job_t *j);

static void admin_work(fl_http_async_t *a)
{
    admin_job_t *j = (admin_job_t *)a;
    char ln[FL_LOG_MAX_NAME + 1];
    fl_rec_log_name(j->name, ln, sizeof ln);
    switch (j->op) {
    case OP_CREATE: {
        const char *ak[] = {"mode"};
        const char *av[] = {j->mode};
        fl_log_opts_t o = {.shard_count = j->shards,
                           .retention_hours = DEFAULT_RETENTION_H,
                           .attr_keys = ak,
                           .attr_values = av,
                           .n_attrs = 1};
        fl_log_t *log;
        j->rc = fl_log_create(j->store, ln, &o, &log);
        if (!j->rc)
            fl_log_close(log);
        break;
    }
    case OP_DELETE:
        j->rc = fl_log_delete(j->store, ln);
        break;
    case OP_RETENTION:
        j->rc = fl_log_set_retention(j->log, j->hours);
        break;
    case OP_DESCRIBE:
        describe_work(j);
        break;
    case OP_LIST: {
        char **names = NULL;
        size_t n = 0, shown = 0;
        j->rc = fl_log_list(j->store, &names, &n);
        if (j->rc)
            break;
        fl_buf_append_str(&j->out, "{\"StreamNames\":[");
        fl_buf_t sums;
        fl_buf_init(&sums, 0);
        int more = 0;
        for (size_t i = 0; i < n; i++) {
            if (strncmp(names[i], "d/", 2) != 0)
                continue; /* video streams and other logs */
            const char *nm = names[i] + 2;
            if (j->after[0] && strcmp(nm, j->after) <= 0)
                continue;
            if (shown == j->limit) {
                more = 1;
                break;
            }
            fl_log_t *log;
            fl_log_info_t li;
            if (fl_log_open(j->store, names[i], &log) != 0)
                continue; /* deleted meanwhile */
            if (fl_log_info(log, &li) != 0) {
                fl_log_close(log);
                continue;
            }
            char arn[FL_RECORDS_NAME_MAX + 256];
            fl_rec_arn(j->rs, nm, arn, sizeof arn);
            char mode[32] = "PROVISIONED";
            fl_log_attr_get(log, "mode", mode, sizeof mode);
            fl_log_close(log);
            if (shown)
                fl_buf_u8(&j->out, ',');
            fl_json_write_string(&j->out, fl_slice_str(nm));
            fl_buf_append_str(&sums, shown ? ",{" : "{");
            put_str(&sums, "StreamName", nm, 0);
            put_str(&sums, "StreamARN", arn, 1);
            put_str(&sums, "StreamStatus", "ACTIVE", 1);
            fl_buf_append_str(&sums, ",\"StreamModeDetails\":{");
            put_str(&sums, "StreamMode", mode, 0);
            fl_buf_append_str(&sums, "},\"StreamCreationTimestamp\":");
            fl_rec_put_time(&sums, li.created_ns);
            fl_buf_u8(&sums, '}');
            shown++;
        }
        fl_buf_printf(&j->out, "],\"HasMoreStreams\":%s,\"StreamSummaries\":[",
                      more ? "true" : "false");
        fl_buf_append(&j->out, sums.p, sums.n);
        fl_buf_append_str(&j->out, "]}");
        fl_buf_free(&sums);
        fl_log_list_free(names, n);
        break;
    }
    }
}

static void admin_done(fl_http_async_t *a, fl_http_req_t *r)
{
    admin_job_t *j = (admin_job_t *)a;
    fl_rec_put(&j->st);
    if (r) {
        const char *acct = fl_server_config(j->rs->srv)->account_id;
        if (j->rc == FL_EEXISTS)
            fl_http_respond_error(r, 400, "ResourceInUseException",
                                  "Stream %s under account %s already exists.", j->name, acct);
        else if (j->rc == FL_ENOTFOUND)
            fl_http_respond_error(r, 400, "ResourceNotFoundException",
                                  "Stream %s under account %s not found.", j->name, acct);
        else if (j->rc == FL_EBUSY)
            fl_http_respond_error(r, 400, "ResourceInUseException", "Stream %s is in use.",
                                  j->name);
        else if (j->rc)
            fl_http_respond_error(r, 500, "InternalFailureException", "stream %s: %s", j->name,
                                  fl_strerror(j->rc));
        else if (j->op == OP_LIST || j->op == OP_DESCRIBE)
            fl_rec_respond(r, &j->out);
        else
            fl_http_respond(r, 200, "application/x-amz-json-1.1", fl_slice_str("{}"));
    }
    fl_buf_free(&j->out);
    free(j);
}

static admin_job_t *job_new(fl_http_req_t *r, op_t op)
{
    admin_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        return NULL;
    }
    j->op = op;
    j->rs = r->mod;
    j->store = fl_server_store(j->rs->srv);
    j->a.work = admin_work;
    j->a.done = admin_done;
    fl_buf_init(&j->out, 0);
    return j;
}

static void submit(fl_http_req_t *r, admin_job_t *j)
{
    if (fl_http_async_or_busy(r, &j->a, "LimitExceededException") != 0) {
        fl_rec_put(&j->st);
        fl_buf_free(&j->out);
        free(j);
    }
}

void fl_rec_create_stream(fl_http_req_t *r)
{
    const fl_json_t *n = fl_http_json(r, "StreamName");
    const char *why = NULL;
    if (!n || n->type != FL_JSON_STRING || fl_rec_valid_name(n->str, &why) != 0) {
        fl_http_respond_error(r, 400, "ValidationException", "%s",
                              why ? why : "StreamName is required");
        return;
    }
    const char *mode = "PROVISIONED";
    const fl_json_t *md = fl_http_json(r, "StreamModeDetails");
    const fl_json_t *mv = md ? fl_json_get(md, "StreamMode") : NULL;
    if (mv) {
        if (mv->type == FL_JSON_STRING && strcmp(mv->str, "ON_DEMAND") == 0)
            mode = "ON_DEMAND";
        else if (mv->type != FL_JSON_STRING || strcmp(mv->str, "PROVISIONED") != 0) {
            fl_http_respond_error(r, 400, "ValidationException",
                                  "StreamModeDetails.StreamMode must be PROVISIONED or ON_DEMAND");
            return;
        }
    }
    int64_t shards = 0;
    int has = fl_http_json_int(r, "ShardCount", 1, FL_RECORDS_MAX_SHARDS, &shards);
    if (has < 0)
        return;
    if (!has) {
        if (strcmp(mode, "PROVISIONED") == 0) {
            fl_http_respond_error(r, 400, "ValidationException",
                                  "ShardCount is required for a PROVISIONED stream");
            return;
        }
        shards = ON_DEMAND_SHARDS;
    }
    if (fl_rec_access(r, n->str) != 0)
        return;
    admin_job_t *j = job_new(r, OP_CREATE);
    if (!j)
        return;
    snprintf(j->name, sizeof j->name, "%s", n->str);
    j->shards = (uint32_t)shards;
    j->mode = mode;
    submit(r, j);
}

void fl_rec_delete_stream(fl_http_req_t *r)
{
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    uint64_t id = st.info.id;
    fl_rec_put(&st); /* the delete's own hold must not count */
    if (fl_rec_in_use(r->mod, id)) {
        fl_http_respond_error(r, 400, "ResourceInUseException",
                              "Stream %s has calls in flight; retry when they are done", st.name);
        return;
    }
    admin_job_t *j = job_new(r, OP_DELETE);
    if (!j)
        return;
    snprintf(j->name, sizeof j->name, "%s", st.name);
    submit(r, j);
}

static void retention(fl_http_req_t *r, int increase)
{
    fl_rec_stream_t st;
    int64_t hours = 0;
    if (fl_rec_get(r, &st) != 0)
        return;
    int has = fl_http_json_int(r, "RetentionPeriodHours", 24, MAX_RETENTION_H, &hours);
    if (has <= 0) {
        if (has == 0)
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "RetentionPeriodHours is required");
        fl_rec_put(&st);
        return;
    }
    if (increase ? hours < st.info.retention_hours : hours > st.info.retention_hours) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "Requested retention period (%" PRId64
                              " hours) for stream %s can not be %s than the existing "
                              "retention period (%u hours).",
                              hours, st.name, increase ? "shorter" : "longer",
                              st.info.retention_hours);
        fl_rec_put(&st);
        return;
    }
    admin_job_t *j = job_new(r, OP_RETENTION);
    if (!j) {
        fl_rec_put(&st);
        return;
    }
    j->st = st;
    j->log = st.log;
    j->hours = (uint32_t)hours;
    snprintf(j->name, sizeof j->name, "%s", st.name);
    submit(r, j);
}

void fl_rec_increase_retention(fl_http_req_t *r)
{
    retention(r, 1);
}

void fl_rec_decrease_retention(fl_http_req_t *r)
{
    retention(r, 0);
}

void fl_rec_list_streams(fl_http_req_t *r)
{
    int64_t limit = 100;
    if (fl_http_json_int(r, "Limit", 1, 10000, &limit) < 0)
        return;
    const fl_json_t *after = fl_http_json(r, "ExclusiveStartStreamName");
    if (fl_rec_access(r, NULL) != 0)
        return;
    admin_job_t *j = job_new(r, OP_LIST);
    if (!j)
        return;
    j->limit = (size_t)limit;
    if (after && after->type == FL_JSON_STRING)
        snprintf(j->after, sizeof j->after, "%s", after->str);
    submit(r, j);
}

/* One shard's JSON (Shard shape). */
static void put_shard(fl_buf_t *b, const fl_log_shard_info_t *s)
{
    char id[32], lo[40], hi[40];
    fl_rec_shard_id(s->id, id, sizeof id);
    fl_buf_u8(b, '{');
    put_str(b, "ShardId", id, 0);
    if (s->parent != FL_LOG_NO_SHARD) {
        fl_rec_shard_id(s->parent, id, sizeof id);
        put_str(b, "ParentShardId", id, 1);
    }
    if (s->adjacent_parent != FL_LOG_NO_SHARD) {
        fl_rec_shard_id(s->adjacent_parent, id, sizeof id);
        put_str(b, "AdjacentParentShardId", id, 1);
    }
    fl_rec_u128_dec(s->hash_start, lo);
    fl_rec_u128_dec(s->hash_end, hi);
    fl_buf_append_str(b, ",\"HashKeyRange\":{");
    put_str(b, "StartingHashKey", lo, 0);
    put_str(b, "EndingHashKey", hi, 1);
    fl_buf_printf(b, "},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"%" PRIu64 "\"",
                  s->first_seq);
    if (!s->open)
        fl_buf_printf(b, ",\"EndingSequenceNumber\":\"%" PRIu64 "\"",
                      s->next_seq ? s->next_seq - 1 : 0);
    fl_buf_append_str(b, "}}");
}

/* Describe a stream, on a worker (the mode is a catalog attribute, and a
 * catalog read may wait behind another call's commit): summary, or full
 * with the shards after j->after_shard, at most j->limit. */
static void describe_work(admin_job_t *j)
{
    const fl_rec_stream_t *st = &j->st;
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    if ((j->rc = fl_log_shards(st->log, &sh, &n)) != 0)
        return;
    char mode[32] = "PROVISIONED";
    fl_log_attr_get(st->log, "mode", mode, sizeof mode);
    fl_buf_t *b = &j->out;
    fl_buf_append_str(b,
                      j->summary ? "{\"StreamDescriptionSummary\":{" : "{\"StreamDescription\":{");
    put_str(b, "StreamName", st->name, 0);
    put_str(b, "StreamARN", st->arn, 1);
    put_str(b, "StreamStatus", "ACTIVE", 1);
    fl_buf_append_str(b, ",\"StreamModeDetails\":{");
    put_str(b, "StreamMode", mode, 0);
    fl_buf_printf(
        b, "},\"RetentionPeriodHours\":%u,\"StreamCreationTimestamp\":", st->info.retention_hours);
    fl_rec_put_time(b, st->info.created_ns);
    /* at rest every stream is sealed with its own data key under the
     * master key named by KmsKeyId (docs/storage-format.md) */
    fl_buf_append_str(b, ",\"EnhancedMonitoring\":[{\"ShardLevelMetrics\":[]}]");
    put_str(b, "EncryptionType", "KMS", 1);
    put_str(b, "KeyId", st->info.master_key_id, 1);
    if (j->summary) {
        fl_buf_printf(b, ",\"OpenShardCount\":%u,\"ConsumerCount\":0", st->info.open_shards);
    } else {
        fl_buf_append_str(b, ",\"Shards\":[");
        size_t shown = 0;
        int more = 0;
        for (size_t i = 0; i < n; i++) {
            if (j->has_after && sh[i].id <= j->after_shard)
                continue;
            if (shown == j->limit) {
                more = 1;
                break;
            }
            if (shown++)
                fl_buf_u8(b, ',');
            put_shard(b, &sh[i]);
        }
        fl_buf_printf(b, "],\"HasMoreShards\":%s", more ? "true" : "false");
    }
    fl_buf_append_str(b, "}}");
    free(sh);
}

/* Describe a stream: summary (1) or full with shards (0). */
static void describe(fl_http_req_t *r, int summary)
{
    int64_t limit = 100;
    uint32_t after = 0;
    int has_after = 0;
    if (!summary) {
        if (fl_http_json_int(r, "Limit", 1, 10000, &limit) < 0)
            return;
        const fl_json_t *ex = fl_http_json(r, "ExclusiveStartShardId");
        if (ex) {
            if (ex->type != FL_JSON_STRING || fl_rec_parse_shard_id(ex->str, &after) != 0) {
                fl_http_respond_error(r, 400, "InvalidArgumentException",
                                      "ExclusiveStartShardId is not a shard id");
                return;
            }
            has_after = 1;
        }
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    admin_job_t *j = job_new(r, OP_DESCRIBE);
    if (!j) {
        fl_rec_put(&st);
        return;
    }
    j->st = st;
    j->summary = summary;
    j->limit = (size_t)limit;
    j->after_shard = after;
    j->has_after = has_after;
    snprintf(j->name, sizeof j->name, "%s", st.name);
    submit(r, j);
}

void fl_rec_describe_stream(fl_http_req_t *r)
{
    describe(r, 0);
}

void fl_rec_describe_stream_summary(fl_http_req_t *r)
{
    describe(r, 1);
}

void fl_rec_list_shards(fl_http_req_t *r)
{
    /* NextToken is the last shard id listed, so a page needs no state */
    const fl_json_t *tok = fl_http_json(r, "NextToken");
    const fl_json_t *ex = fl_http_json(r, "ExclusiveStartShardId");
    uint32_t after = 0;
    int has_after = 0;
    const char *name = NULL;
    char tname[FL_RECORDS_NAME_MAX + 1];
    if (tok) {
        /* "<stream>/<shard number>" */
        const char *slash = tok->type == FL_JSON_STRING ? strrchr(tok->str, '/') : NULL;
        if (!slash || (size_t)(slash - tok->str) >= sizeof tname ||
            fl_rec_parse_shard_id(slash + 1, &after) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken is not a token this server gave");
            return;
        }
        memcpy(tname, tok->str, (size_t)(slash - tok->str));
        tname[slash - tok->str] = 0;
        name = tname;
        has_after = 1;
        if (fl_http_json(r, "StreamName")) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken and StreamName cannot be given together");
            return;
        }
    } else if (ex) {
        if (ex->type != FL_JSON_STRING || fl_rec_parse_shard_id(ex->str, &after) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "ExclusiveStartShardId is not a shard id");
            return;
        }
        has_after = 1;
    }
    int64_t max = 1000;
    if (fl_http_json_int(r, "MaxResults", 1, 10000, &max) < 0)
        return;
    fl_rec_stream_t st;
    if ((name ? fl_rec_get_named(r, name, &st) : fl_rec_get(r, &st)) != 0)
        return;
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    if (fl_log_shards(st.log, &sh, &n) != 0) {
        fl_rec_put(&st);
        fl_http_respond_error(r, 500, "InternalFailureException", "stream %s: shards unreadable",
                              st.name);
        return;
    }
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_append_str(&b, "{\"Shards\":[");
    size_t shown = 0;
    uint32_t last = 0;
    int more = 0;
    for (size_t i = 0; i < n; i++) {
        if (has_after && sh[i].id <= after)
            continue;
        if (shown == (size_t)max) {
            more = 1;
            break;
        }
        if (shown++)
            fl_buf_u8(&b, ',');
        put_shard(&b, &sh[i]);
        last = sh[i].id;
    }
    fl_buf_u8(&b, ']');
    if (more)
        fl_buf_printf(&b, ",\"NextToken\":\"%s/%" PRIu32 "\"", st.name, last);
    fl_buf_u8(&b, '}');
    fl_rec_respond(r, &b);
    fl_buf_free(&b);
    free(sh);
    fl_rec_put(&st);
}
