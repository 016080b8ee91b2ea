/*
 * server/kvs/api_streams.c — the Kinesis Video control plane: CreateStream,
 * DescribeStream, ListStreams, DeleteStream, UpdateStream,
 * UpdateDataRetention, TagStream, UntagStream, ListTagsForStream,
 * TagResource, UntagResource, ListTagsForResource and GetDataEndpoint, with
 * AWS's paths, JSON shapes, error names and statuses (reference/kvs-shapes.md).
 *
 * Each handler validates its input on the loop thread (cheap), then hands a
 * job to the worker pool, because catalog writes wait for an fsync. The
 * job's work() calls server/streams.c and renders the JSON reply; done()
 * sends it on the loop thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/error.h"
#include "common/json.h"
#include "server/kvs/kvs.h"
#include "server/video/kms.h"
#include "server/video/streams.h"
#include "server/video/validate.h"

typedef enum {
    OP_CREATE,
    OP_DESCRIBE,
    OP_LIST,
    OP_DELETE,
    OP_UPDATE,
    OP_RETENTION,
    OP_TAG,
    OP_UNTAG,
    OP_LIST_TAGS,
    OP_ENDPOINT,
    OP_CONFIG_GET,  /* a stored configuration (image generation, notification) */
    OP_CONFIG_SET,  /* and its update */
    OP_STORAGE_GET, /* DescribeStreamStorageConfiguration */
} op_t;

typedef struct {
    fl_http_async_t a; /* first: the http layer's */
    op_t op;
    fl_video_streams_t *st;
    fl_hub_t *hub;             /* DeleteStream: the server's hub, and */
    fl_hub_entry_t *hub_entry; /* the stream's entry, marked deleting meanwhile */
    /* the stream addressed */
    char name[FL_STREAM_NAME_MAX + 1];
    int64_t creation_ms; /* from an ARN, else -1 */
    char version[65];
    int has_version;
    /* inputs */
    fl_stream_info_t info;
    fl_stream_tag_t *tags;
    size_t n_tags;
    char **keys;
    size_t n_keys;
    char prefix[FL_STREAM_NAME_MAX + 1];
    char after[FL_STREAM_NAME_MAX + 1];
    size_t max;
    int64_t delta;
    char endpoint[400];
    int tags_as_list;    /* ListTagsForResource vs ListTagsForStream: same shape */
    const char *cfg_key; /* OP_CONFIG_*: the configuration's member name and attribute */
    char cfg[FL_STREAM_CONFIG_MAX + 1]; /* OP_CONFIG_SET: its canonical JSON ("": none) */
    int cfg_needs_retention;            /* OP_CONFIG_SET: enabling it needs stored data */
    /* result */
    int status;
    const char *etype;
    char msg[400];
    fl_buf_t out;
} sjob_t;

#define IMAGE_CONFIG        "ImageGenerationConfiguration"
#define NOTIFICATION_CONFIG "NotificationConfiguration"
#define STORAGE_CONFIG      "StreamStorageConfiguration"

static void job_free(sjob_t *j)
{
    if (!j)
        return;
    if (j->hub_entry) {
        fl_hub_lock(j->hub);
        j->hub_entry->deleting = 0;
        fl_hub_unlock(j->hub);
        fl_hub_release(j->hub, j->hub_entry);
    }
    free(j->tags);
    for (size_t i = 0; i < j->n_keys; i++)
        free(j->keys[i]);
    free(j->keys);
    fl_buf_free(&j->out);
    free(j);
}

/* ---- input helpers: each responds with the error itself and returns -1 ---- */

static int bad_arg(fl_http_req_t *r, const char *fmt, const char *arg)
{
    fl_http_respond_error(r, 400, "InvalidArgumentException", fmt, arg);
    return -1;
}

/* A string member: absent is fine unless required. */
static int get_string(fl_http_req_t *r, const char *key, int required,
                      int (*valid)(fl_slice_t, const char **), char *dst, size_t cap, int *present)
{
    const fl_json_t *v = fl_http_json(r, key);
    if (present)
        *present = 0;
    if (!v || v->type == FL_JSON_NULL) {
        if (required)
            return bad_arg(r, "%s is required", key);
        dst[0] = 0;
        return 0;
    }
    if (v->type != FL_JSON_STRING)
        return bad_arg(r, "%s must be a string", key);
    const char *why = NULL;
    if (valid && valid(fl_slice(v->str, v->len), &why) != 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "%s", why);
        return -1;
    }
    if (v->len >= cap || memchr(v->str, 0, v->len))
        return bad_arg(r, "%s is too long", key);
    memcpy(dst, v->str, v->len);
    dst[v->len] = 0;
    if (present)
        *present = 1;
    return 0;
}

/* StreamName and/or StreamARN into j->name / j->creation_ms. */
static int get_stream(fl_http_req_t *r, sjob_t *j, const char *arn_key, int arn_required)
{
    char arn[1100];
    int has_name, has_arn;
    if (get_string(r, "StreamName", 0, fl_valid_stream_name, j->name, sizeof j->name, &has_name) ||
        get_string(r, arn_key, arn_required, fl_valid_stream_arn, arn, sizeof arn, &has_arn))
        return -1;
    j->creation_ms = -1;
    if (has_arn) {
        fl_slice_t nm;
        long long ms;
        fl_stream_arn_parts(fl_slice_str(arn), &nm, &ms);
        if (has_name && !fl_slice_eq_str(nm, j->name))
            return bad_arg(r, "StreamName and %s name different streams", arn_key);
        memcpy(j->name, nm.p, nm.n);
        j->name[nm.n] = 0;
        j->creation_ms = ms;
    } else if (!has_name) {
        return bad_arg(r, "StreamName or %s is required", arn_key);
    }
    /* the stream must exist, and the caller may do this call on it */
    char action[96];
    snprintf(action, sizeof action, "kinesisvideo:%s", r->route_name);
    fl_stream_want_t want = {.name = j->name,
                             .arn = has_arn ? arn : NULL,
                             .action = action,
                             .who = &r->who,
                             .name_field = "StreamName",
                             .arn_field = arn_key};
    fl_stream_ref_t ref;
    fl_api_error_t err;
    if (fl_stream_check(fl_video_of(r->srv), &want, &ref, &err) != 0) {
        fl_http_respond_api_error(r, &err);
        return -1;
    }
    return 0;
}

