/*
 * storage/log.h — framelog's sharded, encrypted, durable log (public API).
 *
 * A store is a data directory: a SQLite catalog (catalog.db), the default
 * master key (master.key, mode 0600) and one folder per log holding its
 * segment and index files (docs/storage-format.md has every byte).
 *
 * A log has shards; each shard owns a range of the 128-bit hash-key space
 * (MD5 of a partition key picks the shard, as in Kinesis Data Streams).
 * Shards split and merge; a parent is closed for appends and stays readable
 * until retention removes its data.
 *
 * Appends are asynchronous: fl_log_append() copies the record, assigns its
 * sequence number and returns at once. One writer thread seals queued
 * records into AES-256-GCM chunks, writes them and shares one round of
 * fdatasync among every log with pending records (group commit). Only then
 * does a completion carrying the caller's `data` cookie reach the
 * completion queue, whose eventfd (fl_store_completion_fd) becomes readable.
 * A record whose completion reported 0 survives kill -9 and power loss.
 *
 * Sequence numbers only grow within a shard, also across restarts: the high
 * 24 bits are the store's open epoch (bumped durably at every open), the low
 * 40 bits count within the epoch. Numbers are therefore not contiguous
 * across restarts; read "the first record at or after" a number.
 *
 * Readers see a record once it is durable. They read by sequence number,
 * server timestamp or producer timestamp, with a byte limit, and follow the
 * tail through a watch whose eventfd becomes readable on new data.
 *
 * Blocking: fl_log_append() and the completion and watch calls never wait
 * for the disk; reads pread sealed chunks and metadata calls (create,
 * delete, tags, split, ...) wait for the catalog's fsync, so an event loop
 * makes those from a worker thread.
 *
 * Threads: every call is thread-safe unless said otherwise. A fl_log_t
 * handle (from fl_log_create() or fl_log_open()) stays valid until the
 * caller gives it back with fl_log_close() or the store closes, whichever
 * comes first; fl_log_delete() does not end it: the log is marked deleted,
 * calls on the handle answer FL_ECLOSED (appends) or FL_ENOTFOUND (reads,
 * watches, info, tags, retention), and its memory goes with the last
 * close. Closing is optional: fl_store_close() frees every log, closed or
 * not (then no handle may be used, nor a read be in flight). Watches are
 * freed before fl_store_close().
 *
 * Errors: 0 or a negative FL_E* / -errno code (common/error.h). Notable:
 * FL_EAGAIN (nothing yet / queue full), FL_EEXPIRED (removed by retention),
 * FL_ECORRUPT (stored bytes failed their check: logged with file and
 * offset, never returned as data), FL_ECLOSED (shard closed by split/merge
 * or log being deleted), FL_EEOF (closed shard read to its end).
 */
#ifndef FL_STORAGE_LOG_H
#define FL_STORAGE_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/bytes.h"
#include "common/clock.h"

#define FL_LOG_MAX_PAYLOAD (64u << 20) /* bytes of one record's payload */
#define FL_LOG_MAX_KEY     256u        /* bytes of a partition key */
#define FL_LOG_MAX_SHARDS  4096u       /* open shards in one log at creation */
#define FL_LOG_MAX_NAME    512u        /* bytes of a log name: [A-Za-z0-9_.:/-] */
#define FL_LOG_MAX_KEY_ID  256u        /* bytes of a master key id */
#define FL_LOG_MAX_TAG_KEY 512u        /* bytes of a tag or attribute key */
#define FL_LOG_MAX_TAG_VAL 1024u       /* bytes of a tag or attribute value */

typedef struct fl_store fl_store_t;
typedef struct fl_log fl_log_t;
typedef struct fl_log_watch fl_log_watch_t;

/* ---- the I/O table: how storage reaches the disk ----
 *
 * Every call returns >= 0 on success or -errno (never sets errno for the
 * caller). Tests wrap fl_store_io_default() to inject EIO, ENOSPC and torn
 * writes (SQLite's test_vfs habit). The catalog goes through SQLite's own
 * VFS, not through this table. */
typedef struct {
    int (*open)(void *ctx, const char *path, int flags, mode_t mode); /* fd */
    int (*close)(void *ctx, int fd);
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, off_t off);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, off_t off);
    int (*fdatasync)(void *ctx, int fd);
    int (*fsync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*fsize)(void *ctx, int fd, uint64_t *size_out);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, mode_t mode);
    int (*rmdir)(void *ctx, const char *path);
    void *ctx;
} fl_store_io_t;

