/*
 * storage/reader.c — reads and watches: the reader side of the log.
 *
 * A read finds its first chunk under store->mu: first among the shard's
 * spans (one per sealed segment, from the index summaries), then among the
 * entries of that segment (from the segment cache, segcache.c) or of the
 * active segment (in memory), by binary search on sequence number or server
 * time, or by a walk on producer time, which need not grow. It copies a few
 * chunk refs, going on into later segments while it wants more, and drops
 * the lock. A sealed segment whose entries are not cached stops the copy:
 * the read loads them without the lock (segcache.c: one index file read,
 * or a rebuild if it is damaged) and takes the lock again to go on from
 * that segment. Then it preads each chunk from its segment, checks header
 * and GCM tag, decrypts and parses it. A chunk that fails its check
 * is logged with file and offset and never returned as data: records before
 * it come back first, and the next read answers FL_ECORRUPT with next_seq
 * past the damaged chunk.
 *
 * Only durable chunks are in the list, so a reader never sees a record
 * that a crash could take back. Retention may unlink a segment between the
 * lookup and the open: that read answers FL_EEXPIRED.
 *
 * A watch is an eventfd per follower, written by the writer thread after it
 * publishes new chunks of the shard (or when the shard closes); a follower
 * waits on it in its own event loop, or in fl_log_watch_wait(), never on a
 * timer.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/diag.h"
#include "storage_internal.h"

typedef struct {
    uint8_t **bufs;
    size_t n, cap;
} batch_priv_t;

void fl_log_batch_free(fl_log_batch_t *b)
{
    if (!b)
        return;
    batch_priv_t *p = b->priv;
    if (p) {
        for (size_t i = 0; i < p->n; i++)
            free(p->bufs[i]);
        free(p->bufs);
        free(p);
    }
    free(b->records);
    memset(b, 0, sizeof *b);
}

static int batch_keep(fl_log_batch_t *b, uint8_t *buf)
{
    batch_priv_t *p = b->priv;
    if (!p && !(p = b->priv = calloc(1, sizeof *p)))
        return FL_ENOMEM;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        uint8_t **v = realloc(p->bufs, nc * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        p->bufs = v;
        p->cap = nc;
    }
    p->bufs[p->n++] = buf;
    return 0;
}

static int batch_push(fl_log_batch_t *b, size_t *cap, const fl_log_record_t *r)
{
    if (b->count == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        fl_log_record_t *v = realloc(b->records, nc * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        b->records = v;
        *cap = nc;
    }
    b->records[b->count++] = *r;
    b->bytes += r->payload.n;
    return 0;
}

/* Where a read starts, over a run of chunks or spans in sequence order:
 * an item is wholly before the start when its last sequence number, its
 * newest server time or its newest producer time (by o->from) is. */
typedef struct {
    uint64_t end_seq; /* last sequence number + 1 */
    int64_t sts_max, pts_max;
} item_bounds_t;

typedef item_bounds_t (*bounds_fn)(const void *v, size_t i);

static item_bounds_t ref_bounds(const void *v, size_t i)
{
    const fl_chunk_ref_t *r = (const fl_chunk_ref_t *)v + i;
    return (item_bounds_t){r->first_seq + r->count, r->sts_max, r->pts_max};
}

static item_bounds_t span_bounds(const void *v, size_t i)
{
    const fl_span_t *sp = (const fl_span_t *)v + i;
    return (item_bounds_t){sp->end_seq, sp->sts_max, sp->pts_max};
}

static int wholly_before(const fl_log_read_opts_t *o, item_bounds_t b)
{
    switch (o->from) {
    case FL_LOG_AT_SEQ:
        return b.end_seq <= o->seq;
    case FL_LOG_AT_SERVER_TS:
        return b.sts_max < o->ts_ns;
    default:
        return b.pts_max < o->ts_ns;
    }
}

/* The first of v[0..n) that may hold the start of the read: a binary search
 * by sequence or server time (both grow), a walk by producer time (which
 * need not). */
