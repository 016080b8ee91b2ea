/*
 * server/workers.c — see workers.h.
 *
 * One mutex guards both queues (todo and finished) and the counters; two
 * condition variables: `more` wakes workers, `idle` is unused by the loop
 * (it never waits) and only lets fl_workers_free wait for the end.
 * Queues are FIFO singly-linked lists with tail pointers.
 */
#include "server/core/workers.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/error.h"

typedef struct {
    fl_job_t *head, *tail;
} queue_t;

struct fl_workers {
    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t more; /* todo gained a job, or stopping */
    queue_t todo;        /* submitted, not started */
    queue_t finished;    /* work done, done() not yet run */
    size_t n_todo;
    size_t n_running;
    size_t max_queued;
    int stopping;
    void (*wake)(void *);
    void *wake_data;
    size_t n_threads;
    pthread_t *threads;
};

static void push(queue_t *q, fl_job_t *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static fl_job_t *pop(queue_t *q)
{
    fl_job_t *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        j->next = NULL;
    }
    return j;
}

static void *worker_main(void *arg)
{
    fl_workers_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo.head && !w->stopping)
            pthread_cond_wait(&w->more, &w->mu);
        fl_job_t *j = pop(&w->todo);
        if (!j)
            break; /* stopping and nothing left */
        w->n_todo--;
        w->n_running++;
        pthread_mutex_unlock(&w->mu);
        j->work(j);
        pthread_mutex_lock(&w->mu);
        w->n_running--;
        push(&w->finished, j);
        if (w->wake) {
            /* wake outside the lock: the waker may take its own locks */
            pthread_mutex_unlock(&w->mu);
            w->wake(w->wake_data);
            pthread_mutex_lock(&w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int fl_workers_new(size_t n_threads, size_t max_queued, void (*wake)(void *), void *wake_data,
                   fl_workers_t **out)
{
    *out = NULL;
    if (n_threads == 0 || max_queued == 0)
        return FL_EINVAL;
    fl_workers_t *w = calloc(1, sizeof *w);
    if (!w)
        return FL_ENOMEM;
    w->threads = calloc(n_threads, sizeof *w->threads);
    if (!w->threads) {
        free(w);
        return FL_ENOMEM;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->more, NULL);
    w->max_queued = max_queued;
    w->wake = wake;
    w->wake_data = wake_data;
    for (size_t i = 0; i < n_threads; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            w->n_threads = i;
            fl_workers_free(w);
            return FL_ENOMEM;
        }
        w->n_threads = i + 1;
    }
    *out = w;
    return 0;
}

int fl_workers_submit(fl_workers_t *w, fl_job_t *job)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    if (w->stopping)
        rc = FL_ECLOSED;
    else if (w->n_todo >= w->max_queued)
        rc = FL_EAGAIN;
    else {
        push(&w->todo, job);
        w->n_todo++;
        pthread_cond_signal(&w->more);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

size_t fl_workers_drain(fl_workers_t *w)
{
    pthread_mutex_lock(&w->mu);
    fl_job_t *list = w->finished.head;
    w->finished.head = w->finished.tail = NULL;
    pthread_mutex_unlock(&w->mu);
    size_t n = 0;
    while (list) {
        fl_job_t *next = list->next;
        list->done(list); /* may free list */
        list = next;
        n++;
    }
    return n;
}

size_t fl_workers_pending(fl_workers_t *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_todo + w->n_running;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void fl_workers_free(fl_workers_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->more);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    fl_workers_drain(w);
    pthread_cond_destroy(&w->more);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}
