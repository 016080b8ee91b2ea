/*
 * storage/segment.c — segment files: a log's chunks, appended in order.
 *
 * All shards of a log append into the log's active segment, so that one
 * fdatasync per log covers any number of shards (group commit). A segment
 * rolls when it passes segment_max_bytes; retention removes whole sealed
 * segments. Files live in <dir>/logs/<log id>/ as NNNN.seg (20 decimal
 * digits: the segment number, which only grows) beside NNNN.idx.
 *
 * Segment file (little-endian):
 *   header, FL_SEG_HDR = 32 bytes (filehdr.c): magic "FLSG", version = 1,
 *     log id, segment number, CRC-32C
 *   then chunks back to back (chunk.c), nothing else.
 *
 * Invariants: a chunk is written once at the end and never rewritten; bytes
 * past the last complete chunk exist only after a crash (a torn tail) and
 * are cut by recovery before anything else is appended. At open, a sealed
 * segment costs its size, its header and its index's summary (index.c);
 * only the last segment is recovered: its index's valid entries are read
 * and only what follows them is verified (GCM), so open scans tails, not
 * data. A sealed segment whose summary is unusable is recovered the same
 * way (and its index rewritten with a summary), as is one whose index is
 * found damaged when a read first needs it (segcache.c). A damaged chunk in the middle is skipped
 * by searching for the next valid chunk header and reported with its offsets; only a tail with no
 * valid chunk after it is cut.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

void fl_segment_path(const fl_log_t *log, uint64_t segno, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%020llu.seg", log->dir, (unsigned long long)segno);
}

static void seg_hdr_encode(uint64_t log_id, uint64_t segno, uint8_t out[FL_SEG_HDR])
{
    fl_file_hdr_encode("FLSG", FL_SEG_VERSION, log_id, segno, out);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int fl_segment_list(const fl_log_t *log, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(log->dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strlen(nm) != 24 || strcmp(nm + 20, ".seg") != 0)
            continue;
        uint64_t segno = 0;
        int ok = 1;
        for (int i = 0; i < 20; i++) {
            if (nm[i] < '0' || nm[i] > '9')
                ok = 0;
            segno = segno * 10 + (uint64_t)(nm[i] - '0');
        }
        if (!ok)
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = FL_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[cnt++] = segno;
    }
    closedir(d);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (cnt)
        qsort(v, cnt, sizeof *v, cmp_u64);
    *out = v;
    *n = cnt;
    return 0;
}

_Static_assert(offsetof(fl_span_t, segno) == 0, "fl_segno_lower_bound reads segno first");
_Static_assert(offsetof(fl_seg_info_t, segno) == 0, "fl_segno_lower_bound reads segno first");

size_t fl_segno_lower_bound(const void *v, size_t n, size_t stride, uint64_t segno)
{
    const uint8_t *base = v;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t at;
        memcpy(&at, base + mid * stride, sizeof at); /* the item's first member */
        if (at < segno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void fl_segment_close_active(fl_log_t *log)
{
    const fl_store_io_t *io = &log->store->io;
    int *fds[] = {&log->seg_fd, &log->idx_fd, &log->dio_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0)
            io->close(io->ctx, *fds[i]);
        *fds[i] = -1;
    }
}

void fl_segment_drop_spare(fl_log_t *log)
{
    const fl_store_io_t *io = &log->store->io;
    if (log->spare != FL_SPARE_READY)
        return;
    io->close(io->ctx, log->spare_fd);
    io->close(io->ctx, log->spare_idx_fd);
    log->spare_fd = log->spare_idx_fd = -1;
    log->spare = FL_SPARE_NONE;
    char path[FL_PATH_MAX];
    fl_segment_path(log, log->spare_segno, path, sizeof path);
    io->unlink(io->ctx, path);
    fl_index_path(log, log->spare_segno, path, sizeof path);
    io->unlink(io->ctx, path);
}

/* Create path (truncating any leftover), write its n-byte header and
 * fdatasync it: 0 and *fd, or the error with *fd left open for the
 * caller's cleanup (-1 if the open failed). */
