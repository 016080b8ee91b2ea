/*
 * samples/hooks/webhook — framelogd's events as signed JSON POSTs, so ops
 * tooling can react without C.
 *
 * Each event the hook gets becomes one JSON object POSTed to `url`
 * (outbox.h: bounded queue, retries with backoff, timeout, the
 * X-Framelog-Signature header). The objects (README.md has examples):
 *
 *   every event   "type", "id" (unique: a random prefix per start and a
 *                 counter), "time_ms" (when the hook saw it, epoch ms),
 *                 "stream"
 *   stream.started      "tracks": [{"number","type","codec_id", video:
 *                       "width","height", audio: "sample_rate","channels"}]
 *   stream.stopped      nothing more
 *   fragment.persisted  "fragment" (its number), "producer_ms",
 *                       "server_ms", "persisted_ms", "bytes", "frames"
 *   record.appended     "shard_id", "sequence" (decimal text),
 *                       "partition_key", "producer_ms", "bytes", and
 *                       "data" (base64) when it is at most record_data
 *                       bytes long
 *
 * Config: url (required), secret or secret_file (required), timeout_ms,
 * queue, backoff_ms, backoff_max_ms, attempts, drain_ms, record_data,
 * events (which kinds: stream+fragment+record). README.md beside this
 * file.
 *
 * Invariants: callbacks run on the hook's own thread, one at a time, and
 * only format and queue (outbox_post never waits for the network); the
 * outbox's thread does the POSTs. Strings are written as valid JSON
 * (control characters escaped, invalid UTF-8 replaced by U+FFFD).
 */
#include <framelog/hook.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "outbox.h"

#define WH_MAX_SECRET      4096
#define WH_MAX_RECORD_DATA (1u << 20) /* a record's largest size */

enum { EV_STREAM = 1, EV_FRAGMENT = 2, EV_RECORD = 4 };

typedef struct {
    const flh_host_t *host;
    flh_ctx_t *ctx;
    outbox_t *ob;
    unsigned kinds;     /* EV_* wanted */
    size_t record_data; /* include record data up to so many bytes */
    char id_prefix[17]; /* random, per start */
    uint64_t id_next;
} webhook_t;

