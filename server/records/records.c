/*
 * server/records/records.c — the Kinesis Data Streams room as a module:
 * its routes (one per X-Amz-Target at `POST /`), the data streams in use,
 * and what the handlers share. See records.h.
 */
#include "server/records/records.h"

#include <inttypes.h>
#include <mbedtls/md5.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/dec128.h"
#include "common/error.h"
#include "common/json.h"
#include "server/core/datarec.h"

/* What differs between the API's JSON 1.1 and CBOR forms (common/cbor.h):
 * the blob and timestamp members of its shapes (reference/kds-shapes.md). */
static const char *const kds_blobs[] = {"Data", NULL};
static const char *const kds_times[] = {"ApproximateArrivalTimestamp", "StreamCreationTimestamp",
                                        "ConsumerCreationTimestamp", "Timestamp", NULL};
static const fl_cbor_shape_t kds_cbor = {.blobs = kds_blobs, .timestamps = kds_times};

#define T(op, h, max)                                                                              \
    {                                                                                              \
        .method = FL_HTTP_POST, .path = "/", .target = "Kinesis_20131202." op,                     \
        .name = "Kinesis." op, .handler = h, .flags = FL_ROUTE_AWS | FL_ROUTE_JSON11,              \
        .max_body = max, .cbor = &kds_cbor                                                         \
    }

/* PutRecords: 5 MiB of data, base64 in JSON (4/3), keys and framing */
#define PUT_BODY_MAX (8u << 20)
/* PutRecord: 1 MiB of data, base64 */
#define PUT1_BODY_MAX (2u << 20)

static const fl_route_t records_routes[] = {
    T("CreateStream", fl_rec_create_stream, 0),
    T("DeleteStream", fl_rec_delete_stream, 0),
    T("DescribeStream", fl_rec_describe_stream, 0),
    T("DescribeStreamSummary", fl_rec_describe_stream_summary, 0),
    T("ListStreams", fl_rec_list_streams, 0),
    T("ListShards", fl_rec_list_shards, 0),
    T("IncreaseStreamRetentionPeriod", fl_rec_increase_retention, 0),
    T("DecreaseStreamRetentionPeriod", fl_rec_decrease_retention, 0),
    T("PutRecord", fl_rec_put_record, PUT1_BODY_MAX),
    T("PutRecords", fl_rec_put_records, PUT_BODY_MAX),
    T("GetShardIterator", fl_rec_get_shard_iterator, 0),
    T("GetRecords", fl_rec_get_records, 0),
    T("SplitShard", fl_rec_split_shard, 0),
    T("MergeShards", fl_rec_merge_shards, 0),
    T("UpdateShardCount", fl_rec_update_shard_count, 0),
    T("AddTagsToStream", fl_rec_add_tags, 0),
    T("RemoveTagsFromStream", fl_rec_remove_tags, 0),
    T("ListTagsForStream", fl_rec_list_tags, 0),
    T("StartStreamEncryption", fl_rec_start_encryption, 0),
    T("StopStreamEncryption", fl_rec_stop_encryption, 0),
    T("DescribeLimits", fl_rec_describe_limits, 0),
    T("RegisterStreamConsumer", fl_rec_register_consumer, 0),
    T("DescribeStreamConsumer", fl_rec_describe_consumer, 0),
    T("ListStreamConsumers", fl_rec_list_consumers, 0),
    T("DeregisterStreamConsumer", fl_rec_deregister_consumer, 0),
    T("SubscribeToShard", fl_rec_subscribe_to_shard, 0),
    {.path = NULL},
};

static int records_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    fl_records_t *rs = calloc(1, sizeof *rs);
    if (!rs) {
        snprintf(err, errlen, "records: out of memory");
        return FL_ENOMEM;
    }
    rs->srv = s;
    pthread_mutex_init(&rs->in_use_mu, NULL);
    pthread_mutex_init(&rs->throttle_mu, NULL);
    pthread_mutex_init(&rs->ahead_mu, NULL);
    pthread_cond_init(&rs->ahead_cv, NULL);
    rs->throttle = fl_server_config(s)->records_throttle != 0;
    if (fl_rec_sub_init(rs) != 0) {
        fl_rec_sub_fini(rs);
        pthread_mutex_destroy(&rs->in_use_mu);
        pthread_mutex_destroy(&rs->throttle_mu);
        pthread_mutex_destroy(&rs->ahead_mu);
        pthread_cond_destroy(&rs->ahead_cv);
        free(rs);
        snprintf(err, errlen, "records: out of memory");
        return FL_ENOMEM;
    }
    *state = rs;
    return 0;
}

