/*
 * server/records/api_data.c — records in and out: PutRecord, PutRecords,
 * GetShardIterator, GetRecords.
 *
 * A put is acknowledged only once storage says the record is durable (the
 * group commit's fdatasync), like a video fragment: the request waits,
 * parked (fl_http_await), for the append's completion, which storage sends
 * to the loop. A put's records are parsed on the loop in one pass: their
 * data decoded into one buffer for the call (no allocation per record),
 * then the partition keys' MD5s, 8 at a time (fl_rec_partition_hash_many),
 * looked up in the stream's open shards loaded once for the call (no
 * store lock per record). Storage does not copy the data (fl_datarec_append_nocopy): the
 * call's buffer is shared by its records, counted (put_data_t), and freed
 * by the last release, on storage's writer thread once every record is
 * written, or by the call when nothing was appended.
 *
 * A shard iterator is a sealed token (core/token.h) that holds the whole
 * position, so the server keeps nothing per iterator:
 *
 *   0  1  from (0: at sequence number, 1: at server time)
 *   1  4  shard id, big-endian
 *   5  8  sequence number, or server time in ns, big-endian
 *   13 8  the stream's creation time in ns (one incarnation of the name)
 *   21 1  name length n
 *   22 n  StreamName
 *
 * Reads run on the worker pool (they pread and decrypt). GetRecords turns
 * each chunk's records into its JSON as storage hands them over
 * (fl_log_read_each), and reads ahead for a catch-up reader while its
 * answer goes out ("GetRecords' read-ahead" below).
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/base64.h"
#include "common/cbor.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "server/core/datarec.h"
#include "server/core/token.h"
#include "server/core/workers.h"
#include "server/records/records.h"

#define FROM_SEQ 0
#define FROM_TS  1
/* a record over its shard's rate (never an append's own answer) */
#define THROTTLED FL_EBUSY
/* appends retried when a reshard closed the shard under them */
#define RESHARD_RETRIES 4

static int64_t wall_ms(void)
{
    return fl_time_real_ns() / 1000000;
}

/* Answers of 500 or 10,000 records are built without printf: a literal,
 * and a number in decimal. */
#define LIT(b, s) fl_buf_append((b), (s), sizeof(s) - 1)

/* v in decimal at p (room for 20): the digits written. Two digits a step
 * (sequence numbers have 19 or 20: the store's epoch is in their high
 * bits). */
static size_t dec_u64(char *p, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    char t[20];
    size_t i = sizeof t;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        t[--i] = pairs[d + 1];
        t[--i] = pairs[d];
    }
    if (v >= 10) {
        t[--i] = pairs[v * 2 + 1];
        t[--i] = pairs[v * 2];
    } else {
        t[--i] = (char)('0' + v);
    }
    memcpy(p, t + i, sizeof t - i);
    return sizeof t - i;
}

static void put_u64(fl_buf_t *b, uint64_t v)
{
    char t[20];
    fl_buf_append(b, t, dec_u64(t, v));
}

/* ---- puts ---- */

typedef struct put_job put_job_t;

/* One record's append: its completion finds the job. */
typedef struct {
    fl_completion_t base; /* first */
    put_job_t *job;
    uint32_t shard;
    uint64_t seq;
    int status; /* the append's or the completion's */
    size_t data_len;
} put_one_t;

struct put_job {
    fl_http_async_t a; /* first */
    fl_rec_stream_t st;
    int many; /* PutRecords (else PutRecord) */
    size_t n, pending;
    put_one_t one[];
};

/* "ShardId":"shardId-000000000001" (fl_rec_shard_id's form: 12 digits) */
static void put_json_shard(fl_buf_t *b, uint32_t shard)
{
    char t[] = "\"ShardId\":\"shardId-000000000000\"";
    for (size_t i = sizeof t - 3; shard; i--, shard /= 10)
        t[i] = (char)('0' + shard % 10);
    LIT(b, t);
}

/* A record refused for throughput: 1 with AWS's message in why (the
 * shard's rate, or storage's full queue), else 0. */
static int throttle_message(const put_job_t *j, const put_one_t *o, char *why, size_t cap)
{
    char id[32];
    fl_rec_shard_id(o->shard, id, sizeof id);
    if (o->status == THROTTLED)
        snprintf(why, cap, "Rate exceeded for shard %s in stream %s under account %s.", id,
                 j->st.name, fl_server_config(j->st.rs->srv)->account_id);
    else if (o->status == FL_EAGAIN)
        snprintf(why, cap, "Rate exceeded: storage's queue is full; retry");
    else
        return 0;
    return 1;
}

static void put_done(fl_http_async_t *a, fl_http_req_t *r)
{
    put_job_t *j = (put_job_t *)a;
    fl_records_t *rs = j->st.rs;
    fl_rec_counters_t *c = fl_rec_counters(rs, j->st.name);
    int stored = 0;
    for (size_t i = 0; i < j->n; i++) {
        if (!j->one[i].status) {
            stored = 1;
            rs->records_in++;
            rs->bytes_in += j->one[i].data_len;
            if (c) {
                c->records_in++;
                c->bytes_in += j->one[i].data_len;
            }
        } else if (j->one[i].status == THROTTLED && c) {
            c->throttled++;
        }
    }
    if (stored) /* durable now: SubscribeToShard's readers of the stream */
        fl_rec_sub_wake(rs, j->st.info.id);
    if (r) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        if (!j->many) {
            put_one_t *o = &j->one[0];
            char why[FL_RECORDS_NAME_MAX + 160];
            if (throttle_message(j, o, why, sizeof why)) {
                fl_http_respond_error(r, 400, "ProvisionedThroughputExceededException", "%s", why);
            } else if (o->status) {
                fl_http_respond_error(r, 500, "InternalFailureException",
                                      "the record was not stored: %s", fl_strerror(o->status));
            } else {
                fl_buf_u8(&b, '{');
                put_json_shard(&b, o->shard);
                fl_buf_printf(&b, ",\"SequenceNumber\":\"%" PRIu64 "\",\"EncryptionType\":\"KMS\"}",
                              o->seq);
                fl_rec_respond(r, &b);
            }
        } else {
            size_t failed = 0;
            for (size_t i = 0; i < j->n; i++)
                failed += j->one[i].status != 0;
            fl_buf_printf(&b, "{\"FailedRecordCount\":%zu,\"EncryptionType\":\"KMS\",\"Records\":[",
                          failed);
            fl_buf_reserve(&b, j->n * 96);
            for (size_t i = 0; i < j->n; i++) {
                put_one_t *o = &j->one[i];
                fl_buf_append_str(&b, i ? ",{" : "{");
                if (!o->status) {
                    put_json_shard(&b, o->shard);
                    LIT(&b, ",\"SequenceNumber\":\"");
                    put_u64(&b, o->seq);
                    LIT(&b, "\"}");
                } else {
                    char why[FL_RECORDS_NAME_MAX + 160];
                    int throttled = throttle_message(j, o, why, sizeof why);
                    fl_buf_printf(&b, "\"ErrorCode\":\"%s\",\"ErrorMessage\":",
                                  throttled ? "ProvisionedThroughputExceededException"
                                            : "InternalFailureException");
                    fl_json_write_string(&b,
                                         fl_slice_str(throttled ? why : fl_strerror(o->status)));
                    fl_buf_u8(&b, '}');
                }
            }
            fl_buf_append_str(&b, "]}");
            fl_rec_respond(r, &b);
        }
        fl_buf_free(&b);
    }
    fl_rec_put(&j->st);
    free(j);
}

