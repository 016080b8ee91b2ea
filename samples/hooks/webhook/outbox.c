/*
 * samples/hooks/webhook/outbox.c — see outbox.h for what it promises.
 *
 * The queue is a singly-linked list, oldest first, guarded by ob->mu
 * (with ob->cv to wake the delivery thread). The event being delivered
 * stays at the head of the list while the thread works without the lock,
 * so it counts against max_events until it leaves; only the delivery
 * thread removes events, only outbox_post adds them (at the tail). The
 * curl handle belongs to the delivery thread alone and is reused, so a
 * receiver that keeps the connection open is not dialled again for every
 * event. Waits use the monotonic clock.
 */
#include "outbox.h"

#include <curl/curl.h>
#include <errno.h>
#include <mbedtls/md.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct event {
    struct event *next;
    char type[32];
    char id[64];
    unsigned attempts; /* failed so far */
    size_t n;
    char body[]; /* n bytes */
} event_t;

typedef enum { SENT, RETRY, REFUSED } result_t;

struct outbox {
    outbox_opts_t o;
    char *url;
    uint8_t *secret;
    CURL *curl; /* the delivery thread's */
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    event_t *head, *tail;
    size_t queued;
    int stopping;
    time_t last_drop_log; /* drops are logged at most once a second */
    uint64_t drops_unlogged;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t discard(char *p, size_t size, size_t n, void *data)
{
    (void)p;
    (void)data;
    return size * n;
}

/* "sha256=" and the lowercase hex of HMAC-SHA256(secret, body). */
static int sign(const outbox_t *ob, const event_t *ev, char out[7 + 64 + 1])
{
    uint8_t mac[32];
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md || mbedtls_md_hmac(md, ob->secret, ob->o.secret_len, (const unsigned char *)ev->body,
                               ev->n, mac) != 0)
        return -1;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256=", 7);
    for (size_t i = 0; i < sizeof mac; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[7 + 2 * i + 1] = hex[mac[i] & 15];
    }
    out[7 + 64] = 0;
    return 0;
}

/* One attempt. why gets a short reason for a failure. */
static result_t deliver(outbox_t *ob, const event_t *ev, char *why, size_t whylen)
{
    char sig[7 + 64 + 1], h_sig[128], h_type[64], h_id[96];
    if (sign(ob, ev, sig) != 0) {
        snprintf(why, whylen, "cannot compute the signature");
        return REFUSED;
    }
    snprintf(h_sig, sizeof h_sig, "X-Framelog-Signature: %s", sig);
    snprintf(h_type, sizeof h_type, "X-Framelog-Event: %s", ev->type);
    snprintf(h_id, sizeof h_id, "X-Framelog-Delivery: %s", ev->id);
    struct curl_slist *hs = NULL, *t;
    const char *lines[] = {"Content-Type: application/json", h_sig, h_type, h_id,
                           "Expect:"}; /* no 100-continue round trip */
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!(t = curl_slist_append(hs, lines[i]))) {
            curl_slist_free_all(hs);
            snprintf(why, whylen, "out of memory");
            return RETRY;
        }
        hs = t;
    }
    CURL *c = ob->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)ev->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ev->n);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
        return RETRY;
    }
    if (status >= 200 && status < 300)
        return SENT;
    snprintf(why, whylen, "HTTP status %ld", status);
    if (status == 408 || status == 429 || status >= 500)
        return RETRY;
    return REFUSED;
}

/* Remove the head (the event just handled). Under mu. */
static void pop(outbox_t *ob)
{
    event_t *ev = ob->head;
    ob->head = ev->next;
    if (!ob->head)
        ob->tail = NULL;
    ob->queued--;
    free(ev);
}

static void wait_until(outbox_t *ob, int64_t at_ms)
{
    struct timespec ts = {.tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000};
    pthread_cond_timedwait(&ob->cv, &ob->mu, &ts);
}