static void records_fini(void *state)
{
    fl_records_t *rs = state;
    if (!rs)
        return;
    while (rs->in_use) {
        fl_rec_use_t *u = rs->in_use;
        rs->in_use = u->next;
        free(u);
    }
    fl_rec_throttle_free(rs);
    fl_rec_sub_fini(rs);
    fl_rec_ahead_fini(rs);
    pthread_mutex_destroy(&rs->in_use_mu);
    pthread_mutex_destroy(&rs->throttle_mu);
    pthread_mutex_destroy(&rs->ahead_mu);
    pthread_cond_destroy(&rs->ahead_cv);
    free(rs);
}

static void records_metrics(void *state, fl_buf_t *o)
{
    fl_records_t *rs = state;
    fl_metrics_render_counter(o, "framelog_records_in_total",
                              "Data-stream records made durable (PutRecord, PutRecords).",
                              rs->records_in);
    fl_metrics_render_counter(o, "framelog_records_in_bytes_total", "Data bytes of those records.",
                              rs->bytes_in);
    fl_metrics_render_counter(o, "framelog_records_out_total", "Records returned by GetRecords.",
                              rs->records_out);
    fl_metrics_render_counter(o, "framelog_records_out_bytes_total", "Data bytes of those records.",
                              rs->bytes_out);
    static const char *const throttled[] = {"put", "get", "subscribe"};
    const uint64_t nthrottled[] = {rs->throttled_put, rs->throttled_get, rs->sub_throttled};
    fl_metrics_render_counters(o, "framelog_records_throttled_total",
                               "Records (put) and GetRecords calls (get) refused by a shard's "
                               "rate, SubscribeToShard reads held back by a subscription's "
                               "(subscribe).",
                               "op", throttled, nthrottled, 3);
    static const char *const ahead[] = {"used", "dropped"};
    const uint64_t nahead[] = {rs->ahead_used, rs->ahead_dropped};
    fl_metrics_render_counters(o, "framelog_records_read_ahead_total",
                               "GetRecords' reads ahead of a catch-up reader "
                               "(--records-throttle 0): used by the next call, or dropped (not "
                               "asked for, replaced, or older than 1 s).",
                               "result", ahead, nahead, 2);
    fl_metrics_render_counter(o, "framelog_records_subscriptions_total",
                              "SubscribeToShard subscriptions started.", rs->subs_started);
    fl_metrics_render_counter(o, "framelog_records_subscriptions_refused_total",
                              "SubscribeToShard calls refused: the consumer's last subscription to "
                              "the shard began less than 5 s ago (ResourceInUseException in the "
                              "stream).",
                              rs->subs_refused);
    fl_metrics_render_counter(o, "framelog_records_subscriptions_ended_total",
                              "Subscriptions ended by an exception event: the consumer "
                              "deregistered, the stream deleted, or a later call took over.",
                              rs->subs_ended);
    fl_metrics_render_gauge(o, "framelog_records_subscriptions",
                            "Event streams open now (SubscribeToShard).", (int64_t)rs->subs_active);
    fl_metrics_render_counter(o, "framelog_records_subscribe_events_total",
                              "SubscribeToShardEvent events sent.", rs->sub_events);
    fl_metrics_render_counter(o, "framelog_records_subscribe_records_total",
                              "Records sent in those events.", rs->sub_records);
    fl_metrics_render_counter(o, "framelog_records_subscribe_bytes_total",
                              "Data bytes of those records.", rs->sub_bytes);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } per[] = {
        {"framelog_records_stream_in_total", "counter", "Records made durable, per data stream.",
         offsetof(fl_rec_counters_t, records_in)},
        {"framelog_records_stream_in_bytes_total", "counter", "Their data bytes.",
         offsetof(fl_rec_counters_t, bytes_in)},
        {"framelog_records_stream_out_total", "counter",
         "Records returned by GetRecords, per data stream.",
         offsetof(fl_rec_counters_t, records_out)},
        {"framelog_records_stream_out_bytes_total", "counter", "Their data bytes.",
         offsetof(fl_rec_counters_t, bytes_out)},
        {"framelog_records_stream_throttled_total", "counter",
         "Records and GetRecords calls refused by a shard's rate, per data stream.",
         offsetof(fl_rec_counters_t, throttled)},
        {"framelog_records_iterator_age_ms", "gauge",
         "MillisBehindLatest of the data stream's last GetRecords.",
         offsetof(fl_rec_counters_t, iterator_age_ms)},
    };
    pthread_mutex_lock(&rs->throttle_mu); /* the list; the counts are atomics */
    for (size_t k = 0; k < sizeof per / sizeof per[0]; k++) {
        if (!rs->counters)
            break;
        fl_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", per[k].name, per[k].help, per[k].name,
                      per[k].type);
        for (const fl_rec_counters_t *c = rs->counters; c; c = c->next) {
            const void *f = (const char *)c + per[k].off;
            uint64_t v = per[k].off == offsetof(fl_rec_counters_t, iterator_age_ms)
                             ? (uint64_t) * (const int64_t *)f
                             : *(const uint64_t *)f;
            fl_buf_printf(o, "%s{stream=\"%s\"} %" PRIu64 "\n", per[k].name, c->name, v);
        }
    }
    pthread_mutex_unlock(&rs->throttle_mu);
}

