/*
 * tests/test_sdk_store.c — the SDK's content store ring (producer-sdk/
 * store.h): fragments stay intact and never overlap while the newest one
 * grows, moves to the ring's start and the oldest ones leave, over many
 * random rounds; it refuses what does not fit, says beforehand whether a
 * new fragment's first bytes fit, and lets the ring fill up.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store.h"

static uint8_t pattern(uint64_t id, size_t i)
{
    return (uint8_t)(id * 131u + i * 7u + (i >> 8));
}

/* Every held fragment has its bytes, inside the ring, without overlap. */
static void check_all(flp_store_t *st)
{
    for (size_t i = 0; i < st->count; i++) {
        flp_frag_t *f = flp_store_get(st, st->first_id + i);
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(f->id, st->first_id + i);
        ck_assert_uint_le(f->off + f->len, st->size);
        size_t bad = f->len;
        for (size_t k = 0; k < f->len && bad == f->len; k++)
            if (st->mem[f->off + k] != pattern(f->id, k))
                bad = k;
        ck_assert_msg(bad == f->len, "fragment %llu byte %zu", (unsigned long long)f->id, bad);
        for (size_t j = i + 1; j < st->count; j++) {
            flp_frag_t *g = flp_store_get(st, st->first_id + j);
            int apart = f->off + f->len <= g->off || g->off + g->len <= f->off;
            ck_assert_msg(apart || !f->len || !g->len, "fragments %llu and %llu overlap",
                          (unsigned long long)f->id, (unsigned long long)g->id);
        }
    }
}

static int grow(flp_store_t *st, size_t n)
{
    flp_frag_t *nw = flp_store_newest(st);
    uint8_t *p = flp_store_reserve(st, n);
    if (!p)
        return 0;
    nw = flp_store_newest(st);
    for (size_t k = 0; k < n; k++)
        p[k] = pattern(nw->id, nw->len + k);
    flp_store_commit(st, n);
    return 1;
}

START_TEST(random_rounds_keep_every_fragment_intact)
{
    enum { SIZE = 64 * 1024, CAP = 32 };
    uint8_t *mem = malloc(SIZE);
    flp_frag_t frags[CAP];
    flp_store_t st;
    flp_store_init(&st, mem, SIZE, frags, CAP);
    srand(7);
    unsigned moved = 0, refused = 0, popped = 0, roomy = 0;
    for (int round = 0; round < 8000; round++) {
        int op = rand() % 10;
        if (op < 2 || !st.count) {
            /* flp_store_room() tells beforehand whether the new fragment's
             * first bytes will fit */
            size_t first = (size_t)(rand() % 3000) + 1;
            int room = flp_store_room(&st, first);
            if (flp_store_begin(&st, round, 1)) {
                ck_assert_uint_eq(flp_store_newest(&st)->len, 0);
                ck_assert_int_eq(grow(&st, first), room);
                roomy += room;
            } else
                ck_assert_uint_eq(st.count, CAP);
        } else if (op < 8) {
            size_t before = flp_store_newest(&st)->off;
            if (grow(&st, (size_t)(rand() % 3000) + 1))
                moved += flp_store_newest(&st)->off != before;
            else
                refused++;
        } else if (st.count > 1) {
            flp_store_pop(&st);
            popped++;
        }
        size_t used = 0;
        for (size_t i = 0; i < st.count; i++)
            used += flp_store_get(&st, st.first_id + i)->len;
        ck_assert_uint_eq(used, st.used);
        if (round % 40 == 0)
            check_all(&st);
    }
    check_all(&st);
    /* the rounds went through every path */
    ck_assert_uint_gt(moved, 10);
    ck_assert_uint_gt(refused, 10);
    ck_assert_uint_gt(popped, 100);
    ck_assert_uint_gt(roomy, 10);
    free(mem);
}
END_TEST