static void *run(void *arg)
{
    outbox_t *ob = arg;
    const flh_host_t *h = ob->o.host;
    long backoff = ob->o.backoff_ms;
    int64_t retry_at = 0, drain_until = 0;
    int failing = 0;      /* failed attempts since the last success (0: healthy) */
    int drain_failed = 0; /* an attempt failed after stop was asked */
    char why[256];
    pthread_mutex_lock(&ob->mu);
    for (;;) {
        if (ob->stopping) {
            if (!drain_until)
                drain_until = mono_ms() + ob->o.drain_ms;
            if (!ob->head || drain_failed || mono_ms() >= drain_until)
                break;
        } else if (!ob->head) {
            pthread_cond_wait(&ob->cv, &ob->mu);
            continue;
        } else if (retry_at > mono_ms()) {
            wait_until(ob, retry_at);
            continue;
        }
        event_t *ev = ob->head; /* stays queued while in flight */
        pthread_mutex_unlock(&ob->mu);
        result_t res = deliver(ob, ev, why, sizeof why);
        pthread_mutex_lock(&ob->mu);
        if (res == SENT) {
            if (failing)
                h->log(ob->o.ctx, FLH_LOG_INFO, "%s answers again (after %d failed attempts)",
                       ob->url, failing);
            failing = 0;
            backoff = ob->o.backoff_ms;
            retry_at = 0;
            pop(ob);
            h->count(ob->o.ctx, "events_delivered", 1);
        } else if (res == REFUSED) {
            h->log(ob->o.ctx, FLH_LOG_WARN, "%s refused event %s (%s): given up", ob->url, ev->id,
                   why);
            pop(ob);
            h->count(ob->o.ctx, "events_failed", 1);
        } else {
            h->count(ob->o.ctx, "attempts_failed", 1);
            if (!failing++)
                h->log(ob->o.ctx, FLH_LOG_WARN, "cannot deliver to %s (%s): retrying", ob->url,
                       why);
            if (ob->stopping)
                drain_failed = 1;
            if (ob->o.attempts && ++ev->attempts >= ob->o.attempts) {
                h->log(ob->o.ctx, FLH_LOG_WARN, "event %s given up after %u attempts (%s)", ev->id,
                       ev->attempts, why);
                pop(ob);
                h->count(ob->o.ctx, "events_failed", 1);
            }
            retry_at = mono_ms() + backoff;
            backoff = backoff * 2 > ob->o.backoff_max_ms ? ob->o.backoff_max_ms : backoff * 2;
        }
    }
    if (ob->queued)
        h->log(ob->o.ctx, FLH_LOG_WARN, "stopping with %zu events not delivered to %s", ob->queued,
               ob->url);
    pthread_mutex_unlock(&ob->mu);
    return NULL;
}

int outbox_new(const outbox_opts_t *opts, outbox_t **out, char *err, size_t errlen)
{
    outbox_t *ob = calloc(1, sizeof *ob);
    pthread_condattr_t ca;
    int have_ca = 0, have_mu = 0, have_cv = 0;
    if (!ob)
        goto nomem;
    ob->o = *opts;
    ob->url = strdup(opts->url);
    ob->secret = malloc(opts->secret_len);
    if (!ob->url || !ob->secret)
        goto nomem;
    memcpy(ob->secret, opts->secret, opts->secret_len);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(ob->curl = curl_easy_init())) {
        snprintf(err, errlen, "cannot start libcurl");
        goto fail;
    }
    CURL *c = ob->curl;
    curl_easy_setopt(c, CURLOPT_URL, ob->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, opts->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, opts->timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "framelog-webhook/1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (pthread_condattr_init(&ca) != 0)
        goto nomem;
    have_ca = 1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_mutex_init(&ob->mu, NULL) != 0)
        goto nomem;
    have_mu = 1;
    if (pthread_cond_init(&ob->cv, &ca) != 0)
        goto nomem;
    have_cv = 1;
    if (pthread_create(&ob->thread, NULL, run, ob) != 0) {
        snprintf(err, errlen, "cannot start the delivery thread");
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    *out = ob;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    if (have_cv)
        pthread_cond_destroy(&ob->cv);
    if (have_mu)
        pthread_mutex_destroy(&ob->mu);
    if (have_ca)
        pthread_condattr_destroy(&ca);
    if (ob) {
        if (ob->curl)
            curl_easy_cleanup(ob->curl);
        free(ob->url);
        free(ob->secret);
        free(ob);
    }
    return -1;
}

int outbox_post(outbox_t *ob, const char *type, const char *id, const char *body, size_t n)
{
    const flh_host_t *h = ob->o.host;
    event_t *ev = NULL;
    pthread_mutex_lock(&ob->mu);
    if (ob->queued < ob->o.max_events)
        ev = malloc(sizeof *ev + n);
    if (!ev) {
        h->count(ob->o.ctx, "events_dropped", 1);
        time_t now = time(NULL);
        if (now != ob->last_drop_log) {
            h->log(ob->o.ctx, FLH_LOG_WARN, "queue full (%zu events for %s): event %s dropped%s",
                   ob->queued, ob->url, id,
                   ob->drops_unlogged ? ", and others since the last such line" : "");
            ob->last_drop_log = now;
            ob->drops_unlogged = 0;
        } else {
            ob->drops_unlogged++;
        }
        pthread_mutex_unlock(&ob->mu);
        return -1;
    }
    memset(ev, 0, sizeof *ev);
    snprintf(ev->type, sizeof ev->type, "%s", type);
    snprintf(ev->id, sizeof ev->id, "%s", id);
    ev->n = n;
    memcpy(ev->body, body, n);
    if (ob->tail)
        ob->tail->next = ev;
    else
        ob->head = ev;
    ob->tail = ev;
    ob->queued++;
    h->count(ob->o.ctx, "events_queued", 1);
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
    return 0;
}

void outbox_free(outbox_t *ob)
{
    if (!ob)
        return;
    pthread_mutex_lock(&ob->mu);
    ob->stopping = 1;
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
    pthread_join(ob->thread, NULL);
    while (ob->head)
        pop(ob);
    curl_easy_cleanup(ob->curl);
    pthread_cond_destroy(&ob->cv);
    pthread_mutex_destroy(&ob->mu);
    free(ob->url);
    free(ob->secret);
    free(ob);
}
