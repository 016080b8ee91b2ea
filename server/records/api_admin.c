/*
 * server/records/api_admin.c — the data streams' control plane:
 * CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
 * ListStreams, ListShards, Increase/DecreaseStreamRetentionPeriod.
 * What changes the catalog (and waits for its fsync) runs on the worker
 * pool; what reads storage's in-memory metadata answers on the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "server/records/records.h"
#include "server/video/kms.h"

#define DEFAULT_RETENTION_H 24
#define MAX_RETENTION_H     8760
#define ON_DEMAND_SHARDS    4

typedef struct {
    fl_rec_job_t j; /* first */
    char after[FL_RECORDS_NAME_MAX + 1];
    uint32_t shards;
    uint32_t hours;
    const char *mode;
    size_t limit;
    int summary;          /* describe */
    int updating;         /* describe: a reshard runs */
    uint32_t after_shard; /* describe: ExclusiveStartShardId */
    int has_after;
    fl_rec_tags_t tags; /* create */
} admin_job_t;

static void put_str(fl_buf_t *b, const char *key, const char *val, int comma)
{
    if (comma)
        fl_buf_u8(b, ',');
    fl_json_write_string(b, fl_slice_str(key));
    fl_buf_u8(b, ':');
    fl_json_write_string(b, fl_slice_str(val));
}

static admin_job_t *job_new(fl_http_req_t *r, void (*work)(fl_rec_job_t *j))
{
    return (admin_job_t *)fl_rec_job_new(r, sizeof(admin_job_t), work);
}

static pthread_mutex_t shard_limit_mu = PTHREAD_MUTEX_INITIALIZER;

void fl_rec_shard_limit_lock(void)
{
    pthread_mutex_lock(&shard_limit_mu);
}

void fl_rec_shard_limit_unlock(void)
{
    pthread_mutex_unlock(&shard_limit_mu);
}

int fl_rec_count_shards(fl_store_t *store, uint32_t *open_out, uint32_t *on_demand_out)
{
    char **names = NULL;
    size_t n = 0;
    int rc = fl_log_list(store, &names, &n);
    if (rc)
        return rc;
    uint32_t open = 0, od = 0;
    for (size_t i = 0; i < n; i++) {
        fl_log_t *log;
        fl_log_info_t li;
        if (strncmp(names[i], "d/", 2) != 0 || fl_log_open(store, names[i], &log) != 0)
            continue;
        if (fl_log_info(log, &li) == 0) {
            char mode[32] = "PROVISIONED";
            fl_log_attr_get(log, "mode", mode, sizeof mode);
            open += li.open_shards;
            od += strcmp(mode, "ON_DEMAND") == 0;
        }
        fl_log_close(log);
    }
    fl_log_list_free(names, n);
    *open_out = open;
    if (on_demand_out)
        *on_demand_out = od;
    return 0;
}

static void create_locked(fl_rec_job_t *base, admin_job_t *j);

static void create_work(fl_rec_job_t *base)
{
    admin_job_t *j = (admin_job_t *)base;
    fl_rec_shard_limit_lock();
    create_locked(base, j);
    fl_rec_shard_limit_unlock();
}

/* create_work's check and creation, under the shard limit's lock. */
static void create_locked(fl_rec_job_t *base, admin_job_t *j)
{
    uint32_t open = 0, od = 0;
    if ((base->rc = fl_rec_count_shards(base->store, &open, &od)) != 0)
        return;
    if (open + j->shards > FL_RECORDS_SHARD_LIMIT) {
        fl_rec_job_fail(base, "LimitExceededException",
                        "This request would exceed the shard limit for the account: %u open "
                        "shards, %u asked, limit %u.",
                        open, j->shards, FL_RECORDS_SHARD_LIMIT);
        return;
    }
    if (strcmp(j->mode, "ON_DEMAND") == 0 && od + 1 > FL_RECORDS_ON_DEMAND_LIMIT) {
        fl_rec_job_fail(base, "LimitExceededException",
                        "This request would exceed the limit of %u on-demand streams.",
                        FL_RECORDS_ON_DEMAND_LIMIT);
        return;
    }
    char ln[FL_LOG_MAX_NAME + 1];
    fl_rec_log_name(base->name, ln, sizeof ln);
    const char *ak[] = {"mode"};
    const char *av[] = {j->mode};
    fl_log_opts_t o = {.shard_count = j->shards,
                       .retention_hours = DEFAULT_RETENTION_H,
                       .attr_keys = ak,
                       .attr_values = av,
                       .n_attrs = 1,
                       .tag_keys = (const char *const *)j->tags.keys,
                       .tag_values = (const char *const *)j->tags.values,
                       .n_tags = j->tags.n};
    fl_log_t *log;
    base->rc = fl_log_create(base->store, ln, &o, &log);
    if (!base->rc)
        fl_log_close(log);
}

