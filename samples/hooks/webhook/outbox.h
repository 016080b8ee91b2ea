/*
 * samples/hooks/webhook/outbox.h — the webhook's bounded queue of events
 * and the thread that POSTs them, signed, with retries.
 *
 * outbox_post() is called from the hook's thread and never waits for the
 * network: it queues the body, or drops it when max_events are queued
 * already (counted as events_dropped). One delivery thread of its own
 * POSTs the oldest event with libcurl; an event leaves the queue when it
 * is answered 2xx (events_delivered), when it is refused for good (a 3xx
 * or 4xx other than 408 and 429: events_failed), or after `attempts`
 * failed attempts when that limit is set (events_failed). A failed
 * attempt (no connection, a timeout, 408, 429, 5xx) is counted
 * (attempts_failed) and retried after a backoff that doubles from
 * backoff_ms up to backoff_max_ms and starts over after a success.
 * Events are delivered in order, one at a time.
 *
 * Every POST carries `X-Framelog-Signature: sha256=<hex>`, the lowercase
 * hex of HMAC-SHA256(secret, body) (mbedTLS), with
 * `X-Framelog-Event: <type>` and `X-Framelog-Delivery: <id>`; a retry
 * sends the same bytes, so the same id and signature.
 *
 * outbox_free() stops the thread: it first goes on delivering what is
 * queued for at most drain_ms, stopping at the first failure; what is
 * still queued then is lost (logged).
 */
#ifndef FL_SAMPLES_WEBHOOK_OUTBOX_H
#define FL_SAMPLES_WEBHOOK_OUTBOX_H

#include <framelog/hook.h>
#include <stddef.h>

typedef struct outbox outbox_t;

typedef struct {
    const char *url;        /* http:// or https:// */
    const uint8_t *secret;  /* HMAC key (copied) */
    size_t secret_len;      /* >= 1 */
    long timeout_ms;        /* one attempt, connection included */
    size_t max_events;      /* queued at most */
    long backoff_ms;        /* after the first failed attempt */
    long backoff_max_ms;    /* the longest wait between attempts */
    unsigned attempts;      /* give an event up after so many; 0: never */
    long drain_ms;          /* at stop, deliver what is queued for so long */
    const flh_host_t *host; /* counters and log lines */
    flh_ctx_t *ctx;
} outbox_opts_t;

/* Start the delivery thread. 0, or -1 with a message in err. */
int outbox_new(const outbox_opts_t *opts, outbox_t **out, char *err, size_t errlen);
/* Queue one event (body: n bytes of JSON, copied; type and id go into
 * headers). 0, or -1 when it was dropped (the queue is full, or no
 * memory): counted. */
int outbox_post(outbox_t *ob, const char *type, const char *id, const char *body, size_t n);
/* Drain (see above), stop the thread, free. NULL is fine. */
void outbox_free(outbox_t *ob);

#endif
