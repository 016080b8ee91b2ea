/*
 * producer-sdk/filestore.c — the SDK's on-flash content store: a file of
 * fixed size used as a circular log of AES-256-GCM sealed records (session
 * headers and whole fragments), so that buffered video survives a restart
 * or a power cut. The full format is in docs/sdk-store-format.md; in short:
 *
 *   [superblock slot 0: 4096][superblock slot 1: 4096][data area ... capacity)
 *
 *   superblock (128 bytes at the start of its slot, all integers LE):
 *     0 "FLPS" | 4 version=1 | 5 zero[3] | 8 file id[16] | 24 capacity u64
 *     32 generation u64 | 40 head seq | 48 head offset | 56 released seq
 *     64 pin seq | 72 pin offset | 80 IV[16] | 96 key check value[16]
 *     112 GCM tag[16] over bytes 0..111 as AAD (no plaintext)
 *
 *   record (64 + n bytes, anywhere in the data area, never split):
 *     0 "FLPR" | 4 kind u8 | 5 zero[3] | 8 length n u32 | 12 zero u32
 *     16 seq u64 | 24 timecode i64 | 32 header id u64 | 40 salt[8]
 *     48 ciphertext[n] | 48+n GCM tag[16]
 *     IV = salt || seq (16 bytes); AAD = file id || bytes 0..47.
 *
 * The log. Records carry a sequence number that grows by one per record and
 * is never reused in a file. The held region starts at the superblock's head
 * (seq and offset) and runs record by record to the tail, which is not stored
 * anywhere: open finds it by following the chain (record seq s+1 lies right
 * after record s, or at the start of the data area when it did not fit before
 * the end) until a record is missing or fails its tag. A record is written
 * once, into space outside the held region, and made durable (fdatasync)
 * before append returns; the head only moves on release, by writing the
 * superblock copy that is not the newest (generation + 1, slot = generation
 * & 1) and fdatasync'ing it. So after a crash at any point:
 *   - every record append returned 0 for is in the chain (its space was free
 *     by the durable superblock, so nothing overwrote it);
 *   - a torn record fails its tag and ends the chain (stale bytes after it
 *     carry older sequence numbers, so they never continue it);
 *   - a torn superblock write leaves the other copy, one release older.
 *
 * Nonces. The IV is an 8-byte salt drawn at random at every open followed by
 * a 64-bit counter (the record's seq, or 2^63 + n for the n-th superblock
 * written by this open). A fresh salt per open, rather than a counter kept on
 * disk, means a record torn by a crash and then rewritten with the same seq
 * never reuses an IV, whatever reached the flash.
 *
 * Headers. A fragment record names the header it needs (its header id: the
 * seq of the header record first appended). The header the first held
 * fragment needs is the "pin" in the superblock; replay emits the pin first,
 * then walks the held region, skipping a header record whose id equals the
 * header just emitted (a copy) and fragments at or below the released seq.
 * When release would move the head past that header while fragments that
 * need it remain, it re-appends a copy of the header at the tail first (new
 * seq, same header id) and pins the copy, so the circular log keeps turning
 * with one header per session. To make sure there is always room for that
 * copy, append refuses (FLP_ENOSPC) a record that would leave no room for
 * the largest header record held. Should the copy still not fit, or the
 * source header fail its tag, release keeps the head at the header and only
 * raises the released seq (space is then freed by a later release).
 *
 * Damage. File bytes are untrusted: every length is checked against the
 * data area before use. A record whose header is plausible but whose tag
 * fails is skipped (and counted) when the next record of the chain is found
 * right after it; otherwise the chain ends there. Two bad superblock copies
 * give FLP_ECRYPTO when the key check value says the key is wrong, else
 * FLP_ECORRUPT.
 *
 * After a failed write or fdatasync the store refuses every later append and
 * release with that error until it is reopened (what reached the disk is
 * unknown; reopening rescans it).
 */
#include "filestore.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/aes.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/diag.h"
#include "common/fileio.h"
#include <framelog/producer.h>

