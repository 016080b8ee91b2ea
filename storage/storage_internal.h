/*
 * storage/storage_internal.h — what the files of storage/ share: on-disk
 * constants, the in-memory store, log and shard, and each file's entry
 * points. Not for use outside storage/.
 *
 * Locking (see fl_store_t): `mu` guards every in-memory structure that
 * more than one thread touches (logs list, shards with their spans and
 * chunk lists, segment lists, the segment cache, the append queue, watches,
 * counters); it is held only for memory work, never across I/O. `cat_mu`
 * serialises catalog transactions and metadata changes (create/delete/
 * split/merge/tags); when both are needed, cat_mu is taken first. A log's
 * `idx_mu` serialises loads and rebuilds of its sealed indexes (readers)
 * with retention's unlink of its segments; it is held across that I/O and
 * taken before mu, never with mu or cat_mu held. `cmu` guards the
 * completion queue. The writer thread alone touches the fields marked
 * "writer".
 */
#ifndef FL_STORAGE_INTERNAL_H
#define FL_STORAGE_INTERNAL_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/error.h"
#include "log.h"

/* ---- on-disk constants (docs/storage-format.md) ---- */
#define FL_CHUNK_HDR        80
#define FL_CHUNK_TAG        16
#define FL_CHUNK_VERSION    1
#define FL_REC_HDR          26
#define FL_CHUNK_MAX_BODY   (256u << 20)
#define FL_FILE_HDR         32 /* segment and index files (filehdr.c) */
#define FL_SEG_HDR          32
#define FL_SEG_VERSION      1
#define FL_IDX_HDR          32
#define FL_IDX_ENTRY        72
#define FL_IDX_SUMREC       64 /* one shard's summary record (sealed index) */
#define FL_IDX_FOOTER       48 /* summary footer, the last bytes of a sealed index */
#define FL_IDX_VERSION      2
#define FL_IDX_MAX_SUMRECS  (1u << 20)
#define FL_SEGCACHE_DEFAULT 16 /* sealed segments whose entries stay in memory */
#define FL_WRAPPED_KEY_LEN  61
#define FL_SEQ_EPOCH_SHIFT  40
#define FL_SEQ_COUNTER_MAX  ((UINT64_C(1) << FL_SEQ_EPOCH_SHIFT) - 1)
#define FL_PATH_MAX         4096

/* ---- checksum.c ---- */
uint32_t fl_crc32c(const void *p, size_t n);
/* Running form: crc = fl_crc32c_update(0, a, na); crc = ...(crc, b, nb)
 * gives fl_crc32c(a || b). */
uint32_t fl_crc32c_update(uint32_t crc, const void *p, size_t n);

/* ---- filehdr.c ---- */
void fl_file_hdr_encode(const char magic[4], uint8_t version, uint64_t log_id, uint64_t segno,
                        uint8_t out[FL_FILE_HDR]);

/* ---- io.c ---- */
int fl_io_write_all(const fl_store_io_t *io, int fd, const void *p, size_t n, uint64_t off);
/* FL_ETRUNCATED if the file ends first. */
int fl_io_read_all(const fl_store_io_t *io, int fd, void *p, size_t n, uint64_t off);
int fl_io_fsync_dir(const fl_store_io_t *io, const char *dir);
/* mkdir(p, 0700) through the table; an existing directory is fine. */
int fl_io_mkdir(const fl_store_io_t *io, const char *p);
/* Write to path.tmp, fsync, rename over path, fsync dir. */
int fl_io_replace_file(const fl_store_io_t *io, const char *dir, const char *path, const void *p,
                       size_t n, mode_t mode);

/* ---- keys.c ---- */
int fl_keys_random(uint8_t *p, size_t n);
/* The key check of a master key (keys.c): make one, or 0 if check opens
 * under master (FL_ECRYPTO: another key). */
int fl_keys_check_make(const uint8_t master[32], const char *key_id,
                       uint8_t out[FL_WRAPPED_KEY_LEN]);
int fl_keys_check_ok(const uint8_t master[32], const char *key_id, const uint8_t *check, size_t n);
int fl_keys_load_or_create(const fl_store_io_t *io, const char *path, uint8_t key[32]);
int fl_keys_wrap(const uint8_t master[32], const char *key_id, uint64_t log_id,
                 const uint8_t dk[32], uint8_t out[FL_WRAPPED_KEY_LEN]);
