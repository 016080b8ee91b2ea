/*
 * server/streams.c — Kinesis Video streams over storage logs. See
 * streams.h for the mapping.
 *
 * Version checks are compare-and-set: st->mu serialises every call that
 * reads a version and then changes the stream, so two concurrent updates
 * with the same CurrentVersion cannot both succeed.
 */
#include "server/video/streams.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/video/kms.h"

#define LOG_PREFIX  "v/"
#define ATTR_DEVICE "DeviceName"
#define ATTR_MEDIA  "MediaType"

struct fl_streams {
    fl_store_t *store;
    char region[64];
    char account[32];
    pthread_mutex_t mu; /* serialises read-check-modify of stream metadata */
};

int fl_video_streams_new(fl_store_t *store, const char *region, const char *account,
                         fl_video_streams_t **out)
{
    fl_video_streams_t *st = calloc(1, sizeof *st);
    if (!st)
        return FL_ENOMEM;
    st->store = store;
    snprintf(st->region, sizeof st->region, "%s", region);
    snprintf(st->account, sizeof st->account, "%s", account);
    pthread_mutex_init(&st->mu, NULL);
    *out = st;
    return 0;
}

void fl_video_streams_free(fl_video_streams_t *st)
{
    if (!st)
        return;
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static void log_name(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, LOG_PREFIX "%s", name);
}

void fl_video_streams_arn(const fl_video_streams_t *st, const char *name, int64_t created_ns,
                          char *buf, size_t cap)
{
    snprintf(buf, cap, "arn:aws:kinesisvideo:%s:%s:stream/%s/%" PRId64, st->region, st->account,
             name, created_ns / 1000000);
}

/* Fill out from the log; name is the stream's. */
static int info_of(fl_video_streams_t *st, fl_log_t *log, const char *name, fl_stream_info_t *out)
{
    fl_log_info_t li;
    int rc = fl_log_info(log, &li);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    out->creation_ns = li.created_ns;
    fl_video_streams_arn(st, name, li.created_ns, out->arn, sizeof out->arn);
    fl_kms_shown(log, li.master_key_id, out->kms_key_id, sizeof out->kms_key_id);
    snprintf(out->version, sizeof out->version, "%" PRIu64, li.version);
    out->retention_hours = li.retention_hours;
    rc = fl_log_attr_get(log, ATTR_DEVICE, out->device_name, sizeof out->device_name);
    if (rc && rc != FL_ENOTFOUND)
        return rc;
    rc = fl_log_attr_get(log, ATTR_MEDIA, out->media_type, sizeof out->media_type);
    if (rc && rc != FL_ENOTFOUND)
        return rc;
    return 0;
}

/* The log of an existing stream, checked against an ARN's creation time:
 * an open handle (the caller closes it), NULL on failure. */
static int find(fl_video_streams_t *st, const char *name, int64_t creation_ms, fl_log_t **log)
{
    char ln[FL_LOG_MAX_NAME + 1];
    log_name(name, ln, sizeof ln);
    int rc = fl_log_open(st->store, ln, log);
    if (rc) {
        *log = NULL;
        return rc;
    }
    if (creation_ms >= 0) {
        fl_log_info_t li;
        if ((rc = fl_log_info(*log, &li)) == 0 && li.created_ns / 1000000 != creation_ms)
            rc = FL_ENOTFOUND; /* another incarnation of the name */
        if (rc) {
            fl_log_close(*log);
            *log = NULL;
        }
    }
    return rc;
}

static int check_version(fl_log_t *log, const char *version)
{
    if (!version)
        return 0;
    fl_log_info_t li;
    int rc = fl_log_info(log, &li);
    if (rc)
        return rc;
    char cur[24];
    snprintf(cur, sizeof cur, "%" PRIu64, li.version);
    return strcmp(cur, version) == 0 ? 0 : FL_EVERSION;
}