/* Storage made one record durable (or failed it). */
static void put_completed(fl_completion_t *c, int status, uint64_t seq)
{
    put_one_t *o = (put_one_t *)c;
    put_job_t *j = o->job;
    o->status = status;
    o->seq = seq;
    if (--j->pending == 0)
        fl_http_await_done(&j->a);
}

/* The open shards of a stream, ordered by hash key, loaded once for one
 * call's records: a record's shard is a binary search, without the store's
 * lock per record. A reshard between the load and an append closes the
 * shard under it: the append answers FL_ECLOSED and the map is loaded
 * again. */
typedef struct {
    fl_log_shard_info_t *sh; /* the open ones, by hash_start */
    size_t n;
} shard_map_t;

static int cmp_hash_start(const void *a, const void *b)
{
    return memcmp(((const fl_log_shard_info_t *)a)->hash_start,
                  ((const fl_log_shard_info_t *)b)->hash_start, 16);
}

static int map_load(fl_log_t *log, shard_map_t *m)
{
    free(m->sh);
    m->sh = NULL;
    m->n = 0;
    size_t n = 0;
    int rc = fl_log_shards(log, &m->sh, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (m->sh[i].open)
            m->sh[m->n++] = m->sh[i];
    qsort(m->sh, m->n, sizeof *m->sh, cmp_hash_start);
    return 0;
}

/* The open shard whose hash-key range holds the 128-bit key. */
static int map_find(const shard_map_t *m, const uint8_t key[16], uint32_t *out)
{
    size_t lo = 0, hi = m->n; /* the last with hash_start <= key is below hi */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(m->sh[mid].hash_start, key, 16) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    if (m->n && memcmp(m->sh[lo].hash_start, key, 16) <= 0 &&
        memcmp(key, m->sh[lo].hash_end, 16) <= 0) {
        *out = m->sh[lo].id;
        return 0;
    }
    return FL_ENOTFOUND;
}

/* A call's decoded data, shared by its records in storage's queue: one
 * reference for the call while it appends, one for each record appended
 * (released by storage's writer thread, or at once when the append fails). */
typedef struct {
    _Atomic size_t refs;
    uint8_t *p;
} put_data_t;

static void put_data_release(void *arg)
{
    put_data_t *d = arg;
    if (atomic_fetch_sub(&d->refs, 1) == 1) {
        free(d->p);
        free(d);
    }
}

/* Append one record whose data is in d. */
static int append_shared(const fl_rec_stream_t *st, put_one_t *o, fl_slice_t key, fl_slice_t rec,
                         int64_t now_ns, put_data_t *d)
{
    atomic_fetch_add(&d->refs, 1);
    int rc = fl_datarec_append_nocopy(st->rs->srv, st->log, st->name, o->shard, key, rec, now_ns,
                                      put_data_release, d, &o->base, &o->seq);
    if (rc)
        put_data_release(d); /* storage did not take it */
    return rc;
}

typedef struct {
    size_t off, len; /* its data in the call's data buffer */
    const char *key;
    size_t key_len;
    uint32_t shard;
    int explicit_key; /* hk is ExplicitHashKey's (else the key's MD5) */
    uint8_t hk[16];   /* the 128-bit hash key: ExplicitHashKey, or MD5 of the
                         partition key (as storage and Kinesis map keys) */
} parsed_t;

/* The open shard for a parsed record. */
static int shard_of(const shard_map_t *m, parsed_t *p)
{
    return map_find(m, p->hk, &p->shard);
}

/* "Records[idx]." for PutRecords' messages (made on an error only), or "". */
static const char *where_of(char buf[48], int many, size_t idx)
{
    if (!many)
        return "";
    snprintf(buf, 48, "Records[%zu].", idx);
    return buf;
}

/* One record's members (Data, PartitionKey, ExplicitHashKey); its data
 * decoded at the end of data. Responds and returns -1 on bad input. */
static int parse_record(fl_http_req_t *r, const fl_json_t *obj, fl_buf_t *data, parsed_t *p,
                        size_t idx, int many)
{
    char where[48];
    const fl_json_t *d = fl_json_get(obj, "Data");
    const fl_json_t *k = fl_json_get(obj, "PartitionKey");
    const fl_json_t *h = fl_json_get(obj, "ExplicitHashKey");
    if (!d || d->type != FL_JSON_STRING) {
        fl_http_respond_error(r, 400, "ValidationException", "%sData is required (base64)",
                              where_of(where, many, idx));
        return -1;
    }
    if (!k || k->type != FL_JSON_STRING || k->len < 1 || k->len > FL_LOG_MAX_KEY ||
        memchr(k->str, 0, k->len)) {
        fl_http_respond_error(r, 400, "ValidationException",
                              "%sPartitionKey must be 1 to 256 characters",
                              where_of(where, many, idx));
        return -1;
    }
    /* 4 characters are 3 bytes, less the padding: over 1 MiB is refused
     * before it is decoded */
    size_t pad = d->len >= 2 && d->str[d->len - 1] == '=' ? 1u + (d->str[d->len - 2] == '=') : 0;
    if (d->len % 4 == 0 && d->len / 4 * 3 - pad > FL_RECORDS_MAX_RECORD) {
        fl_http_respond_error(r, 400, "ValidationException", "%sData is larger than 1 MiB",
                              where_of(where, many, idx));
        return -1;
    }
    size_t at = data->n;
    if (fl_base64_decode(data, fl_slice(d->str, d->len)) != 0) {
        int oom = data->err == FL_ENOMEM;
        fl_http_respond_error(
            r, oom ? 500 : 400, oom ? "InternalFailureException" : "ValidationException",
            oom ? "%sout of memory" : "%sData is not base64", where_of(where, many, idx));
        return -1;
    }
    p->off = at;
    p->len = data->n - at;
    p->key = k->str;
    p->key_len = k->len;
    if (h) {
        if (h->type != FL_JSON_STRING || memchr(h->str, 0, h->len) ||
            fl_rec_u128_parse(h->str, p->hk) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "%sExplicitHashKey must be a decimal from 0 to 2^128-1",
                                  where_of(where, many, idx));
            return -1;
        }
        p->explicit_key = 1;
    }
    return 0;
}

