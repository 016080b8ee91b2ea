/*
 * server/console/status.c — POST /framelog/listStreamStatus: every video
 * stream's state at a glance, the one thing the console needs that no AWS
 * API answers (AWS's console reads CloudWatch for it). A framelog
 * extension, read-only, in the rest-json shape of the Kinesis Video APIs
 * (docs/api.md has the fields).
 *
 * The catalog and storage are read on a worker: the streams (in name
 * order, paged by NextToken like ListStreams), each stream's log info
 * (retention, bytes on disk) and its newest fragments — those within
 * STATUS_WINDOW_NS of producer time before the newest, at most
 * STATUS_MAX_FRAGMENTS — for the newest fragment's times and the recent
 * bitrate (their stored bytes over the time they span). Back on the loop,
 * whether a producer is connected comes from the hub (under its lock: the
 * hub is shared by the event loops), and each stream
 * passes the access check (kinesisvideo:DescribeStream on its ARN; the
 * call itself is kinesisvideo:ListStreams on "*", as ListStreams is);
 * streams the caller may not describe are left out.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "server/console/console.h"
#include "server/core/server.h"
#include "server/video/fragment.h"
#include "server/video/hub.h"
#include "server/video/streams.h"
#include "server/video/validate.h"
#include "server/video/video.h"

#define STATUS_DEFAULT_RESULTS 100
#define STATUS_MAX_RESULTS     1000
#define STATUS_WINDOW_NS       (10 * 1000000000LL) /* the bitrate's window of producer time */
#define STATUS_MAX_FRAGMENTS   256                 /* read per stream for it, at most */

typedef struct {
    fl_stream_info_t info;
    uint64_t bytes;
    int has_last;
    uint64_t last_seq, log_id;
    int64_t last_pts, last_sts; /* ns */
    uint32_t last_len_ms;
    double bitrate; /* bits per second, 0 when unknown */
} st_row_t;

typedef struct {
    fl_http_async_t a; /* first */
    fl_video_t *video;
    char after[FL_STREAM_NAME_MAX + 1];
    char only[FL_STREAM_NAME_MAX + 1]; /* StreamName: that stream only */
    size_t max;
    st_row_t *rows;
    size_t n;
    int more;
    int rc;
} st_job_t;

/* The newest fragments of log (shard 0) into row. */
static void newest(fl_log_t *log, st_row_t *row)
{
    fl_log_shard_info_t *sh = NULL;
    size_t nsh = 0;
    if (fl_log_shards(log, &sh, &nsh) || nsh == 0 || sh[0].max_producer_ts_ns == 0) {
        free(sh);
        return;
    }
    int64_t top = sh[0].max_producer_ts_ns;
    free(sh);
    fl_log_read_opts_t o = {.from = FL_LOG_AT_PRODUCER_TS, .ts_ns = top - STATUS_WINDOW_NS};
    o.max_records = 32;
    o.max_bytes = 64u << 20;
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    size_t seen = 0;
    uint64_t bytes = 0;
    int64_t first_pts = 0, end_pts = 0;
    while (seen < STATUS_MAX_FRAGMENTS) {
        int rc = fl_log_read(log, 0, &o, &b);
        if (rc == FL_EEXPIRED || rc == FL_ECORRUPT) {
            if (!b.next_seq)
                break;
            o.from = FL_LOG_AT_SEQ;
            o.seq = b.next_seq;
            continue;
        }
        if (rc)
            break;
        for (size_t i = 0; i < b.count && seen < STATUS_MAX_FRAGMENTS; i++, seen++) {
            const fl_log_record_t *rec = &b.records[i];
            fl_fragment_t f;
            uint32_t len_ms = 0;
            if (fl_fragment_decode(rec->payload, &f) != 0 || fl_fragment_length_ms(&f, &len_ms))
                len_ms = 0;
            if (!row->has_last)
                first_pts = rec->producer_ts_ns;
            row->has_last = 1;
            row->last_seq = rec->seq;
            row->last_pts = rec->producer_ts_ns;
            row->last_sts = rec->server_ts_ns;
            row->last_len_ms = len_ms;
            bytes += rec->payload.n;
            end_pts = rec->producer_ts_ns + (int64_t)len_ms * 1000000;
        }
        o.from = FL_LOG_AT_SEQ;
        o.seq = b.next_seq;
    }
    fl_log_batch_free(&b);
    if (row->has_last && end_pts > first_pts)
        row->bitrate = (double)bytes * 8.0 * 1e9 / (double)(end_pts - first_pts);
}

static void st_work(fl_http_async_t *a)
{
    st_job_t *j = (st_job_t *)a;
    fl_stream_info_t *list = NULL;
    size_t n = 0;
    if (j->only[0]) {
        list = calloc(1, sizeof *list);
        if (!list) {
            j->rc = FL_ENOMEM;
            return;
        }
        j->rc = fl_video_streams_describe(j->video->streams, j->only, -1, list);
        n = j->rc == 0;
        if (j->rc == FL_ENOTFOUND)
            j->rc = 0;
    } else {
        j->rc = fl_video_streams_list(j->video->streams, "", j->after, j->max, &list, &n, &j->more);
    }
    if (j->rc) {
        free(list);
        return;
    }
    j->rows = calloc(n ? n : 1, sizeof *j->rows);
    if (!j->rows) {
        free(list);
        j->rc = FL_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        st_row_t *row = &j->rows[j->n];
        fl_log_t *log = NULL;
        if (fl_video_streams_log(j->video->streams, list[i].name, &log) != 0)
            continue; /* deleted meanwhile */
        row->info = list[i];
        fl_log_info_t li;
        if (fl_log_info(log, &li) == 0) {
            row->bytes = li.bytes;
            row->log_id = li.id;
        }
        newest(log, row);
        fl_log_close(log);
        j->n++;
    }
    free(list);
}