int fl_video_streams_create(fl_video_streams_t *st, const fl_stream_info_t *in,
                            const fl_stream_tag_t *tags, size_t n_tags, fl_stream_info_t *out)
{
    if (n_tags > FL_STREAM_MAX_TAGS)
        return FL_ELIMIT;
    const char *keys[FL_STREAM_MAX_TAGS], *vals[FL_STREAM_MAX_TAGS];
    for (size_t i = 0; i < n_tags; i++) {
        keys[i] = tags[i].key;
        vals[i] = tags[i].value;
    }
    const char *akeys[3], *avals[3];
    size_t n_attrs = 0;
    char key_id[FL_LOG_MAX_KEY_ID + 1] = "";
    int make_key = 0, key_made = 0;
    if (in->kms_key_id[0]) {
        int krc = fl_kms_master_key(in->kms_key_id, key_id, &make_key);
        if (krc)
            return krc == FL_EMALFORMED ? FL_EINVAL : krc;
        if (strcmp(key_id, in->kms_key_id) != 0) { /* a KMS reference: kept as given */
            akeys[n_attrs] = FL_KMS_ATTR;
            avals[n_attrs++] = in->kms_key_id;
        }
    }
    if (in->device_name[0]) {
        akeys[n_attrs] = ATTR_DEVICE;
        avals[n_attrs++] = in->device_name;
    }
    if (in->media_type[0]) {
        akeys[n_attrs] = ATTR_MEDIA;
        avals[n_attrs++] = in->media_type;
    }
    fl_log_opts_t o;
    memset(&o, 0, sizeof o);
    o.shard_count = 1;
    o.retention_hours = in->retention_hours;
    o.master_key_id = key_id[0] ? key_id : NULL;
    o.make_master_key = make_key; /* in the stream's own transaction */
    o.master_key_made = &key_made;
    o.tag_keys = keys;
    o.tag_values = vals;
    o.n_tags = n_tags;
    o.attr_keys = akeys;
    o.attr_values = avals;
    o.n_attrs = n_attrs;
    char ln[FL_LOG_MAX_NAME + 1];
    log_name(in->name, ln, sizeof ln);
    fl_log_t *log;
    pthread_mutex_lock(&st->mu);
    int rc = fl_log_create(st->store, ln, &o, &log);
    if (rc == FL_ENOTFOUND)
        rc = FL_EINVAL; /* the master key id is unknown */
    if (key_made)
        fl_kms_made(in->kms_key_id, key_id);
    if (!rc) {
        rc = info_of(st, log, in->name, out);
        fl_log_close(log);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int fl_video_streams_describe(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                              fl_stream_info_t *out)
{
    fl_log_t *log = NULL;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc)
        rc = info_of(st, log, name, out);
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

int fl_video_streams_list(fl_video_streams_t *st, const char *prefix, const char *after, size_t max,
                          fl_stream_info_t **out, size_t *n_out, int *more)
{
    char **names = NULL;
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    *more = 0;
    pthread_mutex_lock(&st->mu);
    int rc = fl_log_list(st->store, &names, &n);
    if (rc)
        goto out;
    fl_stream_info_t *list = calloc(max ? max : 1, sizeof *list);
    if (!list) {
        rc = FL_ENOMEM;
        goto out;
    }
    size_t got = 0, pl = strlen(LOG_PREFIX);
    for (size_t i = 0; i < n; i++) {
        /* names come sorted, so stream names within the prefix do too */
        if (strncmp(names[i], LOG_PREFIX, pl) != 0)
            continue;
        const char *sname = names[i] + pl;
        if (strncmp(sname, prefix, strlen(prefix)) != 0 || strcmp(sname, after) <= 0)
            continue;
        if (got == max) {
            *more = 1;
            break;
        }
        fl_log_t *log;
        if (fl_log_open(st->store, names[i], &log) != 0)
            continue; /* deleted meanwhile */
        rc = info_of(st, log, sname, &list[got]);
        fl_log_close(log);
        if (rc) {
            free(list);
            goto out;
        }
        got++;
    }
    *out = list;
    *n_out = got;
out:
    pthread_mutex_unlock(&st->mu);
    fl_log_list_free(names, n);
    return rc;
}

int fl_video_streams_delete(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                            const char *version)
{
    fl_log_t *log = NULL;
    char ln[FL_LOG_MAX_NAME + 1];
    log_name(name, ln, sizeof ln);
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc)
        rc = check_version(log, version);
    if (!rc)
        rc = fl_log_delete(st->store, ln);
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

int fl_video_streams_update(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                            const char *version, const char *device_name, const char *media_type)
{
    fl_log_t *log = NULL;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc)
        rc = check_version(log, version);
    if (!rc && device_name && device_name[0])
        rc = fl_log_attr_set(log, ATTR_DEVICE, device_name);
    if (!rc && media_type && media_type[0])
        rc = fl_log_attr_set(log, ATTR_MEDIA, media_type);
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

int fl_video_streams_config_get(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                                const char *key, char *buf, size_t cap)
{
    fl_log_t *log = NULL;
    buf[0] = 0;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc) {
        rc = fl_log_attr_get(log, key, buf, cap);
        if (rc == FL_ENOTFOUND) {
            buf[0] = 0;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

int fl_video_streams_config_set(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                                const char *version, const char *key, const char *json)
{
    fl_log_t *log = NULL;
    if (strlen(json) > FL_STREAM_CONFIG_MAX)
        return FL_ELIMIT;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc)
        rc = check_version(log, version);
    if (!rc)
        rc = fl_log_attr_set(log, key, json);
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

int fl_video_streams_change_retention(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                                      const char *version, int64_t delta_hours)
{
    fl_log_t *log = NULL;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc)
        rc = check_version(log, version);
    fl_log_info_t li;
    if (!rc)
        rc = fl_log_info(log, &li);
    if (!rc) {
        int64_t h = (int64_t)li.retention_hours + delta_hours;
        if (h < 0 || h > 87600)
            rc = FL_EINVAL;
        else
            rc = fl_log_set_retention(log, (uint32_t)h);
    }
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const fl_stream_tag_t *)a)->key, ((const fl_stream_tag_t *)b)->key);
}