static void create_after(fl_rec_job_t *base)
{
    fl_rec_tags_free(&((admin_job_t *)base)->tags);
}

typedef struct {
    fl_rec_job_t base; /* first */
    int enforce;       /* EnforceConsumerDeletion */
    int deleted;       /* the worker deleted it */
} delete_job_t;

static void delete_work(fl_rec_job_t *j)
{
    /* as AWS: registered consumers keep the stream unless told to go with
     * it (they are its catalog attributes: the delete removes them) */
    fl_rec_consumer_t cs[FL_RECORDS_MAX_CONSUMERS];
    size_t n = 0;
    if (!((delete_job_t *)j)->enforce && fl_rec_consumers_load(j->st.log, cs, &n) == 0 && n) {
        fl_rec_job_fail(j, "ResourceInUseException",
                        "Stream %s has %zu registered consumers: deregister them or set "
                        "EnforceConsumerDeletion",
                        j->name, n);
        return;
    }
    char ln[FL_LOG_MAX_NAME + 1];
    fl_rec_log_name(j->name, ln, sizeof ln);
    j->rc = fl_log_delete(j->store, ln);
    ((delete_job_t *)j)->deleted = j->rc == 0;
}

static void delete_after(fl_rec_job_t *j)
{
    if (!((delete_job_t *)j)->deleted)
        return; /* refused, failed, or never ran */
    fl_rec_counters_drop(j->rs, j->name);
    /* its consumers went with it: their subscriptions end now, with
     * ResourceNotFoundException in their event streams */
    fl_rec_sub_end_t e = {.log_id = j->st.info.id, .type = "ResourceNotFoundException"};
    snprintf(e.msg, sizeof e.msg, "Stream %s under account %s not found (deleted).", j->name,
             fl_server_config(j->rs->srv)->account_id);
    fl_rec_sub_end(j->rs, &e);
}

static void retention_work(fl_rec_job_t *base)
{
    base->rc = fl_log_set_retention(base->st.log, ((admin_job_t *)base)->hours);
}

static void list_work(fl_rec_job_t *base)
{
    admin_job_t *j = (admin_job_t *)base;
    char **names = NULL;
    size_t n = 0, shown = 0;
    if ((base->rc = fl_log_list(base->store, &names, &n)) != 0)
        return;
    fl_buf_t *out = &base->out;
    fl_buf_append_str(out, "{\"StreamNames\":[");
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
        if (fl_log_open(base->store, names[i], &log) != 0)
            continue; /* deleted meanwhile */
        if (fl_log_info(log, &li) != 0) {
            fl_log_close(log);
            continue;
        }
        char arn[FL_RECORDS_NAME_MAX + 256];
        fl_rec_arn(base->rs, nm, arn, sizeof arn);
        char mode[32] = "PROVISIONED";
        fl_log_attr_get(log, "mode", mode, sizeof mode);
        fl_log_close(log);
        if (shown)
            fl_buf_u8(out, ',');
        fl_json_write_string(out, fl_slice_str(nm));
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
    fl_buf_printf(out, "],\"HasMoreStreams\":%s,\"StreamSummaries\":[", more ? "true" : "false");
    fl_buf_append(out, sums.p, sums.n);
    fl_buf_append_str(out, "]}");
    fl_buf_free(&sums);
    fl_log_list_free(names, n);
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
    fl_rec_tags_t tags = {0};
    const fl_json_t *tj = fl_http_json(r, "Tags");
    if (tj && fl_rec_tags_parse(r, tj, &tags) != 0)
        return;
    if (fl_rec_access(r, n->str) != 0) {
        fl_rec_tags_free(&tags);
        return;
    }
    admin_job_t *j = job_new(r, create_work);
    if (!j) {
        fl_rec_tags_free(&tags);
        return;
    }
    snprintf(j->j.name, sizeof j->j.name, "%s", n->str);
    j->shards = (uint32_t)shards;
    j->mode = mode;
    j->tags = tags;
    j->j.after = create_after;
    fl_rec_job_submit(r, &j->j);
}