/* Every parsed record's hash key (the partition keys' MD5s, 8 at a time,
 * fl_rec_partition_hash_many) and open shard. Responds and returns -1
 * when a key has no open shard. */
static int place_records(fl_http_req_t *r, const shard_map_t *m, parsed_t *p, size_t n)
{
    fl_slice_t keys[64];
    uint8_t hk[64][16];
    size_t at[64], k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].explicit_key) {
            keys[k] = fl_slice(p[i].key, p[i].key_len);
            at[k++] = i;
        }
        if (k == 64 || (i + 1 == n && k)) {
            fl_rec_partition_hash_many(keys, k, hk);
            for (size_t j = 0; j < k; j++)
                memcpy(p[at[j]].hk, hk[j], 16);
            k = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int rc = shard_of(m, &p[i]);
        if (rc) {
            fl_http_respond_error(r, 500, "InternalFailureException",
                                  "no open shard for the key: %s", fl_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* Parse every record, then append them all and park the request. */
static void put(fl_http_req_t *r, int many)
{
    fl_rec_stream_t st;
    const fl_json_t *list = NULL;
    size_t n = 1;
    if (many) {
        list = fl_http_json(r, "Records");
        if (!list || list->type != FL_JSON_ARRAY || list->count < 1 ||
            list->count > FL_RECORDS_MAX_PUT) {
            fl_http_respond_error(r, 400, "ValidationException",
                                  "Records must list 1 to %d records", FL_RECORDS_MAX_PUT);
            return;
        }
        n = list->count;
    }
    if (fl_rec_get(r, &st) != 0)
        return;
    parsed_t *p = calloc(n, sizeof *p);
    put_job_t *j = calloc(1, sizeof *j + n * sizeof j->one[0]);
    size_t parsed = 0;
    shard_map_t map = {NULL, 0};
    /* every record's data in one buffer (records keep offsets): the
     * body's base64 decodes to at most 3/4 of its size, one allocation */
    fl_buf_t data;
    fl_buf_init(&data, 0);
    put_data_t *shared = NULL;
    int rc;
    if (!p || !j || fl_buf_reserve(&data, r->body.n / 4 * 3 + 3)) {
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        goto out;
    }
    if ((rc = map_load(st.log, &map)) != 0) {
        fl_http_respond_error(r, rc == FL_ENOTFOUND ? 400 : 500,
                              rc == FL_ENOTFOUND ? "ResourceNotFoundException"
                                                 : "InternalFailureException",
                              "stream %s: %s", st.name, fl_strerror(rc));
        goto out;
    }
    /* PutRecord's members are the body's own; PutRecords' are in Records */
    const fl_json_t *e = many ? list->child : r->json ? fl_json_root(r->json) : NULL;
    for (; parsed < n; e = e ? e->next : NULL) {
        if (!e || e->type != FL_JSON_OBJECT) {
            fl_http_respond_error(r, 400, "ValidationException", "Records[%zu] is not an object",
                                  parsed);
            goto out;
        }
        if (parse_record(r, e, &data, &p[parsed], parsed, many) != 0)
            goto out;
        parsed++;
    }
    if (place_records(r, &map, p, n) != 0)
        goto out;
    if (data.n > FL_RECORDS_MAX_PUT_SIZE) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "Records hold %zu bytes of data, more than 5 MiB", data.n);
        goto out;
    }
    /* the buffer goes to storage with the records (no copy there) */
    if (!(shared = malloc(sizeof *shared))) {
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        goto out;
    }
    atomic_init(&shared->refs, 1);
    shared->p = data.p;
    fl_buf_init(&data, 0);
    j->st = st;
    j->many = many;
    j->n = n;
    j->a.done = put_done;
    int64_t now_ns = fl_time_real_ns();
    for (size_t i = 0; i < n; i++) {
        put_one_t *o = &j->one[i];
        fl_completion_init(&o->base, put_completed);
        o->job = j;
        o->shard = p[i].shard;
        o->data_len = p[i].len;
        fl_slice_t key = fl_slice(p[i].key, p[i].key_len),
                   rec = fl_slice(shared->p + p[i].off, p[i].len);
        /* no producer time in the API: the arrival is the record's time on
         * the timeline it shares with video fragments; observers (hooks)
         * hear of it (fl_datarec_append) */
        if (fl_rec_throttle_put(st.rs, st.info.id, o->shard, o->data_len) != 0) {
            o->status = THROTTLED; /* over the shard's rate: this record alone */
            continue;
        }
        o->status = append_shared(&st, o, key, rec, now_ns, shared);
        /* a reshard on a worker closed the shard since it was looked up:
         * the key's shard is one of the children now, and the record is
         * metered there (the closed parent gets its share back) */
        for (int again = 0; o->status == FL_ECLOSED && again < RESHARD_RETRIES; again++) {
            if (map_load(st.log, &map) != 0 || shard_of(&map, &p[i]) != 0)
                break;
            if (fl_rec_throttle_move(st.rs, st.info.id, o->shard, p[i].shard, o->data_len) != 0) {
                o->shard = p[i].shard;
                o->status = THROTTLED;
                break;
            }
            o->shard = p[i].shard;
            o->status = append_shared(&st, o, key, rec, now_ns, shared);
        }
        if (!o->status)
            j->pending++;
    }
    st.held = 0; /* the job holds it now */
    if (j->pending == 0) {
        /* nothing went to storage: answer now */
        fl_http_await(r, &j->a);
        fl_http_await_done(&j->a);
    } else {
        fl_http_await(r, &j->a);
    }
    j = NULL;
out:
    if (shared)
        put_data_release(shared); /* the call's reference */
    fl_buf_free(&data);
    free(map.sh);
    free(p);
    free(j);
    fl_rec_put(&st);
}

void fl_rec_put_record(fl_http_req_t *r)
{
    put(r, 0);
}

void fl_rec_put_records(fl_http_req_t *r)
{
    put(r, 1);
}

/* ---- iterators ---- */

typedef struct {
    int from;
    uint32_t shard;
    uint64_t pos;
    int64_t created_ns;
    char name[FL_RECORDS_NAME_MAX + 1];
    char key[FL_RECORDS_ITER_KEY_MAX + 1]; /* the access key it was issued to, or "" */
} iter_t;

static int seal_iter(fl_records_t *rs, const iter_t *it, fl_buf_t *out)
{
    uint8_t p[23 + FL_RECORDS_NAME_MAX + FL_RECORDS_ITER_KEY_MAX];
    size_t nl = strlen(it->name), kl = strlen(it->key);
    p[0] = (uint8_t)it->from;
    fl_store_be32(p + 1, it->shard);
    fl_store_be64(p + 5, it->pos);
    fl_store_be64(p + 13, (uint64_t)it->created_ns);
    p[21] = (uint8_t)nl;
    memcpy(p + 22, it->name, nl);
    p[22 + nl] = (uint8_t)kl;
    memcpy(p + 23 + nl, it->key, kl);
    return fl_token_seal(fl_server_token_key(rs->srv), FL_TOKEN_SHARD_ITERATOR,
                         fl_slice(p, 23 + nl + kl), wall_ms() + FL_RECORDS_ITERATOR_MS, out);
}

static int open_iter(fl_records_t *rs, fl_slice_t text, iter_t *it)
{
    fl_buf_t p;
    fl_buf_init(&p, 0);
    int rc =
        fl_token_open(fl_server_token_key(rs->srv), FL_TOKEN_SHARD_ITERATOR, text, wall_ms(), &p);
    /* the key's length byte and the key follow the name (an iterator
     * from before keys ends at the name: issued to nobody) */
    size_t nl = p.n > 21 ? p.p[21] : 0;
    size_t kl = !rc && p.n > 22 + nl ? p.p[22 + nl] : 0;
    if (!rc && (p.n < 22 || nl > FL_RECORDS_NAME_MAX || p.p[0] > FROM_TS ||
                kl > FL_RECORDS_ITER_KEY_MAX || (p.n != 22 + nl && p.n != 23 + nl + kl)))
        rc = FL_EMALFORMED; /* ours, but not an iterator we write (cannot happen) */
    if (!rc) {
        it->from = p.p[0];
        it->shard = fl_load_be32(p.p + 1);
        it->pos = fl_load_be64(p.p + 5);
        it->created_ns = (int64_t)fl_load_be64(p.p + 13);
        memcpy(it->name, p.p + 22, nl);
        it->name[nl] = 0;
        memcpy(it->key, p.p + 23 + nl, kl);
        it->key[kl] = 0;
    }
    fl_buf_free(&p);
    return rc;
}

int fl_rec_parse_seq(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s || strlen(s) > 20)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

void fl_rec_get_shard_iterator(fl_http_req_t *r)
{
    fl_records_t *rs = r->mod;
    const fl_json_t *sid = fl_http_json(r, "ShardId");
    const fl_json_t *type = fl_http_json(r, "ShardIteratorType");
    iter_t it;
    memset(&it, 0, sizeof it);
    if (!sid || sid->type != FL_JSON_STRING || fl_rec_parse_shard_id(sid->str, &it.shard) != 0) {
        fl_http_respond_error(r, 400, "ValidationException", "ShardId is required: shardId-NNNN");
        return;
    }
    if (!type || type->type != FL_JSON_STRING) {
        fl_http_respond_error(r, 400, "ValidationException", "ShardIteratorType is required");
        return;
    }
    fl_rec_stream_t st;
    if (fl_rec_get(r, &st) != 0)
        return;
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    const fl_log_shard_info_t *s = NULL;
    if (fl_log_shards(st.log, &sh, &n) == 0)
        for (size_t i = 0; i < n; i++)
            if (sh[i].id == it.shard)
                s = &sh[i];
    fl_buf_t b;
    fl_buf_init(&b, 0);
    if (!s) {
        fl_http_respond_error(r, 400, "ResourceNotFoundException",
                              "Shard %s in stream %s under account %s does not exist", sid->str,
                              st.name, fl_server_config(rs->srv)->account_id);
        goto out;
    }
    const char *t = type->str;
    const fl_json_t *sn = fl_http_json(r, "StartingSequenceNumber");
    it.from = FROM_SEQ;
    if (strcmp(t, "TRIM_HORIZON") == 0) {
        it.pos = 0;
    } else if (strcmp(t, "LATEST") == 0) {
        it.pos = s->next_seq;
    } else if (strcmp(t, "AT_SEQUENCE_NUMBER") == 0 || strcmp(t, "AFTER_SEQUENCE_NUMBER") == 0) {
        if (!sn || sn->type != FL_JSON_STRING || fl_rec_parse_seq(sn->str, &it.pos) != 0 ||
            (t[1] == 'F' && it.pos == UINT64_MAX)) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "StartingSequenceNumber is required for %s: a sequence number "
                                  "of this shard",
                                  t);
            goto out;
        }
        if (t[1] == 'F')
            it.pos++;
    } else if (strcmp(t, "AT_TIMESTAMP") == 0) {
        const fl_json_t *ts = fl_http_json(r, "Timestamp");
        int64_t ns;
        if (fl_awstime_parse_json(ts, &ns) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "Timestamp (epoch seconds) is required for AT_TIMESTAMP");
            goto out;
        }
        /* compared at the precision records report (ms), inclusive: a
         * record at 12.3456 s is reported as 12.345 and found from 12.345 */
        it.from = FROM_TS;
        it.pos = (uint64_t)(ns - ns % 1000000);
    } else {
        fl_http_respond_error(r, 400, "ValidationException",
                              "ShardIteratorType '%s' is not one of AT_SEQUENCE_NUMBER, "
                              "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP",
                              t);
        goto out;
    }
    it.created_ns = st.info.created_ns;
    snprintf(it.name, sizeof it.name, "%s", st.name);
    if (r->who.has_key) /* the iterator carries the rights of the key that asked */
        snprintf(it.key, sizeof it.key, "%.*s", FL_RECORDS_ITER_KEY_MAX, r->who.access_key);
    fl_buf_append_str(&b, "{\"ShardIterator\":\"");
    if (seal_iter(rs, &it, &b) != 0) {
        fl_http_respond_error(r, 500, "InternalFailureException", "cannot make an iterator");
        goto out;
    }
    fl_buf_append_str(&b, "\"}");
    fl_rec_respond(r, &b);
