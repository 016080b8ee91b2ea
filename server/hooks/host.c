/*
 * server/hooks/host.c — the host table (flh_host_t) every hook gets at
 * init. Each function finds the hook through its flh_ctx_t and is
 * thread-safe: the hook's thread, threads the hook made and init (on the
 * starting thread) may call it.
 *
 * Records a hook writes go to data streams through core's data-record seam
 * (core/datarec.h), as PutRecord's do: the same log, the same shard choice
 * (MD5 of the partition key), and every hook but the writer hears of them.
 * The handles of the data streams a hook wrote to stay open (at most
 * FL_HOOK_MAX_LOGS; the oldest is closed past that) and are closed at
 * unload; they are the hook's own, used under its logs_mu, so a hook's own
 * threads may write at once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/error.h"
#include "server/core/datarec.h"
#include "server/core/server.h"
#include "server/hooks/hooks.h"

/* A negative errno for the plugin (framelog/hook.h names them). */
static int plugin_code(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case FL_ENOTFOUND:
    case FL_ECLOSED:
        return -ENOENT;
    case FL_EAGAIN:
        return -EAGAIN;
    case FL_ENOMEM:
        return -ENOMEM;
    default:
        return rc < 0 && rc > -4096 ? rc : -EIO;
    }
}

static int valid_stream(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > FL_HOOK_DATA_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

/* The hook's handle of data stream `stream` (h->logs_mu held). */
static int log_of(hk_hook_t *h, const char *stream, fl_log_t **out)
{
    for (size_t i = 0; i < h->n_logs; i++)
        if (strcmp(h->logs[i].name, stream) == 0) {
            *out = h->logs[i].log;
            return 0;
        }
    char ln[FL_HOOK_DATA_NAME_MAX + 8];
    fl_datarec_log_name(stream, ln, sizeof ln);
    fl_log_t *log = NULL;
    int rc = fl_log_open(fl_server_store(h->hs->srv), ln, &log);
    if (rc)
        return rc;
    if (h->n_logs == FL_HOOK_MAX_LOGS) {
        fl_log_close(h->logs[0].log);
        memmove(&h->logs[0], &h->logs[1], (FL_HOOK_MAX_LOGS - 1) * sizeof h->logs[0]);
        h->n_logs--;
    }
    snprintf(h->logs[h->n_logs].name, sizeof h->logs[h->n_logs].name, "%s", stream);
    h->logs[h->n_logs].log = log;
    h->n_logs++;
    *out = log;
    return 0;
}

static void log_forget(hk_hook_t *h, fl_log_t *log)
{
    for (size_t i = 0; i < h->n_logs; i++)
        if (h->logs[i].log == log) {
            fl_log_close(log);
            h->logs[i] = h->logs[h->n_logs - 1];
            h->n_logs--;
            return;
        }
}

static int host_record(flh_ctx_t *h, const char *stream, flh_bytes_t key, flh_bytes_t data,
                       int64_t producer_ms)
{
    if (!valid_stream(stream) || key.n < 1 || key.n > FL_HOOK_KEY_MAX || (key.n && !key.p) ||
        data.n > FL_HOOK_RECORD_MAX || (data.n && !data.p) || memchr(key.p, 0, key.n) ||
        producer_ms < 0 || producer_ms > INT64_MAX / 1000000)
        return -EINVAL;
    pthread_mutex_lock(&h->logs_mu);
    int rc;
    for (int attempt = 0; attempt < 2; attempt++) {
        fl_log_t *log;
        uint32_t shard;
        uint64_t seq;
        rc = log_of(h, stream, &log);
        if (rc)
            break;
        rc = fl_log_shard_for_key(log, fl_slice(key.p, key.n), &shard);
        if (!rc)
            rc = fl_datarec_append(h->hs->srv, log, stream, shard, fl_slice(key.p, key.n),
                                   fl_slice(data.p, data.n), producer_ms * 1000000, NULL, &seq);
        if (rc != FL_ECLOSED && rc != FL_ENOTFOUND)
            break;
        /* deleted (and maybe made again) or resharded: open it afresh */
        log_forget(h, log);
    }
    pthread_mutex_unlock(&h->logs_mu);
    return plugin_code(rc);
}

static void host_log(flh_ctx_t *h, flh_log_level_t level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fl_diag_level_t l = level == FLH_LOG_ERROR  ? FL_DIAG_ERROR
                        : level == FLH_LOG_WARN ? FL_DIAG_WARN
                        : level == FLH_LOG_INFO ? FL_DIAG_INFO
                                                : FL_DIAG_DEBUG;
    fl_diag(l, "hook %s: %s", h->pl->name, line);
}

static int counter_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > FL_HOOK_COUNTER_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    /* the host's own series */
    return strcmp(s, "dropped") != 0 && strcmp(s, "delivered") != 0 && strcmp(s, "decoded") != 0;
}

static int host_count(flh_ctx_t *h, const char *name, uint64_t delta)
{
    if (!counter_name_ok(name))
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    int i;
    for (i = 0; i < h->n_counters; i++)
        if (strcmp(h->counter_names[i], name) == 0)
            break;
    if (i == h->n_counters) {
        if (i == FL_HOOK_MAX_COUNTERS) {
            rc = -ENOSPC;
            goto out;
        }
        snprintf(h->counter_names[i], sizeof h->counter_names[i], "%s", name);
        h->counter_values[i] = 0;
        h->n_counters++;
    }
    h->counter_values[i] += delta;
out:
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int host_want_decoded(flh_ctx_t *h, const flh_decode_req_t *req)
{
    if (!h->pl->decoded)
        return -EOPNOTSUPP;
    if (req && (req->format < FLH_PIX_GRAY8 || req->format > FLH_PIX_RGBA || req->width > 8192 ||
                req->height > 8192 || !(req->max_fps >= 0)))
        return -EINVAL;
    pthread_mutex_lock(&h->mu);
    if (req)
        h->req = *req;
    pthread_mutex_unlock(&h->mu);
    atomic_store(&h->decode_key_only, req ? req->key_frames_only != 0 : 0);
    atomic_store(&h->want_decoded, req != NULL);
    return 0;
}

/* A hold: the frame's event (and so its fragment's record) held. */
struct flh_hold {
    hk_ev_t *ev;
    hk_hook_t *h;
};

static flh_hold_t *host_frame_hold(flh_ctx_t *h, const flh_frame_t *frame)
{
    flh_hold_t *hold = malloc(sizeof *hold);
    if (!hold)
        return NULL;
    hold->ev = hk_frame_event(frame);
    hold->h = h;
    hk_ev_ref(hold->ev);
    atomic_fetch_add(&h->holds, 1);
    return hold;
}

static void host_frame_release(flh_hold_t *hold)
{
    if (!hold)
        return;
    atomic_fetch_sub(&hold->h->holds, 1);
    hk_ev_unref(hold->ev);
    free(hold);
}

const flh_host_t hk_host = {
    .abi_major = FLH_ABI_MAJOR,
    .abi_minor = FLH_ABI_MINOR,
    .record = host_record,
    .log = host_log,
    .count = host_count,
    .want_decoded = host_want_decoded,
    .frame_hold = host_frame_hold,
    .frame_release = host_frame_release,
};

void hk_host_close(hk_hook_t *h)
{
    for (size_t i = 0; i < h->n_logs; i++)
        fl_log_close(h->logs[i].log);
    h->n_logs = 0;
}