#define FS_SLOT        4096u
#define FS_DATA_START  (2u * FS_SLOT)
#define FS_SB_LEN      128u
#define FS_SB_AAD      112u
#define FS_REC_HDR     48u
#define FS_TAG         16u
#define FS_REC_EXTRA   (FS_REC_HDR + FS_TAG)
#define FS_IV          16u
#define FS_VERSION     1u
#define FS_MIN_CAP     ((uint64_t)64 * 1024)
#define FS_MAX_CAP     ((uint64_t)4 * 1024 * 1024 * 1024)
#define FS_MAX_PAYLOAD ((uint64_t)64 * 1024 * 1024)
#define FS_SB_CTR_BIT  ((uint64_t)1 << 63)

static const uint8_t kcv_block[16] = "framelog-sdk-kcv";

struct flp_filestore {
    int fd;
    int broken; /* sticky error after a failed write or sync */
    mbedtls_gcm_context gcm;
    uint8_t file_id[16];
    uint8_t kcv[16];
    uint8_t salt[8]; /* this open's IV prefix */
    uint64_t sb_ctr; /* superblocks written by this open */
    uint64_t gen;    /* generation of the newest superblock */
    uint64_t cap;    /* file size = end of the data area */
    /* the held region, as in the newest superblock except where noted */
    uint64_t head_seq, head_off; /* head_off: where the head record really is */
    uint64_t rel_seq;            /* fragments <= this are released */
    uint64_t pin_seq, pin_off;   /* header to emit first; 0: none */
    uint64_t next_seq, tail_off; /* found by the scan, kept by append */
    uint64_t cur_hdr;            /* header id of the newest record; 0: none */
    uint64_t reserve;            /* largest header record size held */
    size_t max_payload;
    uint8_t *scratch; /* FS_REC_EXTRA + max_payload bytes */
};

typedef struct {
    uint8_t raw[FS_REC_HDR];
    int kind;
    uint32_t len;
    uint64_t seq;
    int64_t tc;
    uint64_t hdr_id;
} rec_hdr_t;

enum { REC_NONE = 0, REC_BAD = 1, REC_OK = 2 };

/* ---- small I/O helpers ---- */

static int pread_full(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    return fl_pread_upto(fd, p, n, off, got);
}

static int pwrite_full(int fd, const void *p, size_t n, uint64_t off)
{
    return fl_pwrite_all(fd, p, n, off);
}

static int sync_fd(int fd)
{
    while (fdatasync(fd) != 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

static int random_bytes(void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = getrandom((uint8_t *)p + done, n - done, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)r;
    }
    return 0;
}

/* ---- superblock ---- */

typedef struct {
    uint8_t file_id[16];
    uint8_t kcv[16];
    uint64_t cap, gen, head_seq, head_off, rel_seq, pin_seq, pin_off;
} sb_t;

static void sb_encode(const flp_filestore_t *fs, const sb_t *sb, uint64_t ctr,
                      uint8_t out[FS_SB_LEN])
{
    memset(out, 0, FS_SB_LEN);
    memcpy(out, "FLPS", 4);
    out[4] = FS_VERSION;
    memcpy(out + 8, sb->file_id, 16);
    fl_store_le64(out + 24, sb->cap);
    fl_store_le64(out + 32, sb->gen);
    fl_store_le64(out + 40, sb->head_seq);
    fl_store_le64(out + 48, sb->head_off);
    fl_store_le64(out + 56, sb->rel_seq);
    fl_store_le64(out + 64, sb->pin_seq);
    fl_store_le64(out + 72, sb->pin_off);
    memcpy(out + 80, fs->salt, 8);
    fl_store_le64(out + 88, FS_SB_CTR_BIT | ctr);
    memcpy(out + 96, fs->kcv, 16);
}

/* Decode one superblock copy: REC_OK (valid under our key), REC_BAD (looks
 * like a superblock but its key check value is not ours: another key),
 * REC_NONE (damaged or absent). */
static int sb_decode(flp_filestore_t *fs, const uint8_t *p, size_t n, sb_t *sb)
{
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(p, n));
    fl_slice_t magic = fl_reader_take(&r, 4);
    uint8_t version = fl_reader_u8(&r);
    fl_reader_skip(&r, 3);
    fl_reader_copy(&r, sb->file_id, 16);
    sb->cap = fl_reader_le64(&r);
    sb->gen = fl_reader_le64(&r);
    sb->head_seq = fl_reader_le64(&r);
    sb->head_off = fl_reader_le64(&r);
    sb->rel_seq = fl_reader_le64(&r);
    sb->pin_seq = fl_reader_le64(&r);
    sb->pin_off = fl_reader_le64(&r);
    fl_slice_t iv = fl_reader_take(&r, FS_IV);
    fl_reader_copy(&r, sb->kcv, 16);
    fl_slice_t tag = fl_reader_take(&r, FS_TAG);
    if (r.err || !fl_slice_eq(magic, fl_slice("FLPS", 4)) || version != FS_VERSION)
        return REC_NONE;
    uint8_t dummy[1];
    if (mbedtls_gcm_auth_decrypt(&fs->gcm, 0, iv.p, iv.n, p, FS_SB_AAD, tag.p, tag.n, dummy,
                                 dummy) != 0)
        return memcmp(sb->kcv, fs->kcv, 16) != 0 ? REC_BAD : REC_NONE;
    /* authentic: written by us, but check what the code relies on anyway */
    if (sb->cap < FS_MIN_CAP || sb->cap > FS_MAX_CAP || sb->head_off < FS_DATA_START ||
        sb->head_off > sb->cap || sb->head_seq == 0 || (sb->head_seq & FS_SB_CTR_BIT) ||
        sb->rel_seq >= FS_SB_CTR_BIT ||
        (sb->pin_seq && (sb->pin_off < FS_DATA_START || sb->pin_off + FS_REC_EXTRA > sb->cap)))
        return REC_NONE;
    return REC_OK;
}