static void records_tick(void *state)
{
    fl_rec_throttle_tick(state);
    fl_rec_ahead_tick(state);
}

const fl_module_t fl_records_module = {
    .name = "records",
    .init = records_init,
    .fini = records_fini,
    .routes = records_routes,
    .metrics = records_metrics,
    .tick = records_tick,
};

/* ---- names ---- */

void fl_rec_log_name(const char *name, char *buf, size_t cap)
{
    fl_datarec_log_name(name, buf, cap);
}

void fl_rec_arn(const fl_records_t *rs, const char *name, char *buf, size_t cap)
{
    const fl_config_t *cfg = fl_server_config(rs->srv);
    snprintf(buf, cap, "arn:aws:kinesis:%s:%s:stream/%s", cfg->region, cfg->account_id, name);
}

int fl_rec_valid_name(const char *name, const char **why)
{
    size_t n = strlen(name);
    if (n < 1 || n > FL_RECORDS_NAME_MAX) {
        *why = "StreamName must be 1 to 128 characters";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            *why = "StreamName must match [a-zA-Z0-9_.-]+";
            return -1;
        }
    }
    return 0;
}

void fl_rec_shard_id(uint32_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "shardId-%012" PRIu32, id);
}

int fl_rec_parse_shard_id(const char *s, uint32_t *id)
{
    /* "shardId-000000000001", or the bare number as AWS also accepts */
    if (strncmp(s, "shardId-", 8) == 0)
        s += 8;
    if (!*s || strlen(s) > 12)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v >= FL_LOG_NO_SHARD)
        return -1;
    *id = (uint32_t)v;
    return 0;
}

void fl_rec_u128_dec(const uint8_t v[16], char buf[40])
{
    unsigned __int128 x = 0;
    for (int i = 0; i < 16; i++)
        x = (x << 8) | v[i];
    fl_dec128_put(x, buf);
}

