/*
 * server/config.c — the option table and its parser. See config.h.
 *
 * Flags take the forms `--name value` and `--name=value`. Repeatable
 * options (--listen) accumulate; the first --listen replaces the default.
 */
#include "server/core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/core/cors.h"
#include "storage/log.h"

typedef enum {
    OPT_LISTEN,
    OPT_STRING,
    OPT_LIST,
    OPT_LOGLEVEL,
    OPT_LONG,
    OPT_HELP,
    OPT_VERSION
} opt_type_t;

typedef struct {
    const char *name;
    opt_type_t type;
    size_t field;
    const char *def; /* default, as it would be written on the command line */
    long min, max;   /* for OPT_LONG */
    const char *metavar;
    const char *help;
} opt_t;

#define F(x) offsetof(fl_config_t, x)
static const opt_t fl_options[] = {
    {"listen", OPT_LISTEN, F(listen), "127.0.0.1:8080", 0, 0, "HOST:PORT",
     "address to listen on (repeatable; port 0 picks a free port)"},
    {"data-dir", OPT_STRING, F(data_dir), "./framelog-data", 0, 0, "DIR",
     "where streams are stored (created if missing)"},
    {"master-key-file", OPT_STRING, F(master_key_file), NULL, 0, 0, "FILE",
     "master key file outside the data dir (created 0600 if missing), so a copy of the data dir "
     "alone is unreadable; default: DIR/master.key"},
    {"master-key-env", OPT_STRING, F(master_key_env), NULL, 0, 0, "NAME",
     "read the master key from environment variable NAME (64 hex digits or 44 characters of "
     "base64; removed from the environment once read)"},
    {"master-key-fd", OPT_STRING, F(master_key_fd), NULL, 0, 0, "N",
     "read the master key from descriptor N to its end (hex, base64 or a key file's bytes)"},
    {"tls-cert", OPT_STRING, F(tls_cert), NULL, 0, 0, "FILE",
     "PEM certificate: serve HTTPS/WSS (with --tls-key)"},
    {"tls-key", OPT_STRING, F(tls_key), NULL, 0, 0, "FILE", "PEM private key for --tls-cert"},
    {"log-level", OPT_LOGLEVEL, F(log_level), "info", 0, 0, "LEVEL",
     "debug, info, warn, error or off"},
    {"max-body-bytes", OPT_LONG, F(max_body_bytes), "1048576", 1024, 1L << 30, "N",
     "largest request body of a JSON API call"},
    {"max-connections", OPT_LONG, F(max_connections), "4096", 1, 1000000, "N",
     "open connections before new ones are refused"},
    /* at most what storage takes as one record: a fragment within the
     * limit is never refused by storage (5001) */
    {"max-fragment-bytes", OPT_LONG, F(max_fragment_bytes), "50000000", 1024, FL_LOG_MAX_PAYLOAD,
     "N", "PutMedia: largest fragment as stored (ack error 4001 past it)"},
    /* limits that keep one client from hurting others (docs/security.md) */
    {"header-timeout", OPT_LONG, F(header_timeout_s), "10", 1, 3600, "SECONDS",
     "a connection that has not sent a whole request head by then is closed"},
    {"idle-timeout", OPT_LONG, F(idle_timeout_s), "30", 1, 3600, "SECONDS",
     "a kept-alive connection idle between requests this long is closed"},
    {"max-connections-per-address", OPT_LONG, F(max_connections_per_address), "1024", 1, 1000000,
     "N", "open connections from one source address before its new ones are refused"},
    {"max-fragment-memory", OPT_LONG, F(max_fragment_memory), "1073741824", 1 << 20, 1L << 40, "N",
     "PutMedia: bytes of unfinished fragments held across all connections (ack error 5000 past "
     "it)"},
    {"putmedia-max-connection-seconds", OPT_LONG, F(putmedia_max_connection_s), "2700", 1, 86400,
     "SECONDS", "PutMedia: a connection this old ends with ack error 4003, as AWS's 45 minutes"},
    {"putmedia-max-bytes-per-second", OPT_LONG, F(putmedia_max_bytes_per_s), "12500000", 1024,
     1L << 40, "N", "PutMedia: a stream's upload rate; a faster producer is read more slowly"},
    {"putmedia-max-connections-per-second", OPT_LONG, F(putmedia_max_connects_per_s), "5", 1,
     1000000, "N",
     "PutMedia: new connections to one stream per second (past it: 400 "
     "ConnectionLimitExceededException)"},
    {"getmedia-max-readers", OPT_LONG, F(getmedia_max_readers), "256", 1, 1000000, "N",
     "GetMedia: open readers of one stream (past it: 400 ConnectionLimitExceededException)"},
    {"region", OPT_STRING, F(region), "us-east-1", 0, 0, "NAME", "region named in stream ARNs"},
    {"account-id", OPT_STRING, F(account_id), "000000000000", 0, 0, "DIGITS",
     "account named in stream ARNs"},
    {"advertised-endpoint", OPT_STRING, F(advertised_endpoint), NULL, 0, 0, "URL",
     "GetDataEndpoint answers this scheme://host[:port] instead of the address a request came "
     "in on (behind a proxy or NAT)"},
    {"records-throttle", OPT_LONG, F(records_throttle), "1", 0, 1, "0|1",
     "data streams: 1 applies Kinesis' per-shard rates (1 MiB/s and 1,000 records/s in, 5 "
     "GetRecords/s and 2 MiB/s out); 0 turns them off for a single-tenant box"},
    /* docs/ARCHITECTURE.md, "Event loops" */
    {"loops", OPT_LONG, F(loops), "1", 0, FL_CONFIG_MAX_LOOPS, "N",
     "event loops serving connections, each on its own thread (0: one per core)"},
    {"low-latency-hls", OPT_LONG, F(low_latency_hls), "1", 0, 1, "0|1",
     "HLS: 1 serves LIVE fMP4 sessions as low-latency HLS (parts, blocking reloads); 0 as plain "
     "LIVE HLS"},
    {"hook", OPT_LIST, F(hooks), NULL, 0, 0, "PATH.so[,KEY=VALUE...]",
     "load an analytics hook (repeatable; docs/hooks.md)"},
    {"console-dir", OPT_STRING, F(console_dir), NULL, 0, 0, "DIR",
     "the web console's files (default: the installed copy, else the source tree's)"},
    {"cors-origins", OPT_STRING, F(cors_origins), NULL, 0, 0, "LIST",
     "origins whose pages may call the APIs and play streams (comma-separated "
     "scheme://host[:port], * for any, none for none); default: any origin while every listener "
     "is loopback, none otherwise"},
    {"help", OPT_HELP, 0, NULL, 0, 0, NULL, "print this help and exit"},
    {"version", OPT_VERSION, 0, NULL, 0, 0, NULL, "print the version and exit"},
};
#undef F
#define N_OPTIONS (sizeof(fl_options) / sizeof(fl_options[0]))

