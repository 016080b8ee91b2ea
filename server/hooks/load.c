/*
 * server/hooks/load.c — one `--hook PATH.so[,key=value...]`: split the
 * flag's text, dlopen the file, find its entry point (FLH_ENTRY), check
 * the ABI version and the name, and run its init on this (the starting)
 * thread. Every refusal is one line naming the flag, so framelogd stops
 * at start with it.
 *
 * Version policy (framelog/hook.h): the same major, and a minor no newer
 * than the server's.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "server/hooks/hooks.h"

static int refuse(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return FL_EINVAL;
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* PATH[,key=value...] into h->path and h->kv (pointing into h->arg's
 * copy). */
static int split(hk_hook_t *h, const char *arg, char *err, size_t errlen)
{
    h->path = strdup(arg);
    if (!h->path)
        return refuse(err, errlen, "--hook %s: out of memory", arg);
    char *p = strchr(h->path, ',');
    if (p)
        *p++ = 0;
    if (!h->path[0])
        return refuse(err, errlen, "--hook %s: no path before the first comma", arg);
    while (p && *p) {
        char *next = strchr(p, ',');
        if (next)
            *next++ = 0;
        if (h->n_kv == sizeof h->kv / sizeof h->kv[0])
            return refuse(err, errlen, "--hook %s: more than %zu key=value pairs", arg,
                          sizeof h->kv / sizeof h->kv[0]);
        char *eq = strchr(p, '=');
        if (eq)
            *eq = 0;
        if (!*p)
            return refuse(err, errlen, "--hook %s: an empty key", arg);
        h->kv[h->n_kv].key = p;
        h->kv[h->n_kv].value = eq ? eq + 1 : "";
        h->n_kv++;
        p = next;
    }
    return 0;
}

int hk_load(fl_hooks_t *hs, const char *arg, hk_hook_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc;
    hk_hook_t *h = calloc(1, sizeof *h);
    if (!h)
        return refuse(err, errlen, "--hook %s: out of memory", arg);
    h->hs = hs;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->logs_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the hook's naps (hook.c) */
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->arg = strdup(arg);
    if (!h->arg) {
        rc = refuse(err, errlen, "--hook %s: out of memory", arg);
        goto fail;
    }
    if ((rc = split(h, arg, err, errlen)) != 0)
        goto fail;
    if (access(h->path, R_OK) != 0) {
        rc = refuse(err, errlen, "--hook %s: cannot read %s: %s", arg, h->path, strerror(errno));
        goto fail;
    }
    /* a path without a slash would make dlopen search the library path */
    char *dlpath = strchr(h->path, '/') ? strdup(h->path) : malloc(strlen(h->path) + 3);
    if (dlpath && !strchr(h->path, '/'))
        sprintf(dlpath, "./%s", h->path);
    h->dl = dlpath ? dlopen(dlpath, RTLD_NOW | RTLD_LOCAL) : NULL;
    free(dlpath);
    if (!h->dl) {
        const char *why = dlerror();
        rc = refuse(err, errlen, "--hook %s: cannot load it: %s", arg, why ? why : "out of memory");
        goto fail;
    }
    flh_entry_fn entry;
    *(void **)&entry = dlsym(h->dl, FLH_ENTRY);
    if (!entry) {
        rc = refuse(err, errlen, "--hook %s: no %s() in it: not a framelog hook", arg, FLH_ENTRY);
        goto fail;
    }
    h->pl = entry();
    if (!h->pl) {
        rc = refuse(err, errlen, "--hook %s: %s() returned NULL", arg, FLH_ENTRY);
        goto fail;
    }
    if (h->pl->abi_major != FLH_ABI_MAJOR || h->pl->abi_minor > FLH_ABI_MINOR) {
        rc = refuse(err, errlen,
                    "--hook %s: built for hook ABI %u.%u, but framelogd has %u.%u; rebuild it "
                    "against this framelogd's framelog/hook.h",
                    arg, (unsigned)h->pl->abi_major, (unsigned)h->pl->abi_minor, FLH_ABI_MAJOR,
                    FLH_ABI_MINOR);
        goto fail;
    }
    if (!valid_name(h->pl->name)) {
        rc = refuse(err, errlen, "--hook %s: its name must be 1 to 32 of [a-z0-9_-]", arg);
        goto fail;
    }
    for (int i = 0; i < hs->n; i++)
        if (strcmp(hs->hooks[i]->pl->name, h->pl->name) == 0) {
            rc = refuse(err, errlen, "--hook %s: a hook named %s is loaded already", arg,
                        h->pl->name);
            goto fail;
        }
    if (h->pl->init) {
        char why[512] = "";
        if (h->pl->init(&hk_host, h, h->kv, h->n_kv, &h->self, why, sizeof why) != 0) {
            why[sizeof why - 1] = 0;
            rc = refuse(err, errlen, "--hook %s: %s failed to start: %s", arg, h->pl->name,
                        why[0] ? why : "(no reason given)");
            goto fail;
        }
    }
    h->inited = 1;
    *out = h;
    return 0;
fail:
    hk_unload(h);
    return rc;
}

void hk_unload(hk_hook_t *h)
{
    if (!h)
        return;
    hk_host_close(h);
    if (h->dl)
        dlclose(h->dl);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->logs_mu);
    pthread_cond_destroy(&h->cv);
    free(h->path);
    free(h->arg);
    free(h);
}