int fl_keys_unwrap(const uint8_t master[32], const char *key_id, uint64_t log_id,
                   const uint8_t *wrapped, size_t n, uint8_t dk[32]);
void fl_keys_wipe(void *p, size_t n);

/* ---- named_keys.c ---- */
typedef struct fl_catalog fl_catalog_t;
/* Open every named master key with the default one into s->mkeys (at open;
 * FL_ECRYPTO if one does not open). */
int fl_named_keys_load(fl_store_t *s);
/* Re-wrap every named key from old_key to new_key inside the caller's
 * transaction (rotate.c); *n: how many. */
int fl_named_keys_rewrap(fl_catalog_t *cat, const uint8_t old_key[32], const uint8_t new_key[32],
                         size_t *n);
/* Make the named key id: a random key into key, its row inserted (wrapped
 * by the default master key) inside the caller's transaction, cat_mu held;
 * the caller registers it (fl_keys_master_set) once committed. */
int fl_named_key_make(fl_store_t *s, const char *id, uint8_t key[32]);
/* Log that the named key id was made (once committed). */
void fl_named_key_made(const char *id);
/* Insert the named key id (its bytes: key) wrapped by default_key, made
 * at now_ns, inside the caller's transaction (fl_named_key_make; rotate.c:
 * a registered key made named). */
int fl_named_keys_adopt(fl_catalog_t *cat, const uint8_t default_key[32], const char *id,
                        const uint8_t key[32], int64_t now_ns);

/* ---- access_keys.c ---- */
struct sqlite3;
/* Re-seal every access key's secret from old_master to new_master inside
 * the caller's transaction on db (the catalog's, for rotate.c); *n: how
 * many. FL_ECRYPTO if a secret does not open with old_master. */
int fl_akeys_rewrap_db(struct sqlite3 *db, const uint8_t old_master[32],
                       const uint8_t new_master[32], size_t *n);

/* ---- chunk.c ---- */
typedef struct {
    uint32_t shard;
    uint32_t count;
    uint64_t first_seq;
    int64_t sts_min, sts_max, pts_min, pts_max;
    uint32_t body_len;
    uint8_t nonce[12];
} fl_chunk_hdr_t;

void fl_chunk_hdr_encode(const fl_chunk_hdr_t *h, uint8_t out[FL_CHUNK_HDR]);
/* FL_ETRUNCATED, FL_ECORRUPT (magic, CRC, bounds) or FL_EVERSION. */
int fl_chunk_hdr_decode(const uint8_t *p, size_t n, fl_chunk_hdr_t *h);
/* chunk = encoded header || body_len plaintext bytes || room for the tag;
 * encrypts in place and writes the tag. */
int fl_chunk_seal(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id, uint8_t *chunk,
                  size_t body_len);
/* The same in pieces: begin with the encoded header, encrypt plaintext
 * pieces in order (in may equal out), end with the tag. GCM is a stream
 * mode, so pieces need no alignment. */
int fl_chunk_seal_begin(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id,
                        const uint8_t *hdr);
int fl_chunk_seal_update(EVP_CIPHER_CTX *c, const uint8_t *in, uint8_t *out, size_t n);
int fl_chunk_seal_end(EVP_CIPHER_CTX *c, uint8_t tag[FL_CHUNK_TAG]);
/* Checks header and tag of a whole chunk of n bytes and decrypts the body
 * in place. FL_ECORRUPT if anything was altered or torn. */
int fl_chunk_open(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id, uint8_t *chunk,
                  size_t n, fl_chunk_hdr_t *h);
/* The same in pieces (a read streams a chunk through a small buffer):
 * begin with the header (decoded and checked by the caller: body_len
 * against the chunk's length), decrypt the body's pieces in order (in may
 * equal out), end with the tag: FL_ECORRUPT if anything was altered or
 * torn, and then nothing decrypted may be used. key NULL: c already holds
 * the log's key from an earlier begin on c. */
int fl_chunk_open_begin(EVP_CIPHER_CTX *c, const uint8_t key[32], uint64_t log_id,
                        const uint8_t *hdr);