static size_t start_of(const void *v, size_t n, bounds_fn bounds, const fl_log_read_opts_t *o)
{
    size_t lo = 0, hi = n;
    if (o->from == FL_LOG_AT_PRODUCER_TS) {
        while (lo < hi && wholly_before(o, bounds(v, lo)))
            lo++;
        return lo;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (wholly_before(o, bounds(v, mid)))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First span of a sealed segment numbered segno or later. */
static size_t span_from_segno(const fl_shard_t *sh, uint64_t segno)
{
    return fl_segno_lower_bound(sh->spans, sh->nspans, sizeof sh->spans[0], segno);
}

enum { MAXREFS = 64 };

/* The chunks a read will open, gathered under mu, in rounds: a round stops
 * at a sealed segment whose entries are not in the cache; the read loads
 * them without the lock, and the next round goes on from that segment. */
typedef struct {
    fl_chunk_ref_t refs[MAXREFS];
    size_t nrefs;
    uint64_t est;            /* payload bytes they may hold */
    int found;               /* the first chunk of the read is among refs */
    uint64_t from_segno;     /* sealed segments below it are done */
    int need_load;           /* the round stopped at sealed segment `need` */
    uint64_t need, need_end; /* ... which ends before sequence need_end */
    fl_chunk_ref_t *own;     /* loaded entries of one shard in segment own_segno */
    size_t nown;
    uint64_t own_segno;
    int has_own;
} gather_t;

static int gather_room(const gather_t *g, size_t max_bytes)
{
    return g->nrefs < MAXREFS && g->est < max_bytes;
}

/* Take v[j..n) (by sequence) until the read has enough chunks for
 * max_bytes of payload: count what a chunk holds beyond its header, tag and
 * record headers (counting the whole length stopped a read short when
 * records are small). Chunks below the trim point are going away. Returns
 * where it stopped. */
static size_t gather_refs(gather_t *g, const fl_shard_t *sh, const fl_chunk_ref_t *v, size_t j,
                          size_t n, size_t max_bytes)
{
    for (; j < n && gather_room(g, max_bytes); j++) {
        const fl_chunk_ref_t *cr = &v[j];
        if (cr->first_seq + cr->count <= sh->trim_seq)
            continue;
        uint64_t overhead = FL_CHUNK_HDR + FL_CHUNK_TAG + (uint64_t)FL_REC_HDR * cr->count;
        g->refs[g->nrefs++] = *cr;
        g->est += cr->len > overhead ? cr->len - overhead : 0;
        g->found = 1;
    }
    return j;
}

/* One round, under mu. */
static void gather(fl_store_t *s, fl_log_t *log, fl_shard_t *sh, const fl_log_read_opts_t *o,
                   size_t max_bytes, gather_t *g)
{
    g->need_load = 0;
    size_t k = span_from_segno(sh, g->from_segno);
    if (!g->found) {
        size_t k0 = start_of(sh->spans, sh->nspans, span_bounds, o);
        if (k0 > k)
            k = k0;
    }
    for (; k < sh->nspans && gather_room(g, max_bytes); k++) {
        const fl_span_t *sp = &sh->spans[k];
        if (sp->end_seq <= sh->trim_seq) {
            g->from_segno = sp->segno + 1;
            continue;
        }
        const fl_chunk_ref_t *v;
        size_t n;
        if (!fl_segcache_get(s, log->id, sp->segno, sh->id, &v, &n)) {
            if (!g->has_own || g->own_segno != sp->segno) {
                g->need_load = 1;
                g->need = sp->segno;
                g->need_end = sp->end_seq;
                return;
            }
            v = g->own; /* loaded, and already dropped from the cache */
            n = g->nown;
        }
        size_t j = g->found ? 0 : start_of(v, n, ref_bounds, o);
        if (gather_refs(g, sh, v, j, n, max_bytes) < n)
            return; /* enough */
        g->from_segno = sp->segno + 1;
    }
    if (!gather_room(g, max_bytes))
        return;
    size_t j = g->found ? 0 : start_of(sh->chunks, sh->nchunks, ref_bounds, o);
    gather_refs(g, sh, sh->chunks, j, sh->nchunks, max_bytes);
}

static int rec_matches(const fl_log_read_opts_t *o, const fl_log_record_t *r)
{
    switch (o->from) {
    case FL_LOG_AT_SEQ:
        return r->seq >= o->seq;
    case FL_LOG_AT_SERVER_TS:
        return r->server_ts_ns >= o->ts_ns;
    default:
        return r->producer_ts_ns >= o->ts_ns;
    }
}

int fl_log_read(fl_log_t *log, uint32_t shard, const fl_log_read_opts_t *o, fl_log_batch_t *out)
{
    if (!log || !o || !out || o->from > FL_LOG_AT_PRODUCER_TS)
        return FL_EINVAL;
    fl_log_batch_free(out);
    fl_store_t *s = log->store;
    size_t max_bytes = o->max_bytes ? o->max_bytes : (8u << 20);
    size_t max_records = o->max_records ? o->max_records : 10000;
    gather_t *g = calloc(1, sizeof *g);
    if (!g)
        return FL_ENOMEM;
    int rc = 0;
    fl_shard_t *sh;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        sh = fl_log_shard(log, shard);
        uint64_t first_seq;
        int64_t first_sts, first_pts;
        int have_first = sh && fl_shard_first(sh, &first_seq, &first_sts, &first_pts) == 0;
        if (!sh || log->deleting) {
            rc = FL_ENOTFOUND;
        } else if (g->nrefs == 0 && o->from == FL_LOG_AT_SEQ && o->seq < sh->trim_seq) {
            rc = FL_EEXPIRED;
            out->next_seq = sh->trim_seq;
        } else if (g->nrefs == 0 && o->from != FL_LOG_AT_SEQ && sh->trim_seq &&
                   (!have_first ||
                    o->ts_ns < (o->from == FL_LOG_AT_SERVER_TS ? first_sts : first_pts))) {
            /* before the oldest record kept (server or producer time), and
             * older ones were removed: the answer may have been among them */
            rc = FL_EEXPIRED;
            out->next_seq = sh->trim_seq;
        } else {
            gather(s, log, sh, o, max_bytes, g);
            if (!g->need_load && g->nrefs == 0) {
                rc = !sh->open && sh->pending == 0 ? FL_EEOF : FL_EAGAIN;
                out->next_seq = sh->durable_next;
                if (o->from == FL_LOG_AT_SEQ && o->seq > out->next_seq)
                    out->next_seq = o->seq;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (rc < 0 || !g->need_load)
            break;
        /* a sealed segment's entries: load them (I/O, without mu) */
        free(g->own);
        g->own = NULL;
        g->has_own = 0;
        rc = fl_segcache_load(log, g->need, shard, &g->own, &g->nown);
        if (rc == 0) {
            g->own_segno = g->need;
            g->has_own = 1;
            continue;
        }
        if (g->nrefs) { /* what came before; the next read meets the error */
            rc = 0;
            break;
        }
        out->next_seq = g->need_end; /* past the segment that cannot be read */
        break;
    }
    free(g->own);
    if (rc < 0) {
        free(g);
        return rc;
    }
    fl_chunk_ref_t *refs = g->refs;
    size_t nrefs = g->nrefs;

    const fl_store_io_t *io = &s->io;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) {
        free(g);
        return FL_ENOMEM;
    }
    int fd = -1;
    uint64_t fd_segno = 0;
    size_t cap = 0;
    int started = 0, done = 0;
    char path[FL_PATH_MAX];
    for (size_t j = 0; j < nrefs && !done && rc == 0; j++) {
        const fl_chunk_ref_t *r = &refs[j];
        fl_segment_path(log, r->segno, path, sizeof path);
        if (fd < 0 || fd_segno != r->segno) {
            if (fd >= 0)
                io->close(io->ctx, fd);
            fd = io->open(io->ctx, path, O_RDONLY, 0);
            fd_segno = r->segno;
            if (fd < 0) {
                if (out->count)
                    break;
                rc = fd == -ENOENT ? FL_EEXPIRED : fd;
                out->next_seq = r->first_seq + r->count;
                break;
            }
        }
        uint8_t *buf = malloc(r->len);
        if (!buf) {
            rc = FL_ENOMEM;
            break;
        }
        fl_chunk_hdr_t h;
        int crc = fl_io_read_all(io, fd, buf, r->len, r->off);
        if (crc == 0)
            crc = fl_chunk_open(c, log->key, log->id, buf, r->len, &h);
        if (crc == 0 && (h.shard != r->shard || h.first_seq != r->first_seq || h.count != r->count))
            crc = FL_ECORRUPT;
        if (crc < 0) {
            free(buf);
            if (crc == FL_ETRUNCATED || crc == FL_ECRYPTO || crc == FL_EVERSION)
                crc = FL_ECORRUPT;
            fl_error("segment %s: chunk at offset %llu (%u bytes, shard %u, seq %llu..%llu) "
                     "%s: %s",
                     path, (unsigned long long)r->off, r->len, r->shard,
                     (unsigned long long)r->first_seq,
                     (unsigned long long)(r->first_seq + r->count - 1),
                     crc == FL_ECORRUPT ? "failed its integrity check" : "cannot be read",
                     fl_strerror(crc));
            if (out->count) { /* return what came before; the next read reports it */
                out->next_seq = r->first_seq;
                break;
            }
            rc = crc;
            out->next_seq = r->first_seq + r->count;
            break;
        }
        fl_reader_t rd;
        fl_reader_init(&rd, fl_slice(buf + FL_CHUNK_HDR, h.body_len));
        int kept = 0;
        for (uint32_t k = 0; k < h.count; k++) {
            fl_log_record_t rec;
            if (fl_chunk_record_next(&rd, &rec) < 0) {
                /* authentic but malformed: a writer bug, not disk damage */
                fl_error("segment %s: chunk at offset %llu: malformed record %u", path,
                         (unsigned long long)r->off, k);
                rc = out->count ? 0 : FL_ECORRUPT;
                out->next_seq = rc ? r->first_seq + r->count : r->first_seq + k;
                done = 1;
                break;
            }
            rec.seq = r->first_seq + k;
            if (!started && !rec_matches(o, &rec))
                continue;
            started = 1;
            if (out->count &&
                (out->count >= max_records || out->bytes + rec.payload.n > max_bytes)) {
                done = 1;
                break;
            }
            if ((rc = batch_push(out, &cap, &rec)) < 0)
                break;
            kept = 1;
            out->next_seq = rec.seq + 1;
        }
        if (kept && rc == 0)
            rc = batch_keep(out, buf);
        else
            free(buf);
    }
    if (fd >= 0)
        io->close(io->ctx, fd);
    EVP_CIPHER_CTX_free(c);
    free(g);
    if (rc < 0) {
        uint64_t next = out->next_seq;
        fl_log_batch_free(out);
        out->next_seq = next;
        return rc;
    }
    if (out->count == 0) {
        pthread_mutex_lock(&s->mu);
        if (out->next_seq < sh->durable_next && o->from == FL_LOG_AT_SEQ)
            out->next_seq = o->seq;
        rc = !sh->open && sh->pending == 0 ? FL_EEOF : FL_EAGAIN;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* ---- watches ---- */

int fl_log_watch_new(fl_log_t *log, uint32_t shard, fl_log_watch_t **out)
{
    if (!log || !out)
        return FL_EINVAL;
    fl_log_watch_t *w = calloc(1, sizeof *w);
    if (!w)
        return FL_ENOMEM;
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) {
        int rc = -errno;
        free(w);
        return rc;
    }
    w->log = log;
    w->shard = shard;
    fl_store_t *s = log->store;
    pthread_mutex_lock(&s->mu);
    fl_shard_t *sh = log->deleting ? NULL : fl_log_shard(log, shard);
    if (sh) {
        w->next = sh->watches;
        sh->watches = w;
    }
    pthread_mutex_unlock(&s->mu);
    if (!sh) {
        close(w->fd);
        free(w);
        return FL_ENOTFOUND;
    }
    *out = w;
    return 0;
}

int fl_log_watch_fd(const fl_log_watch_t *w)
{
    return w ? w->fd : FL_EINVAL;
}

int fl_log_watch_wait(fl_log_watch_t *w, uint64_t seq, int timeout_ms)
{
    if (!w)
        return FL_EINVAL;
    fl_store_t *s = w->log->store;
    int64_t deadline = fl_time_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        uint64_t v;
        if (read(w->fd, &v, sizeof v) < 0 && errno != EAGAIN)
            return -errno;
        pthread_mutex_lock(&s->mu);
        fl_shard_t *sh = fl_log_shard(w->log, w->shard);
        int ready = sh->durable_next > seq;
        int closed = !sh->open && sh->pending == 0;
        pthread_mutex_unlock(&s->mu);
        if (ready)
            return 0;
        if (closed)
            return FL_EEOF;
        int wait_ms = -1;
        if (timeout_ms >= 0) {
            int64_t left = deadline - fl_time_mono_ns();
            if (left <= 0)
                return FL_ETIMEDOUT;
            wait_ms = (int)((left + 999999) / 1000000);
        }
        struct pollfd pfd = {w->fd, POLLIN, 0};
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
            return -errno;
    }
}

void fl_log_watch_free(fl_log_watch_t *w)
{
    if (!w)
        return;
    fl_store_t *s = w->log->store;
    pthread_mutex_lock(&s->mu);
    fl_shard_t *sh = fl_log_shard(w->log, w->shard);
    for (fl_log_watch_t **pp = sh ? &sh->watches : NULL; pp && *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    close(w->fd);
    free(w);
}