static int get_version(fl_http_req_t *r, sjob_t *j, int required)
{
    return get_string(r, "CurrentVersion", required, fl_valid_version, j->version,
                      sizeof j->version, &j->has_version);
}

static int get_int(fl_http_req_t *r, const char *key, int required, int64_t min, int64_t max,
                   int64_t *out, int *present)
{
    const fl_json_t *v = fl_http_json(r, key);
    *present = 0;
    if (!v || v->type == FL_JSON_NULL) {
        if (required)
            return bad_arg(r, "%s is required", key);
        return 0;
    }
    int64_t x;
    if (fl_json_int64(v, &x) != 0)
        return bad_arg(r, "%s must be an integer", key);
    if (x < min || x > max) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "%s must be between %" PRId64 " and %" PRId64, key, min, max);
        return -1;
    }
    *out = x;
    *present = 1;
    return 0;
}

/* Tags as a map {"k":"v"} (as_list 0) or a list [{"Key":..,"Value":..}]. */
static int get_tags(fl_http_req_t *r, sjob_t *j, const char *key, int required, int as_list)
{
    const fl_json_t *t = fl_http_json(r, key);
    if (!t || t->type == FL_JSON_NULL) {
        if (required)
            return bad_arg(r, "%s is required", key);
        return 0;
    }
    if (t->type != (as_list ? FL_JSON_ARRAY : FL_JSON_OBJECT))
        return bad_arg(r, as_list ? "%s must be a list of {Key, Value}" : "%s must be a map", key);
    if (t->count < 1)
        return bad_arg(r, "%s must hold at least one tag", key);
    if (t->count > FL_STREAM_MAX_TAGS) {
        fl_http_respond_error(r, 400, "TagsPerResourceExceededLimitException",
                              "at most %d tags per stream", FL_STREAM_MAX_TAGS);
        return -1;
    }
    j->tags = calloc(t->count, sizeof *j->tags);
    if (!j->tags) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return -1;
    }
    for (const fl_json_t *e = t->child; e; e = e->next) {
        const char *k, *v;
        size_t kl, vl;
        if (as_list) {
            const fl_json_t *jk = fl_json_get(e, "Key"), *jv = fl_json_get(e, "Value");
            if (!jk || jk->type != FL_JSON_STRING || !jv || jv->type != FL_JSON_STRING)
                return bad_arg(r, "each of %s needs string Key and Value", key);
            k = jk->str, kl = jk->len, v = jv->str, vl = jv->len;
        } else {
            if (e->type != FL_JSON_STRING)
                return bad_arg(r, "tag values in %s must be strings", key);
            k = e->key, kl = e->key_len, v = e->str, vl = e->len;
        }
        const char *why = NULL;
        if (fl_valid_tag_key(fl_slice(k, kl), &why) || fl_valid_tag_value(fl_slice(v, vl), &why)) {
            fl_http_respond_error(r, 400, "InvalidArgumentException", "%s", why);
            return -1;
        }
        fl_stream_tag_t *tag = &j->tags[j->n_tags++];
        memcpy(tag->key, k, kl); /* validated lengths fit */
        memcpy(tag->value, v, vl);
    }
    return 0;
}

static int get_tag_keys(fl_http_req_t *r, sjob_t *j)
{
    const fl_json_t *t = fl_http_json(r, "TagKeyList");
    if (!t || t->type != FL_JSON_ARRAY)
        return bad_arg(r, "%s is required (a list of tag keys)", "TagKeyList");
    if (t->count < 1 || t->count > FL_STREAM_MAX_TAGS)
        return bad_arg(r, "%s must hold 1 to 50 keys", "TagKeyList");
    j->keys = calloc(t->count, sizeof *j->keys);
    if (!j->keys) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return -1;
    }
    for (const fl_json_t *e = t->child; e; e = e->next) {
        const char *why = NULL;
        if (e->type != FL_JSON_STRING)
            return bad_arg(r, "%s must hold strings", "TagKeyList");
        if (fl_valid_tag_key(fl_slice(e->str, e->len), &why)) {
            fl_http_respond_error(r, 400, "InvalidArgumentException", "%s", why);
            return -1;
        }
        j->keys[j->n_keys] = strdup(e->str);
        if (!j->keys[j->n_keys]) {
            fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
            return -1;
        }
        j->n_keys++;
    }
    return 0;
}

/* ---- the worker side ---- */