int fl_chunk_open_update(EVP_CIPHER_CTX *c, const uint8_t *in, uint8_t *out, size_t n);
int fl_chunk_open_end(EVP_CIPHER_CTX *c, const uint8_t tag[FL_CHUNK_TAG]);
size_t fl_chunk_record_size(size_t key_len, size_t payload_len);
/* A record's header and key only (the payload follows, put by the caller). */
size_t fl_chunk_record_put_head(uint8_t *p, int64_t sts, int64_t pts, uint32_t flags,
                                fl_slice_t key, size_t payload_len);
size_t fl_chunk_record_put(uint8_t *p, int64_t sts, int64_t pts, uint32_t flags, fl_slice_t key,
                           fl_slice_t payload);
/* Parse the next record of a decrypted body (seq left to the caller). */
int fl_chunk_record_next(fl_reader_t *r, fl_log_record_t *rec);

/* ---- in-memory model ---- */

/* Where one chunk lives, and what it holds: an index entry in memory. */
typedef struct {
    uint64_t segno;
    uint64_t off;
    uint32_t len; /* header + body + tag */
    uint32_t shard;
    uint64_t first_seq;
    uint32_t count;
    int64_t sts_min, sts_max, pts_min, pts_max;
} fl_chunk_ref_t;

/* The reference to a chunk with header h, len bytes at off of segment segno. */
void fl_chunk_ref_set(fl_chunk_ref_t *ref, const fl_chunk_hdr_t *h, uint64_t segno, uint64_t off,
                      uint32_t len);

/* What one shard holds in one sealed segment: a summary record of the
 * segment's index (index.c) and, in memory, a shard's span. Reads use it to
 * pick the segment, then load the segment's entries (segcache.c). */
typedef struct {
    uint64_t segno;
    uint32_t shard;
    uint32_t nchunks;
    uint64_t first_seq; /* of its first chunk */
    uint64_t end_seq;   /* its last sequence number + 1 */
    int64_t sts_min, sts_max, pts_min, pts_max;
    uint64_t bytes; /* its chunks' bytes (headers, bodies, tags) */
} fl_span_t;

typedef struct {
    uint64_t segno;
    uint64_t size;
    int64_t sts_max; /* INT64_MIN while it holds no chunk */
} fl_seg_info_t;

/* One sealed segment's index entries in memory (segcache.c): every chunk
 * of the segment, sorted by shard, then sequence number. */
typedef struct {
    uint64_t log_id;
    uint64_t segno;
    fl_chunk_ref_t *refs;
    size_t n;
    uint64_t used; /* store->segcache_tick at its last use */
} fl_segcache_ent_t;

struct fl_log_watch {
    fl_log_t *log;
    uint32_t shard;
    int fd; /* eventfd */
    struct fl_log_watch *next;
};

typedef struct {
    uint32_t id;
    uint8_t hash_start[16], hash_end[16];
    uint32_t parent, parent2;
    int open;
    int64_t created_ns;
    uint64_t next_seq;     /* next to assign */
    int64_t last_sts;      /* largest server ts assigned */
    int64_t max_pts;       /* largest producer ts appended (or found at open) */
    uint64_t durable_next; /* 1 + the last durable seq (0: none) */
    uint64_t trim_seq;     /* sequence numbers below it expired */
    uint64_t pending;      /* queued records */
    fl_span_t *spans;      /* its part of each sealed segment, by segno (= by sequence) */
    size_t nspans, capspans;
    fl_chunk_ref_t *chunks; /* durable chunks of the active segment, by sequence */
    size_t nchunks, capchunks;
    struct fl_log_watch *watches;
} fl_shard_t;

