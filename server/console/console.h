/*
 * server/console/console.h — the web console's room: the console's static
 * files, served by framelogd itself under /console/ (with `/` redirecting
 * there), and the one read-only JSON call the console needs that no AWS
 * API answers (ListStreamStatus). docs/console.md.
 *
 *   console.c  the module: routes, the redirect, serving the files
 *   files.c    the console's files, read once at start into memory
 *   status.c   POST /framelog/listStreamStatus
 *
 * Invariants: a request never touches the disk for a static file (the
 * files are read at start, bounded by FL_CONSOLE_MAX_FILES and
 * FL_CONSOLE_MAX_BYTES; a request can only name a file of that table, so
 * no path reaches outside the console's folder); the console is optional:
 * without its files framelogd runs and /console/ says where it looked.
 */
#ifndef FL_SERVER_CONSOLE_CONSOLE_H
#define FL_SERVER_CONSOLE_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/http.h"
#include "server/core/module.h"

/* Limits of the console's folder as loaded at start. */
#define FL_CONSOLE_MAX_FILES 256
#define FL_CONSOLE_MAX_BYTES (32u << 20) /* all files together */
#define FL_CONSOLE_MAX_NAME  200         /* a file's path inside the folder */

/* One file of the console, in memory. */
typedef struct {
    char name[FL_CONSOLE_MAX_NAME +
              1]; /* relative: "index.html", "vendor/hls.js-1.7.4/hls.min.js" */
    uint8_t *bytes;
    size_t n;
    const char *content_type;
    char etag[24]; /* "\"<16 hex digits>\"": FNV-1a 64 of the bytes */
    int immutable; /* under vendor/ (versioned names): cached for a year */
} fl_console_file_t;

typedef struct {
    fl_console_file_t *files; /* sorted by name */
    size_t n;
    char dir[4096]; /* where they came from ("" when none was found) */
} fl_console_files_t;

/* Read every regular file under dir (not those whose name starts with a
 * dot) into f. 0, or a negative code with a one-line reason in err (a
 * missing folder is FL_ENOTFOUND; past the limits, FL_ELIMIT). */
int fl_console_files_load(fl_console_files_t *f, const char *dir, char *err, size_t errlen);
void fl_console_files_free(fl_console_files_t *f);
/* The file called name (relative), or NULL. */
const fl_console_file_t *fl_console_files_find(const fl_console_files_t *f, const char *name);
/* The Content-Type of a file name, by its extension. */
const char *fl_console_content_type(const char *name);

/* The module's state. Read-only after init. */
typedef struct fl_console {
    struct fl_server *srv;
    fl_console_files_t files;
    char looked[4200]; /* where the files were looked for, for the 404 */
} fl_console_t;

extern const fl_module_t fl_console_module;

/* POST /framelog/listStreamStatus (status.c). */
void fl_console_list_stream_status(fl_http_req_t *r);

#endif
