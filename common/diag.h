/*
 * common/diag.h — one log line per event, with time and level.
 *
 * Lines go to stderr as
 *     2026-11-23T23:59:59.123Z INFO  listening on http://127.0.0.1:8080
 * written with a single write(2) so that lines from several threads never
 * interleave. The level threshold is the process's one piece of logging
 * state: set once at start (fl_diag_set_level) and read atomically after.
 */
#ifndef FL_COMMON_DIAG_H
#define FL_COMMON_DIAG_H

typedef enum {
    FL_DIAG_DEBUG = 0,
    FL_DIAG_INFO = 1,
    FL_DIAG_WARN = 2,
    FL_DIAG_ERROR = 3,
    FL_DIAG_OFF = 4
} fl_diag_level_t;

void fl_diag_set_level(fl_diag_level_t level);
fl_diag_level_t fl_diag_get_level(void);
/* Parse "debug", "info", "warn", "error" or "off"; 0 or FL_EINVAL. */
int fl_diag_level_parse(const char *s, fl_diag_level_t *out);
const char *fl_diag_level_name(fl_diag_level_t level);

void fl_diag(fl_diag_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fl_debug(...) fl_diag(FL_DIAG_DEBUG, __VA_ARGS__)
#define fl_info(...)  fl_diag(FL_DIAG_INFO, __VA_ARGS__)
#define fl_warn(...)  fl_diag(FL_DIAG_WARN, __VA_ARGS__)
#define fl_error(...) fl_diag(FL_DIAG_ERROR, __VA_ARGS__)

#endif
