/*
 * common/diag.c — see diag.h.
 */
#include "common/diag.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"

/* The threshold: written once at start, read by every thread. */
static _Atomic int fl_diag_threshold = FL_DIAG_INFO;

static const char *const fl_level_names[] = {"debug", "info", "warn", "error", "off"};
static const char *const fl_level_tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};

void fl_diag_set_level(fl_diag_level_t level)
{
    atomic_store(&fl_diag_threshold, (int)level);
}

fl_diag_level_t fl_diag_get_level(void)
{
    return (fl_diag_level_t)atomic_load(&fl_diag_threshold);
}

int fl_diag_level_parse(const char *s, fl_diag_level_t *out)
{
    for (int i = 0; i <= FL_DIAG_OFF; i++) {
        if (strcmp(s, fl_level_names[i]) == 0) {
            *out = (fl_diag_level_t)i;
            return 0;
        }
    }
    return FL_EINVAL;
}

const char *fl_diag_level_name(fl_diag_level_t level)
{
    if ((int)level < 0 || level > FL_DIAG_OFF)
        return "?";
    return fl_level_names[level];
}

void fl_diag(fl_diag_level_t level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&fl_diag_threshold) || level >= FL_DIAG_OFF)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, fl_level_tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: still one line */
    /* one event, one line: flatten embedded newlines */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