/* Write superblock generation fs->gen + 1 over the older copy and sync. */
static int sb_write(flp_filestore_t *fs, const sb_t *sb)
{
    uint8_t buf[FS_SB_LEN];
    uint8_t dummy[1] = {0};
    uint64_t ctr = fs->sb_ctr++;
    sb_encode(fs, sb, ctr, buf);
    if (mbedtls_gcm_crypt_and_tag(&fs->gcm, MBEDTLS_GCM_ENCRYPT, 0, buf + 80, FS_IV, buf, FS_SB_AAD,
                                  dummy, dummy, FS_TAG, buf + FS_SB_AAD) != 0)
        return FLP_ECRYPTO;
    int rc = pwrite_full(fs->fd, buf, sizeof buf, (sb->gen & 1) * FS_SLOT);
    if (rc == 0)
        rc = sync_fd(fs->fd);
    return rc;
}

/* ---- records ---- */

static int rec_parse(const flp_filestore_t *fs, rec_hdr_t *h)
{
    const uint8_t *p = h->raw;
    if (memcmp(p, "FLPR", 4) != 0 || (p[4] != FLP_REC_HEADER && p[4] != FLP_REC_FRAGMENT) || p[5] ||
        p[6] || p[7] || fl_load_le32(p + 12) != 0)
        return -1;
    h->kind = p[4];
    h->len = fl_load_le32(p + 8);
    h->seq = fl_load_le64(p + 16);
    h->tc = (int64_t)fl_load_le64(p + 24);
    h->hdr_id = fl_load_le64(p + 32);
    if (h->len > fs->max_payload)
        return -1;
    return 0;
}

static uint64_t rec_size(const rec_hdr_t *h)
{
    return FS_REC_EXTRA + (uint64_t)h->len;
}

/* Is there record seq at off? REC_OK (header plausible and, with verify,
 * the tag holds: plaintext in fs->scratch), REC_BAD (header plausible, tag
 * fails or the record is cut short), REC_NONE, or -errno. */
static int rec_try(flp_filestore_t *fs, uint64_t off, uint64_t seq, int verify, rec_hdr_t *h)
{
    size_t got;
    if (off < FS_DATA_START || off > fs->cap || fs->cap - off < FS_REC_EXTRA)
        return REC_NONE;
    int rc = pread_full(fs->fd, h->raw, FS_REC_HDR, off, &got);
    if (rc < 0)
        return rc;
    if (got < FS_REC_HDR || rec_parse(fs, h) != 0 || h->seq != seq || rec_size(h) > fs->cap - off)
        return REC_NONE;
    if (!verify)
        return REC_OK;
    size_t body = (size_t)h->len + FS_TAG;
    rc = pread_full(fs->fd, fs->scratch + FS_REC_HDR, body, off + FS_REC_HDR, &got);
    if (rc < 0)
        return rc;
    if (got < body)
        return REC_BAD;
    uint8_t aad[16 + FS_REC_HDR], iv[FS_IV];
    memcpy(aad, fs->file_id, 16);
    memcpy(aad + 16, h->raw, FS_REC_HDR);
    memcpy(iv, h->raw + 40, 8);
    fl_store_le64(iv + 8, seq);
    /* decrypt scratch[48..48+n) down to scratch[0..n): the output trails the
     * input by 48 bytes, which mbedTLS allows; the tag is past both */
    if (mbedtls_gcm_auth_decrypt(&fs->gcm, h->len, iv, FS_IV, aad, sizeof aad,
                                 fs->scratch + FS_REC_HDR + h->len, FS_TAG,
                                 fs->scratch + FS_REC_HDR, fs->scratch) != 0)
        return REC_BAD;
    return REC_OK;
}

