/*
 * server/recbuf.h — a fragment's stored record, built once and shared.
 *
 * The ingest session writes each fragment's record (docs/fragment-format.md)
 * straight into one of these as the producer's frames arrive; the live
 * tail keeps a reference and hands readers the frames from it, in place;
 * at the fragment's end the record goes to storage without a copy
 * (fl_log_append_nocopy), which drops its reference from the writer thread
 * once the record is written. So a frame's bytes are copied once on the
 * way from the socket to the disk and to live readers.
 *
 * Rules: only the ingest session appends to b, on the loop thread, and only
 * until it hands the record to storage; after that nobody changes the bytes.
 * Appends may move b.p (realloc), so holders keep offsets, not pointers.
 * The count is atomic because storage's writer thread drops its
 * reference; the last holder frees.
 *
 * Pinned: a holder that hands pointers into the record to another thread
 * (hooks read frames on their own threads while the fragment still grows)
 * pins it (fl_recbuf_pin, loop thread). The ingest session grows the
 * record through fl_recbuf_grow before each frame; a pinned record that
 * must grow moves to a new allocation and keeps the old one (retired,
 * freed with the record), so every pointer handed out stays valid and its
 * bytes unchanged for as long as a reference is held.
 */
#ifndef FL_SERVER_RECBUF_H
#define FL_SERVER_RECBUF_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/bytes.h"

typedef struct fl_recbuf_old fl_recbuf_old_t;

typedef struct {
    atomic_uint refs;
    fl_buf_t b;
    int pinned;           /* loop thread only */
    fl_recbuf_old_t *old; /* retired allocations of a pinned record */
} fl_recbuf_t;

/* A new buffer with one reference, room for `reserve` bytes (allocated now,
 * so a record that fits never moves) and appends capped at max (0: none).
 * NULL when out of memory. */
fl_recbuf_t *fl_recbuf_new(size_t reserve, size_t max);
fl_recbuf_t *fl_recbuf_ref(fl_recbuf_t *r);
/* Drop one reference, from any thread; the last frees. Accepts NULL. */
void fl_recbuf_unref(fl_recbuf_t *r);
/* Room for n more bytes, so that the next appends of up to n bytes do not
 * move b.p (see Pinned above). 0 or FL_ENOMEM / FL_ELIMIT (b.err set). */
int fl_recbuf_grow(fl_recbuf_t *r, size_t n);
/* Pointers into the record go to other threads from now on. */
void fl_recbuf_pin(fl_recbuf_t *r);
/* fl_recbuf_unref with storage's release signature. */
void fl_recbuf_release(void *r);

#endif
