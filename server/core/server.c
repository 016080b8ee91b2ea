/*
 * server/core/server.c — listeners, the loop, signals, modules and shutdown.
 *
 * Each loop is libuv's, run by us and given to libwebsockets as a "foreign"
 * loop (epoll: a wake-up costs what is ready, not every connection, as
 * lws's own poll() loop does). lws 4.1.6 here is built with LWS_MAX_SMP 1
 * (one service thread per context), so --loops N makes N contexts, each on
 * its own libuv loop and thread, each listening on every --listen address
 * with LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE (SO_REUSEPORT): the kernel
 * spreads new connections over the loops' listen sockets, and a connection
 * stays on the loop that accepted it. TLS listeners accept on framelogd's
 * own listen sockets with one loop too, so that h2tls.c sees every
 * ClientHello before lws's TLS (HTTP/2 by ALPN h2). Loop 0 runs on fl_server_run's
 * thread and also takes signals and storage completions; a completion for
 * an append made on another loop is posted to that loop's inbox (a
 * lock-free stack, woken by uv_async), which is how anything crosses loops.
 * SIGINT and SIGTERM are
 * blocked in every thread and read from a signalfd that the loop adopts as
 * a raw file, so a stop request is an ordinary loop event: the loop sees it,
 * uv_stop() ends uv_run(), and lws_context_destroy() closes every
 * connection (then the loop runs once more so lws's handles finish closing).
 * Other threads ask for a stop with fl_server_stop(), which sets the flag and
 * wakes every loop through its uv_async; each loop then leaves uv_run.
 *
 * Start-up checks, each ending in a one-line reason: the configuration's
 * security (non-loopback listeners need TLS and access keys), the TLS files,
 * the data dir (created, and probed for writing), each listener's address
 * (probed with bind(2) first so a busy port is named as such).
 */
#include "server/core/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "server/core/h2.h"
#include "server/core/h2tls.h"
#include "server/core/listen.h"
#include "server/core/master_key.h"
#include "server/core/server_internal.h"
#include "server/core/tls.h"
#include "server/core/token.h"

static int failf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* SIGHUP: each loop reloads the certificate into its own context, on its
 * own thread (lws's SSL_CTXs are its context's), and, once they loaded
 * there, makes its HTTP/2 SSL_CTX anew from the same files (h2tls.c;
 * connections open keep the one they were made from). */
typedef struct {
    fl_post_t post;
    struct fl_server *s;
} tls_reload_msg_t;

static void tls_reload_run(fl_post_t *p)
{
    tls_reload_msg_t *m = (tls_reload_msg_t *)p;
    fl_loop_t *l = fl_server_this_loop(m->s);
    if (l->ctx && fl_tls_reload(l->ctx, m->s->cfg->tls_cert, m->s->cfg->tls_key) == 0 &&
        l->tls_h2) {
        SSL_CTX *h2 = fl_tls_h2_ctx_new(m->s->cfg->tls_cert, m->s->cfg->tls_key);
        if (h2) {
            SSL_CTX_free(l->tls_h2);
            l->tls_h2 = h2;
        }
    }
    free(m);
}

static void tls_reload_all(struct fl_server *s)
{
    for (int i = 0; i < s->n_loops; i++) {
        tls_reload_msg_t *m = calloc(1, sizeof *m);
        if (!m) {
            fl_error("tls: SIGHUP: out of memory: loop %d keeps its certificate", i);
            continue;
        }
        m->post.fn = tls_reload_run;
        m->s = s;
        fl_server_post(s, i, &m->post);
    }
}

static int signal_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    (void)user;
    (void)in;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE: {
        struct signalfd_siginfo si;
        ssize_t n = read(s->signal_fd, &si, sizeof si);
        if (n == (ssize_t)sizeof si && si.ssi_signo == SIGHUP) {
            tls_reload_all(s);
        } else if (n == (ssize_t)sizeof si) {
            fl_info("stopping on %s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            atomic_store(&s->stop, 1);
            fl_server_loop_stop(s);
        }
        return 0;
    }
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        s->signal_fd = -1; /* lws closed it */
        return 0;
    default:
        return 0;
    }
}

/* Hand each queued storage completion to the fl_completion_t its append
 * carried (loop thread, or the stopping thread at the end). */
static void dispatch_completions(struct fl_server *s)
{
    fl_log_completion_t c[64];
    size_t n;
    do {
        n = 0;
        if (fl_store_poll_completions(s->store, c, 64, &n) != 0)
            break;
        for (size_t i = 0; i < n; i++) {
            fl_completion_t *cb = c[i].data;
            if (!cb)
                continue;
            if (cb->loop == fl_server_loop()) {
                cb->done(cb, c[i].status, c[i].seq);
            } else {
                cb->status = c[i].status;
                cb->seq = c[i].seq;
                fl_server_post(s, cb->loop, &cb->post);
            }
        }
    } while (n == 64);
}

