/*
 * producer-sdk/client.c — the client: endpoint, credentials, allocator and
 * log; signed requests; the control-plane calls (CreateStream,
 * DescribeStream); error names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/awstime.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/json.h"
#include "internal.h"
#include "sigv4_sign.h"

const char *flp_strerror(int err)
{
    switch (err) {
    case FLP_OK:
        return "success";
    case FLP_ENOMEM:
        return "out of memory";
    case FLP_EINVAL:
        return "invalid argument";
    case FLP_EIO:
        return "I/O error";
    case FLP_ENOSPC:
        return "the content store is full";
    case FLP_ECORRUPT:
        return "stored bytes failed their integrity check";
    case FLP_EMALFORMED:
        return "malformed input";
    case FLP_ENOTFOUND:
        return "no such stream";
    case FLP_EEXISTS:
        return "the stream exists already";
    case FLP_ECLOSED:
        return "closed";
    case FLP_ECRYPTO:
        return "a cryptographic operation failed";
    case FLP_ESTATE:
        return "not valid in the current state";
    case FLP_ETIMEDOUT:
        return "timed out";
    case FLP_ESERVER:
        return "the server answered with an error";
    case FLP_ECONNECT:
        return "the server could not be reached";
    default:
        return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

/* ---- allocator and log ---- */

static void *def_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}
static void *def_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n);
}
static void def_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void *flp_alloc(flp_client_t *c, size_t n)
{
    void *p = c->alloc.malloc_fn(c->alloc.ctx, n ? n : 1);
    if (p)
        memset(p, 0, n);
    return p;
}

void flp_free(flp_client_t *c, void *p)
{
    if (p)
        c->alloc.free_fn(c->alloc.ctx, p);
}

char *flp_strdup(flp_client_t *c, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = flp_alloc(c, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void flp_logf(flp_client_t *c, flp_log_level_t level, const char *fmt, ...)
{
    if (!c->log || level > c->log_level)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->log(c->log_ctx, level, line);
}

/* ---- client ---- */

/* "https://host:port/..." -> scheme, host, port. */
static int parse_endpoint(flp_client_t *c, const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return FLP_EINVAL;
    size_t sl = (size_t)(p - url);
    if (sl == 5 && strncmp(url, "https", 5) == 0)
        strcpy(c->scheme, "https");
    else if (sl == 4 && strncmp(url, "http", 4) == 0)
        strcpy(c->scheme, "http");
    else if (sl == 3 && strncmp(url, "wss", 3) == 0)
        strcpy(c->scheme, "https");
    else if (sl == 2 && strncmp(url, "ws", 2) == 0)
        strcpy(c->scheme, "http");
    else
        return FLP_EINVAL;
    p += 3;
    const char *end = p + strcspn(p, "/?");
    const char *colon = NULL;
    if (*p == '[') { /* [v6]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return FLP_EINVAL;
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
    }
    const char *hend = colon ? colon : end;
    if (*p == '[') { /* the address without its brackets */
        p++;
        hend = memchr(p, ']', (size_t)(end - p));
    }
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl >= sizeof c->host)
        return FLP_EINVAL;
    memcpy(c->host, p, hl);
    c->host[hl] = 0;
    c->port = strcmp(c->scheme, "https") == 0 ? 443 : 80;
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != end || port <= 0 || port > 65535)
            return FLP_EINVAL;
        c->port = (int)port;
    }
    /* the Host header as the transport sends it (and as it is signed) */
    snprintf(c->host_header, sizeof c->host_header, strchr(c->host, ':') ? "[%s]:%d" : "%s:%d",
             c->host, c->port);
    return 0;
}

int flp_client_new(const flp_client_config_t *cfg, flp_client_t **out)
{
    *out = NULL;
    if (!cfg || !cfg->endpoint)
        return FLP_EINVAL;
    const flp_allocator_t *a = cfg->allocator;
    if (a && (!a->malloc_fn || !a->realloc_fn || !a->free_fn))
        return FLP_EINVAL;
    if ((cfg->access_key == NULL) != (cfg->secret_key == NULL))
        return FLP_EINVAL;
    flp_allocator_t alloc = a ? *a : (flp_allocator_t){def_malloc, def_realloc, def_free, NULL};
    flp_client_t *c = alloc.malloc_fn(alloc.ctx, sizeof *c);
    if (!c)
        return FLP_ENOMEM;
    memset(c, 0, sizeof *c);
    c->alloc = alloc;
    c->log = cfg->log;
    c->log_ctx = cfg->log_ctx;
    c->log_level = cfg->log_level;
    c->transport = cfg->transport ? cfg->transport : flp_transport_lws();
    int err = parse_endpoint(c, cfg->endpoint);
    if (err) {
        flp_logf(c, FLP_LOG_ERROR, "endpoint \"%s\" is not scheme://host[:port]", cfg->endpoint);
        goto fail;
    }
    snprintf(c->region, sizeof c->region, "%s", cfg->region ? cfg->region : "us-east-1");
    err = FLP_ENOMEM;
    if ((cfg->access_key && !(c->access_key = flp_strdup(c, cfg->access_key))) ||
        (cfg->secret_key && !(c->secret_key = flp_strdup(c, cfg->secret_key))) ||
        (cfg->session_token && !(c->session_token = flp_strdup(c, cfg->session_token))) ||
        (cfg->ca_file && !(c->ca_file = flp_strdup(c, cfg->ca_file))))
        goto fail;
    *out = c;
    return 0;
fail:
    flp_client_free(c);
    return err;
}

