/*
 * producer-sdk/store.c — the content store's ring (see store.h).
 *
 * Invariant: the held fragments lie in ring order either in one run
 * [oldest.off, newest.off + newest.len) or, wrapped, in two:
 * [oldest.off, end of the last fragment before the wrap) and
 * [0, newest.off + newest.len) with newest.off + newest.len <= oldest.off.
 * Only the newest fragment grows, so only it ever moves (to offset 0).
 *
 * Which of the two the held fragments are is kept (wrap_id), not guessed
 * from offsets: a fragment may be empty, and the wrapped part may fill up
 * to the oldest's very offset, so equal offsets say nothing.
 */
#include <string.h>

#include "store.h"

void flp_store_init(flp_store_t *st, uint8_t *mem, size_t size, flp_frag_t *frags, size_t cap)
{
    memset(st, 0, sizeof *st);
    st->mem = mem;
    st->size = size;
    st->frags = frags;
    st->cap = cap;
    st->first_id = 1;
}

static flp_frag_t *at(flp_store_t *st, size_t i)
{
    return &st->frags[(st->first + i) % st->cap];
}

flp_frag_t *flp_store_get(flp_store_t *st, uint64_t id)
{
    if (id < st->first_id || id - st->first_id >= st->count)
        return NULL;
    return at(st, (size_t)(id - st->first_id));
}

flp_frag_t *flp_store_oldest(flp_store_t *st)
{
    return st->count ? at(st, 0) : NULL;
}

flp_frag_t *flp_store_newest(flp_store_t *st)
{
    return st->count ? at(st, st->count - 1) : NULL;
}

flp_frag_t *flp_store_begin(flp_store_t *st, int64_t timecode_ms, uint8_t gen)
{
    if (st->count == st->cap)
        return NULL;
    flp_frag_t *prev = flp_store_newest(st);
    flp_frag_t *f = at(st, st->count);
    memset(f, 0, sizeof *f);
    f->id = st->first_id + st->count;
    f->timecode_ms = timecode_ms;
    f->gen = gen;
    f->off = prev ? prev->off + prev->len : 0;
    st->count++;
    return f;
}

uint8_t *flp_store_reserve(flp_store_t *st, size_t n)
{
    flp_frag_t *nw = flp_store_newest(st);
    if (!nw)
        return NULL;
    size_t end = nw->off + nw->len;
    if (st->count == 1) {
        st->wrap_id = 0;
        if (end + n <= st->size)
            return st->mem + end;
        if (nw->len + n > st->size)
            return NULL;
        memmove(st->mem, st->mem + nw->off, nw->len);
        nw->off = 0;
        return st->mem + nw->len;
    }
    size_t head = at(st, 0)->off;
    if (st->wrap_id) /* wrapped: up to the oldest */
        return end + n <= head ? st->mem + end : NULL;
    if (end + n <= st->size) /* one run */
        return st->mem + end;
    if (nw->len + n > head)
        return NULL;
    memmove(st->mem, st->mem + nw->off, nw->len);
    nw->off = 0;
    st->wrap_id = nw->id;
    return st->mem + nw->len;
}

void flp_store_commit(flp_store_t *st, size_t n)
{
    flp_frag_t *nw = flp_store_newest(st);
    nw->len += n;
    st->used += n;
}

void flp_store_pop(flp_store_t *st)
{
    if (!st->count)
        return;
    st->used -= at(st, 0)->len;
    st->first = (st->first + 1) % st->cap;
    st->count--;
    st->first_id++;
    if (st->wrap_id && st->first_id >= st->wrap_id)
        st->wrap_id = 0; /* the part at offset 0 is all there is now */
}

int flp_store_room(const flp_store_t *st, size_t n)
{
    if (!st->count)
        return n <= st->size;
    /* as flp_store_reserve() for a fragment of length 0 after the newest */
    const flp_frag_t *nw = &st->frags[(st->first + st->count - 1) % st->cap];
    size_t end = nw->off + nw->len, head = st->frags[st->first].off;
    if (st->wrap_id)
        return end + n <= head;
    return end + n <= st->size || n <= head;
}

int flp_store_fits(const flp_store_t *st, size_t n)
{
    return n <= st->size;
}