static void completion_posted(fl_post_t *p)
{
    fl_completion_t *c = (fl_completion_t *)((char *)p - offsetof(fl_completion_t, post));
    c->done(c, c->status, c->seq);
}

void fl_completion_init(fl_completion_t *c,
                        void (*done)(fl_completion_t *c, int status, uint64_t seq))
{
    c->done = done;
    c->loop = fl_server_loop();
    c->post.fn = completion_posted;
}

/* The store's completion eventfd became readable. */
static int completion_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                               void *in, size_t len)
{
    struct fl_server *s = lws_context_user(lws_get_context(wsi));
    (void)user;
    (void)in;
    (void)len;
    if (reason != LWS_CALLBACK_RAW_RX_FILE)
        return 0;
    dispatch_completions(s);
    return 0;
}

/* The protocols every vhost serves: HTTP first (lws's default), then each
 * module's WebSocket subprotocols, then the core's raw descriptors. */
static int build_protocols(struct fl_server *s, char *err, size_t errlen)
{
    static const struct lws_protocols http = {
        "http", fl_http_callback, sizeof(fl_http_req_t), 0, 0, NULL, 0};
    static const struct lws_protocols raw[] = {
        {"fl-signal", signal_callback, 0, 0, 0, NULL, 0},
        {"fl-store", completion_callback, 0, 0, 0, NULL, 0},
        {"fl-refuse", fl_refuse_callback, 0, 0, 0, NULL, 0},
        /* the listeners' accept protocol (listen.c): lws gives a new
         * connection this protocol's session data and, when an HTTP head
         * on it never completes, closes it through the http callback with
         * that same data: so it is as large as a request (zeroed, it reads
         * as a request that never began) */
        {"fl-h2", fl_h2_callback,
         sizeof(fl_h2_pss_t) > sizeof(fl_http_req_t) ? sizeof(fl_h2_pss_t) : sizeof(fl_http_req_t),
         0, 0, NULL, 0},
        /* TLS listeners' new connections, watched by h2tls.c */
        {"fl-tls", fl_h2tls_callback, 0, 0, 0, NULL, 0},
    };
    int n = 0;
    s->protocols[n++] = http;
    for (int i = 0; i < s->n_modules; i++) {
        for (const struct lws_protocols *p = s->modules[i]->ws; p && p->name; p++) {
            if (n == FL_MAX_WS_PROTOS + 1)
                return failf(err, errlen, FL_ELIMIT, "more than %d WebSocket subprotocols",
                             FL_MAX_WS_PROTOS);
            s->protocols[n++] = *p;
        }
    }
    s->protocols[n++] = raw[0];
    s->protocols[n++] = raw[1];
    s->protocols[n++] = raw[2];
    s->protocols[n++] = raw[3];
    s->protocols[n++] = raw[4];
    memset(&s->protocols[n], 0, sizeof s->protocols[n]);
    return 0;
}

void *fl_server_state(const struct fl_server *s, const fl_module_t *m)
{
    for (int i = 0; i < s->n_modules; i++)
        if (s->modules[i] == m)
            return s->states[i];
    return NULL;
}

int fl_server_access(const struct fl_server *s, const fl_principal_t *who, const char *action,
                     const char *resource, const char **why)
{
    for (int i = 0; i < s->n_modules; i++) {
        if (!s->modules[i]->access)
            continue;
        *why = "access denied";
        int rc = s->modules[i]->access(s->states[i], who, action, resource, why);
        if (rc)
            return -EACCES;
    }
    return 0;
}

int fl_server_authenticate(const struct fl_server *s, const fl_auth_req_t *req, fl_principal_t *who,
                           fl_api_error_t *err)
{
    for (int i = 0; i < s->n_modules; i++)
        if (s->modules[i]->authenticate)
            return s->modules[i]->authenticate(s->states[i], req, who, err);
    /* no module proves identities: the Authorization header, unverified */
    fl_sigv4_canon_auth_t auth;
    const char *why = NULL;
    if (fl_http_principal(req->wsi, who, &auth, &why) != 0)
        return fl_api_error(err, 400, "IncompleteSignatureException", "%s", why);
    return 0;
}

const fl_config_t *fl_server_config(const fl_server_t *s)
{
    return s->cfg;
}

fl_store_t *fl_server_store(const fl_server_t *s)
{
    return s->store;
}

/* The loop this thread runs; 0 on any other thread. */
static _Thread_local int tl_loop;

int fl_server_loop(void)
{
    return tl_loop;
}

int fl_server_loops(const fl_server_t *s)
{
    return s->n_loops;
}

fl_loop_t *fl_server_this_loop(struct fl_server *s)
{
    return &s->loops[tl_loop < s->n_loops ? tl_loop : 0];
}

fl_workers_t *fl_server_workers(const fl_server_t *s)
{
    return fl_server_this_loop((struct fl_server *)s)->workers;
}

struct fl_limits *fl_server_limits(const fl_server_t *s)
{
    return s->limits;
}

fl_metrics_t *fl_server_metrics(fl_server_t *s)
{
    return &fl_server_this_loop(s)->metrics;
}