void fl_rec_delete_stream(fl_http_req_t *r)
{
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    /* the delete holds the stream, and nobody else may: from here on no
     * call gets it, so the worker deletes the incarnation checked here */
    if (fl_rec_begin_delete(&st) != 0) {
        fl_http_respond_error(r, 400, "ResourceInUseException",
                              "Stream %s has calls in flight; retry when they are done", st.name);
        fl_rec_put(&st);
        return;
    }
    const fl_json_t *enforce = fl_http_json(r, "EnforceConsumerDeletion");
    if (enforce && enforce->type != FL_JSON_TRUE && enforce->type != FL_JSON_FALSE &&
        enforce->type != FL_JSON_NULL) {
        fl_http_respond_error(r, 400, "SerializationException",
                              "EnforceConsumerDeletion is a boolean");
        fl_rec_put(&st);
        return;
    }
    fl_rec_job_t *j = fl_rec_job_new(r, sizeof(delete_job_t), delete_work);
    if (!j) {
        fl_rec_put(&st);
        return;
    }
    ((delete_job_t *)j)->enforce = enforce && enforce->type == FL_JSON_TRUE;
    j->st = st;
    j->after = delete_after;
    snprintf(j->name, sizeof j->name, "%s", st.name);
    fl_rec_job_submit(r, j);
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
    admin_job_t *j = job_new(r, retention_work);
    if (!j) {
        fl_rec_put(&st);
        return;
    }
    j->j.st = st;
    j->hours = (uint32_t)hours;
    snprintf(j->j.name, sizeof j->j.name, "%s", st.name);
    fl_rec_job_submit(r, &j->j);
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
    admin_job_t *j = job_new(r, list_work);
    if (!j)
        return;
    j->limit = (size_t)limit;
    if (after && after->type == FL_JSON_STRING)
        snprintf(j->after, sizeof j->after, "%s", after->str);
    fl_rec_job_submit(r, &j->j);
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
static void describe_work(fl_rec_job_t *base)
{
    admin_job_t *j = (admin_job_t *)base;
    const fl_rec_stream_t *st = &base->st;
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    if ((base->rc = fl_log_shards(st->log, &sh, &n)) != 0)
        return;
    char mode[32] = "PROVISIONED";
    fl_log_attr_get(st->log, "mode", mode, sizeof mode);
    fl_buf_t *b = &base->out;
    fl_buf_append_str(b,
                      j->summary ? "{\"StreamDescriptionSummary\":{" : "{\"StreamDescription\":{");
    put_str(b, "StreamName", st->name, 0);
    put_str(b, "StreamARN", st->arn, 1);
    put_str(b, "StreamStatus", j->updating ? "UPDATING" : "ACTIVE", 1);
    fl_buf_append_str(b, ",\"StreamModeDetails\":{");
    put_str(b, "StreamMode", mode, 0);
    fl_buf_printf(
        b, "},\"RetentionPeriodHours\":%u,\"StreamCreationTimestamp\":", st->info.retention_hours);
    fl_rec_put_time(b, st->info.created_ns);
    /* at rest every stream is sealed with its own data key under the
     * master key named by KmsKeyId (docs/storage-format.md) */
    fl_buf_append_str(b, ",\"EnhancedMonitoring\":[{\"ShardLevelMetrics\":[]}]");
    put_str(b, "EncryptionType", "KMS", 1);
    char key_id[FL_KMS_REF_MAX + 1];
    fl_kms_shown(st->log, st->info.master_key_id, key_id, sizeof key_id);
    put_str(b, "KeyId", key_id, 1);
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
    admin_job_t *j = job_new(r, describe_work);
    if (!j) {
        fl_rec_put(&st);
        return;
    }
    j->updating = fl_rec_updating(&st);
    j->j.st = st;
    j->summary = summary;
    j->limit = (size_t)limit;
    j->after_shard = after;
    j->has_after = has_after;
    snprintf(j->j.name, sizeof j->j.name, "%s", st.name);
    fl_rec_job_submit(r, &j->j);
}

void fl_rec_describe_stream(fl_http_req_t *r)
{
    describe(r, 0);
}

void fl_rec_describe_stream_summary(fl_http_req_t *r)
{
    describe(r, 1);
}

/* ListShards' ShardFilter. */
typedef enum {
    SF_NONE,
    SF_AFTER_SHARD_ID,
    SF_AT_TRIM_HORIZON,
    SF_FROM_TRIM_HORIZON,
    SF_AT_LATEST,
    SF_AT_TIMESTAMP,
    SF_FROM_TIMESTAMP
} sf_type_t;

typedef struct {
    sf_type_t type;
    uint32_t shard; /* AFTER_SHARD_ID */
    int64_t ts_ns;  /* AT_TIMESTAMP, FROM_TIMESTAMP */
} shard_filter_t;

static int parse_filter(fl_http_req_t *r, shard_filter_t *f)
{
    static const char *const names[] = {
        "",          "AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON",
        "AT_LATEST", "AT_TIMESTAMP",   "FROM_TIMESTAMP"};
    memset(f, 0, sizeof *f);
    const fl_json_t *sf = fl_http_json(r, "ShardFilter");
    if (!sf)
        return 0;
    const fl_json_t *t = fl_json_get(sf, "Type");
    if (sf->type != FL_JSON_OBJECT || !t || t->type != FL_JSON_STRING) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "ShardFilter.Type is required");
        return -1;
    }
    for (size_t i = 1; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(t->str, names[i]) == 0)
            f->type = (sf_type_t)i;
    const fl_json_t *id = fl_json_get(sf, "ShardId");
    const fl_json_t *ts = fl_json_get(sf, "Timestamp");
    switch (f->type) {
    case SF_NONE:
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ShardFilter.Type must be AFTER_SHARD_ID, AT_TRIM_HORIZON, "
                              "FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP or FROM_TIMESTAMP");
        return -1;
    case SF_AFTER_SHARD_ID:
        if (!id || id->type != FL_JSON_STRING || fl_rec_parse_shard_id(id->str, &f->shard) != 0) {
            fl_http_respond_error(
                r, 400, "InvalidArgumentException",
                "ShardFilter.ShardId (a shard id) is required for AFTER_SHARD_ID");
            return -1;
        }
        break;
    case SF_AT_TIMESTAMP:
    case SF_FROM_TIMESTAMP:
        if (!ts || fl_awstime_parse_json(ts, &f->ts_ns) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "ShardFilter.Timestamp is required for %s", t->str);
            return -1;
        }
        break;
    default:
        break;
    }
    if ((id && f->type != SF_AFTER_SHARD_ID) ||
        (ts && f->type != SF_AT_TIMESTAMP && f->type != SF_FROM_TIMESTAMP)) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ShardFilter.%s does not go with Type %s",
                              id ? "ShardId" : "Timestamp", t->str);
        return -1;
    }
    return 0;
}

