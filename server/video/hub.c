/*
 * server/hub.c — see hub.h. A linked list: the number of streams in use
 * at once on one machine is modest, and lookups happen per connection and
 * per storage completion, not per frame.
 */
#include "server/video/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct fl_hub {
    fl_hub_entry_t *head;
    size_t n;
    fl_live_observers_t obs; /* every tail's; set at start, read-only after */
};

int fl_hub_new(fl_hub_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : FL_ENOMEM;
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
    for (fl_hub_entry_t *e = h->head; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

void fl_hub_hold(fl_hub_entry_t *e)
{
    e->users++;
}

fl_hub_entry_t *fl_hub_acquire(fl_hub_t *h, const char *name)
{
    fl_hub_entry_t *e = fl_hub_find(h, name);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return NULL;
        fl_live_opts_t lo = {.observers = &h->obs};
        if (fl_live_new(&lo, &e->live) != 0) {
            free(e);
            return NULL;
        }
        snprintf(e->name, sizeof e->name, "%s", name);
        fl_live_identify(e->live, name, 0);
        e->next = h->head;
        h->head = e;
        h->n++;
    }
    e->users++;
    return e;
}

void fl_hub_release(fl_hub_t *h, fl_hub_entry_t *e)
{
    if (--e->users > 0)
        return;
    for (fl_hub_entry_t **pp = &h->head; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    }
    h->n--;
    fl_live_free(e->live);
    free(e);
}

static fl_hub_recent_t *recent_at(fl_hub_entry_t *e, unsigned i)
{
    return &e->recent[(e->recent_first + i) % FL_HUB_RECENT];
}

void fl_hub_recent_add(fl_hub_entry_t *e, int64_t abs_ms, uint64_t seq, int durable)
{
    if (e->recent_n == FL_HUB_RECENT) {
        e->recent_first = (e->recent_first + 1) % FL_HUB_RECENT;
        e->recent_n--;
    }
    fl_hub_recent_t *r = recent_at(e, e->recent_n++);
    r->abs_ms = abs_ms;
    r->seq = seq;
    r->durable = durable;
}

fl_hub_recent_t *fl_hub_recent_find(fl_hub_entry_t *e, int64_t abs_ms)
{
    /* newest first: a resend is usually of the last few */
    for (unsigned i = e->recent_n; i-- > 0;) {
        fl_hub_recent_t *r = recent_at(e, i);
        if (r->abs_ms == abs_ms && r->seq != UINT64_MAX)
            return r;
    }
    return NULL;
}

void fl_hub_recent_done(fl_hub_entry_t *e, uint64_t seq, int status)
{
    for (unsigned i = e->recent_n; i-- > 0;) {
        fl_hub_recent_t *r = recent_at(e, i);
        if (r->seq == seq) {
            if (status)
                r->seq = UINT64_MAX; /* never stored: a resend is stored anew */
            else
                r->durable = 1;
            return;
        }
    }
}

size_t fl_hub_streams(const fl_hub_t *h)
{
    return h->n;
}