int fl_server_vhost_port(struct fl_server *s, struct lws_vhost *vh)
{
    for (int k = 0; k < s->n_loops; k++)
        for (int i = 0; i < s->n_vhosts; i++)
            if (s->loops[k].vhosts[i] == vh)
                return s->ports[i];
    return -1;
}

void fl_server_metrics_sum(struct fl_server *s, fl_metrics_t *out)
{
    out->start_mono_ns = s->start_mono_ns;
    for (int i = 0; i < s->n_loops; i++)
        fl_metrics_add(out, &s->loops[i].metrics);
}

void fl_server_post(struct fl_server *s, int loop, fl_post_t *p)
{
    fl_loop_t *l = &s->loops[loop >= 0 && loop < s->n_loops ? loop : 0];
    fl_post_t *head = atomic_load_explicit(&l->inbox, memory_order_relaxed);
    do
        p->next = head;
    while (!atomic_compare_exchange_weak_explicit(&l->inbox, &head, p, memory_order_release,
                                                  memory_order_relaxed));
    if (l->wake_on)
        uv_async_send(&l->wake);
}

/* Run the inbox: take the whole stack, reverse it to posting order. */
static int drain_inbox(fl_loop_t *l)
{
    fl_post_t *p = atomic_exchange_explicit(&l->inbox, NULL, memory_order_acquire);
    fl_post_t *fifo = NULL;
    int n = 0;
    while (p) {
        fl_post_t *next = p->next;
        p->next = fifo;
        fifo = p;
        p = next;
    }
    while (fifo) {
        fl_post_t *next = fifo->next;
        fifo->fn(fifo); /* may free it */
        fifo = next;
        n++;
    }
    return n;
}

void fl_server_loop_drain(fl_loop_t *l)
{
    drain_inbox(l);
    if (l->workers)
        fl_workers_drain(l->workers);
}

/* A loop's wake-up: its inbox, its workers' completions, a stop. */
static void on_wake(uv_async_t *a)
{
    fl_loop_t *l = a->data;
    fl_server_loop_drain(l);
    if (atomic_load(&l->s->stop))
        uv_stop(&l->uv_loop);
}

const char *fl_server_base_url(const fl_server_t *s)
{
    return s->base_url;
}

/* lws logs through us, one line per event, at our level. */
static void lws_log_emit(int level, const char *line)
{
    if (fl_listen_lws_line(level, line))
        return;
    fl_diag_level_t l = level == LLL_ERR    ? FL_DIAG_ERROR
                        : level == LLL_WARN ? FL_DIAG_WARN
                                            : FL_DIAG_DEBUG;
    char buf[1024];
    size_t n = strlen(line);
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, line, n);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    fl_diag(l, "lws: %s", buf);
}

/* A worker finished a job: wake its loop (thread-safe). */
static void wake_loop(void *data)
{
    fl_loop_t *l = data;
    uv_async_send(&l->wake);
}

/* The housekeeping tick: a timer due every FL_TICK_MS. It runs late by
 * as long as callbacks kept the loop busy, which is the loop's lag (a stall
 * there delays every connection's acks and live frames alike). */
static void tick(uv_timer_t *t)
{
    fl_loop_t *l = t->data;
    struct fl_server *s = l->s;
    uint64_t now = uv_hrtime();
    double late_ms = now > l->lag_due_ns ? (double)(now - l->lag_due_ns) / 1e6 : 0;
    fl_metrics_observe_ms(&l->metrics.loop_lag, late_ms);
    if (late_ms > FL_LOOP_LATE_MS)
        l->late_ticks++;
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        l->cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* libuv re-armed the timer from the loop's time, taken when this
     * iteration began (and other timers may have run before this one) */
    l->lag_due_ns = ((uint64_t)uv_now(&l->uv_loop) + FL_TICK_MS) * 1000000;
    fl_http_idle_sweep(l);
    for (int i = 0; i < s->n_modules; i++) {
        if (l->index == 0 && s->modules[i]->tick)
            s->modules[i]->tick(s->states[i]);
        if (s->modules[i]->loop_tick)
            s->modules[i]->loop_tick(s->states[i], l->index);
    }
}

/* Set stop and make every loop leave uv_run (any thread). */
void fl_server_loop_stop(struct fl_server *s)
{
    atomic_store(&s->stop, 1);
    for (int i = 0; i < s->n_loops; i++)
        if (s->loops[i].wake_on)
            uv_async_send(&s->loops[i].wake);
}

int fl_server_prepare_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* certificate reload (tls.c) */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return FL_EINVAL;
    signal(SIGPIPE, SIG_IGN);
    /* a file size limit is an I/O error (EFBIG) to storage, not a death */
    signal(SIGXFSZ, SIG_IGN);
    return 0;
}

