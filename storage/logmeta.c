/*
 * storage/logmeta.c — logs as the API sees them: create, open and close a
 * handle, delete, list; a log's info, retention, tags and attributes.
 *
 * Metadata changes hold cat_mu for the whole change and write the catalog
 * first, then memory: a crash between the two is resolved by the catalog on
 * the next open. A log's name is unique among the logs not being deleted.
 *
 * Handles (see logmem.c): fl_log_create and fl_log_open each give one,
 * fl_log_close gives it back. Delete marks the log `deleting` (under
 * cat_mu and mu; from then appends say FL_ECLOSED, reads, watches and
 * metadata calls FL_ENOTFOUND, and fl_log_open no longer finds it),
 * destroys its wrapped key in the catalog, then has the writer finish the
 * batch in flight, remove the files (under idx_mu, so no read is loading
 * an index) and the catalog rows, and let go of the memory: at once when no
 * handle is open, else at the last fl_log_close (or fl_store_close).
 *
 * Layering: calls the writer (fl_writer_call, fl_writer_ensure_segment)
 * and the files below it; the writer never calls this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > FL_LOG_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == ':' || c == '/'))
            return 0;
    }
    return 1;
}

static int kv_ok(const char *k, const char *v)
{
    return k && v && *k && strlen(k) <= FL_LOG_MAX_TAG_KEY && strlen(v) <= FL_LOG_MAX_TAG_VAL;
}

static fl_log_t *log_find(fl_store_t *s, const char *name)
{
    for (fl_log_t *l = s->logs; l; l = l->next)
        if (!l->deleting && strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

int fl_log_create(fl_store_t *s, const char *name, const fl_log_opts_t *opts, fl_log_t **out)
{
    fl_log_opts_t def = {0};
    if (!opts)
        opts = &def;
    uint32_t nsh = opts->shard_count ? opts->shard_count : 1;
    const char *key_id = opts->master_key_id ? opts->master_key_id : "default";
    if (!s || !out || !name_ok(name) || nsh > FL_LOG_MAX_SHARDS)
        return FL_EINVAL;
    for (size_t i = 0; i < opts->n_tags; i++)
        if (!kv_ok(opts->tag_keys[i], opts->tag_values[i]))
            return FL_EINVAL;
    for (size_t i = 0; i < opts->n_attrs; i++)
        if (!kv_ok(opts->attr_keys[i], opts->attr_values[i]))
            return FL_EINVAL;
    fl_log_t *log = NULL;
    fl_shard_t **shards = calloc(nsh, sizeof *shards);
    fl_cat_shard_t *rows = calloc(nsh, sizeof *rows);
    uint8_t dk[32], wrapped[FL_WRAPPED_KEY_LEN], made[32];
    uint64_t id = 0;
    int rc = FL_ENOMEM, in_txn = 0, making = 0;
    int64_t now = fl_clock_now(&s->clock);
    if (opts->master_key_made)
        *opts->master_key_made = 0;
    if (strlen(key_id) > FL_LOG_MAX_KEY_ID)
        return FL_EINVAL;
    pthread_mutex_lock(&s->cat_mu);
    if (!shards || !rows)
        goto fail;
    fl_master_key_t *m = fl_keys_master_find(s, key_id);
    if (!m && !opts->make_master_key) {
        rc = FL_ENOTFOUND;
        fl_error("log %s: unknown master key '%s'", name, key_id);
        goto fail;
    }
    pthread_mutex_lock(&s->mu);
    int exists = log_find(s, name) != NULL;
    pthread_mutex_unlock(&s->mu);
    if (exists) {
        rc = FL_EEXISTS;
        goto fail;
    }
    if ((rc = fl_keys_random(dk, sizeof dk)) < 0)
        goto fail;
    if ((rc = fl_catalog_begin(s->cat)) < 0)
        goto fail;
    in_txn = 1;
    /* a master key made for this log is made in its transaction */
    if (!m && (rc = fl_named_key_make(s, key_id, made)) < 0)
        goto fail;
    making = !m;
    if ((rc = fl_catalog_log_insert(s->cat, name, now, opts->retention_hours, key_id, &id)) < 0)
        goto fail;
    if (!(log = fl_log_new(s, id, name))) {
        rc = FL_ENOMEM;
        goto fail;
    }
    if ((rc = fl_keys_wrap(m ? m->key : made, key_id, id, dk, wrapped)) < 0 ||
        (rc = fl_catalog_log_set_key(s->cat, id, wrapped, sizeof wrapped)) < 0)
        goto fail;
    uint64_t next = (uint64_t)s->epoch << FL_SEQ_EPOCH_SHIFT;
    for (uint32_t i = 0; i < nsh; i++) {
        rows[i].id = i;
        fl_hashrange_nth(i, nsh, rows[i].hash_start, rows[i].hash_end);
        rows[i].parent = rows[i].parent2 = FL_LOG_NO_SHARD;
        rows[i].open = 1;
        rows[i].created_ns = now;
        if ((rc = fl_catalog_shard_insert(s->cat, id, &rows[i])) < 0)
            goto fail;
        if (!(shards[i] = fl_shard_new(&rows[i], next))) {
            rc = FL_ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < opts->n_tags && rc == 0; i++)
        rc = fl_catalog_kv_set(s->cat, 0, id, opts->tag_keys[i], opts->tag_values[i]);
    for (size_t i = 0; i < opts->n_attrs && rc == 0; i++)
        rc = fl_catalog_kv_set(s->cat, 1, id, opts->attr_keys[i], opts->attr_values[i]);
    if (rc < 0)
        goto fail;
    if ((rc = fl_io_mkdir(&s->io, log->dir)) < 0 || (rc = fl_io_fsync_dir(&s->io, s->logs_dir)) < 0)
        goto fail;
    if ((rc = fl_catalog_commit(s->cat)) < 0) {
        in_txn = 0;
        s->io.rmdir(s->io.ctx, log->dir);
        goto fail;
    }
    in_txn = 0;
    if (making) {
        /* committed: a failure here leaves the key for the next open */
        if (fl_keys_master_set(s, key_id, made) < 0)
            fl_warn("master key '%s': kept in the catalog, loaded at the next open", key_id);
        fl_named_key_made(key_id);
        if (opts->master_key_made)
            *opts->master_key_made = 1;
    }
    memcpy(log->key, dk, 32);
    snprintf(log->key_id, sizeof log->key_id, "%s", key_id);
    log->created_ns = now;
    log->version = 1;
    log->retention_hours = opts->retention_hours;
    log->shards = shards;
    log->nshards = nsh;
    log->handles = 1; /* the caller's */
    shards = NULL;
    /* Its first segment now, while nobody else sees the log, rather than
     * on the writer at the first append, where its three syncs would hold
     * up every other log's appends (1,000 streams starting at once took
     * seconds there). If it fails, the writer tries again then. */
    if (fl_writer_ensure_segment(s, log) < 0)
        fl_warn("log %s: first segment not created; the first append tries again", name);
    pthread_mutex_lock(&s->mu);
    log->next = s->logs;
    s->logs = log;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->cat_mu);
    fl_keys_wipe(dk, sizeof dk);
    fl_keys_wipe(made, sizeof made);
    free(rows);
    *out = log;
    return 0;