static void put_ts(fl_buf_t *b, int64_t ns)
{
    fl_buf_printf(b, "%" PRId64 ".%03" PRId64, ns / 1000000000, (ns / 1000000) % 1000);
}

static void st_done(fl_http_async_t *a, fl_http_req_t *r)
{
    st_job_t *j = (st_job_t *)a;
    if (!r)
        goto out;
    if (j->rc) {
        fl_http_respond_error(r, 500, "InternalFailure", "listing streams: %s", fl_strerror(j->rc));
        goto out;
    }
    fl_buf_t b;
    fl_buf_init(&b, 0);
    int64_t now = fl_time_real_ns();
    fl_buf_append_str(&b, "{\"StreamStatus\":[");
    int first = 1;
    for (size_t i = 0; i < j->n; i++) {
        const st_row_t *row = &j->rows[i];
        const char *why = NULL;
        if (fl_server_access(r->srv, &r->who, "kinesisvideo:DescribeStream", row->info.arn, &why) !=
            0)
            continue;
        /* the hub is shared by the loops: its entry may go (a producer
         * leaving on another loop) once the lock is let go */
        fl_hub_lock(j->video->hub);
        fl_hub_entry_t *e = fl_hub_find(j->video->hub, row->info.name);
        int producer = e && e->producer;
        fl_hub_unlock(j->video->hub);
        fl_buf_append_str(&b, first ? "{\"StreamName\":" : ",{\"StreamName\":");
        first = 0;
        fl_json_write_string(&b, fl_slice_str(row->info.name));
        fl_buf_append_str(&b, ",\"StreamARN\":");
        fl_json_write_string(&b, fl_slice_str(row->info.arn));
        fl_buf_printf(&b,
                      ",\"DataRetentionInHours\":%" PRIu32 ",\"SizeOnDiskBytes\":%" PRIu64
                      ",\"ProducerConnected\":%s,\"RecentBitrate\":%.0f",
                      row->info.retention_hours, row->bytes, producer ? "true" : "false",
                      row->bitrate);
        if (row->has_last) {
            char number[FL_FRAGMENT_NUMBER_CAP];
            fl_fragment_number(row->log_id, row->last_seq, number, sizeof number);
            fl_buf_printf(
                &b, ",\"LastFragment\":{\"FragmentNumber\":\"%s\",\"ProducerTimestamp\":", number);
            put_ts(&b, row->last_pts);
            fl_buf_append_str(&b, ",\"ServerTimestamp\":");
            put_ts(&b, row->last_sts);
            int64_t age = (now - row->last_sts) / 1000000;
            fl_buf_printf(&b,
                          ",\"FragmentLengthInMilliseconds\":%" PRIu32
                          ",\"AgeInMilliseconds\":%" PRId64 "}",
                          row->last_len_ms, age < 0 ? 0 : age);
        }
        fl_buf_u8(&b, '}');
    }
    fl_buf_u8(&b, ']');
    if (j->more && j->n) {
        fl_buf_append_str(&b, ",\"NextToken\":\"");
        fl_base64_encode(&b, fl_slice_str(j->rows[j->n - 1].info.name));
        fl_buf_u8(&b, '"');
    }
    fl_buf_u8(&b, '}');
    if (b.err)
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
    else
        fl_http_respond(r, 200, "application/json", fl_buf_slice(&b));
    fl_buf_free(&b);
out:
    free(j->rows);
    free(j);
}

void fl_console_list_stream_status(fl_http_req_t *r)
{
    const char *why = NULL;
    if (fl_server_access(r->srv, &r->who, "kinesisvideo:ListStreams", "*", &why) != 0) {
        fl_http_respond_error(r, 403, "AccessDeniedException", "kinesisvideo:ListStreams on *: %s",
                              why);
        return;
    }
    st_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    j->video = fl_video_of(r->srv);
    int64_t max = STATUS_DEFAULT_RESULTS;
    if (fl_http_json_int(r, "MaxResults", 1, STATUS_MAX_RESULTS, &max) < 0)
        goto fail;
    j->max = (size_t)max;
    const fl_json_t *v = fl_http_json(r, "StreamName");
    if (v && v->type != FL_JSON_NULL) {
        const char *bad = NULL;
        if (v->type != FL_JSON_STRING || fl_valid_stream_name(fl_slice(v->str, v->len), &bad)) {
            fl_http_respond_error(r, 400, "InvalidArgumentException", "StreamName: %s",
                                  bad ? bad : "must be a string");
            goto fail;
        }
        memcpy(j->only, v->str, v->len);
    }
    v = fl_http_json(r, "NextToken");
    if (v && v->type != FL_JSON_NULL) {
        fl_buf_t d;
        fl_buf_init(&d, 0);
        if (v->type != FL_JSON_STRING || fl_base64_decode(&d, fl_slice(v->str, v->len)) ||
            fl_valid_stream_name(fl_buf_slice(&d), NULL) != 0) {
            fl_buf_free(&d);
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken is not a token this server gave");
            goto fail;
        }
        memcpy(j->after, d.p, d.n);
        fl_buf_free(&d);
    }
    j->a.work = st_work;
    j->a.done = st_done;
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0)
        goto fail;
    return;
fail:
    free(j);
}