struct fl_log {
    fl_store_t *store;
    uint64_t id;
    char *name;
    char *dir;
    char key_id[FL_LOG_MAX_KEY_ID + 1];
    uint8_t key[32];
    int64_t created_ns;
    uint64_t version;
    uint32_t retention_hours;
    int deleting;        /* under mu (set also under cat_mu): being deleted */
    uint64_t handles;    /* under mu: open handles (create/open minus close) */
    int detached;        /* under mu: off s->logs, on s->dead (logmem.c) */
    fl_shard_t **shards; /* by id; ids are 0..nshards-1 */
    uint32_t nshards;
    fl_seg_info_t *segs; /* by segno; the last one is active */
    size_t nsegs, capsegs;
    struct fl_log *next;
    /* Serialises loads and rebuilds of sealed indexes (readers, on a cache
     * miss) with the unlink of a sealed segment (retention). Held across
     * that I/O; taken before mu, never while holding mu. */
    pthread_mutex_t idx_mu;
    /* writer */
    int seg_fd, idx_fd;
    int dio_fd;         /* the active segment opened O_DIRECT, -1: not (yet) */
    int dio_off;        /* O_DIRECT failed on this log: buffered from now on */
    uint64_t seg_end;   /* bytes of the active segment */
    uint64_t idx_count; /* entries in the active index file */
    int idx_stale;      /* the index file misses entries: rewrite at seal */
    int refs_missing;   /* a durable chunk of the active segment is not in the
                           shards' lists (out of memory): its index is never
                           sealed nor rewritten from them; open rebuilds it */
    uint64_t nonce_ctr;
    uint64_t cut_gen; /* bumped when a failed write or fdatasync cuts the segment */
    int cut_rc;       /* ... and the error it failed with */
    /* cut_gen + 1 of a batch whose write or fdatasync failed, set by the
     * sync stage itself: a batch queued behind it on the helper thread
     * (sealed at the same cut_gen) is not written, even before the writer
     * has cut the segment back (0: none) */
    uint64_t sync_failed_gen;
    int broken; /* an fdatasync failed and could not be undone */
    /* The next segment made ahead of its roll, by the sealer thread, once
     * the active one is half full (writer.c, spare_*): a roll then costs
     * no fsync on the writer. Under the sealer's lock: spare is
     * FL_SPARE_NONE, _ASKED (job queued), _MAKING, _READY (spare_fd and
     * spare_idx_fd open, its file and directory entry durable) or _FAILED;
     * spare_segno is the number asked for (the active one + 1). On disk a
     * spare is a segment of its header only, after the active one; open
     * removes it (load.c), close unlinks it (fl_segment_drop_spare). */
    int spare;
    uint64_t spare_segno;
    int spare_fd, spare_idx_fd;
};

enum { FL_SPARE_NONE, FL_SPARE_ASKED, FL_SPARE_MAKING, FL_SPARE_READY, FL_SPARE_FAILED };

typedef struct fl_pending {
    struct fl_pending *next;
    fl_log_t *log;
    uint32_t shard;
    uint64_t seq;
    int64_t sts, pts;
    uint32_t flags;
    uint16_t klen;
    uint32_t plen;
    int8_t cls; /* its memory's size class (writer.c, rec_alloc), -1: malloc'd */
    void *data;
    const uint8_t *payload;  /* in bytes[] after the key, or the caller's (nocopy) */
    void (*release)(void *); /* nocopy: called once the payload is no longer read */
    void *release_arg;
    uint8_t bytes[]; /* key, then the payload unless nocopy */
} fl_pending_t;

typedef struct fl_ctl {
    struct fl_ctl *next;
    int (*fn)(fl_store_t *s, void *arg);
    void *arg;
    int done, rc;
    /* n_submitted when it was queued: it runs once the writer has taken
     * (and finished) every record appended before it, also when the queue
     * is taken a batch-sized prefix at a time */
    uint64_t after;
} fl_ctl_t;

typedef struct {
    char id[FL_LOG_MAX_KEY_ID + 1];
    uint8_t key[32];
} fl_master_key_t;

typedef struct fl_catalog fl_catalog_t;

/* ---- keys.c: the store's master keys (under cat_mu) ---- */
/* The default master key of the data dir dir whose catalog is cat, into
 * key: the bytes given (env, descriptor), or the key file at path, made
 * 0600 only while the catalog has no key check for it (a data dir never
 * sealed; a sealed one with its key file missing is refused, FL_ECRYPTO).
 * Either way checked against the key check when there is one (FL_ECRYPTO:
 * another key). The store's open and the `framelogd keys` commands
 * (access_keys.c) both go through here, so they take the same key. */
int fl_keys_default_load(const fl_store_io_t *io, fl_catalog_t *cat, const char *dir,
                         const uint8_t *given, const char *path, uint8_t key[32]);
fl_master_key_t *fl_keys_master_find(fl_store_t *s, const char *id);
/* Load (or create) the master key file at path under id. */
int fl_keys_master_load(fl_store_t *s, const char *id, const char *path);
/* Set (or add) the master key id to k. */
int fl_keys_master_set(fl_store_t *s, const char *id, const uint8_t k[32]);