void flp_client_free(flp_client_t *c)
{
    if (!c)
        return;
    flp_free(c, c->access_key);
    flp_free(c, c->secret_key);
    flp_free(c, c->session_token);
    flp_free(c, c->ca_file);
    c->alloc.free_fn(c->alloc.ctx, c);
}

int flp_client_prepare(flp_client_t *c, flp_request_t *req, const char *method, const char *path,
                       const flp_header_t *extra, size_t n_extra, flp_header_t *hdrs,
                       flp_sign_scratch_t *scratch, const uint8_t *body, size_t body_len,
                       int sign_body)
{
    memset(req, 0, sizeof *req);
    req->scheme = c->scheme;
    req->host = c->host;
    req->port = c->port;
    req->method = method;
    req->path = path;
    req->body = body;
    req->body_len = body_len;
    req->ca_file = c->ca_file;
    req->timeout_ms = 10000;
    size_t n = 0;
    for (size_t i = 0; i < n_extra; i++)
        hdrs[n++] = extra[i];
    if (c->access_key) {
        flp_sigv4_request_t sr = {
            .method = method,
            .path = path,
            .host = c->host_header,
            .headers = extra,
            .n_headers = n_extra,
            .body = sign_body ? body : NULL,
            .body_len = sign_body ? body_len : 0,
            .region = c->region,
            .service = "kinesisvideo",
            .access_key = c->access_key,
            .secret_key = c->secret_key,
            .session_token = c->session_token,
            .now = time(NULL),
        };
        flp_sigv4_result_t res;
        int err = flp_sigv4_sign(&sr, &res);
        if (err)
            return err;
        memcpy(scratch->amz_date, res.amz_date, sizeof scratch->amz_date);
        memcpy(scratch->authorization, res.authorization, sizeof scratch->authorization);
        memcpy(scratch->payload_hash, res.payload_hash, sizeof scratch->payload_hash);
        hdrs[n++] = (flp_header_t){"x-amz-date", scratch->amz_date};
        hdrs[n++] = (flp_header_t){"authorization", scratch->authorization};
        hdrs[n++] = (flp_header_t){"x-amz-content-sha256", scratch->payload_hash};
        if (c->session_token)
            hdrs[n++] = (flp_header_t){"x-amz-security-token", c->session_token};
    }
    req->headers = hdrs;
    req->n_headers = n;
    return 0;
}

void flp_error_message(const char *body, size_t n, char *msg, size_t cap)
{
    if (!msg || !cap)
        return;
    msg[0] = 0;
    fl_json_doc_t *doc = NULL;
    fl_json_limits_t lim = {.max_depth = 8, .max_values = 256, .max_string = 4096};
    if (fl_json_parse(fl_slice(body, n), &lim, &doc, NULL) == 0) {
        const fl_json_t *root = fl_json_root(doc);
        const fl_json_t *t = fl_json_get(root, "__type");
        const fl_json_t *m = fl_json_get(root, "message");
        if (!m)
            m = fl_json_get(root, "Message");
        snprintf(msg, cap, "%s%s%s", t && t->type == FL_JSON_STRING ? t->str : "",
                 t && m ? ": " : "", m && m->type == FL_JSON_STRING ? m->str : "");
        fl_json_free(doc);
    }
    if (!msg[0])
        snprintf(msg, cap, "%.*s", (int)(n < 200 ? n : 200), body);
    size_t l = strlen(msg);
    snprintf(msg + l, cap - l, "%s", flp_clock_hint(msg));
}

const char *flp_clock_hint(const char *msg)
{
    /* the server's words for a request dated outside its 5 minutes (AWS's) */
    if (strstr(msg, "Signature expired"))
        return " (this device's clock is more than 5 minutes behind the server's: set the "
               "clock, e.g. with NTP)";
    if (strstr(msg, "Signature not yet current"))
        return " (this device's clock is more than 5 minutes ahead of the server's: set the "
               "clock, e.g. with NTP)";
    return "";
}

