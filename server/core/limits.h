/*
 * server/core/limits.h — the limits that keep one client from hurting the
 * others (docs/security.md, "Limits"), named in one place.
 *
 * - Connections: a cap per source address (--max-connections-per-address)
 *   checked at accept, beside the global --max-connections.
 * - Memory: one budget for the bytes of unfinished PutMedia fragments over
 *   every connection (--max-fragment-memory); a fragment that would pass it
 *   is refused with ack error 5000 and the producer retries.
 * - Every time a limit refuses something it is counted, in
 *   framelog_limit_hits_total{limit="..."} on GET /metrics, and logged at
 *   most once a second per limit (with how many were not logged), so that a
 *   flood is visible without flooding the log.
 *
 * Thread safety: the counters and the budget are atomics and the address
 * table has its own lock, so that several event loops may share one
 * fl_limits_t; everything here may be called from any thread.
 */
#ifndef FL_SERVER_CORE_LIMITS_H
#define FL_SERVER_CORE_LIMITS_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/bytes.h"
#include "server/core/config.h"

/* What a limit refused (the label of framelog_limit_hits_total). */
typedef enum {
    FL_LIMIT_MAX_CONNECTIONS = 0, /* --max-connections: connection refused */
    FL_LIMIT_PER_ADDRESS,         /* --max-connections-per-address: refused */
    FL_LIMIT_HEADER_UNFINISHED,   /* closed before sending a whole request head */
    FL_LIMIT_HEADER_TOO_LARGE,    /* a request head past FL_LIMIT_HEADER_BYTES: 431 */
    FL_LIMIT_BAD_REQUEST,         /* bytes that are not HTTP: 400 */
    FL_LIMIT_BODY_TOO_LARGE,      /* a body past its route's limit: 413 */
    FL_LIMIT_FRAGMENT_MEMORY,     /* --max-fragment-memory: a fragment refused (5000) */
    FL_LIMIT_CONNECTION_AGE,      /* --putmedia-max-connection-seconds: 4003 */
    FL_LIMIT_UPLOAD_RATE,         /* --putmedia-max-bytes-per-second: reading paused */
    FL_LIMIT_CONNECT_RATE,        /* --putmedia-max-connections-per-second: refused */
    FL_LIMIT_GETMEDIA_READERS,    /* --getmedia-max-readers: refused */
    FL_LIMIT_COUNT
} fl_limit_t;

/* The largest request head (request line and headers) answered: past it,
 * 431. libwebsockets keeps a head in a buffer of FL_LIMIT_HEADER_BUFFER
 * bytes; a head longer than the buffer is answered 431 too (limits.c). */
#define FL_LIMIT_HEADER_BYTES  8192
#define FL_LIMIT_HEADER_BUFFER 16384

/* A shared budget of bytes (loop threads take and give back). */
typedef struct {
    _Atomic uint64_t used;
    uint64_t max;
    _Atomic uint64_t refused; /* takes refused */
} fl_budget_t;

/* Take n bytes of the budget: 0, or FL_ELIMIT when that would pass max
 * (nothing taken). */
int fl_budget_take(fl_budget_t *b, uint64_t n);
/* Give back n bytes taken before. */
void fl_budget_give(fl_budget_t *b, uint64_t n);

typedef struct fl_limits fl_limits_t;

int fl_limits_new(const fl_config_t *cfg, fl_limits_t **out);
void fl_limits_free(fl_limits_t *l);

/* A connection was accepted on fd (before any byte is read); open is how
 * many connections are open now. 0 to serve it, or FL_ELIMIT when a cap
 * refuses it (counted and logged here). */
int fl_limits_accept(fl_limits_t *l, int fd, int64_t open);

/* Count a hit of limit what and log it (at most once a second per limit;
 * the line says how many hits were not logged). fmt may be NULL: counted
 * only. */
void fl_limits_hit(fl_limits_t *l, fl_limit_t what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Connections accepted whose request head is not complete yet (listen.h
 * keeps the count). */
void fl_limits_head_add(fl_limits_t *l, int delta);
int64_t fl_limits_heads(const fl_limits_t *l);

/* How many times limit what refused something. */
uint64_t fl_limits_hits(const fl_limits_t *l, fl_limit_t what);

/* The PutMedia fragment budget (--max-fragment-memory). */
fl_budget_t *fl_limits_fragment_budget(fl_limits_t *l);

/* The limits' series, Prometheus text, for GET /metrics. */
void fl_limits_render(const fl_limits_t *l, fl_buf_t *out);

/* A token bucket: rate tokens a second, at most burst held. Lock-free:
 * any thread (several loops may charge one stream's bucket at once). It
 * is one atomic, the time at which it will be full again (a "theoretical
 * arrival time", GCRA): tokens = burst - (full_ns - now) * rate; a zeroed
 * bucket is full. */
typedef struct {
    _Atomic int64_t full_ns;
} fl_bucket_t;

/* Refill b at rate per second (at most burst) as of now_ns (monotonic),
 * then take n tokens if there are that many: 0, or FL_ELIMIT (nothing
 * taken). A new bucket is full. */
int fl_bucket_take(fl_bucket_t *b, double rate, double burst, double n, int64_t now_ns);
/* Take n tokens whatever is left (the bucket may go below zero: a debt
 * paid back by time). Returns the tokens left. */
double fl_bucket_charge(fl_bucket_t *b, double rate, double burst, double n, int64_t now_ns);
/* The tokens held as of now_ns (below zero: a debt). */
double fl_bucket_tokens(const fl_bucket_t *b, double rate, double burst, int64_t now_ns);

#endif