static void fail_job(sjob_t *j, int rc)
{
    switch (rc) {
    case FL_ENOTFOUND:
        j->status = 404;
        j->etype = "ResourceNotFoundException";
        snprintf(j->msg, sizeof j->msg, "stream %s not found", j->name);
        break;
    case FL_EEXISTS:
        j->status = 400;
        j->etype = "ResourceInUseException";
        snprintf(j->msg, sizeof j->msg, "stream %s already exists", j->name);
        break;
    case FL_EVERSION:
        j->status = 400;
        j->etype = "VersionMismatchException";
        snprintf(j->msg, sizeof j->msg, "stream %s is not at version %s", j->name, j->version);
        break;
    case FL_ELIMIT:
        j->status = 400;
        j->etype = "TagsPerResourceExceededLimitException";
        snprintf(j->msg, sizeof j->msg, "stream %s would have more than %d tags", j->name,
                 FL_STREAM_MAX_TAGS);
        break;
    case FL_EINVAL:
        j->status = 400;
        j->etype = "InvalidArgumentException";
        if (!j->msg[0])
            snprintf(j->msg, sizeof j->msg, "invalid argument for stream %s", j->name);
        break;
    default:
        j->status = 500;
        j->etype = "InternalFailure";
        snprintf(j->msg, sizeof j->msg, "stream %s: %s", j->name, fl_strerror(rc));
    }
}

static void put_key(fl_buf_t *b, const char *key, int *first)
{
    if (!*first)
        fl_buf_u8(b, ',');
    *first = 0;
    fl_json_write_string(b, fl_slice_str(key));
    fl_buf_u8(b, ':');
}

static void put_str(fl_buf_t *b, const char *key, const char *val, int *first)
{
    put_key(b, key, first);
    fl_json_write_string(b, fl_slice_str(val));
}

static void put_info(fl_buf_t *b, const fl_stream_info_t *i)
{
    int first = 1;
    fl_buf_u8(b, '{');
    put_key(b, "CreationTime", &first);
    fl_buf_printf(b, "%" PRId64 ".%03" PRId64, i->creation_ns / 1000000000,
                  (i->creation_ns / 1000000) % 1000);
    put_key(b, "DataRetentionInHours", &first);
    fl_buf_printf(b, "%u", i->retention_hours);
    if (i->device_name[0])
        put_str(b, "DeviceName", i->device_name, &first);
    put_str(b, "KmsKeyId", i->kms_key_id, &first);
    if (i->media_type[0])
        put_str(b, "MediaType", i->media_type, &first);
    put_str(b, "Status", "ACTIVE", &first);
    put_str(b, "StreamARN", i->arn, &first);
    put_str(b, "StreamName", i->name, &first);
    put_str(b, "Version", i->version, &first);
    fl_buf_u8(b, '}');
}

static void put_tags(fl_buf_t *b, const fl_stream_tag_t *t, size_t n)
{
    fl_buf_append_str(b, "{\"Tags\":{");
    for (size_t i = 0; i < n; i++) {
        int first = i == 0;
        put_str(b, t[i].key, t[i].value, &first);
    }
    fl_buf_append_str(b, "}}");
}

