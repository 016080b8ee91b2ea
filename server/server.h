/*
 * server/server.h — framelogd's server: listeners, the event loop, and
 * orderly shutdown.
 *
 * fl_server_new() binds every listener (or fails with a one-line reason);
 * fl_server_run() serves until SIGINT/SIGTERM (taken through a signalfd on
 * the loop, so no work happens in a signal handler) or fl_server_stop();
 * fl_server_free() closes every connection.
 */
#ifndef FL_SERVER_SERVER_H
#define FL_SERVER_SERVER_H

#include <stddef.h>

#include "server/config.h"

typedef struct fl_server fl_server_t;

/* Check the configuration, prepare the data dir and bind every listener.
 * On failure returns a negative code and a one-line reason in err. */
int fl_server_new(const fl_config_t *cfg, fl_server_t **out, char *err, size_t errlen);
/* Serve until a stop signal. Returns 0 after a clean stop. */
int fl_server_run(fl_server_t *s);
/* Ask the loop to stop (thread-safe). */
void fl_server_stop(fl_server_t *s);
void fl_server_free(fl_server_t *s);

/* Block SIGINT, SIGTERM (taken by the loop's signalfd) and ignore SIGPIPE in
 * the calling thread; call before any thread starts so all inherit it. */
int fl_server_prepare_signals(void);

#endif
