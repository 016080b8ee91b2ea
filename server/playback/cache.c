/*
 * server/playback/cache.c — the segment cache: remuxed segments and parts
 * kept in memory, with single-flight. One cache per event loop (--loops),
 * touched by its loop's thread only, but for its counters and sizes,
 * atomic so that GET /metrics on any loop may read them.
 *
 * A segment is made once however many viewers ask for it at once: the
 * first request for a key leads (it remuxes on a worker); requests for the
 * same key while it is being made join it (parked on the loop with
 * fl_http_await, never polling) and are answered with the leader's bytes
 * the moment they exist; later requests are answered from memory. A
 * failure is handed to those who joined and not kept (the next request
 * tries again).
 *
 * Keys: (stream log id, fragment sequence, part, container, selector);
 * init segments and LIVE lists are kept here too (playback.h, FL_PB_INIT
 * and FL_PB_LIST: the same single-flight and bounds).
 * Log ids differ across stream incarnations and a stored fragment never
 * changes, so an entry is never stale — but for one case: a fragment cut
 * off in the live tail (FL_LIVE_DROPPED) gives its sequence number to the
 * next one, so parts made of it are forgotten then (fl_pb_cache_forget).
 *
 * Bounds: at most FL_PB_CACHE_BYTES of segment bytes and
 * FL_PB_CACHE_ENTRIES entries; past either, the least recently used ready
 * entries go. Entries being made are never evicted (they hold no bytes
 * yet).
 *
 * A ready entry's bytes are a blob with a count of holders: the cache and
 * each response sending them (fl_pb_respond_bytes, which core sends without
 * a copy). An evicted or forgotten entry gives up the cache's hold; its
 * blob goes when the last response sending it is done, so evicted bytes
 * may outlive their entry by one response each (bounded by the
 * connections, and not counted in bytes).
 *
 * Invariants: bytes = sum of the ready entries' lengths; every entry is in
 * its hash bucket and in the LRU list exactly once; waiters hang only on
 * entries being made.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/playback/playback.h"

#define BUCKETS 1024

struct fl_pb_blob {
    unsigned holders; /* the cache (while the entry is in it) and responses */
    fl_buf_t bytes;
};

static void blob_drop(void *ctx)
{
    fl_pb_blob_t *b = ctx;
    if (b && --b->holders == 0) {
        fl_buf_free(&b->bytes);
        free(b);
    }
}

fl_pb_blob_t *fl_pb_blob_new(fl_buf_t *bytes)
{
    fl_pb_blob_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->holders = 1;
    b->bytes = *bytes;
    fl_buf_init(bytes, 0);
    return b;
}

fl_slice_t fl_pb_blob_bytes(const fl_pb_blob_t *b)
{
    return fl_buf_slice(&b->bytes);
}

void fl_pb_blob_drop(fl_pb_blob_t *b)
{
    blob_drop(b);
}

void fl_pb_respond_bytes(fl_http_req_t *r, int status, const char *content_type, fl_slice_t body,
                         fl_pb_blob_t *blob)
{
    if (!blob) {
        fl_http_respond(r, status, content_type, body);
        return;
    }
    blob->holders++;
    fl_http_respond_shared(r, status, content_type, body, blob_drop, blob);
}

typedef struct centry {
    struct centry *hnext;       /* hash chain */
    struct centry *prev, *next; /* LRU: head is the most recent */
    fl_pb_ckey_t key;
    int ready;
    int forgotten;      /* dropped while being made: not kept */
    fl_pb_blob_t *blob; /* ready: the bytes */
    fl_pb_wait_t *waiters;
} centry_t;

struct fl_pb_cache {
    centry_t *bucket[BUCKETS];
    centry_t *head, *tail;
    _Atomic size_t n, bytes;
    _Atomic uint64_t hits, joins, misses, evictions;
    _Atomic uint64_t list_hits, list_misses; /* FL_PB_LIST keys, counted apart */
};

static size_t hash(const fl_pb_ckey_t *k)
{
    uint64_t h = k->log_id * 0x9E3779B97F4A7C15ULL ^ k->seq * 0xC2B2AE3D27D4EB4FULL ^
                 (uint64_t)(uint32_t)k->part * 0x165667B19E3779F9ULL ^
                 ((uint64_t)k->container << 8 | k->selector) ^
                 ((uint64_t)k->list << 32 | k->epoch_s) * 0x27D4EB2F165667C5ULL;
    return (size_t)(h ^ h >> 29) % BUCKETS;
}

static int key_eq(const fl_pb_ckey_t *a, const fl_pb_ckey_t *b)
{
    return a->log_id == b->log_id && a->seq == b->seq && a->part == b->part &&
           a->container == b->container && a->selector == b->selector && a->list == b->list &&
           a->epoch_s == b->epoch_s;
}

int fl_pb_cache_new(fl_pb_cache_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : FL_ENOMEM;
}

