/*
 * server/workers.h — a bounded pool of worker threads for work the event
 * loop must not do itself (catalog writes that fsync, remux, hooks).
 *
 * A job's work() runs on a worker; its done() then runs on the loop thread,
 * when the loop calls fl_workers_drain() after being woken. The pool wakes
 * the loop through the wake function given at creation (the server passes
 * one that calls lws_cancel_service(), the one thread-safe lws call), so
 * the pool itself knows nothing of libwebsockets and can be tested alone.
 *
 * Bounds: at most max_queued jobs wait for a worker; past that submit says
 * FL_EAGAIN and the caller answers "busy" instead of queueing without limit.
 *
 * The job struct belongs to the caller, who typically embeds it in a larger
 * struct; the pool only links it into its queues. Ownership: from submit
 * until done() is called, the job must stay allocated; done() may free it.
 */
#ifndef FL_SERVER_WORKERS_H
#define FL_SERVER_WORKERS_H

#include <stddef.h>

typedef struct fl_job fl_job_t;
struct fl_job {
    void (*work)(fl_job_t *job); /* on a worker thread */
    void (*done)(fl_job_t *job); /* on the loop thread, after work */
    void *data;                  /* the caller's */
    fl_job_t *next;              /* the pool's */
};

typedef struct fl_workers fl_workers_t;

/* Start n_threads workers. wake(wake_data) is called from a worker thread
 * each time a finished job is ready for fl_workers_drain(). */
int fl_workers_new(size_t n_threads, size_t max_queued, void (*wake)(void *), void *wake_data,
                   fl_workers_t **out);
/* Queue a job. 0, or FL_EAGAIN when max_queued jobs already wait, or
 * FL_ECLOSED after fl_workers_free began. */
int fl_workers_submit(fl_workers_t *w, fl_job_t *job);
/* Loop thread: run done() of every finished job. Returns how many. */
size_t fl_workers_drain(fl_workers_t *w);
/* Jobs queued or running now (for /metrics). */
size_t fl_workers_pending(fl_workers_t *w);
/* Let queued jobs finish, join the threads, run the remaining done()s on
 * the calling thread, free. Accepts NULL. */
void fl_workers_free(fl_workers_t *w);

#endif