/* The real system calls. */
const fl_store_io_t *fl_store_io_default(void);

/* ---- store ---- */

typedef struct {
    const char *dir;                /* data directory; created if missing */
    const char *master_key_path;    /* NULL: <dir>/master.key, created 0600 */
    const uint8_t *master_key;      /* 32 bytes the caller holds (read from an
                                       environment variable or a descriptor:
                                       fl_master_key_parse); NULL: the file
                                       at master_key_path. Copied. */
    uint64_t segment_max_bytes;     /* 0: 256 MiB; a segment rolls past it */
    uint64_t retention_max_bytes;   /* 0: no limit; whole data dir, oldest first */
    uint32_t chunk_max_bytes;       /* 0: 4 MiB of records per chunk (a bigger
                                       record gets a chunk of its own) */
    uint64_t max_pending_bytes;     /* 0: 1 GiB queued; past it append says
                                       FL_EAGAIN */
    uint32_t retention_interval_ms; /* 0: 60000; writer's retention tick */
    uint32_t index_cache_segments;  /* 0: 16; sealed segments whose index
                                       entries reads keep in memory (least
                                       recently used out first), <= 65536 */
    int buffered_writes;            /* 1: every segment write goes through the
                                       page cache; 0: the aligned middle of big
                                       writes (>= 256 KiB) bypasses it with
                                       O_DIRECT where the file system allows */
    const fl_clock_t *clock;        /* NULL: the real clock (copied) */
    const fl_store_io_t *io;        /* NULL: fl_store_io_default() (copied) */
} fl_store_opts_t;

int fl_store_open(const fl_store_opts_t *opts, fl_store_t **out);
/* Flushes queued appends (their completions are dropped), stops the
 * writer, frees every log handle. Accepts NULL. */
void fl_store_close(fl_store_t *s);

/* Register a further master key under key_id (loaded from path, created
 * 0600 if missing); remembered in the catalog for later opens, until a
 * rotation makes it a named key (fl_store_rotate_master_key). The default
 * key is "default". */
int fl_store_add_master_key(fl_store_t *s, const char *key_id, const char *path);
/* Make sure a named master key key_id (1..FL_LOG_MAX_KEY_ID bytes) exists:
 * a key already known (the default, a registered or a named one) is taken
 * as it is; otherwise a random key is made, kept in the catalog wrapped by
 * the default master key (docs/storage-format.md, "Named master keys") and
 * logged; *created (may be NULL) says which. */
int fl_store_named_key_ensure(fl_store_t *s, const char *key_id, int *created);

/* A master key given as text or bytes into key: 64 hexadecimal digits,
 * or the standard base64 of 32 bytes (44 characters with its padding), with
 * surrounding white space ignored; or the 44 bytes of a master key file
 * (docs/storage-format.md). FL_EMALFORMED otherwise. */
int fl_master_key_parse(const void *buf, size_t n, uint8_t key[32]);
/* Read a master key (as fl_master_key_parse takes it) from fd to its end,
 * at most 4 KiB, then close fd. */
int fl_master_key_read_fd(int fd, uint8_t key[32]);
/* Read the master key file at path (created 0600 when create and it is
 * missing). */
int fl_master_key_load_file(const char *path, int create, uint8_t key[32]);
/* What a rotation re-wrapped. */
typedef struct {
    size_t streams;     /* data keys of logs under the default key */
    size_t access_keys; /* access keys' secrets (storage/access_keys.h) */
    size_t named_keys;  /* master keys kept wrapped by the default one */
} fl_rotate_counts_t;
/* Re-wrap every catalog value sealed by the default master key (each
 * stream's data key, the key check, the access keys' secrets, the named
 * master keys) from old_key to new_key, in one transaction, without
 * touching segments; the data dir must not be open (FL_EBUSY). Keys
 * registered with fl_store_add_master_key are retired in the same
 * transaction: their streams' data keys are re-wrapped under a fresh key
 * of the same id, kept as a named master key (counted in named_keys), and
 * their files are no longer read (one that cannot be read: refused).
 * FL_ECRYPTO: old_key is not the data dir's key. */
int fl_store_rotate_master_key(const char *dir, const uint8_t old_key[32],
                               const uint8_t new_key[32], fl_rotate_counts_t *counts);
/* Wipe key material (not optimised away). */
void fl_master_key_wipe(void *p, size_t n);

/* The store's open epoch (see sequence numbers above). */
uint32_t fl_store_epoch(const fl_store_t *s);

