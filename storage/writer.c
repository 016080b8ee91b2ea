/*
 * storage/writer.c — appends, the writer thread and group commit, and the
 * completion queue.
 *
 * fl_log_append() copies a record (fl_log_append_nocopy() only points at
 * its payload, released once written or failed), assigns its sequence
 * number under store->mu and queues it. The writer thread owns every active
 * segment's file descriptors (a rolled segment's index descriptor goes to
 * the sealer thread with its seal) and loops:
 *
 *   1. take the whole queue (every log and shard with pending records), up
 *      to FL_BATCH_MAX_BYTES;
 *   2. per log, seal the records of each shard into chunks (consecutive
 *      sequence numbers, up to chunk_max_bytes), one after the other into
 *      one buffer per log (reused from batch to batch), at the offsets they
 *      will have at the end of the log's active segment (a log whose
 *      segment passed segment_max_bytes rolls first, once the batch in
 *      flight is finished: the rolled segment's index is sealed by the
 *      sealer thread, off the commit path, see seal_job_run; the next
 *      segment was made ahead by the sealer too, see spare_ask);
 *   3. the sync stage: for every log, one write of its buffer (its aligned
 *      middle O_DIRECT when big, see segment_write) and one fdatasync;
 *      the logs concurrently (a pool of helper threads), so the batch pays
 *      about one device flush whatever the number of logs and shards:
 *      group commit. When more records are queued, the stage runs on a
 *      long-lived helper thread while the writer seals the next batch (a
 *      two-stage pipeline: the CPU's sealing overlaps the disk's writing;
 *      at most one batch is sealed behind the one in its stage, and it is
 *      queued on the helper at once, so its stage starts the moment the
 *      first one's ends, while the writer still finishes that one); when
 *      nothing is queued, the writer runs the stage itself (no hand-over
 *      on the latency path);
 *   4. when it returns: publish the chunks to readers, wake watches,
 *      queue the completions and signal the eventfd, then append their
 *      index entries (after the fdatasync, so an index entry never points
 *      at unsynced data);
 *   5. run control calls (delete) and retention with no batch in flight
 *      and no seal running (retention also after each seal); a control
 *      call only once every record appended before it was taken (the
 *      queue may be taken a batch-sized prefix at a time) and finished.
 *
 * The queue is an array of records; the writer takes it in one step (a
 * spare array takes its place) when it fits FL_BATCH_MAX_BYTES
 * (q_take_bytes), so it never reads cold records while holding mu, nor
 * chases a list's pointers one cache miss at a time; the records' memory comes from and goes back
 * to per-size free stacks (rec_alloc).
 *
 * A failed write or fdatasync cuts the log's segment back to where the
 * batch began, so later chunks never follow garbage; those records complete
 * with the error (e.g. -ENOSPC) and later appends try again. A batch
 * already sealed behind the failed one had its offsets past the cut: it is
 * not written (cut_gen tells) and fails with the same error: nothing is
 * reported durable that is not on disk. If even the cut cannot be made
 * durable, the log refuses further appends (FL_EIO) until the store is
 * reopened, because after a failed fsync the page cache can no longer be
 * trusted (fsyncgate).
 *
 * Completions: a growable array under cmu plus an eventfd that is written
 * under the same lock and drained when the array empties, so a readable fd
 * always means "maybe something", never a lost wake-up.
 *
 * Layering: store.c, logmeta.c and reshard.c call the writer (start, stop,
 * fl_writer_call, ensure_segment, notify_shard); the writer calls only the
 * files below it (logmem.c for a log's shards, segment, index, chunk,
 * segcache, retention, io), never back up into them: control work such as
 * a delete comes in as a function through fl_writer_call.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/diag.h"
#include "storage_internal.h"

#define FL_BATCH_MAX_BYTES (64u << 20)
/* A batch this big (records or bytes) sealed while another was in flight
 * is part of a stream: its fdatasyncs go to the helper thread even when
 * nothing is queued yet (see writer_main). */
#define FL_STREAM_RECORDS 64
#define FL_STREAM_BYTES   (4u << 20)

/* ---- queued records' memory ----
 *
 * A queued record lives from its append to its completion, then its memory
 * goes back to a free stack of its size class instead of to malloc: with
 * records freed a batch at a time, malloc gave the top of its heap back to
 * the kernel and faulted it in again for the next appends (a page fault per
 * 4 KiB, more CPU than sealing the records). Classes have four sizes per
 * doubling (a record uses at least 4/5 of its block), from 256 B to 8 MiB;
 * bigger records are malloc'd. At most FL_REC_KEEP bytes are kept free, and
 * only while appends come: the writer gives them back when a retention
 * tick finds that nothing was appended since the last one, and at close. */
#define FL_REC_MIN_LOG2 8 /* class 0: 256 B */
#define FL_REC_KEEP     (128u << 20)

/* Size class of sz bytes and its block size; -1 if bigger than any. */
static int rec_class(size_t sz, size_t *cap)
{
    if (sz <= ((size_t)1 << FL_REC_MIN_LOG2)) {
        *cap = (size_t)1 << FL_REC_MIN_LOG2;
        return 0;
    }
    int k = 63 - __builtin_clzll((unsigned long long)(sz - 1)); /* 2^k < sz <= 2^(k+1) */
    size_t step = (size_t)1 << (k - 2);
    size_t j = (sz - ((size_t)1 << k) + step - 1) / step; /* 1..4 */
    int cls = 1 + (k - FL_REC_MIN_LOG2) * 4 + (int)j - 1;
    if (cls >= FL_REC_CLASSES)
        return -1;
    *cap = ((size_t)1 << k) + j * step;
    return cls;
}

static size_t rec_class_cap(int cls)
{
    if (cls == 0)
        return (size_t)1 << FL_REC_MIN_LOG2;
    int k = FL_REC_MIN_LOG2 + (cls - 1) / 4;
    size_t j = (size_t)((cls - 1) % 4) + 1;
    return ((size_t)1 << k) + j * ((size_t)1 << (k - 2));
}

static fl_pending_t *rec_alloc(fl_store_t *s, size_t sz)
{
    size_t cap;
    int cls = rec_class(sz, &cap);
    fl_pending_t *p = NULL;
    if (cls >= 0) {
        pthread_mutex_lock(&s->rmu);
        p = s->rfree[cls];
        if (p) {
            s->rfree[cls] = p->next;
            s->rfree_bytes -= cap;
            if (p->next) /* the next append's block: its header is cold */
                __builtin_prefetch(p->next, 1);
        }
        pthread_mutex_unlock(&s->rmu);
    }
    if (!p)
        p = malloc(cls >= 0 ? cap : sz);
    if (p)
        p->cls = (int8_t)cls;
    return p;
}

static void rec_free(fl_store_t *s, fl_pending_t *p)
{
    if (p->cls >= 0) {
        size_t cap = rec_class_cap(p->cls);
        pthread_mutex_lock(&s->rmu);
        int keep = s->rfree_bytes + cap <= FL_REC_KEEP;
        if (keep) {
            p->next = s->rfree[p->cls];
            s->rfree[p->cls] = p;
            s->rfree_bytes += cap;
        }
        pthread_mutex_unlock(&s->rmu);
        if (keep)
            return;
    }
    free(p);
}

void fl_writer_drop_records(fl_store_t *s)
{
    pthread_mutex_lock(&s->rmu);
    for (int c = 0; c < FL_REC_CLASSES; c++)
        while (s->rfree[c]) {
            fl_pending_t *p = s->rfree[c];
            s->rfree[c] = p->next;
            free(p);
        }
    s->rfree_bytes = 0;
    pthread_mutex_unlock(&s->rmu);
}

/* A batch's records back at once: one lock for all of them (a lock per
 * record moved the lock's cache line between the writer's core and the
 * appender's thousands of times per batch). */
static void pending_free_all(fl_store_t *s, fl_pending_t **v, size_t n)
{
    fl_pending_t *drop = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i]->release)
            v[i]->release(v[i]->release_arg);
    pthread_mutex_lock(&s->rmu);
    for (size_t i = 0; i < n; i++) {
        fl_pending_t *p = v[i];
        size_t cap = p->cls >= 0 ? rec_class_cap(p->cls) : 0;
        if (p->cls >= 0 && s->rfree_bytes + cap <= FL_REC_KEEP) {
            p->next = s->rfree[p->cls];
            s->rfree[p->cls] = p;
            s->rfree_bytes += cap;
        } else {
            p->next = drop;
            drop = p;
        }
    }
    pthread_mutex_unlock(&s->rmu);
    while (drop) {
        fl_pending_t *p = drop;
        drop = p->next;
        free(p);
    }
}

/* ---- appends ---- */

/* A queued record is done with: its payload goes back to its owner. */
static void pending_free(fl_store_t *s, fl_pending_t *p)
{
    if (!p)
        return;
    if (p->release)
        p->release(p->release_arg);
    rec_free(s, p);
}