void fl_rec_partition_hash(fl_slice_t key, uint8_t out[16])
{
    if (mbedtls_md5_ret(key.n ? key.p : (const uint8_t *)"", key.n, out) != 0)
        memset(out, 0, 16);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* MD5 (RFC 1321) of n (1..8) keys of at most FL_REC_HASH_ONE_BLOCK bytes,
 * each one padded block, side by side in the 8 lanes of AVX2's 32-bit
 * words: one MD5's 64 dependent steps cost about what 8 do. */
__attribute__((target("avx2"))) static void md5x8(const fl_slice_t *keys, size_t n,
                                                  uint8_t (*out)[16])
{
    static const uint32_t k[64] = {
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391};
    static const uint8_t sh[4][4] = {
        {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};
    uint32_t blk[8][16];
    memset(blk, 0, sizeof blk);
    for (size_t l = 0; l < 8; l++) { /* lanes past n hash the empty key */
        size_t len = l < n ? keys[l].n : 0;
        uint8_t *b = (uint8_t *)blk[l];
        if (len)
            memcpy(b, keys[l].p, len);
        b[len] = 0x80;
        blk[l][14] = (uint32_t)(len * 8); /* the length in bits, little-endian */
    }
    __m256i w[16];
    for (int j = 0; j < 16; j++)
        w[j] = _mm256_setr_epi32((int)blk[0][j], (int)blk[1][j], (int)blk[2][j], (int)blk[3][j],
                                 (int)blk[4][j], (int)blk[5][j], (int)blk[6][j], (int)blk[7][j]);
    const __m256i a0 = _mm256_set1_epi32(0x67452301), b0 = _mm256_set1_epi32((int)0xefcdab89),
                  c0 = _mm256_set1_epi32((int)0x98badcfe), d0 = _mm256_set1_epi32(0x10325476),
                  ones = _mm256_set1_epi32(-1);
    __m256i a = a0, b = b0, c = c0, d = d0;
    for (int i = 0; i < 64; i++) {
        __m256i f;
        int g;
        if (i < 16) {
            f = _mm256_or_si256(_mm256_and_si256(b, c), _mm256_andnot_si256(b, d));
            g = i;
        } else if (i < 32) {
            f = _mm256_or_si256(_mm256_and_si256(d, b), _mm256_andnot_si256(d, c));
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = _mm256_xor_si256(_mm256_xor_si256(b, c), d);
            g = (3 * i + 5) & 15;
        } else {
            f = _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)));
            g = (7 * i) & 15;
        }
        int r = sh[i >> 4][i & 3];
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(a, f),
                                     _mm256_add_epi32(_mm256_set1_epi32((int)k[i]), w[g]));
        t = _mm256_or_si256(_mm256_sll_epi32(t, _mm_cvtsi32_si128(r)),
                            _mm256_srl_epi32(t, _mm_cvtsi32_si128(32 - r)));
        a = d;
        d = c;
        c = b;
        b = _mm256_add_epi32(b, t);
    }
    uint32_t v[4][8];
    _mm256_storeu_si256((__m256i *)v[0], _mm256_add_epi32(a, a0));
    _mm256_storeu_si256((__m256i *)v[1], _mm256_add_epi32(b, b0));
    _mm256_storeu_si256((__m256i *)v[2], _mm256_add_epi32(c, c0));
    _mm256_storeu_si256((__m256i *)v[3], _mm256_add_epi32(d, d0));
    for (size_t l = 0; l < n; l++)
        for (int q = 0; q < 4; q++) /* little-endian words, as MD5 writes them */
            memcpy(out[l] + 4 * q, &v[q][l], 4);
}

#endif

void fl_rec_partition_hash_many(const fl_slice_t *keys, size_t n, uint8_t (*out)[16])
{
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) { /* (libgcc's flags, set at load: a load and a test) */
        fl_slice_t lane[8];
        size_t at[8], m = 0;
        for (; i < n; i++) {
            if (keys[i].n > FL_REC_HASH_ONE_BLOCK) {
                fl_rec_partition_hash(keys[i], out[i]);
                continue;
            }
            lane[m] = keys[i];
            at[m++] = i;
            if (m == 8 || i + 1 == n) {
                uint8_t h[8][16];
                md5x8(lane, m, h);
                for (size_t l = 0; l < m; l++)
                    memcpy(out[at[l]], h[l], 16);
                m = 0;
            }
        }
        if (m) { /* (the last key was a long one) */
            uint8_t h[8][16];
            md5x8(lane, m, h);
            for (size_t l = 0; l < m; l++)
                memcpy(out[at[l]], h[l], 16);
        }
        return;
    }
#endif
    for (; i < n; i++)
        fl_rec_partition_hash(keys[i], out[i]);
}