/* ---- control plane ---- */

/* POST a JSON body to path: the status and the reply in resp. */
static int post_json(flp_client_t *c, const char *path, const fl_buf_t *body, int *status,
                     char *resp, size_t cap, size_t *resp_len)
{
    flp_header_t extra[] = {{"content-type", "application/json"}};
    flp_header_t hdrs[8];
    flp_sign_scratch_t scratch;
    flp_request_t req;
    int err =
        flp_client_prepare(c, &req, "POST", path, extra, 1, hdrs, &scratch, body->p, body->n, 1);
    if (err)
        return err;
    err = c->transport->http(c->transport->ctx, &req, status, resp, cap - 1, resp_len);
    if (err) {
        flp_logf(c, FLP_LOG_WARN, "POST %s to %s:%d: %s", path, c->host, c->port,
                 flp_strerror(err));
        return err == FLP_ETIMEDOUT ? err : FLP_ECONNECT;
    }
    resp[*resp_len] = 0;
    return 0;
}

static int server_error(flp_client_t *c, const char *op, int status, const char *resp, size_t n,
                        char *msg, size_t msgcap)
{
    char m[512];
    flp_error_message(resp, n, m, sizeof m);
    flp_logf(c, FLP_LOG_WARN, "%s: HTTP %d %s", op, status, m);
    if (msg && msgcap)
        snprintf(msg, msgcap, "%s", m);
    if (strstr(m, "ResourceInUseException"))
        return FLP_EEXISTS;
    if (status == 404 || strstr(m, "ResourceNotFoundException"))
        return FLP_ENOTFOUND;
    return FLP_ESERVER;
}

int flp_create_stream(flp_client_t *c, const char *name, const char *media_type,
                      uint32_t retention_hours, char *msg, size_t msgcap)
{
    if (msg && msgcap)
        msg[0] = 0;
    if (!c || !name || !*name)
        return FLP_EINVAL;
    fl_buf_t b;
    fl_buf_init(&b, 16384);
    fl_buf_append_str(&b, "{\"StreamName\":");
    fl_json_write_string(&b, fl_slice_str(name));
    if (media_type) {
        fl_buf_append_str(&b, ",\"MediaType\":");
        fl_json_write_string(&b, fl_slice_str(media_type));
    }
    char num[32];
    snprintf(num, sizeof num, ",\"DataRetentionInHours\":%u}", retention_hours);
    fl_buf_append_str(&b, num);
    int err = b.err;
    char resp[2048];
    size_t n = 0;
    int status = 0;
    if (!err)
        err = post_json(c, "/createStream", &b, &status, resp, sizeof resp, &n);
    fl_buf_free(&b);
    if (err)
        return err;
    if (status == 200) {
        flp_logf(c, FLP_LOG_INFO, "stream %s created", name);
        return 0;
    }
    return server_error(c, "CreateStream", status, resp, n, msg, msgcap);
}

static void copy_str(const fl_json_t *o, const char *key, char *dst, size_t cap)
{
    const fl_json_t *v = fl_json_get(o, key);
    if (v && v->type == FL_JSON_STRING)
        snprintf(dst, cap, "%s", v->str);
}

int flp_describe_stream(flp_client_t *c, const char *name, flp_stream_info_t *out, char *msg,
                        size_t msgcap)
{
    if (msg && msgcap)
        msg[0] = 0;
    if (!c || !name || !*name || !out)
        return FLP_EINVAL;
    memset(out, 0, sizeof *out);
    fl_buf_t b;
    fl_buf_init(&b, 16384);
    fl_buf_append_str(&b, "{\"StreamName\":");
    fl_json_write_string(&b, fl_slice_str(name));
    fl_buf_append_str(&b, "}");
    int err = b.err;
    char resp[8192];
    size_t n = 0;
    int status = 0;
    if (!err)
        err = post_json(c, "/describeStream", &b, &status, resp, sizeof resp, &n);
    fl_buf_free(&b);
    if (err)
        return err;
    if (status != 200)
        return server_error(c, "DescribeStream", status, resp, n, msg, msgcap);
    fl_json_doc_t *doc = NULL;
    fl_json_limits_t lim = {.max_depth = 8, .max_values = 1024, .max_string = 4096};
    if (fl_json_parse(fl_slice(resp, n), &lim, &doc, NULL) != 0)
        return FLP_EMALFORMED;
    const fl_json_t *info = fl_json_get(fl_json_root(doc), "StreamInfo");
    if (!info) {
        fl_json_free(doc);
        return FLP_EMALFORMED;
    }
    copy_str(info, "StreamName", out->name, sizeof out->name);
    copy_str(info, "StreamARN", out->arn, sizeof out->arn);
    copy_str(info, "MediaType", out->media_type, sizeof out->media_type);
    copy_str(info, "Status", out->status, sizeof out->status);
    int64_t h = 0;
    if (fl_json_int64(fl_json_get(info, "DataRetentionInHours"), &h) == 0 && h >= 0)
        out->retention_hours = (uint32_t)h;
    fl_json_free(doc);
    return 0;
}