static void unlink_lru(fl_pb_cache_t *c, centry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_lru(fl_pb_cache_t *c, centry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void remove_entry(fl_pb_cache_t *c, centry_t *e)
{
    centry_t **pp = &c->bucket[hash(&e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    unlink_lru(c, e);
    if (e->ready)
        c->bytes -= e->blob->bytes.n;
    c->n--;
    blob_drop(e->blob);
    free(e);
}

void fl_pb_cache_free(fl_pb_cache_t *c)
{
    if (!c)
        return;
    while (c->head) /* (waiters, if any, belong to connections already gone) */
        remove_entry(c, c->head);
    free(c);
}

static centry_t *find(fl_pb_cache_t *c, const fl_pb_ckey_t *k)
{
    for (centry_t *e = c->bucket[hash(k)]; e; e = e->hnext)
        if (key_eq(&e->key, k))
            return e;
    return NULL;
}

/* Evict ready entries from the cold end until within bounds. */
static void shrink(fl_pb_cache_t *c)
{
    centry_t *e = c->tail;
    while (e && (c->bytes > FL_PB_CACHE_BYTES || c->n > FL_PB_CACHE_ENTRIES)) {
        centry_t *prev = e->prev;
        if (e->ready) {
            remove_entry(c, e);
            c->evictions++;
        }
        e = prev;
    }
}

fl_pb_take_t fl_pb_cache_take(fl_pb_cache_t *c, const fl_pb_ckey_t *k, fl_pb_wait_t *w,
                              fl_slice_t *hit)
{
    centry_t *e = find(c, k);
    w->blob = NULL;
    if (e && e->ready) {
        unlink_lru(c, e);
        push_lru(c, e);
        *hit = fl_buf_slice(&e->blob->bytes);
        w->blob = e->blob;
        if (k->part == FL_PB_LIST)
            c->list_hits++;
        else
            c->hits++;
        return FL_PB_HIT;
    }
    if (e) {
        w->next = e->waiters;
        e->waiters = w;
        if (k->part == FL_PB_LIST)
            c->list_hits++;
        else
            c->joins++;
        return FL_PB_JOIN;
    }
    shrink(c); /* (here, so that what put returned stayed valid until now) */
    e = calloc(1, sizeof *e);
    if (!e)
        return FL_PB_UNCACHED; /* made without the cache */
    e->key = *k;
    size_t b = hash(k);
    e->hnext = c->bucket[b];
    c->bucket[b] = e;
    push_lru(c, e);
    c->n++;
    if (k->part == FL_PB_LIST)
        c->list_misses++;
    else
        c->misses++;
    return FL_PB_LEAD;
}

int fl_pb_cache_peek(fl_pb_cache_t *c, const fl_pb_ckey_t *k, fl_slice_t *hit)
{
    centry_t *e = find(c, k);
    if (!e || !e->ready)
        return 0;
    unlink_lru(c, e);
    push_lru(c, e);
    *hit = fl_buf_slice(&e->blob->bytes);
    return 1;
}

fl_slice_t fl_pb_cache_put(fl_pb_cache_t *c, const fl_pb_ckey_t *k, const fl_api_error_t *err,
                           fl_buf_t *bytes, fl_pb_blob_t **blob)
{
    if (blob)
        *blob = NULL;
    centry_t *e = find(c, k);
    if (!e || e->ready)
        return fl_buf_slice(bytes);
    fl_pb_wait_t *w = e->waiters;
    e->waiters = NULL;
    int keep = !err->status && !e->forgotten && bytes->n <= FL_PB_CACHE_BYTES / 4;
    fl_pb_blob_t *b = keep ? calloc(1, sizeof *b) : NULL;
    keep = b != NULL;
    if (keep) {
        /* the entry takes the bytes */
        b->holders = 1;
        b->bytes = *bytes;
        fl_buf_init(bytes, 0);
        e->blob = b;
        e->ready = 1;
        c->bytes += b->bytes.n;
        unlink_lru(c, e);
        push_lru(c, e);
        if (blob)
            *blob = b;
    }
    fl_slice_t got = keep ? fl_buf_slice(&b->bytes) : fl_buf_slice(bytes);
    while (w) {
        fl_pb_wait_t *next = w->next;
        w->err = err;
        w->bytes = got;
        w->blob = b;
        fl_http_await_done(w->a); /* answers (or frees, if its client went) */
        w = next;
    }
    if (!keep) {
        e->waiters = NULL;
        remove_entry(c, e);
    }
    return got; /* valid until the next take */
}

void fl_pb_cache_forget(fl_pb_cache_t *c, uint64_t log_id, uint64_t seq)
{
    centry_t *e = c->head;
    while (e) {
        centry_t *next = e->next;
        if (e->key.log_id == log_id && e->key.seq == seq) {
            if (e->ready)
                remove_entry(c, e);
            else
                e->forgotten = 1;
        }
        e = next;
    }
}

void fl_pb_cache_stats(const fl_pb_cache_t *c, fl_pb_cache_stats_t *st)
{
    st->hits = c->hits;
    st->joins = c->joins;
    st->misses = c->misses;
    st->evictions = c->evictions;
    st->list_hits = c->list_hits;
    st->list_misses = c->list_misses;
    st->bytes = c->bytes;
    st->entries = c->n;
}