out:
    fl_buf_free(&b);
    free(sh);
    fl_rec_put(&st);
}

/* ---- GetRecords ---- */

typedef struct {
    fl_http_async_t a; /* first */
    fl_rec_stream_t st;
    iter_t it;
    size_t limit;
    /* results (worker) */
    int rc;
    int closed_end;      /* a closed shard read to its end */
    int again_ts;        /* an AT_TIMESTAMP read found nothing yet: same iterator */
    int more;            /* records after those read (a catch-up: read ahead) */
    uint64_t shard_next; /* the shard's next sequence number after the read */
    uint64_t next_seq;
    size_t count, bytes;
    int64_t behind_ms;
    fl_buf_t recs;     /* the answer's start and the Records array's members */
    fl_buf_t children; /* ChildShards' members, at a closed end */
    /* the answer, made on the worker: JSON, or CBOR when the request came
     * in CBOR (cbor: its route's shape, NULL for JSON) */
    const fl_cbor_shape_t *cbor;
    fl_buf_t body;
    int body_cbor;
} get_job_t;

/* A partition key that goes into JSON as it is (no escape needed, as
 * fl_json_write_string decides). */
static int plain_key(fl_slice_t k)
{
    for (size_t i = 0; i < k.n; i++)
        if (k.p[i] < 0x20 || k.p[i] == '"' || k.p[i] == '\\')
            return 0;
    return 1;
}

