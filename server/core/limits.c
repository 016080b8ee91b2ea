/*
 * server/core/limits.c — the limits of limits.h: connections per source
 * address, the fragment memory budget, token buckets, and the counting and
 * logging of every refusal.
 *
 * Connections per address: libwebsockets tells us of a connection at
 * accept (LWS_CALLBACK_FILTER_NETWORK_CONNECTION, with its descriptor) but
 * not of its close in one place (a connection that becomes a WebSocket
 * closes in its subprotocol's callback). So the table is indexed by
 * descriptor and learns of closes lazily:
 *   - accept on fd: whatever the table held for fd was closed (the kernel
 *     gave the number out again), so the slot is simply overwritten with
 *     the peer's address and the socket's inode;
 *   - the count for an address is the number of slots holding it (a scan of
 *     at most one slot per open descriptor, some microseconds);
 *   - only when that count reaches the cap are its slots checked against
 *     the live descriptors (fstat: same inode, still a socket), dropping
 *     those closed meanwhile, and the count taken again.
 * Invariant: a slot that holds an address stands for a socket accepted
 * from it that may still be open; a live connection always has its slot.
 * So a client is refused only for connections that are really open.
 *
 * Logging: a limit that refuses logs one line a second at most, naming how
 * many refusals the previous lines did not (a flood shows as one line a
 * second, not one per connection).
 */
#include "server/core/limits.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "server/core/metrics.h"

static const char *const limit_names[FL_LIMIT_COUNT] = {
    [FL_LIMIT_MAX_CONNECTIONS] = "max_connections",
    [FL_LIMIT_PER_ADDRESS] = "max_connections_per_address",
    [FL_LIMIT_HEADER_UNFINISHED] = "header_unfinished",
    [FL_LIMIT_HEADER_TOO_LARGE] = "header_too_large",
    [FL_LIMIT_BAD_REQUEST] = "bad_request",
    [FL_LIMIT_BODY_TOO_LARGE] = "body_too_large",
    [FL_LIMIT_FRAGMENT_MEMORY] = "fragment_memory",
    [FL_LIMIT_CONNECTION_AGE] = "putmedia_connection_age",
    [FL_LIMIT_UPLOAD_RATE] = "putmedia_upload_rate",
    [FL_LIMIT_CONNECT_RATE] = "putmedia_connection_rate",
    [FL_LIMIT_GETMEDIA_READERS] = "getmedia_readers",
};

/* A peer address: 16 bytes (IPv4 as ::ffff:a.b.c.d) */
typedef struct {
    uint8_t a[16];
} addr_key_t;

typedef struct {
    int used;
    ino_t ino;
    addr_key_t key;
} fd_slot_t;

struct fl_limits {
    long per_address; /* --max-connections-per-address */
    long max_connections;
    fl_budget_t fragments;
    _Atomic int64_t heads; /* connections in their head */
    _Atomic uint64_t hits[FL_LIMIT_COUNT];
    _Atomic uint64_t logged[FL_LIMIT_COUNT];     /* hits when a line was last logged */
    _Atomic int64_t last_log_ns[FL_LIMIT_COUNT]; /* monotonic */
    pthread_mutex_t mu;                          /* guards fds, n_fds */
    fd_slot_t *fds;                              /* indexed by descriptor */
    size_t n_fds;
};

int fl_budget_take(fl_budget_t *b, uint64_t n)
{
    uint64_t cur = atomic_load(&b->used);
    do {
        if (cur + n > b->max || cur + n < cur) {
            atomic_fetch_add(&b->refused, 1);
            return FL_ELIMIT;
        }
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
    return 0;
}

void fl_budget_give(fl_budget_t *b, uint64_t n)
{
    atomic_fetch_sub(&b->used, n);
}

int fl_limits_new(const fl_config_t *cfg, fl_limits_t **out)
{
    fl_limits_t *l = calloc(1, sizeof *l);
    if (!l)
        return FL_ENOMEM;
    l->per_address = cfg->max_connections_per_address;
    l->max_connections = cfg->max_connections;
    l->fragments.max = (uint64_t)cfg->max_fragment_memory;
    pthread_mutex_init(&l->mu, NULL);
    *out = l;
    return 0;
}

void fl_limits_free(fl_limits_t *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->fds);
    free(l);
}