/* When shard i closed: the creation of the first shard that names it as a
 * parent (INT64_MAX while it is open). */
static int64_t closed_at(const fl_log_shard_info_t *sh, size_t n, size_t i)
{
    if (sh[i].open)
        return INT64_MAX;
    int64_t t = INT64_MAX;
    for (size_t k = 0; k < n; k++)
        if ((sh[k].parent == sh[i].id || sh[k].adjacent_parent == sh[i].id) && sh[k].created_ns < t)
            t = sh[k].created_ns;
    return t == INT64_MAX ? sh[i].created_ns : t;
}

/* Does the filter keep shard i? A shard lives from its creation to its
 * close; the trim horizon is the oldest moment retention keeps (never
 * before the stream was made). */
static int filter_keeps(const shard_filter_t *f, const fl_log_shard_info_t *sh, size_t n, size_t i,
                        const fl_log_info_t *info, int64_t now)
{
    int64_t horizon = now - (int64_t)info->retention_hours * 3600 * 1000000000LL;
    if (horizon < info->created_ns)
        horizon = info->created_ns;
    switch (f->type) {
    case SF_AT_LATEST:
        return sh[i].open;
    case SF_AT_TRIM_HORIZON:
        return sh[i].created_ns <= horizon && closed_at(sh, n, i) > horizon;
    case SF_FROM_TRIM_HORIZON:
        return closed_at(sh, n, i) > horizon;
    case SF_AT_TIMESTAMP: {
        /* before the stream existed: its first shards */
        int64_t t = f->ts_ns < info->created_ns ? info->created_ns : f->ts_ns;
        return sh[i].created_ns <= t && closed_at(sh, n, i) >= t;
    }
    case SF_FROM_TIMESTAMP: /* never before the trim horizon, as AWS */
        return closed_at(sh, n, i) >= (f->ts_ns < horizon ? horizon : f->ts_ns);
    default:
        return 1;
    }
}