/* One record as GetRecords and SubscribeToShard list it. The common case
 * (a key that needs no escape) is written in place after one reservation:
 * GetRecords makes 10,000 of these an answer. */
void fl_rec_record_json(fl_buf_t *b, const fl_log_record_t *rec)
{
    static const char seq_lit[] = "{\"SequenceNumber\":\"";
    static const char ts_lit[] = "\",\"ApproximateArrivalTimestamp\":";
    static const char data_lit[] = ",\"Data\":\"";
    static const char key_lit[] = "\",\"PartitionKey\":\"";
    static const char end_lit[] = "\",\"EncryptionType\":\"KMS\"}";
    if (!plain_key(rec->key)) {
        LIT(b, "{\"SequenceNumber\":\"");
        put_u64(b, rec->seq);
        LIT(b, "\",\"ApproximateArrivalTimestamp\":");
        fl_rec_put_time(b, rec->server_ts_ns);
        LIT(b, ",\"Data\":\"");
        fl_base64_encode(b, rec->payload);
        LIT(b, "\",\"PartitionKey\":");
        fl_json_write_string(b, rec->key);
        LIT(b, ",\"EncryptionType\":\"KMS\"}");
        return;
    }
    size_t b64 = (rec->payload.n + 2) / 3 * 4;
    if (fl_buf_reserve(b, sizeof seq_lit + 20 + sizeof ts_lit + FL_AWSTIME_EPOCH_MAX +
                              sizeof data_lit + b64 + sizeof key_lit + rec->key.n +
                              sizeof end_lit) != 0)
        return;
    char *p = (char *)b->p + b->n;
    memcpy(p, seq_lit, sizeof seq_lit - 1);
    p += sizeof seq_lit - 1;
    p += dec_u64(p, rec->seq);
    memcpy(p, ts_lit, sizeof ts_lit - 1);
    p += sizeof ts_lit - 1;
    int tn = fl_awstime_epoch(rec->server_ts_ns, 3, p, FL_AWSTIME_EPOCH_MAX);
    p += tn > 0 ? tn : 0; /* (its NUL is written over) */
    memcpy(p, data_lit, sizeof data_lit - 1);
    p += sizeof data_lit - 1;
    b->n = (size_t)((uint8_t *)p - b->p);
    fl_base64_encode(b, rec->payload); /* in the room reserved */
    p = (char *)b->p + b->n;
    memcpy(p, key_lit, sizeof key_lit - 1);
    p += sizeof key_lit - 1;
    if (rec->key.n)
        memcpy(p, rec->key.p, rec->key.n);
    p += rec->key.n;
    memcpy(p, end_lit, sizeof end_lit - 1);
    p += sizeof end_lit - 1;
    b->n = (size_t)((uint8_t *)p - b->p);
}

void fl_rec_children_json(fl_buf_t *b, const fl_log_shard_info_t *sh, size_t n, uint32_t shard)
{
    size_t start = b->n;
    for (size_t i = 0; i < n; i++) {
        if (sh[i].parent != shard && sh[i].adjacent_parent != shard)
            continue;
        char id[32], parent[32], lo[40], hi[40];
        fl_rec_shard_id(sh[i].id, id, sizeof id);
        fl_rec_u128_dec(sh[i].hash_start, lo);
        fl_rec_u128_dec(sh[i].hash_end, hi);
        fl_buf_printf(b, "%s{\"ShardId\":\"%s\",\"ParentShards\":[", b->n > start ? "," : "", id);
        fl_rec_shard_id(sh[i].parent, parent, sizeof parent);
        fl_buf_printf(b, "\"%s\"", parent);
        if (sh[i].adjacent_parent != FL_LOG_NO_SHARD) {
            fl_rec_shard_id(sh[i].adjacent_parent, parent, sizeof parent);
            fl_buf_printf(b, ",\"%s\"", parent);
        }
        fl_buf_printf(b,
                      "],\"HashKeyRange\":{\"StartingHashKey\":\"%s\",\"EndingHashKey\":"
                      "\"%s\"}}",
                      lo, hi);
    }
}

/* A read's records, a chunk at a time, into an answer's Records. */
typedef struct {
    fl_buf_t *b;
    size_t count;
    int64_t last_ts;
    size_t want; /* records the read may return: its Limit, or fewer when
                    the shard holds fewer after its start */
} get_each_t;

static int get_each(void *arg, const fl_log_record_t *recs, size_t n)
{
    get_each_t *e = arg;
    fl_buf_t *b = e->b;
    /* the chunk's members' room at once */
    size_t need = 0, payload = 0;
    for (size_t i = 0; i < n; i++) {
        need += recs[i].payload.n / 3 * 4 + 4 + 6 * recs[i].key.n + 160;
        payload += recs[i].payload.n;
    }
    if (e->count == 0 && e->want > n) {
        /* the first chunk: room for the whole answer if the records to
         * come are like its own, within Limit and the 10 MiB, so that
         * 13 MB of JSON grows no copies (that was a tenth of a catch-up's
         * CPU) */
        size_t by_bytes = FL_RECORDS_GET_BYTES / (payload / n + 1) + 1;
        size_t more = (e->want < by_bytes ? e->want : by_bytes);
        if (more > n)
            need += need / n * (more - n);
    }
    if (fl_buf_reserve(b, need) != 0)
        return b->err;
    for (size_t i = 0; i < n; i++) {
        if (e->count++)
            fl_buf_u8(b, ',');
        fl_rec_record_json(b, &recs[i]);
    }
    e->last_ts = recs[n - 1].server_ts_ns;
    return b->err;
}

/* Read records at o into e->b's Records members, turned into JSON as each
 * chunk is read (fl_log_read_each: no batch of 10 MiB kept, the chunks'
 * buffers reused). Past the trim horizon or a damaged chunk, again from
 * what comes next. On an error e->b is as it was. */
static int read_records(fl_log_t *log, uint32_t shard, fl_log_read_opts_t *o, get_each_t *e,
                        fl_log_each_t *res)
{
    size_t start = e->b->n;
    int rc = fl_log_read_each(log, shard, o, get_each, e, res);
    if (rc == FL_EEXPIRED || rc == FL_ECORRUPT) {
        /* retention removed it (or a chunk is damaged): go on from what is
         * kept, as Kinesis does past the trim horizon */
        e->b->n = start;
        e->count = 0;
        e->last_ts = 0;
        o->from = FL_LOG_AT_SEQ;
        o->seq = res->next_seq;
        rc = fl_log_read_each(log, shard, o, get_each, e, res);
    }
    if (rc < 0 && rc != FL_EAGAIN && rc != FL_EEOF) {
        e->b->n = start; /* what was handed over before the error is no answer */
        e->count = 0;
    }
    return rc;
}