static void job_work(fl_http_async_t *a)
{
    sjob_t *j = (sjob_t *)a;
    fl_buf_t *b = &j->out;
    const char *ver = j->has_version ? j->version : NULL;
    int rc = 0;
    fl_stream_info_t info;
    switch (j->op) {
    case OP_CREATE:
        rc = fl_video_streams_create(j->st, &j->info, j->tags, j->n_tags, &info);
        if (rc == FL_EINVAL)
            fl_kms_unknown_msg("KmsKeyId", j->info.kms_key_id, j->msg, sizeof j->msg);
        /* a storage tier given at creation is kept as the update keeps it */
        if (!rc && j->cfg[0])
            rc = fl_video_streams_config_set(j->st, j->info.name, -1, NULL, STORAGE_CONFIG, j->cfg);
        if (!rc) {
            fl_buf_append_str(b, "{\"StreamARN\":");
            fl_json_write_string(b, fl_slice_str(info.arn));
            fl_buf_u8(b, '}');
        }
        break;
    case OP_DESCRIBE:
        rc = fl_video_streams_describe(j->st, j->name, j->creation_ms, &info);
        if (!rc) {
            fl_buf_append_str(b, "{\"StreamInfo\":");
            put_info(b, &info);
            fl_buf_u8(b, '}');
        }
        break;
    case OP_ENDPOINT:
        rc = fl_video_streams_describe(j->st, j->name, j->creation_ms, &info);
        if (!rc) {
            fl_buf_append_str(b, "{\"DataEndpoint\":");
            fl_json_write_string(b, fl_slice_str(j->endpoint));
            fl_buf_u8(b, '}');
        }
        break;
    case OP_LIST: {
        fl_stream_info_t *list = NULL;
        size_t n = 0;
        int more = 0;
        rc = fl_video_streams_list(j->st, j->prefix, j->after, j->max, &list, &n, &more);
        if (!rc) {
            fl_buf_append_str(b, "{\"StreamInfoList\":[");
            for (size_t i = 0; i < n; i++) {
                if (i)
                    fl_buf_u8(b, ',');
                put_info(b, &list[i]);
            }
            fl_buf_u8(b, ']');
            if (more && n > 0) {
                fl_buf_append_str(b, ",\"NextToken\":\"");
                fl_base64_encode(b, fl_slice_str(list[n - 1].name));
                fl_buf_u8(b, '"');
            }
            fl_buf_u8(b, '}');
        }
        free(list);
        break;
    }
    case OP_DELETE:
        rc = fl_video_streams_delete(j->st, j->name, j->creation_ms, ver);
        break;
    case OP_UPDATE:
        rc = fl_video_streams_update(j->st, j->name, j->creation_ms, ver, j->info.device_name,
                                     j->info.media_type);
        break;
    case OP_RETENTION:
        rc = fl_video_streams_change_retention(j->st, j->name, j->creation_ms, ver, j->delta);
        if (rc == FL_EINVAL)
            snprintf(j->msg, sizeof j->msg, "retention of stream %s would leave 0..87600 hours",
                     j->name);
        break;
    case OP_TAG:
        rc = fl_video_streams_tag(j->st, j->name, j->creation_ms, j->tags, j->n_tags);
        break;
    case OP_UNTAG:
        rc = fl_video_streams_untag(j->st, j->name, j->creation_ms, (const char *const *)j->keys,
                                    j->n_keys);
        break;
    case OP_LIST_TAGS: {
        fl_stream_tag_t *tags = NULL;
        size_t n = 0;
        rc = fl_video_streams_tags(j->st, j->name, j->creation_ms, &tags, &n);
        if (!rc)
            put_tags(b, tags, n);
        free(tags);
        break;
    }
    case OP_CONFIG_GET:
        rc = fl_video_streams_config_get(j->st, j->name, j->creation_ms, j->cfg_key, j->cfg,
                                         sizeof j->cfg);
        if (!rc && j->cfg[0]) {
            int first = 1;
            fl_buf_u8(b, '{');
            put_key(b, j->cfg_key, &first);
            fl_buf_append_str(b, j->cfg);
            fl_buf_u8(b, '}');
        }
        break;
    case OP_CONFIG_SET:
        rc = fl_video_streams_describe(j->st, j->name, j->creation_ms, &info);
        if (!rc && j->cfg_needs_retention && info.retention_hours == 0) {
            j->status = 400;
            j->etype = "NoDataRetentionException";
            snprintf(j->msg, sizeof j->msg, "stream %s keeps no data (DataRetentionInHours 0)",
                     j->name);
            return;
        }
        if (!rc)
            rc = fl_video_streams_config_set(j->st, j->name, j->creation_ms, ver, j->cfg_key,
                                             j->cfg);
        break;
    case OP_STORAGE_GET:
        rc = fl_video_streams_describe(j->st, j->name, j->creation_ms, &info);
        if (!rc)
            rc = fl_video_streams_config_get(j->st, j->name, j->creation_ms, j->cfg_key, j->cfg,
                                             sizeof j->cfg);
        if (!rc) {
            int first = 1;
            fl_buf_u8(b, '{');
            put_str(b, "StreamARN", info.arn, &first);
            put_str(b, "StreamName", info.name, &first);
            put_key(b, j->cfg_key, &first);
            fl_buf_append_str(b, j->cfg[0] ? j->cfg : "{\"DefaultStorageTier\":\"HOT\"}");
            fl_buf_u8(b, '}');
        }
        break;
    }
    if (rc) {
        fail_job(j, rc);
        return;
    }
    if (j->out.n == 0)
        fl_buf_append_str(b, "{}");
    j->status = b->err ? 500 : 200;
    if (b->err) {
        j->etype = "InternalFailure";
        snprintf(j->msg, sizeof j->msg, "out of memory");
    }
}

static void job_done(fl_http_async_t *a, fl_http_req_t *r)
{
    sjob_t *j = (sjob_t *)a;
    if (j->hub_entry) {
        fl_hub_lock(j->hub);
        j->hub_entry->deleting = 0;
        fl_hub_unlock(j->hub);
        fl_hub_release(j->hub, j->hub_entry);
        j->hub_entry = NULL;
    }
    if (r) {
        if (j->etype)
            fl_http_respond_error(r, j->status, j->etype, "%s", j->msg);
        else
            fl_http_respond(r, 200, "application/json", fl_buf_slice(&j->out));
    }
    job_free(j);
}

static sjob_t *job_new(fl_http_req_t *r, op_t op)
{
    sjob_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return NULL;
    }
    j->op = op;
    j->st = fl_video_of(r->srv)->streams;
    j->creation_ms = -1;
    j->a.work = job_work;
    j->a.done = job_done;
    fl_buf_init(&j->out, 0);
    return j;
}

static void submit(fl_http_req_t *r, sjob_t *j)
{
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0)
        job_free(j);
}

static int get_config(fl_http_req_t *r, sjob_t *j, const char *key, int required,
                      int (*valid)(fl_http_req_t *, sjob_t *, const fl_json_t *, fl_buf_t *));
static int storage_config(fl_http_req_t *r, sjob_t *j, const fl_json_t *v, fl_buf_t *b);

/* ---- handlers ---- */

/* The access check of a call that names no existing stream: CreateStream
 * (any incarnation of the name) or ListStreams (name NULL: "*").
 * Responds 403 and returns -1 when denied. */
static int no_access(fl_http_req_t *r, const char *name)
{
    const fl_config_t *cfg = fl_server_config(r->srv);
    char arn[FL_STREAM_NAME_MAX + 128], action[96];
    const char *why = NULL;
    if (name)
        snprintf(arn, sizeof arn, "arn:aws:kinesisvideo:%s:%s:stream/%s/*", cfg->region,
                 cfg->account_id, name);
    else
        snprintf(arn, sizeof arn, "*");
    snprintf(action, sizeof action, "kinesisvideo:%s", r->route_name);
    if (fl_server_access(r->srv, &r->who, action, arn, &why) == 0)
        return 0;
    fl_http_respond_error(r, 403, "AccessDeniedException", "%s on %s: %s", action, arn, why);
    return -1;
}