/* mkdir -p with mode 0700 for the parts we create. */
static int mkdir_p(const char *path)
{
    char tmp[4096];
    if (strlen(path) >= sizeof tmp)
        return -ENAMETOOLONG;
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(tmp, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}

static int prepare_data_dir(const char *dir, char *err, size_t errlen)
{
    int rc = mkdir_p(dir);
    if (rc)
        return failf(err, errlen, rc, "cannot use data dir %s: %s", dir, fl_strerror(rc));
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.write-probe.%d", dir, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        return failf(err, errlen, rc, "data dir %s is not writable: %s", dir, fl_strerror(rc));
    }
    ssize_t w = write(fd, "x", 1);
    int werr = w == 1 ? 0 : -errno;
    close(fd);
    unlink(probe);
    if (werr)
        return failf(err, errlen, werr, "data dir %s is not writable: %s", dir, fl_strerror(werr));
    return 0;
}

static const char *bind_host(const char *host)
{
    return strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
}

static int listen_addr(const fl_listen_addr_t *l, int port, struct sockaddr_storage *ss,
                       socklen_t *slp);
static void format_addr(const char *host, int port, char *out, size_t n);

/* bind(2) the address ourselves first, so that a busy port or a foreign
 * address is reported with its errno rather than as "vhost failed". */
static int probe_bind(const fl_listen_addr_t *l)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = listen_addr(l, l->port, &ss, &sl);
    if (rc)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    rc = bind(fd, (struct sockaddr *)&ss, sl) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* A loop's connections (several loops, or TLS): accept what its own
 * listen socket got (with several loops the kernel spread them:
 * SO_REUSEPORT) and give each to its lws context, on this loop: TLS
 * listeners' through h2tls.c, which looks at the ClientHello first. */
static void on_accept(uv_poll_t *h, int status, int events)
{
    struct fl_listener *li = h->data;
    fl_loop_t *l = li->l;
    (void)events;
    if (status < 0)
        return;
    for (int n = 0; n < 64; n++) {
        int fd = accept4(li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next wake-up */
        /* the caps of limits.c, as http.c applies them to what lws
         * accepts itself (one loop) */
        if (fl_limits_accept(l->s->limits, fd,
                             l->s->open_connections + fl_limits_heads(l->s->limits))) {
            l->metrics.connections_refused++;
            close(fd);
            continue;
        }
        l->metrics.connections_total++;
        int one = 1; /* as lws's own listener does */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (l->s->cfg->tls_cert) {
            fl_h2tls_accept(l, l->vhosts[li->i], fd);
            continue;
        }
        lws_sock_file_fd_type d;
        d.sockfd = fd;
        if (!lws_adopt_descriptor_vhost(l->vhosts[li->i],
                                        LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | LWS_ADOPT_ALLOW_SSL, d,
                                        NULL, NULL))
            fl_warn("cannot adopt a connection on loop %d", l->index); /* lws closed it */
    }
}

/* A listen socket of loop l for address i (SO_REUSEPORT when the loops
 * share it), polled by l. */
static int loop_listen(fl_loop_t *l, int i, int port, int share, char *err, size_t errlen)
{
    const fl_listen_addr_t *a = &l->s->cfg->listen[i];
    struct fl_listener *li = &l->listeners[i];
    struct sockaddr_storage ss;
    socklen_t sl;
    char name[300];
    format_addr(a->host, port, name, sizeof name);
    int rc = listen_addr(a, port, &ss, &sl);
    int fd = rc ? -1 : socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (share && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
        rc = rc ? rc : -errno;
        if (fd >= 0)
            close(fd);
        return failf(err, errlen, rc, "cannot listen on %s: %s", name, fl_strerror(rc));
    }
    if (l->index == 0) {
        struct sockaddr_storage got;
        socklen_t gl = sizeof got;
        if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
            l->s->ports[i] =
                ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                : ((struct sockaddr_in *)&got)->sin_port);
        l->s->n_vhosts = i + 1;
    }
    li->l = l;
    li->i = i;
    li->fd = fd;
    if (uv_poll_init(&l->uv_loop, &li->poll, fd) != 0) {
        close(fd);
        return failf(err, errlen, FL_ENOMEM, "cannot poll %s", name);
    }
    li->poll.data = li;
    li->on = 1;
    uv_poll_start(&li->poll, UV_READABLE, on_accept);
    return 0;
}

static int listen_addr(const fl_listen_addr_t *l, int port, struct sockaddr_storage *ss,
                       socklen_t *slp)
{
    socklen_t sl;
    memset(ss, 0, sizeof *ss);
    const char *h = bind_host(l->host);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof *a6;
    } else {
        return -EADDRNOTAVAIL;
    }
    *slp = sl;
    return 0;
}

