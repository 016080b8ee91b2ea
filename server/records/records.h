/*
 * server/records/records.h — the Kinesis Data Streams API (a feature room),
 * shared by the files of server/records/ only.
 *
 * A data stream is a storage log named "d/<StreamName>" with N shards
 * (storage splits the 128-bit hash-key space among them; MD5 of a
 * partition key picks one). The protocol is JSON 1.1 at `POST /` with
 * `X-Amz-Target: Kinesis_20131202.<Operation>`; errors carry `__type`.
 * docs/records.md is the user's page.
 *
 *   records.c     the module: routes, the streams in use, shared helpers
 *   api_admin.c   CreateStream, DeleteStream, DescribeStream(Summary),
 *                 ListStreams, ListShards, retention
 *   api_data.c    PutRecord(s), GetShardIterator, GetRecords
 *
 * Names: ShardId is "shardId-" and the storage shard id in 12 digits;
 * SequenceNumber is storage's sequence number in decimal (it only grows
 * within a shard, across restarts too); the ARN is
 * arn:aws:kinesis:<region>:<account>:stream/<name>.
 *
 * Loop thread only, but for what runs on workers (said where it does).
 */
#ifndef FL_SERVER_RECORDS_RECORDS_H
#define FL_SERVER_RECORDS_RECORDS_H

#include <pthread.h>
#include <stdint.h>

#include "server/core/http.h"
#include "server/core/module.h"
#include "server/core/server.h"
#include "storage/log.h"

#define FL_RECORDS_NAME_MAX     128 /* StreamName */
#define FL_RECORDS_MAX_RECORD   (1u << 20)
#define FL_RECORDS_MAX_PUT      500 /* records in one PutRecords */
#define FL_RECORDS_MAX_PUT_SIZE (5u << 20)
#define FL_RECORDS_MAX_SHARDS   1024 /* at creation */
#define FL_RECORDS_ITERATOR_MS  (5 * 60 * 1000)
#define FL_RECORDS_GET_LIMIT    10000
#define FL_RECORDS_GET_BYTES    (10u << 20)

/* A data stream in use (a request or a job holds it): DeleteStream waits
 * for none. */
typedef struct fl_rec_use {
    struct fl_rec_use *next;
    uint64_t log_id;
    int users;
} fl_rec_use_t;

typedef struct fl_records {
    struct fl_server *srv;
    pthread_mutex_t in_use_mu; /* the loops share in_use */
    fl_rec_use_t *in_use;
    /* metrics (every loop bumps them) */
    _Atomic uint64_t records_in, bytes_in, records_out, bytes_out;
} fl_records_t;

extern const fl_module_t fl_records_module;

/* A data stream got for one call: resolved from StreamName or StreamARN,
 * the access check passed, its log held in use until fl_rec_put. */
typedef struct {
    fl_records_t *rs;
    char name[FL_RECORDS_NAME_MAX + 1];
    char arn[FL_RECORDS_NAME_MAX + 256];
    fl_log_t *log;
    fl_log_info_t info;
    int held;
} fl_rec_stream_t;

/* StreamName/StreamARN of the request's body, for action
 * ("kinesis:PutRecord"). Responds with the error and returns -1. */
int fl_rec_get(fl_http_req_t *r, fl_rec_stream_t *st);
/* The same for a stream named directly (iterators). */
int fl_rec_get_named(fl_http_req_t *r, const char *name, fl_rec_stream_t *st);
void fl_rec_put(fl_rec_stream_t *st);
/* The access check for a call that names a data stream not held (name;
 * CreateStream) or none (NULL: ListStreams, resource "*"). Responds with
 * AccessDeniedException and returns -1 when denied. */
int fl_rec_access(fl_http_req_t *r, const char *name);
/* How many calls hold the data stream with this log id now. */
int fl_rec_in_use(const fl_records_t *rs, uint64_t log_id);

/* The log name of a data stream, and its ARN. */
void fl_rec_log_name(const char *name, char *buf, size_t cap);
void fl_rec_arn(const fl_records_t *rs, const char *name, char *buf, size_t cap);
/* StreamName: 1..128 of [a-zA-Z0-9_.-]. 0 or -1 with why. */
int fl_rec_valid_name(const char *name, const char **why);

/* "shardId-000000000001" <-> 1. */
void fl_rec_shard_id(uint32_t id, char *buf, size_t cap);
int fl_rec_parse_shard_id(const char *s, uint32_t *id);
/* A 128-bit big-endian number in decimal (at most 39 digits + NUL). */
void fl_rec_u128_dec(const uint8_t v[16], char buf[40]);
/* Decimal (0 .. 2^128-1) into 16 big-endian bytes: 0 or -1. */
int fl_rec_u128_parse(const char *s, uint8_t out[16]);
/* Epoch seconds with milliseconds, as AWS's JSON sends timestamps. */
void fl_rec_put_time(fl_buf_t *b, int64_t ns);

/* Answer with a JSON 1.1 body (the request's route has FL_ROUTE_JSON11). */
void fl_rec_respond(fl_http_req_t *r, fl_buf_t *body);

/* Handlers. */
void fl_rec_create_stream(fl_http_req_t *r);
void fl_rec_delete_stream(fl_http_req_t *r);
void fl_rec_describe_stream(fl_http_req_t *r);
void fl_rec_describe_stream_summary(fl_http_req_t *r);
void fl_rec_list_streams(fl_http_req_t *r);
void fl_rec_list_shards(fl_http_req_t *r);
void fl_rec_increase_retention(fl_http_req_t *r);
void fl_rec_decrease_retention(fl_http_req_t *r);
void fl_rec_put_record(fl_http_req_t *r);
void fl_rec_put_records(fl_http_req_t *r);
void fl_rec_get_shard_iterator(fl_http_req_t *r);
void fl_rec_get_records(fl_http_req_t *r);

#endif
