/*
 * server/chunked.h — decoder for HTTP/1.1 chunked request bodies.
 *
 * libwebsockets 4.1.6 hands a chunked request body to the protocol callback
 * still chunk-encoded and never signals its end (libwebsockets-notes.md), so
 * the streaming PutMedia endpoint decodes it here. The decoder is
 * incremental: bytes may be split anywhere; payload is returned as slices of
 * the caller's input (no copy). Chunk extensions are skipped; trailers are
 * read and dropped. Limits: chunk-size at most 16 hex digits and at most
 * FL_CHUNKED_MAX_CHUNK, extension/trailer lines at most
 * FL_CHUNKED_MAX_LINE bytes, FL_CHUNKED_MAX_TRAILERS bytes of trailers.
 *
 * States: SIZE -> (EXT) -> SIZE_LF -> DATA -> DATA_CR -> DATA_LF -> SIZE ...
 *         SIZE "0" -> ... -> TRAILER -> DONE; any violation -> ERROR (sticky).
 */
#ifndef FL_SERVER_CHUNKED_H
#define FL_SERVER_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

#define FL_CHUNKED_MAX_CHUNK    ((uint64_t)1 << 32)
#define FL_CHUNKED_MAX_LINE     4096
#define FL_CHUNKED_MAX_TRAILERS 16384

typedef struct {
    int state;
    int err;          /* sticky: 0 or FL_EMALFORMED / FL_ELIMIT */
    uint64_t left;    /* bytes left in the current chunk */
    uint64_t size;    /* chunk-size being read */
    size_t digits;    /* hex digits read of it */
    size_t line;      /* bytes of the current extension/trailer line */
    size_t trailers;  /* bytes of trailers so far */
    uint64_t offset;  /* encoded bytes consumed so far (for error reports) */
    uint64_t decoded; /* payload bytes produced so far */
} fl_chunked_t;

void fl_chunked_init(fl_chunked_t *c);

/* Decode from the front of in. Sets *consumed (<= in.n) and *data, a slice
 * of in holding the payload found (maybe empty). Call again with the rest of
 * in until it is all consumed. Returns 0, or the sticky error; c->offset then
 * says where the encoding broke. */
int fl_chunked_decode(fl_chunked_t *c, fl_slice_t in, size_t *consumed, fl_slice_t *data);

/* Has the last chunk (and the trailers' blank line) been read? Bytes after
 * it belong to the next request, and fl_chunked_decode consumes none. */
int fl_chunked_done(const fl_chunked_t *c);

#endif