static int failf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return FL_EINVAL;
}

int fl_config_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

int fl_config_parse_listen(const char *s, fl_listen_addr_t *out)
{
    const char *port_s;
    size_t hlen;
    memset(out, 0, sizeof *out);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return FL_EINVAL;
        hlen = (size_t)(close - s - 1);
        if (hlen == 0 || hlen >= sizeof out->host)
            return FL_EINVAL;
        memcpy(out->host, s + 1, hlen);
        port_s = close + 2;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, out->host, &a6) != 1)
            return FL_EINVAL;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) {
            port_s = s;
            hlen = 0;
        } else {
            if (strchr(s, ':') != colon)
                return FL_EINVAL; /* bare IPv6 needs brackets */
            hlen = (size_t)(colon - s);
            port_s = colon + 1;
        }
        if (hlen >= sizeof out->host)
            return FL_EINVAL;
        if (hlen == 0)
            strcpy(out->host, "127.0.0.1");
        else
            memcpy(out->host, s, hlen);
        for (const char *c = out->host; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
                return FL_EINVAL;
    }
    if (!*port_s)
        return FL_EINVAL;
    char *end;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (errno || *end || port < 0 || port > 65535 || port_s[0] == '-' || port_s[0] == '+')
        return FL_EINVAL;
    out->port = (int)port;
    return 0;
}

int fl_config_check_endpoint(const char *url)
{
    const char *h;
    if (strncmp(url, "http://", 7) == 0)
        h = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        h = url + 8;
    else
        return FL_EINVAL;
    if (!*h || *h == ':' || *h == '/')
        return FL_EINVAL;
    /* a host (name, IPv4 or [IPv6]) and an optional port: no path, no
     * user, nothing a client would append /putMedia to wrongly */
    for (const char *c = h; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == ':' || *c == '[' || *c == ']'))
            return FL_EINVAL;
    return 0;
}