#define FL_WBUF_CLASSES 13 /* 64 KiB .. 256 MiB */
#define FL_REC_CLASSES  61 /* queued records' memory: 256 B .. 8 MiB, 4 per doubling */

struct fl_store {
    char *dir;
    char *logs_dir;
    fl_store_io_t io;
    fl_clock_t clock;
    uint64_t seg_max, ret_max, pending_max;
    uint32_t chunk_max, ret_interval_ms;
    uint32_t epoch;
    int lock_fd;

    pthread_mutex_t cat_mu; /* catalog and metadata changes */
    fl_catalog_t *cat;
    fl_master_key_t *mkeys;
    size_t nmkeys;

    pthread_mutex_t mu;
    pthread_cond_t wake;      /* writer: work arrived */
    pthread_cond_t done_cond; /* batch or ctl finished */
    fl_log_t *logs;
    fl_log_t *dead;    /* deleted logs with handles still open (logmem.c) */
    fl_pending_t **qv; /* the queue: appended records not taken yet, in order */
    size_t q_n, qcap;
    uint64_t q_bytes;        /* queued or in flight (the memory limit) */
    uint64_t q_take_bytes;   /* the queue's key and payload bytes + 1 per record:
                                the writer takes it whole when it fits a batch
                                (and swaps in qv_spare), without reading it */
    fl_pending_t **qv_spare; /* writer: an empty queue array to swap in */
    size_t qv_spare_cap;
    uint64_t n_submitted, n_done;
    fl_ctl_t *ctl_head;
    uint64_t total_bytes;   /* segment files */
    fl_store_stats_t stats; /* counters (segment_bytes, pending_bytes filled on read) */
    int stop;
    int sealed; /* the writer's sealer thread sealed a rolled segment */
    int writer_started;
    fl_segcache_ent_t *segcache; /* under mu: sealed segments' entries, LRU */
    size_t nsegcache, segcache_max;
    uint64_t segcache_tick;
    uint64_t seal_log;                   /* writer: id of the log whose key the writer's cipher
                                            context holds (ids are never reused), 0: none */
    struct wbuf *wfree[FL_WBUF_CLASSES]; /* writer: sealed-chunk buffers kept
                                            for reuse, by size (writer.c) */
    uint64_t wfree_bytes;
    int buffered_writes; /* opts.buffered_writes */
    pthread_t writer;

    /* Queued records' memory kept for reuse (writer.c, rec_alloc): freeing
     * a batch's records and faulting fresh pages in for the next cost more
     * than sealing small records. Under rmu alone. */
    pthread_mutex_t rmu;
    struct fl_pending *rfree[FL_REC_CLASSES];
    uint64_t rfree_bytes;
    uint64_t appends_at_tick; /* writer: stats.appends at the last retention tick */

    pthread_mutex_t cmu;
    fl_log_completion_t *comp;
    size_t ncomp, capcomp;
    int comp_fd;
};

/* ---- catalog.c ---- */
typedef struct {
    uint64_t id;
    const char *name;
    int64_t created_ns;
    uint64_t version;
    uint32_t retention_hours;
    const char *key_id;
    const uint8_t *wrapped;
    size_t wrapped_len;
    int deleting;
} fl_cat_log_t;

typedef struct {
    uint32_t id;
    uint8_t hash_start[16], hash_end[16];
    uint32_t parent, parent2;
    int open;
    int64_t created_ns;
    uint64_t trim_seq;
} fl_cat_shard_t;

int fl_catalog_open(const char *path, fl_catalog_t **out);
/* The catalog's SQLite connection, for storage's other tables kept in the
 * same file (access_keys.c) to join the catalog's transaction. */
struct sqlite3 *fl_catalog_db(fl_catalog_t *c);
/* Checkpoint the WAL into the database and truncate it to nothing
 * (deleted rows then survive nowhere: secure_delete zeroes their pages). */
int fl_catalog_scrub(fl_catalog_t *c);
/* A master key's key check (keys.c): get into out[cap] (*n: its length;
 * FL_ENOTFOUND without one) or set it. */