fail:
    if (in_txn)
        fl_catalog_rollback(s->cat);
    pthread_mutex_unlock(&s->cat_mu);
    fl_keys_wipe(dk, sizeof dk);
    fl_keys_wipe(made, sizeof made);
    if (shards)
        for (uint32_t i = 0; i < nsh; i++)
            fl_shard_free(shards[i]);
    free(shards);
    free(rows);
    fl_log_free_mem(log);
    return rc;
}

int fl_log_open(fl_store_t *s, const char *name, fl_log_t **out)
{
    if (!s || !name || !out)
        return FL_EINVAL;
    pthread_mutex_lock(&s->mu);
    fl_log_t *log = log_find(s, name);
    if (log)
        log->handles++;
    pthread_mutex_unlock(&s->mu);
    if (!log)
        return FL_ENOTFOUND;
    *out = log;
    return 0;
}

void fl_log_close(fl_log_t *log)
{
    if (!log)
        return;
    fl_store_t *s = log->store;
    int last = 0;
    pthread_mutex_lock(&s->mu);
    if (log->handles)
        log->handles--;
    if (log->handles == 0 && log->detached) {
        for (fl_log_t **pp = &s->dead; *pp; pp = &(*pp)->next)
            if (*pp == log) {
                *pp = log->next;
                break;
            }
        last = 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (last)
        fl_log_free_mem(log);
}

static int delete_on_writer(fl_store_t *s, void *arg)
{
    fl_log_t *log = arg;
    pthread_mutex_lock(&s->mu);
    for (fl_log_t **pp = &s->logs; *pp; pp = &(*pp)->next)
        if (*pp == log) {
            *pp = log->next;
            break;
        }
    for (size_t i = 0; i < log->nsegs; i++)
        s->total_bytes -= log->segs[i].size;
    fl_segcache_drop(s, log->id, UINT64_MAX);
    pthread_mutex_unlock(&s->mu);
    fl_segment_close_active(log);
    fl_segment_drop_spare(log);       /* (the sealer is idle) */
    pthread_mutex_lock(&log->idx_mu); /* no read is loading an index now */
    int rc = fl_log_remove_files(s, log->id);
    pthread_mutex_unlock(&log->idx_mu);
    if (rc == 0) {
        pthread_mutex_lock(&s->cat_mu);
        rc = fl_catalog_log_remove(s->cat, log->id);
        pthread_mutex_unlock(&s->cat_mu);
    }
    if (rc < 0)
        fl_warn("log %s: files not all removed (%s); the next open finishes the delete", log->name,
                fl_strerror(rc));
    /* The store lets go of it: freed now, or by the last fl_log_close. */
    pthread_mutex_lock(&s->mu);
    int keep = log->handles != 0;
    if (keep) {
        log->detached = 1;
        log->next = s->dead;
        s->dead = log;
    }
    pthread_mutex_unlock(&s->mu);
    if (!keep)
        fl_log_free_mem(log);
    return 0;
}

int fl_log_delete(fl_store_t *s, const char *name)
{
    if (!s || !name)
        return FL_EINVAL;
    pthread_mutex_lock(&s->cat_mu);
    pthread_mutex_lock(&s->mu);
    fl_log_t *log = log_find(s, name);
    int rc = 0;
    if (!log) {
        rc = FL_ENOTFOUND;
    } else {
        for (uint32_t i = 0; i < log->nshards; i++)
            if (log->shards[i] && log->shards[i]->watches)
                rc = FL_EBUSY;
        if (rc == 0)
            log->deleting = 1; /* appends now say FL_ECLOSED */
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == 0) {
        /* The key goes first and durably: from here the bytes are noise. */
        rc = fl_catalog_log_mark_deleting(s->cat, log->id);
        if (rc < 0) {
            pthread_mutex_lock(&s->mu);
            log->deleting = 0;
            pthread_mutex_unlock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->cat_mu);
    /* The writer finishes the batch in flight, wipes the in-memory key and
     * removes the files (it takes cat_mu itself, so it is not held here). */
    if (rc == 0)
        rc = fl_writer_call(s, delete_on_writer, log);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fl_log_list(fl_store_t *s, char ***names_out, size_t *n_out)
{
    if (!s || !names_out || !n_out)
        return FL_EINVAL;
    pthread_mutex_lock(&s->mu);
    size_t n = 0, i = 0;
    for (fl_log_t *l = s->logs; l; l = l->next)
        n += !l->deleting;
    char **v = calloc(n ? n : 1, sizeof *v);
    int rc = v ? 0 : FL_ENOMEM;
    for (fl_log_t *l = s->logs; l && rc == 0; l = l->next) {
        if (l->deleting)
            continue;
        if (!(v[i++] = strdup(l->name)))
            rc = FL_ENOMEM;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        fl_log_list_free(v, i);
        return rc;
    }
    qsort(v, n, sizeof *v, cmp_str);
    *names_out = v;
    *n_out = n;
    return 0;
}

void fl_log_list_free(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int fl_log_info(fl_log_t *log, fl_log_info_t *out)
{
    if (!log || !out)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    if (log->deleting) {
        pthread_mutex_unlock(&s->mu);
        return FL_ENOTFOUND;
    }
    out->id = log->id;
    snprintf(out->name, sizeof out->name, "%s", log->name);
    snprintf(out->master_key_id, sizeof out->master_key_id, "%s", log->key_id);
    out->created_ns = log->created_ns;
    out->version = log->version;
    out->retention_hours = log->retention_hours;
    for (uint32_t i = 0; i < log->nshards; i++) {
        if (!log->shards[i])
            continue;
        out->total_shards++;
        out->open_shards += log->shards[i]->open != 0;
    }
    for (size_t i = 0; i < log->nsegs; i++)
        out->bytes += log->segs[i].size;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int fl_log_set_retention(fl_log_t *log, uint32_t hours)
{
    if (!log)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->cat_mu);
    int rc = log->deleting ? FL_ENOTFOUND : fl_catalog_log_set_retention(s->cat, log->id, hours);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        log->retention_hours = hours;
        log->version++;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

int fl_log_set_master_key(fl_log_t *log, const char *key_id)
{
    return fl_log_set_master_key_ex(log, key_id, NULL);
}

int fl_log_set_master_key_ex(fl_log_t *log, const char *key_id, const fl_log_key_opts_t *o)
{
    fl_log_key_opts_t none = {0};
    if (!o)
        o = &none;
    if (o->made)
        *o->made = 0;
    if (!log || !key_id || !*key_id || strlen(key_id) > FL_LOG_MAX_KEY_ID ||
        (o->attr_key && (!*o->attr_key || strlen(o->attr_key) > FL_LOG_MAX_TAG_KEY ||
                         !o->attr_value || strlen(o->attr_value) > FL_LOG_MAX_TAG_VAL)))
        return FL_EINVAL;
    fl_store_t *s = log->store;
    uint8_t w[FL_WRAPPED_KEY_LEN], made[32];
    pthread_mutex_lock(&s->cat_mu);
    fl_master_key_t *m = fl_keys_master_find(s, key_id);
    int rc = log->deleting ? FL_ENOTFOUND : !m && !o->make ? FL_ENOTFOUND : 0;
    int same = rc == 0 && strcmp(log->key_id, key_id) == 0, making = 0;
    if (rc == 0 && same && !o->attr_key)
        goto out; /* already */
    /* the key made (if any), the key switch and the attribute: one
     * transaction, so a crash or failure between them leaves none */
    if (rc == 0 && (rc = fl_catalog_begin(s->cat)) == 0) {
        if (!m && (rc = fl_named_key_make(s, key_id, made)) == 0)
            making = 1;
        if (rc == 0 && !same &&
            (rc = fl_keys_wrap(m ? m->key : made, key_id, log->id, log->key, w)) == 0)
            rc = fl_catalog_log_set_master(s->cat, log->id, key_id, w, sizeof w);
        if (rc == 0 && o->attr_key)
            rc = fl_catalog_kv_set(s->cat, 1, log->id, o->attr_key, o->attr_value);
        if (rc == 0)
            rc = fl_catalog_log_bump_version(s->cat, log->id);
        if (rc == 0)
            rc = fl_catalog_commit(s->cat);
        else
            fl_catalog_rollback(s->cat);
    }
    if (rc == 0 && making) {
        if (fl_keys_master_set(s, key_id, made) < 0)
            fl_warn("master key '%s': kept in the catalog, loaded at the next open", key_id);
        fl_named_key_made(key_id);
        if (o->made)
            *o->made = 1;
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        snprintf(log->key_id, sizeof log->key_id, "%s", key_id);
        log->version++;
        pthread_mutex_unlock(&s->mu);
    }
out:
    pthread_mutex_unlock(&s->cat_mu);
    fl_keys_wipe(made, sizeof made);
    return rc;
}

static int kv_change(fl_log_t *log, int attrs, const char *key, const char *value)
{
    if (!log || !key || !*key || strlen(key) > FL_LOG_MAX_TAG_KEY ||
        (value && strlen(value) > FL_LOG_MAX_TAG_VAL))
        return FL_EINVAL;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->cat_mu);
    int rc = log->deleting ? FL_ENOTFOUND : fl_catalog_begin(s->cat);
    if (rc == 0) {
        rc = value ? fl_catalog_kv_set(s->cat, attrs, log->id, key, value)
                   : fl_catalog_kv_remove(s->cat, attrs, log->id, key);
        if (rc == 0)
            rc = fl_catalog_log_bump_version(s->cat, log->id);
        if (rc == 0)
            rc = fl_catalog_commit(s->cat);
        else
            fl_catalog_rollback(s->cat);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        log->version++;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

static int kv_get(fl_log_t *log, int attrs, const char *key, char *buf, size_t cap)
{
    if (!log || !key || !buf)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->cat_mu);
    int rc =
        log->deleting ? FL_ENOTFOUND : fl_catalog_kv_get(s->cat, attrs, log->id, key, buf, cap);
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

int fl_log_tag_set(fl_log_t *log, const char *key, const char *value)
{
    return value ? kv_change(log, 0, key, value) : FL_EINVAL;
}

int fl_log_tag_remove(fl_log_t *log, const char *key)
{
    return kv_change(log, 0, key, NULL);
}

int fl_log_tag_get(fl_log_t *log, const char *key, char *buf, size_t cap)
{
    return kv_get(log, 0, key, buf, cap);
}

int fl_log_attr_set(fl_log_t *log, const char *key, const char *value)
{
    return value ? kv_change(log, 1, key, value) : FL_EINVAL;
}

int fl_log_attr_get(fl_log_t *log, const char *key, char *buf, size_t cap)
{
    return kv_get(log, 1, key, buf, cap);
}

typedef struct {
    char **k, **v;
    size_t n, cap;
} kv_list_t;

static int kv_list_cb(void *arg, const char *k, const char *v)
{
    kv_list_t *l = arg;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        char **nk = realloc(l->k, nc * sizeof *nk);
        if (!nk)
            return FL_ENOMEM;
        l->k = nk;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return FL_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->k[l->n] = strdup(k);
    l->v[l->n] = strdup(v);
    l->n++;
    return l->k[l->n - 1] && l->v[l->n - 1] ? 0 : FL_ENOMEM;
}

int fl_log_tags(fl_log_t *log, char ***keys_out, char ***values_out, size_t *n_out)
{
    if (!log || !keys_out || !values_out || !n_out)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    kv_list_t l = {0};
    pthread_mutex_lock(&s->cat_mu);
    int rc = log->deleting ? FL_ENOTFOUND : fl_catalog_kv_list(s->cat, 0, log->id, kv_list_cb, &l);
    pthread_mutex_unlock(&s->cat_mu);
    if (rc < 0) {
        fl_log_tags_free(l.k, l.v, l.n);
        return rc;
    }
    *keys_out = l.k;
    *values_out = l.v;
    *n_out = l.n;
    return 0;
}

void fl_log_tags_free(char **keys, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (keys)
            free(keys[i]);
        if (values)
            free(values[i]);
    }
    free(keys);
    free(values);
}
