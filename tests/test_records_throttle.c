/*
 * tests/test_records_throttle.c — the records' per-shard metering
 * (server/records/throttle.c) as PutRecord(s) uses it: a record whose
 * shard a reshard closed between its lookup and its append goes to a
 * child, and is metered there, not on the closed parent
 * (fl_rec_throttle_move). The race that takes that path cannot be forced
 * through the server's API, so the metering it calls is checked here on
 * its own; tests/records_throttle.py checks the rates through boto3.
 *
 * Counts only: a bucket holds one second of its rate and refills at that
 * rate, so each check spends a whole second's bytes at once and asks for
 * half a second's more, which only a pause of half a second between two
 * calls could refill.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "server/records/records.h"

#define SECOND FL_RECORDS_IN_BYTES_S
#define HALF   (FL_RECORDS_IN_BYTES_S / 2)

static fl_records_t *metering(int on)
{
    fl_records_t *rs = calloc(1, sizeof *rs);
    ck_assert_ptr_nonnull(rs);
    rs->throttle = on;
    pthread_mutex_init(&rs->throttle_mu, NULL);
    return rs;
}

static void done(fl_records_t *rs)
{
    fl_rec_throttle_free(rs);
    pthread_mutex_destroy(&rs->throttle_mu);
    free(rs);
}

START_TEST(a_shard_meets_its_rate)
{
    fl_records_t *rs = metering(1);
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 0, SECOND), 0);
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 0, HALF), -1);
    /* another shard, and the same shard of another stream, have their own */
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 1, SECOND), 0);
    ck_assert_int_eq(fl_rec_throttle_put(rs, 8, 0, SECOND), 0);
    done(rs);
}
END_TEST

START_TEST(a_record_moved_to_a_child_is_metered_on_the_child)
{
    fl_records_t *rs = metering(1);
    /* a second's bytes metered on parent shard 0, which then closes: they
     * go to child 1 */
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 0, SECOND), 0);
    ck_assert_int_eq(fl_rec_throttle_move(rs, 7, 0, 1, SECOND), 0);
    /* the child has spent its second; the parent has its share back */
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 1, HALF), -1);
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 0, SECOND), 0);
    done(rs);
}
END_TEST

START_TEST(a_child_over_its_rate_refuses_the_moved_record)
{
    fl_records_t *rs = metering(1);
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 2, SECOND), 0); /* the child is busy */
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 0, HALF), 0);
    ck_assert_int_eq(fl_rec_throttle_move(rs, 7, 0, 2, HALF), -1);
    ck_assert_uint_eq(rs->throttled_put, 1); /* the move, counted as a refusal */
    /* refused, the record costs nobody: the parent has its half back */
    ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 0, SECOND), 0);
    done(rs);
}
END_TEST

START_TEST(nothing_is_metered_with_the_throttle_off)
{
    fl_records_t *rs = metering(0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(fl_rec_throttle_put(rs, 7, 0, SECOND), 0);
        ck_assert_int_eq(fl_rec_throttle_move(rs, 7, 0, 1, SECOND), 0);
    }
    done(rs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("records_throttle");
    TCase *tc = tcase_create("throttle");
    tcase_add_test(tc, a_shard_meets_its_rate);
    tcase_add_test(tc, a_record_moved_to_a_child_is_metered_on_the_child);
    tcase_add_test(tc, a_child_over_its_rate_refuses_the_moved_record);
    tcase_add_test(tc, nothing_is_metered_with_the_throttle_off);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