/* Find record seq where the chain puts it: at off, or at the start of the
 * data area when the writer wrapped. A good record wins over a bad one.
 * Without verify only headers are read; should both places hold a plausible
 * header for seq (what a crash can leave: a torn record, then the same seq
 * written again at the other place), the tags decide. */
static int rec_find(flp_filestore_t *fs, uint64_t off, uint64_t seq, int verify, uint64_t *at,
                    rec_hdr_t *h)
{
    rec_hdr_t ha, hb;
    int a = rec_try(fs, off, seq, verify, &ha);
    if (a < 0)
        return a;
    if (a == REC_OK && !verify && off != FS_DATA_START) {
        int b = rec_try(fs, FS_DATA_START, seq, 0, &hb);
        if (b < 0)
            return b;
        if (b == REC_OK)
            return rec_find(fs, off, seq, 1, at, h);
    }
    if (a == REC_OK) {
        *at = off, *h = ha;
        return REC_OK;
    }
    int b = REC_NONE;
    if (off != FS_DATA_START) {
        b = rec_try(fs, FS_DATA_START, seq, verify, &hb);
        if (b < 0)
            return b;
        if (b == REC_OK) {
            *at = FS_DATA_START, *h = hb;
            return REC_OK;
        }
    }
    if (a == REC_BAD) {
        *at = off, *h = ha;
        return REC_BAD;
    }
    if (b == REC_BAD) {
        *at = FS_DATA_START, *h = hb;
        return REC_BAD;
    }
    return REC_NONE;
}

/* Where a record of z bytes goes given the held region [head, tail) (empty
 * or not): 0 with *pos, or -1 when it does not fit. */
static int fit(const flp_filestore_t *fs, uint64_t head, uint64_t tail, int empty, uint64_t z,
               uint64_t *pos)
{
    uint64_t end = fs->cap;
    if (z > end - FS_DATA_START)
        return -1;
    if (empty) {
        *pos = (tail <= end && end - tail >= z) ? tail : FS_DATA_START;
        return 0;
    }
    if (tail > head) {
        if (end - tail >= z)
            *pos = tail;
        else if (head - FS_DATA_START >= z)
            *pos = FS_DATA_START;
        else
            return -1;
        return 0;
    }
    if (head - tail >= z) {
        *pos = tail;
        return 0;
    }
    return -1;
}

/* Seal and write record seq at pos, then fdatasync. */
static int rec_write(flp_filestore_t *fs, uint64_t pos, uint64_t seq, int kind, int64_t tc,
                     uint64_t hdr_id, const uint8_t *p, size_t n)
{
    uint8_t *h = fs->scratch;
    /* p may be fs->scratch itself (a header being copied): move the bytes
     * to where the ciphertext goes first (encryption in place is allowed) */
    if (p == fs->scratch && n) {
        memmove(fs->scratch + FS_REC_HDR, p, n);
        p = fs->scratch + FS_REC_HDR;
    }
    memset(h, 0, FS_REC_HDR);
    memcpy(h, "FLPR", 4);
    h[4] = (uint8_t)kind;
    fl_store_le32(h + 8, (uint32_t)n);
    fl_store_le64(h + 16, seq);
    fl_store_le64(h + 24, (uint64_t)tc);
    fl_store_le64(h + 32, hdr_id);
    memcpy(h + 40, fs->salt, 8);
    uint8_t aad[16 + FS_REC_HDR], iv[FS_IV];
    memcpy(aad, fs->file_id, 16);
    memcpy(aad + 16, h, FS_REC_HDR);
    memcpy(iv, fs->salt, 8);
    fl_store_le64(iv + 8, seq);
    if (mbedtls_gcm_crypt_and_tag(&fs->gcm, MBEDTLS_GCM_ENCRYPT, n, iv, FS_IV, aad, sizeof aad,
                                  n ? p : h, fs->scratch + FS_REC_HDR, FS_TAG,
                                  fs->scratch + FS_REC_HDR + n) != 0)
        return FLP_ECRYPTO;
    int rc = pwrite_full(fs->fd, fs->scratch, FS_REC_EXTRA + n, pos);
    if (rc == 0)
        rc = sync_fd(fs->fd);
    return rc;
}