int fl_catalog_mkey_check_get(fl_catalog_t *c, const char *id, uint8_t *out, size_t cap, size_t *n);
int fl_catalog_mkey_check_set(fl_catalog_t *c, const char *id, const uint8_t *check, size_t n);
void fl_catalog_close(fl_catalog_t *c);
int fl_catalog_begin(fl_catalog_t *c);
int fl_catalog_commit(fl_catalog_t *c);
void fl_catalog_rollback(fl_catalog_t *c);
int fl_catalog_bump_epoch(fl_catalog_t *c, uint32_t *epoch_out);
int fl_catalog_mkey_add(fl_catalog_t *c, const char *id, const char *path);
int fl_catalog_mkeys(fl_catalog_t *c, int (*cb)(void *arg, const char *id, const char *path),
                     void *arg);
/* Forget a registered master key: its path and its key check. */
int fl_catalog_mkey_remove(fl_catalog_t *c, const char *id);
int fl_catalog_log_insert(fl_catalog_t *c, const char *name, int64_t created_ns,
                          uint32_t retention_hours, const char *key_id, uint64_t *id_out);
int fl_catalog_log_set_key(fl_catalog_t *c, uint64_t id, const uint8_t *wrapped, size_t n);
/* The log's master key id and its data key wrapped by it, together. */
int fl_catalog_log_set_master(fl_catalog_t *c, uint64_t id, const char *key_id,
                              const uint8_t *wrapped, size_t n);
/* named_keys rows (named_keys.c): insert one (created_ns > 0) or replace
 * the wrapped key of one (created_ns 0); each row, ordered by id. */
int fl_catalog_named_key_set(fl_catalog_t *c, const char *id, int64_t created_ns,
                             const uint8_t *wrapped, size_t n);
int fl_catalog_named_keys(fl_catalog_t *c,
                          int (*cb)(void *arg, const char *id, const uint8_t *wrapped, size_t n),
                          void *arg);
int fl_catalog_log_set_retention(fl_catalog_t *c, uint64_t id, uint32_t hours);
int fl_catalog_log_bump_version(fl_catalog_t *c, uint64_t id);
/* Destroy the wrapped key and mark the log as being deleted. */
int fl_catalog_log_mark_deleting(fl_catalog_t *c, uint64_t id);
int fl_catalog_log_remove(fl_catalog_t *c, uint64_t id);
int fl_catalog_logs(fl_catalog_t *c, int (*cb)(void *arg, const fl_cat_log_t *row), void *arg);
int fl_catalog_shard_insert(fl_catalog_t *c, uint64_t log_id, const fl_cat_shard_t *sh);
int fl_catalog_shard_close(fl_catalog_t *c, uint64_t log_id, uint32_t shard);
int fl_catalog_shard_set_trim(fl_catalog_t *c, uint64_t log_id, uint32_t shard, uint64_t trim);
int fl_catalog_shards(fl_catalog_t *c, uint64_t log_id,
                      int (*cb)(void *arg, const fl_cat_shard_t *row), void *arg);
/* Tags (attrs = 0) and attributes (attrs = 1) of a log. */
int fl_catalog_kv_set(fl_catalog_t *c, int attrs, uint64_t log_id, const char *k, const char *v);
int fl_catalog_kv_remove(fl_catalog_t *c, int attrs, uint64_t log_id, const char *k);
int fl_catalog_kv_get(fl_catalog_t *c, int attrs, uint64_t log_id, const char *k, char *buf,
                      size_t cap);
int fl_catalog_kv_list(fl_catalog_t *c, int attrs, uint64_t log_id,
                       int (*cb)(void *arg, const char *k, const char *v), void *arg);

/* ---- index.c ---- */
void fl_index_hdr_encode(uint64_t log_id, uint64_t segno, uint8_t out[FL_IDX_HDR]);
void fl_index_entry_encode(const fl_chunk_ref_t *r, uint8_t out[FL_IDX_ENTRY]);
/* Entries of the index file of segment segno whose CRC holds and that
 * follow each other inside seg_size bytes, up to the first that does not
 * (a sealed index's summary is not read). *stale is set when the file is
 * missing, damaged, of version 1, or holds more than those entries. */
int fl_index_load(fl_log_t *log, uint64_t segno, uint64_t seg_size, fl_chunk_ref_t **refs,
                  size_t *n, int *stale);
/* The summary of a sealed index, checked against its header and footer
 * CRCs and against the segment's size: one span per shard, by shard id.
 * FL_ENOTFOUND (no summary: missing file, version 1, active index),
 * FL_ECORRUPT (damaged, or it covers another segment size), or an I/O
 * error; the caller then recovers the segment from its bytes. */