/* fl_log_append (release NULL: the payload is copied into the queued
 * record) and fl_log_append_nocopy (the queued record points at the
 * caller's payload until release). The queue limit counts the payload
 * either way: it is memory held for the writer. */
static int append(fl_log_t *log, uint32_t shard, const fl_log_record_t *rec,
                  void (*release)(void *), void *release_arg, void *data, uint64_t *seq_out)
{
    if (!log || !rec || !seq_out || rec->key.n > FL_LOG_MAX_KEY ||
        rec->payload.n > FL_LOG_MAX_PAYLOAD || (rec->key.n && !rec->key.p) ||
        (rec->payload.n && !rec->payload.p))
        return FL_EINVAL;
    fl_store_t *s = log->store;
    size_t sz = sizeof(fl_pending_t) + rec->key.n + rec->payload.n;
    fl_pending_t *p = rec_alloc(s, release ? sizeof(fl_pending_t) + rec->key.n : sz);
    if (!p)
        return FL_ENOMEM;
    p->next = NULL;
    p->log = log;
    p->shard = shard;
    p->pts = rec->producer_ts_ns;
    p->flags = rec->flags;
    p->klen = (uint16_t)rec->key.n;
    p->plen = (uint32_t)rec->payload.n;
    p->data = data;
    p->release = NULL; /* set once the append is accepted */
    p->release_arg = NULL;
    if (rec->key.n)
        memcpy(p->bytes, rec->key.p, rec->key.n);
    if (release) {
        p->payload = rec->payload.p;
    } else {
        p->payload = p->bytes + rec->key.n;
        if (rec->payload.n)
            memcpy(p->bytes + rec->key.n, rec->payload.p, rec->payload.n);
    }
    int64_t now = rec->server_ts_ns ? rec->server_ts_ns : fl_clock_now(&s->clock);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    fl_shard_t *sh = fl_log_shard(log, shard);
    if (s->stop)
        rc = FL_ESTATE;
    else if (log->deleting)
        rc = FL_ECLOSED;
    else if (!sh)
        rc = FL_ENOTFOUND;
    else if (!sh->open)
        rc = FL_ECLOSED;
    else if (log->broken)
        rc = FL_EIO;
    else if (s->q_bytes && s->q_bytes + sz > s->pending_max)
        rc = FL_EAGAIN;
    else if ((sh->next_seq & FL_SEQ_COUNTER_MAX) == FL_SEQ_COUNTER_MAX)
        rc = FL_ELIMIT;
    if (rc == 0 && s->q_n == s->qcap) { /* (amortised: the array is reused) */
        size_t nc = s->qcap ? 2 * s->qcap : 1024;
        fl_pending_t **nv = realloc(s->qv, nc * sizeof *nv);
        if (nv) {
            s->qv = nv;
            s->qcap = nc;
        } else {
            rc = FL_ENOMEM;
        }
    }
    if (rc == 0) {
        p->seq = sh->next_seq++;
        p->sts = now < sh->last_sts ? sh->last_sts : now;
        sh->last_sts = p->sts;
        if (rec->producer_ts_ns > sh->max_pts)
            sh->max_pts = rec->producer_ts_ns;
        sh->pending++;
        s->qv[s->q_n++] = p;
        s->q_bytes += sz;
        s->q_take_bytes += (uint64_t)p->klen + p->plen + 1;
        s->n_submitted++;
        s->stats.appends++;
        s->stats.appended_bytes += rec->payload.n;
        *seq_out = p->seq;
        p->release = release;
        p->release_arg = release_arg;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc < 0)
        rec_free(s, p); /* refused: the payload is still the caller's */
    return rc;
}

int fl_log_append(fl_log_t *log, uint32_t shard, const fl_log_record_t *rec, void *data,
                  uint64_t *seq_out)
{
    return append(log, shard, rec, NULL, NULL, data, seq_out);
}

int fl_log_append_nocopy(fl_log_t *log, uint32_t shard, const fl_log_record_t *rec,
                         void (*release)(void *arg), void *arg, void *data, uint64_t *seq_out)
{
    if (!release)
        return FL_EINVAL;
    return append(log, shard, rec, release, arg, data, seq_out);
}

/* ---- completions ---- */

int fl_store_completion_fd(const fl_store_t *s)
{
    return s ? s->comp_fd : FL_EINVAL;
}

