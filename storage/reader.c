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
 * that segment. Then it preads each chunk from its segment through a
 * staging buffer of at most 256 KiB (reused for the read, so the copy out
 * of the page cache lands in the core's cache), decrypting each piece out
 * of it into the chunk's plaintext buffer, checks header and GCM tag at
 * the end and parses the records. fl_log_read keeps each chunk's plaintext
 * in the batch; fl_log_read_each hands a chunk's records to its caller and
 * reuses one plaintext buffer. A chunk that fails its check is logged with
 * file and offset and never returned as data (no record of it is handed
 * over before its tag is checked): records before it come back first, and
 * the next read answers FL_ECORRUPT with next_seq past the damaged chunk.
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

/* Gather the chunks of a read (the rounds above, loading sealed segments'
 * entries without mu between them). 0 with g->refs; or a negative answer
 * (FL_EEXPIRED, FL_EEOF, FL_EAGAIN, FL_ENOTFOUND, a load's error) with
 * *next_seq. *shp: the shard (valid while the log is open). */
static int read_gather(fl_log_t *log, uint32_t shard, const fl_log_read_opts_t *o, size_t max_bytes,
                       gather_t *g, fl_shard_t **shp, uint64_t *next_seq)
{
    fl_store_t *s = log->store;
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        fl_shard_t *sh = *shp = fl_log_shard(log, shard);
        uint64_t first_seq;
        int64_t first_sts, first_pts;
        int have_first = sh && fl_shard_first(sh, &first_seq, &first_sts, &first_pts) == 0;
        if (!sh || log->deleting) {
            rc = FL_ENOTFOUND;
        } else if (g->nrefs == 0 && o->from == FL_LOG_AT_SEQ && o->seq < sh->trim_seq) {
            rc = FL_EEXPIRED;
            *next_seq = sh->trim_seq;
        } else if (g->nrefs == 0 && o->from != FL_LOG_AT_SEQ && sh->trim_seq &&
                   (!have_first ||
                    o->ts_ns < (o->from == FL_LOG_AT_SERVER_TS ? first_sts : first_pts))) {
            /* before the oldest record kept (server or producer time), and
             * older ones were removed: the answer may have been among them */
            rc = FL_EEXPIRED;
            *next_seq = sh->trim_seq;
        } else {
            gather(s, log, sh, o, max_bytes, g);
            if (!g->need_load && g->nrefs == 0) {
                rc = !sh->open && sh->pending == 0 ? FL_EEOF : FL_EAGAIN;
                *next_seq = sh->durable_next;
                if (o->from == FL_LOG_AT_SEQ && o->seq > *next_seq)
                    *next_seq = o->seq;
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
        *next_seq = g->need_end; /* past the segment that cannot be read */
        break;
    }
    free(g->own);
    g->own = NULL;
    return rc;
}

/* Where a read's records go: into a batch (fl_log_read: each chunk's
 * plaintext is kept by the batch, a fresh buffer for the next), or to a
 * function, a chunk at a time (fl_log_read_each: one buffer reused). */
typedef struct {
    fl_log_batch_t *batch;
    size_t batch_cap;
    fl_log_each_fn fn;
    void *arg;
    fl_log_record_t *v; /* fl_log_read_each: one chunk's records */
    size_t v_cap;
    size_t count, bytes; /* records taken so far (delivered or not) */
    uint64_t next_seq;
} sink_t;

/* Chunks are read through a buffer of this size (or the chunk's, when
 * smaller) and decrypted out of it into the plaintext buffer: the copy
 * from the page cache lands in a buffer that stays in the core's cache,
 * where a chunk of megabytes read whole was written to memory and read
 * back by the decryption. */
enum { STAGE = 256u << 10 };

/* Tell the kernel that this read's chunks in the segment just opened
 * (refs[j..] while in that segment) are read next, when they are more
 * than the first piece: a catch-up of data no longer in the page cache
 * (big writes bypass it) then reads them from the disk in the background
 * while the first ones are decrypted, where the kernel's own read-ahead
 * (per descriptor, and 128 KiB here) made each piece wait for the disk. A
 * hint on the descriptor, not an I/O of the table's (nothing a test
 * injects faults into); its failure changes nothing. */
static void hint_willneed(int fd, const fl_chunk_ref_t *refs, size_t j, size_t n)
{
    uint64_t from = refs[j].off, to = refs[j].off + refs[j].len;
    for (size_t i = j + 1; i < n && refs[i].segno == refs[j].segno; i++)
        if (refs[i].off + refs[i].len > to)
            to = refs[i].off + refs[i].len;
    if (to - from > STAGE)
        (void)posix_fadvise(fd, (off_t)from, (off_t)(to - from), POSIX_FADV_WILLNEED);
}

/* Read chunk r through stage into plain (its body: h.body_len bytes),
 * checked and decrypted. *keyed: c holds the log's key. */
static int read_chunk(fl_log_t *log, EVP_CIPHER_CTX *c, int *keyed, int fd, const fl_chunk_ref_t *r,
                      uint8_t *stage, uint8_t *plain, fl_chunk_hdr_t *h)
{
    const fl_store_io_t *io = &log->store->io;
    if (r->len < FL_CHUNK_HDR + FL_CHUNK_TAG)
        return FL_ECORRUPT;
    uint8_t tag[FL_CHUNK_TAG];
    uint64_t body_end = 0; /* offset of the tag in the chunk */
    int rc = 0;
    for (uint64_t at = 0; at < r->len && rc == 0;) {
        size_t n = r->len - at < STAGE ? (size_t)(r->len - at) : STAGE;
        rc = fl_io_read_all(io, fd, stage, n, r->off + at);
        if (rc < 0)
            return rc;
        size_t from = 0;
        if (at == 0) {
            rc = fl_chunk_hdr_decode(stage, n, h);
            if (rc < 0)
                return rc;
            body_end = (uint64_t)FL_CHUNK_HDR + h->body_len;
            if (body_end + FL_CHUNK_TAG != r->len || h->shard != r->shard ||
                h->first_seq != r->first_seq || h->count != r->count)
                return FL_ECORRUPT;
            if ((rc = fl_chunk_open_begin(c, *keyed ? NULL : log->key, log->id, stage)) < 0)
                return rc;
            *keyed = 1;
            from = FL_CHUNK_HDR;
        }
        /* this piece: body bytes [at + from, min(at + n, body_end)), then
         * tag bytes */
        uint64_t b1 = at + n < body_end ? at + n : body_end;
        if (at + from < b1)
            rc = fl_chunk_open_update(c, stage + from, plain + (at + from - FL_CHUNK_HDR),
                                      (size_t)(b1 - at - from));
        for (uint64_t t = b1 > at + from ? b1 : at + from; t < at + n; t++)
            tag[t - body_end] = stage[t - at];
        at += n;
    }
    if (rc == 0)
        rc = fl_chunk_open_end(c, tag);
    return rc;
}

/* Take one record of the chunk being read: into the batch, or into the
 * chunk's list (handed over once the chunk is done). */
static int sink_take(sink_t *k, size_t in_chunk, const fl_log_record_t *rec)
{
    if (k->batch)
        return batch_push(k->batch, &k->batch_cap, rec);
    if (in_chunk == k->v_cap) {
        size_t nc = k->v_cap ? k->v_cap * 2 : 256;
        fl_log_record_t *v = realloc(k->v, nc * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        k->v = v;
        k->v_cap = nc;
    }
    k->v[in_chunk] = *rec;
    return 0;
}

/* Read the gathered chunks into the sink, in order, until the limits.
 * The answer as fl_log_read's; k->next_seq set as out->next_seq. */
static int read_refs(fl_log_t *log, const fl_log_read_opts_t *o, const fl_chunk_ref_t *refs,
                     size_t nrefs, size_t max_bytes, size_t max_records, sink_t *k)
{
    const fl_store_io_t *io = &log->store->io;
    size_t stage_n = 0, plain_cap = 0, plain_n = 0;
    for (size_t j = 0; j < nrefs; j++) {
        if (refs[j].len > stage_n)
            stage_n = refs[j].len;
        if (refs[j].len > plain_cap)
            plain_cap = refs[j].len;
    }
    if (stage_n > STAGE)
        stage_n = STAGE;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t *stage = malloc(stage_n ? stage_n : 1);
    uint8_t *plain = NULL; /* the body of the chunk being read */
    if (!c || !stage) {
        EVP_CIPHER_CTX_free(c);
        free(stage);
        return FL_ENOMEM;
    }
    int fd = -1, keyed = 0;
    uint64_t fd_segno = 0;
    int rc = 0, started = 0, done = 0;
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
                if (k->count)
                    break;
                rc = fd == -ENOENT ? FL_EEXPIRED : fd;
                k->next_seq = r->first_seq + r->count;
                break;
            }
            hint_willneed(fd, refs, j, nrefs);
        }
        /* a batch keeps each chunk's buffer: one of the chunk's size each
         * time; else one of the largest, reused */
        if (plain && plain_n < r->len) {
            free(plain);
            plain = NULL;
        }
        if (!plain) {
            plain_n = k->batch ? r->len : plain_cap;
            if (!(plain = malloc(plain_n))) {
                rc = FL_ENOMEM;
                break;
            }
        }
        fl_chunk_hdr_t h;
        int crc = read_chunk(log, c, &keyed, fd, r, stage, plain, &h);
        if (crc < 0) {
            if (crc == FL_ETRUNCATED || crc == FL_ECRYPTO || crc == FL_EVERSION)
                crc = FL_ECORRUPT;
            fl_error("segment %s: chunk at offset %llu (%u bytes, shard %u, seq %llu..%llu) "
                     "%s: %s",
                     path, (unsigned long long)r->off, r->len, r->shard,
                     (unsigned long long)r->first_seq,
                     (unsigned long long)(r->first_seq + r->count - 1),
                     crc == FL_ECORRUPT ? "failed its integrity check" : "cannot be read",
                     fl_strerror(crc));
            if (k->count) { /* return what came before; the next read reports it */
                k->next_seq = r->first_seq;
                break;
            }
            rc = crc;
            k->next_seq = r->first_seq + r->count;
            break;
        }
        fl_reader_t rd;
        fl_reader_init(&rd, fl_slice(plain, h.body_len));
        size_t in_chunk = 0;
        for (uint32_t i = 0; i < h.count; i++) {
            fl_log_record_t rec;
            if (fl_chunk_record_next(&rd, &rec) < 0) {
                /* authentic but malformed: a writer bug, not disk damage */
                fl_error("segment %s: chunk at offset %llu: malformed record %u", path,
                         (unsigned long long)r->off, i);
                rc = k->count ? 0 : FL_ECORRUPT;
                k->next_seq = rc ? r->first_seq + r->count : r->first_seq + i;
                done = 1;
                break;
            }
            rec.seq = r->first_seq + i;
            if (!started && !rec_matches(o, &rec))
                continue;
            started = 1;
            if (k->count && (k->count >= max_records || k->bytes + rec.payload.n > max_bytes)) {
                done = 1;
                break;
            }
            if ((rc = sink_take(k, in_chunk, &rec)) < 0)
                break;
            in_chunk++;
            k->count++;
            k->bytes += rec.payload.n;
            k->next_seq = rec.seq + 1;
        }
        if (rc == 0 && in_chunk) {
            if (k->batch) { /* the batch keeps the plaintext its records point into */
                if ((rc = batch_keep(k->batch, plain)) == 0)
                    plain = NULL;
            } else {
                rc = k->fn(k->arg, k->v, in_chunk);
            }
        }
    }
    if (fd >= 0)
        io->close(io->ctx, fd);
    EVP_CIPHER_CTX_free(c);
    free(stage);
    free(plain);
    return rc;
}