static void format_addr(const char *host, int port, char *out, size_t n)
{
    int v6 = strchr(host, ':') != NULL;
    snprintf(out, n, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

static int check_security(const struct fl_server *s, char *err, size_t errlen)
{
    const fl_config_t *cfg = s->cfg;
    for (int i = 0; i < cfg->n_listen; i++) {
        if (fl_config_host_is_loopback(cfg->listen[i].host))
            continue;
        char a[300];
        format_addr(cfg->listen[i].host, cfg->listen[i].port, a, sizeof a);
        /* DESIGN.md: outside loopback, TLS and access keys are required */
        if (!cfg->tls_cert)
            return failf(err, errlen, FL_EINVAL,
                         "refusing to listen on %s: a non-loopback listener needs TLS "
                         "(--tls-cert and --tls-key)",
                         a);
    }
    return 0;
}

/* After the modules' init (server/auth knows the keys): a non-loopback
 * listener needs access keys too. */
static int check_keys(const struct fl_server *s, char *err, size_t errlen)
{
    const fl_config_t *cfg = s->cfg;
    for (int i = 0; i < cfg->n_listen; i++) {
        if (fl_config_host_is_loopback(cfg->listen[i].host))
            continue;
        char a[300];
        format_addr(cfg->listen[i].host, cfg->listen[i].port, a, sizeof a);
        if (!fl_server_has_access_keys(s))
            return failf(err, errlen, FL_EINVAL,
                         "refusing to listen on %s: a non-loopback listener needs access keys "
                         "(see docs/security.md), and this server has none",
                         a);
    }
    return 0;
}

static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        return failf(err, errlen, rc, "cannot read %s %s: %s", what, path, fl_strerror(rc));
    }
    close(fd);
    return 0;
}

/* A loop: its libuv loop, its lws context with a listener on every
 * address (loop 0 binds first and learns the ports port 0 chose; the
 * others share them through SO_REUSEPORT), its wake-up and its workers. */
static int loop_new(struct fl_server *s, fl_loop_t *lp, int share, char *err, size_t errlen)
{
    const fl_config_t *cfg = s->cfg;
    int rc;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    /* libuv's loop (epoll) rather than lws's poll(): poll() costs every
     * connection's fd on every wake-up, which a thousand producers sending
     * 30 frames a second turn into most of a core */
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_LIBUV;
    if (cfg->tls_cert)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = s;
    info.server_string = "framelogd";
    /* our own libuv loop, given to lws ("foreign"): we run it, and at the
     * end run it once more for lws to close its handles */
    if (uv_loop_init(&lp->uv_loop) != 0)
        return failf(err, errlen, FL_ENOMEM, "cannot create the event loop (libuv)");
    lp->uv_loop_ready = 1;
    if (uv_async_init(&lp->uv_loop, &lp->wake, on_wake) != 0)
        return failf(err, errlen, FL_ENOMEM, "cannot create the event loop's wake-up (libuv)");
    lp->wake.data = lp;
    uv_unref((uv_handle_t *)&lp->wake); /* it keeps nothing alive */
    lp->wake_on = 1;
    lp->foreign_loops[0] = &lp->uv_loop;
    info.foreign_loops = lp->foreign_loops;
    info.count_threads = 1;
    /* header buffers for connections still in their handshake: enough for
     * a thousand producers reconnecting at once (lws's default is small) */
    info.max_http_header_pool = 1024;
    /* limits.c: every open connection may be in its head at once (a head
     * not done in --header-timeout is closed), so slow heads never hold
     * the pool that new requests wait for; heads up to the buffer are
     * answered (431 past FL_LIMIT_HEADER_BYTES) */
    fl_limits_info(cfg, &info);
    /* the loop's read buffer: one recv takes up to this much of a
     * connection's bytes (lws's default, 4 KiB, costs a recv and a trip
     * through lws's service per 4 KiB of video); it matches the PutMedia
     * protocol's rx_buffer_size, so a WebSocket message of up to 64 KiB
     * reaches ingest in one piece */
    info.pt_serv_buf_size = 65536;
    lp->ctx = lws_create_context(&info);
    if (!lp->ctx)
        return failf(err, errlen, FL_ENOMEM, "cannot create the event loop (libwebsockets)");

    /* TLS listeners accept on their own socket too, one loop or several:
     * h2tls.c looks at each ClientHello before lws's TLS may */
    int own_accept = share || cfg->tls_cert != NULL;
    for (int i = 0; i < cfg->n_listen; i++) {
        const fl_listen_addr_t *l = &cfg->listen[i];
        char a[300], name[32];
        format_addr(l->host, l->port, a, sizeof a);
        snprintf(name, sizeof name, "listen-%d", i);
        struct lws_context_creation_info vi;
        memset(&vi, 0, sizeof vi);
        vi.vhost_name = name;
        /* several loops: lws listens nowhere; each loop accepts from its
         * own SO_REUSEPORT socket (lws 4.1.6 sets no SO_REUSEPORT itself,
         * whatever LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE says: measured);
         * TLS: lws listens nowhere either (own_accept) */
        vi.port = own_accept ? CONTEXT_PORT_NO_LISTEN_SERVER : l->port;
        vi.iface = bind_host(l->host);
        vi.protocols = s->protocols;
        vi.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
        if (cfg->tls_cert)
            vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        if (!strchr(l->host, ':'))
            vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        /* PutMedia uploads need HTTP/1.1 (libwebsockets-notes.md): lws
         * never negotiates h2; h2tls.c serves the clients that offer it */
        vi.alpn = "http/1.1";
        vi.keepalive_timeout = 30;
        vi.timeout_secs = 60;
        if (cfg->tls_cert) {
            vi.ssl_cert_filepath = cfg->tls_cert;
            vi.ssl_private_key_filepath = cfg->tls_key;
        }
        fl_limits_vhost_info(cfg, &vi); /* timeouts, TLS policy, bytes that are not HTTP */
        struct lws_vhost *vh = lws_create_vhost(lp->ctx, &vi);
        if (!vh)
            return failf(err, errlen, FL_EINVAL, "cannot listen on %s%s", a,
                         cfg->tls_cert ? " (check the TLS certificate and key)" : "");
        lp->vhosts[i] = vh;
        if (own_accept) {
            if ((rc = loop_listen(lp, i, lp->index == 0 ? l->port : s->ports[i], share, err,
                                  errlen)) != 0)
                return rc;
        } else if (lp->index == 0) {
            s->ports[i] = lws_get_vhost_listen_port(vh);
            s->n_vhosts = i + 1;
        }
    }

    if (cfg->tls_cert && !(lp->tls_h2 = fl_tls_h2_ctx_new(cfg->tls_cert, cfg->tls_key)))
        return failf(err, errlen, FL_EINVAL,
                     "cannot load --tls-cert %s and --tls-key %s (for HTTP/2)", cfg->tls_cert,
                     cfg->tls_key);
    if ((rc = fl_workers_new(2, 1024, wake_loop, lp, &lp->workers)) != 0)
        return failf(err, errlen, rc, "cannot start worker threads: %s", fl_strerror(rc));
    return 0;
}

