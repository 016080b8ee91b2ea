/*
 * common/clock.c — see clock.h.
 */
#include "common/clock.h"

#include <time.h>

static int64_t ts_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t fl_time_real_ns(void)
{
    return ts_ns(CLOCK_REALTIME);
}

int64_t fl_time_mono_ns(void)
{
    return ts_ns(CLOCK_MONOTONIC);
}

static int64_t real_now(void *data)
{
    (void)data;
    return fl_time_real_ns();
}

fl_clock_t fl_clock_real(void)
{
    fl_clock_t c = {real_now, NULL};
    return c;
}
