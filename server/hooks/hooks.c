/*
 * server/hooks/hooks.c — the hooks module (core/module.h): at start, every
 * --hook is loaded and inited in the order given (any refusal stops
 * framelogd with its one-line reason), then the observers are registered
 * and each hook's thread starts; at stop (after every connection is gone)
 * each hook gets its stop callback on its thread after its last event,
 * then the observers go and the libraries are unloaded.
 *
 * Metrics, one series per hook (label hook="NAME"):
 *   framelog_hook_dropped_total    events dropped because its queue was full
 *   framelog_hook_delivered_total  frames handed to its frame callback
 *   framelog_hook_decoded_total    decoded frames handed to it
 *   framelog_hook_queued           events waiting in its queue
 *   framelog_hook_<name>_total     its own counters (host->count)
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/error.h"
#include "server/core/config.h"
#include "server/core/metrics.h"
#include "server/core/server.h"
#include "server/hooks/hooks.h"

static void hooks_fini(void *state);

static int hooks_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    const fl_config_t *cfg = fl_server_config(s);
    fl_hooks_t *hs = calloc(1, sizeof *hs);
    if (!hs) {
        snprintf(err, errlen, "hooks: out of memory");
        return FL_ENOMEM;
    }
    hs->srv = s;
    *state = hs;
    int rc = 0;
    for (int i = 0; i < cfg->hooks.n && i < FL_HOOKS_MAX; i++) {
        hk_hook_t *h;
        rc = hk_load(hs, cfg->hooks.v[i], &h, err, errlen);
        if (rc)
            goto fail;
        hs->hooks[hs->n++] = h;
        fl_info("hook %s loaded from %s (ABI %u.%u)", h->pl->name, h->path,
                (unsigned)h->pl->abi_major, (unsigned)h->pl->abi_minor);
    }
    if (hs->n == 0)
        return 0; /* nothing to feed: no observer costs ingest anything */
    rc = hk_feed_start(hs);
    if (rc) {
        snprintf(err, errlen, "hooks: cannot observe the live tails: %s", fl_strerror(rc));
        goto fail;
    }
    for (int i = 0; i < hs->n; i++) {
        rc = hk_hook_start(hs->hooks[i]);
        if (rc) {
            snprintf(err, errlen, "hook %s: cannot start its thread: %s", hs->hooks[i]->pl->name,
                     fl_strerror(rc));
            goto fail;
        }
    }
    return 0;
fail:
    hooks_fini(hs);
    *state = NULL;
    return rc;
}

static void hooks_fini(void *state)
{
    fl_hooks_t *hs = state;
    if (!hs)
        return;
    /* every thread told first, so that none waits for another's stop */
    for (int i = 0; i < hs->n; i++)
        hk_hook_stop_begin(hs->hooks[i]);
    for (int i = 0; i < hs->n; i++) {
        hk_hook_stop_wait(hs->hooks[i]);
        uint64_t d = atomic_load(&hs->hooks[i]->dropped);
        fl_info("hook %s stopped (%" PRIu64 " events dropped for it in all)",
                hs->hooks[i]->pl->name, d);
    }
    hk_feed_stop(hs);
    for (int i = 0; i < hs->n; i++)
        hk_unload(hs->hooks[i]);
    free(hs);
}

static void series(fl_buf_t *out, const char *name, const char *type, const char *help)
{
    fl_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hooks_metrics(void *state, fl_buf_t *out)
{
    fl_hooks_t *hs = state;
    if (!hs || hs->n == 0)
        return;
    static const struct {
        const char *name, *help;
        size_t off;
    } host[] = {
        {"framelog_hook_dropped_total", "Events dropped for a hook because its queue was full.",
         offsetof(hk_hook_t, dropped)},
        {"framelog_hook_delivered_total", "Frames handed to a hook's frame callback.",
         offsetof(hk_hook_t, delivered)},
        {"framelog_hook_decoded_total", "Decoded frames handed to a hook.",
         offsetof(hk_hook_t, decoded)},
    };
    for (size_t k = 0; k < sizeof host / sizeof host[0]; k++) {
        series(out, host[k].name, "counter", host[k].help);
        for (int i = 0; i < hs->n; i++) {
            atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)((char *)hs->hooks[i] + host[k].off);
            fl_buf_printf(out, "%s{hook=\"%s\"} %" PRIu64 "\n", host[k].name,
                          hs->hooks[i]->pl->name, (uint64_t)atomic_load(v));
        }
    }
    series(out, "framelog_hook_queued", "gauge", "Events waiting in a hook's queue.");
    for (int i = 0; i < hs->n; i++) {
        hk_hook_t *h = hs->hooks[i];
        pthread_mutex_lock(&h->mu);
        size_t n = h->count;
        pthread_mutex_unlock(&h->mu);
        fl_buf_printf(out, "framelog_hook_queued{hook=\"%s\"} %zu\n", h->pl->name, n);
    }
    /* the hooks' own counters, each name's series together */
    char done[FL_HOOKS_MAX * FL_HOOK_MAX_COUNTERS][FL_HOOK_COUNTER_NAME + 1];
    size_t n_done = 0;
    for (int i = 0; i < hs->n; i++) {
        hk_hook_t *h = hs->hooks[i];
        pthread_mutex_lock(&h->mu);
        for (int c = 0; c < h->n_counters; c++) {
            const char *name = h->counter_names[c];
            int seen = 0;
            for (size_t d = 0; d < n_done && !seen; d++)
                seen = strcmp(done[d], name) == 0;
            if (seen)
                continue;
            snprintf(done[n_done++], sizeof done[0], "%s", name);
            char full[FL_HOOK_COUNTER_NAME + 32];
            snprintf(full, sizeof full, "framelog_hook_%s_total", name);
            series(out, full, "counter", "A hook's own counter (host->count).");
            for (int j = i; j < hs->n; j++) {
                hk_hook_t *o = hs->hooks[j];
                if (o != h)
                    pthread_mutex_lock(&o->mu);
                for (int oc = 0; oc < o->n_counters; oc++)
                    if (strcmp(o->counter_names[oc], name) == 0)
                        fl_buf_printf(out, "%s{hook=\"%s\"} %" PRIu64 "\n", full, o->pl->name,
                                      o->counter_values[oc]);
                if (o != h)
                    pthread_mutex_unlock(&o->mu);
            }
        }
        pthread_mutex_unlock(&h->mu);
    }
}

const fl_module_t fl_hooks_module = {
    .name = "hooks",
    .init = hooks_init,
    .fini = hooks_fini,
    .metrics = hooks_metrics,
};
