/*
 * server/records/api_tags.c — a data stream's tags (AddTagsToStream,
 * RemoveTagsFromStream, ListTagsForStream; CreateStream's Tags), its
 * encryption calls (StartStreamEncryption, StopStreamEncryption) and
 * DescribeLimits.
 *
 * Tags are storage's log tags (storage/log.h), checked as Kinesis Video's
 * are (server/video/validate.h: the same AWS pattern): keys 1..128, values
 * 0..256, at most FL_RECORDS_MAX_TAGS per stream, no "aws:" prefix. Changes
 * run on a worker (each waits for the catalog's fsync); the stream's
 * tags_mu makes the count check and the writes one step, so two calls
 * cannot pass the limit together. The locks are per stream (one of
 * TAGS_LOCKS stripes, by the log's id, which names one incarnation of the
 * stream): tag calls on different streams do not wait for each other's
 * fsyncs, and a stripe needs no life cycle beside the stream's.
 *
 * Encryption: every data stream is encrypted at rest under its own data
 * key, wrapped by a master key (docs/storage-format.md), from creation to
 * deletion. StartStreamEncryption with KMS re-wraps the stream's data key
 * under the master key its KeyId names (server/video/kms.h: a KMS key ARN,
 * key id, alias or alias ARN names a master key made on first use; no
 * record is rewritten) and keeps the KeyId as given for DescribeStream;
 * StopStreamEncryption cannot be honoured and says so.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/json.h"
#include "server/records/records.h"
#include "server/video/kms.h"
#include "server/video/validate.h"

#define TAGS_LOCKS 64
#define M1         PTHREAD_MUTEX_INITIALIZER
#define M8         M1, M1, M1, M1, M1, M1, M1, M1
static pthread_mutex_t tags_mu[TAGS_LOCKS] = {M8, M8, M8, M8, M8, M8, M8, M8};
#undef M8
#undef M1

/* The lock of the job's stream. */
static pthread_mutex_t *stream_tags_mu(const fl_rec_job_t *base)
{
    return &tags_mu[base->st.info.id % TAGS_LOCKS];
}

void fl_rec_tags_free(fl_rec_tags_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->keys[i]);
        if (t->values) /* none for RemoveTagsFromStream */
            free(t->values[i]);
    }
    free(t->keys);
    free(t->values);
    memset(t, 0, sizeof *t);
}

/* A tag key as AWS checks it, "aws:" reserved. Responds, -1 if bad. */
static int check_key(fl_http_req_t *r, const char *k, size_t kl)
{
    const char *why = NULL;
    if (fl_valid_tag_key(fl_slice(k, kl), &why) != 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "tag key %.*s: %s",
                              (int)(kl > 128 ? 128 : kl), k, why);
        return -1;
    }
    if (kl >= 4 && strncasecmp(k, "aws:", 4) == 0) { /* every case of it, as AWS */
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "tag key %.*s: the prefix aws: is reserved", (int)kl, k);
        return -1;
    }
    return 0;
}

int fl_rec_tags_parse(fl_http_req_t *r, const fl_json_t *map, fl_rec_tags_t *out)
{
    memset(out, 0, sizeof *out);
    if (map->type != FL_JSON_OBJECT || map->count < 1 || map->count > FL_RECORDS_MAX_TAGS_CALL) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "Tags must be a map of 1 to %d tags", FL_RECORDS_MAX_TAGS_CALL);
        return -1;
    }
    out->keys = calloc(map->count, sizeof *out->keys);
    out->values = calloc(map->count, sizeof *out->values);
    if (!out->keys || !out->values)
        goto oom;
    for (const fl_json_t *e = map->child; e; e = e->next) {
        const char *why = NULL;
        if (check_key(r, e->key, e->key_len) != 0)
            goto bad;
        if (e->type != FL_JSON_STRING || fl_valid_tag_value(fl_slice(e->str, e->len), &why) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException", "tag %s: value %s", e->key,
                                  why ? why : "must be a string");
            goto bad;
        }
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->keys[i], e->key) == 0) {
                fl_http_respond_error(r, 400, "InvalidArgumentException",
                                      "tag key %s is given twice", e->key);
                goto bad;
            }
        out->keys[out->n] = strdup(e->key);
        out->values[out->n] = strdup(e->str);
        if (!out->keys[out->n] || !out->values[out->n]) {
            out->n++;
            goto oom;
        }
        out->n++;
    }
    if (out->n > FL_RECORDS_MAX_TAGS) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "a stream has at most %d tags; %zu given", FL_RECORDS_MAX_TAGS,
                              out->n);
        goto bad;
    }
    return 0;
oom:
    fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
bad:
    fl_rec_tags_free(out);
    return -1;
}

/* ---- AddTagsToStream, RemoveTagsFromStream ---- */

typedef struct {
    fl_rec_job_t j;                             /* first */
    fl_rec_tags_t tags;                         /* add: keys and values; remove: keys */
    char after[FL_RECORDS_TAG_KEY_MAX * 4 + 1]; /* list: ExclusiveStartTagKey */
    size_t limit;                               /* list */
} tag_job_t;