int fl_index_load_summary(fl_log_t *log, uint64_t segno, uint64_t seg_size, fl_span_t **spans,
                          size_t *n);
/* Every entry of a sealed index, all checked (CRCs, order, bounds, the
 * footer's count and entry CRC): 0, or FL_ECORRUPT (logged with file and
 * offset), FL_ENOTFOUND, or an I/O error. */
int fl_index_load_sealed(fl_log_t *log, uint64_t segno, fl_chunk_ref_t **refs, size_t *n);
/* Per-shard summary of chunk refs (any order; fastest by shard, then
 * sequence): spans sorted by shard. */
int fl_index_summarize(const fl_chunk_ref_t *refs, size_t n, uint64_t segno, fl_span_t **out,
                       size_t *nout);
/* Write the whole index of a segment (temp file, fsync, rename); with
 * sealed_size != 0, a sealed index: summary and footer after the entries,
 * covering a segment of that many bytes. refs in offset order. */
int fl_index_rewrite(fl_log_t *log, uint64_t segno, const fl_chunk_ref_t *refs, size_t n,
                     uint64_t sealed_size);
/* Seal the active index in place: append summary and footer after its
 * idx_count entries (refs, in offset order, are those entries; sp, nsp
 * their fl_index_summarize) and fsync. */
int fl_index_seal(fl_log_t *log, int fd, uint64_t segno, const fl_chunk_ref_t *refs, size_t n,
                  const fl_span_t *sp, size_t nsp, uint64_t seg_size);
void fl_index_path(const fl_log_t *log, uint64_t segno, char *buf, size_t cap);

/* ---- segment.c ---- */
void fl_segment_path(const fl_log_t *log, uint64_t segno, char *buf, size_t cap);
/* Find every chunk of a segment: the index's valid entries, then a scan of
 * the rest with full verification. `tail`: the log's last segment, where a
 * torn end is cut (ftruncate + fdatasync); its index is rewritten when it
 * was missing or stale. A sealed segment's index (tail = 0) is always
 * rewritten, with its summary. */
int fl_segment_recover(fl_log_t *log, uint64_t segno, int tail, fl_chunk_ref_t **refs, size_t *n,
                       uint64_t *size_out);
/* A sealed segment at open: its size (and header check), then its index's
 * summary. Errors as fl_index_load_summary, or the segment's I/O error. */
int fl_segment_open_sealed(fl_log_t *log, uint64_t segno, fl_span_t **spans, size_t *n,
                           uint64_t *size_out);
/* Create segment segno and its index, durable (files and directory). */
int fl_segment_create(fl_log_t *log, uint64_t segno, int *seg_fd, int *idx_fd);
/* Close a ready spare's descriptors and unlink its files (no directory
 * fsync: a spare that comes back after a crash is removed by open). Only
 * with the writer and the sealer stopped or idle. */
void fl_segment_drop_spare(fl_log_t *log);
/* The first of n items sorted by segment number (a log's segs, a shard's
 * spans: any struct whose first member is its uint64_t segno, stride bytes
 * apart) whose segno is >= segno; n if none. */
size_t fl_segno_lower_bound(const void *v, size_t n, size_t stride, uint64_t segno);
/* Close the active segment's descriptors (segment, index, O_DIRECT). */
void fl_segment_close_active(fl_log_t *log);
/* Sorted segment numbers found in the log's folder. */
int fl_segment_list(const fl_log_t *log, uint64_t **out, size_t *n);

/* ---- hashrange.c (hash keys: 16 bytes, big-endian; ranges inclusive) ---- */
/* MD5(key): the hash key of a partition key. */
void fl_hashrange_key(fl_slice_t key, uint8_t out[16]);
/* Range i of n equal ranges that cover the whole space. */
void fl_hashrange_nth(uint32_t i, uint32_t n, uint8_t start[16], uint8_t end[16]);
/* 1 if start <= h <= end. */
int fl_hashrange_contains(const uint8_t start[16], const uint8_t end[16], const uint8_t h[16]);
/* Split [start, end] at `at` into [start, at-1] and [at, end]: left_end
 * gets at-1; FL_EINVAL unless both halves are non-empty. */
int fl_hashrange_split(const uint8_t start[16], const uint8_t end[16], const uint8_t at[16],
                       uint8_t left_end[16]);