/* ---- completions ---- */

typedef struct {
    void *data;     /* the append's cookie */
    fl_log_t *log;  /* the log appended to */
    uint32_t shard; /* shard id */
    uint64_t seq;   /* the record's sequence number */
    int status;     /* 0: durable; else why it is not stored */
} fl_log_completion_t;

/* An eventfd that is readable while completions are queued. Owned by the
 * store: do not close it. */
int fl_store_completion_fd(const fl_store_t *s);
/* Take up to max completions without blocking; *n_out may be 0. */
int fl_store_poll_completions(fl_store_t *s, fl_log_completion_t *out, size_t max, size_t *n_out);
/* Block until a completion is queued: 0, or FL_ETIMEDOUT (timeout_ms < 0
 * waits for ever). */
int fl_store_wait_completions(fl_store_t *s, int timeout_ms);
/* Block until every append made before the call is durable or failed. */
int fl_store_sync(fl_store_t *s);

/* Apply retention now (the writer also does it on every segment roll and
 * every retention_interval_ms). */
int fl_store_enforce_retention(fl_store_t *s);

/* Bytes of segment files in the data dir. */
uint64_t fl_store_bytes(fl_store_t *s);

/* Counters since open, for metrics. */
typedef struct {
    uint64_t appends;            /* records accepted by fl_log_append */
    uint64_t appended_bytes;     /* their payload bytes */
    uint64_t completed;          /* completions with status 0 */
    uint64_t failed;             /* completions with an error */
    uint64_t batches;            /* group commits */
    uint64_t fdatasyncs;         /* segment fdatasyncs issued by the writer */
    uint64_t pending_bytes;      /* queued or in flight now */
    uint64_t segment_bytes;      /* = fl_store_bytes() */
    uint64_t expired_segments;   /* removed by retention */
    uint64_t index_loads;        /* sealed indexes loaded by reads (cache misses) */
    uint64_t index_rebuilds;     /* indexes of sealed segments rebuilt from their
                                    segment (at open or on a read) */
    uint64_t index_entries_read; /* chunk entries read from index files or
                                    rebuilt (at open: the active segments') */
    uint64_t direct_bytes;       /* segment bytes written with O_DIRECT (the
                                    rest went through the page cache) */
} fl_store_stats_t;

void fl_store_stats(fl_store_t *s, fl_store_stats_t *out);

/* ---- logs ---- */

typedef struct {
    uint32_t shard_count;      /* 0: 1 */
    uint32_t retention_hours;  /* 0: keep for ever (until the byte limit) */
    const char *master_key_id; /* NULL: "default" */
    /* Tags and attributes set in the same catalog transaction. */
    const char *const *tag_keys;
    const char *const *tag_values;
    size_t n_tags;
    const char *const *attr_keys;
    const char *const *attr_values;
    size_t n_attrs;
    /* 1: a master_key_id not known yet is made, as a named master key
     * (fl_store_named_key_ensure), in the log's catalog transaction (a
     * failed or interrupted create leaves no key behind); 0: FL_ENOTFOUND */
    int make_master_key;
    int *master_key_made; /* NULL, or set to 1 when it was made */
} fl_log_opts_t;

typedef struct {
    uint64_t id;
    char name[FL_LOG_MAX_NAME + 1];
    char master_key_id[FL_LOG_MAX_KEY_ID + 1];
    int64_t created_ns;
    uint64_t version; /* bumped by every change of the log's metadata */
    uint32_t retention_hours;
    uint32_t open_shards;
    uint32_t total_shards;
    uint64_t bytes; /* of its segment files on disk */
} fl_log_info_t;

/* Create a log; *out gets a handle to it (see Threads above). */
int fl_log_create(fl_store_t *s, const char *name, const fl_log_opts_t *opts, fl_log_t **out);
/* A handle of an existing log: FL_ENOTFOUND if none (or being deleted).
 * Each successful open or create counts one handle. */
int fl_log_open(fl_store_t *s, const char *name, fl_log_t **out);
/* Give one handle back; the handle must not be used afterwards. The last
 * close of a deleted log frees it. Accepts NULL. Never blocks on I/O. */
void fl_log_close(fl_log_t *log);
/* Destroy the log's data key (catalog first: its bytes are unreadable from
 * then on), then its files and catalog rows. Queued appends complete
 * first. FL_EBUSY while watches on it exist. Handles still open stay safe
 * to call (see Threads above) until they are closed. */