void fl_limits_hit(fl_limits_t *l, fl_limit_t what, const char *fmt, ...)
{
    uint64_t n = atomic_fetch_add(&l->hits[what], 1) + 1;
    if (!fmt)
        return;
    int64_t now = fl_time_mono_ns();
    int64_t last = atomic_load(&l->last_log_ns[what]);
    if (last && now - last < 1000000000)
        return;
    if (!atomic_compare_exchange_strong(&l->last_log_ns[what], &last, now))
        return; /* another thread logs this second's line */
    uint64_t before = atomic_exchange(&l->logged[what], n);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n - before > 1)
        fl_warn("limit %s: %s (%" PRIu64 " more since the last such line)", limit_names[what], msg,
                n - before - 1);
    else
        fl_warn("limit %s: %s", limit_names[what], msg);
}

void fl_limits_head_add(fl_limits_t *l, int delta)
{
    atomic_fetch_add(&l->heads, delta);
}

int64_t fl_limits_heads(const fl_limits_t *l)
{
    return atomic_load(&((fl_limits_t *)l)->heads);
}

uint64_t fl_limits_hits(const fl_limits_t *l, fl_limit_t what)
{
    fl_limits_t *m = (fl_limits_t *)l;
    uint64_t n = atomic_load(&m->hits[what]);
    if (what == FL_LIMIT_FRAGMENT_MEMORY)
        n += atomic_load(&m->fragments.refused); /* ingest takes from the budget itself */
    return n;
}

fl_budget_t *fl_limits_fragment_budget(fl_limits_t *l)
{
    return &l->fragments;
}

static int peer_key(int fd, addr_key_t *k, char *text, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(k, 0, sizeof *k);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
        k->a[10] = k->a[11] = 0xff;
        memcpy(k->a + 12, &a4->sin_addr, 4);
        inet_ntop(AF_INET, &a4->sin_addr, text, (socklen_t)cap);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
        memcpy(k->a, &a6->sin6_addr, 16);
        inet_ntop(AF_INET6, &a6->sin6_addr, text, (socklen_t)cap);
    } else {
        return -1; /* not an IP peer: no address to count */
    }
    return 0;
}

/* Slots for this address (lock held). */
static long count_addr(const fl_limits_t *l, const addr_key_t *k)
{
    long n = 0;
    for (size_t i = 0; i < l->n_fds; i++)
        if (l->fds[i].used && memcmp(&l->fds[i].key, k, sizeof *k) == 0)
            n++;
    return n;
}

/* Drop the slots of this address whose socket is closed (lock held). */
static void sweep_addr(fl_limits_t *l, const addr_key_t *k)
{
    for (size_t i = 0; i < l->n_fds; i++) {
        fd_slot_t *s = &l->fds[i];
        if (!s->used || memcmp(&s->key, k, sizeof *k) != 0)
            continue;
        struct stat st;
        if (fstat((int)i, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != s->ino)
            s->used = 0;
    }
}

int fl_limits_accept(fl_limits_t *l, int fd, int64_t open)
{
    if (open >= l->max_connections) {
        fl_limits_hit(l, FL_LIMIT_MAX_CONNECTIONS,
                      "refusing a connection: %lld open (--max-connections %ld)", (long long)open,
                      l->max_connections);
        return FL_ELIMIT;
    }
    addr_key_t k;
    char text[INET6_ADDRSTRLEN] = "?";
    struct stat st;
    if (fd < 0 || peer_key(fd, &k, text, sizeof text) != 0 || fstat(fd, &st) != 0)
        return 0; /* nothing to count it by */
    int rc = 0;
    long n = 0;
    pthread_mutex_lock(&l->mu);
    if ((size_t)fd >= l->n_fds) {
        size_t cap = l->n_fds ? l->n_fds : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        fd_slot_t *p = realloc(l->fds, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&l->mu);
            return 0; /* not counted: better served than refused for our lack */
        }
        memset(p + l->n_fds, 0, (cap - l->n_fds) * sizeof *p);
        l->fds = p;
        l->n_fds = cap;
    }
    l->fds[fd].used = 0; /* whatever had this number is closed */
    n = count_addr(l, &k);
    if (n >= l->per_address) {
        sweep_addr(l, &k);
        n = count_addr(l, &k);
    }
    if (n >= l->per_address) {
        rc = FL_ELIMIT;
    } else {
        l->fds[fd].used = 1;
        l->fds[fd].ino = st.st_ino;
        l->fds[fd].key = k;
    }
    pthread_mutex_unlock(&l->mu);
    if (rc)
        fl_limits_hit(l, FL_LIMIT_PER_ADDRESS,
                      "refusing a connection from %s: %ld open from there "
                      "(--max-connections-per-address %ld)",
                      text, n, l->per_address);
    return rc;
}

