/*
 * storage/index.c — index files: where each chunk of a segment lives.
 *
 * Every segment NNNN.seg has an index NNNN.idx with one entry per chunk, so
 * that open needs no scan of sealed segments and reads find a sequence
 * number or a time without touching the data. The index is an accelerator,
 * never the truth: it can always be rebuilt from its segment (see
 * segment.c), and it is rebuilt when missing, damaged or behind.
 *
 * Index file (little-endian):
 *   header, FL_IDX_HDR = 32 bytes:
 *     0   4  magic "FLIX"
 *     4   1  version = 1
 *     5   3  zero
 *     8   8  log id
 *    16   8  segment number
 *    24   4  zero
 *    28   4  CRC-32C of bytes 0..27
 *   then entries, FL_IDX_ENTRY = 72 bytes each, in file order:
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
 *
 * Invariants: entries are in offset order and do not overlap; an entry is
 * written only after its chunk was fdatasync'd, so an entry that is present
 * and whose CRC holds points at a chunk that was durable (power loss may
 * lose index entries, never make one point at unsynced data). The index of
 * a sealed segment is fsync'd at seal and covers the whole segment.
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

void fl_index_hdr_encode(uint64_t log_id, uint64_t segno, uint8_t out[FL_IDX_HDR])
{
    memset(out, 0, FL_IDX_HDR);
    memcpy(out, "FLIX", 4);
    out[4] = FL_IDX_VERSION;
    fl_store_le64(out + 8, log_id);
    fl_store_le64(out + 16, segno);
    fl_store_le32(out + 28, fl_crc32c(out, 28));
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

int fl_index_load(fl_log_t *log, uint64_t segno, uint64_t seg_size, fl_chunk_ref_t **refs,
                  size_t *n, int *stale)
{
    const fl_store_io_t *io = &log->store->io;
    char path[FL_PATH_MAX];
    fl_index_path(log, segno, path, sizeof path);
    *refs = NULL;
    *n = 0;
    *stale = 1;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return fd == -ENOENT ? 0 : fd;
    uint64_t size = 0;
    uint8_t *buf = NULL;
    int rc = io->fsize(io->ctx, fd, &size);
    if (rc < 0 || size < FL_IDX_HDR)
        goto out;
    buf = malloc(size);
    if (!buf) {
        rc = FL_ENOMEM;
        goto out;
    }
    rc = fl_io_read_all(io, fd, buf, size, 0);
    if (rc < 0)
        goto out;
    uint8_t want[FL_IDX_HDR];
    fl_index_hdr_encode(log->id, segno, want);
    if (memcmp(buf, want, FL_IDX_HDR) != 0) {
        fl_warn("index %s: bad header, rebuilding from the segment", path);
        goto out;
    }
    size_t cnt = (size_t)((size - FL_IDX_HDR) / FL_IDX_ENTRY);
    fl_chunk_ref_t *v = cnt ? calloc(cnt, sizeof *v) : NULL;
    if (cnt && !v) {
        rc = FL_ENOMEM;
        goto out;
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
    *stale = !(i == cnt && size == FL_IDX_HDR + cnt * FL_IDX_ENTRY);
out:
    free(buf);
    io->close(io->ctx, fd);
    return rc < 0 ? rc : 0;
}

int fl_index_rewrite(fl_log_t *log, uint64_t segno, const fl_chunk_ref_t *refs, size_t n)
{
    char path[FL_PATH_MAX];
    fl_index_path(log, segno, path, sizeof path);
    size_t size = FL_IDX_HDR + n * FL_IDX_ENTRY;
    uint8_t *buf = malloc(size);
    if (!buf)
        return FL_ENOMEM;
    fl_index_hdr_encode(log->id, segno, buf);
    for (size_t i = 0; i < n; i++)
        fl_index_entry_encode(&refs[i], buf + FL_IDX_HDR + i * FL_IDX_ENTRY);
    int rc = fl_io_replace_file(&log->store->io, log->dir, path, buf, size, 0600);
    free(buf);
    if (rc < 0)
        fl_error("index %s: cannot rewrite: %s", path, fl_strerror(rc));
    return rc;
}