/* "1700000000.123" (epoch seconds, as ListFragments writes them) -> ms,
 * exactly: digits, then at most 9 decimals (below 1 ms cut off). */
/* A JSON timestamp (epoch seconds) in ms, exactly (common/awstime.h). */
static int epoch_ms(const fl_json_t *v, int64_t *out)
{
    int64_t ns;
    if (!v || v->type != FL_JSON_NUMBER || fl_awstime_parse_json(v, &ns) != 0)
        return FLP_EMALFORMED;
    *out = ns / 1000000;
    return 0;
}

#define END_LOOKBACK_MS 30000 /* longer than a fragment may last (20 s) */
#define END_MAX_PAGES   64
#define END_AHEAD_S     (100LL * 366 * 86400) /* "ahead of the clock": a century */

int flp_stream_end(flp_client_t *c, const char *name, int64_t *end_ms, char *msg, size_t msgcap)
{
    if (msg && msgcap)
        msg[0] = 0;
    if (!c || !name || !*name || !end_ms)
        return FLP_EINVAL;
    *end_ms = 0;
    const size_t cap = 256 * 1024; /* a page of 1000 fragments is ~170 KB */
    char *resp = flp_alloc(c, cap);
    if (!resp)
        return FLP_ENOMEM;
    int64_t from = fl_time_real_ns() / 1000000 - END_LOOKBACK_MS, end = 0;
    char token[128] = "";
    int err = 0;
    for (int page = 0; page < END_MAX_PAGES && !err; page++) {
        fl_buf_t b;
        fl_buf_init(&b, 16384);
        fl_buf_append_str(&b, "{\"StreamName\":");
        fl_json_write_string(&b, fl_slice_str(name));
        fl_buf_printf(&b,
                      ",\"MaxResults\":1000,\"FragmentSelector\":{\"FragmentSelectorType\":"
                      "\"PRODUCER_TIMESTAMP\",\"TimestampRange\":{\"StartTimestamp\":%lld.%03lld,"
                      "\"EndTimestamp\":%lld}}",
                      (long long)(from / 1000), (long long)(from % 1000),
                      (long long)(from / 1000 + END_AHEAD_S));
        if (token[0]) {
            fl_buf_append_str(&b, ",\"NextToken\":");
            fl_json_write_string(&b, fl_slice_str(token));
        }
        fl_buf_append_str(&b, "}");
        size_t n = 0;
        int status = 0;
        err = b.err;
        if (!err)
            err = post_json(c, "/listFragments", &b, &status, resp, cap, &n);
        fl_buf_free(&b);
        if (err)
            break;
        if (status != 200) {
            err = server_error(c, "ListFragments", status, resp, n, msg, msgcap);
            break;
        }
        fl_json_doc_t *doc = NULL;
        fl_json_limits_t lim = {.max_depth = 8, .max_values = 16384, .max_string = 4096};
        if (fl_json_parse(fl_slice(resp, n), &lim, &doc, NULL) != 0) {
            err = FLP_EMALFORMED;
            break;
        }
        const fl_json_t *root = fl_json_root(doc), *list = fl_json_get(root, "Fragments");
        if (!list || list->type != FL_JSON_ARRAY)
            err = FLP_EMALFORMED;
        for (const fl_json_t *f = list ? list->child : NULL; f && !err; f = f->next) {
            int64_t ts, len = 0;
            if (epoch_ms(fl_json_get(f, "ProducerTimestamp"), &ts) != 0) {
                err = FLP_EMALFORMED;
                break;
            }
            const fl_json_t *l = fl_json_get(f, "FragmentLengthInMilliseconds");
            if (l && (fl_json_int64(l, &len) != 0 || len < 0 || len > 3600000))
                len = 0;
            if (ts + len > end)
                end = ts + len;
        }
        const fl_json_t *next = fl_json_get(root, "NextToken");
        token[0] = 0;
        if (!err && next && next->type == FL_JSON_STRING && next->len < sizeof token)
            memcpy(token, next->str, next->len + 1);
        fl_json_free(doc);
        if (!token[0])
            break;
    }
    flp_free(c, resp);
    if (!err)
        *end_ms = end;
    return err;
}
