/*
 * storage/index.c — index files: where each chunk of a segment lives, and
 * a sealed segment's summary.
 *
 * Every segment NNNN.seg has an index NNNN.idx with one entry per chunk, so
 * that reads find a sequence number or a time without touching the data.
 * When the segment is sealed (it rolled), a summary follows the entries:
 * per shard, what the segment holds (sequence range, server and producer
 * time range, chunk count and bytes), closed by a footer with its own CRC.
 * Open reads only that summary of a sealed segment (a fixed-size footer and
 * one record per shard present), never its entries: those are loaded when
 * a read first needs the segment (segcache.c). The index is an
 * accelerator, never the truth: it can always be rebuilt from its segment
 * (segment.c), and it is rebuilt when missing, damaged or behind.
 *
 * Index file, version 2 (little-endian):
 *   header, FL_IDX_HDR = 32 bytes (filehdr.c): magic "FLIX", version = 2,
 *     log id, segment number, CRC-32C
 *   then E entries, FL_IDX_ENTRY = 72 bytes each, in segment offset order:
 *     0   4  shard id
 *     4   4  record count
 *     8   8  first sequence number
 *    16   8  offset of the chunk in the segment
 *    24   4  chunk length (header + body + tag)
 *    28   4  zero
 *    32   8  server ts min      40  8  server ts max
 *    48   8  producer ts min    56  8  producer ts max
 *    64   4  zero
 *    68   4  CRC-32C of bytes 0..67
 *   and, in a sealed index only, S summary records, FL_IDX_SUMREC = 64
 *   bytes each, one per shard with chunks in the segment, by shard id:
 *     0   4  shard id
 *     4   4  chunk count (>= 1)
 *     8   8  first sequence number (of its first chunk)
 *    16   8  end sequence number (its last + 1)
 *    24   8  server ts min      32  8  server ts max
 *    40   8  producer ts min    48  8  producer ts max
 *    56   8  bytes of its chunks
 *   then the footer, FL_IDX_FOOTER = 48 bytes, the last of the file:
 *     0   4  magic "FLIS"
 *     4   4  S
 *     8   8  E
 *    16   8  size of the segment file the index covers
 *    24   4  CRC-32C of the E entries (file bytes 32 .. 32 + 72E - 1)
 *    28   4  CRC-32C of the S summary records
 *    32  12  zero
 *    44   4  CRC-32C of footer bytes 0..43
 *   A sealed index is exactly 32 + 72E + 64S + 48 bytes; the active one is
 *   32 + 72E.
 *
 * Version 1 had the same header (version = 1) and entries and no summary:
 * it is read as an index without a summary and rewritten as version 2.
 *
 * Invariants: entries are in offset order and do not overlap; an entry is
 * written only after its chunk was fdatasync'd, so an entry that is present
 * and whose CRC holds points at a chunk that was durable (power loss may
 * lose index entries, never make one point at unsynced data). The summary
 * is written at seal, after the last entry, and fsync'd with them; it
 * covers every chunk of the segment, and says so by the segment size it
 * names. A summary is trusted only if header, footer and record CRCs hold
 * and the segment still has that size; otherwise open recovers the segment
 * (entries, then a scan of the rest) and rewrites its index.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "storage_internal.h"

void fl_index_path(const fl_log_t *log, uint64_t segno, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%020llu.idx", log->dir, (unsigned long long)segno);
}

static void hdr_encode(uint64_t log_id, uint64_t segno, uint8_t version, uint8_t out[FL_IDX_HDR])
{
    fl_file_hdr_encode("FLIX", version, log_id, segno, out);
}

void fl_index_hdr_encode(uint64_t log_id, uint64_t segno, uint8_t out[FL_IDX_HDR])
{
    hdr_encode(log_id, segno, FL_IDX_VERSION, out);
}

void fl_index_entry_encode(const fl_chunk_ref_t *r, uint8_t out[FL_IDX_ENTRY])
{
    memset(out, 0, FL_IDX_ENTRY);
    fl_store_le32(out, r->shard);
    fl_store_le32(out + 4, r->count);
    fl_store_le64(out + 8, r->first_seq);
    fl_store_le64(out + 16, r->off);
    fl_store_le32(out + 24, r->len);
    fl_store_le64(out + 32, (uint64_t)r->sts_min);
    fl_store_le64(out + 40, (uint64_t)r->sts_max);
    fl_store_le64(out + 48, (uint64_t)r->pts_min);
    fl_store_le64(out + 56, (uint64_t)r->pts_max);
    fl_store_le32(out + 68, fl_crc32c(out, 68));
}

static int entry_decode(const uint8_t *p, uint64_t segno, fl_chunk_ref_t *r)
{
    if (fl_load_le32(p + 68) != fl_crc32c(p, 68))
        return FL_ECORRUPT;
    fl_reader_t rd;
    fl_reader_init(&rd, fl_slice(p, FL_IDX_ENTRY));
    r->segno = segno;
    r->shard = fl_reader_le32(&rd);
    r->count = fl_reader_le32(&rd);
    r->first_seq = fl_reader_le64(&rd);
    r->off = fl_reader_le64(&rd);
    r->len = fl_reader_le32(&rd);
    fl_reader_skip(&rd, 4);
    r->sts_min = (int64_t)fl_reader_le64(&rd);
    r->sts_max = (int64_t)fl_reader_le64(&rd);
    r->pts_min = (int64_t)fl_reader_le64(&rd);
    r->pts_max = (int64_t)fl_reader_le64(&rd);
    if (rd.err || r->count == 0 || r->len < FL_CHUNK_HDR + FL_CHUNK_TAG)
        return FL_ECORRUPT;
    return 0;
}

/* ---- the summary ---- */

