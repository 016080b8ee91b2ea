/*
 * server/kvs/api_fragments.c — ListFragments: the fragments of a stream in a
 * server- or producer-timestamp range, with their sizes and lengths,
 * paginated (MaxResults 1..1000, NextToken).
 *
 * The listing reads the fragments' records (decrypting them) on a worker:
 * size is the record's payload size, length comes from its header
 * (docs/fragment-format.md). NextToken is the base64 of the decimal
 * sequence number to go on from. Fragments come in sequence order, which is
 * also server- and producer-timestamp order (PutMedia refuses timecodes
 * that go back).
 *
 * The TimestampRange is inclusive at both ends and compared at the
 * precision the times are reported in (milliseconds, kvs.h): the bounds are
 * parsed exactly from their decimal digits (common/awstime.h), so a range
 * from one listed fragment's timestamp to another's holds both.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/base64.h"
#include "common/error.h"
#include "server/kvs/kvs.h"
#include "server/video/fragment.h"
#include "server/video/hub.h"
#include "server/video/validate.h"

typedef struct {
    fl_http_async_t a;   /* first */
    fl_stream_ref_t ref; /* held while the job runs: the log stays */
    fl_log_from_t from;
    uint64_t seq;
    int64_t start_ns, end_ns; /* the range, inclusive */
    int64_t search_ns;        /* the first stored time reported at or after start_ns */
    int by_producer;
    int has_range;
    size_t max;
    fl_buf_t out;
    int status;
    char msg[600];
} lf_job_t;

static void put_ts(fl_buf_t *b, int64_t ns)
{
    fl_buf_printf(b, "%" PRId64 ".%03" PRId64, ns / 1000000000, (ns / 1000000) % 1000);
}

static void lf_work(fl_http_async_t *a)
{
    lf_job_t *j = (lf_job_t *)a;
    fl_log_read_opts_t o;
    memset(&o, 0, sizeof o);
    o.from = j->from;
    o.seq = j->seq;
    o.ts_ns = j->search_ns;
    size_t n = 0;
    int more = 0;
    uint64_t next = 0;
    fl_log_batch_t batch;
    memset(&batch, 0, sizeof batch);
    fl_buf_append_str(&j->out, "{\"Fragments\":[");
    for (;;) {
        o.max_records = j->max - n < 64 ? j->max - n : 64;
        o.max_bytes = 64u << 20;
        int rc = fl_log_read(j->ref.log, 0, &o, &batch);
        if (rc == FL_EAGAIN || rc == FL_EEOF)
            break;
        if (rc == FL_ECORRUPT) {
            o.from = FL_LOG_AT_SEQ;
            o.seq = batch.next_seq;
            continue;
        }
        if (rc) {
            j->status = rc == FL_EEXPIRED ? 0 : 500;
            if (rc == FL_EEXPIRED) { /* the start is gone: list what remains */
                o.from = FL_LOG_AT_SEQ;
                o.seq = batch.next_seq;
                if (o.seq)
                    continue;
                break;
            }
            snprintf(j->msg, sizeof j->msg, "reading stream %s: %s", j->ref.name, fl_strerror(rc));
            fl_log_batch_free(&batch);
            return;
        }
        int stop = 0;
        for (size_t i = 0; i < batch.count; i++) {
            const fl_log_record_t *rec = &batch.records[i];
            int64_t ts =
                fl_kvs_reported_ns(j->by_producer ? rec->producer_ts_ns : rec->server_ts_ns);
            if (j->has_range && ts > j->end_ns) {
                stop = 1;
                break;
            }
            if (j->has_range && ts < j->start_ns)
                continue; /* (storage found it below the bound's precision) */
            if (n == j->max) {
                more = 1;
                next = rec->seq;
                stop = 1;
                break;
            }
            fl_fragment_t f;
            uint32_t len_ms = 0;
            if (fl_fragment_decode(rec->payload, &f) == 0 && fl_fragment_length_ms(&f, &len_ms))
                len_ms = 0;
            char number[FL_FRAGMENT_NUMBER_CAP];
            fl_fragment_number(j->ref.info.id, rec->seq, number, sizeof number);
            fl_buf_printf(&j->out, "%s{\"FragmentNumber\":\"%s\",\"FragmentSizeInBytes\":%zu,",
                          n ? "," : "", number, rec->payload.n);
            fl_buf_append_str(&j->out, "\"ProducerTimestamp\":");
            put_ts(&j->out, rec->producer_ts_ns);
            fl_buf_append_str(&j->out, ",\"ServerTimestamp\":");
            put_ts(&j->out, rec->server_ts_ns);
            fl_buf_printf(&j->out, ",\"FragmentLengthInMilliseconds\":%u}", len_ms);
            n++;
        }
        if (stop)
            break;
        o.from = FL_LOG_AT_SEQ;
        o.seq = batch.next_seq;
    }
    fl_log_batch_free(&batch);
    fl_buf_u8(&j->out, ']');
    if (more) {
        char dec[24];
        snprintf(dec, sizeof dec, "%" PRIu64, next);
        fl_buf_append_str(&j->out, ",\"NextToken\":\"");
        fl_base64_encode(&j->out, fl_slice_str(dec));
        fl_buf_u8(&j->out, '"');
    }
    fl_buf_u8(&j->out, '}');
    j->status = j->out.err ? 500 : 200;
}