int fl_server_new(const fl_config_t *cfg, const fl_module_t *const *modules, fl_server_t **out,
                  char *err, size_t errlen)
{
    int rc;
    *out = NULL;
    struct fl_server *s = calloc(1, sizeof *s);
    if (!s)
        return failf(err, errlen, FL_ENOMEM, "out of memory");
    s->cfg = cfg;
    s->signal_fd = -1;
    s->start_mono_ns = fl_time_mono_ns();
    if ((rc = fl_cors_parse(cfg->cors_origins, cfg, &s->cors, err, errlen)) != 0)
        goto fail;
    if ((rc = fl_limits_new(cfg, &s->limits)) != 0) {
        failf(err, errlen, rc, "out of memory");
        goto fail;
    }
    if (getrandom(s->request_id_key, sizeof s->request_id_key, 0) !=
        (ssize_t)sizeof s->request_id_key)
        memset(s->request_id_key, 0x5a, sizeof s->request_id_key);

    for (; modules && *modules; modules++) {
        if (s->n_modules == FL_MAX_MODULES) {
            rc = failf(err, errlen, FL_ELIMIT, "more than %d modules", FL_MAX_MODULES);
            goto fail;
        }
        s->modules[s->n_modules++] = *modules;
    }
    if ((rc = build_protocols(s, err, errlen)) != 0)
        goto fail;
    if ((rc = check_security(s, err, errlen)) != 0)
        goto fail;
    if (cfg->tls_cert) {
        if ((rc = check_readable("--tls-cert", cfg->tls_cert, err, errlen)) != 0 ||
            (rc = check_readable("--tls-key", cfg->tls_key, err, errlen)) != 0)
            goto fail;
    }
    if ((rc = prepare_data_dir(cfg->data_dir, err, errlen)) != 0)
        goto fail;
    for (int i = 0; i < cfg->n_listen; i++) {
        char a[300];
        format_addr(cfg->listen[i].host, cfg->listen[i].port, a, sizeof a);
        if ((rc = probe_bind(&cfg->listen[i])) != 0) {
            failf(err, errlen, rc, "cannot listen on %s: %s", a,
                  rc == -EADDRINUSE ? "address already in use" : fl_strerror(rc));
            goto fail;
        }
    }

    if ((rc = fl_token_key_load(cfg->data_dir, s->token_key, err, errlen)) != 0)
        goto fail;

    fl_master_key_src_t mk;
    if ((rc = fl_master_key_resolve(cfg->master_key_file, cfg->master_key_env, cfg->master_key_fd,
                                    cfg->data_dir, &mk, err, errlen)) != 0)
        goto fail;
    fl_store_opts_t so;
    memset(&so, 0, sizeof so);
    so.dir = cfg->data_dir;
    fl_master_key_apply(&mk, &so);
    rc = fl_store_open(&so, &s->store);
    fl_master_key_src_done(&mk);
    if (rc != 0) {
        if (rc == FL_ECRYPTO)
            failf(err, errlen, rc,
                  "cannot open the storage in %s: the master key from %s is not the key this "
                  "data dir was sealed with (or is missing)",
                  cfg->data_dir, mk.what);
        else
            failf(err, errlen, rc, "cannot open the storage in %s: %s", cfg->data_dir,
                  rc == FL_EBUSY ? "another framelogd uses it" : fl_strerror(rc));
        goto fail;
    }
    if (mk.in_data_dir)
        fl_info("master key: %s (a copy of the data dir can be read; keep the key elsewhere "
                "with --master-key-file, --master-key-env or --master-key-fd)",
                mk.what);
    else
        fl_info("master key: %s", mk.what);

    fl_listen_lws_log(LLL_ERR | LLL_WARN | (cfg->log_level == FL_DIAG_DEBUG ? LLL_NOTICE : 0),
                      lws_log_emit);

    long n_loops = cfg->loops;
    if (n_loops <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n_loops = cores < 1 ? 1 : cores;
    }
    if (n_loops > FL_CONFIG_MAX_LOOPS)
        n_loops = FL_CONFIG_MAX_LOOPS;
    for (int k = 0; k < n_loops; k++) {
        fl_loop_t *lp = &s->loops[k];
        lp->s = s;
        lp->index = k;
        fl_metrics_init(&lp->metrics);
        s->n_loops = k + 1;
        if ((rc = loop_new(s, lp, n_loops > 1, err, errlen)) != 0)
            goto fail;
    }

    /* signals arrive through the loop */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* certificate reload (tls.c) */
    s->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->signal_fd < 0) {
        rc = failf(err, errlen, -errno, "signalfd: %s", strerror(errno));
        goto fail;
    }
    lws_sock_file_fd_type fd;
    fd.filefd = s->signal_fd;
    if (!lws_adopt_descriptor_vhost(s->loops[0].vhosts[0], LWS_ADOPT_RAW_FILE_DESC, fd, "fl-signal",
                                    NULL)) {
        rc = failf(err, errlen, FL_EINVAL, "cannot watch signals on the event loop");
        goto fail;
    }

    /* storage completions arrive through the loop too; lws closes what it
     * adopts, so it gets its own descriptor of the store's eventfd */
    fd.filefd = dup(fl_store_completion_fd(s->store));
    if (fd.filefd < 0 || !lws_adopt_descriptor_vhost(s->loops[0].vhosts[0], LWS_ADOPT_RAW_FILE_DESC,
                                                     fd, "fl-store", NULL)) {
        if (fd.filefd >= 0)
            close(fd.filefd);
        rc = failf(err, errlen, FL_EINVAL, "cannot watch storage completions on the event loop");
        goto fail;
    }

    const char *scheme = cfg->tls_cert ? "https" : "http";
    for (int i = 0; i < s->n_vhosts; i++) {
        char a[300];
        format_addr(cfg->listen[i].host, s->ports[i], a, sizeof a);
        if (i == 0)
            snprintf(s->base_url, sizeof s->base_url, "%s://%s", scheme, a);
    }

    /* the modules, in list order; each may refuse to start */
    for (; s->n_inited < s->n_modules; s->n_inited++) {
        const fl_module_t *m = s->modules[s->n_inited];
        if (m->init && (rc = m->init(s, &s->states[s->n_inited], err, errlen)) != 0)
            goto fail;
    }
    if ((rc = check_keys(s, err, errlen)) != 0)
        goto fail;
    *out = s;
    return 0;