int fl_log_delete(fl_store_t *s, const char *name);
/* Names of all logs, sorted; free with fl_log_list_free. */
int fl_log_list(fl_store_t *s, char ***names_out, size_t *n_out);
void fl_log_list_free(char **names, size_t n);

int fl_log_info(fl_log_t *log, fl_log_info_t *out);
int fl_log_set_retention(fl_log_t *log, uint32_t hours);
/* Wrap the log's data key under the known master key key_id instead (the
 * data key and the stored chunks do not change); bumps the version.
 * FL_ENOTFOUND if key_id is not a known master key. */
int fl_log_set_master_key(fl_log_t *log, const char *key_id);
/* The same, with more in its one catalog transaction. */
typedef struct {
    int make;               /* key_id not known yet: made as a named master key */
    const char *attr_key;   /* NULL, or an attribute set (as fl_log_attr_set) */
    const char *attr_value; /*   to this value */
    int *made;              /* NULL, or set to 1 when the key was made */
} fl_log_key_opts_t;
int fl_log_set_master_key_ex(fl_log_t *log, const char *key_id, const fl_log_key_opts_t *o);
/* Tags (the user's labels) and attributes (the application's own fields,
 * e.g. a stream's media type): NUL-terminated UTF-8 strings, keys 1..512
 * bytes, values up to 1024 bytes. Each change bumps the log's version. */
int fl_log_tag_set(fl_log_t *log, const char *key, const char *value);
int fl_log_tag_remove(fl_log_t *log, const char *key); /* FL_ENOTFOUND */
/* Value of a tag into buf (NUL-terminated, truncated to cap): FL_ENOTFOUND. */
int fl_log_tag_get(fl_log_t *log, const char *key, char *buf, size_t cap);
/* All tags, in key order; free with fl_log_tags_free. */
int fl_log_tags(fl_log_t *log, char ***keys_out, char ***values_out, size_t *n_out);
void fl_log_tags_free(char **keys, char **values, size_t n);
int fl_log_attr_set(fl_log_t *log, const char *key, const char *value);
int fl_log_attr_get(fl_log_t *log, const char *key, char *buf, size_t cap);

/* ---- shards ---- */

#define FL_LOG_NO_SHARD UINT32_MAX

typedef struct {
    uint32_t id;
    uint8_t hash_start[16];     /* big-endian 128-bit, inclusive */
    uint8_t hash_end[16];       /* inclusive */
    uint32_t parent;            /* FL_LOG_NO_SHARD for none */
    uint32_t adjacent_parent;   /* the second parent of a merge */
    int open;                   /* 1 while it takes appends */
    uint64_t first_seq;         /* first readable sequence number (0: none) */
    uint64_t next_seq;          /* the next sequence number it will assign */
    int64_t max_producer_ts_ns; /* the largest producer timestamp appended so far
                                   (kept across restarts; 0: none) */
    int64_t created_ns;         /* when it opened (the log's creation, or the
                                   split or merge that made it) */
} fl_log_shard_info_t;

/* All shards of the log, open and closed, by id; free() the array. */
int fl_log_shards(fl_log_t *log, fl_log_shard_info_t **out, size_t *n_out);
/* The open shard whose range holds MD5(key). */
int fl_log_shard_for_key(fl_log_t *log, fl_slice_t key, uint32_t *shard_out);
/* Close `shard` and open two children: [start, new_start-1], [new_start,
 * end]. children_out gets their ids. */
int fl_log_split_shard(fl_log_t *log, uint32_t shard, const uint8_t new_start[16],
                       uint32_t children_out[2]);
/* Close two adjacent open shards and open one child covering both. */
int fl_log_merge_shards(fl_log_t *log, uint32_t shard, uint32_t adjacent, uint32_t *child_out);
/* Range i of n equal hash-key ranges covering the whole space, as a log
 * created with n shards has them (resharding to n uniform shards aims at
 * these). */
void fl_log_uniform_range(uint32_t i, uint32_t n, uint8_t start[16], uint8_t end[16]);

/* ---- records ---- */

typedef struct {
    uint64_t seq;           /* assigned by the log (ignored on append) */
    int64_t server_ts_ns;   /* 0 on append: the store's clock; never
                               smaller than the shard's previous one */
    int64_t producer_ts_ns; /* the producer's, as given */
    uint32_t flags;         /* the user's */
    fl_slice_t key;         /* partition key, <= FL_LOG_MAX_KEY */
    fl_slice_t payload;     /* <= FL_LOG_MAX_PAYLOAD */
} fl_log_record_t;

