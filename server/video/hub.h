/*
 * server/video/hub.h — who is using which video stream right now: its live tail,
 * its producer (one at a time: the newest connection wins) and its readers.
 * Shared by the loops: the hub and every entry's fields but `live` are
 * under the hub's lock (recursive), taken at connect and close and once a
 * fragment for the recent map, never per frame. An entry's live tail
 * belongs to the loop that made the entry (live.h: other loops' calls are
 * posted there). `producer` is atomic: the ingest reads it per frame.
 *
 * An entry exists while someone uses the stream (users > 0); the live tail
 * lives and dies with it. A stream being deleted is marked so that no new
 * producer or reader starts on it meanwhile.
 */
#ifndef FL_SERVER_HUB_H
#define FL_SERVER_HUB_H

#include "server/video/live.h"

struct fl_server;
#include "server/video/validate.h"

typedef struct fl_hub fl_hub_t;

/* The stream's most recent fragments, oldest first: producer timecode ->
 * sequence number. PutMedia fills it as it appends fragments (in flight
 * until storage says durable) and loads it from storage, on a worker, when
 * a producer connects to a stream nobody was using; a producer's resend is
 * then recognised here, on the loop, without reading storage. Bounded:
 * a resend older than the last FL_HUB_RECENT fragments is not recognised. */
#define FL_HUB_RECENT 128

typedef struct {
    int64_t abs_ms; /* producer timecode, epoch ms */
    uint64_t seq;
    int durable; /* 0 while its append is in flight */
} fl_hub_recent_t;

typedef enum {
    FL_HUB_RECENT_UNLOADED = 0, /* nobody loaded the stream's recent fragments */
    FL_HUB_RECENT_LOADING,      /* a worker reads them (producers wait) */
    FL_HUB_RECENT_LOADED,       /* the map holds every fragment since its first */
} fl_hub_recent_state_t;

typedef struct fl_hub_entry {
    struct fl_hub_entry *next;
    fl_hub_t *hub;
    char name[FL_STREAM_NAME_MAX + 1];
    fl_live_t *live;
    void *_Atomic producer;        /* the PutMedia session feeding it, or NULL */
    void (*evict)(void *producer); /* ends that session (a newer one came) */
    int users;
    int deleting;
    fl_hub_recent_state_t recent_state;
    uint64_t recent_log_id;                /* the incarnation of the stream the map is of */
    fl_hub_recent_t recent[FL_HUB_RECENT]; /* a ring: recent_n from recent_first */
    unsigned recent_first, recent_n;
} fl_hub_entry_t;

int fl_hub_new(fl_hub_t **out);
/* The server whose loops use the hub (live tails post across them). */
void fl_hub_set_server(fl_hub_t *h, struct fl_server *srv);
/* Hold the hub's lock around reads and writes of an entry's fields. */
void fl_hub_lock(fl_hub_t *h);
void fl_hub_unlock(fl_hub_t *h);
/* Add an observer of every live tail (live.h), at start, before any tail
 * exists (a module's init). FL_ELIMIT past FL_LIVE_MAX_OBSERVERS. */
int fl_hub_observe(fl_hub_t *h, const fl_live_observer_t *obs, void *data);
/* Remove it (its module stops; tails still open stop calling it). */
void fl_hub_unobserve(fl_hub_t *h, const fl_live_observer_t *obs, void *data);
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
/* Note a fragment appended (in flight) at the newest end, forgetting the
 * oldest past FL_HUB_RECENT. */
void fl_hub_recent_add(fl_hub_entry_t *e, int64_t abs_ms, uint64_t seq, int durable);
/* The fragment with exactly this producer timecode: 1 and *out, or 0. */
int fl_hub_recent_find(fl_hub_entry_t *e, int64_t abs_ms, fl_hub_recent_t *out);
/* Its append completed: durable (status 0), or forgotten (never stored). */
void fl_hub_recent_done(fl_hub_entry_t *e, uint64_t seq, int status);

/* Streams in use now (with a producer or readers), for /metrics. */
size_t fl_hub_streams(fl_hub_t *h);

#endif
