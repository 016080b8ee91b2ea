/*
 * producer-sdk/store.h — the content store: a ring of fixed size holding
 * whole fragments, in order, until the server acks each PERSISTED.
 *
 * Two fixed arrays set at creation: the bytes (a bip buffer: every fragment
 * is contiguous, so it can be sent, sealed or resent in one piece) and the
 * fragment descriptors (a circular array, oldest first). Only the newest
 * fragment grows; when it reaches the end of the bytes it moves to the
 * start, if the oldest fragment left room there. Nothing is allocated after
 * flp_store_init's caller hands in the memory.
 *
 * Fragment ids count up by one per fragment for the stream's life, so the
 * sender's cursor is an id and an offset, and stays right when the newest
 * fragment moves. Not thread-safe: the stream's lock guards it.
 */
#ifndef FLP_STORE_H
#define FLP_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t id;
    int64_t timecode_ms; /* the Cluster's, ms since the epoch */
    size_t off, len;     /* bytes in the ring */
    uint32_t n_frames;
    int64_t first_put_ns; /* monotonic time of its first frame */
    uint8_t gen;          /* which session header it follows */
    uint8_t closed;       /* complete: nothing more is appended */
    uint8_t done;         /* acked PERSISTED, or given up */
    uint8_t sent;         /* sent (at least in part) on some connection */
    uint8_t sent_whole;   /* its last bytes went to the transport once: the
                             server may hold it even if never acked */
} flp_frag_t;

typedef struct {
    uint8_t *mem;
    size_t size;
    flp_frag_t *frags;
    size_t cap;   /* descriptors */
    size_t first; /* index of the oldest */
    size_t count;
    uint64_t first_id; /* id of the oldest (or of the next when empty) */
    uint64_t wrap_id;  /* the first fragment of the part that wrapped to
                          offset 0; 0: the held fragments are one run */
    size_t used;       /* bytes in held fragments */
} flp_store_t;

void flp_store_init(flp_store_t *st, uint8_t *mem, size_t size, flp_frag_t *frags, size_t cap);

/* The fragment with this id, or NULL when it is not held. */
flp_frag_t *flp_store_get(flp_store_t *st, uint64_t id);
flp_frag_t *flp_store_oldest(flp_store_t *st);
flp_frag_t *flp_store_newest(flp_store_t *st);

/* Start a new (newest) fragment. NULL when every descriptor is in use. */
flp_frag_t *flp_store_begin(flp_store_t *st, int64_t timecode_ms, uint8_t gen);

/* Room for n more bytes at the end of the newest fragment (which may move
 * to the ring's start): a pointer to write them, or NULL when there is no
 * room beside the held fragments. flp_store_commit(n) then counts them. */
uint8_t *flp_store_reserve(flp_store_t *st, size_t n);
void flp_store_commit(flp_store_t *st, size_t n);

/* Remove the oldest fragment (acked, or dropped to make room). */
void flp_store_pop(flp_store_t *st);

/* Could a fragment begun now take n bytes beside the held ones? */
int flp_store_room(const flp_store_t *st, size_t n);

/* Could a fragment of n bytes ever fit (an empty store)? */
int flp_store_fits(const flp_store_t *st, size_t n);

#endif