/* Tags of log into a malloc'd array. */
static int read_tags(fl_log_t *log, fl_stream_tag_t **out, size_t *n_out)
{
    char **keys = NULL, **vals = NULL;
    size_t n = 0;
    int rc = fl_log_tags(log, &keys, &vals, &n);
    if (rc)
        return rc;
    fl_stream_tag_t *t = calloc(n ? n : 1, sizeof *t);
    if (!t) {
        fl_log_tags_free(keys, vals, n);
        return FL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(t[i].key, sizeof t[i].key, "%s", keys[i]);
        snprintf(t[i].value, sizeof t[i].value, "%s", vals[i]);
    }
    fl_log_tags_free(keys, vals, n);
    qsort(t, n, sizeof *t, key_cmp);
    *out = t;
    *n_out = n;
    return 0;
}

int fl_video_streams_tag(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                         const fl_stream_tag_t *tags, size_t n)
{
    fl_log_t *log = NULL;
    fl_stream_tag_t *cur = NULL;
    size_t n_cur = 0;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc)
        rc = read_tags(log, &cur, &n_cur);
    if (!rc) {
        /* how many would there be? */
        size_t total = n_cur;
        for (size_t i = 0; i < n; i++) {
            int known = 0;
            for (size_t k = 0; k < n_cur; k++)
                known |= strcmp(cur[k].key, tags[i].key) == 0;
            for (size_t k = 0; k < i; k++)
                known |= strcmp(tags[k].key, tags[i].key) == 0;
            total += !known;
        }
        if (total > FL_STREAM_MAX_TAGS)
            rc = FL_ELIMIT;
    }
    for (size_t i = 0; !rc && i < n; i++)
        rc = fl_log_tag_set(log, tags[i].key, tags[i].value);
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    free(cur);
    return rc;
}

int fl_video_streams_untag(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                           const char *const *keys, size_t n)
{
    fl_log_t *log = NULL;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = fl_log_tag_remove(log, keys[i]);
        if (rc == FL_ENOTFOUND)
            rc = 0; /* AWS: removing an absent key is not an error */
    }
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

int fl_video_streams_tags(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                          fl_stream_tag_t **out, size_t *n_out)
{
    fl_log_t *log = NULL;
    *out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&st->mu);
    int rc = find(st, name, creation_ms, &log);
    if (!rc)
        rc = read_tags(log, out, n_out);
    pthread_mutex_unlock(&st->mu);
    fl_log_close(log);
    return rc;
}

int fl_video_streams_log(fl_video_streams_t *st, const char *name, fl_log_t **out)
{
    return find(st, name, -1, out);
}