/* ---- GetRecords' read-ahead ----
 *
 * A catch-up reader asks next for the records right after those it got.
 * When a GetRecords returned records and more are there, and the shards'
 * rates are off (--records-throttle 0: with them on, the next call of a
 * catch-up is refused for seconds anyway), the loop queues the next read
 * on a worker as soon as the answer is handed over: its decryption and
 * JSON then overlap the sending and the client's reading of this answer,
 * where the two took turns. The next GetRecords at that position with the
 * same Limit takes it (waits while it runs; reads itself when it has not
 * begun, so a request never waits for a job queued behind it), then does
 * the rest as every read does, as of now: MillisBehindLatest, the shard's
 * end and ChildShards, the next iterator, CBOR. So the answer is the one a
 * read made up to AHEAD_TTL_NS earlier would give: records durable since
 * then come in the next call, and data retention removed meanwhile may be
 * in it. A read ahead opens its log by name and does not hold the stream
 * (DeleteStream goes ahead; the incarnation is checked). At most
 * FL_REC_AHEAD_SLOTS are kept, of about 14 MB each at most; a new one
 * replaces one of the same shard, else a free slot, else the oldest
 * finished; the module's tick drops those past their time. Each ends used
 * or dropped (framelog_records_read_ahead_total).
 *
 * Life: refs (under ahead_mu) count the slot, the job (dropped by its
 * done() on the loop) and a request waiting for it. */

#define AHEAD_TTL_NS 1000000000LL

enum { AHEAD_QUEUED, AHEAD_RUNNING, AHEAD_DONE, AHEAD_CANCELLED };

typedef struct fl_rec_ahead {
    fl_job_t job;
    fl_records_t *rs;
    int refs, state;
    /* what it reads: the next call's position */
    uint64_t log_id;
    int64_t created_ns;
    uint32_t shard;
    uint64_t seq, shard_next; /* (the shard's next number then) */
    size_t limit;
    char log_name[FL_LOG_MAX_NAME + 1];
    /* what it got (state AHEAD_DONE) */
    int rc;
    fl_buf_t recs; /* "{\"Records\":[" and the members, as get_work's */
    size_t count, bytes;
    uint64_t next_seq;
    int64_t last_ts, done_ns;
} fl_rec_ahead_t;

/* Under ahead_mu. */
static void ahead_unref(fl_rec_ahead_t *a)
{
    if (--a->refs == 0) {
        fl_buf_free(&a->recs);
        free(a);
    }
}

/* Under ahead_mu: take a out of its slot (the slot's reference). */
static void ahead_unslot(fl_records_t *rs, fl_rec_ahead_t *a)
{
    for (int k = 0; k < FL_REC_AHEAD_SLOTS; k++)
        if (rs->ahead[k] == a) {
            rs->ahead[k] = NULL;
            if (a->state != AHEAD_DONE || a->count)
                rs->ahead_dropped++; /* (one used was counted and emptied) */
            ahead_unref(a);
            return;
        }
}

static void ahead_work(fl_job_t *job)
{
    fl_rec_ahead_t *a = job->data;
    fl_records_t *rs = a->rs;
    pthread_mutex_lock(&rs->ahead_mu);
    int go = a->state == AHEAD_QUEUED;
    if (go)
        a->state = AHEAD_RUNNING;
    pthread_mutex_unlock(&rs->ahead_mu);
    if (!go)
        return;
    fl_log_t *log = NULL;
    fl_log_info_t info;
    get_each_t e = {&a->recs, 0, 0, 0};
    fl_log_each_t res;
    memset(&res, 0, sizeof res);
    int rc = fl_log_open(fl_server_store(rs->srv), a->log_name, &log);
    if (!rc)
        rc = fl_log_info(log, &info);
    if (!rc && (info.id != a->log_id || info.created_ns != a->created_ns))
        rc = FL_ENOTFOUND; /* another incarnation of the name */
    if (!rc) {
        fl_log_read_opts_t o = {.from = FL_LOG_AT_SEQ,
                                .seq = a->seq,
                                .max_bytes = FL_RECORDS_GET_BYTES,
                                .max_records = a->limit};
        e.want = a->shard_next - a->seq < a->limit ? (size_t)(a->shard_next - a->seq) : a->limit;
        LIT(&a->recs, "{\"Records\":[");
        rc = read_records(log, a->shard, &o, &e, &res);
    }
    fl_log_close(log);
    pthread_mutex_lock(&rs->ahead_mu);
    a->rc = rc ? rc : a->recs.err;
    a->count = e.count;
    a->bytes = res.bytes;
    a->next_seq = res.next_seq;
    a->last_ts = e.last_ts;
    a->done_ns = fl_time_mono_ns();
    a->state = AHEAD_DONE;
    pthread_cond_broadcast(&rs->ahead_cv);
    pthread_mutex_unlock(&rs->ahead_mu);
}

static void ahead_done(fl_job_t *job)
{
    fl_rec_ahead_t *a = job->data;
    fl_records_t *rs = a->rs;
    pthread_mutex_lock(&rs->ahead_mu);
    ahead_unref(a);
    pthread_mutex_unlock(&rs->ahead_mu);
}

/* On the loop, once j's answer is handed over: read the next records
 * ahead when j was a catch-up's read (see above). */
static void ahead_start(fl_records_t *rs, const get_job_t *j)
{
    if (rs->throttle || j->rc || j->closed_end || j->again_ts || !j->count || !j->more)
        return;
    fl_rec_ahead_t *a = calloc(1, sizeof *a);
    if (!a)
        return;
    a->rs = rs;
    a->refs = 2; /* the slot's and the job's */
    a->state = AHEAD_QUEUED;
    a->log_id = j->st.info.id;
    a->created_ns = j->st.info.created_ns;
    a->shard = j->it.shard;
    a->seq = j->next_seq;
    a->shard_next = j->shard_next;
    a->limit = j->limit;
    fl_rec_log_name(j->st.name, a->log_name, sizeof a->log_name);
    fl_buf_init(&a->recs, 0);
    a->job.work = ahead_work;
    a->job.done = ahead_done;
    a->job.data = a;
    pthread_mutex_lock(&rs->ahead_mu);
    int k = -1;
    for (int i = 0; i < FL_REC_AHEAD_SLOTS && k < 0; i++) /* the shard's */
        if (rs->ahead[i] && rs->ahead[i]->log_id == a->log_id && rs->ahead[i]->shard == a->shard)
            k = i;
    for (int i = 0; i < FL_REC_AHEAD_SLOTS && k < 0; i++) /* a free one */
        if (!rs->ahead[i])
            k = i;
    if (k < 0) /* the oldest finished (every slot is taken) */
        for (int i = 0; i < FL_REC_AHEAD_SLOTS; i++)
            if (rs->ahead[i]->state == AHEAD_DONE &&
                (k < 0 || rs->ahead[i]->done_ns < rs->ahead[k]->done_ns))
                k = i;
    if (k < 0) { /* every slot is at work for other shards */
        pthread_mutex_unlock(&rs->ahead_mu);
        fl_buf_free(&a->recs);
        free(a);
        return;
    }
    fl_rec_ahead_t *old = rs->ahead[k];
    if (old) {
        if (old->state == AHEAD_QUEUED)
            old->state = AHEAD_CANCELLED; /* its job ends at once */
        ahead_unslot(rs, old);
    }
    rs->ahead[k] = a;
    pthread_mutex_unlock(&rs->ahead_mu);
    if (fl_workers_submit(fl_server_workers(rs->srv), &a->job) != 0) {
        pthread_mutex_lock(&rs->ahead_mu);
        a->state = AHEAD_CANCELLED;
        ahead_unslot(rs, a);
        ahead_unref(a); /* the job's: it never runs */
        pthread_mutex_unlock(&rs->ahead_mu);
    }
}