void fl_limits_render(const fl_limits_t *l, fl_buf_t *out)
{
    uint64_t hits[FL_LIMIT_COUNT];
    for (int i = 0; i < FL_LIMIT_COUNT; i++)
        hits[i] = fl_limits_hits(l, (fl_limit_t)i);
    fl_metrics_render_counters(out, "framelog_limit_hits_total",
                               "Requests, connections and fragments a limit refused, slowed or "
                               "closed (docs/security.md)",
                               "limit", limit_names, hits, FL_LIMIT_COUNT);
    fl_buf_printf(out,
                  "# HELP framelog_fragment_memory_bytes Bytes of unfinished PutMedia fragments "
                  "held (--max-fragment-memory)\n"
                  "# TYPE framelog_fragment_memory_bytes gauge\n"
                  "framelog_fragment_memory_bytes %" PRIu64 "\n"
                  "# HELP framelog_connections_in_head Connections accepted whose request head "
                  "is not complete yet (--header-timeout)\n"
                  "# TYPE framelog_connections_in_head gauge\n"
                  "framelog_connections_in_head %" PRId64 "\n",
                  atomic_load(&((fl_limits_t *)l)->fragments.used), fl_limits_heads(l));
}

/* Token buckets as one atomic each (limits.h): full_ns is when the bucket
 * is full again; taking n tokens moves it n / rate seconds later, from now
 * at the earliest (a bucket does not fill past burst). */
static double tokens_at(int64_t full_ns, double rate, double burst, int64_t now_ns)
{
    int64_t owed = full_ns > now_ns ? full_ns - now_ns : 0;
    return burst - (double)owed / 1e9 * rate;
}

static int bucket_move(fl_bucket_t *b, double rate, double burst, double n, int64_t now_ns,
                       int force, double *left)
{
    if (rate <= 0) { /* no refill: nothing to take from */
        *left = 0;
        return force ? 0 : FL_ELIMIT;
    }
    int64_t cost = (int64_t)(n / rate * 1e9);
    int64_t cur = atomic_load(&b->full_ns);
    for (;;) {
        int64_t next = (cur > now_ns ? cur : now_ns) + cost;
        if (!force && tokens_at(next, rate, burst, now_ns) < 0) {
            *left = tokens_at(cur, rate, burst, now_ns);
            return FL_ELIMIT;
        }
        if (atomic_compare_exchange_weak(&b->full_ns, &cur, next)) {
            *left = tokens_at(next, rate, burst, now_ns);
            return 0;
        }
    }
}

int fl_bucket_take(fl_bucket_t *b, double rate, double burst, double n, int64_t now_ns)
{
    double left;
    return bucket_move(b, rate, burst, n, now_ns, 0, &left);
}

double fl_bucket_charge(fl_bucket_t *b, double rate, double burst, double n, int64_t now_ns)
{
    double left;
    bucket_move(b, rate, burst, n, now_ns, 1, &left);
    return left;
}

double fl_bucket_tokens(const fl_bucket_t *b, double rate, double burst, int64_t now_ns)
{
    if (rate <= 0)
        return 0;
    return tokens_at(atomic_load(&((fl_bucket_t *)b)->full_ns), rate, burst, now_ns);
}
