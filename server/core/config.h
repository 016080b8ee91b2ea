/*
 * server/config.h — framelogd's configuration: one table of options.
 *
 * Each option is a row (name, type, field, default, range, help) in
 * config.c; the parser, --help and the "effective configuration" log line
 * are all driven by that table, so an option is added in one place.
 */
#ifndef FL_SERVER_CONFIG_H
#define FL_SERVER_CONFIG_H

#include <stddef.h>

#include "common/bytes.h"
#include "common/diag.h"

#define FL_CONFIG_MAX_LISTEN 16
/* Event loops (--loops): each its own thread, lws context and libuv loop. */
#define FL_CONFIG_MAX_LOOPS 16
#define FL_CONFIG_MAX_LIST  16 /* values of a repeatable string option (--hook) */

/* A repeatable string option's values, in the order given. */
typedef struct {
    char *v[FL_CONFIG_MAX_LIST];
    int n;
} fl_config_list_t;

typedef struct {
    char host[256]; /* IPv4/IPv6 literal or name; brackets stripped */
    int port;       /* 0..65535; 0 lets the kernel choose */
} fl_listen_addr_t;

typedef struct {
    fl_listen_addr_t listen[FL_CONFIG_MAX_LISTEN];
    int n_listen;
    char *data_dir;
    char *master_key_file; /* the master key: at most one of these three */
    char *master_key_env;
    char *master_key_fd;
    char *tls_cert;
    char *tls_key;
    fl_diag_level_t log_level;
    long max_body_bytes;       /* largest request body a JSON API accepts */
    long max_connections;      /* open connections before new ones are refused */
    long max_fragment_bytes;   /* PutMedia: a fragment past it is refused (4001) */
    char *region;              /* in ARNs */
    char *account_id;          /* in ARNs */
    char *advertised_endpoint; /* GetDataEndpoint's answer, or NULL: the address
                                  a request came in on */
    long records_throttle;     /* 1: Kinesis' per-shard rates on data streams */
    long low_latency_hls;      /* 1: LIVE fMP4 HLS sessions are LL-HLS (needs --loops 1) */
    long loops;                /* event loops (default 1); 0: one per online core */

    /* limits (docs/security.md "Limits") */
    long header_timeout_s;            /* a request head must be complete within */
    long idle_timeout_s;              /* keep-alive idle between requests */
    long max_connections_per_address; /* open connections from one source address */
    long max_fragment_memory;         /* unfinished PutMedia fragments, all connections */
    long putmedia_max_connection_s;   /* PutMedia connection age (4003 past it) */
    long putmedia_max_bytes_per_s;    /* PutMedia upload rate per stream */
    long putmedia_max_connects_per_s; /* PutMedia connections per stream per second */
    long getmedia_max_readers;        /* open GetMedia readers per stream */
    fl_config_list_t hooks;           /* --hook PATH.so[,key=value...] (server/hooks/) */
    char *console_dir;                /* the web console's files, or NULL: the installed
                                         or source-tree copy (server/console/) */
    char *cors_origins;               /* origins pages may call from (core/cors.h), or
                                         NULL: any while every listener is loopback */
} fl_config_t;

/* Returned (positive) by fl_config_parse when --help or --version was given
 * and printed: the caller exits 0 without starting. */
#define FL_CONFIG_EXIT 1

/* Fill c with defaults, then apply argv. Returns 0 (run), FL_CONFIG_EXIT, or
 * FL_EINVAL with a one-line reason in err (NUL-terminated). --help and
 * --version print to the `out` stream. */
int fl_config_parse(fl_config_t *c, int argc, char **argv, void *out, char *err, size_t errlen);
void fl_config_free(fl_config_t *c);

/* Parse "HOST:PORT", "[V6]:PORT" or ":PORT"/"PORT" (host 127.0.0.1). */
int fl_config_parse_listen(const char *s, fl_listen_addr_t *out);

/* Is url "http(s)://host[:port]" with nothing after (no path)? 0 or
 * FL_EINVAL. */
int fl_config_check_endpoint(const char *url);

/* Is host a loopback address (127.0.0.0/8, ::1, "localhost")? */
int fl_config_host_is_loopback(const char *host);

/* One line naming every option and its effective value. */
void fl_config_describe(const fl_config_t *c, fl_buf_t *out);

#endif