/* On the worker, before j reads: the read ahead at j's position, when
 * there is one and it is usable: 1 with j->recs, *e and *res as
 * read_records leaves them; else 0, and j reads itself. */
static int ahead_take(fl_records_t *rs, get_job_t *j, get_each_t *e, fl_log_each_t *res)
{
    if (j->it.from != FROM_SEQ)
        return 0;
    pthread_mutex_lock(&rs->ahead_mu);
    fl_rec_ahead_t *a = NULL;
    for (int k = 0; k < FL_REC_AHEAD_SLOTS && !a; k++) {
        fl_rec_ahead_t *c = rs->ahead[k];
        if (c && c->log_id == j->st.info.id && c->created_ns == j->st.info.created_ns &&
            c->shard == j->it.shard && c->seq == j->it.pos && c->limit == j->limit)
            a = c;
    }
    if (!a) {
        pthread_mutex_unlock(&rs->ahead_mu);
        return 0;
    }
    if (a->state == AHEAD_QUEUED)
        a->state = AHEAD_CANCELLED; /* not begun: reading here is as quick */
    a->refs++;
    while (a->state == AHEAD_RUNNING)
        pthread_cond_wait(&rs->ahead_cv, &rs->ahead_mu);
    int took = a->state == AHEAD_DONE && a->rc == 0 && a->count &&
               fl_time_mono_ns() - a->done_ns < AHEAD_TTL_NS;
    if (took) {
        fl_buf_free(&j->recs);
        j->recs = a->recs;
        fl_buf_init(&a->recs, 0);
        e->b = &j->recs;
        e->count = a->count;
        e->last_ts = a->last_ts;
        res->count = a->count;
        res->bytes = a->bytes;
        res->next_seq = a->next_seq;
        a->count = 0; /* used */
        rs->ahead_used++;
    }
    ahead_unslot(rs, a);
    ahead_unref(a);
    pthread_mutex_unlock(&rs->ahead_mu);
    return took;
}

void fl_rec_ahead_tick(fl_records_t *rs)
{
    /* a read ahead no call took (the reader stopped, or went on with
     * another Limit) holds its answer's memory until replaced: not past
     * the time it may be used in */
    int64_t now = fl_time_mono_ns();
    pthread_mutex_lock(&rs->ahead_mu);
    for (int k = 0; k < FL_REC_AHEAD_SLOTS; k++)
        if (rs->ahead[k] && rs->ahead[k]->state == AHEAD_DONE &&
            now - rs->ahead[k]->done_ns >= AHEAD_TTL_NS)
            ahead_unslot(rs, rs->ahead[k]);
    pthread_mutex_unlock(&rs->ahead_mu);
}

void fl_rec_ahead_fini(fl_records_t *rs)
{
    /* the workers are gone: every job's done() ran, the slots' are left */
    pthread_mutex_lock(&rs->ahead_mu);
    for (int k = 0; k < FL_REC_AHEAD_SLOTS; k++)
        if (rs->ahead[k])
            ahead_unslot(rs, rs->ahead[k]);
    pthread_mutex_unlock(&rs->ahead_mu);
}

/* The records at the iterator (read ahead, or read now), then what the
 * answer says of the shard as of now. */
static void read_work(get_job_t *j)
{
    fl_log_read_opts_t o = {.from = j->it.from == FROM_TS ? FL_LOG_AT_SERVER_TS : FL_LOG_AT_SEQ,
                            .seq = j->it.pos,
                            .ts_ns = (int64_t)j->it.pos,
                            .max_bytes = FL_RECORDS_GET_BYTES,
                            .max_records = j->limit};
    get_each_t e = {&j->recs, 0, 0, j->limit};
    fl_log_each_t res;
    memset(&res, 0, sizeof res);
    int rc = 0;
    if (!ahead_take(j->st.rs, j, &e, &res)) {
        fl_log_shard_info_t *sh = NULL;
        size_t n = 0;
        if (j->it.from == FROM_SEQ && fl_log_shards(j->st.log, &sh, &n) == 0)
            for (size_t i = 0; i < n; i++)
                if (sh[i].id == j->it.shard && sh[i].next_seq - j->it.pos < e.want)
                    e.want = sh[i].next_seq > j->it.pos ? (size_t)(sh[i].next_seq - j->it.pos) : 0;
        free(sh);
        rc = read_records(j->st.log, j->it.shard, &o, &e, &res);
    }
    j->next_seq = res.next_seq;
    if (rc == FL_EAGAIN) {
        rc = 0;
        /* nothing durable at or after the time yet: the next iterator asks
         * the same question again (a shard's next number counts appends
         * not yet durable, and starting there would skip them) */
        j->again_ts = j->it.from == FROM_TS;
    } else if (rc == FL_EEOF) {
        rc = 0;
        j->closed_end = 1;
    }
    j->rc = rc;
    j->count = rc ? 0 : e.count;
    j->bytes = rc ? 0 : res.bytes;
    int64_t last_ts = rc ? 0 : e.last_ts;
    /* how far behind the shard's newest record the reader is */
    fl_log_shard_info_t *sh = NULL;
    size_t n = 0;
    if (!rc && fl_log_shards(j->st.log, &sh, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (sh[i].id != j->it.shard)
                continue;
            j->more = j->next_seq < sh[i].next_seq;
            j->shard_next = sh[i].next_seq;
            if (j->more && last_ts)
                j->behind_ms = (fl_time_real_ns() - last_ts) / 1000000;
            /* the last records of a closed shard: its end is here too, as
             * Kinesis answers ChildShards with them */
            if (!sh[i].open && j->next_seq >= sh[i].next_seq)
                j->closed_end = 1;
        }
        if (j->closed_end)
            fl_rec_children_json(&j->children, sh, n, j->it.shard);
    }
    free(sh);
}