/* Queue one record for `shard`; *seq_out gets its sequence number at once.
 * The record's bytes are copied. A completion with `data` follows. */
int fl_log_append(fl_log_t *log, uint32_t shard, const fl_log_record_t *rec, void *data,
                  uint64_t *seq_out);

/* The same without copying the payload (big records, e.g. video
 * fragments): its bytes must stay valid and unchanged until storage calls
 * release(arg), exactly once for every append that returned 0, from the
 * writer thread (or inside fl_store_close), once it no longer reads them:
 * after the record's chunk was written, or when the record failed. The
 * call may come before or after the record's completion is polled. On an
 * error return release is not called: the bytes are still the caller's.
 * The key is copied. FL_EINVAL without release. */
int fl_log_append_nocopy(fl_log_t *log, uint32_t shard, const fl_log_record_t *rec,
                         void (*release)(void *arg), void *arg, void *data, uint64_t *seq_out);

typedef enum {
    FL_LOG_AT_SEQ = 0,         /* first record with seq >= seq */
    FL_LOG_AT_SERVER_TS = 1,   /* first record with server ts >= ts_ns */
    FL_LOG_AT_PRODUCER_TS = 2, /* first record (in sequence order) with
                                  producer ts >= ts_ns */
} fl_log_from_t;

typedef struct {
    fl_log_from_t from;
    uint64_t seq;
    int64_t ts_ns;
    size_t max_bytes;   /* 0: 8 MiB; payload bytes, at least one record */
    size_t max_records; /* 0: 10000 */
} fl_log_read_opts_t;

typedef struct {
    fl_log_record_t *records; /* key/payload point into the batch */
    size_t count;
    size_t bytes;      /* payload bytes in records */
    uint64_t next_seq; /* where to continue: after the last record, or
                          after the damaged chunk on FL_ECORRUPT */
    void *priv;
} fl_log_batch_t;

/* Read records into `out` (any previous contents are freed first; zero it
 * before the first use). Returns 0 with out->count >= 1; FL_EAGAIN when no
 * durable record is there yet (out->next_seq: where to wait, see watches);
 * FL_EEOF for a closed shard read to its end; FL_EEXPIRED for data removed
 * by retention, also for a server or producer time before the oldest
 * record kept once retention removed any (out->next_seq: the first number
 * kept); FL_ECORRUPT
 * for a damaged chunk (records before it come back first, by an earlier
 * call; out->next_seq: past the damage). FL_ENOTFOUND: no such shard. */
int fl_log_read(fl_log_t *log, uint32_t shard, const fl_log_read_opts_t *opts, fl_log_batch_t *out);
void fl_log_batch_free(fl_log_batch_t *b);

/* The records of a read handed over a chunk at a time (fl_log_read_each):
 * recs[0..n) are the next records, in order, n >= 1, from one chunk that
 * passed its check; their bytes are valid only until the call returns (the
 * read reuses its buffers). A negative return stops the read and is its
 * answer. */
typedef int (*fl_log_each_fn)(void *arg, const fl_log_record_t *recs, size_t n);

typedef struct {
    size_t count;      /* records handed over */
    size_t bytes;      /* their payload bytes */
    uint64_t next_seq; /* as fl_log_batch_t's */
} fl_log_each_t;

/* fl_log_read without a batch: the same records, answers and next_seq,
 * handed to fn chunk by chunk, so a reader that turns them into something
 * else at once (GetRecords' JSON) keeps no copy of a whole read and each
 * chunk goes through buffers reused for the read. On a negative answer,
 * records handed over before it must be dropped, as fl_log_read frees its
 * batch (res->count and res->bytes are 0 then). */
int fl_log_read_each(fl_log_t *log, uint32_t shard, const fl_log_read_opts_t *opts,
                     fl_log_each_fn fn, void *arg, fl_log_each_t *res);

/* ---- following the tail ---- */

int fl_log_watch_new(fl_log_t *log, uint32_t shard, fl_log_watch_t **out);
/* An eventfd readable when the shard got new durable records or closed. */
int fl_log_watch_fd(const fl_log_watch_t *w);
/* Block until a record with sequence >= seq is readable: 0; FL_EEOF when
 * the shard is closed and has none; FL_ETIMEDOUT (timeout_ms < 0: for
 * ever). */
int fl_log_watch_wait(fl_log_watch_t *w, uint64_t seq, int timeout_ms);
void fl_log_watch_free(fl_log_watch_t *w);

#endif