int fl_rec_u128_parse(const char *s, uint8_t out[16])
{
    unsigned __int128 x;
    if ((s[0] == '0' && s[1]) || fl_dec128_parse(s, &x) != 0)
        return -1; /* (AWS's pattern for hash keys: 0|([1-9]\d{0,38})) */
    for (int i = 15; i >= 0; i--) {
        out[i] = (uint8_t)(x & 0xff);
        x >>= 8;
    }
    return 0;
}

void fl_rec_put_time(fl_buf_t *b, int64_t ns)
{
    fl_awstime_buf_epoch(b, ns, 3);
}

static void free_taken(void *ctx)
{
    fl_buf_t *b = ctx;
    fl_buf_free(b);
    free(b);
}

void fl_rec_respond_take(fl_http_req_t *r, const char *content_type, fl_buf_t *body)
{
    fl_buf_t *own = body->err ? NULL : malloc(sizeof *own);
    if (!own) { /* (out of memory: as a copy, or the error) */
        if (body->err)
            fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        else
            fl_http_respond(r, 200, content_type, fl_buf_slice(body));
        return;
    }
    /* the answer holds the bytes (a 10 MiB GetRecords is not copied again)
     * until it is sent */
    *own = *body;
    fl_buf_init(body, 0);
    fl_http_respond_shared(r, 200, content_type, fl_buf_slice(own), free_taken, own);
}

void fl_rec_respond(fl_http_req_t *r, fl_buf_t *body)
{
    if (body->err)
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
    else if (r->cbor) /* transcoded by the HTTP core */
        fl_http_respond(r, 200, "application/x-amz-json-1.1", fl_buf_slice(body));
    else
        fl_rec_respond_take(r, "application/x-amz-json-1.1", body);
}

/* ---- data streams in use ---- */

static void use(fl_records_t *rs, uint64_t id)
{
    pthread_mutex_lock(&rs->in_use_mu);
    for (fl_rec_use_t *u = rs->in_use; u; u = u->next)
        if (u->log_id == id) {
            u->users++;
            pthread_mutex_unlock(&rs->in_use_mu);
            return;
        }
    fl_rec_use_t *u = calloc(1, sizeof *u);
    if (u) { /* else not counted: a delete meanwhile is refused by storage's own checks */
        u->log_id = id;
        u->users = 1;
        u->next = rs->in_use;
        rs->in_use = u;
    }
    pthread_mutex_unlock(&rs->in_use_mu);
}

static void unuse(fl_records_t *rs, uint64_t id)
{
    pthread_mutex_lock(&rs->in_use_mu);
    for (fl_rec_use_t **p = &rs->in_use; *p; p = &(*p)->next) {
        if ((*p)->log_id != id)
            continue;
        if (--(*p)->users == 0) {
            fl_rec_use_t *u = *p;
            *p = u->next;
            free(u);
        }
        break;
    }
    pthread_mutex_unlock(&rs->in_use_mu);
}

static int being_deleted(const fl_records_t *rs, uint64_t id)
{
    for (const fl_rec_use_t *u = rs->in_use; u; u = u->next)
        if (u->log_id == id)
            return u->deleting;
    return 0;
}

int fl_rec_begin_delete(fl_rec_stream_t *st)
{
    for (fl_rec_use_t *u = st->rs->in_use; u; u = u->next) {
        if (u->log_id != st->info.id)
            continue;
        if (u->users != 1)
            return -1;
        u->deleting = 1;
        return 0;
    }
    return -1; /* not counted (out of memory at use()): refuse */
}

int fl_rec_access(fl_http_req_t *r, const char *name)
{
    fl_records_t *rs = r->mod;
    char arn[FL_RECORDS_NAME_MAX + 256], action[96];
    const char *why = NULL;
    if (name)
        fl_rec_arn(rs, name, arn, sizeof arn);
    else
        snprintf(arn, sizeof arn, "*");
    snprintf(action, sizeof action, "kinesis:%s", r->route->target + strlen("Kinesis_20131202."));
    if (fl_server_access(rs->srv, &r->who, action, arn, &why) != 0) {
        fl_http_respond_error(r, 400, "AccessDeniedException", "%s on %s: %s", action, arn, why);
        return -1;
    }
    return 0;
}

