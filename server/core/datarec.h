/*
 * server/core/datarec.h — records of data streams, the seam the features
 * that append them and the features that watch them share without knowing
 * each other (the Kinesis Data Streams API in records/ appends what
 * clients put; hooks/ appends its plugins' results and tells them of every
 * record appended).
 *
 * A data stream is a storage log named "d/<StreamName>" (docs/records.md);
 * its records carry a partition key and the data, stamped with a producer
 * time on the timeline data streams share with video fragments. Whoever
 * appends a record does it through fl_datarec_append, which tells every
 * observer once storage has taken the record (before it is durable: it
 * becomes durable shortly after, or the appender's completion says why
 * not).
 *
 * Threads: observers are registered at start (a module's init) and the
 * list is read-only after. fl_datarec_append may be called from any
 * thread; observers run on the appending thread, so they must be
 * thread-safe and must not block.
 */
#ifndef FL_SERVER_CORE_DATAREC_H
#define FL_SERVER_CORE_DATAREC_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "storage/log.h"

struct fl_server;
struct fl_completion;

#define FL_DATAREC_MAX_OBSERVERS 4

/* One record appended. */
typedef struct {
    const char *stream; /* the data stream's name (without "d/") */
    uint32_t shard;
    uint64_t seq;
    fl_slice_t key;
    fl_slice_t data;
    int64_t producer_ns;
} fl_datarec_t;

typedef void (*fl_datarec_observer_fn)(void *data, const fl_datarec_t *rec);

typedef struct {
    fl_datarec_observer_fn fn[FL_DATAREC_MAX_OBSERVERS];
    void *data[FL_DATAREC_MAX_OBSERVERS];
    int n;
} fl_datarec_observers_t;

/* The storage log name of data stream `stream`: "d/<stream>". */
void fl_datarec_log_name(const char *stream, char *buf, size_t cap);

/* Watch every record appended from now on (at start only). FL_ELIMIT past
 * FL_DATAREC_MAX_OBSERVERS. */
int fl_datarec_observe(struct fl_server *s, fl_datarec_observer_fn fn, void *data);

/* Stop watching (a module's fini; no append runs at the same time). */
void fl_datarec_unobserve(struct fl_server *s, fl_datarec_observer_fn fn, void *data);

/* Append a record to shard `shard` of data stream `stream` (log, a handle
 * of its log) and tell the observers. `done` (may be NULL) gets the
 * storage completion on the loop. Returns fl_log_append's code, with
 * *seq_out set on success. */
int fl_datarec_append(const struct fl_server *s, fl_log_t *log, const char *stream, uint32_t shard,
                      fl_slice_t key, fl_slice_t data, int64_t producer_ns,
                      struct fl_completion *done, uint64_t *seq_out);

/* The same without storage copying the data (fl_log_append_nocopy): the
 * bytes stay the caller's, valid and unchanged until release(arg), which
 * storage calls once for a 0 return, from its writer thread; on an error
 * return release is not called. */
int fl_datarec_append_nocopy(const struct fl_server *s, fl_log_t *log, const char *stream,
                             uint32_t shard, fl_slice_t key, fl_slice_t data, int64_t producer_ns,
                             void (*release)(void *arg), void *arg, struct fl_completion *done,
                             uint64_t *seq_out);

#endif
