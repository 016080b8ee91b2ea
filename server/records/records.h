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
 *   api_shards.c  SplitShard, MergeShards, UpdateShardCount
 *   api_tags.c    tags, Start/StopStreamEncryption, DescribeLimits
 *   throttle.c    per-shard rates, per-stream counters
 *   api_consumers.c  Register/Describe/List/DeregisterStreamConsumer
 *   subscribe.c   SubscribeToShard: the event stream (enhanced fan-out)
 *
 * Names: ShardId is "shardId-" and the storage shard id in 12 digits;
 * SequenceNumber is storage's sequence number in decimal (it only grows
 * within a shard, across restarts too); the ARN is
 * arn:aws:kinesis:<region>:<account>:stream/<name>.
 *
 * A call runs on its connection's loop, and the loops share the module
 * state: in_use under in_use_mu, the rates and per-stream counters under
 * throttle_mu (throttle.c), the totals atomic. Work on workers is said
 * where it runs.
 */
#ifndef FL_SERVER_RECORDS_RECORDS_H
#define FL_SERVER_RECORDS_RECORDS_H

#include <pthread.h>
#include <stdint.h>

#include "common/json.h"
#include "server/core/http.h"
#include "server/core/module.h"
#include "server/core/server.h"
#include "storage/log.h"

#define FL_RECORDS_NAME_MAX     128 /* StreamName */
#define FL_RECORDS_ITER_KEY_MAX 128 /* the access key an iterator carries */
#define FL_RECORDS_MAX_RECORD   (1u << 20)
#define FL_RECORDS_MAX_PUT      500 /* records in one PutRecords */
#define FL_RECORDS_MAX_PUT_SIZE (5u << 20)
#define FL_RECORDS_MAX_SHARDS   1024 /* at creation */
#define FL_RECORDS_ITERATOR_MS  (5 * 60 * 1000)
#define FL_RECORDS_GET_LIMIT    10000
#define FL_RECORDS_GET_BYTES    (10u << 20)
/* DescribeLimits' figures, enforced: open shards over all data streams,
 * and on-demand streams. */
#define FL_RECORDS_SHARD_LIMIT     4096
#define FL_RECORDS_ON_DEMAND_LIMIT 50
/* Kinesis' rates per shard (throttle.c): in, bytes and records a second;
 * out, GetRecords calls and bytes a second. */
#define FL_RECORDS_IN_BYTES_S   (1 << 20)
#define FL_RECORDS_IN_RECORDS_S 1000
#define FL_RECORDS_GETS_S       5
#define FL_RECORDS_OUT_BYTES_S  (2 << 20)
/* Tags: per stream, per AddTagsToStream (AWS's), per RemoveTagsFromStream
 * and ListTagsForStream page; key and value bytes. */
#define FL_RECORDS_MAX_TAGS      50
#define FL_RECORDS_MAX_TAGS_CALL 200
#define FL_RECORDS_MAX_TAG_KEYS  50
#define FL_RECORDS_TAG_KEY_MAX   128
#define FL_RECORDS_TAG_VALUE_MAX 256
/* Enhanced fan-out (AWS's figures): consumers per stream; a subscription
 * lasts 5 minutes; the same consumer and shard again within 5 s of the
 * last start is ResourceInUseException, later it takes the running one over
 * (which ends with ResourceInUseException). A subscription sends at most
 * FL_RECORDS_SUB_OUT_BYTES_S of data a second (unless --records-throttle
 * 0). An idle subscription gets an empty event every
 * FL_RECORDS_SUB_HEARTBEAT_MS; one event holds at most
 * FL_RECORDS_SUB_EVENT_BYTES of data; a subscriber's unsent events are
 * held up to FL_RECORDS_SUB_BACKLOG bytes (no read past it). */
#define FL_RECORDS_MAX_CONSUMERS     20
#define FL_RECORDS_CONSUMER_NAME_MAX 128
#define FL_RECORDS_SUB_MS            (5 * 60 * 1000)
#define FL_RECORDS_SUB_AGAIN_MS      5000
#define FL_RECORDS_SUB_HEARTBEAT_MS  5000
#define FL_RECORDS_SUB_EVENT_BYTES   (1u << 20)
#define FL_RECORDS_SUB_EVENT_RECORDS 10000
#define FL_RECORDS_SUB_BACKLOG       (4u << 20)
#define FL_RECORDS_SUB_OUT_BYTES_S   (2 << 20)