static int create_synced(const fl_store_io_t *io, const char *path, const uint8_t *hdr, size_t n,
                         int *fd)
{
    *fd = io->open(io->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (*fd < 0) {
        int rc = *fd;
        *fd = -1;
        return rc;
    }
    int rc = fl_io_write_all(io, *fd, hdr, n, 0);
    return rc < 0 ? rc : io->fdatasync(io->ctx, *fd);
}

int fl_segment_create(fl_log_t *log, uint64_t segno, int *seg_fd, int *idx_fd)
{
    const fl_store_io_t *io = &log->store->io;
    char path[FL_PATH_MAX];
    uint8_t hdr[FL_SEG_HDR];
    int sfd = -1, ifd = -1, rc;
    fl_segment_path(log, segno, path, sizeof path);
    seg_hdr_encode(log->id, segno, hdr);
    if ((rc = create_synced(io, path, hdr, FL_SEG_HDR, &sfd)) < 0)
        goto fail;
    fl_index_path(log, segno, path, sizeof path);
    fl_index_hdr_encode(log->id, segno, hdr);
    if ((rc = create_synced(io, path, hdr, FL_IDX_HDR, &ifd)) < 0 ||
        (rc = fl_io_fsync_dir(io, log->dir)) < 0)
        goto fail;
    *seg_fd = sfd;
    *idx_fd = ifd;
    return 0;
fail:
    fl_error("log %s: cannot create segment %llu: %s", log->name, (unsigned long long)segno,
             fl_strerror(rc));
    if (sfd >= 0)
        io->close(io->ctx, sfd);
    if (ifd >= 0)
        io->close(io->ctx, ifd);
    fl_segment_path(log, segno, path, sizeof path);
    io->unlink(io->ctx, path);
    fl_index_path(log, segno, path, sizeof path);
    io->unlink(io->ctx, path);
    return rc;
}

/* Is there a complete, authentic chunk at pos? 0 and *ref, FL_ECORRUPT (or
 * another decode error) if not, or an I/O error. */
static int try_chunk(fl_log_t *log, EVP_CIPHER_CTX *c, int fd, uint64_t segno, uint64_t pos,
                     uint64_t size, fl_chunk_ref_t *ref)
{
    const fl_store_io_t *io = &log->store->io;
    uint8_t hb[FL_CHUNK_HDR];
    fl_chunk_hdr_t h;
    if (size - pos < FL_CHUNK_HDR + FL_CHUNK_TAG)
        return FL_ETRUNCATED;
    int rc = fl_io_read_all(io, fd, hb, FL_CHUNK_HDR, pos);
    if (rc < 0)
        return rc;
    rc = fl_chunk_hdr_decode(hb, FL_CHUNK_HDR, &h);
    if (rc < 0)
        return rc;
    uint64_t len = (uint64_t)FL_CHUNK_HDR + h.body_len + FL_CHUNK_TAG;
    if (len > size - pos)
        return FL_ETRUNCATED;
    uint8_t *buf = malloc(len);
    if (!buf)
        return FL_ENOMEM;
    rc = fl_io_read_all(io, fd, buf, len, pos);
    if (rc == 0)
        rc = fl_chunk_open(c, log->key, log->id, buf, len, &h);
    free(buf);
    if (rc < 0)
        return rc;
    fl_chunk_ref_set(ref, &h, segno, pos, (uint32_t)len);
    return 0;
}

static int is_io_error(int rc)
{
    return rc < 0 && rc != FL_ECORRUPT && rc != FL_ETRUNCATED && rc != FL_EVERSION &&
           rc != FL_ECRYPTO;
}

/* The next authentic chunk strictly after pos: 0 and *ref, or FL_ENOTFOUND. */
static int find_next(fl_log_t *log, EVP_CIPHER_CTX *c, int fd, uint64_t segno, uint64_t pos,
                     uint64_t size, fl_chunk_ref_t *ref)
{
    const fl_store_io_t *io = &log->store->io;
    enum { WIN = 1 << 20 };
    uint8_t *w = malloc(WIN);
    if (!w)
        return FL_ENOMEM;
    int rc = FL_ENOTFOUND;
    uint64_t at = pos + 1;
    while (at + 4 <= size) {
        size_t want = size - at < WIN ? (size_t)(size - at) : WIN;
        int r = fl_io_read_all(io, fd, w, want, at);
        if (r < 0) {
            rc = r;
            break;
        }
        for (size_t i = 0; i + 4 <= want; i++) {
            if (memcmp(w + i, "FLCK", 4) != 0)
                continue;
            r = try_chunk(log, c, fd, segno, at + i, size, ref);
            if (r == 0 || is_io_error(r)) {
                rc = r;
                goto out;
            }
        }
        if (want < WIN)
            break;
        at += want - 3;
    }
out:
    free(w);
    return rc;
}

static int refs_push(fl_chunk_ref_t **v, size_t *n, size_t *cap, const fl_chunk_ref_t *r)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        fl_chunk_ref_t *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return FL_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = *r;
    return 0;
}