/* ListShards' NextToken: "<stream>/<last shard listed>", then, when the
 * first page had a ShardFilter, "/<type>" and for the timestamp types
 * "/<ns>": AWS refuses a ShardFilter beside a NextToken, so the token
 * carries it and every page keeps the first page's filter. Stream names
 * hold no '/' (fl_rec_valid_name). No state is kept between pages. */
static int parse_list_token(const char *s, char *name, size_t cap, uint32_t *after,
                            shard_filter_t *f)
{
    char part[4][32];
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= cap)
        return -1;
    memcpy(name, s, (size_t)(slash - s));
    name[slash - s] = 0;
    size_t np = 0;
    for (const char *p = slash + 1;; np++) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (np == 3 || len == 0 || len >= sizeof part[0])
            return -1;
        memcpy(part[np], p, len);
        part[np][len] = 0;
        if (!e) {
            np++;
            break;
        }
        p = e + 1;
    }
    memset(f, 0, sizeof *f);
    if (fl_rec_parse_shard_id(part[0], after) != 0)
        return -1;
    if (np == 1)
        return 0;
    char *end;
    unsigned long t = strtoul(part[1], &end, 10);
    if (*end || t <= SF_NONE || t > SF_FROM_TIMESTAMP || t == SF_AFTER_SHARD_ID)
        return -1;
    f->type = (sf_type_t)t;
    int timed = f->type == SF_AT_TIMESTAMP || f->type == SF_FROM_TIMESTAMP;
    if (timed != (np == 3))
        return -1;
    if (timed) {
        errno = 0;
        long long ns = strtoll(part[2], &end, 10);
        if (*end || errno)
            return -1;
        f->ts_ns = ns;
    }
    return 0;
}

void fl_rec_list_shards(fl_http_req_t *r)
{
    const fl_json_t *tok = fl_http_json(r, "NextToken");
    const fl_json_t *ex = fl_http_json(r, "ExclusiveStartShardId");
    uint32_t after = 0;
    int has_after = 0;
    const char *name = NULL;
    char tname[FL_RECORDS_NAME_MAX + 1];
    shard_filter_t f;
    memset(&f, 0, sizeof f);
    if (tok) {
        if (tok->type != FL_JSON_STRING ||
            parse_list_token(tok->str, tname, sizeof tname, &after, &f) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken is not a token this server gave");
            return;
        }
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
    if (tok) {
        if (fl_http_json(r, "ShardFilter")) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken and ShardFilter cannot be given together");
            return;
        }
    } else if (parse_filter(r, &f) != 0) {
        return;
    }
    if (f.type == SF_AFTER_SHARD_ID) {
        /* the filter's start, folded into the token's shard on later pages */
        if (!has_after || f.shard > after)
            after = f.shard;
        has_after = 1;
    }
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
    int64_t now = fl_time_real_ns();
    for (size_t i = 0; i < n; i++) {
        if (has_after && sh[i].id <= after)
            continue;
        if (!filter_keeps(&f, sh, n, i, &st.info, now))
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
    if (more) {
        fl_buf_printf(&b, ",\"NextToken\":\"%s/%" PRIu32, st.name, last);
        if (f.type != SF_NONE && f.type != SF_AFTER_SHARD_ID)
            fl_buf_printf(&b, "/%d", (int)f.type);
        if (f.type == SF_AT_TIMESTAMP || f.type == SF_FROM_TIMESTAMP)
            fl_buf_printf(&b, "/%" PRId64, f.ts_ns);
        fl_buf_u8(&b, '"');
    }
    fl_buf_u8(&b, '}');
    fl_rec_respond(r, &b);
    fl_buf_free(&b);
    free(sh);
    fl_rec_put(&st);
}