/* A data stream in use (a request or a job holds it): DeleteStream waits
 * for none. */
typedef struct fl_rec_use {
    struct fl_rec_use *next;
    uint64_t log_id;
    int users;
    int updating; /* a reshard is running (UPDATING; others wait) */
    int deleting; /* DeleteStream runs: no new call gets the stream */
} fl_rec_use_t;

/* A shard's token buckets (throttle.c). */
typedef struct fl_rec_bucket fl_rec_bucket_t;

/* A data stream's series in /metrics. */
typedef struct fl_rec_counters {
    struct fl_rec_counters *next;
    char name[FL_RECORDS_NAME_MAX + 1];
    _Atomic uint64_t records_in, bytes_in, records_out, bytes_out, throttled;
    _Atomic int64_t iterator_age_ms; /* MillisBehindLatest of the last GetRecords */
} fl_rec_counters_t;

/* GetRecords' read-ahead: the next read of a catch-up reader, made while
 * its last answer goes out (api_data.c). */
struct fl_rec_ahead;
#define FL_REC_AHEAD_SLOTS 4

typedef struct fl_records {
    struct fl_server *srv;
    pthread_mutex_t in_use_mu; /* the loops share in_use */
    fl_rec_use_t *in_use;
    int throttle; /* --records-throttle */
    /* the loops share the buckets and the counters: under throttle_mu */
    pthread_mutex_t throttle_mu;
    fl_rec_bucket_t **buckets;
    fl_rec_counters_t *counters;
    fl_rec_counters_t *dropped; /* of deleted streams: freed at the end (a
                                   loop may still hold one) */
    /* metrics (every loop bumps them) */
    _Atomic uint64_t records_in, bytes_in, records_out, bytes_out;
    _Atomic uint64_t throttled_put, throttled_get;
    /* enhanced fan-out: consumers change under consumers_mu (on workers);
     * subscriptions live on their loop, in subs[loop] (that loop's thread
     * only), counted in n_subs[loop] for the waking side; recent holds the
     * starts of the last 5 s (the again rule), under sub_mu */
    pthread_mutex_t consumers_mu;
    pthread_mutex_t sub_mu;
    struct fl_rec_sub **subs;
    _Atomic int *n_subs;
    int n_loops;
    struct fl_rec_sub_start *recent;
    _Atomic uint64_t subs_started, subs_refused, sub_events, sub_records, sub_bytes;
    _Atomic uint64_t subs_ended, sub_throttled, sub_ids;
    _Atomic int64_t subs_active;
    /* GetRecords' reads ahead (workers and loops): under ahead_mu, which
     * ahead_cv goes with (a read ahead finished) */
    pthread_mutex_t ahead_mu;
    pthread_cond_t ahead_cv;
    struct fl_rec_ahead *ahead[FL_REC_AHEAD_SLOTS];
    _Atomic uint64_t ahead_used, ahead_dropped;
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
/* Drop the reads ahead past their time (the module's tick); free those
 * left at the end (api_data.c). */
void fl_rec_ahead_tick(fl_records_t *rs);
void fl_rec_ahead_fini(fl_records_t *rs);
/* The access check for a call that names a data stream not held (name;
 * CreateStream) or none (NULL: ListStreams, resource "*"). Responds with
 * AccessDeniedException and returns -1 when denied. */
int fl_rec_access(fl_http_req_t *r, const char *name);
/* How many calls hold the data stream with this log id now. */
int fl_rec_in_use(const fl_records_t *rs, uint64_t log_id);
/* DeleteStream holds st and no other call does: from now on no call gets
 * the stream (ResourceNotFoundException), so the delete removes the
 * incarnation that was checked. 0, or -1 when others hold it. */
int fl_rec_begin_delete(fl_rec_stream_t *st);
/* Is a reshard (SplitShard, MergeShards, UpdateShardCount) running on the
 * held stream? Begin one: responds ResourceInUseException and returns -1
 * while another runs. End it (the job's after hook). */
int fl_rec_updating(const fl_rec_stream_t *st);
int fl_rec_begin_update(fl_http_req_t *r, fl_rec_stream_t *st);
void fl_rec_end_update(fl_rec_stream_t *st);

/* The rates (throttle.c): a record of bytes into the shard, a GetRecords
 * call on it: 0, or -1 when over its rate (counted; nothing consumed).
 * out: the bytes a GetRecords returned. tick drops idle buckets. */
int fl_rec_throttle_put(fl_records_t *rs, uint64_t log_id, uint32_t shard, size_t bytes);
/* A record metered on shard from goes to shard to instead (a reshard
 * closed from between the lookup and the append): from gets its share
 * back, to is charged; -1 (to charged nothing) when to is over its rate. */
int fl_rec_throttle_move(fl_records_t *rs, uint64_t log_id, uint32_t from, uint32_t to,
                         size_t bytes);
int fl_rec_throttle_get(fl_records_t *rs, uint64_t log_id, uint32_t shard);
void fl_rec_throttle_out(fl_records_t *rs, uint64_t log_id, uint32_t shard, size_t bytes);
void fl_rec_throttle_tick(fl_records_t *rs);
void fl_rec_throttle_free(fl_records_t *rs);
/* The stream's counters (made on first use; NULL when out of memory), and
 * their end with the stream. */
fl_rec_counters_t *fl_rec_counters(fl_records_t *rs, const char *name);
void fl_rec_counters_drop(fl_records_t *rs, const char *name);

/* Open shards over all data streams, and how many are ON_DEMAND (on a
 * worker: it opens each). */
int fl_rec_count_shards(fl_store_t *store, uint32_t *open_out, uint32_t *on_demand_out);
/* Held around a check of the account's shard limit and the change that adds
 * shards (CreateStream, SplitShard, UpdateShardCount), on workers: two
 * streams at once cannot both pass the check. */
void fl_rec_shard_limit_lock(void);
void fl_rec_shard_limit_unlock(void);

/* Tags of a request (CreateStream's and AddTagsToStream's Tags map),
 * checked as AWS does; free with fl_rec_tags_free. Responds and returns
 * -1 on bad input. */
typedef struct {
    char **keys;
    char **values;
    size_t n;
} fl_rec_tags_t;
int fl_rec_tags_parse(fl_http_req_t *r, const fl_json_t *map, fl_rec_tags_t *out);
void fl_rec_tags_free(fl_rec_tags_t *t);

/* A call that runs on a worker (what changes or reads the catalog waits
 * for its fsync or behind another call's commit). work() runs there: it
 * sets rc (an FL_E* code, mapped to AWS's error by the answer), or names
 * the error itself with err_type and msg, and fills out. On the loop,
 * after() (may be NULL) runs, then the answer: the error, out as a JSON
 * 1.1 body, or {} when out is empty; st, when held, is given back last.
 * after() also runs when work() never did (the pool refused the job): it
 * frees what the job holds, and acts on what work() did only if its own
 * job says work() did it.
 * A bigger struct starts with one and passes its size. */
typedef struct fl_rec_job fl_rec_job_t;
struct fl_rec_job {
    fl_http_async_t a; /* first */
    fl_records_t *rs;
    fl_store_t *store;
    fl_rec_stream_t st;
    char name[FL_RECORDS_NAME_MAX + 1]; /* the stream, for messages */
    void (*work)(fl_rec_job_t *j);
    void (*after)(fl_rec_job_t *j);
    int rc;
    const char *err_type;
    char msg[256];
    fl_buf_t out;
};
/* NULL (having answered) when out of memory. */
fl_rec_job_t *fl_rec_job_new(fl_http_req_t *r, size_t size, void (*work)(fl_rec_job_t *j));
/* Hand j to a worker. When the pool is full it answers, puts j->st and
 * frees j. */
void fl_rec_job_submit(fl_http_req_t *r, fl_rec_job_t *j);
/* work() names its error: err_type and a printf message. */
void fl_rec_job_fail(fl_rec_job_t *j, const char *err_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/* Answer with a JSON 1.1 body (the request's route has FL_ROUTE_JSON11).
 * The answer takes body's bytes without copying them (body is left empty)
 * unless it goes out in CBOR. */
void fl_rec_respond(fl_http_req_t *r, fl_buf_t *body);
/* Answer 200 with body taken as it is (no copy; body is left empty). */
void fl_rec_respond_take(fl_http_req_t *r, const char *content_type, fl_buf_t *body);

/* One record as GetRecords and SubscribeToShard list it (JSON object). */
void fl_rec_record_json(fl_buf_t *b, const fl_log_record_t *rec);
/* ChildShards' members: the shards of sh[0..n) whose parent is shard. */
void fl_rec_children_json(fl_buf_t *b, const fl_log_shard_info_t *sh, size_t n, uint32_t shard);
/* Decimal sequence number into 64 bits: 0 or -1. */
int fl_rec_parse_seq(const char *s, uint64_t *out);

/* A registered consumer (kept in the stream's catalog attributes
 * "consumer.NN", NN its slot: "<creation epoch s> <name>", "" when free). */
typedef struct {
    char name[FL_RECORDS_CONSUMER_NAME_MAX + 1];
    int64_t created_s;
    int slot;
} fl_rec_consumer_t;
/* The consumers of log, in slot order (on a worker). */
int fl_rec_consumers_load(fl_log_t *log, fl_rec_consumer_t out[FL_RECORDS_MAX_CONSUMERS],
                          size_t *n_out);
void fl_rec_consumer_arn(const fl_records_t *rs, const char *stream, const fl_rec_consumer_t *c,
                         char *buf, size_t cap);
/* arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CNAME:EPOCH of this
 * server's region and account: 0 with its parts, or -1. */
int fl_rec_parse_consumer_arn(const fl_records_t *rs, const char *arn, char *stream, size_t scap,
                              char *consumer, size_t ccap, int64_t *epoch);
/* A partition key's 128-bit hash key: MD5 of its bytes, big-endian (as
 * Kinesis and storage map keys to shards; without libcrypto's per-call
 * algorithm lookup). */
void fl_rec_partition_hash(fl_slice_t key, uint8_t out[16]);
/* The same for n keys at once (PutRecords' 500): keys of at most
 * FL_REC_HASH_ONE_BLOCK bytes (one MD5 block) go 8 at a time through AVX2
 * where the CPU has it, the others one by one; out[i] is keys[i]'s. */
#define FL_REC_HASH_ONE_BLOCK 55
void fl_rec_partition_hash_many(const fl_slice_t *keys, size_t n, uint8_t (*out)[16]);
/* Records durable in the stream with this log id: wake its subscribers
 * (any loop). */
void fl_rec_sub_wake(fl_records_t *rs, uint64_t log_id);
/* Subscriptions to end with an exception event (any loop): the one with
 * sub_id on loop, or when sub_id is 0, those of the stream with log_id and,
 * when consumer is not empty, of that consumer (name and epoch). */
typedef struct {
    uint64_t sub_id;
    int loop;
    uint64_t log_id;
    char consumer[FL_RECORDS_CONSUMER_NAME_MAX + 1];
    int64_t epoch;
    const char *type; /* a static string: the exception's type */
    char msg[FL_RECORDS_NAME_MAX + FL_RECORDS_CONSUMER_NAME_MAX + 160];
} fl_rec_sub_end_t;
void fl_rec_sub_end(fl_records_t *rs, const fl_rec_sub_end_t *e);
/* Module life of the subscriptions: init and fini. */
int fl_rec_sub_init(fl_records_t *rs);
void fl_rec_sub_fini(fl_records_t *rs);

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
void fl_rec_split_shard(fl_http_req_t *r);
void fl_rec_merge_shards(fl_http_req_t *r);
void fl_rec_update_shard_count(fl_http_req_t *r);
void fl_rec_add_tags(fl_http_req_t *r);
void fl_rec_remove_tags(fl_http_req_t *r);
void fl_rec_list_tags(fl_http_req_t *r);
void fl_rec_start_encryption(fl_http_req_t *r);
void fl_rec_stop_encryption(fl_http_req_t *r);
void fl_rec_describe_limits(fl_http_req_t *r);
void fl_rec_register_consumer(fl_http_req_t *r);
void fl_rec_describe_consumer(fl_http_req_t *r);
void fl_rec_list_consumers(fl_http_req_t *r);
void fl_rec_deregister_consumer(fl_http_req_t *r);
void fl_rec_subscribe_to_shard(fl_http_req_t *r);

#endif