static void print_help(FILE *out)
{
    fprintf(out, "Usage: framelogd [OPTION]...\n"
                 "framelog video ingestion and storage server.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_t *o = &fl_options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(out, "  %-26s %s", left, o->help);
        if (o->def)
            fprintf(out, " (default: %s)", o->def);
        fputc('\n', out);
    }
    fprintf(out, "\nBound only to loopback with no access keys, framelogd runs open for local\n"
                 "development. See docs/ARCHITECTURE.md.\n");
}

/* Apply one option's value. `first_listen` tracks replacing the default. */
static int apply(fl_config_t *c, const opt_t *o, const char *val, int *listen_seen, char *err,
                 size_t errlen)
{
    char *base = (char *)c;
    switch (o->type) {
    case OPT_LISTEN: {
        if (!*listen_seen) {
            c->n_listen = 0;
            *listen_seen = 1;
        }
        if (c->n_listen >= FL_CONFIG_MAX_LISTEN)
            return failf(err, errlen, "--listen: at most %d addresses", FL_CONFIG_MAX_LISTEN);
        if (fl_config_parse_listen(val, &c->listen[c->n_listen]) != 0)
            return failf(err, errlen, "--listen: '%s' is not HOST:PORT (port 0..65535)", val);
        c->n_listen++;
        return 0;
    }
    case OPT_STRING: {
        char **field = (char **)(base + o->field);
        if (!*val)
            return failf(err, errlen, "--%s: empty value", o->name);
        char *dup = strdup(val);
        if (!dup)
            return failf(err, errlen, "out of memory");
        free(*field);
        *field = dup;
        return 0;
    }
    case OPT_LIST: {
        fl_config_list_t *field = (fl_config_list_t *)(base + o->field);
        if (!*val)
            return failf(err, errlen, "--%s: empty value", o->name);
        if (field->n >= FL_CONFIG_MAX_LIST)
            return failf(err, errlen, "--%s: at most %d", o->name, FL_CONFIG_MAX_LIST);
        if (!(field->v[field->n] = strdup(val)))
            return failf(err, errlen, "out of memory");
        field->n++;
        return 0;
    }
    case OPT_LOGLEVEL: {
        fl_diag_level_t *field = (fl_diag_level_t *)(base + o->field);
        if (fl_diag_level_parse(val, field) != 0)
            return failf(err, errlen, "--%s: '%s' is not one of debug, info, warn, error, off",
                         o->name, val);
        return 0;
    }
    case OPT_LONG: {
        long *field = (long *)(base + o->field);
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || !*val || *end)
            return failf(err, errlen, "--%s: '%s' is not a number", o->name, val);
        if (v < o->min || v > o->max)
            return failf(err, errlen, "--%s: %ld is out of range %ld..%ld", o->name, v, o->min,
                         o->max);
        *field = v;
        return 0;
    }
    default:
        return failf(err, errlen, "internal: bad option type");
    }
}

void fl_config_free(fl_config_t *c)
{
    if (!c)
        return;
    free(c->data_dir);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->region);
    free(c->account_id);
    free(c->advertised_endpoint);
    for (int i = 0; i < c->hooks.n; i++)
        free(c->hooks.v[i]);
    c->hooks.n = 0;
    free(c->console_dir);
    c->console_dir = NULL;
    free(c->cors_origins);
    c->cors_origins = NULL;
    c->data_dir = c->tls_cert = c->tls_key = c->region = c->account_id = NULL;
    c->advertised_endpoint = NULL;
    free(c->master_key_file);
    free(c->master_key_env);
    free(c->master_key_fd);
    c->master_key_file = c->master_key_env = c->master_key_fd = NULL;
}