static void completions_push(fl_store_t *s, fl_pending_t **v, const int *st, size_t n)
{
    pthread_mutex_lock(&s->cmu);
    if (s->ncomp + n > s->capcomp) {
        size_t nc = s->capcomp ? s->capcomp : 256;
        while (nc < s->ncomp + n)
            nc *= 2;
        fl_log_completion_t *c = realloc(s->comp, nc * sizeof *c);
        if (!c) {
            /* Cannot report: the records are stored (or not) all the same. */
            fl_error("completion queue: out of memory, %zu completions lost", n);
            pthread_mutex_unlock(&s->cmu);
            return;
        }
        s->comp = c;
        s->capcomp = nc;
    }
    for (size_t i = 0; i < n; i++) {
        fl_log_completion_t *c = &s->comp[s->ncomp++];
        c->data = v[i]->data;
        c->log = v[i]->log;
        c->shard = v[i]->shard;
        c->seq = v[i]->seq;
        c->status = st[i];
    }
    uint64_t one = 1;
    if (n && write(s->comp_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        fl_error("completion eventfd: %s", fl_strerror(-errno));
    pthread_mutex_unlock(&s->cmu);
}

int fl_store_poll_completions(fl_store_t *s, fl_log_completion_t *out, size_t max, size_t *n_out)
{
    if (!s || !n_out || (max && !out))
        return FL_EINVAL;
    pthread_mutex_lock(&s->cmu);
    size_t n = s->ncomp < max ? s->ncomp : max;
    if (n) {
        memcpy(out, s->comp, n * sizeof *out);
        memmove(s->comp, s->comp + n, (s->ncomp - n) * sizeof *out);
        s->ncomp -= n;
    }
    if (s->ncomp == 0) {
        uint64_t v;
        if (read(s->comp_fd, &v, sizeof v) < 0 && errno != EAGAIN)
            fl_error("completion eventfd: %s", fl_strerror(-errno));
    }
    pthread_mutex_unlock(&s->cmu);
    *n_out = n;
    return 0;
}

int fl_store_wait_completions(fl_store_t *s, int timeout_ms)
{
    if (!s)
        return FL_EINVAL;
    struct pollfd pfd = {s->comp_fd, POLLIN, 0};
    for (;;) {
        int r = poll(&pfd, 1, timeout_ms);
        if (r > 0)
            return 0;
        if (r == 0)
            return FL_ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

int fl_store_sync(fl_store_t *s)
{
    if (!s)
        return FL_EINVAL;
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->n_submitted;
    while (s->n_done < target && s->writer_started)
        pthread_cond_wait(&s->done_cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void fl_writer_notify_shard(fl_shard_t *sh)
{
    uint64_t one = 1;
    for (struct fl_log_watch *w = sh->watches; w; w = w->next)
        if (write(w->fd, &one, sizeof one) < 0 && errno != EAGAIN)
            fl_error("watch eventfd: %s", fl_strerror(-errno));
}

/* ---- the batch ---- */

typedef struct {
    fl_log_t *log;
    size_t first, end; /* its records: v[first..end) */
    uint64_t start_off;
    fl_chunk_ref_t *refs;
    size_t nrefs, caprefs;
    int rc;
    int rolled;
    uint64_t gen;     /* log->cut_gen when sealed */
    struct wbuf *buf; /* its chunks, sealed, at buf->p + pad */
    size_t pad, len;  /* pad = start_off % FL_DIO_ALIGN; len: sealed bytes */
} log_work_t;

/* Big writes bypass the page cache: copying them into it costs the writer
 * more CPU than sealing them (the kernel's copy into fresh page-cache pages
 * runs at under 1 GB/s on the machines we measured, AES-GCM at 4), and
 * their pages would only push out what readers use. The aligned middle of
 * a write of at least FL_DIO_MIN bytes goes through an O_DIRECT descriptor
 * of the active segment (the caller puts it at a 4 KiB aligned address);
 * its unaligned head and tail, shared with neighbouring chunks, go through
 * the page cache. The sync stage (work_write) has no unaligned head: it
 * starts at the page boundary, with the page's earlier bytes read back in
 * front, so that direct bytes never reach the disk ahead of earlier ones.
 * fdatasync of the segment makes both kinds durable, as before.
 * If the file system refuses O_DIRECT (EINVAL: tmpfs, a torn-write test's
 * odd length), the log writes through the page cache from then on; any
 * other error of the direct write is retried buffered, so errors read as
 * they always did. */
#define FL_DIO_ALIGN 4096u
#define FL_DIO_MIN   (256u << 10)

static int dio_fd(fl_store_t *s, fl_log_t *log)
{
    if (log->dio_fd >= 0 || log->dio_off || s->buffered_writes)
        return log->dio_fd;
    char path[FL_PATH_MAX];
    fl_segment_path(log, log->segs[log->nsegs - 1].segno, path, sizeof path);
    int fd = s->io.open(s->io.ctx, path, O_WRONLY | O_DIRECT, 0);
    if (fd == FL_EINVAL) {
        fl_warn("log %s: the file system refuses O_DIRECT; writing through the page cache",
                log->name);
        log->dio_off = 1;
    } else if (fd < 0) { /* e.g. out of descriptors: buffered this time */
        fl_debug("log %s: O_DIRECT open of %s failed: %s", log->name, path, fl_strerror(fd));
    } else {
        log->dio_fd = fd;
    }
    return log->dio_fd;
}

static int segment_write(fl_store_t *s, fl_log_t *log, const uint8_t *buf, size_t len, uint64_t off)
{
    uint64_t head = (FL_DIO_ALIGN - off % FL_DIO_ALIGN) % FL_DIO_ALIGN;
    if (len >= FL_DIO_MIN && ((uintptr_t)(buf + head) % FL_DIO_ALIGN) == 0 && dio_fd(s, log) >= 0) {
        size_t mid = (size_t)((len - head) & ~(uint64_t)(FL_DIO_ALIGN - 1));
        int rc = fl_io_write_all(&s->io, log->seg_fd, buf, (size_t)head, off);
        if (rc < 0)
            return rc;
        rc = fl_io_write_all(&s->io, log->dio_fd, buf + head, mid, off + head);
        if (rc == 0) {
            pthread_mutex_lock(&s->mu);
            s->stats.direct_bytes += mid;
            pthread_mutex_unlock(&s->mu);
        } else {
            if (rc == FL_EINVAL) {
                fl_warn("log %s: O_DIRECT write refused; writing through the page cache",
                        log->name);
                s->io.close(s->io.ctx, log->dio_fd);
                log->dio_fd = -1;
                log->dio_off = 1;
            }
            rc = fl_io_write_all(&s->io, log->seg_fd, buf + head, mid, off + head);
            if (rc < 0)
                return rc;
        }
        head += mid;
        return fl_io_write_all(&s->io, log->seg_fd, buf + head, len - (size_t)head, off + head);
    }
    return fl_io_write_all(&s->io, log->seg_fd, buf, len, off);
}

static int cmp_pending(const void *a, const void *b)
{
    const fl_pending_t *x = *(fl_pending_t *const *)a, *y = *(fl_pending_t *const *)b;
    if (x->log->id != y->log->id)
        return x->log->id < y->log->id ? -1 : 1;
    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The batch's n records (q, in queue order) into v, by log, shard and
 * sequence; *bytes: what they count in q_bytes. Within a shard the queue
 * holds them in sequence order (assigned and queued under one lock), so
 * when they all belong to one log (and it has few enough shards), a
 * counting sort by shard orders them in two passes; else qsort. */
static void batch_order(fl_pending_t *const *q, fl_pending_t **v, size_t n, uint64_t *bytes)
{
    fl_log_t *log = q[0]->log;
    uint32_t maxsh = 0;
    uint64_t by = 0;
    int one_log = 1;
    for (size_t i = 0; i < n; i++) {
        const fl_pending_t *p = q[i];
        by += sizeof *p + p->klen + p->plen;
        one_log &= p->log == log;
        if (p->shard > maxsh)
            maxsh = p->shard;
    }
    *bytes = by;
    size_t *at = NULL;
    if (one_log && n > 1 && maxsh < 4 * n + 64)
        at = calloc((size_t)maxsh + 2, sizeof *at);
    if (!at) {
        memcpy(v, q, n * sizeof *v);
        qsort(v, n, sizeof *v, cmp_pending);
        return;
    }
    for (size_t i = 0; i < n; i++)
        at[q[i]->shard + 1]++;
    for (uint32_t k = 1; k <= maxsh + 1; k++)
        at[k] += at[k - 1];
    for (size_t i = 0; i < n; i++)
        v[at[q[i]->shard]++] = q[i];
    free(at);
}

/* Make segno (already created: sfd, ifd) the log's active segment. */
static int install_segment(fl_store_t *s, fl_log_t *log, uint64_t segno, int sfd, int ifd)
{
    pthread_mutex_lock(&s->mu);
    int rc = fl_log_push_seg(log, segno, FL_SEG_HDR, INT64_MIN);
    if (rc == 0)
        s->total_bytes += FL_SEG_HDR;
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        s->io.close(s->io.ctx, sfd);
        s->io.close(s->io.ctx, ifd);
        return rc;
    }
    log->seg_fd = sfd;
    log->idx_fd = ifd;
    log->seg_end = FL_SEG_HDR;
    log->idx_count = 0;
    log->idx_stale = 0;
    log->refs_missing = 0;
    return 0;
}

static uint64_t next_segno(const fl_log_t *log)
{
    return log->nsegs ? log->segs[log->nsegs - 1].segno + 1 : 1;
}

int fl_writer_ensure_segment(fl_store_t *s, fl_log_t *log)
{
    if (log->seg_fd >= 0)
        return 0;
    uint64_t segno = next_segno(log);
    int sfd, ifd;
    int rc = fl_segment_create(log, segno, &sfd, &ifd);
    if (rc < 0)
        return rc;
    return install_segment(s, log, segno, sfd, ifd);
}

/* The writer's sealed-chunk buffers: 4 KiB aligned (for O_DIRECT), reused
 * from batch to batch so that sealing never writes into fresh pages. Only
 * the writer thread takes and returns them (batch_finish runs on it).
 * Sizes are powers of two from 64 KiB, one free stack per size: taking and
 * returning one costs the same with a thousand logs in a batch as with one.
 * At most FL_WBUF_KEEP bytes of them are kept free (the largest go first):
 * enough for the two batches of the pipeline even when each is a little
 * over FL_BATCH_MAX_BYTES (headers and tags) and so gets the next class up
 * (with 2 x FL_BATCH_MAX_BYTES, a log taking full batches of big records
 * had one of its two buffers freed and a fresh one faulted in per batch).
 * A batch takes a free buffer of a bigger class when its own has none, and
 * buffers of 2 MiB and more are backed by huge pages (MADV_HUGEPAGE): a
 * stream's batches vary in size, and faulting in fresh 4 KiB pages for
 * each new size cost the writer more than sealing in the first seconds. */
typedef struct wbuf {
    struct wbuf *next;
    int cls; /* log2 of cap, or -1: bigger than any class, not kept */
    size_t cap;
    uint8_t p[]; /* at an FL_DIO_ALIGN boundary (see wbuf_get) */
} wbuf_t;

#define FL_WBUF_MIN_LOG2 16
#define FL_HUGE_PAGE     (2u << 20)
#define FL_WBUF_KEEP     (4 * (uint64_t)FL_BATCH_MAX_BYTES) /* free bytes kept */

/* A free buffer of class cls or, failing that, of the next classes up
 * (batches vary in size: a buffer already faulted in serves a smaller
 * batch better than fresh pages do), at most four classes up. */
static wbuf_t *wbuf_take(fl_store_t *s, int cls)
{
    for (int c = cls; c < FL_WBUF_MIN_LOG2 + FL_WBUF_CLASSES && c <= cls + 4; c++) {
        wbuf_t **top = &s->wfree[c - FL_WBUF_MIN_LOG2];
        if (*top) {
            wbuf_t *w = *top;
            *top = w->next;
            s->wfree_bytes -= w->cap;
            return w;
        }
    }
    return NULL;
}

static wbuf_t *wbuf_get(fl_store_t *s, size_t need)
{
    int cls = FL_WBUF_MIN_LOG2;
    while (cls < FL_WBUF_MIN_LOG2 + FL_WBUF_CLASSES && ((size_t)1 << cls) < need)
        cls++;
    if (cls == FL_WBUF_MIN_LOG2 + FL_WBUF_CLASSES)
        cls = -1;
    wbuf_t *w = cls < 0 ? NULL : wbuf_take(s, cls);
    if (w)
        return w;
    size_t cap = cls < 0 ? need : (size_t)1 << cls;
    /* the header takes a whole alignment unit, so that p is aligned; a big
     * buffer is aligned to a huge page and asks for huge pages: faulting
     * it in costs one fault per 2 MiB instead of 512 (the first batches
     * of a stream fault in tens of MiB) */
    size_t align = cap >= FL_HUGE_PAGE ? FL_HUGE_PAGE : FL_DIO_ALIGN;
    void *mem = NULL;
    if (posix_memalign(&mem, align, FL_DIO_ALIGN + cap) != 0)
        return NULL;
    if (align == FL_HUGE_PAGE)
        (void)madvise(mem, (FL_DIO_ALIGN + cap) & ~(size_t)(FL_HUGE_PAGE - 1), MADV_HUGEPAGE);
    w = (wbuf_t *)((uint8_t *)mem + FL_DIO_ALIGN - sizeof(wbuf_t));
    w->cap = cap;
    w->cls = cls;
    w->next = NULL;
    return w;
}

static void wbuf_free_mem(wbuf_t *w)
{
    free((uint8_t *)w + sizeof(wbuf_t) - FL_DIO_ALIGN);
}

static void wbuf_put(fl_store_t *s, wbuf_t *w)
{
    if (!w)
        return;
    if (w->cls < 0) {
        wbuf_free_mem(w);
        return;
    }
    w->next = s->wfree[w->cls - FL_WBUF_MIN_LOG2];
    s->wfree[w->cls - FL_WBUF_MIN_LOG2] = w;
    s->wfree_bytes += w->cap;
    for (int c = FL_WBUF_CLASSES - 1; c >= 0 && s->wfree_bytes > FL_WBUF_KEEP; c--)
        while (s->wfree[c] && s->wfree_bytes > FL_WBUF_KEEP) {
            wbuf_t *x = s->wfree[c];
            s->wfree[c] = x->next;
            s->wfree_bytes -= x->cap;
            wbuf_free_mem(x);
        }
}

static void wbuf_drop_all(fl_store_t *s)
{
    for (int c = 0; c < FL_WBUF_CLASSES; c++)
        while (s->wfree[c]) {
            wbuf_t *w = s->wfree[c];
            s->wfree[c] = w->next;
            wbuf_free_mem(w);
        }
    s->wfree_bytes = 0;
}

/* Seal records v[k..m) of one shard into one chunk (v[m..end) are the
 * log's next records in the batch), at the end of the log's work buffer
 * (written later, with the rest of the log's chunks of the batch, by the
 * sync stage). Big payloads are encrypted from the queued record straight
 * into place (no plaintext copy). */
static int seal_chunk(fl_store_t *s, EVP_CIPHER_CTX *c, log_work_t *w, fl_pending_t **v, size_t k,
                      size_t m, size_t end)
{
    enum { DIRECT = 16 * 1024 };
    fl_log_t *log = w->log;
    fl_chunk_hdr_t h = {0};
    size_t body = 0;
    h.pts_min = INT64_MAX;
    h.pts_max = INT64_MIN;
    for (size_t i = k; i < m; i++) {
        body += fl_chunk_record_size(v[i]->klen, v[i]->plen);
        if (v[i]->pts < h.pts_min)
            h.pts_min = v[i]->pts;
        if (v[i]->pts > h.pts_max)
            h.pts_max = v[i]->pts;
    }
    size_t len = FL_CHUNK_HDR + body + FL_CHUNK_TAG;
    if (!c || w->pad + w->len + len > w->buf->cap)
        return FL_ENOMEM; /* (the buffer was sized for the whole work) */
    uint8_t *buf = w->buf->p + w->pad + w->len;
    h.shard = v[k]->shard;
    h.count = (uint32_t)(m - k);
    h.first_seq = v[k]->seq;
    h.sts_min = v[k]->sts;
    h.sts_max = v[m - 1]->sts;
    h.body_len = (uint32_t)body;
    fl_store_be32(h.nonce, s->epoch);
    fl_store_be64(h.nonce + 4, ++log->nonce_ctr);
    fl_chunk_hdr_encode(&h, buf);
    int rc = fl_chunk_seal_begin(c, s->seal_log == log->id ? NULL : log->key, log->id, buf);
    s->seal_log = rc == 0 ? log->id : 0;
    uint8_t *p = buf + FL_CHUNK_HDR, *plain = p; /* [plain, p): not yet encrypted */
    for (size_t i = k; i < m && rc == 0; i++) {
        fl_pending_t *r = v[i];
        fl_slice_t key = fl_slice(r->bytes, r->klen), pay = fl_slice(r->payload, r->plen);
        if (i + 1 < end && v[i + 1]->plen < DIRECT) {
            /* the next record, maybe the next chunk's, is cold (the appender
             * wrote it on another core): its first KiB is asked for while
             * this one is copied (7-12 % less CPU per MB at 1,024 shards in
             * alternated runs of bench_storage bw 1024 1024) */
            const char *nx = (const char *)v[i + 1]->payload;
            for (size_t o = 0; o < v[i + 1]->plen && o < 1024; o += 64)
                __builtin_prefetch(nx + o);
        }
        if (r->plen < DIRECT) {
            p += fl_chunk_record_put(p, r->sts, r->pts, r->flags, key, pay);
            continue;
        }
        p += fl_chunk_record_put_head(p, r->sts, r->pts, r->flags, key, pay.n);
        rc = fl_chunk_seal_update(c, plain, plain, (size_t)(p - plain));
        if (rc == 0)
            rc = fl_chunk_seal_update(c, pay.p, p, pay.n);
        p += pay.n;
        plain = p;
    }
    if (rc == 0)
        rc = fl_chunk_seal_update(c, plain, plain, (size_t)(p - plain));
    if (rc == 0)
        rc = fl_chunk_seal_end(c, p);
    if (rc < 0) {
        s->seal_log = 0;
        return rc;
    }
    if (w->nrefs == w->caprefs) {
        size_t nc = w->caprefs ? w->caprefs * 2 : 16;
        fl_chunk_ref_t *nv = realloc(w->refs, nc * sizeof *nv);
        if (!nv)
            return FL_ENOMEM;
        w->refs = nv;
        w->caprefs = nc;
    }
    fl_chunk_ref_set(&w->refs[w->nrefs++], &h, log->segs[log->nsegs - 1].segno, log->seg_end,
                     (uint32_t)len);
    w->len += len;
    log->seg_end += len;
    return 0;
}

/* The sync stage's write of one log's sealed chunks. */
static int work_write(fl_store_t *s, log_work_t *w)
{
    fl_log_t *log = w->log;
    const uint8_t *buf = w->buf->p + w->pad;
    size_t len = w->len;
    uint64_t off = w->start_off;
    /* A direct write starts at the page the batch begins in: that page's
     * first pad bytes (the segment's last ones) are read back from the
     * page cache into the buffer in front of the batch. So everything but
     * the unaligned tail is written in file order, straight to the disk,
     * and nothing reaches the disk ahead of bytes before it that still sit
     * in the page cache: after a power cut the segment holds what it held
     * plus a prefix of this write, never later chunks behind a hole. */
    if (w->pad && len + w->pad >= FL_DIO_MIN && dio_fd(s, log) >= 0 &&
        fl_io_read_all(&s->io, log->seg_fd, w->buf->p, w->pad, off - w->pad) == 0) {
        buf = w->buf->p;
        len += w->pad;
        off -= w->pad;
    }
    int rc = segment_write(s, log, buf, len, off);
    if (rc < 0) {
        char path[FL_PATH_MAX];
        fl_segment_path(log, log->segs[log->nsegs - 1].segno, path, sizeof path);
        fl_error("segment %s: write of %zu bytes at offset %llu failed: %s", path, w->len,
                 (unsigned long long)w->start_off, fl_strerror(rc));
    }
    return rc;
}

/* Undo a batch whose write or fdatasync failed: cut the segment back to
 * where it began. The next batch may already be sealed behind it; it then
 * fails too, with the same error (cut_gen, cut_rc). */
static void cut_back(fl_store_t *s, log_work_t *w)
{
    fl_log_t *log = w->log;
    int rc = s->io.ftruncate(s->io.ctx, log->seg_fd, (off_t)w->start_off);
    if (rc == 0)
        rc = s->io.fdatasync(s->io.ctx, log->seg_fd);
    if (rc < 0) {
        fl_error("log %s: cannot cut a failed batch (%s); appends refused until reopen", log->name,
                 fl_strerror(rc));
        pthread_mutex_lock(&s->mu);
        log->broken = 1;
        pthread_mutex_unlock(&s->mu);
    }
    log->seg_end = w->start_off;
    /* the next batch's chunks after start_off are gone (its sync stage may
     * be reading cut_gen on the helper thread) */
    __atomic_add_fetch(&log->cut_gen, 1, __ATOMIC_RELEASE);
    log->cut_rc = w->rc;
    w->nrefs = 0;
}

typedef struct {
    fl_store_t *s;
    log_work_t **works;
    size_t n;
} sync_job_t;

static void *sync_job(void *arg)
{
    sync_job_t *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        log_work_t *w = j->works[i];
        /* sealed behind a batch that failed: batch_finish fails it. The
         * failed batch's own stage marks it (sync_failed_gen, set on this
         * stage's threads, which run one batch after the other); the
         * writer bumps cut_gen when it cuts, maybe while this runs. */
        if (w->gen != __atomic_load_n(&w->log->cut_gen, __ATOMIC_ACQUIRE) ||
            w->log->sync_failed_gen == w->gen + 1)
            continue;
        w->rc = work_write(j->s, w);
        if (w->rc == 0) {
            w->rc = j->s->io.fdatasync(j->s->io.ctx, w->log->seg_fd);
            if (w->rc < 0)
                fl_error("log %s: fdatasync failed: %s", w->log->name, fl_strerror(w->rc));
        }
        if (w->rc < 0)
            w->log->sync_failed_gen = w->gen + 1;
    }
    return NULL;
}

/* Threads that fdatasync other logs beside the caller when a batch wrote to
 * several: started on first need, kept until the writer stops (a thread per
 * batch and log put a clone and a first scheduling on the latency path).
 * sync_all runs on one thread at a time (the writer, or the helper thread
 * while the writer does not sync), so one pool serves both. */
enum { FL_SYNC_THREADS = 8 };

typedef struct sync_pool sync_pool_t;

typedef struct {
    sync_pool_t *pool;
    int i;
} sync_worker_arg_t;

struct sync_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    sync_job_t *slot[FL_SYNC_THREADS - 1]; /* worker i's job, NULL: idle */
    int busy;                              /* jobs handed out, not yet done */
    int quit;
    int nstarted;
    pthread_t th[FL_SYNC_THREADS - 1];
    sync_worker_arg_t arg[FL_SYNC_THREADS - 1];
};

static void *sync_worker(void *arg)
{
    sync_worker_arg_t *a = arg;
    sync_pool_t *p = a->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->slot[a->i] && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        sync_job_t *j = p->slot[a->i];
        if (!j)
            break;
        pthread_mutex_unlock(&p->mu);
        sync_job(j);
        pthread_mutex_lock(&p->mu);
        p->slot[a->i] = NULL;
        p->busy--;
        pthread_cond_broadcast(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void sync_pool_init(sync_pool_t *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
}

static void sync_pool_destroy(sync_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nstarted; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->done_cv);
}

/* fdatasync every dirty log; with several, concurrently, so the kernel can
 * merge them into one journal commit / device flush. */
static void sync_all(sync_pool_t *pool, fl_store_t *s, log_work_t **dirty, size_t n)
{
    if (n == 0)
        return;
    size_t groups = n < FL_SYNC_THREADS ? n : FL_SYNC_THREADS;
    sync_job_t jobs[FL_SYNC_THREADS];
    size_t per = (n + groups - 1) / groups, at = 0;
    for (size_t g = 0; g < groups; g++) {
        jobs[g].s = s;
        jobs[g].works = dirty + at;
        jobs[g].n = at + per <= n ? per : n - at;
        at += jobs[g].n;
    }
    /* jobs[1..handed] go to the pool's workers, the rest run here */
    size_t handed = 0;
    pthread_mutex_lock(&pool->mu);
    while ((size_t)pool->nstarted < groups - 1) {
        int i = pool->nstarted;
        pool->arg[i].pool = pool;
        pool->arg[i].i = i;
        if (pthread_create(&pool->th[i], NULL, sync_worker, &pool->arg[i]) != 0)
            break;
        pool->nstarted++;
    }
    for (size_t g = 1; g < groups && (int)g <= pool->nstarted; g++) {
        if (!jobs[g].n)
            continue;
        pool->slot[g - 1] = &jobs[g];
        pool->busy++;
        handed = g;
    }
    if (handed)
        pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (size_t g = handed + 1; g < groups; g++)
        if (jobs[g].n)
            sync_job(&jobs[g]);
    sync_job(&jobs[0]);
    if (handed) {
        pthread_mutex_lock(&pool->mu);
        while (pool->busy)
            pthread_cond_wait(&pool->done_cv, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
}

static int cmp_ref_off(const void *a, const void *b)
{
    const fl_chunk_ref_t *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int collect_refs(fl_store_t *s, fl_log_t *log, uint64_t segno, int by_offset,
                        fl_chunk_ref_t **out, size_t *n_out);

/* A rolled segment whose index is still to be sealed: what the writer
 * knew of its active index when it rolled. */
typedef struct seal_job {
    struct seal_job *next;
    int spare; /* not a seal: make the log's spare segment spare_segno */
    fl_log_t *log;
    uint64_t segno, seg_size, idx_count;
    int idx_fd, idx_stale, refs_missing;
} seal_job_t;

/* Seal a rolled segment: its index gets its summary (appended after the
 * entries and fsync'd, or the whole index rewritten if it missed entries);
 * in memory, each shard's chunks of it become one span, and the entries go
 * to the segment cache (followers are about to read them). Runs on the
 * sealer thread, off the commit path: meanwhile the segment's chunks stay
 * in the shards' chunk lists (reads find them there, by sequence, beside
 * the next segment's), and the writer appends to the next segment. */
static void seal_job_run(fl_store_t *s, const seal_job_t *j)
{
    fl_log_t *log = j->log;
    uint64_t segno = j->segno;
    fl_chunk_ref_t *refs = NULL;
    fl_span_t *sp = NULL;
    size_t n = 0, nsp = 0;
    /* collected by shard and sequence, summarized without a sort, then
     * sorted once into the index's offset order */
    int rc = collect_refs(s, log, segno, 0, &refs, &n);
    if (rc == 0)
        rc = fl_index_summarize(refs, n, segno, &sp, &nsp);
    if (rc == 0) {
        qsort(refs, n, sizeof *refs, cmp_ref_off);
        /* the shards' lists miss a durable chunk: a summary made from them
         * would hide it from every later open (which trusts a sealed
         * index); left unsealed, the index is rebuilt from the segment */
        int wrc = j->refs_missing ? FL_ENOMEM
                  : j->idx_stale || j->idx_count != n || j->idx_fd < 0
                      ? fl_index_rewrite(log, segno, refs, n, j->seg_size)
                      : fl_index_seal(log, j->idx_fd, segno, refs, n, sp, nsp, j->seg_size);
        if (wrc < 0)
            fl_warn("log %s: index of segment %llu not sealed (%s); the next open rebuilds it",
                    log->name, (unsigned long long)segno, fl_strerror(wrc));
        pthread_mutex_lock(&s->mu);
        for (size_t k = 0; k < nsp; k++) {
            fl_shard_t *sh = fl_log_shard(log, sp[k].shard);
            if (!sh || fl_shard_add_span(sh, &sp[k]) < 0)
                continue; /* out of memory: its chunks stay listed one by one */
            size_t keep = 0;
            for (size_t i = 0; i < sh->nchunks; i++)
                if (sh->chunks[i].segno != segno)
                    sh->chunks[keep++] = sh->chunks[i];
            sh->nchunks = keep;
        }
        pthread_mutex_unlock(&s->mu);
        fl_segcache_put(s, log->id, segno, refs, n);
        refs = NULL;
    } else {
        fl_warn("log %s: segment %llu sealed without its summary (%s); the next open rebuilds "
                "it",
                log->name, (unsigned long long)segno, fl_strerror(rc));
    }
    free(sp);
    free(refs);
    if (j->idx_fd >= 0)
        s->io.close(s->io.ctx, j->idx_fd);
}

/* The sealer thread: runs seal jobs in roll order. The writer waits for it
 * to be idle (sealer_wait) before control calls, retention and stopping,
 * so that a job's log and segment stay as they were. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    seal_job_t *head, *tail;
    int busy; /* a job is running */
    int quit, started;
    pthread_t th;
    fl_store_t *s;
} sealer_t;

/* Make the log's spare segment (the sealer's job, off the commit path):
 * created, its header written and fdatasync'd, the folder fsync'd, as the
 * writer would at a roll. Unless the writer gave up on it meanwhile (it
 * rolled first: the number is the active segment's now, see spare_take). */
static void spare_job_run(sealer_t *z, const seal_job_t *j)
{
    fl_log_t *log = j->log;
    pthread_mutex_lock(&z->mu);
    int go = log->spare == FL_SPARE_ASKED && log->spare_segno == j->segno;
    if (go)
        log->spare = FL_SPARE_MAKING;
    pthread_mutex_unlock(&z->mu);
    if (!go)
        return;
    int sfd = -1, ifd = -1;
    int rc = fl_segment_create(log, j->segno, &sfd, &ifd);
    pthread_mutex_lock(&z->mu);
    if (rc == 0) {
        log->spare_fd = sfd;
        log->spare_idx_fd = ifd;
        log->spare = FL_SPARE_READY;
    } else {
        log->spare = FL_SPARE_FAILED; /* (logged) the roll makes it */
    }
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
}

static void *sealer_main(void *arg)
{
    sealer_t *z = arg;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        while (!z->head && !z->quit)
            pthread_cond_wait(&z->cv, &z->mu);
        seal_job_t *j = z->head;
        if (!j)
            break;
        z->head = j->next;
        if (!z->head)
            z->tail = NULL;
        z->busy = 1;
        int spare = j->spare;
        pthread_mutex_unlock(&z->mu);
        if (spare) {
            spare_job_run(z, j);
        } else {
            seal_job_run(z->s, j);
            pthread_mutex_lock(&z->s->mu); /* the writer runs retention next */
            z->s->sealed = 1;
            pthread_cond_signal(&z->s->wake);
            pthread_mutex_unlock(&z->s->mu);
        }
        free(j);
        pthread_mutex_lock(&z->mu);
        z->busy = 0;
        pthread_cond_broadcast(&z->cv);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

static void sealer_start(sealer_t *z, fl_store_t *s)
{
    memset(z, 0, sizeof *z);
    z->s = s;
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->cv, NULL);
    z->started = pthread_create(&z->th, NULL, sealer_main, z) == 0;
}

/* 1 while a job is queued or running. */
static int sealer_busy(sealer_t *z)
{
    pthread_mutex_lock(&z->mu);
    int r = z->head || z->busy;
    pthread_mutex_unlock(&z->mu);
    return r;
}

/* Wait until every handed job has run. */
static void sealer_wait(sealer_t *z)
{
    pthread_mutex_lock(&z->mu);
    while (z->head || z->busy)
        pthread_cond_wait(&z->cv, &z->mu);
    pthread_mutex_unlock(&z->mu);
}

static void sealer_stop(sealer_t *z)
{
    if (z->started) {
        pthread_mutex_lock(&z->mu);
        z->quit = 1;
        pthread_cond_broadcast(&z->cv);
        pthread_mutex_unlock(&z->mu);
        pthread_join(z->th, NULL); /* runs what is queued first */
    }
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->cv);
}

/* Queue a job for the sealer (z->mu held). */
static void sealer_push(sealer_t *z, seal_job_t *j)
{
    if (z->tail)
        z->tail->next = j;
    else
        z->head = j;
    z->tail = j;
    pthread_cond_signal(&z->cv);
}

/* Roll the log's active segment (its last batch is finished: every chunk
 * of it is durable and published): close its descriptors but the index's,
 * which goes to the sealer with the rest of the job; the next append
 * creates the next segment. Without the sealer thread (or memory for the
 * job), the seal runs here. */
static void roll_segment(fl_store_t *s, sealer_t *z, fl_log_t *log)
{
    seal_job_t local, *j = z->started ? calloc(1, sizeof *j) : NULL;
    seal_job_t *job = j ? j : &local;
    memset(job, 0, sizeof *job);
    job->log = log;
    job->segno = log->segs[log->nsegs - 1].segno;
    job->seg_size = log->seg_end;
    job->idx_count = log->idx_count;
    job->idx_stale = log->idx_stale;
    job->refs_missing = log->refs_missing;
    job->idx_fd = log->idx_fd;
    log->idx_fd = -1;
    fl_segment_close_active(log);
    if (!j) {
        seal_job_run(s, job);
        return;
    }
    pthread_mutex_lock(&z->mu);
    sealer_push(z, j);
    pthread_mutex_unlock(&z->mu);
}

/* Ask the sealer for the log's next segment once the active one is half
 * full (a log that never fills a segment never gets a spare), so that its
 * roll finds it made: the create, header and fsyncs of a new segment and
 * its folder then happen off the commit path. */
static void spare_ask(fl_store_t *s, sealer_t *z, fl_log_t *log)
{
    if (!z->started || log->seg_fd < 0 || log->seg_end < s->seg_max / 2)
        return;
    pthread_mutex_lock(&z->mu);
    if (log->spare == FL_SPARE_NONE) {
        seal_job_t *j = calloc(1, sizeof *j);
        if (j) {
            j->spare = 1;
            j->log = log;
            j->segno = next_segno(log);
            j->idx_fd = -1;
            log->spare = FL_SPARE_ASKED;
            log->spare_segno = j->segno;
            sealer_push(z, j);
        }
    }
    pthread_mutex_unlock(&z->mu);
}

/* At a roll (the active segment closed): the spare becomes the active
 * segment. One still queued (behind a seal: the writer never waits for a
 * seal) is given up, and the roll makes the segment as before; one being
 * made is waited for (a create and three fsyncs, not a seal). */
static int spare_take(fl_store_t *s, sealer_t *z, fl_log_t *log)
{
    uint64_t segno = next_segno(log);
    int sfd = -1, ifd = -1;
    pthread_mutex_lock(&z->mu);
    while (log->spare == FL_SPARE_MAKING)
        pthread_cond_wait(&z->cv, &z->mu);
    if (log->spare == FL_SPARE_READY && log->spare_segno == segno) {
        sfd = log->spare_fd;
        ifd = log->spare_idx_fd;
        log->spare_fd = log->spare_idx_fd = -1;
    } else {
        fl_segment_drop_spare(log); /* (a ready one of another number: none) */
    }
    log->spare = FL_SPARE_NONE;
    pthread_mutex_unlock(&z->mu);
    return sfd < 0 ? 0 : install_segment(s, log, segno, sfd, ifd);
}

/* The chunk refs of segment segno, malloc'd: by offset (by_offset), or as
 * the shards list them (by shard, then sequence). */
static int collect_refs(fl_store_t *s, fl_log_t *log, uint64_t segno, int by_offset,
                        fl_chunk_ref_t **out, size_t *n_out)
{
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (uint32_t i = 0; i < log->nshards; i++)
        for (size_t k = 0; log->shards[i] && k < log->shards[i]->nchunks; k++)
            n += log->shards[i]->chunks[k].segno == segno;
    fl_chunk_ref_t *v = malloc((n ? n : 1) * sizeof *v);
    size_t at = 0;
    for (uint32_t i = 0; v && i < log->nshards; i++)
        for (size_t k = 0; log->shards[i] && k < log->shards[i]->nchunks; k++)
            if (log->shards[i]->chunks[k].segno == segno)
                v[at++] = log->shards[i]->chunks[k];
    pthread_mutex_unlock(&s->mu);
    if (!v)
        return FL_ENOMEM;
    if (by_offset)
        qsort(v, n, sizeof *v, cmp_ref_off);
    *out = v;
    *n_out = n;
    return 0;
}

static void write_index_entries(fl_store_t *s, log_work_t *w)
{
    fl_log_t *log = w->log;
    if (!w->nrefs || log->idx_stale)
        return;
    size_t len = w->nrefs * FL_IDX_ENTRY;
    uint8_t *buf = malloc(len);
    int rc = FL_ENOMEM;
    if (buf) {
        for (size_t i = 0; i < w->nrefs; i++)
            fl_index_entry_encode(&w->refs[i], buf + i * FL_IDX_ENTRY);
        rc = fl_io_write_all(&s->io, log->idx_fd, buf, len,
                             FL_IDX_HDR + log->idx_count * FL_IDX_ENTRY);
        free(buf);
    }
    if (rc < 0) {
        fl_warn("log %s: index write failed (%s); rewritten at seal or rebuilt at open", log->name,
                fl_strerror(rc));
        log->idx_stale = 1;
        return;
    }
    log->idx_count += w->nrefs;
}

/* A batch between its write and its completions. */
typedef struct {
    size_t n;
    fl_pending_t **v;
    int *st;
    log_work_t *works;
    size_t nworks;
    log_work_t **dirty;
    size_t ndirty;
    uint64_t bytes;
    int th_started; /* handed to the helper thread */
    fl_store_t *s;
} batch_t;

static void batch_free(batch_t *b)
{
    if (!b)
        return;
    for (size_t k = 0; k < b->nworks; k++) {
        free(b->works[k].refs);
        wbuf_put(b->s, b->works[k].buf);
    }
    pending_free_all(b->s, b->v, b->n);
    free(b->v);
    free(b->st);
    free(b->works);
    free(b->dirty);
    free(b);
}

/* Cannot even hold the batch: fail its records one by one. */
static void fail_all(fl_store_t *s, fl_pending_t *const *q, size_t n)
{
    fl_error("writer: out of memory for a batch");
    int err = FL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        fl_pending_t *p = q[i];
        completions_push(s, &p, &err, 1);
        pthread_mutex_lock(&s->mu);
        fl_shard_t *sh = fl_log_shard(p->log, p->shard);
        if (sh)
            sh->pending--;
        s->q_bytes -= sizeof *p + p->klen + p->plen;
        s->n_done++;
        s->stats.failed++;
        pthread_cond_broadcast(&s->done_cond);
        pthread_mutex_unlock(&s->mu);
        pending_free(s, p);
    }
}

/* The helper thread that runs a batch's fdatasyncs while the writer seals
 * and writes the next one. It lives as long as the writer thread: starting
 * a thread per batch cost a clone and a first scheduling (up to several ms
 * on a loaded machine) on every batch's latency path. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch_t *job;  /* handed over, fdatasyncs not yet returned */
    batch_t *next; /* handed over behind job: its stage starts as job's ends */
    int quit;
    pthread_t th;
    int started;
    sync_pool_t *pool;
} syncer_t;

static void *syncer_main(void *arg)
{
    syncer_t *y = arg;
    pthread_mutex_lock(&y->mu);
    for (;;) {
        while (!y->job && !y->quit)
            pthread_cond_wait(&y->cv, &y->mu);
        if (!y->job)
            break;
        batch_t *b = y->job;
        pthread_mutex_unlock(&y->mu);
        sync_all(y->pool, b->s, b->dirty, b->ndirty);
        pthread_mutex_lock(&y->mu);
        y->job = y->next;
        y->next = NULL;
        pthread_cond_broadcast(&y->cv);
    }
    pthread_mutex_unlock(&y->mu);
    return NULL;
}

static void syncer_start(syncer_t *y, sync_pool_t *pool)
{
    memset(y, 0, sizeof *y);
    y->pool = pool;
    pthread_mutex_init(&y->mu, NULL);
    pthread_cond_init(&y->cv, NULL);
    y->started = pthread_create(&y->th, NULL, syncer_main, y) == 0;
}

static void syncer_stop(syncer_t *y)
{
    if (y->started) {
        pthread_mutex_lock(&y->mu);
        y->quit = 1;
        pthread_cond_broadcast(&y->cv);
        pthread_mutex_unlock(&y->mu);
        pthread_join(y->th, NULL);
    }
    pthread_mutex_destroy(&y->mu);
    pthread_cond_destroy(&y->cv);
}

/* Start the batch's write and fdatasyncs on the helper thread, so that the
 * writer can seal the next batch meanwhile (pipelining); without the
 * helper, run them here. At most two batches are handed over: the one in
 * its stage and one queued behind it, whose stage the helper starts the
 * moment the first one's ends, while the writer finishes the first (the
 * disk does not wait for the writer's publishing and completions). */
static void batch_sync_start(syncer_t *y, batch_t *b)
{
    if (!y->started) {
        sync_all(y->pool, b->s, b->dirty, b->ndirty);
        return;
    }
    pthread_mutex_lock(&y->mu);
    if (y->job)
        y->next = b;
    else
        y->job = b;
    b->th_started = 1;
    pthread_cond_signal(&y->cv);
    pthread_mutex_unlock(&y->mu);
}

static void batch_sync_wait(syncer_t *y, batch_t *b)
{
    if (b->th_started) {
        pthread_mutex_lock(&y->mu);
        while (y->job == b || y->next == b)
            pthread_cond_wait(&y->cv, &y->mu);
        pthread_mutex_unlock(&y->mu);
    }
    b->th_started = 0;
}

static int batch_finish(fl_store_t *s, batch_t *b);

/* Finish the batch in flight, if any. Returns 1 if retention may have work. */
static int drain(fl_store_t *s, syncer_t *y, batch_t **prev)
{
    if (!*prev)
        return 0;
    batch_sync_wait(y, *prev);
    int r = batch_finish(s, *prev);
    *prev = NULL;
    return r;
}

/* Sort, seal and write a batch; its fdatasyncs are started by the caller.
 * A log whose segment is full rolls first (after the batch in flight, if
 * any, is finished: its fdatasync may still use the segment). */
static batch_t *batch_write(fl_store_t *s, EVP_CIPHER_CTX *c, fl_pending_t *const *q, size_t n,
                            syncer_t *y, sealer_t *z, batch_t **prev)
{
    batch_t *b = calloc(1, sizeof *b);
    if (b) {
        b->s = s;
        b->n = n;
        b->v = malloc(n * sizeof *b->v);
        b->st = calloc(n, sizeof *b->st);
        b->works = calloc(n, sizeof *b->works);
        b->dirty = calloc(n, sizeof *b->dirty);
    }
    if (!b || !b->v || !b->st || !b->works || !b->dirty) {
        if (b) {
            b->n = 0;
            batch_free(b);
        }
        fail_all(s, q, n);
        return NULL;
    }
    fl_pending_t **v = b->v;
    batch_order(q, v, n, &b->bytes);

    for (size_t a = 0; a < n;) {
        size_t e = a;
        while (e < n && v[e]->log == v[a]->log)
            e++;
        log_work_t *w = &b->works[b->nworks++];
        fl_log_t *log = v[a]->log;
        w->log = log;
        w->first = a;
        w->end = e;
        pthread_mutex_lock(&s->mu);
        int deleting = log->deleting, broken = log->broken;
        pthread_mutex_unlock(&s->mu);
        w->rc = deleting ? FL_ECLOSED : broken ? FL_EIO : 0;
        if (w->rc == 0 && log->seg_fd >= 0 && log->seg_end >= s->seg_max) {
            drain(s, y, prev);
            roll_segment(s, z, log);
            w->rc = spare_take(s, z, log);
        }
        if (w->rc == 0 && log->broken) /* the drain found a failure */
            w->rc = FL_EIO;
        if (w->rc == 0)
            w->rc = fl_writer_ensure_segment(s, log);
        if (w->rc == 0) {
            w->start_off = log->seg_end;
            w->gen = log->cut_gen;
            w->pad = (size_t)(w->start_off % FL_DIO_ALIGN);
            size_t need = w->pad; /* room for one chunk per record at most */
            for (size_t k = a; k < e; k++)
                need += FL_CHUNK_HDR + fl_chunk_record_size(v[k]->klen, v[k]->plen) + FL_CHUNK_TAG;
            w->buf = wbuf_get(s, need);
            if (!w->buf)
                w->rc = FL_ENOMEM;
            for (size_t k = a; k < e && w->rc == 0;) {
                size_t m = k + 1;
                size_t body = fl_chunk_record_size(v[k]->klen, v[k]->plen);
                while (m < e && v[m]->shard == v[k]->shard && v[m]->seq == v[m - 1]->seq + 1) {
                    size_t rs = fl_chunk_record_size(v[m]->klen, v[m]->plen);
                    if (body + rs > s->chunk_max)
                        break;
                    body += rs;
                    m++;
                }
                w->rc = seal_chunk(s, c, w, v, k, m, e);
                k = m;
            }
            if (w->rc < 0) { /* nothing of it was written */
                log->seg_end = w->start_off;
                w->nrefs = 0;
            } else {
                b->dirty[b->ndirty++] = w;
                spare_ask(s, z, log);
            }
        }
        a = e;
    }
    return b;
}

/* After the batch's fdatasyncs: undo what failed, publish what is durable,
 * write index entries, queue completions. */
static int batch_finish(fl_store_t *s, batch_t *b)
{
    for (size_t k = 0; k < b->ndirty; k++) {
        log_work_t *w = b->dirty[k];
        if (w->rc == 0 && w->gen != w->log->cut_gen) {
            /* an earlier batch's failure cut the segment below our chunks */
            w->rc = w->log->cut_rc < 0 ? w->log->cut_rc : FL_EIO;
            w->nrefs = 0;
        } else if (w->rc < 0) {
            cut_back(s, w);
        }
    }
    fl_pending_t **v = b->v;
    int *st = b->st;
    size_t n = b->n;

    /* Publish: readers see durable chunks from here on. */
    pthread_mutex_lock(&s->mu);
    for (size_t k = 0; k < b->nworks; k++) {
        log_work_t *w = &b->works[k];
        fl_log_t *log = w->log;
        for (size_t r = 0; r < w->nrefs; r++) {
            fl_shard_t *sh = fl_log_shard(log, w->refs[r].shard);
            if (fl_shard_add_chunk(sh, &w->refs[r]) < 0) {
                fl_error("log %s: out of memory indexing a chunk; reopen to see it", log->name);
                log->refs_missing = 1;
            }
            fl_seg_info_t *g = &log->segs[log->nsegs - 1];
            if (w->refs[r].sts_max > g->sts_max)
                g->sts_max = w->refs[r].sts_max;
        }
        if (w->rc == 0 && w->nrefs) {
            const fl_chunk_ref_t *lr = &w->refs[w->nrefs - 1];
            fl_seg_info_t *g = &log->segs[log->nsegs - 1];
            uint64_t end = lr->off + lr->len;
            if (end > g->size) {
                s->total_bytes += end - g->size;
                g->size = end;
            }
        }
        for (size_t r = w->first; r < w->end; r++) {
            st[r] = w->rc;
            fl_shard_t *sh = fl_log_shard(log, v[r]->shard);
            sh->pending--;
            if (r + 1 == w->end || v[r + 1]->shard != v[r]->shard)
                fl_writer_notify_shard(sh);
        }
    }
    pthread_mutex_unlock(&s->mu);
    /* the completions first: the records are durable, and their index
     * entries (not needed to find them again) must not delay a producer
     * waiting for room in its window */
    completions_push(s, v, st, n);
    for (size_t k = 0; k < b->nworks; k++)
        if (b->works[k].rc == 0)
            write_index_entries(s, &b->works[k]);
    pthread_mutex_lock(&s->mu);
    s->q_bytes -= b->bytes;
    s->n_done += n;
    s->stats.batches++;
    s->stats.fdatasyncs += b->ndirty;
    for (size_t i = 0; i < n; i++) {
        s->stats.completed += st[i] == 0;
        s->stats.failed += st[i] != 0;
    }
    pthread_cond_broadcast(&s->done_cond);
    pthread_mutex_unlock(&s->mu);
    batch_free(b);
    return 0;
}

/* ---- the thread ---- */

static void *writer_main(void *arg)
{
    fl_store_t *s = arg;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int64_t next_ret = fl_time_mono_ns();
    batch_t *prev = NULL; /* written, fdatasync in flight */
    sync_pool_t pool;
    sync_pool_init(&pool);
    syncer_t sy;
    syncer_start(&sy, &pool);
    sealer_t sl;
    sealer_start(&sl, s);
    pthread_mutex_lock(&s->mu);
    uint64_t taken = s->n_submitted - s->q_n; /* records taken from the queue */
    for (;;) {
        while (!prev && !s->q_n && !s->ctl_head && !s->stop && !s->sealed &&
               fl_time_mono_ns() < next_ret) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = next_ret - fl_time_mono_ns();
            if (wait < 0)
                wait = 0;
            int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + wait;
            ts.tv_sec = t / 1000000000;
            ts.tv_nsec = t % 1000000000;
            pthread_cond_timedwait(&s->wake, &s->mu, &ts);
        }
        /* A batch is the whole queue, up to FL_BATCH_MAX_BYTES (at least
         * one record): the rest waits for the next round. */
        fl_pending_t **q = NULL;
        size_t nq = 0, qcap = 0;
        uint64_t took = 0;
        if (s->q_n && s->q_take_bytes <= FL_BATCH_MAX_BYTES) {
            /* all of it, without reading it: the spare array takes its place */
            q = s->qv;
            qcap = s->qcap;
            nq = s->q_n;
            took = s->q_take_bytes;
            s->qv = s->qv_spare;
            s->qcap = s->qv_spare_cap;
            s->qv_spare = NULL;
            s->qv_spare_cap = 0;
            s->q_n = 0;
        } else if (s->q_n) { /* a prefix: reads the records, cold, holding mu */
            while (nq < s->q_n && (took == 0 || took < FL_BATCH_MAX_BYTES)) {
                took += (uint64_t)s->qv[nq]->klen + s->qv[nq]->plen + 1;
                nq++;
            }
            q = malloc(nq * sizeof *q);
            if (q) {
                qcap = nq;
                memcpy(q, s->qv, nq * sizeof *q);
                memmove(s->qv, s->qv + nq, (s->q_n - nq) * sizeof *q);
                s->q_n -= nq;
            } else { /* the whole queue, over the batch limit */
                q = s->qv;
                qcap = s->qcap;
                nq = s->q_n;
                took = s->q_take_bytes;
                s->qv = NULL;
                s->qcap = s->q_n = 0;
            }
        }
        s->q_take_bytes -= took;
        taken += nq;
        /* control calls whose records (appended before them) are all
         * taken: a delete must not free a log that a record still queued
         * behind a batch-sized prefix points at */
        fl_ctl_t *ctl = NULL, **ctl_end = &ctl;
        while (s->ctl_head && s->ctl_head->after <= taken) {
            *ctl_end = s->ctl_head;
            s->ctl_head = s->ctl_head->next;
            ctl_end = &(*ctl_end)->next;
        }
        *ctl_end = NULL;
        int stop = s->stop;
        /* a rolled segment was sealed: retention may have work (a size
         * limit, a segment past its age) */
        int want_ret = s->sealed;
        s->sealed = 0;
        pthread_mutex_unlock(&s->mu);

        /* Write this batch while the previous one syncs, then finish the
         * previous one and start this one's fdatasyncs. */
        int had_prev = prev != NULL;
        batch_t *cur = q ? batch_write(s, c, q, nq, &sy, &sl, &prev) : NULL;
        if (q && !s->qv_spare) { /* the array, emptied, is the next spare */
            s->qv_spare = q;
            s->qv_spare_cap = qcap;
        } else {
            free(q);
        }
        /* A batch sealed while the previous one is in its stage on the
         * helper thread queues behind it there: the disk goes on with it
         * while this thread finishes the previous one. */
        int queued = 0;
        if (cur && prev && prev->th_started) {
            batch_sync_start(&sy, cur);
            queued = 1;
        }
        want_ret |= drain(s, &sy, &prev);
        if (queued) {
            prev = cur;
        } else if (cur) {
            /* Nothing queued behind it: nothing to overlap its fdatasyncs
             * with, so run them here rather than pay a hand-over and a
             * wake-up on the latency path. Unless the batch is a big one
             * that followed another in flight: a stream whose appender was
             * just handed the previous batch's completions and is about
             * to refill the queue (its records would wait for this whole
             * write and fdatasync before being sealed). */
            pthread_mutex_lock(&s->mu);
            int more = s->q_n != 0;
            pthread_mutex_unlock(&s->mu);
            if (had_prev && (cur->n >= FL_STREAM_RECORDS || cur->bytes >= FL_STREAM_BYTES))
                more = 1;
            if (!more)
                sync_all(&pool, s, cur->dirty, cur->ndirty);
            else
                batch_sync_start(&sy, cur);
            prev = cur;
            if (!more)
                want_ret |= drain(s, &sy, &prev);
        }
        int ret_due = fl_time_mono_ns() >= next_ret;
        if ((want_ret || ret_due) && sealer_busy(&sl)) {
            /* retention never waits for a seal: the seal's end asks for
             * it again (s->sealed) */
            want_ret = ret_due = 0;
            next_ret = fl_time_mono_ns() + (int64_t)s->ret_interval_ms * 1000000;
        }
        if (ctl || want_ret || ret_due) {
            /* control calls and retention see no batch in flight and no
             * segment being sealed */
            drain(s, &sy, &prev);
            sealer_wait(&sl);
        }
        if (ctl && s->seal_log) {
            /* a control call may delete a log: no copy of its key schedule
             * stays behind in the cipher context */
            EVP_CIPHER_CTX_reset(c);
            s->seal_log = 0;
        }
        while (ctl) {
            fl_ctl_t *next = ctl->next;
            int rc = ctl->fn(s, ctl->arg);
            pthread_mutex_lock(&s->mu);
            ctl->rc = rc;
            ctl->done = 1;
            pthread_cond_broadcast(&s->done_cond);
            pthread_mutex_unlock(&s->mu);
            ctl = next;
        }
        if (want_ret || ret_due) {
            fl_retention_run(s);
            next_ret = fl_time_mono_ns() + (int64_t)s->ret_interval_ms * 1000000;
        }
        if (ret_due) { /* nothing appended since the last tick: memory back */
            pthread_mutex_lock(&s->mu);
            uint64_t appends = s->stats.appends;
            pthread_mutex_unlock(&s->mu);
            if (appends == s->appends_at_tick) {
                fl_writer_drop_records(s);
                wbuf_drop_all(s);
            }
            s->appends_at_tick = appends;
        }
        pthread_mutex_lock(&s->mu);
        if (stop && !s->q_n && !s->ctl_head && !prev)
            break;
    }
    pthread_mutex_unlock(&s->mu);
    sealer_stop(&sl); /* runs the seals still queued */
    for (fl_log_t *log = s->logs; log; log = log->next)
        fl_segment_drop_spare(log); /* no file but the active one stays */
    /* Leave every active index complete for the next open. */
    for (fl_log_t *log = s->logs; log; log = log->next) {
        if (log->seg_fd < 0 || !log->idx_stale || log->refs_missing)
            continue; /* (missing refs: open scans the active segment's tail) */
        fl_chunk_ref_t *refs = NULL;
        size_t n = 0;
        uint64_t segno = log->segs[log->nsegs - 1].segno;
        if (collect_refs(s, log, segno, 1, &refs, &n) == 0)
            fl_index_rewrite(log, segno, refs, n, 0);
        free(refs);
    }
    syncer_stop(&sy);
    sync_pool_destroy(&pool);
    EVP_CIPHER_CTX_free(c); /* wipes the key schedule */
    s->seal_log = 0;
    wbuf_drop_all(s);
    free(s->qv_spare);
    s->qv_spare = NULL;
    s->qv_spare_cap = 0;
    return NULL;
}

int fl_writer_start(fl_store_t *s)
{
    int rc = pthread_create(&s->writer, NULL, writer_main, s);
    if (rc != 0)
        return -rc;
    pthread_mutex_lock(&s->mu);
    s->writer_started = 1;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void fl_writer_stop(fl_store_t *s)
{
    pthread_mutex_lock(&s->mu);
    int started = s->writer_started;
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (started)
        pthread_join(s->writer, NULL);
    pthread_mutex_lock(&s->mu);
    s->writer_started = 0;
    pthread_cond_broadcast(&s->done_cond);
    pthread_mutex_unlock(&s->mu);
}

int fl_writer_call(fl_store_t *s, int (*fn)(fl_store_t *s, void *arg), void *arg)
{
    fl_ctl_t ctl = {NULL, fn, arg, 0, 0, 0};
    pthread_mutex_lock(&s->mu);
    if (!s->writer_started || s->stop) {
        pthread_mutex_unlock(&s->mu);
        return FL_ESTATE;
    }
    ctl.after = s->n_submitted;
    fl_ctl_t **pp = &s->ctl_head;
    while (*pp)
        pp = &(*pp)->next;
    *pp = &ctl;
    pthread_cond_signal(&s->wake);
    while (!ctl.done)
        pthread_cond_wait(&s->done_cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return ctl.rc;
}

static int retention_on_writer(fl_store_t *s, void *arg)
{
    (void)arg;
    return fl_retention_run(s);
}

int fl_store_enforce_retention(fl_store_t *s)
{
    if (!s)
        return FL_EINVAL;
    return fl_writer_call(s, retention_on_writer, NULL);
}