int fl_segment_open_sealed(fl_log_t *log, uint64_t segno, fl_span_t **spans, size_t *n,
                           uint64_t *size_out)
{
    const fl_store_io_t *io = &log->store->io;
    char path[FL_PATH_MAX];
    uint8_t want[FL_SEG_HDR], got[FL_SEG_HDR];
    uint64_t size = 0;
    fl_segment_path(log, segno, path, sizeof path);
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int rc = io->fsize(io->ctx, fd, &size);
    if (rc == 0 && size >= FL_SEG_HDR && (rc = fl_io_read_all(io, fd, got, FL_SEG_HDR, 0)) == 0) {
        seg_hdr_encode(log->id, segno, want);
        if (memcmp(want, got, FL_SEG_HDR) != 0)
            fl_error("segment %s: damaged header at offset 0 (chunks are still checked one "
                     "by one)",
                     path);
    }
    io->close(io->ctx, fd);
    if (rc < 0)
        return rc;
    *size_out = size;
    if (size < FL_SEG_HDR)
        return FL_ECORRUPT; /* recovery says what it is */
    return fl_index_load_summary(log, segno, size, spans, n);
}

int fl_segment_recover(fl_log_t *log, uint64_t segno, int tail, fl_chunk_ref_t **refs_out,
                       size_t *n_out, uint64_t *size_out)
{
    const fl_store_io_t *io = &log->store->io;
    char path[FL_PATH_MAX];
    fl_chunk_ref_t *refs = NULL;
    size_t n = 0, cap = 0;
    int stale = 0, changed = 0, rc;
    uint64_t size = 0;
    EVP_CIPHER_CTX *c = NULL;
    fl_segment_path(log, segno, path, sizeof path);
    int fd = io->open(io->ctx, path, tail ? O_RDWR : O_RDONLY, 0);
    if (fd < 0)
        return fd;
    rc = io->fsize(io->ctx, fd, &size);
    if (rc < 0)
        goto out;
    uint8_t want[FL_SEG_HDR], got[FL_SEG_HDR];
    seg_hdr_encode(log->id, segno, want);
    if (size < FL_SEG_HDR) {
        if (!tail) {
            fl_error("segment %s: %llu bytes, shorter than its header; ignored", path,
                     (unsigned long long)size);
            goto out;
        }
        /* Created but its header never reached the disk: write it again. */
        rc = io->ftruncate(io->ctx, fd, 0);
        if (rc == 0)
            rc = fl_io_write_all(io, fd, want, FL_SEG_HDR, 0);
        if (rc == 0)
            rc = io->fdatasync(io->ctx, fd);
        if (rc < 0)
            goto out;
        size = FL_SEG_HDR;
        stale = 1;
    } else {
        rc = fl_io_read_all(io, fd, got, FL_SEG_HDR, 0);
        if (rc < 0)
            goto out;
        if (memcmp(want, got, FL_SEG_HDR) != 0)
            fl_error("segment %s: damaged header at offset 0 (chunks are still checked one "
                     "by one)",
                     path);
    }
    rc = fl_index_load(log, segno, size, &refs, &n, &stale);
    if (rc < 0)
        goto out;
    cap = n;
    changed = stale;
    c = EVP_CIPHER_CTX_new();
    if (!c) {
        rc = FL_ENOMEM;
        goto out;
    }
    uint64_t pos = n ? refs[n - 1].off + refs[n - 1].len : FL_SEG_HDR;
    while (pos < size) {
        fl_chunk_ref_t r;
        rc = try_chunk(log, c, fd, segno, pos, size, &r);
        if (rc == 0) {
            if ((rc = refs_push(&refs, &n, &cap, &r)) < 0)
                goto out;
            pos += r.len;
            changed = 1;
            continue;
        }
        if (is_io_error(rc))
            goto out;
        rc = find_next(log, c, fd, segno, pos, size, &r);
        if (rc == 0) {
            fl_error("segment %s: damaged bytes at offsets %llu..%llu skipped (chunk failed "
                     "its check)",
                     path, (unsigned long long)pos, (unsigned long long)r.off - 1);
            if ((rc = refs_push(&refs, &n, &cap, &r)) < 0)
                goto out;
            pos = r.off + r.len;
            changed = 1;
            continue;
        }
        if (rc != FL_ENOTFOUND)
            goto out;
        rc = 0;
        if (tail) {
            fl_warn("segment %s: torn tail of %llu bytes at offset %llu cut", path,
                    (unsigned long long)(size - pos), (unsigned long long)pos);
            rc = io->ftruncate(io->ctx, fd, (off_t)pos);
            if (rc == 0)
                rc = io->fdatasync(io->ctx, fd);
            if (rc < 0)
                goto out;
            size = pos;
        } else {
            fl_error("segment %s: damaged bytes at offsets %llu..%llu (end of a sealed "
                     "segment)",
                     path, (unsigned long long)pos, (unsigned long long)size - 1);
        }
        changed = 1;
        break;
    }
    if (changed || !tail)
        rc = fl_index_rewrite(log, segno, refs, n, tail ? 0 : size);
out:
    EVP_CIPHER_CTX_free(c);
    io->close(io->ctx, fd);
    if (rc < 0) {
        free(refs);
        return rc;
    }
    *refs_out = refs;
    *n_out = n;
    *size_out = size;
    return 0;
}
