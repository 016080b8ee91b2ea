/*
 * server/video/hub.h — who is using which video stream right now: its live tail,
 * its producer (one at a time: the newest connection wins) and its readers.
 * Loop thread only.
 *
 * An entry exists while someone uses the stream (users > 0); the live tail
 * lives and dies with it. A stream being deleted is marked so that no new
 * producer or reader starts on it meanwhile.
 */
#ifndef FL_SERVER_HUB_H
#define FL_SERVER_HUB_H

#include "server/video/live.h"
#include "server/video/validate.h"

typedef struct fl_hub fl_hub_t;

typedef struct fl_hub_entry {
    struct fl_hub_entry *next;
    char name[FL_STREAM_NAME_MAX + 1];
    fl_live_t *live;
    void *producer;                /* the PutMedia session feeding it, or NULL */
    void (*evict)(void *producer); /* ends that session (a newer one came) */
    int users;
    int deleting;
} fl_hub_entry_t;

int fl_hub_new(fl_hub_t **out);
void fl_hub_free(fl_hub_t *h);
/* The entry for name, created if need be; users++. NULL when out of
 * memory. */
fl_hub_entry_t *fl_hub_acquire(fl_hub_t *h, const char *name);
/* users++ on an entry already held (a fragment in flight keeps the tail
 * while its connection may go); released with fl_hub_release(). */
void fl_hub_hold(fl_hub_entry_t *e);
/* users--; the entry (and its tail) goes at 0. */
void fl_hub_release(fl_hub_t *h, fl_hub_entry_t *e);
/* The entry for name if someone uses it, else NULL. */
fl_hub_entry_t *fl_hub_find(fl_hub_t *h, const char *name);
/* Streams in use now (with a producer or readers), for /metrics. */
size_t fl_hub_streams(const fl_hub_t *h);

#endif
