/*
 * producer-sdk/filestore.h — the optional on-flash copy of the content
 * store: a file of fixed size holding, in order, the stream's session
 * header and every fragment not yet acked PERSISTED, each record sealed with
 * AES-256-GCM (mbedTLS) under the stream's 32-byte key, so that buffered
 * video survives a process restart or a power cut. Format:
 * docs/sdk-store-format.md.
 *
 * Not thread-safe: the stream calls it under its own lock. No allocation
 * after open except what open returns.
 */
#ifndef FLP_FILESTORE_H
#define FLP_FILESTORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct flp_filestore flp_filestore_t;

enum {
    FLP_REC_HEADER = 1,  /* the session header (EBML, Segment, Info, Tracks) */
    FLP_REC_FRAGMENT = 2 /* one whole fragment: Cluster (+ Tags) bytes */
};

/* Open or create the file at path, sized capacity bytes (created with that
 * size; an existing file keeps its own, and must have been written under
 * the same key: FLP_ECRYPTO otherwise). FLP_ECORRUPT is never returned for
 * damaged records: they are skipped (and counted) by replay. */
int flp_filestore_open(const char *path, const uint8_t key[32], size_t capacity,
                       flp_filestore_t **out);

/* Append one record and make it durable (fdatasync) before returning.
 * FLP_ENOSPC when it does not fit beside what is not yet released (the
 * caller releases or drops first). */
int flp_filestore_append(flp_filestore_t *fs, int kind, int64_t timecode_ms, const uint8_t *p,
                         size_t n);

/* Release every fragment record with timecode <= timecode_ms (acked
 * PERSISTED, or dropped): the space is reusable. Header records stay while
 * a later fragment needs them. */
int flp_filestore_release(flp_filestore_t *fs, int64_t timecode_ms);

/* Call cb for every record still held, oldest first (headers before the
 * fragments that follow them). A record that fails its tag is skipped and
 * counted in *damaged (may be NULL). cb returning non-zero stops with that
 * value. */
int flp_filestore_replay(flp_filestore_t *fs,
                         int (*cb)(void *ctx, int kind, int64_t timecode_ms, const uint8_t *p,
                                   size_t n),
                         void *ctx, unsigned *damaged);

/* Bytes held by unreleased records, and the capacity. */
size_t flp_filestore_used(const flp_filestore_t *fs);
size_t flp_filestore_capacity(const flp_filestore_t *fs);

void flp_filestore_close(flp_filestore_t *fs);

#endif