fail:
    fl_server_free(s);
    return rc;
}

/* One loop's thread: its tick, then its uv_run until a stop. */
static void *loop_main(void *arg)
{
    fl_loop_t *l = arg;
    tl_loop = l->index;
    if (l->index > 0) {
        char name[16];
        snprintf(name, sizeof name, "fl-loop-%d", l->index & 0xff);
        pthread_setname_np(pthread_self(), name);
    }
    if (uv_timer_init(&l->uv_loop, &l->tick_timer) == 0) {
        l->tick_timer.data = l;
        l->lag_due_ns = uv_hrtime() + FL_TICK_MS * 1000000;
        uv_timer_start(&l->tick_timer, tick, FL_TICK_MS, FL_TICK_MS);
        uv_unref((uv_handle_t *)&l->tick_timer); /* it keeps nothing alive */
        l->tick_timer_on = 1;
    }
    /* what was posted before the loop ran */
    fl_server_loop_drain(l);
    /* uv_run returns once fl_server_loop_stop() was called */
    while (!atomic_load(&l->s->stop))
        uv_run(&l->uv_loop, UV_RUN_DEFAULT);
    return NULL;
}

int fl_server_run(fl_server_t *s)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_config_describe(s->cfg, &b);
    fl_buf_u8(&b, 0);
    if (!b.err)
        fl_info("%s", (char *)b.p);
    fl_buf_free(&b);
    /* open while no module refuses a request without keys (listen.c) */
    if (!fl_server_has_access_keys(s))
        fl_info("framelogd %s: running open (bound to loopback only, no access keys): for local "
                "development",
                FL_VERSION);
    else
        fl_info("framelogd %s: access keys in use: every request must be signed", FL_VERSION);
    const char *scheme = s->cfg->tls_cert ? "https" : "http";
    for (int i = 0; i < s->n_vhosts; i++) {
        char a[300];
        format_addr(s->cfg->listen[i].host, s->ports[i], a, sizeof a);
        fl_info("listening on %s://%s", scheme, a);
    }
    fl_info("%d event loop%s", s->n_loops, s->n_loops == 1 ? "" : "s (SO_REUSEPORT listeners)");
    /* loops 1..n-1 on their own threads, loop 0 on this one */
    for (int i = 1; i < s->n_loops; i++) {
        if (pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]) != 0) {
            fl_error("cannot start event loop %d; stopping", i);
            fl_server_loop_stop(s);
            break;
        }
        s->loops[i].thread_on = 1;
    }
    loop_main(&s->loops[0]);
    for (int i = 1; i < s->n_loops; i++)
        if (s->loops[i].thread_on) {
            pthread_join(s->loops[i].thread, NULL);
            s->loops[i].thread_on = 0;
        }
    return 0;
}