static int is_empty(const flp_filestore_t *fs)
{
    return fs->head_seq == fs->next_seq;
}

/* ---- open: create, superblock, scan ---- */

/* Create path sized cap: a temporary file, preallocated, both superblock
 * copies (generations 1 and 2, empty log), synced, renamed into place and the
 * folder synced, so that a file at path always has a valid superblock. fs
 * holds the key, salt and key check value. */
static int create_file(flp_filestore_t *fs, const char *path, uint64_t cap)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 5), *dir = malloc(n + 2);
    int fd = -1, dfd = -1, rc = 0;
    if (!tmp || !dir) {
        rc = FLP_ENOMEM;
        goto out;
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;

    unlink(tmp); /* left by a crash during an earlier creation */
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    int e = posix_fallocate(fd, 0, (off_t)cap);
    if (e != 0) {
        rc = -e;
        goto out;
    }
    sb_t sb = {.cap = cap, .head_seq = 1, .head_off = FS_DATA_START};
    if ((rc = random_bytes(sb.file_id, 16)) < 0)
        goto out;
    fs->fd = fd;
    for (sb.gen = 1; sb.gen <= 2 && rc == 0; sb.gen++)
        rc = sb_write(fs, &sb);
    fs->fd = -1;
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (rc < 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        goto out;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        rc = -errno;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (dfd >= 0)
        close(dfd);
    free(tmp);
    free(dir);
    return rc;
}

/* Read both superblock copies and take the newest valid one. */
static int sb_load(flp_filestore_t *fs, sb_t *out)
{
    int found = 0, foreign = 0;
    for (unsigned slot = 0; slot < 2; slot++) {
        uint8_t buf[FS_SB_LEN];
        size_t got;
        sb_t sb = {0};
        int rc = pread_full(fs->fd, buf, sizeof buf, slot * FS_SLOT, &got);
        if (rc < 0)
            return rc;
        int r = sb_decode(fs, buf, got, &sb);
        if (r == REC_BAD)
            foreign = 1;
        if (r == REC_OK && (sb.gen & 1) == slot && (!found || sb.gen > out->gen))
            *out = sb, found = 1;
    }
    if (found)
        return 0;
    return foreign ? FLP_ECRYPTO : FLP_ECORRUPT;
}

/* Follow the chain from the head: finds the tail, the next seq, the header
 * in use and the largest header record. A damaged record is stepped over
 * only when the next one is found right after it. */
static int scan(flp_filestore_t *fs)
{
    uint64_t pos = fs->head_off, seq = fs->head_seq, first_off = fs->head_off;
    uint64_t limit = (fs->cap - FS_DATA_START) / FS_REC_EXTRA + 1;
    unsigned damaged = 0;
    uint64_t cur = 0, cur_copy = 0;
    for (uint64_t i = 0; i < limit; i++) {
        uint64_t at, at2;
        rec_hdr_t h, h2;
        int r = rec_find(fs, pos, seq, 1, &at, &h);
        if (r < 0)
            return r;
        if (r == REC_BAD) {
            int r2 = rec_find(fs, at + rec_size(&h), seq + 1, 1, &at2, &h2);
            if (r2 < 0)
                return r2;
            if (r2 != REC_OK)
                break;
            fl_warn("filestore: record %llu at offset %llu failed its tag; skipped",
                    (unsigned long long)seq, (unsigned long long)at);
            damaged++;
        } else if (r == REC_OK) {
            /* a copy (seq != id) may be of an older session's header */
            if (h.kind == FLP_REC_HEADER && h.seq != h.hdr_id)
                cur_copy = h.hdr_id;
            else
                cur = h.hdr_id;
            if (h.kind == FLP_REC_HEADER && rec_size(&h) > fs->reserve)
                fs->reserve = rec_size(&h);
        } else {
            break;
        }
        if (seq == fs->head_seq)
            first_off = at;
        pos = at + rec_size(&h);
        seq++;
    }
    fs->cur_hdr = cur ? cur : cur_copy;
    fs->head_off = first_off;
    fs->next_seq = seq;
    fs->tail_off = seq == fs->head_seq ? fs->head_off : pos;
    if (fs->pin_seq && (fs->pin_seq < fs->head_seq || fs->pin_seq >= seq))
        fs->pin_seq = fs->pin_off = 0;
    if (damaged)
        fl_warn("filestore: %u damaged record(s) skipped", damaged);
    return 0;
}

int flp_filestore_open(const char *path, const uint8_t key[32], size_t capacity,
                       flp_filestore_t **out)
{
    if (out)
        *out = NULL;
    if (!path || !key || !out || (uint64_t)capacity < FS_MIN_CAP || (uint64_t)capacity > FS_MAX_CAP)
        return FLP_EINVAL;
    int rc = 0;
    flp_filestore_t *fs = calloc(1, sizeof *fs);
    if (!fs)
        return FLP_ENOMEM;
    fs->fd = -1;
    mbedtls_gcm_init(&fs->gcm);
    if (mbedtls_gcm_setkey(&fs->gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
        rc = FLP_ECRYPTO;
        goto fail;
    }
    mbedtls_aes_context aes;
    mbedtls_aes_init(&aes);
    int arc = mbedtls_aes_setkey_enc(&aes, key, 256);
    if (arc == 0)
        arc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, kcv_block, fs->kcv);
    mbedtls_aes_free(&aes);
    if (arc != 0) {
        rc = FLP_ECRYPTO;
        goto fail;
    }
    if ((rc = random_bytes(fs->salt, sizeof fs->salt)) < 0)
        goto fail;

    fs->fd = open(path, O_RDWR | O_CLOEXEC);
    if (fs->fd < 0 && errno == ENOENT) {
        if ((rc = create_file(fs, path, capacity)) < 0)
            goto fail;
        fs->fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (fs->fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (flock(fs->fd, LOCK_EX | LOCK_NB) != 0) {
        rc = -errno; /* -EWOULDBLOCK: open in another process */
        goto fail;
    }
    sb_t sb = {0};
    if ((rc = sb_load(fs, &sb)) < 0)
        goto fail;
    memcpy(fs->file_id, sb.file_id, 16);
    fs->cap = sb.cap;
    fs->gen = sb.gen;
    fs->head_seq = sb.head_seq;
    fs->head_off = sb.head_off;
    fs->rel_seq = sb.rel_seq;
    fs->pin_seq = sb.pin_seq;
    fs->pin_off = sb.pin_off;
    if (sizeof(size_t) < 8 && fs->cap > SIZE_MAX) {
        rc = FLP_EINVAL;
        goto fail;
    }
    struct stat st;
    if (fstat(fs->fd, &st) != 0) {
        rc = -errno;
        goto fail;
    }
    if ((uint64_t)st.st_size < fs->cap) { /* cut short: give it its size back */
        int e = posix_fallocate(fs->fd, 0, (off_t)fs->cap);
        if (e != 0) {
            rc = -e;
            goto fail;
        }
    }
    uint64_t maxp = fs->cap - FS_DATA_START - FS_REC_EXTRA;
    fs->max_payload = (size_t)(maxp < FS_MAX_PAYLOAD ? maxp : FS_MAX_PAYLOAD);
    fs->scratch = malloc(FS_REC_EXTRA + fs->max_payload);
    if (!fs->scratch) {
        rc = FLP_ENOMEM;
        goto fail;
    }
    if ((rc = scan(fs)) < 0)
        goto fail;
    *out = fs;
    return 0;
fail:
    flp_filestore_close(fs);
    return rc;
}

void flp_filestore_close(flp_filestore_t *fs)
{
    if (!fs)
        return;
    if (fs->fd >= 0)
        close(fs->fd);
    mbedtls_gcm_free(&fs->gcm);
    if (fs->scratch) {
        mbedtls_platform_zeroize(fs->scratch, FS_REC_EXTRA + fs->max_payload);
        free(fs->scratch);
    }
    mbedtls_platform_zeroize(fs, sizeof *fs);
    free(fs);
}

/* ---- append, release, replay ---- */

int flp_filestore_append(flp_filestore_t *fs, int kind, int64_t timecode_ms, const uint8_t *p,
                         size_t n)
{
    if (!fs || (kind != FLP_REC_HEADER && kind != FLP_REC_FRAGMENT) || (!p && n))
        return FLP_EINVAL;
    if (fs->broken)
        return fs->broken;
    if (n > fs->max_payload)
        return FLP_ENOSPC; /* can never fit */
    uint64_t z = FS_REC_EXTRA + (uint64_t)n, pos, pos2;
    int empty = is_empty(fs);
    uint64_t reserve = fs->reserve;
    if (kind == FLP_REC_HEADER && z > reserve)
        reserve = z;
    if (fit(fs, fs->head_off, fs->tail_off, empty, z, &pos) != 0)
        return FLP_ENOSPC;
    /* leave room to copy a header at the next release */
    if (reserve && fit(fs, empty ? pos : fs->head_off, pos + z, 0, reserve, &pos2) != 0)
        return FLP_ENOSPC;
    uint64_t seq = fs->next_seq;
    uint64_t hdr_id = kind == FLP_REC_HEADER ? seq : fs->cur_hdr;
    int rc = rec_write(fs, pos, seq, kind, timecode_ms, hdr_id, p, n);
    if (rc < 0) {
        fs->broken = rc;
        return rc;
    }
    if (empty)
        fs->head_off = pos;
    fs->tail_off = pos + z;
    fs->next_seq = seq + 1;
    fs->cur_hdr = hdr_id;
    fs->reserve = reserve;
    return 0;
}

int flp_filestore_release(flp_filestore_t *fs, int64_t timecode_ms)
{
    if (!fs)
        return FLP_EINVAL;
    if (fs->broken)
        return fs->broken;
    /* Walk from the head over the records to release, remembering the last
     * header seen and whether released fragments lie after it. */
    uint64_t pos = fs->head_off, seq = fs->head_seq, rel = fs->rel_seq;
    uint64_t first_seq = fs->next_seq, first_off = fs->tail_off, needed = fs->cur_hdr;
    /* the last original header and the last copy seen, and whether a
     * released fragment follows each */
    struct {
        uint64_t seq, off, id;
        int gap;
    } orig = {0, 0, 0, 0}, copy = {0, 0, 0, 0}, *keep = NULL;
    while (seq < fs->next_seq) {
        uint64_t at;
        rec_hdr_t h;
        int r = rec_find(fs, pos, seq, 0, &at, &h);
        if (r < 0)
            return r;
        if (r != REC_OK) { /* damaged since open: keep it and what follows */
            first_seq = seq, first_off = pos, needed = 0;
            break;
        }
        if (h.kind == FLP_REC_HEADER) {
            if (h.hdr_id == seq)
                orig.seq = seq, orig.off = at, orig.id = h.hdr_id, orig.gap = 0;
            else
                copy.seq = seq, copy.off = at, copy.id = h.hdr_id, copy.gap = 0;
        } else if (seq <= rel || h.tc <= timecode_ms) {
            if (seq > rel)
                rel = seq;
            orig.gap = copy.gap = 1;
        } else {
            first_seq = seq, first_off = at, needed = h.hdr_id;
            break;
        }
        pos = at + rec_size(&h);
        seq++;
    }
    sb_t sb = {.cap = fs->cap, .gen = fs->gen + 1, .rel_seq = rel};
    memcpy(sb.file_id, fs->file_id, 16);
    sb.head_seq = first_seq, sb.head_off = first_off;
    sb.pin_seq = fs->pin_seq, sb.pin_off = fs->pin_off;
    if (needed && orig.seq && orig.id == needed)
        keep = &orig;
    if (needed && copy.seq && copy.id == needed && (!keep || copy.seq > keep->seq))
        keep = &copy;
    if (keep) {
        uint64_t hdr_seq = keep->seq, hdr_off = keep->off;
        /* that header must stay: at the head, or copied to the tail */
        sb.head_seq = hdr_seq, sb.head_off = hdr_off;
        sb.pin_seq = hdr_seq, sb.pin_off = hdr_off;
        uint64_t cpos;
        rec_hdr_t h;
        int r = keep->gap ? rec_find(fs, hdr_off, hdr_seq, 1, &hdr_off, &h) : REC_NONE;
        if (r < 0)
            return r;
        if (r == REC_OK &&
            fit(fs, fs->head_off, fs->tail_off, is_empty(fs), rec_size(&h), &cpos) == 0) {
            uint64_t cseq = fs->next_seq;
            r = rec_write(fs, cpos, cseq, FLP_REC_HEADER, h.tc, h.hdr_id, fs->scratch, h.len);
            if (r < 0) {
                fs->broken = r;
                return r;
            }
            if (is_empty(fs))
                fs->head_off = cpos;
            fs->next_seq = cseq + 1;
            fs->tail_off = cpos + rec_size(&h);
            if (first_seq == cseq) /* nothing else held: the copy is the head */
                first_off = cpos;
            sb.head_seq = first_seq, sb.head_off = first_off;
            sb.pin_seq = cseq, sb.pin_off = cpos;
        } else if (r == REC_BAD) {
            fl_warn("filestore: header record %llu failed its tag; not kept",
                    (unsigned long long)hdr_seq);
            sb.head_seq = first_seq, sb.head_off = first_off;
            sb.pin_seq = sb.pin_off = 0;
        }
    }
    if (sb.pin_seq < sb.head_seq)
        sb.pin_seq = sb.pin_off = 0;
    if (sb.head_seq == fs->head_seq && sb.rel_seq == fs->rel_seq && sb.pin_seq == fs->pin_seq)
        return 0;
    int rc = sb_write(fs, &sb);
    if (rc < 0) {
        fs->broken = rc;
        return rc;
    }
    fs->gen = sb.gen;
    fs->head_seq = sb.head_seq;
    fs->head_off = sb.head_off;
    fs->rel_seq = sb.rel_seq;
    fs->pin_seq = sb.pin_seq;
    fs->pin_off = sb.pin_off;
    if (is_empty(fs))
        fs->tail_off = fs->head_off;
    return 0;
}

int flp_filestore_replay(flp_filestore_t *fs,
                         int (*cb)(void *ctx, int kind, int64_t timecode_ms, const uint8_t *p,
                                   size_t n),
                         void *ctx, unsigned *damaged)
{
    if (!fs || !cb)
        return FLP_EINVAL;
    unsigned bad = 0;
    uint64_t emitted = 0, at;
    rec_hdr_t h;
    int r, rc = 0;
    if (fs->pin_seq) {
        r = rec_find(fs, fs->pin_off, fs->pin_seq, 1, &at, &h);
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == REC_OK && h.kind == FLP_REC_HEADER) {
            emitted = h.hdr_id;
            if ((rc = cb(ctx, h.kind, h.tc, fs->scratch, h.len)) != 0)
                goto out;
        } else {
            bad++;
        }
    }
    uint64_t pos = fs->head_off;
    for (uint64_t seq = fs->head_seq; seq < fs->next_seq; seq++) {
        r = rec_find(fs, pos, seq, 1, &at, &h);
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == REC_NONE) { /* changed under us since open */
            bad++;
            break;
        }
        pos = at + rec_size(&h);
        if (r == REC_BAD) {
            bad++;
            continue;
        }
        if (h.kind == FLP_REC_HEADER) {
            /* copies are given only as the pin; the pinned header once */
            if (h.hdr_id != seq || h.hdr_id == emitted)
                continue;
            emitted = h.hdr_id;
        } else if (seq <= fs->rel_seq) {
            continue;
        }
        if ((rc = cb(ctx, h.kind, h.tc, fs->scratch, h.len)) != 0)
            goto out;
    }
out:
    if (damaged)
        *damaged = bad;
    return rc;
}

size_t flp_filestore_used(const flp_filestore_t *fs)
{
    if (!fs || is_empty(fs))
        return 0;
    uint64_t data = fs->cap - FS_DATA_START;
    if (fs->tail_off > fs->head_off)
        return (size_t)(fs->tail_off - fs->head_off);
    return (size_t)(data - (fs->head_off - fs->tail_off));
}

size_t flp_filestore_capacity(const flp_filestore_t *fs)
{
    return fs ? (size_t)fs->cap : 0;
}
