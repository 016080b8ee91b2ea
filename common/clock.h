/*
 * common/clock.h — time, through a function that tests can drive.
 *
 * Code that needs "now" takes an fl_clock_t and calls fl_clock_now(); the
 * default reads CLOCK_REALTIME. A test supplies its own function to step
 * time by hand (the habit of KVS's PIC). All times are nanoseconds.
 */
#ifndef FL_COMMON_CLOCK_H
#define FL_COMMON_CLOCK_H

#include <stdint.h>

typedef struct {
    int64_t (*now_ns)(void *data); /* wall-clock time, ns since the epoch */
    void *data;                    /* the user's */
} fl_clock_t;

/* Wall-clock ns since the epoch (CLOCK_REALTIME). */
int64_t fl_time_real_ns(void);
/* Monotonic ns (CLOCK_MONOTONIC), for intervals and timeouts. */
int64_t fl_time_mono_ns(void);

/* The real clock: now_ns reads CLOCK_REALTIME. */
fl_clock_t fl_clock_real(void);

static inline int64_t fl_clock_now(const fl_clock_t *c)
{
    return c && c->now_ns ? c->now_ns(c->data) : fl_time_real_ns();
}

#endif