/* Join ranges a and b (either order) into [start, end]: FL_EINVAL unless
 * one ends right before the other begins. */
int fl_hashrange_merge(const uint8_t a_start[16], const uint8_t a_end[16],
                       const uint8_t b_start[16], const uint8_t b_end[16], uint8_t start[16],
                       uint8_t end[16]);

/* ---- shard.c ---- */
fl_shard_t *fl_shard_new(const fl_cat_shard_t *row, uint64_t next_seq);
void fl_shard_free(fl_shard_t *sh);
int fl_shard_add_chunk(fl_shard_t *sh, const fl_chunk_ref_t *r);
/* Its part of a newly sealed segment (spans come in segno order). */
int fl_shard_add_span(fl_shard_t *sh, const fl_span_t *sp);
/* The oldest chunk it holds (0), or FL_ENOTFOUND: first seq, its lowest
 * server and producer ts. */
int fl_shard_first(const fl_shard_t *sh, uint64_t *seq, int64_t *sts_min, int64_t *pts_min);

/* ---- segcache.c ---- */
/* The entries of sealed segment segno of the log, for one shard, if they
 * are in the cache: 1 and *v (n entries, by sequence), else 0. Under mu;
 * *v stays valid while mu is held. */
int fl_segcache_get(fl_store_t *s, uint64_t log_id, uint64_t segno, uint32_t shard,
                    const fl_chunk_ref_t **v, size_t *n);
/* Load sealed segment segno's index into the cache (takes log->idx_mu,
 * then mu; not under either). A damaged index is rebuilt from the segment
 * and rewritten. With shard_copy: also a malloc'd copy of that shard's
 * entries (by sequence), which stays valid if the cache drops them. */
int fl_segcache_load(fl_log_t *log, uint64_t segno, uint32_t shard, fl_chunk_ref_t **shard_copy,
                     size_t *n_copy);
/* Give the entries of a sealed segment (any order; the cache takes them)
 * to the cache. Takes mu. */
void fl_segcache_put(fl_store_t *s, uint64_t log_id, uint64_t segno, fl_chunk_ref_t *refs,
                     size_t n);
/* Forget segment segno of a log (UINT64_MAX: all its segments). Under mu. */
void fl_segcache_drop(fl_store_t *s, uint64_t log_id, uint64_t segno);
void fl_segcache_free(fl_store_t *s);

/* ---- writer.c ---- */
int fl_writer_start(fl_store_t *s);
void fl_writer_stop(fl_store_t *s);
/* Run fn on the writer thread between batches and wait for it. */
int fl_writer_call(fl_store_t *s, int (*fn)(fl_store_t *s, void *arg), void *arg);
void fl_writer_notify_shard(fl_shard_t *sh);
/* Free the queued records' memory kept for reuse (store close, after the
 * writer stopped). */
void fl_writer_drop_records(fl_store_t *s);
/* Create the log's active segment if it has none (files fsync'd, with
 * their directory). The writer thread's, or anyone's for a log nobody else
 * sees yet. */
int fl_writer_ensure_segment(fl_store_t *s, fl_log_t *log);

/* ---- retention.c ---- */
int fl_retention_run(fl_store_t *s); /* writer thread only */

/* ---- logmem.c ---- */
/* A log with its name and folder path set, descriptors closed, no shards,
 * no handle; NULL without memory. */
fl_log_t *fl_log_new(fl_store_t *s, uint64_t id, const char *name);
/* Frees a log's memory (wipes its key); accepts NULL. */
void fl_log_free_mem(fl_log_t *log);
fl_shard_t *fl_log_shard(fl_log_t *log, uint32_t id); /* under mu */
/* Append segment segno (size bytes, newest server time sts_max) to the
 * log's list; under mu once others may see the log. */
int fl_log_push_seg(fl_log_t *log, uint64_t segno, uint64_t size, int64_t sts_max);
void fl_log_dir_path(const fl_store_t *s, uint64_t id, char *buf, size_t cap);
/* Unlink every file of the log's folder, the folder, fsync logs/. */
int fl_log_remove_files(fl_store_t *s, uint64_t id);

/* ---- load.c ---- */
/* The catalog's logs into s->logs, each recovered from its segments;
 * interrupted deletes finished. Before the writer starts. */
int fl_store_load_logs(fl_store_t *s);

#endif
