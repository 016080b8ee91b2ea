/*
 * tests/test_server_workers.c — the worker pool: work runs off the calling
 * thread, done() runs on the thread that drains, the queue bound holds, and
 * freeing the pool finishes and completes everything queued.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/error.h"
#include "harness.h"
#include "server/core/workers.h"

typedef struct {
    fl_job_t job;
    pthread_t worked_on;
    pthread_t done_on;
    int done;
    int sleep_ms;
} tjob_t;

static _Atomic int wakes;

static void wake(void *data)
{
    (void)data;
    atomic_fetch_add(&wakes, 1);
}

static void work(fl_job_t *j)
{
    tjob_t *t = (tjob_t *)j;
    t->worked_on = pthread_self();
    if (t->sleep_ms)
        usleep((useconds_t)t->sleep_ms * 1000);
}

static void done(fl_job_t *j)
{
    tjob_t *t = (tjob_t *)j;
    t->done_on = pthread_self();
    t->done++;
}

static void init_job(tjob_t *t, int sleep_ms)
{
    t->job.work = work;
    t->job.done = done;
    t->done = 0;
    t->sleep_ms = sleep_ms;
}

START_TEST(work_off_thread_done_on_drainer)
{
    fl_workers_t *w;
    ck_assert_int_eq(fl_workers_new(2, 100, wake, NULL, &w), 0);
    tjob_t jobs[50];
    for (int i = 0; i < 50; i++) {
        init_job(&jobs[i], 0);
        ck_assert_int_eq(fl_workers_submit(w, &jobs[i].job), 0);
    }
    size_t n = 0;
    long long deadline = fl_test_now_ms() + 10000;
    while (n < 50 && fl_test_now_ms() < deadline) {
        n += fl_workers_drain(w);
        usleep(1000);
    }
    ck_assert_uint_eq(n, 50);
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(jobs[i].done, 1);
        ck_assert(!pthread_equal(jobs[i].worked_on, pthread_self()));
        ck_assert(pthread_equal(jobs[i].done_on, pthread_self()));
    }
    ck_assert_int_ge(atomic_load(&wakes), 1);
    ck_assert_uint_eq(fl_workers_pending(w), 0);
    fl_workers_free(w);
}
END_TEST

START_TEST(queue_bound_says_again)
{
    fl_workers_t *w;
    ck_assert_int_eq(fl_workers_new(1, 2, NULL, NULL, &w), 0);
    tjob_t slow, a, b, c;
    init_job(&slow, 300);
    init_job(&a, 0);
    init_job(&b, 0);
    init_job(&c, 0);
    ck_assert_int_eq(fl_workers_submit(w, &slow.job), 0);
    usleep(50000); /* the worker has taken it */
    ck_assert_int_eq(fl_workers_submit(w, &a.job), 0);
    ck_assert_int_eq(fl_workers_submit(w, &b.job), 0);
    ck_assert_int_eq(fl_workers_submit(w, &c.job), FL_EAGAIN);
    ck_assert_uint_eq(fl_workers_pending(w), 3);
    /* freeing finishes and completes every accepted job */
    fl_workers_free(w);
    ck_assert_int_eq(slow.done, 1);
    ck_assert_int_eq(a.done, 1);
    ck_assert_int_eq(b.done, 1);
    ck_assert_int_eq(c.done, 0);
}
END_TEST

START_TEST(bad_arguments)
{
    fl_workers_t *w = (fl_workers_t *)1;
    ck_assert_int_eq(fl_workers_new(0, 1, NULL, NULL, &w), FL_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(fl_workers_new(1, 0, NULL, NULL, &w), FL_EINVAL);
    fl_workers_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_workers");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, work_off_thread_done_on_drainer);
    tcase_add_test(tc, queue_bound_says_again);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