void fl_server_stop(fl_server_t *s)
{
    fl_server_loop_stop(s);
}

static void close_left_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Run every inbox until all are empty (the loops are stopped: each
 * message runs on this thread as if on its loop). */
static void drain_all_inboxes(struct fl_server *s)
{
    int again = 1;
    int saved = tl_loop;
    while (again) {
        again = 0;
        for (int i = 0; i < s->n_loops; i++) {
            tl_loop = i;
            if (drain_inbox(&s->loops[i]))
                again = 1;
        }
    }
    tl_loop = saved;
}

/* Close a loop's connections and handles (its thread has ended). */
static void loop_free(fl_loop_t *l)
{
    int saved = tl_loop;
    tl_loop = l->index; /* close callbacks run as on their loop */
    if (l->tick_timer_on) {
        uv_timer_stop(&l->tick_timer);
        uv_close((uv_handle_t *)&l->tick_timer, NULL);
        l->tick_timer_on = 0;
    }
    for (int i = 0; i < FL_CONFIG_MAX_LISTEN; i++) {
        struct fl_listener *li = &l->listeners[i];
        if (li->on) {
            uv_poll_stop(&li->poll);
            uv_close((uv_handle_t *)&li->poll, NULL);
            close(li->fd);
            li->on = 0;
        }
    }
    if (l->ctx) {
        lws_context_destroy(l->ctx); /* closes every connection */
        /* a foreign loop: let lws's handles finish closing, then destroy
         * the context's remains (lws's two-step teardown) */
        if (l->uv_loop_ready)
            while (uv_run(&l->uv_loop, UV_RUN_NOWAIT))
                ;
        lws_context_destroy(l->ctx);
        l->ctx = NULL;
    }
    SSL_CTX_free(l->tls_h2); /* after its connections */
    l->tls_h2 = NULL;
    tl_loop = saved;
}

static void loop_close(fl_loop_t *l)
{
    if (l->wake_on) {
        uv_close((uv_handle_t *)&l->wake, NULL);
        l->wake_on = 0;
    }
    if (l->uv_loop_ready) {
        uv_walk(&l->uv_loop, close_left_handle, NULL);
        uv_run(&l->uv_loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&l->uv_loop) != 0)
            fl_warn("event loop closed with handles left");
        l->uv_loop_ready = 0;
    }
}

void fl_server_free(fl_server_t *s)
{
    if (!s)
        return;
    int had_ctx = s->n_loops > 0 && s->loops[0].ctx != NULL;
    /* workers first: their last completions answer requests whose
     * connections are still open (run here, as on their loop) */
    for (int i = 0; i < s->n_loops; i++) {
        int saved = tl_loop;
        tl_loop = i;
        fl_workers_free(s->loops[i].workers);
        s->loops[i].workers = NULL; /* the loop may still run once below: nothing to drain */
        tl_loop = saved;
    }
    drain_all_inboxes(s);
    for (int i = 0; i < s->n_loops; i++)
        loop_free(&s->loops[i]);
    drain_all_inboxes(s);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    /* appends still in flight complete now (their connections are gone, so
     * this only frees what each one carried) */
    if (s->store) {
        fl_store_sync(s->store);
        dispatch_completions(s);
        drain_all_inboxes(s);
    }
    /* the modules, in reverse order, after every connection and every
     * completion that could reach them */
    while (s->n_inited > 0) {
        s->n_inited--;
        if (s->modules[s->n_inited]->fini)
            s->modules[s->n_inited]->fini(s->states[s->n_inited]);
    }
    drain_all_inboxes(s);
    for (int i = 0; i < s->n_loops; i++)
        loop_close(&s->loops[i]);
    fl_store_close(s->store); /* after every user of it is gone */
    fl_limits_free(s->limits);
    if (had_ctx)
        fl_info("stopped after %.1f s", (double)(fl_time_mono_ns() - s->start_mono_ns) / 1e9);
    explicit_bzero(s->token_key, sizeof s->token_key);
    free(s);
}