typedef struct {
    uint32_t nrecs;
    uint64_t nentries;
    uint64_t seg_size;
    uint32_t entries_crc, recs_crc;
} footer_t;

static void footer_encode(const footer_t *f, uint8_t out[FL_IDX_FOOTER])
{
    memset(out, 0, FL_IDX_FOOTER);
    memcpy(out, "FLIS", 4);
    fl_store_le32(out + 4, f->nrecs);
    fl_store_le64(out + 8, f->nentries);
    fl_store_le64(out + 16, f->seg_size);
    fl_store_le32(out + 24, f->entries_crc);
    fl_store_le32(out + 28, f->recs_crc);
    fl_store_le32(out + 44, fl_crc32c(out, 44));
}

/* A footer whose magic and CRC hold, for a file of file_size bytes. */
static int footer_decode(const uint8_t *p, uint64_t file_size, footer_t *f)
{
    if (memcmp(p, "FLIS", 4) != 0 || fl_load_le32(p + 44) != fl_crc32c(p, 44))
        return FL_ENOTFOUND;
    f->nrecs = fl_load_le32(p + 4);
    f->nentries = fl_load_le64(p + 8);
    f->seg_size = fl_load_le64(p + 16);
    f->entries_crc = fl_load_le32(p + 24);
    f->recs_crc = fl_load_le32(p + 28);
    if (f->nrecs > FL_IDX_MAX_SUMRECS || f->nrecs > f->nentries ||
        f->nentries > (file_size - FL_IDX_HDR) / FL_IDX_ENTRY ||
        file_size != FL_IDX_HDR + f->nentries * FL_IDX_ENTRY + (uint64_t)f->nrecs * FL_IDX_SUMREC +
                         FL_IDX_FOOTER)
        return FL_ECORRUPT;
    return 0;
}

static void sumrec_encode(const fl_span_t *sp, uint8_t out[FL_IDX_SUMREC])
{
    fl_store_le32(out, sp->shard);
    fl_store_le32(out + 4, sp->nchunks);
    fl_store_le64(out + 8, sp->first_seq);
    fl_store_le64(out + 16, sp->end_seq);
    fl_store_le64(out + 24, (uint64_t)sp->sts_min);
    fl_store_le64(out + 32, (uint64_t)sp->sts_max);
    fl_store_le64(out + 40, (uint64_t)sp->pts_min);
    fl_store_le64(out + 48, (uint64_t)sp->pts_max);
    fl_store_le64(out + 56, sp->bytes);
}