void fl_api_create_stream(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_CREATE);
    if (!j)
        return;
    fl_stream_info_t *in = &j->info;
    int64_t hours = 0;
    int has_hours;
    if (get_string(r, "StreamName", 1, fl_valid_stream_name, in->name, sizeof in->name, NULL) ||
        get_string(r, "DeviceName", 0, fl_valid_device_name, in->device_name,
                   sizeof in->device_name, NULL) ||
        get_string(r, "MediaType", 0, fl_valid_media_type, in->media_type, sizeof in->media_type,
                   NULL) ||
        get_string(r, "KmsKeyId", 0, fl_valid_kms_key_id, in->kms_key_id, sizeof in->kms_key_id,
                   NULL) ||
        get_int(r, "DataRetentionInHours", 0, 0, 87600, &hours, &has_hours) ||
        get_tags(r, j, "Tags", 0, 0) || get_config(r, j, STORAGE_CONFIG, 0, storage_config)) {
        job_free(j);
        return;
    }
    char kmsg[700];
    if (in->kms_key_id[0] && fl_kms_check("KmsKeyId", in->kms_key_id, kmsg, sizeof kmsg) != 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "%s", kmsg);
        job_free(j);
        return;
    }
    snprintf(j->name, sizeof j->name, "%s", in->name);
    in->retention_hours = (uint32_t)hours;
    if (no_access(r, in->name)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

static void simple_stream_op(fl_http_req_t *r, op_t op)
{
    sjob_t *j = job_new(r, op);
    if (!j)
        return;
    if (get_stream(r, j, "StreamARN", 0)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

void fl_api_describe_stream(fl_http_req_t *r)
{
    simple_stream_op(r, OP_DESCRIBE);
}

void fl_api_list_tags_for_stream(fl_http_req_t *r)
{
    char token[1025];
    if (get_string(r, "NextToken", 0, fl_valid_next_token, token, sizeof token, NULL))
        return;
    simple_stream_op(r, OP_LIST_TAGS);
}

void fl_api_list_streams(fl_http_req_t *r)
{
    if (no_access(r, NULL))
        return;
    sjob_t *j = job_new(r, OP_LIST);
    if (!j)
        return;
    int64_t max = 10000;
    int has_max;
    char token[1025];
    if (get_int(r, "MaxResults", 0, 1, 10000, &max, &has_max) ||
        get_string(r, "NextToken", 0, fl_valid_next_token, token, sizeof token, NULL))
        goto fail;
    j->max = (size_t)max;
    if (token[0]) {
        fl_buf_t d;
        fl_buf_init(&d, sizeof j->after - 1);
        int rc = fl_base64_decode(&d, fl_slice_str(token));
        if (rc || fl_valid_stream_name(fl_buf_slice(&d), NULL) != 0) {
            fl_buf_free(&d);
            bad_arg(r, "%s is not a token this server gave", "NextToken");
            goto fail;
        }
        memcpy(j->after, d.p, d.n);
        j->after[d.n] = 0;
        fl_buf_free(&d);
    }
    const fl_json_t *cond = fl_http_json(r, "StreamNameCondition");
    if (cond && cond->type != FL_JSON_NULL) {
        const fl_json_t *op = fl_json_get(cond, "ComparisonOperator");
        const fl_json_t *val = fl_json_get(cond, "ComparisonValue");
        if (cond->type != FL_JSON_OBJECT ||
            (op && (op->type != FL_JSON_STRING || strcmp(op->str, "BEGINS_WITH") != 0))) {
            bad_arg(r, "%s: ComparisonOperator must be BEGINS_WITH", "StreamNameCondition");
            goto fail;
        }
        if (val) {
            const char *why = NULL;
            if (val->type != FL_JSON_STRING ||
                fl_valid_stream_name(fl_slice(val->str, val->len), &why) != 0) {
                bad_arg(r, "StreamNameCondition: ComparisonValue: %s",
                        why ? why : "must be a string");
                goto fail;
            }
            memcpy(j->prefix, val->str, val->len);
        }
    }
    submit(r, j);
    return;
fail:
    job_free(j);
}

void fl_api_delete_stream(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_DELETE);
    if (!j)
        return;
    if (get_stream(r, j, "StreamARN", 1) || get_version(r, j, 0)) {
        job_free(j);
        return;
    }
    /* A producer or reader holds the stream's log: deleting it under them
     * is refused. While the delete runs, the stream's hub entry says
     * "deleting", so that no new producer or reader starts on it. */
    fl_hub_t *hub = fl_video_of(r->srv)->hub;
    fl_hub_lock(hub); /* until the entry says "deleting" (other loops) */
    fl_hub_entry_t *e = fl_hub_find(hub, j->name);
    if (e) {
        int users = e->users;
        fl_hub_unlock(hub);
        fl_http_respond_error(r, 400, "ResourceInUseException",
                              "stream %s has producers or readers connected (%d); delete it "
                              "when they have gone",
                              j->name, users);
        job_free(j);
        return;
    }
    j->hub = fl_video_of(r->srv)->hub;
    fl_hub_lock(j->hub);
    j->hub_entry = fl_hub_acquire(j->hub, j->name);
    if (j->hub_entry)
        j->hub_entry->deleting = 1;
    fl_hub_unlock(j->hub);
    fl_hub_unlock(hub);
    if (!j->hub_entry) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        job_free(j);
        return;
    }
    submit(r, j);
}

void fl_api_update_stream(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_UPDATE);
    if (!j)
        return;
    if (get_stream(r, j, "StreamARN", 0) || get_version(r, j, 1) ||
        get_string(r, "DeviceName", 0, fl_valid_device_name, j->info.device_name,
                   sizeof j->info.device_name, NULL) ||
        get_string(r, "MediaType", 0, fl_valid_media_type, j->info.media_type,
                   sizeof j->info.media_type, NULL)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

void fl_api_update_data_retention(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_RETENTION);
    if (!j)
        return;
    char op[32];
    int64_t change = 0;
    int has;
    if (get_stream(r, j, "StreamARN", 0) || get_version(r, j, 1) ||
        get_string(r, "Operation", 1, NULL, op, sizeof op, NULL) ||
        get_int(r, "DataRetentionChangeInHours", 1, 1, 87600, &change, &has))
        goto fail;
    if (strcmp(op, "INCREASE_DATA_RETENTION") == 0) {
        j->delta = change;
    } else if (strcmp(op, "DECREASE_DATA_RETENTION") == 0) {
        j->delta = -change;
    } else {
        bad_arg(r, "Operation must be INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION%s", "");
        goto fail;
    }
    submit(r, j);
    return;
fail:
    job_free(j);
}

void fl_api_tag_stream(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_TAG);
    if (!j)
        return;
    if (get_stream(r, j, "StreamARN", 0) || get_tags(r, j, "Tags", 1, 0)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

void fl_api_untag_stream(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_UNTAG);
    if (!j)
        return;
    if (get_stream(r, j, "StreamARN", 0) || get_tag_keys(r, j)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

/* The *Resource forms name the stream by ResourceARN only. */
void fl_api_tag_resource(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_TAG);
    if (!j)
        return;
    if (get_stream(r, j, "ResourceARN", 1) || get_tags(r, j, "Tags", 1, 1)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

void fl_api_untag_resource(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_UNTAG);
    if (!j)
        return;
    if (get_stream(r, j, "ResourceARN", 1) || get_tag_keys(r, j)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

void fl_api_list_tags_for_resource(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_LIST_TAGS);
    if (!j)
        return;
    char token[1025];
    if (get_stream(r, j, "ResourceARN", 1) ||
        get_string(r, "NextToken", 0, fl_valid_next_token, token, sizeof token, NULL)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

static const char *const fl_api_names[] = {
    "PUT_MEDIA",
    "GET_MEDIA",
    "LIST_FRAGMENTS",
    "GET_MEDIA_FOR_FRAGMENT_LIST",
    "GET_HLS_STREAMING_SESSION_URL",
    "GET_DASH_STREAMING_SESSION_URL",
    "GET_CLIP",
    "GET_IMAGES",
};

void fl_api_get_data_endpoint(fl_http_req_t *r)
{
    sjob_t *j = job_new(r, OP_ENDPOINT);
    if (!j)
        return;
    char api[64];
    if (get_stream(r, j, "StreamARN", 0) ||
        get_string(r, "APIName", 1, NULL, api, sizeof api, NULL))
        goto fail;
    int known = 0;
    for (size_t i = 0; i < sizeof fl_api_names / sizeof fl_api_names[0]; i++)
        known |= strcmp(api, fl_api_names[i]) == 0;
    if (!known) {
        bad_arg(r,
                "APIName '%s' is not one of PUT_MEDIA, GET_MEDIA, LIST_FRAGMENTS, "
                "GET_MEDIA_FOR_FRAGMENT_LIST, GET_HLS_STREAMING_SESSION_URL, "
                "GET_DASH_STREAMING_SESSION_URL, GET_CLIP, GET_IMAGES",
                api);
        goto fail;
    }
    /* this server serves every API itself, at the address the client can
     * reach (fl_http_base_url) */
    fl_http_base_url(r, j->endpoint, sizeof j->endpoint);
    submit(r, j);
    return;
fail:
    job_free(j);
}

/* ---- stored configurations: validated, kept as stream attributes
 * (streams.h), returned; acted on when GetImages and notifications come ---- */

/* The members of a configuration object: each check responds with the
 * error itself and returns -1, or appends the member to b. */
typedef struct {
    fl_http_req_t *r;
    const char *where; /* "ImageGenerationConfiguration" */
    fl_buf_t *b;
    int first;
} cfg_t;

static int cfg_bad(cfg_t *c, const char *field, const char *what)
{
    fl_http_respond_error(c->r, 400, "InvalidArgumentException", "%s.%s %s", c->where, field, what);
    return -1;
}

/* A required string member that is one of allowed (NULL-terminated). */
static int cfg_enum(cfg_t *c, const fl_json_t *obj, const char *field, const char *const *allowed,
                    const char **out)
{
    const fl_json_t *v = fl_json_get(obj, field);
    if (!v || v->type != FL_JSON_STRING)
        return cfg_bad(c, field, "is required (a string)");
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(v->str, allowed[i]) == 0) {
            put_str(c->b, field, allowed[i], &c->first);
            if (out)
                *out = allowed[i];
            return 0;
        }
    }
    char msg[160];
    snprintf(msg, sizeof msg, "must be one of %s%s%s", allowed[0], allowed[1] ? " or " : "",
             allowed[1] ? allowed[1] : "");
    return cfg_bad(c, field, msg);
}

/* An integer member in [min, max]; absent is fine unless required. */
static int cfg_int(cfg_t *c, const fl_json_t *obj, const char *field, int required, int64_t min,
                   int64_t max)
{
    const fl_json_t *v = fl_json_get(obj, field);
    int64_t x;
    if (!v || v->type == FL_JSON_NULL)
        return required ? cfg_bad(c, field, "is required (an integer)") : 0;
    if (fl_json_int64(v, &x) != 0 || x < min || x > max) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be an integer from %" PRId64 " to %" PRId64, min, max);
        return cfg_bad(c, field, msg);
    }
    put_key(c->b, field, &c->first);
    fl_buf_printf(c->b, "%" PRId64, x);
    return 0;
}

/* AWS's Uri pattern ^[a-zA-Z_0-9]+:(//)?([^/]+)/?([^*]*)$, 1..255 chars:
 * a scheme, an optional "//", a host without '/', then a path without '*'. */
static int valid_uri(const char *u, size_t n)
{
    size_t i = 0;
    if (n < 1 || n > 255)
        return 0;
    while (i < n && (u[i] == '_' || (u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'z') ||
                     (u[i] >= 'A' && u[i] <= 'Z')))
        i++;
    if (i == 0 || i == n || u[i] != ':')
        return 0;
    i++;
    if (n - i >= 2 && u[i] == '/' && u[i + 1] == '/')
        i += 2;
    size_t host = i;
    while (i < n && u[i] != '/')
        i++;
    if (i == host)
        return 0;
    return memchr(u + i, '*', n - i) == NULL;
}

/* AWS's region pattern ^[a-z]+(-[a-z]+)?-[a-z]+-[0-9]$, 9..14 chars. */
static int valid_region(const char *s, size_t n)
{
    size_t parts = 1, run = 0;
    if (n < 9 || n > 14 || s[n - 1] < '0' || s[n - 1] > '9' || s[n - 2] != '-')
        return 0;
    for (size_t i = 0; i < n - 2; i++) {
        if (s[i] == '-') {
            if (run == 0)
                return 0;
            parts++;
            run = 0;
        } else if (s[i] >= 'a' && s[i] <= 'z') {
            run++;
        } else {
            return 0;
        }
    }
    return run > 0 && (parts == 2 || parts == 3);
}

/* DestinationConfig {Uri, DestinationRegion (with_region)}. */
static int cfg_destination(cfg_t *c, const fl_json_t *obj, int with_region)
{
    const fl_json_t *d = fl_json_get(obj, "DestinationConfig");
    if (!d || d->type != FL_JSON_OBJECT)
        return cfg_bad(c, "DestinationConfig", "is required (an object)");
    const fl_json_t *uri = fl_json_get(d, "Uri");
    if (!uri || uri->type != FL_JSON_STRING || !valid_uri(uri->str, uri->len))
        return cfg_bad(c, "DestinationConfig.Uri",
                       "is required: 1 to 255 characters, scheme:[//]host[/path]");
    int first = 1;
    put_key(c->b, "DestinationConfig", &c->first);
    fl_buf_u8(c->b, '{');
    if (with_region) {
        const fl_json_t *reg = fl_json_get(d, "DestinationRegion");
        if (!reg || reg->type != FL_JSON_STRING || !valid_region(reg->str, reg->len))
            return cfg_bad(c, "DestinationConfig.DestinationRegion",
                           "is required: a region name such as us-west-2");
        put_str(c->b, "DestinationRegion", reg->str, &first);
    }
    put_str(c->b, "Uri", uri->str, &first);
    fl_buf_u8(c->b, '}');
    return 0;
}

static const char *const status_values[] = {"ENABLED", "DISABLED", NULL};

/* Validate the request's ImageGenerationConfiguration into j->cfg. */
static int image_config(fl_http_req_t *r, sjob_t *j, const fl_json_t *v, fl_buf_t *b)
{
    static const char *const selectors[] = {"SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP", NULL};
    static const char *const formats[] = {"JPEG", "PNG", NULL};
    cfg_t c = {.r = r, .where = IMAGE_CONFIG, .b = b, .first = 1};
    const char *status = NULL;
    fl_buf_u8(b, '{');
    if (cfg_destination(&c, v, 1) || cfg_enum(&c, v, "Format", formats, NULL))
        return -1;
    const fl_json_t *fc = fl_json_get(v, "FormatConfig");
    if (fc && fc->type != FL_JSON_NULL) {
        /* one key, JPEGQuality, whose value is 1..100 as a string */
        const fl_json_t *q = fl_json_get(fc, "JPEGQuality");
        int64_t quality = 0;
        char *end = NULL;
        if (fc->type != FL_JSON_OBJECT || fc->count != 1 || !q || q->type != FL_JSON_STRING ||
            q->len == 0 || q->len > 3 || (quality = strtoll(q->str, &end, 10)) < 1 ||
            quality > 100 || *end)
            return cfg_bad(&c, "FormatConfig", "takes one key, JPEGQuality, a string 1 to 100");
        int first = 1;
        put_key(b, "FormatConfig", &c.first);
        fl_buf_u8(b, '{');
        put_str(b, "JPEGQuality", q->str, &first);
        fl_buf_u8(b, '}');
    }
    if (cfg_int(&c, v, "HeightPixels", 0, 1, 2160) ||
        cfg_enum(&c, v, "ImageSelectorType", selectors, NULL) ||
        cfg_int(&c, v, "SamplingInterval", 1, 200, 20000) ||
        cfg_enum(&c, v, "Status", status_values, &status) ||
        cfg_int(&c, v, "WidthPixels", 0, 1, 3840))
        return -1;
    fl_buf_u8(b, '}');
    j->cfg_needs_retention = strcmp(status, "ENABLED") == 0;
    return 0;
}

/* Validate the request's NotificationConfiguration into j->cfg. */
static int notification_config(fl_http_req_t *r, sjob_t *j, const fl_json_t *v, fl_buf_t *b)
{
    cfg_t c = {.r = r, .where = NOTIFICATION_CONFIG, .b = b, .first = 1};
    const char *status = NULL;
    fl_buf_u8(b, '{');
    if (cfg_destination(&c, v, 0) || cfg_enum(&c, v, "Status", status_values, &status))
        return -1;
    fl_buf_u8(b, '}');
    j->cfg_needs_retention = strcmp(status, "ENABLED") == 0;
    return 0;
}

/* Validate the request's StreamStorageConfiguration into j->cfg. */
static int storage_config(fl_http_req_t *r, sjob_t *j, const fl_json_t *v, fl_buf_t *b)
{
    static const char *const tiers[] = {"HOT", "WARM", NULL};
    cfg_t c = {.r = r, .where = STORAGE_CONFIG, .b = b, .first = 1};
    (void)j;
    fl_buf_u8(b, '{');
    if (cfg_enum(&c, v, "DefaultStorageTier", tiers, NULL))
        return -1;
    fl_buf_u8(b, '}');
    return 0;
}

static void describe_config(fl_http_req_t *r, op_t op, const char *key)
{
    sjob_t *j = job_new(r, op);
    if (!j)
        return;
    j->cfg_key = key;
    if (get_stream(r, j, "StreamARN", 0)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

/* The request's configuration member key, checked by valid(), into j->cfg
 * as canonical JSON; absent or null: "" (none), unless required. */
static int get_config(fl_http_req_t *r, sjob_t *j, const char *key, int required,
                      int (*valid)(fl_http_req_t *, sjob_t *, const fl_json_t *, fl_buf_t *))
{
    const fl_json_t *v = fl_http_json(r, key);
    j->cfg[0] = 0;
    if (!v || v->type == FL_JSON_NULL)
        return required ? bad_arg(r, "%s is required", key) : 0;
    if (v->type != FL_JSON_OBJECT)
        return bad_arg(r, "%s must be an object", key);
    fl_buf_t b;
    fl_buf_init(&b, FL_STREAM_CONFIG_MAX);
    int rc = valid(r, j, v, &b);
    if (!rc && (b.err || b.n > FL_STREAM_CONFIG_MAX))
        rc = bad_arg(r, "%s is too long", key);
    if (!rc) {
        memcpy(j->cfg, b.p, b.n);
        j->cfg[b.n] = 0;
    }
    fl_buf_free(&b);
    return rc;
}

/* An Update*Configuration call: the stream, the configuration (absent or
 * null: removed, unless required) checked by valid(), stored. */
static void update_config(fl_http_req_t *r, const char *key, int required, int with_version,
                          int (*valid)(fl_http_req_t *, sjob_t *, const fl_json_t *, fl_buf_t *))
{
    sjob_t *j = job_new(r, OP_CONFIG_SET);
    if (!j)
        return;
    j->cfg_key = key;
    if (get_stream(r, j, "StreamARN", 0) || (with_version && get_version(r, j, 1)) ||
        get_config(r, j, key, required, valid)) {
        job_free(j);
        return;
    }
    submit(r, j);
}

void fl_api_describe_image_generation_configuration(fl_http_req_t *r)
{
    describe_config(r, OP_CONFIG_GET, IMAGE_CONFIG);
}

void fl_api_update_image_generation_configuration(fl_http_req_t *r)
{
    update_config(r, IMAGE_CONFIG, 0, 0, image_config);
}

void fl_api_describe_notification_configuration(fl_http_req_t *r)
{
    describe_config(r, OP_CONFIG_GET, NOTIFICATION_CONFIG);
}

void fl_api_update_notification_configuration(fl_http_req_t *r)
{
    update_config(r, NOTIFICATION_CONFIG, 0, 0, notification_config);
}

void fl_api_describe_stream_storage_configuration(fl_http_req_t *r)
{
    describe_config(r, OP_STORAGE_GET, STORAGE_CONFIG);
}

void fl_api_update_stream_storage_configuration(fl_http_req_t *r)
{
    update_config(r, STORAGE_CONFIG, 1, 1, storage_config);
}

/* Media storage belongs to signaling channels (WebRTC), which framelog
 * does not have yet: every channel is unknown. */
void fl_api_describe_media_storage_configuration(fl_http_req_t *r)
{
    const fl_json_t *n = fl_http_json(r, "ChannelName");
    const fl_json_t *a = fl_http_json(r, "ChannelARN");
    const fl_json_t *which = n && n->type == FL_JSON_STRING ? n : a;
    if (!which || which->type != FL_JSON_STRING || which->len == 0) {
        bad_arg(r, "%s is required", "ChannelName or ChannelARN");
        return;
    }
    /* the access check names the channel, as for a stream */
    const fl_config_t *cfg = fl_server_config(r->srv);
    char arn[600];
    const char *why = NULL;
    if (which == n)
        snprintf(arn, sizeof arn, "arn:aws:kinesisvideo:%s:%s:channel/%.256s/*", cfg->region,
                 cfg->account_id, which->str);
    else
        snprintf(arn, sizeof arn, "%.500s", which->str);
    if (fl_server_access(r->srv, &r->who, "kinesisvideo:DescribeMediaStorageConfiguration", arn,
                         &why) != 0) {
        fl_http_respond_error(r, 403, "AccessDeniedException", "%s on %s: %s",
                              "kinesisvideo:DescribeMediaStorageConfiguration", arn, why);
        return;
    }
    fl_http_respond_error(r, 404, "ResourceNotFoundException",
                          "signaling channel %.256s not found (framelog has no signaling "
                          "channels yet)",
                          which->str);
}