START_TEST(one_fragment_may_fill_the_ring_and_no_more)
{
    enum { SIZE = 4096 };
    uint8_t mem[SIZE];
    flp_frag_t frags[4];
    flp_store_t st;
    flp_store_init(&st, mem, SIZE, frags, 4);
    ck_assert_ptr_null(flp_store_reserve(&st, 1)); /* no fragment yet */
    ck_assert_ptr_nonnull(flp_store_begin(&st, 1, 1));
    ck_assert(grow(&st, 1000));
    ck_assert(grow(&st, 3096));
    ck_assert(!grow(&st, 1));
    ck_assert_uint_eq(st.used, SIZE);
    /* a second fragment finds no room until the first leaves */
    ck_assert_ptr_nonnull(flp_store_begin(&st, 2, 1));
    ck_assert(!grow(&st, 1));
    flp_store_pop(&st);
    ck_assert(grow(&st, 4096));
    check_all(&st);
    ck_assert_ptr_null(flp_store_get(&st, 1));
    ck_assert_ptr_nonnull(flp_store_get(&st, 2));
}
END_TEST

START_TEST(the_growing_fragment_moves_to_the_start)
{
    enum { SIZE = 10000 };
    uint8_t mem[SIZE];
    flp_frag_t frags[8];
    flp_store_t st;
    flp_store_init(&st, mem, SIZE, frags, 8);
    flp_store_begin(&st, 1, 1);
    ck_assert(grow(&st, 4000));
    flp_store_begin(&st, 2, 1);
    ck_assert(grow(&st, 4000));
    flp_store_begin(&st, 3, 1);
    ck_assert(grow(&st, 1500)); /* at 8000 */
    flp_store_pop(&st);         /* 0..4000 free */
    ck_assert(grow(&st, 1000)); /* 2500 no longer fits at the end: moves to 0 */
    ck_assert_uint_eq(flp_store_newest(&st)->off, 0);
    ck_assert_uint_eq(flp_store_newest(&st)->len, 2500);
    check_all(&st);
    ck_assert(grow(&st, 1500)); /* up to the oldest's start */
    ck_assert(!grow(&st, 1));
    check_all(&st);
}
END_TEST

/* The wrapped part fills up exactly to the oldest fragment's start; the
 * next fragment begins at that very offset and must not grow over the
 * oldest (it did once: the SDK then sent garbage in the middle of a
 * Cluster). */
START_TEST(a_fragment_begun_at_the_oldest_start_waits)
{
    enum { SIZE = 10000 };
    uint8_t mem[SIZE];
    flp_frag_t frags[8];
    flp_store_t st;
    flp_store_init(&st, mem, SIZE, frags, 8);
    flp_store_begin(&st, 1, 1);
    ck_assert(grow(&st, 3000));
    flp_store_begin(&st, 2, 1);
    ck_assert(grow(&st, 3000));
    flp_store_begin(&st, 3, 1);
    ck_assert(grow(&st, 3000)); /* 9000 used, 1000 left at the end */
    flp_store_pop(&st);         /* 0..3000 free; oldest (2) at 3000 */
    flp_store_begin(&st, 4, 1);
    ck_assert(grow(&st, 2000)); /* does not fit at 9000: moves to 0 */
    ck_assert_uint_eq(flp_store_newest(&st)->off, 0);
    ck_assert(grow(&st, 1000)); /* now exactly up to the oldest's start */
    flp_store_begin(&st, 5, 1);
    ck_assert_uint_eq(flp_store_newest(&st)->off, 3000);
    ck_assert(!grow(&st, 1)); /* no room: the oldest is right there */
    check_all(&st);
    flp_store_pop(&st); /* the oldest leaves: room up to fragment 3 */
    ck_assert(grow(&st, 3000));
    ck_assert(!grow(&st, 1));
    check_all(&st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sdk_store");
    TCase *tc = tcase_create("ring");
    tcase_add_test(tc, random_rounds_keep_every_fragment_intact);
    tcase_add_test(tc, one_fragment_may_fill_the_ring_and_no_more);
    tcase_add_test(tc, the_growing_fragment_moves_to_the_start);
    tcase_add_test(tc, a_fragment_begun_at_the_oldest_start_waits);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