static void sumrec_decode(const uint8_t *p, uint64_t segno, fl_span_t *sp)
{
    sp->segno = segno;
    sp->shard = fl_load_le32(p);
    sp->nchunks = fl_load_le32(p + 4);
    sp->first_seq = fl_load_le64(p + 8);
    sp->end_seq = fl_load_le64(p + 16);
    sp->sts_min = (int64_t)fl_load_le64(p + 24);
    sp->sts_max = (int64_t)fl_load_le64(p + 32);
    sp->pts_min = (int64_t)fl_load_le64(p + 40);
    sp->pts_max = (int64_t)fl_load_le64(p + 48);
    sp->bytes = fl_load_le64(p + 56);
}

static int cmp_ref_shard_seq(const void *a, const void *b)
{
    const fl_chunk_ref_t *x = a, *y = b;
    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

int fl_index_summarize(const fl_chunk_ref_t *refs, size_t n, uint64_t segno, fl_span_t **out,
                       size_t *nout)
{
    /* refs by shard, then sequence (the writer's seal gives them so): no
     * copy and no sort; else a sorted copy */
    size_t sorted = 1;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = cmp_ref_shard_seq(&refs[i - 1], &refs[i]) <= 0;
    fl_chunk_ref_t *own = sorted ? NULL : malloc(n * sizeof *own);
    fl_span_t *sp = malloc((n ? n : 1) * sizeof *sp);
    if ((!sorted && !own) || !sp) {
        free(own);
        free(sp);
        return FL_ENOMEM;
    }
    if (own) {
        memcpy(own, refs, n * sizeof *own);
        qsort(own, n, sizeof *own, cmp_ref_shard_seq);
    }
    const fl_chunk_ref_t *v = own ? own : refs;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const fl_chunk_ref_t *r = &v[i];
        uint64_t end = r->first_seq + r->count;
        if (k == 0 || sp[k - 1].shard != r->shard) {
            fl_span_t *s = &sp[k++];
            s->segno = segno;
            s->shard = r->shard;
            s->nchunks = 0;
            s->first_seq = r->first_seq;
            s->end_seq = end;
            s->sts_min = r->sts_min;
            s->sts_max = r->sts_max;
            s->pts_min = r->pts_min;
            s->pts_max = r->pts_max;
            s->bytes = 0;
        }
        fl_span_t *s = &sp[k - 1];
        s->nchunks++;
        s->bytes += r->len;
        if (end > s->end_seq)
            s->end_seq = end;
        if (r->sts_min < s->sts_min)
            s->sts_min = r->sts_min;
        if (r->sts_max > s->sts_max)
            s->sts_max = r->sts_max;
        if (r->pts_min < s->pts_min)
            s->pts_min = r->pts_min;
        if (r->pts_max > s->pts_max)
            s->pts_max = r->pts_max;
    }
    free(own);
    *out = sp;
    *nout = k;
    return 0;
}

/* Summary records and footer of a sealed index whose entries are refs (in
 * offset order), into a malloc'd buffer. have_sp: the caller's summary of
 * those refs (fl_index_summarize), NULL to make it here. */
static int summary_encode(const fl_chunk_ref_t *refs, size_t n, const fl_span_t *have_sp,
                          size_t have_ns, uint64_t segno, uint64_t seg_size, uint8_t **out,
                          size_t *len)
{
    fl_span_t *sp = NULL;
    size_t ns = have_ns;
    if (!have_sp) {
        int rc = fl_index_summarize(refs, n, segno, &sp, &ns);
        if (rc < 0)
            return rc;
        have_sp = sp;
    }
    size_t size = ns * FL_IDX_SUMREC + FL_IDX_FOOTER;
    uint8_t *buf = calloc(1, size);
    if (!buf) {
        free(sp);
        return FL_ENOMEM;
    }
    for (size_t i = 0; i < ns; i++)
        sumrec_encode(&have_sp[i], buf + i * FL_IDX_SUMREC);
    footer_t f = {(uint32_t)ns, n, seg_size, 0, fl_crc32c(buf, ns * FL_IDX_SUMREC)};
    uint8_t e[FL_IDX_ENTRY];
    for (size_t i = 0; i < n; i++) {
        fl_index_entry_encode(&refs[i], e);
        f.entries_crc = fl_crc32c_update(f.entries_crc, e, FL_IDX_ENTRY);
    }
    footer_encode(&f, buf + ns * FL_IDX_SUMREC);
    free(sp);
    *out = buf;
    *len = size;
    return 0;
}