static void tag_after(fl_rec_job_t *base)
{
    fl_rec_tags_free(&((tag_job_t *)base)->tags);
}

static void add_work(fl_rec_job_t *base)
{
    tag_job_t *j = (tag_job_t *)base;
    char **keys = NULL, **values = NULL;
    size_t n = 0;
    pthread_mutex_lock(stream_tags_mu(base));
    if ((base->rc = fl_log_tags(base->st.log, &keys, &values, &n)) != 0)
        goto out;
    size_t total = n;
    for (size_t i = 0; i < j->tags.n; i++) {
        int known = 0;
        for (size_t k = 0; k < n && !known; k++)
            known = strcmp(keys[k], j->tags.keys[i]) == 0;
        total += !known;
    }
    if (total > FL_RECORDS_MAX_TAGS) {
        fl_rec_job_fail(base, "LimitExceededException",
                        "Stream %s would have %zu tags, more than %d.", base->name, total,
                        FL_RECORDS_MAX_TAGS);
        goto out;
    }
    for (size_t i = 0; i < j->tags.n && !base->rc; i++)
        base->rc = fl_log_tag_set(base->st.log, j->tags.keys[i], j->tags.values[i]);
out:
    pthread_mutex_unlock(stream_tags_mu(base));
    fl_log_tags_free(keys, values, n);
}

static void remove_work(fl_rec_job_t *base)
{
    tag_job_t *j = (tag_job_t *)base;
    pthread_mutex_lock(stream_tags_mu(base));
    for (size_t i = 0; i < j->tags.n && !base->rc; i++) {
        base->rc = fl_log_tag_remove(base->st.log, j->tags.keys[i]);
        if (base->rc == FL_ENOTFOUND)
            base->rc = 0; /* as AWS: removing an absent tag is not an error */
    }
    pthread_mutex_unlock(stream_tags_mu(base));
}

static void list_work(fl_rec_job_t *base)
{
    tag_job_t *j = (tag_job_t *)base;
    char **keys = NULL, **values = NULL;
    size_t n = 0, shown = 0;
    if ((base->rc = fl_log_tags(base->st.log, &keys, &values, &n)) != 0)
        return;
    fl_buf_t *b = &base->out;
    int more = 0;
    fl_buf_append_str(b, "{\"Tags\":[");
    for (size_t i = 0; i < n; i++) { /* key order */
        if (j->after[0] && strcmp(keys[i], j->after) <= 0)
            continue;
        if (shown == j->limit) {
            more = 1;
            break;
        }
        fl_buf_append_str(b, shown++ ? ",{\"Key\":" : "{\"Key\":");
        fl_json_write_string(b, fl_slice_str(keys[i]));
        fl_buf_append_str(b, ",\"Value\":");
        fl_json_write_string(b, fl_slice_str(values[i]));
        fl_buf_u8(b, '}');
    }
    fl_buf_printf(b, "],\"HasMoreTags\":%s}", more ? "true" : "false");
    fl_log_tags_free(keys, values, n);
}

static tag_job_t *tag_job(fl_http_req_t *r, fl_rec_stream_t *st, void (*work)(fl_rec_job_t *))
{
    tag_job_t *j = (tag_job_t *)fl_rec_job_new(r, sizeof *j, work);
    if (!j) {
        fl_rec_put(st);
        return NULL;
    }
    j->j.st = *st;
    j->j.after = tag_after;
    snprintf(j->j.name, sizeof j->j.name, "%s", st->name);
    return j;
}

void fl_rec_add_tags(fl_http_req_t *r)
{
    const fl_json_t *t = fl_http_json(r, "Tags");
    if (!t) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "Tags is required");
        return;
    }
    fl_rec_tags_t tags;
    if (fl_rec_tags_parse(r, t, &tags) != 0)
        return;
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0) {
        fl_rec_tags_free(&tags);
        return;
    }
    tag_job_t *j = tag_job(r, &st, add_work);
    if (!j) {
        fl_rec_tags_free(&tags);
        return;
    }
    j->tags = tags;
    fl_rec_job_submit(r, &j->j);
}

void fl_rec_remove_tags(fl_http_req_t *r)
{
    const fl_json_t *t = fl_http_json(r, "TagKeys");
    if (!t || t->type != FL_JSON_ARRAY || t->count < 1 || t->count > FL_RECORDS_MAX_TAG_KEYS) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "TagKeys must list 1 to %d tag keys", FL_RECORDS_MAX_TAG_KEYS);
        return;
    }
    for (const fl_json_t *e = t->child; e; e = e->next) {
        const char *why = NULL;
        if (e->type != FL_JSON_STRING || fl_valid_tag_key(fl_slice(e->str, e->len), &why) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException", "TagKeys: %s",
                                  why ? why : "must hold strings");
            return;
        }
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    tag_job_t *j = tag_job(r, &st, remove_work);
    if (!j)
        return;
    j->tags.keys = calloc(t->count, sizeof *j->tags.keys);
    for (const fl_json_t *e = t->child; e && j->tags.keys; e = e->next) {
        if (!(j->tags.keys[j->tags.n] = strdup(e->str)))
            break;
        j->tags.n++;
    }
    if (j->tags.n != t->count) {
        j->j.rc = FL_ENOMEM; /* answered by the job as an internal failure */
        j->j.work = NULL;
    }
    fl_rec_job_submit(r, &j->j);
}

