/*
 * tests/test_server_live.c — the live tail: readers get every frame as it
 * is fed, in order, across fragments; joining is exact at the seam with
 * storage; durable fragments leave; dropped fragments are announced; a
 * reader that falls too far behind is cut loose; invariants hold
 * throughout.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "harness.h"
#include "server/video/live.h"

static int wakes;

static void wake(void *data)
{
    (void)data;
    wakes++;
}

static void frame(fl_live_t *l, int i)
{
    char b[64];
    memset(b, i, sizeof b);
    ck_assert_int_eq(fl_live_frame(l, 1, 1000 + 33 * i, 33, i == 0, fl_slice(b, sizeof b)), 0);
    ck_assert_int_eq(fl_live_check(l), 0);
}

static fl_live_event_type_t next(fl_live_reader_t *r, fl_live_event_t *ev)
{
    fl_live_next(r, ev);
    return ev->type;
}

START_TEST(reader_follows_frame_by_frame)
{
    fl_live_t *l;
    ck_assert_int_eq(fl_live_new(NULL, &l), 0);
    fl_live_session(l, fl_slice_str("TRACKS1"));
    fl_live_reader_t *r;
    ck_assert_int_eq(fl_live_join(l, 10, wake, NULL, &r), 0); /* the next one to come */
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_NONE);
    wakes = 0;
    ck_assert_int_eq(fl_live_begin(l, 10, 1000, 5), 0);
    ck_assert_int_gt(wakes, 0);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_uint_eq(ev.seq, 10);
    ck_assert(fl_slice_eq_str(ev.tracks, "TRACKS1"));
    ck_assert_int_eq(next(r, &ev), FL_LIVE_NONE);
    /* each frame is there as soon as it is fed */
    for (int i = 0; i < 5; i++) {
        frame(l, i);
        ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
        ck_assert_int_eq(ev.pts_ms, 1000 + 33 * i);
        ck_assert_uint_eq(ev.bytes.n, 64);
        ck_assert_uint_eq(ev.bytes.p[0], (uint8_t)i);
        ck_assert_int_eq(ev.keyframe, i == 0);
        ck_assert_int_eq(next(r, &ev), FL_LIVE_NONE);
    }
    fl_live_end(l, 1);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_END);
    ck_assert_uint_eq(ev.seq, 10);
    /* the next fragment follows on */
    fl_live_session(l, fl_slice_str("TRACKS2"));
    ck_assert_int_eq(fl_live_begin(l, 11, 2000, 6), 0);
    frame(l, 0);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_uint_eq(ev.seq, 11);
    ck_assert(fl_slice_eq_str(ev.tracks, "TRACKS2"));
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
    ck_assert_int_eq(fl_live_check(l), 0);
    fl_live_leave(r);
    fl_live_free(l);
}
END_TEST

START_TEST(shared_fragment_keeps_frames_in_place)
{
    fl_live_t *l;
    ck_assert_int_eq(fl_live_new(NULL, &l), 0);
    fl_live_session(l, fl_slice_str("TRACKS1"));
    fl_live_reader_t *r;
    ck_assert_int_eq(fl_live_join(l, 3, wake, NULL, &r), 0);
    /* the ingest's record: the tail takes a reference */
    fl_recbuf_t *rb = fl_recbuf_new(16, 0);
    ck_assert_ptr_nonnull(rb);
    fl_buf_append(&rb->b, "HEAD", 4);
    ck_assert_int_eq(fl_live_begin_shared(l, 3, 1000, 5, rb), 0);
    ck_assert_uint_eq(atomic_load(&rb->refs), 2);
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    for (int i = 0; i < 50; i++) { /* the record grows (and moves) as frames come */
        uint8_t b[1000];
        memset(b, i, sizeof b);
        size_t off = rb->b.n;
        fl_buf_append(&rb->b, b, sizeof b);
        ck_assert_int_eq(fl_live_frame(l, 1, 1000 + i, 33, i == 0, fl_slice(rb->b.p + off, 1000)),
                         0);
        ck_assert_int_eq(fl_live_check(l), 0);
    }
    /* a frame outside the record is refused */
    uint8_t other[8] = {0};
    ck_assert_int_eq(fl_live_frame(l, 1, 0, 0, 0, fl_slice(other, sizeof other)), FL_EINVAL);
    ck_assert_int_eq(fl_live_frame(l, 1, 0, 0, 0, fl_slice(rb->b.p + rb->b.n - 4, 8)), FL_EINVAL);
    ck_assert_uint_eq(fl_live_bytes(l), 50 * 1000);
    fl_live_end(l, 1);
    fl_recbuf_unref(rb); /* the ingest is done with it; the tail still reads it */
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
        ck_assert_uint_eq(ev.bytes.n, 1000);
        ck_assert(ev.bytes.p >= rb->b.p && ev.bytes.p + 1000 <= rb->b.p + rb->b.n);
        ck_assert_uint_eq(ev.bytes.p[0], (uint8_t)i);
        ck_assert_uint_eq(ev.bytes.p[999], (uint8_t)i);
    }
    ck_assert_int_eq(next(r, &ev), FL_LIVE_END);
    fl_live_leave(r);
    fl_live_durable(l, 3); /* leaves the tail: the last reference goes (ASan checks) */
    ck_assert_uint_eq(fl_live_fragments(l), 0);
    ck_assert_uint_eq(fl_live_bytes(l), 0);
    ck_assert_int_eq(fl_live_begin_shared(l, 4, 0, 0, NULL), FL_EINVAL);
    fl_live_free(l);
}
END_TEST