/* ---- loading ---- */

/* The whole file into a malloc'd buffer. FL_ENOTFOUND if it is missing. */
static int read_file(const fl_store_io_t *io, const char *path, uint8_t **out, uint64_t *size)
{
    *out = NULL;
    *size = 0;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return fd == -ENOENT ? FL_ENOTFOUND : fd;
    int rc = io->fsize(io->ctx, fd, size);
    if (rc == 0 && *size > ((uint64_t)1 << 40))
        rc = FL_ELIMIT;
    if (rc == 0 && !(*out = malloc(*size ? (size_t)*size : 1)))
        rc = FL_ENOMEM;
    if (rc == 0)
        rc = fl_io_read_all(io, fd, *out, (size_t)*size, 0);
    io->close(io->ctx, fd);
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

int fl_index_load(fl_log_t *log, uint64_t segno, uint64_t seg_size, fl_chunk_ref_t **refs,
                  size_t *n, int *stale)
{
    char path[FL_PATH_MAX];
    fl_index_path(log, segno, path, sizeof path);
    *refs = NULL;
    *n = 0;
    *stale = 1;
    uint8_t *buf;
    uint64_t size;
    int rc = read_file(&log->store->io, path, &buf, &size);
    if (rc == FL_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    uint8_t v2[FL_IDX_HDR], v1[FL_IDX_HDR];
    fl_index_hdr_encode(log->id, segno, v2);
    hdr_encode(log->id, segno, 1, v1);
    if (size < FL_IDX_HDR ||
        (memcmp(buf, v2, FL_IDX_HDR) != 0 && memcmp(buf, v1, FL_IDX_HDR) != 0)) {
        fl_warn("index %s: bad header, rebuilding from the segment", path);
        free(buf);
        return 0;
    }
    int version = buf[4];
    size_t cnt = (size_t)((size - FL_IDX_HDR) / FL_IDX_ENTRY);
    footer_t f;
    int sealed = version == 2 && size >= FL_IDX_HDR + FL_IDX_FOOTER &&
                 footer_decode(buf + size - FL_IDX_FOOTER, size, &f) == 0;
    if (sealed)
        cnt = (size_t)f.nentries; /* the summary is not entries */
    fl_chunk_ref_t *v = cnt ? calloc(cnt, sizeof *v) : NULL;
    if (cnt && !v) {
        free(buf);
        return FL_ENOMEM;
    }
    uint64_t end = FL_SEG_HDR;
    size_t i;
    for (i = 0; i < cnt; i++) {
        const uint8_t *e = buf + FL_IDX_HDR + i * FL_IDX_ENTRY;
        if (entry_decode(e, segno, &v[i]) < 0 || v[i].off < end || v[i].off > seg_size ||
            v[i].len > seg_size - v[i].off) {
            fl_warn("index %s: entry %zu at offset %zu is damaged or beyond the segment; "
                    "rebuilding from there",
                    path, i, (size_t)(FL_IDX_HDR + i * FL_IDX_ENTRY));
            break;
        }
        end = v[i].off + v[i].len;
    }
    *refs = v;
    *n = i;
    *stale = !(version == FL_IDX_VERSION && !sealed && i == cnt &&
               size == FL_IDX_HDR + cnt * FL_IDX_ENTRY);
    free(buf);
    return 0;
}

int fl_index_load_summary(fl_log_t *log, uint64_t segno, uint64_t seg_size, fl_span_t **spans,
                          size_t *n)
{
    const fl_store_io_t *io = &log->store->io;
    char path[FL_PATH_MAX];
    fl_index_path(log, segno, path, sizeof path);
    *spans = NULL;
    *n = 0;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0) {
        if (fd == -ENOENT)
            fl_warn("index %s: missing; rebuilding it from the segment", path);
        return fd == -ENOENT ? FL_ENOTFOUND : fd;
    }
    uint8_t hdr[FL_IDX_HDR], want[FL_IDX_HDR], ft[FL_IDX_FOOTER];
    uint8_t *recs = NULL;
    fl_span_t *v = NULL;
    footer_t f;
    uint64_t size = 0;
    int rc = io->fsize(io->ctx, fd, &size);
    if (rc < 0)
        goto out;
    if (size < FL_IDX_HDR + FL_IDX_FOOTER) {
        fl_warn("index %s: %llu bytes, no summary; rebuilding it from the segment", path,
                (unsigned long long)size);
        rc = FL_ENOTFOUND;
        goto out;
    }
    if ((rc = fl_io_read_all(io, fd, hdr, FL_IDX_HDR, 0)) < 0)
        goto out;
    fl_index_hdr_encode(log->id, segno, want);
    if (memcmp(hdr, want, FL_IDX_HDR) != 0) {
        hdr_encode(log->id, segno, 1, want);
        if (memcmp(hdr, want, FL_IDX_HDR) == 0) {
            fl_info("index %s: version 1, upgrading to version %d", path, FL_IDX_VERSION);
            rc = FL_ENOTFOUND;
        } else {
            fl_warn("index %s: bad header at offset 0; rebuilding it from the segment", path);
            rc = FL_ECORRUPT;
        }
        goto out;
    }
    if ((rc = fl_io_read_all(io, fd, ft, FL_IDX_FOOTER, size - FL_IDX_FOOTER)) < 0)
        goto out;
    if ((rc = footer_decode(ft, size, &f)) < 0) {
        fl_warn("index %s: no valid summary footer at offset %llu; rebuilding it from the "
                "segment",
                path, (unsigned long long)(size - FL_IDX_FOOTER));
        goto out;
    }
    if (f.seg_size != seg_size) {
        fl_warn("index %s: summary covers %llu bytes of segment, which has %llu; recovering "
                "the segment",
                path, (unsigned long long)f.seg_size, (unsigned long long)seg_size);
        rc = FL_ECORRUPT;
        goto out;
    }
    uint64_t roff = FL_IDX_HDR + f.nentries * FL_IDX_ENTRY;
    size_t rlen = (size_t)f.nrecs * FL_IDX_SUMREC;
    recs = malloc(rlen ? rlen : 1);
    v = malloc((f.nrecs ? f.nrecs : 1) * sizeof *v);
    if (!recs || !v) {
        rc = FL_ENOMEM;
        goto out;
    }
    if ((rc = fl_io_read_all(io, fd, recs, rlen, roff)) < 0)
        goto out;
    rc = fl_crc32c(recs, rlen) == f.recs_crc ? 0 : FL_ECORRUPT;
    uint64_t chunks = 0;
    for (uint32_t i = 0; i < f.nrecs && rc == 0; i++) {
        sumrec_decode(recs + (size_t)i * FL_IDX_SUMREC, segno, &v[i]);
        chunks += v[i].nchunks;
        if (v[i].nchunks == 0 || v[i].first_seq >= v[i].end_seq ||
            (i && v[i].shard <= v[i - 1].shard))
            rc = FL_ECORRUPT;
    }
    if (rc == 0 && chunks != f.nentries)
        rc = FL_ECORRUPT;
    if (rc < 0) {
        fl_warn("index %s: damaged summary at offset %llu; rebuilding it from the segment", path,
                (unsigned long long)roff);
        goto out;
    }
    *spans = v;
    *n = f.nrecs;
    v = NULL;
out:
    free(recs);
    free(v);
    io->close(io->ctx, fd);
    return rc;
}

int fl_index_load_sealed(fl_log_t *log, uint64_t segno, fl_chunk_ref_t **refs, size_t *n)
{
    char path[FL_PATH_MAX];
    fl_index_path(log, segno, path, sizeof path);
    *refs = NULL;
    *n = 0;
    uint8_t *buf;
    uint64_t size;
    int rc = read_file(&log->store->io, path, &buf, &size);
    if (rc == FL_ENOTFOUND)
        fl_warn("index %s: missing; rebuilding it from the segment", path);
    if (rc < 0)
        return rc;
    uint8_t want[FL_IDX_HDR];
    fl_index_hdr_encode(log->id, segno, want);
    footer_t f;
    fl_chunk_ref_t *v = NULL;
    uint64_t bad = 0; /* offset of the damage */
    rc = FL_ECORRUPT;
    if (size < FL_IDX_HDR + FL_IDX_FOOTER || memcmp(buf, want, FL_IDX_HDR) != 0)
        goto out;
    bad = size - FL_IDX_FOOTER;
    if (footer_decode(buf + bad, size, &f) < 0)
        goto out;
    v = malloc((f.nentries ? (size_t)f.nentries : 1) * sizeof *v);
    if (!v) {
        rc = FL_ENOMEM;
        goto out;
    }
    uint64_t end = FL_SEG_HDR;
    for (size_t i = 0; i < f.nentries; i++) {
        bad = FL_IDX_HDR + i * FL_IDX_ENTRY;
        if (entry_decode(buf + bad, segno, &v[i]) < 0 || v[i].off < end || v[i].off > f.seg_size ||
            v[i].len > f.seg_size - v[i].off)
            goto out;
        end = v[i].off + v[i].len;
    }
    bad = FL_IDX_HDR;
    if (fl_crc32c(buf + FL_IDX_HDR, (size_t)f.nentries * FL_IDX_ENTRY) != f.entries_crc)
        goto out;
    rc = 0;
out:
    if (rc == FL_ECORRUPT)
        fl_warn("index %s: damaged at offset %llu; rebuilding it from the segment", path,
                (unsigned long long)bad);
    free(buf);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *refs = v;
    *n = (size_t)f.nentries;
    return 0;
}

/* ---- writing ---- */

int fl_index_rewrite(fl_log_t *log, uint64_t segno, const fl_chunk_ref_t *refs, size_t n,
                     uint64_t sealed_size)
{
    char path[FL_PATH_MAX];
    fl_index_path(log, segno, path, sizeof path);
    uint8_t *sum = NULL;
    size_t sum_len = 0;
    int rc = 0;
    if (sealed_size &&
        (rc = summary_encode(refs, n, NULL, 0, segno, sealed_size, &sum, &sum_len)) < 0)
        return rc;
    size_t size = FL_IDX_HDR + n * FL_IDX_ENTRY + sum_len;
    uint8_t *buf = malloc(size);
    if (!buf) {
        free(sum);
        return FL_ENOMEM;
    }
    fl_index_hdr_encode(log->id, segno, buf);
    for (size_t i = 0; i < n; i++)
        fl_index_entry_encode(&refs[i], buf + FL_IDX_HDR + i * FL_IDX_ENTRY);
    if (sum_len)
        memcpy(buf + FL_IDX_HDR + n * FL_IDX_ENTRY, sum, sum_len);
    rc = fl_io_replace_file(&log->store->io, log->dir, path, buf, size, 0600);
    free(buf);
    free(sum);
    if (rc < 0)
        fl_error("index %s: cannot rewrite: %s", path, fl_strerror(rc));
    return rc;
}

int fl_index_seal(fl_log_t *log, int fd, uint64_t segno, const fl_chunk_ref_t *refs, size_t n,
                  const fl_span_t *sp, size_t nsp, uint64_t seg_size)
{
    const fl_store_io_t *io = &log->store->io;
    uint8_t *sum;
    size_t len;
    int rc = summary_encode(refs, n, sp, nsp, segno, seg_size, &sum, &len);
    if (rc < 0)
        return rc;
    uint64_t at = FL_IDX_HDR + (uint64_t)n * FL_IDX_ENTRY;
    rc = fl_io_write_all(io, fd, sum, len, at);
    if (rc == 0)
        rc = io->ftruncate(io->ctx, fd, (off_t)(at + len));
    if (rc == 0)
        rc = io->fdatasync(io->ctx, fd);
    free(sum);
    return rc;
}