int fl_config_parse(fl_config_t *c, int argc, char **argv, void *out_stream, char *err,
                    size_t errlen)
{
    FILE *out = out_stream ? out_stream : stdout;
    int listen_seen = 0, rc;
    memset(c, 0, sizeof *c);
    err[0] = 0;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_t *o = &fl_options[i];
        if (o->def && (rc = apply(c, o, o->def, &listen_seen, err, errlen)) != 0)
            goto fail;
    }
    listen_seen = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == 0) {
            rc = failf(err, errlen, "unexpected argument '%s' (see --help)", arg);
            goto fail;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = NULL;
        for (size_t k = 0; k < N_OPTIONS; k++)
            if (strlen(fl_options[k].name) == nlen && strncmp(fl_options[k].name, name, nlen) == 0)
                o = &fl_options[k];
        if (!o) {
            rc = failf(err, errlen, "unknown option '--%.*s' (see --help)", (int)nlen, name);
            goto fail;
        }
        if (o->type == OPT_HELP || o->type == OPT_VERSION) {
            if (eq) {
                rc = failf(err, errlen, "--%s takes no value", o->name);
                goto fail;
            }
            if (o->type == OPT_HELP)
                print_help(out);
            else
                fprintf(out, "framelogd %s\n", FL_VERSION);
            fl_config_free(c);
            return FL_CONFIG_EXIT;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            rc = failf(err, errlen, "--%s needs a value (%s)", o->name, o->metavar);
            goto fail;
        }
        if ((rc = apply(c, o, val, &listen_seen, err, errlen)) != 0)
            goto fail;
    }

    for (const char *p = c->region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            rc = failf(err, errlen, "--region: '%s' must be [a-z0-9-]+", c->region);
            goto fail;
        }
    for (const char *p = c->account_id; *p; p++)
        if (*p < '0' || *p > '9' || p - c->account_id >= 20) {
            rc = failf(err, errlen, "--account-id: '%s' must be 1 to 20 digits", c->account_id);
            goto fail;
        }
    if (c->advertised_endpoint && fl_config_check_endpoint(c->advertised_endpoint) != 0) {
        rc = failf(err, errlen, "--advertised-endpoint: '%s' is not http(s)://host[:port]",
                   c->advertised_endpoint);
        goto fail;
    }
    if (c->cors_origins) {
        fl_cors_t cors;
        if ((rc = fl_cors_parse(c->cors_origins, NULL, &cors, err, errlen)) != 0)
            goto fail;
    }
    if (!c->tls_cert != !c->tls_key) {
        rc = failf(err, errlen, "--tls-cert and --tls-key go together");
        goto fail;
    }
    return 0;

fail:
    fl_config_free(c);
    return rc;
}

void fl_config_describe(const fl_config_t *c, fl_buf_t *out)
{
    fl_buf_append_str(out, "config:");
    for (int i = 0; i < c->n_listen; i++) {
        const fl_listen_addr_t *l = &c->listen[i];
        int v6 = strchr(l->host, ':') != NULL;
        fl_buf_printf(out, " listen=%s%s%s:%d", v6 ? "[" : "", l->host, v6 ? "]" : "", l->port);
    }
    fl_buf_printf(out,
                  " data-dir=%s tls-cert=%s tls-key=%s log-level=%s max-body-bytes=%ld"
                  " max-connections=%ld max-fragment-bytes=%ld region=%s account-id=%s"
                  " advertised-endpoint=%s",
                  c->data_dir, c->tls_cert ? c->tls_cert : "-", c->tls_key ? c->tls_key : "-",
                  fl_diag_level_name(c->log_level), c->max_body_bytes, c->max_connections,
                  c->max_fragment_bytes, c->region, c->account_id,
                  c->advertised_endpoint ? c->advertised_endpoint : "-");
    fl_buf_printf(out, " loops=%ld low-latency-hls=%ld", c->loops, c->low_latency_hls);
    fl_buf_printf(out,
                  " header-timeout=%ld idle-timeout=%ld max-connections-per-address=%ld"
                  " max-fragment-memory=%ld putmedia-max-connection-seconds=%ld"
                  " putmedia-max-bytes-per-second=%ld putmedia-max-connections-per-second=%ld"
                  " getmedia-max-readers=%ld",
                  c->header_timeout_s, c->idle_timeout_s, c->max_connections_per_address,
                  c->max_fragment_memory, c->putmedia_max_connection_s, c->putmedia_max_bytes_per_s,
                  c->putmedia_max_connects_per_s, c->getmedia_max_readers);
    for (int i = 0; i < c->hooks.n; i++)
        fl_buf_printf(out, " hook=%s", c->hooks.v[i]);
    fl_buf_printf(out, " console-dir=%s", c->console_dir ? c->console_dir : "-");
    fl_buf_printf(out, " cors-origins=%s", c->cors_origins ? c->cors_origins : "-");
}