/* The answer, on the worker: the records read, MillisBehindLatest and the
 * next iterator (sealing is a keyed MAC: no loop state), then CBOR when
 * asked, so a 10 MiB answer is never transcoded on the event loop. */
static void get_work(fl_http_async_t *a)
{
    get_job_t *j = (get_job_t *)a;
    /* the answer begins in recs, which becomes the body: the records are
     * not copied again */
    LIT(&j->recs, "{\"Records\":[");
    read_work(j);
    if (j->rc)
        return;
    fl_buf_t *b = &j->body;
    fl_buf_free(b);
    *b = j->recs;
    fl_buf_init(&j->recs, 0);
    fl_buf_printf(b, "],\"MillisBehindLatest\":%" PRId64, j->behind_ms);
    if (j->closed_end) {
        fl_buf_append_str(b, ",\"ChildShards\":[");
        fl_buf_append(b, j->children.p, j->children.n);
        fl_buf_u8(b, ']');
    } else {
        iter_t next = j->it;
        if (!j->again_ts) {
            next.from = FROM_SEQ;
            next.pos = j->next_seq;
        }
        fl_buf_append_str(b, ",\"NextShardIterator\":\"");
        if (seal_iter(j->st.rs, &next, b) != 0)
            b->err = FL_ENOMEM;
        fl_buf_u8(b, '"');
    }
    fl_buf_u8(b, '}');
    fl_buf_free(&j->recs);
    fl_buf_free(&j->children);
    if (j->cbor && !b->err) {
        fl_buf_t c;
        fl_buf_init(&c, 0);
        if (fl_cbor_from_json_text(fl_buf_slice(b), j->cbor, &c) == 0 && !c.err) {
            fl_buf_free(b);
            *b = c;
            j->body_cbor = 1;
        } else {
            fl_error("records: GetRecords of %s: the answer does not go into CBOR: sent as JSON",
                     j->st.name);
            fl_buf_free(&c);
        }
    }
}

static void get_done(fl_http_async_t *a, fl_http_req_t *r)
{
    get_job_t *j = (get_job_t *)a;
    fl_records_t *rs = j->st.rs;
    rs->records_out += j->count;
    rs->bytes_out += j->bytes;
    fl_rec_throttle_out(rs, j->st.info.id, j->it.shard, j->bytes);
    fl_rec_counters_t *c = fl_rec_counters(rs, j->st.name);
    if (c && !j->rc) {
        c->records_out += j->count;
        c->bytes_out += j->bytes;
        c->iterator_age_ms = j->behind_ms;
    }
    if (r) {
        if (j->rc) {
            fl_http_respond_error(r, 500, "InternalFailureException", "reading %s: %s", j->st.name,
                                  fl_strerror(j->rc));
        } else if (j->body_cbor) {
            fl_rec_respond_take(r, "application/x-amz-cbor-1.1", &j->body);
        } else {
            fl_rec_respond(r, &j->body);
        }
        ahead_start(rs, j);
    }
    fl_buf_free(&j->recs);
    fl_buf_free(&j->children);
    fl_buf_free(&j->body);
    fl_rec_put(&j->st);
    free(j);
}

void fl_rec_get_records(fl_http_req_t *r)
{
    fl_records_t *rs = r->mod;
    const fl_json_t *tok = fl_http_json(r, "ShardIterator");
    if (!tok || tok->type != FL_JSON_STRING) {
        fl_http_respond_error(r, 400, "ValidationException", "ShardIterator is required");
        return;
    }
    int64_t limit = FL_RECORDS_GET_LIMIT;
    const fl_json_t *lv = fl_http_json(r, "Limit");
    if (lv && (fl_json_int64(lv, &limit) != 0 || limit < 1 || limit > FL_RECORDS_GET_LIMIT)) {
        fl_http_respond_error(r, 400, "ValidationException", "Limit must be 1 to 10000");
        return;
    }
    iter_t it;
    int rc = open_iter(rs, fl_slice(tok->str, tok->len), &it);
    if (rc == FL_EEXPIRED) {
        fl_http_respond_error(r, 400, "ExpiredIteratorException",
                              "Iterator expired. The iterator was created more than 5 minutes "
                              "ago; get a new one with GetShardIterator");
        return;
    }
    if (rc) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ShardIterator is not an iterator this server gave (or was altered)");
        return;
    }
    get_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        return;
    }
    if (fl_rec_get_named(r, it.name, &j->st) != 0) {
        free(j);
        return;
    }
    /* the key the iterator was issued to must still be allowed to read */
    fl_principal_t ik;
    memset(&ik, 0, sizeof ik);
    if (it.key[0]) {
        ik.has_key = 1;
        snprintf(ik.access_key, sizeof ik.access_key, "%s", it.key);
    }
    char arn[FL_RECORDS_NAME_MAX + 256];
    const char *why = NULL;
    fl_rec_arn(rs, it.name, arn, sizeof arn);
    if (fl_server_access(rs->srv, &ik, "kinesis:GetRecords", arn, &why) != 0) {
        fl_http_respond_error(r, 400, "AccessDeniedException",
                              "kinesis:GetRecords on %s by the iterator's key: %s", arn, why);
        fl_rec_put(&j->st);
        free(j);
        return;
    }
    if (j->st.info.created_ns != it.created_ns) {
        fl_http_respond_error(r, 400, "ResourceNotFoundException",
                              "Stream %s was deleted since the iterator was made", it.name);
        fl_rec_put(&j->st);
        free(j);
        return;
    }
    if (fl_rec_throttle_get(rs, j->st.info.id, it.shard) != 0) {
        char id[32];
        fl_rec_shard_id(it.shard, id, sizeof id);
        fl_rec_counters_t *c = fl_rec_counters(rs, j->st.name);
        if (c)
            c->throttled++;
        fl_http_respond_error(r, 400, "ProvisionedThroughputExceededException",
                              "Rate exceeded for shard %s in stream %s under account %s.", id,
                              j->st.name, fl_server_config(rs->srv)->account_id);
        fl_rec_put(&j->st);
        free(j);
        return;
    }
    j->it = it;
    j->limit = (size_t)limit;
    fl_buf_init(&j->recs, 0);
    fl_buf_init(&j->children, 0);
    fl_buf_init(&j->body, 0);
    j->cbor = r->cbor ? r->route->cbor : NULL;
    j->a.work = get_work;
    j->a.done = get_done;
    if (fl_http_async_or_busy(r, &j->a, "ProvisionedThroughputExceededException") != 0) {
        fl_rec_put(&j->st);
        free(j);
    }
}