static int resolve(fl_http_req_t *r, const char *name, const char *arn, fl_rec_stream_t *st)
{
    fl_records_t *rs = r->mod;
    const char *why = NULL;
    memset(st, 0, sizeof *st);
    st->rs = rs;
    if (arn && arn[0]) {
        /* arn:aws:kinesis:<region>:<account>:stream/<name> */
        const char *p = strstr(arn, ":stream/");
        if (strncmp(arn, "arn:aws:kinesis:", 16) != 0 || !p) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "StreamARN is not a "
                                  "data stream ARN");
            return -1;
        }
        if (name && name[0] && strcmp(name, p + 8) != 0) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "StreamName and StreamARN name different streams");
            return -1;
        }
        name = p + 8;
    }
    if (!name || !name[0]) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "StreamName or StreamARN is required");
        return -1;
    }
    if (fl_rec_valid_name(name, &why) != 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "%s", why);
        return -1;
    }
    snprintf(st->name, sizeof st->name, "%s", name);
    fl_rec_arn(rs, st->name, st->arn, sizeof st->arn);
    if (arn && arn[0] && strcmp(arn, st->arn) != 0) {
        fl_http_respond_error(r, 400, "ResourceNotFoundException",
                              "Stream %s under account %s not found.", st->name,
                              fl_server_config(rs->srv)->account_id);
        return -1;
    }
    if (fl_rec_access(r, st->name) != 0)
        return -1;
    char ln[FL_LOG_MAX_NAME + 1];
    fl_rec_log_name(st->name, ln, sizeof ln);
    int rc = fl_log_open(fl_server_store(rs->srv), ln, &st->log);
    if (!rc)
        rc = fl_log_info(st->log, &st->info);
    if (!rc && being_deleted(rs, st->info.id))
        rc = FL_ENOTFOUND; /* DELETING: as AWS, not found for new calls */
    if (rc && st->log) {
        fl_log_close(st->log);
        st->log = NULL;
    }
    if (rc == FL_ENOTFOUND) {
        fl_http_respond_error(r, 400, "ResourceNotFoundException",
                              "Stream %s under account %s not found.", st->name,
                              fl_server_config(rs->srv)->account_id);
        return -1;
    }
    if (rc) {
        fl_http_respond_error(r, 500, "InternalFailureException", "stream %s: %s", st->name,
                              fl_strerror(rc));
        return -1;
    }
    use(rs, st->info.id);
    st->held = 1;
    return 0;
}

int fl_rec_get(fl_http_req_t *r, fl_rec_stream_t *st)
{
    const fl_json_t *n = fl_http_json(r, "StreamName");
    const fl_json_t *a = fl_http_json(r, "StreamARN");
    if ((n && n->type != FL_JSON_STRING) || (a && a->type != FL_JSON_STRING)) {
        fl_http_respond_error(r, 400, "SerializationException",
                              "StreamName and StreamARN are strings");
        return -1;
    }
    return resolve(r, n ? n->str : NULL, a ? a->str : NULL, st);
}

int fl_rec_get_named(fl_http_req_t *r, const char *name, fl_rec_stream_t *st)
{
    return resolve(r, name, NULL, st);
}

void fl_rec_put(fl_rec_stream_t *st)
{
    if (!st || !st->held)
        return;
    unuse(st->rs, st->info.id);
    fl_log_close(st->log);
    st->log = NULL;
    st->held = 0;
}

/* Is the data stream in use (DeleteStream waits for none)? */
int fl_rec_in_use(const fl_records_t *rs, uint64_t log_id)
{
    fl_records_t *w = (fl_records_t *)rs; /* the lock only */
    int users = 0;
    pthread_mutex_lock(&w->in_use_mu);
    for (const fl_rec_use_t *u = rs->in_use; u; u = u->next)
        if (u->log_id == log_id) {
            users = u->users;
            break;
        }
    pthread_mutex_unlock(&w->in_use_mu);
    return users;
}

int fl_rec_updating(const fl_rec_stream_t *st)
{
    int updating = 0;
    pthread_mutex_lock(&st->rs->in_use_mu);
    for (const fl_rec_use_t *u = st->rs->in_use; u; u = u->next)
        if (u->log_id == st->info.id) {
            updating = u->updating;
            break;
        }
    pthread_mutex_unlock(&st->rs->in_use_mu);
    return updating;
}

