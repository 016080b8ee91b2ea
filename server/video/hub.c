/*
 * server/hub.c — see hub.h. A linked list: the number of streams in use
 * at once on one machine is modest, and lookups happen per connection and
 * per storage completion, not per frame.
 */
#include "server/video/hub.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/core/module.h"

struct fl_hub {
    pthread_mutex_t mu; /* recursive: callers may hold it (fl_hub_lock) */
    fl_hub_entry_t *head;
    size_t n;
    struct fl_server *srv;
    fl_live_observers_t obs; /* every tail's; set at start, read-only after */
};

int fl_hub_new(fl_hub_t **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return FL_ENOMEM;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&(*out)->mu, &a);
    pthread_mutexattr_destroy(&a);
    return 0;
}

void fl_hub_set_server(fl_hub_t *h, struct fl_server *srv)
{
    h->srv = srv;
}

void fl_hub_lock(fl_hub_t *h)
{
    pthread_mutex_lock(&h->mu);
}

void fl_hub_unlock(fl_hub_t *h)
{
    pthread_mutex_unlock(&h->mu);
}

void fl_hub_free(fl_hub_t *h)
{
    if (!h)
        return;
    fl_hub_entry_t *e = h->head;
    while (e) {
        fl_hub_entry_t *n = e->next;
        fl_live_free(e->live);
        free(e);
        e = n;
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int fl_hub_observe(fl_hub_t *h, const fl_live_observer_t *obs, void *data)
{
    if (h->obs.n >= FL_LIVE_MAX_OBSERVERS)
        return FL_ELIMIT;
    h->obs.obs[h->obs.n] = obs;
    h->obs.data[h->obs.n] = data;
    h->obs.n++;
    return 0;
}

void fl_hub_unobserve(fl_hub_t *h, const fl_live_observer_t *obs, void *data)
{
    int k = 0;
    for (int i = 0; i < h->obs.n; i++) {
        if (h->obs.obs[i] == obs && h->obs.data[i] == data)
            continue;
        h->obs.obs[k] = h->obs.obs[i];
        h->obs.data[k] = h->obs.data[i];
        k++;
    }
    h->obs.n = k;
}

fl_hub_entry_t *fl_hub_find(fl_hub_t *h, const char *name)
{
    fl_hub_lock(h);
    fl_hub_entry_t *e = h->head;
    for (; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            break;
    fl_hub_unlock(h);
    return e;
}

void fl_hub_hold(fl_hub_entry_t *e)
{
    fl_hub_lock(e->hub);
    e->users++;
    fl_hub_unlock(e->hub);
}

fl_hub_entry_t *fl_hub_acquire(fl_hub_t *h, const char *name)
{
    fl_hub_lock(h);
    fl_hub_entry_t *e = fl_hub_find(h, name);
    if (!e) {
        e = calloc(1, sizeof *e);
        /* the tail belongs to this loop: ops from other loops are posted */
        fl_live_opts_t o = {.observers = &h->obs, .srv = h->srv, .loop = fl_server_loop()};
        if (!e || fl_live_new(&o, &e->live) != 0) {
            free(e);
            fl_hub_unlock(h);
            return NULL;
        }
        e->hub = h;
        snprintf(e->name, sizeof e->name, "%s", name);
        fl_live_identify(e->live, name, 0);
        e->next = h->head;
        h->head = e;
        h->n++;
    }
    e->users++;
    fl_hub_unlock(h);
    return e;
}

void fl_hub_release(fl_hub_t *h, fl_hub_entry_t *e)
{
    fl_hub_lock(h);
    if (--e->users > 0) {
        fl_hub_unlock(h);
        return;
    }
    for (fl_hub_entry_t **pp = &h->head; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    }
    h->n--;
    fl_hub_unlock(h);
    fl_live_free(e->live); /* on its loop (posted there from another) */
    free(e);
}

static fl_hub_recent_t *recent_at(fl_hub_entry_t *e, unsigned i)
{
    return &e->recent[(e->recent_first + i) % FL_HUB_RECENT];
}

void fl_hub_recent_add(fl_hub_entry_t *e, int64_t abs_ms, uint64_t seq, int durable)
{
    fl_hub_lock(e->hub);
    if (e->recent_n == FL_HUB_RECENT) {
        e->recent_first = (e->recent_first + 1) % FL_HUB_RECENT;
        e->recent_n--;
    }
    fl_hub_recent_t *r = recent_at(e, e->recent_n++);
    r->abs_ms = abs_ms;
    r->seq = seq;
    r->durable = durable;
    fl_hub_unlock(e->hub);
}

int fl_hub_recent_find(fl_hub_entry_t *e, int64_t abs_ms, fl_hub_recent_t *out)
{
    fl_hub_lock(e->hub);
    int found = 0;
    /* newest first: a resend is usually of the last few */
    for (unsigned i = e->recent_n; i-- > 0;) {
        fl_hub_recent_t *r = recent_at(e, i);
        if (r->abs_ms == abs_ms && r->seq != UINT64_MAX) {
            *out = *r;
            found = 1;
            break;
        }
    }
    fl_hub_unlock(e->hub);
    return found;
}

void fl_hub_recent_done(fl_hub_entry_t *e, uint64_t seq, int status)
{
    fl_hub_lock(e->hub);
    for (unsigned i = e->recent_n; i-- > 0;) {
        fl_hub_recent_t *r = recent_at(e, i);
        if (r->seq == seq) {
            if (status)
                r->seq = UINT64_MAX; /* never stored: a resend is stored anew */
            else
                r->durable = 1;
            break;
        }
    }
    fl_hub_unlock(e->hub);
}

size_t fl_hub_streams(fl_hub_t *h)
{
    fl_hub_lock(h);
    size_t n = h->n;
    fl_hub_unlock(h);
    return n;
}