/* ---- a growable string ---- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sb_t;

static void sb_put(sb_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sb_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = 1; /* only short, bounded pieces are printed */
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint32_t c;
    size_t len;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2, c = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3, c = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4, c = p[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
        (len == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    return len;
}

/* A JSON string of n bytes. */
static void sb_str(sb_t *b, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
            i++;
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
            i++;
        } else {
            size_t l = utf8_len(p + i, n - i);
            if (l)
                sb_put(b, s + i, l);
            else
                sb_put(b, "\xef\xbf\xbd", 3); /* U+FFFD for a byte that is not UTF-8 */
            i += l ? l : 1;
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_base64(sb_t *b, const uint8_t *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        q[0] = t[v >> 18 & 63];
        q[1] = t[v >> 12 & 63];
        q[2] = i + 1 < n ? t[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? t[v & 63] : '=';
        sb_put(b, q, 4);
    }
}

/* ---- events ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start an event's object: {"type":..,"id":..,"time_ms":..,"stream":..
 * (the caller adds members and ends it with event_send). */
static void event_begin(webhook_t *wh, sb_t *b, const char *type, const char *stream, char *id,
                        size_t idcap)
{
    snprintf(id, idcap, "%s-%" PRIu64, wh->id_prefix, wh->id_next++);
    sb_printf(b, "{\"type\":\"%s\",\"id\":\"%s\",\"time_ms\":%" PRId64 ",\"stream\":", type, id,
              now_ms());
    sb_str(b, stream, strlen(stream));
}

static void event_send(webhook_t *wh, sb_t *b, const char *type, const char *id)
{
    sb_put(b, "}", 1);
    if (b->oom)
        wh->host->count(wh->ctx, "events_dropped", 1);
    else
        outbox_post(wh->ob, type, id, b->p, b->n);
    free(b->p);
}

static void wh_started(void *self, const flh_stream_t *s)
{
    webhook_t *wh = self;
    if (!(wh->kinds & EV_STREAM))
        return;
    static const char *types[] = {"other", "video", "audio", "other"};
    sb_t b = {0};
    char id[64];
    event_begin(wh, &b, "stream.started", s->stream, id, sizeof id);
    sb_put(&b, ",\"tracks\":[", 11);
    for (size_t i = 0; i < s->n_tracks; i++) {
        const flh_track_t *t = &s->tracks[i];
        sb_printf(&b, "%s{\"number\":%" PRIu64 ",\"type\":\"%s\",\"codec_id\":", i ? "," : "",
                  t->number, types[t->type <= FLH_TRACK_OTHER ? t->type : 0]);
        sb_str(&b, t->codec_id ? t->codec_id : "", t->codec_id ? strlen(t->codec_id) : 0);
        if (t->type == FLH_TRACK_VIDEO)
            sb_printf(&b, ",\"width\":%u,\"height\":%u", t->width, t->height);
        else if (t->type == FLH_TRACK_AUDIO)
            sb_printf(&b, ",\"sample_rate\":%u,\"channels\":%u", t->sample_rate, t->channels);
        sb_put(&b, "}", 1);
    }
    sb_put(&b, "]", 1);
    event_send(wh, &b, "stream.started", id);
}

static void wh_stopped(void *self, const char *stream)
{
    webhook_t *wh = self;
    if (!(wh->kinds & EV_STREAM))
        return;
    sb_t b = {0};
    char id[64];
    event_begin(wh, &b, "stream.stopped", stream, id, sizeof id);
    event_send(wh, &b, "stream.stopped", id);
}

static void wh_persisted(void *self, const flh_fragment_t *f)
{
    webhook_t *wh = self;
    if (!(wh->kinds & EV_FRAGMENT))
        return;
    sb_t b = {0};
    char id[64];
    event_begin(wh, &b, "fragment.persisted", f->stream, id, sizeof id);
    sb_put(&b, ",\"fragment\":", 12);
    sb_str(&b, f->fragment, strlen(f->fragment));
    sb_printf(&b,
              ",\"producer_ms\":%" PRId64 ",\"server_ms\":%" PRId64 ",\"persisted_ms\":%" PRId64
              ",\"bytes\":%" PRIu64 ",\"frames\":%u",
              f->producer_ms, f->server_ns / 1000000, f->persisted_ns / 1000000, f->bytes,
              f->frames);
    event_send(wh, &b, "fragment.persisted", id);
}

static void wh_record(void *self, const flh_record_t *r)
{
    webhook_t *wh = self;
    if (!(wh->kinds & EV_RECORD))
        return;
    sb_t b = {0};
    char id[64];
    event_begin(wh, &b, "record.appended", r->stream, id, sizeof id);
    sb_printf(&b, ",\"shard_id\":\"shardId-%012u\",\"sequence\":\"%" PRIu64 "\",\"partition_key\":",
              r->shard, r->sequence);
    sb_str(&b, (const char *)r->partition_key.p, r->partition_key.n);
    sb_printf(&b, ",\"producer_ms\":%" PRId64 ",\"bytes\":%zu", r->producer_ms, r->data.n);
    if (r->data.n <= wh->record_data) {
        sb_put(&b, ",\"data\":\"", 9);
        sb_base64(&b, r->data.p, r->data.n);
        sb_put(&b, "\"", 1);
    }
    event_send(wh, &b, "record.appended", id);
}

/* ---- config ---- */

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || !end || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* events=stream+fragment+record (any of them, in any order). */
static int parse_kinds(const char *s, unsigned *out)
{
    unsigned k = 0;
    while (*s) {
        size_t n = strcspn(s, "+");
        if (n == 6 && strncmp(s, "stream", 6) == 0)
            k |= EV_STREAM;
        else if (n == 8 && strncmp(s, "fragment", 8) == 0)
            k |= EV_FRAGMENT;
        else if (n == 6 && strncmp(s, "record", 6) == 0)
            k |= EV_RECORD;
        else
            return -1;
        s += n;
        if (*s == '+')
            s++;
    }
    if (!k)
        return -1;
    *out = k;
    return 0;
}

/* The secret in a file: its bytes, less one trailing newline. */
static int read_secret(const char *path, uint8_t *buf, size_t cap, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t got = fread(buf, 1, cap, f);
    int bad = ferror(f) || !feof(f); /* unreadable, or longer than cap */
    fclose(f);
    if (bad)
        return -1;
    if (got && buf[got - 1] == '\n')
        got--;
    if (got && buf[got - 1] == '\r')
        got--;
    *n = got;
    return 0;
}

static int wh_init(const flh_host_t *host, flh_ctx_t *ctx, const flh_kv_t *config, size_t n,
                   void **self, char *err, size_t errlen)
{
    uint8_t secret[WH_MAX_SECRET + 1];
    size_t secret_len = 0;
    const char *url = NULL;
    long v;
    outbox_opts_t o = {.timeout_ms = 5000,
                       .max_events = 1000,
                       .backoff_ms = 500,
                       .backoff_max_ms = 30000,
                       .drain_ms = 2000,
                       .host = host,
                       .ctx = ctx};
    webhook_t *wh = calloc(1, sizeof *wh);
    if (!wh) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    wh->host = host;
    wh->ctx = ctx;
    wh->kinds = EV_STREAM | EV_FRAGMENT | EV_RECORD;
    wh->record_data = 4096;
    for (size_t i = 0; i < n; i++) {
        const char *k = config[i].key, *val = config[i].value;
        if (strcmp(k, "url") == 0 &&
            (strncmp(val, "http://", 7) == 0 || strncmp(val, "https://", 8) == 0)) {
            url = val;
        } else if (strcmp(k, "secret") == 0 && *val && strlen(val) <= WH_MAX_SECRET) {
            secret_len = strlen(val);
            memcpy(secret, val, secret_len);
        } else if (strcmp(k, "secret_file") == 0) {
            if (read_secret(val, secret, WH_MAX_SECRET + 1, &secret_len) != 0 ||
                secret_len > WH_MAX_SECRET) {
                snprintf(err, errlen, "cannot read a secret of at most %d bytes from %s",
                         WH_MAX_SECRET, val);
                goto fail;
            }
        } else if (strcmp(k, "timeout_ms") == 0 && parse_long(val, 1, 600000, &v) == 0) {
            o.timeout_ms = v;
        } else if (strcmp(k, "queue") == 0 && parse_long(val, 1, 1000000, &v) == 0) {
            o.max_events = (size_t)v;
        } else if (strcmp(k, "backoff_ms") == 0 && parse_long(val, 1, 3600000, &v) == 0) {
            o.backoff_ms = v;
        } else if (strcmp(k, "backoff_max_ms") == 0 && parse_long(val, 1, 3600000, &v) == 0) {
            o.backoff_max_ms = v;
        } else if (strcmp(k, "attempts") == 0 && parse_long(val, 0, 1000000, &v) == 0) {
            o.attempts = (unsigned)v;
        } else if (strcmp(k, "drain_ms") == 0 && parse_long(val, 0, 600000, &v) == 0) {
            o.drain_ms = v;
        } else if (strcmp(k, "record_data") == 0 &&
                   parse_long(val, 0, WH_MAX_RECORD_DATA, &v) == 0) {
            wh->record_data = (size_t)v;
        } else if (strcmp(k, "events") == 0 && parse_kinds(val, &wh->kinds) == 0) {
        } else {
            snprintf(err, errlen,
                     "bad %s=%s (webhook knows url=http[s]://..., secret=S or secret_file=PATH, "
                     "timeout_ms, queue, backoff_ms, backoff_max_ms, attempts, drain_ms, "
                     "record_data, events=stream+fragment+record)",
                     k, val);
            goto fail;
        }
    }
    if (!url || !secret_len) {
        snprintf(err, errlen, "url=http[s]://... and secret=S (or secret_file=PATH) are required");
        goto fail;
    }
    if (o.backoff_max_ms < o.backoff_ms)
        o.backoff_max_ms = o.backoff_ms;
    uint8_t rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        snprintf(err, errlen, "no random bytes for event ids");
        goto fail;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(wh->id_prefix + 2 * i, 3, "%02x", rnd[i]);
    o.url = url;
    o.secret = secret;
    o.secret_len = secret_len;
    if (outbox_new(&o, &wh->ob, err, errlen) != 0)
        goto fail;
    memset(secret, 0, sizeof secret);
    host->log(ctx, FLH_LOG_INFO,
              "POSTs%s%s%s events to %s (queue %zu, timeout %ld ms, backoff %ld..%ld ms)",
              wh->kinds & EV_STREAM ? " stream" : "", wh->kinds & EV_FRAGMENT ? " fragment" : "",
              wh->kinds & EV_RECORD ? " record" : "", url, o.max_events, o.timeout_ms, o.backoff_ms,
              o.backoff_max_ms);
    *self = wh;
    return 0;
fail:
    memset(secret, 0, sizeof secret);
    free(wh);
    return -1;
}

static void wh_stop(void *self)
{
    webhook_t *wh = self;
    outbox_free(wh->ob);
    free(wh);
}

static const flh_plugin_t webhook = {
    FLH_PLUGIN_VERSION,
    .name = "webhook",
    .description = "POSTs stream, fragment and record events as signed JSON to url=...",
    .init = wh_init,
    .stream_started = wh_started,
    .stream_stopped = wh_stopped,
    .fragment_persisted = wh_persisted,
    .record = wh_record,
    .stop = wh_stop,
};

__attribute__((visibility("default"))) const flh_plugin_t *framelog_hook(void)
{
    return &webhook;
}