int fl_rec_begin_update(fl_http_req_t *r, fl_rec_stream_t *st)
{
    pthread_mutex_lock(&st->rs->in_use_mu);
    for (fl_rec_use_t *u = st->rs->in_use; u; u = u->next) {
        if (u->log_id != st->info.id)
            continue;
        if (u->updating) {
            pthread_mutex_unlock(&st->rs->in_use_mu);
            fl_http_respond_error(r, 400, "ResourceInUseException",
                                  "Stream %s under account %s is UPDATING: a reshard is running; "
                                  "retry when it is ACTIVE.",
                                  st->name, fl_server_config(st->rs->srv)->account_id);
            return -1;
        }
        u->updating = 1;
        pthread_mutex_unlock(&st->rs->in_use_mu);
        return 0;
    }
    pthread_mutex_unlock(&st->rs->in_use_mu);
    /* not counted (out of memory at use()): refuse rather than run unguarded */
    fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
    return -1;
}

void fl_rec_end_update(fl_rec_stream_t *st)
{
    pthread_mutex_lock(&st->rs->in_use_mu);
    for (fl_rec_use_t *u = st->rs->in_use; u; u = u->next)
        if (u->log_id == st->info.id)
            u->updating = 0;
    pthread_mutex_unlock(&st->rs->in_use_mu);
}

/* ---- calls that run on a worker ---- */

static void job_work(fl_http_async_t *a)
{
    fl_rec_job_t *j = (fl_rec_job_t *)a;
    if (j->work && !j->rc)
        j->work(j);
}

static void job_done(fl_http_async_t *a, fl_http_req_t *r)
{
    fl_rec_job_t *j = (fl_rec_job_t *)a;
    if (j->after)
        j->after(j);
    if (r) {
        const char *acct = fl_server_config(j->rs->srv)->account_id;
        if (j->err_type)
            fl_http_respond_error(r, 400, j->err_type, "%s", j->msg);
        else if (j->rc == FL_EEXISTS)
            fl_http_respond_error(r, 400, "ResourceInUseException",
                                  "Stream %s under account %s already exists.", j->name, acct);
        else if (j->rc == FL_ENOTFOUND)
            fl_http_respond_error(r, 400, "ResourceNotFoundException",
                                  "Stream %s under account %s not found.", j->name, acct);
        else if (j->rc == FL_EBUSY)
            fl_http_respond_error(r, 400, "ResourceInUseException", "Stream %s is in use.",
                                  j->name);
        else if (j->rc)
            fl_http_respond_error(r, 500, "InternalFailureException", "stream %s: %s", j->name,
                                  fl_strerror(j->rc));
        else if (j->out.n || j->out.err)
            fl_rec_respond(r, &j->out);
        else
            fl_http_respond(r, 200, "application/x-amz-json-1.1", fl_slice_str("{}"));
    }
    fl_rec_put(&j->st);
    fl_buf_free(&j->out);
    free(j);
}

fl_rec_job_t *fl_rec_job_new(fl_http_req_t *r, size_t size, void (*work)(fl_rec_job_t *j))
{
    fl_rec_job_t *j = calloc(1, size < sizeof *j ? sizeof *j : size);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailureException", "out of memory");
        return NULL;
    }
    j->rs = r->mod;
    j->store = fl_server_store(j->rs->srv);
    j->work = work;
    j->a.work = job_work;
    j->a.done = job_done;
    fl_buf_init(&j->out, 0);
    return j;
}

void fl_rec_job_submit(fl_http_req_t *r, fl_rec_job_t *j)
{
    if (fl_http_async_or_busy(r, &j->a, "LimitExceededException") != 0) {
        if (j->after)
            j->after(j);
        fl_rec_put(&j->st);
        fl_buf_free(&j->out);
        free(j);
    }
}

void fl_rec_job_fail(fl_rec_job_t *j, const char *err_type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof j->msg, fmt, ap);
    va_end(ap);
    j->err_type = err_type;
}