START_TEST(durable_fragments_leave_unless_a_reader_is_inside)
{
    fl_live_t *l;
    fl_live_new(NULL, &l);
    fl_live_begin(l, 1, 0, 0);
    frame(l, 0);
    fl_live_end(l, 1);
    fl_live_begin(l, 2, 0, 0);
    frame(l, 0);
    fl_live_reader_t *r;
    ck_assert_int_eq(fl_live_join(l, 1, wake, NULL, &r), 0);
    fl_live_durable(l, 1);
    ck_assert_uint_eq(fl_live_fragments(l), 2); /* r is in fragment 1 */
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_END);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT); /* moves into 2 */
    ck_assert_uint_eq(ev.seq, 2);
    ck_assert_uint_eq(fl_live_fragments(l), 1); /* 1 is gone */
    ck_assert_int_eq(fl_live_check(l), 0);
    /* a reader asking for 1 now goes to storage */
    fl_live_reader_t *r2;
    ck_assert_int_eq(fl_live_join(l, 1, wake, NULL, &r2), FL_ENOTFOUND);
    fl_live_end(l, 1);
    fl_live_durable(l, 2);
    ck_assert_uint_eq(fl_live_fragments(l), 1); /* r still pins 2 */
    fl_live_leave(r);
    ck_assert_uint_eq(fl_live_fragments(l), 0);
    ck_assert_uint_eq(fl_live_bytes(l), 0);
    ck_assert_int_eq(fl_live_join(l, 2, wake, NULL, &r2), FL_ENOTFOUND);
    ck_assert_int_eq(fl_live_join(l, 3, wake, NULL, &r2), 0); /* the next to come */
    fl_live_leave(r2);
    fl_live_free(l);
}
END_TEST

START_TEST(dropped_fragment_is_announced_and_its_seq_reused)
{
    fl_live_t *l;
    fl_live_new(NULL, &l);
    fl_live_reader_t *r;
    fl_live_join(l, 5, wake, NULL, &r);
    fl_live_begin(l, 5, 0, 0);
    frame(l, 0);
    fl_live_end(l, 0); /* cut off */
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_DROPPED);
    /* nothing was stored, so the next fragment gets the same number */
    fl_live_begin(l, 5, 0, 0);
    frame(l, 1);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_uint_eq(ev.seq, 5);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
    ck_assert_uint_eq(ev.bytes.p[0], 1);
    ck_assert_int_eq(fl_live_check(l), 0);
    /* a new begin while one is open drops the open one */
    fl_live_begin(l, 6, 0, 0);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_DROPPED);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_uint_eq(ev.seq, 6);
    fl_live_leave(r);
    fl_live_free(l);
}
END_TEST

START_TEST(slow_reader_is_cut_loose_within_budget)
{
    fl_live_opts_t o = {.max_bytes = 1000};
    fl_live_t *l;
    fl_live_new(&o, &l);
    fl_live_reader_t *r;
    fl_live_join(l, 1, wake, NULL, &r);
    for (uint64_t seq = 1; seq <= 10; seq++) {
        fl_live_begin(l, seq, 0, 0);
        for (int i = 0; i < 5; i++)
            frame(l, i);
        fl_live_end(l, 1);
        fl_live_durable(l, seq); /* storage keeps up; the reader does not */
        ck_assert_int_eq(fl_live_check(l), 0);
    }
    ck_assert_uint_le(fl_live_bytes(l), 1000);
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_CUT);
    ck_assert_uint_eq(ev.seq, 1); /* resume from storage where it was */
    fl_live_leave(r);
    /* nobody pins anything: the tail lets all of it go */
    ck_assert_uint_le(fl_live_fragments(l), 1);
    fl_live_free(l);
}
END_TEST