void fl_rec_list_tags(fl_http_req_t *r)
{
    int64_t limit = 10; /* AWS's default page */
    if (fl_http_json_int(r, "Limit", 1, FL_RECORDS_MAX_TAGS, &limit) < 0)
        return;
    const fl_json_t *ex = fl_http_json(r, "ExclusiveStartTagKey");
    if (ex && (ex->type != FL_JSON_STRING || ex->len < 1 || ex->len > FL_RECORDS_TAG_KEY_MAX * 4)) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ExclusiveStartTagKey must be a tag key");
        return;
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    tag_job_t *j = tag_job(r, &st, list_work);
    if (!j)
        return;
    j->limit = (size_t)limit;
    if (ex)
        snprintf(j->after, sizeof j->after, "%s", ex->str);
    fl_rec_job_submit(r, &j->j);
}

/* ---- encryption ---- */

typedef struct {
    fl_rec_job_t j; /* first */
    char ref[FL_KMS_REF_MAX + 1];
} enc_job_t;

static void start_work(fl_rec_job_t *base)
{
    enc_job_t *j = (enc_job_t *)base;
    char id[FL_LOG_MAX_KEY_ID + 1];
    int make = 0, made = 0;
    int rc = fl_kms_master_key(j->ref, id, &make);
    if (rc == 0) {
        /* a key made on first use, the switch and KeyId as given: one
         * catalog transaction */
        fl_log_key_opts_t ko = {make, FL_KMS_ATTR, j->ref, &made};
        rc = fl_log_set_master_key_ex(base->st.log, id, &ko);
    }
    if (made)
        fl_kms_made(j->ref, id);
    if (rc == FL_ENOTFOUND || rc == FL_EMALFORMED || rc == FL_EINVAL) {
        char msg[600];
        fl_kms_unknown_msg("KeyId", j->ref, msg, sizeof msg);
        fl_rec_job_fail(base, "InvalidArgumentException", "%.250s", msg);
        return;
    }
    base->rc = rc;
}

static void encryption(fl_http_req_t *r, int start)
{
    const fl_json_t *et = fl_http_json(r, "EncryptionType");
    const fl_json_t *kid = fl_http_json(r, "KeyId");
    if (!et || et->type != FL_JSON_STRING || strcmp(et->str, "KMS") != 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "EncryptionType must be KMS (the only type there is)");
        return;
    }
    if (!kid || kid->type != FL_JSON_STRING || kid->len < 1 || kid->len > 2048) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "KeyId is required");
        return;
    }
    char msg[700];
    if (start && (kid->len > FL_KMS_REF_MAX || memchr(kid->str, 0, kid->len) ||
                  fl_kms_check("KeyId", kid->str, msg, sizeof msg) != 0)) {
        if (kid->len > FL_KMS_REF_MAX || memchr(kid->str, 0, kid->len))
            snprintf(msg, sizeof msg, "KeyId is not a valid KMS key: at most %d characters",
                     FL_KMS_REF_MAX);
        fl_http_respond_error(r, 400, "InvalidArgumentException", "%s", msg);
        return;
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    if (start) {
        enc_job_t *j = (enc_job_t *)fl_rec_job_new(r, sizeof *j, start_work);
        if (!j) {
            fl_rec_put(&st);
            return;
        }
        j->j.st = st;
        snprintf(j->j.name, sizeof j->j.name, "%s", st.name);
        snprintf(j->ref, sizeof j->ref, "%s", kid->str);
        fl_rec_job_submit(r, &j->j);
        return;
    }
    fl_http_respond_error(r, 400, "InvalidArgumentException",
                          "Stream %s stays encrypted: framelog keeps every data stream "
                          "encrypted at rest under its own data key (wrapped by master key "
                          "%s) and cannot turn that off.",
                          st.name, st.info.master_key_id);
    fl_rec_put(&st);
}

void fl_rec_start_encryption(fl_http_req_t *r)
{
    encryption(r, 1);
}

void fl_rec_stop_encryption(fl_http_req_t *r)
{
    encryption(r, 0);
}

/* ---- DescribeLimits ---- */

static void limits_work(fl_rec_job_t *j)
{
    uint32_t open = 0, od = 0;
    if ((j->rc = fl_rec_count_shards(j->store, &open, &od)) != 0)
        return;
    fl_buf_printf(&j->out,
                  "{\"ShardLimit\":%d,\"OpenShardCount\":%u,\"OnDemandStreamCount\":%u,"
                  "\"OnDemandStreamCountLimit\":%d}",
                  FL_RECORDS_SHARD_LIMIT, open, od, FL_RECORDS_ON_DEMAND_LIMIT);
}

void fl_rec_describe_limits(fl_http_req_t *r)
{
    if (fl_rec_access(r, NULL) != 0)
        return;
    fl_rec_job_t *j = fl_rec_job_new(r, sizeof *j, limits_work);
    if (j)
        fl_rec_job_submit(r, j);
}