static void lf_done(fl_http_async_t *a, fl_http_req_t *r)
{
    lf_job_t *j = (lf_job_t *)a;
    fl_stream_put(&j->ref); /* DeleteStream waits for it */
    if (r) {
        if (j->status == 200)
            fl_http_respond(r, 200, "application/json", fl_buf_slice(&j->out));
        else
            fl_http_respond_error(r, 500, "InternalFailure", "%s",
                                  j->msg[0] ? j->msg : "out of memory");
    }
    fl_buf_free(&j->out);
    free(j);
}

void fl_api_list_fragments(fl_http_req_t *r)
{
    const fl_json_t *v;
    fl_stream_ref_t ref;
    if (fl_api_media_stream(r, "kinesisvideo:ListFragments", &ref))
        return;
    lf_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_stream_put(&ref);
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    j->ref = ref;
    fl_buf_init(&j->out, 0);
    j->max = 1000;
    int64_t max;
    if ((v = fl_http_json(r, "MaxResults"))) {
        if (fl_json_int64(v, &max) != 0 || max < 1 || max > 1000) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "MaxResults must be 1 to 1000");
            goto fail;
        }
        j->max = (size_t)max;
    }
    const fl_json_t *sel = fl_http_json(r, "FragmentSelector");
    if (sel && sel->type != FL_JSON_NULL) {
        const fl_json_t *type = fl_json_get(sel, "FragmentSelectorType");
        const fl_json_t *range = fl_json_get(sel, "TimestampRange");
        if (!type || type->type != FL_JSON_STRING ||
            (strcmp(type->str, "SERVER_TIMESTAMP") != 0 &&
             strcmp(type->str, "PRODUCER_TIMESTAMP") != 0) ||
            !range || fl_awstime_parse_json(fl_json_get(range, "StartTimestamp"), &j->start_ns) ||
            fl_awstime_parse_json(fl_json_get(range, "EndTimestamp"), &j->end_ns) ||
            j->end_ns < j->start_ns) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "FragmentSelector needs FragmentSelectorType SERVER_TIMESTAMP "
                                  "or PRODUCER_TIMESTAMP and a TimestampRange with "
                                  "StartTimestamp <= EndTimestamp");
            goto fail;
        }
        j->by_producer = type->str[0] == 'P';
        j->has_range = 1;
        j->from = j->by_producer ? FL_LOG_AT_PRODUCER_TS : FL_LOG_AT_SERVER_TS;
        j->search_ns = fl_kvs_reported_ceil_ns(j->start_ns);
    } else {
        j->from = FL_LOG_AT_SEQ;
        j->seq = 0;
    }
    if ((v = fl_http_json(r, "NextToken")) && v->type != FL_JSON_NULL) {
        fl_buf_t d;
        fl_buf_init(&d, 32);
        char dec[33];
        char *end;
        if (v->type != FL_JSON_STRING || fl_base64_decode(&d, fl_slice(v->str, v->len)) ||
            d.n == 0 || d.n > 20) {
            fl_buf_free(&d);
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken is not a token this server gave");
            goto fail;
        }
        memcpy(dec, d.p, d.n);
        dec[d.n] = 0;
        fl_buf_free(&d);
        j->seq = strtoull(dec, &end, 10);
        if (*end) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken is not a token this server gave");
            goto fail;
        }
        j->from = FL_LOG_AT_SEQ;
    }
    j->a.work = lf_work;
    j->a.done = lf_done;
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0)
        goto fail;
    return;
fail:
    fl_stream_put(&j->ref);
    fl_buf_free(&j->out);
    free(j);
}