START_TEST(non_durable_fragments_stay)
{
    fl_live_opts_t o = {.max_bytes = 100};
    fl_live_t *l;
    fl_live_new(&o, &l);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        fl_live_begin(l, seq, 0, 0);
        frame(l, 0);
        frame(l, 1);
        fl_live_end(l, 1);
    }
    /* over budget, but storage has none of them: a joiner must find them */
    ck_assert_uint_eq(fl_live_fragments(l), 3);
    fl_live_reader_t *r;
    ck_assert_int_eq(fl_live_join(l, 1, wake, NULL, &r), 0);
    fl_live_leave(r);
    fl_live_durable(l, 1);
    fl_live_durable(l, 2);
    ck_assert_uint_eq(fl_live_fragments(l), 1);
    fl_live_free(l);
}
END_TEST

START_TEST(free_with_readers_cuts_them)
{
    fl_live_t *l;
    fl_live_new(NULL, &l);
    fl_live_begin(l, 1, 0, 0);
    fl_live_reader_t *r;
    fl_live_join(l, 1, wake, NULL, &r);
    wakes = 0;
    fl_live_free(l);
    ck_assert_int_gt(wakes, 0);
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_CUT);
    fl_live_leave(r);
}
END_TEST

START_TEST(join_before_the_tail_starts_at_its_first_fragment)
{
    fl_live_t *l;
    fl_live_new(NULL, &l);
    fl_live_begin(l, 7, 1000, 0);
    frame(l, 0);
    /* a reader from the start of an empty archive (position 0): the tail's
     * first fragment is the first one it needs */
    fl_live_reader_t *r;
    ck_assert_int_eq(fl_live_join(l, 0, wake, NULL, &r), 0);
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_uint_eq(ev.seq, 7);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
    fl_live_leave(r);
    /* once 7 is complete, durable and gone, position 0 is storage's */
    fl_live_end(l, 1);
    fl_live_durable(l, 7);
    ck_assert_uint_eq(fl_live_fragments(l), 0);
    ck_assert_int_eq(fl_live_join(l, 0, wake, NULL, &r), FL_ENOTFOUND);
    ck_assert_int_eq(fl_live_join(l, 7, wake, NULL, &r), FL_ENOTFOUND);
    ck_assert_int_eq(fl_live_join(l, 8, wake, NULL, &r), 0);
    fl_live_leave(r);
    fl_live_free(l);
}
END_TEST

START_TEST(lost_fragment_does_not_hold_the_tail)
{
    fl_live_opts_t o = {.max_bytes = 100};
    fl_live_t *l;
    fl_live_new(&o, &l);
    fl_live_begin(l, 1, 0, 0);
    frame(l, 0);
    fl_live_end(l, 1);
    fl_live_lost(l, 1); /* storage failed it: never durable */
    for (uint64_t seq = 2; seq <= 20; seq++) {
        fl_live_begin(l, seq, 0, 0);
        frame(l, 0);
        frame(l, 1);
        fl_live_end(l, 1);
        fl_live_durable(l, seq);
    }
    ck_assert_uint_le(fl_live_fragments(l), 1);
    ck_assert_int_eq(fl_live_check(l), 0);
    fl_live_free(l);
}
END_TEST

START_TEST(reader_cut_after_a_fragment_resumes_after_it)
{
    fl_live_opts_t o = {.max_bytes = 100};
    fl_live_t *l;
    fl_live_new(&o, &l);
    fl_live_reader_t *r;
    fl_live_join(l, 1, wake, NULL, &r);
    fl_live_begin(l, 1, 0, 0);
    frame(l, 0);
    fl_live_end(l, 1);
    fl_live_event_t ev;
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAGMENT);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_FRAME);
    ck_assert_int_eq(next(r, &ev), FL_LIVE_END); /* done with 1 */
    fl_live_durable(l, 1);
    for (uint64_t seq = 2; seq <= 4; seq++) {
        fl_live_begin(l, seq, 0, 0);
        frame(l, 0);
        frame(l, 1);
        fl_live_end(l, 1);
        fl_live_durable(l, seq);
    }
    ck_assert_int_eq(next(r, &ev), FL_LIVE_CUT);
    ck_assert_uint_eq(ev.seq, 2); /* not 1 again */
    fl_live_leave(r);
    fl_live_free(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_live");
    TCase *tc = tcase_create("tail");
    tcase_add_test(tc, reader_follows_frame_by_frame);
    tcase_add_test(tc, shared_fragment_keeps_frames_in_place);
    tcase_add_test(tc, durable_fragments_leave_unless_a_reader_is_inside);
    tcase_add_test(tc, dropped_fragment_is_announced_and_its_seq_reused);
    tcase_add_test(tc, slow_reader_is_cut_loose_within_budget);
    tcase_add_test(tc, non_durable_fragments_stay);
    tcase_add_test(tc, free_with_readers_cuts_them);
    tcase_add_test(tc, join_before_the_tail_starts_at_its_first_fragment);
    tcase_add_test(tc, lost_fragment_does_not_hold_the_tail);
    tcase_add_test(tc, reader_cut_after_a_fragment_resumes_after_it);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