/* A read: gather, read, and the answer when nothing was found. */
static int read_into(fl_log_t *log, uint32_t shard, const fl_log_read_opts_t *o, sink_t *k)
{
    if (!log || !o || o->from > FL_LOG_AT_PRODUCER_TS)
        return FL_EINVAL;
    fl_store_t *s = log->store;
    size_t max_bytes = o->max_bytes ? o->max_bytes : (8u << 20);
    size_t max_records = o->max_records ? o->max_records : 10000;
    gather_t *g = calloc(1, sizeof *g);
    if (!g)
        return FL_ENOMEM;
    fl_shard_t *sh = NULL;
    int rc = read_gather(log, shard, o, max_bytes, g, &sh, &k->next_seq);
    if (rc == 0)
        rc = read_refs(log, o, g->refs, g->nrefs, max_bytes, max_records, k);
    free(g);
    if (rc == 0 && k->count == 0) {
        pthread_mutex_lock(&s->mu);
        if (k->next_seq < sh->durable_next && o->from == FL_LOG_AT_SEQ)
            k->next_seq = o->seq;
        rc = !sh->open && sh->pending == 0 ? FL_EEOF : FL_EAGAIN;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

int fl_log_read(fl_log_t *log, uint32_t shard, const fl_log_read_opts_t *o, fl_log_batch_t *out)
{
    if (!log || !o || !out || o->from > FL_LOG_AT_PRODUCER_TS)
        return FL_EINVAL;
    fl_log_batch_free(out);
    sink_t k = {.batch = out};
    int rc = read_into(log, shard, o, &k);
    if (rc < 0)
        fl_log_batch_free(out);
    out->next_seq = k.next_seq;
    return rc;
}

int fl_log_read_each(fl_log_t *log, uint32_t shard, const fl_log_read_opts_t *o, fl_log_each_fn fn,
                     void *arg, fl_log_each_t *res)
{
    if (!fn || !res)
        return FL_EINVAL;
    memset(res, 0, sizeof *res);
    sink_t k = {.fn = fn, .arg = arg};
    int rc = read_into(log, shard, o, &k);
    free(k.v);
    res->count = rc < 0 ? 0 : k.count;
    res->bytes = rc < 0 ? 0 : k.bytes;
    res->next_seq = k.next_seq;
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
