/*
 * server/playback/images.c — GetImages: `POST /getImages` with AWS's shape
 * (reference/kvs-shapes.md): still images of a stream's video at a
 * sampling interval over a time range, JPEG or PNG, a page at a time.
 *
 * Request: ImageSelectorType (PRODUCER_TIMESTAMP | SERVER_TIMESTAMP),
 * StartTimestamp and EndTimestamp (at most 300 s apart, end not before
 * start), SamplingInterval (ms, at least 200; framelog's default when
 * absent is FL_IMAGES_DEFAULT_INTERVAL_MS), Format (JPEG | PNG),
 * FormatConfig {"JPEGQuality": "1".."100"} (default 80), WidthPixels
 * (1..3840, only with HeightPixels) and HeightPixels (1..2160; alone, the
 * width follows the aspect ratio), MaxResults (1..100; a page holds at
 * most FL_IMAGES_PAGE images, as AWS's does), NextToken.
 *
 * The samples are start, start + interval, ... up to end (just start when
 * the range is shorter than the interval). Each is answered by the
 * picture on screen at that time in the stream's timeline (producer time,
 * or each fragment moved to its server time): the fragment whose span
 * [timestamp, timestamp + duration] holds it is decoded from its key frame
 * (media/av.h, fl_av_images_at) and the last picture at or before the
 * sample is scaled and encoded. A sample no fragment holds is
 * `{"TimeStamp": t, "Error": "NO_MEDIA"}`; one whose fragment has no
 * video or does not decode is `MEDIA_ERROR`. Images are
 * `{"TimeStamp": t, "ImageContent": "<base64>"}`.
 *
 * NextToken (present while samples remain) is a token of the server's
 * (core/token.h, kind FL_TOKEN_IMAGES_PAGE, valid FL_IMAGES_TOKEN_TTL_MS)
 * whose payload names the request it continues and where (the bytes:
 * docs/playback.md), written in standard base64 with padding as AWS's
 * pattern `[a-zA-Z0-9+/]+={0,2}` says. A NextToken is taken only with the
 * same stream (and incarnation), selector, range, interval, format,
 * quality and size; otherwise InvalidArgumentException.
 *
 * Threads: fields, the stream's reference (kinesisvideo:GetImages) and the
 * token are checked on the loop; reading, decoding and encoding run on a
 * worker, which also writes the JSON answer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/base64.h"
#include "common/clock.h"
#include "common/error.h"
#include "server/core/server.h"
#include "server/core/token.h"
#include "server/playback/playback.h"

#define FL_IMAGES_MAX_RANGE_NS        (300LL * 1000000000) /* AWS: 300 s */
#define FL_IMAGES_MIN_INTERVAL_MS     200                  /* AWS: 5 images a second */
#define FL_IMAGES_DEFAULT_INTERVAL_MS 3000
#define FL_IMAGES_PAGE                25      /* AWS: at most 25 images per response */
#define FL_IMAGES_MAX_CONTENT         6291456 /* AWS: ImageContent's longest */
#define FL_IMAGES_TOKEN_TTL_MS        (3600LL * 1000)
#define FL_IMAGES_MAX_FRAGMENT_NS     (20LL * 1000000000) /* PutMedia's longest fragment */
#define FL_IMAGES_MAX_FRAGMENTS       5000

typedef struct {
    fl_http_async_t a; /* first */
    fl_playback_t *pb;
    fl_stream_ref_t ref; /* held while the job runs */
    fl_pb_images_req_t q;
    size_t page;        /* samples in this page */
    int more;           /* samples remain after it */
    const uint8_t *key; /* the server's token key */
    int64_t now_ms;
    fl_buf_t out; /* the JSON answer */
    fl_api_error_t err;
    uint64_t images, errors;
} images_job_t;

/* ---- the page token ---- */

#define TOKEN_VERSION 1

int fl_pb_images_token_seal(const uint8_t *key, const fl_pb_images_req_t *q, int64_t next_ns,
                            int64_t now_ms, fl_buf_t *out)
{
    size_t nl = strlen(q->name);
    if (nl == 0 || nl > FL_STREAM_NAME_MAX)
        return FL_EINVAL;
    fl_buf_t p, t;
    fl_buf_init(&p, 0);
    fl_buf_init(&t, 0);
    fl_buf_u8(&p, TOKEN_VERSION);
    fl_buf_u8(&p, (uint8_t)q->selector);
    fl_buf_u8(&p, (uint8_t)q->format);
    fl_buf_u8(&p, (uint8_t)q->quality);
    fl_buf_le16(&p, (uint16_t)q->width);
    fl_buf_le16(&p, (uint16_t)q->height);
    fl_buf_le32(&p, q->interval_ms);
    fl_buf_le64(&p, (uint64_t)q->incarnation_ms);
    fl_buf_le64(&p, (uint64_t)q->start_ns);
    fl_buf_le64(&p, (uint64_t)q->end_ns);
    fl_buf_le64(&p, (uint64_t)next_ns);
    fl_buf_le16(&p, (uint16_t)nl);
    fl_buf_append(&p, q->name, nl);
    int rc = p.err ? p.err
                   : fl_token_seal(key, FL_TOKEN_IMAGES_PAGE, fl_buf_slice(&p),
                                   now_ms + FL_IMAGES_TOKEN_TTL_MS, &t);
    if (rc == 0) {
        /* base64url without padding -> base64 with padding (AWS's pattern) */
        size_t n = strlen((const char *)t.p);
        for (size_t i = 0; i < n; i++) {
            char c = (char)t.p[i];
            fl_buf_u8(out, c == '-' ? '+' : c == '_' ? '/' : (uint8_t)c);
        }
        for (size_t i = n; i % 4; i++)
            fl_buf_u8(out, '=');
        rc = out->err;
    }
    fl_buf_free(&p);
    fl_buf_free(&t);
    return rc;
}

int fl_pb_images_token_open(const uint8_t *key, fl_slice_t text, int64_t now_ms,
                            fl_pb_images_req_t *q, int64_t *next_ns)
{
    if (text.n == 0 || text.n > 4096)
        return FL_EMALFORMED;
    fl_buf_t u, p;
    fl_buf_init(&u, 0);
    fl_buf_init(&p, 0);
    size_t n = text.n;
    while (n > 0 && text.p[n - 1] == '=' && text.n - n < 2)
        n--;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t c = text.p[i];
        if (c == '-' || c == '_' || c == '=')
            rc = FL_EMALFORMED; /* the base64url letters are not ours here */
        fl_buf_u8(&u, c == '+' ? '-' : c == '/' ? '_' : c);
    }
    /* the padding must be exactly what the length asks */
    if (!rc && (text.n - n) != (n % 4 ? 4 - n % 4 : 0))
        rc = FL_EMALFORMED;
    if (!rc)
        rc = u.err ? u.err : fl_token_open(key, FL_TOKEN_IMAGES_PAGE, fl_buf_slice(&u), now_ms, &p);
    if (rc)
        goto out;
    fl_reader_t r;
    fl_reader_init(&r, fl_buf_slice(&p));
    memset(q, 0, sizeof *q);
    unsigned version = fl_reader_u8(&r);
    q->selector = (fl_pb_selector_t)fl_reader_u8(&r);
    q->format = (fl_av_image_t)fl_reader_u8(&r);
    q->quality = fl_reader_u8(&r);
    q->width = fl_reader_le16(&r);
    q->height = fl_reader_le16(&r);
    q->interval_ms = fl_reader_le32(&r);
    q->incarnation_ms = (int64_t)fl_reader_le64(&r);
    q->start_ns = (int64_t)fl_reader_le64(&r);
    q->end_ns = (int64_t)fl_reader_le64(&r);
    *next_ns = (int64_t)fl_reader_le64(&r);
    size_t nl = fl_reader_le16(&r);
    fl_slice_t name = fl_reader_take(&r, nl);
    if (r.err || fl_reader_left(&r) != 0 || version != TOKEN_VERSION || q->selector > 1 ||
        (q->format != FL_AV_JPEG && q->format != FL_AV_PNG) || q->quality > 100 ||
        q->width > 3840 || q->height > 2160 || q->interval_ms < FL_IMAGES_MIN_INTERVAL_MS ||
        q->start_ns < 0 || q->end_ns < q->start_ns ||
        q->end_ns - q->start_ns > FL_IMAGES_MAX_RANGE_NS || *next_ns <= q->start_ns ||
        *next_ns > q->end_ns || nl == 0 || nl > FL_STREAM_NAME_MAX ||
        memchr(name.p, 0, name.n) != NULL) {
        rc = FL_EMALFORMED;
        goto out;
    }
    memcpy(q->name, name.p, nl);
    q->name[nl] = 0;
out:
    fl_buf_free(&u);
    fl_buf_free(&p);
    return rc;
}

/* ---- the page (worker) ---- */

/* The last entry whose timestamp is at or before t, or -1. */
static long entry_at(const fl_pb_entry_t *v, size_t n, int64_t t)
{
    long lo = 0, hi = (long)n - 1, found = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (v[mid].ts_ns <= t) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* Decode the samples times[0..k) of one fragment into outs/errs. */
static void fragment_images(images_job_t *j, const fl_pb_session_t *s, uint64_t seq,
                            const int64_t *times, size_t k, fl_buf_t *outs, int *errs)
{
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    fl_pb_media_t m;
    memset(&m, 0, sizeof m);
    const fl_log_record_t *rec = NULL;
    for (size_t i = 0; i < k; i++)
        errs[i] = FL_EMALFORMED;
    if (fl_pb_read_seq(j->ref.log, seq, &b, &rec) != 0 ||
        fl_pb_media_open(rec->payload, fl_pb_shift(s, rec), 1, &m) != 0)
        goto out;
    fl_log_batch_free(&b);
    for (size_t t = 0; t < m.n_tracks; t++)
        if (m.tracks[t].type == FL_MKV_TRACK_VIDEO) {
            fl_av_images_at(&m.tracks[t], m.frames, m.n_frames, times, k, j->q.format, j->q.width,
                            j->q.height, j->q.quality, outs, errs);
            break;
        }
out:
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
}

static void images_work(fl_http_async_t *a)
{
    images_job_t *j = (images_job_t *)a;
    const fl_pb_images_req_t *q = &j->q;
    int64_t times[FL_IMAGES_PAGE];
    fl_buf_t outs[FL_IMAGES_PAGE];
    int errs[FL_IMAGES_PAGE];
    int covered[FL_IMAGES_PAGE];
    long at[FL_IMAGES_PAGE];
    for (size_t i = 0; i < j->page; i++) {
        times[i] = q->next_ns + (int64_t)i * q->interval_ms * 1000000;
        fl_buf_init(&outs[i], 0);
        errs[i] = 0;
    }
    /* the fragments that may hold the page's samples */
    fl_pb_session_t s;
    memset(&s, 0, sizeof s);
    s.mode = FL_PB_ON_DEMAND;
    s.selector = q->selector;
    s.has_start = s.has_end = 1;
    s.start_ns = times[0] > FL_IMAGES_MAX_FRAGMENT_NS ? times[0] - FL_IMAGES_MAX_FRAGMENT_NS : 0;
    s.end_ns = times[j->page - 1];
    s.max_fragments = FL_IMAGES_MAX_FRAGMENTS;
    fl_pb_entry_t *v = NULL;
    size_t n = 0;
    int ended = 0;
    int rc = fl_pb_select(j->ref.log, &s, 0, &v, &n, &ended);
    if (rc) {
        fl_api_error(&j->err, 500, "InternalFailure", "reading stream %s: %s", j->ref.name,
                     fl_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < j->page; i++) {
        at[i] = entry_at(v, n, times[i]);
        covered[i] =
            at[i] >= 0 && times[i] <= v[at[i]].ts_ns + (int64_t)v[at[i]].duration_ms * 1000000;
    }
    /* one decode per fragment, for its run of samples */
    for (size_t i = 0; i < j->page;) {
        size_t e = i + 1;
        if (!covered[i]) {
            i = e;
            continue;
        }
        while (e < j->page && covered[e] && at[e] == at[i])
            e++;
        fragment_images(j, &s, v[at[i]].seq, times + i, e - i, outs + i, errs + i);
        i = e;
    }
    /* the answer */
    fl_buf_t *o = &j->out;
    fl_buf_append_str(o, "{\"Images\":[");
    for (size_t i = 0; i < j->page; i++) {
        fl_buf_append_str(o, i ? ",{\"TimeStamp\":" : "{\"TimeStamp\":");
        fl_awstime_buf_epoch(o, times[i], 3);
        size_t b64 = (outs[i].n + 2) / 3 * 4;
        if (!covered[i]) {
            fl_buf_append_str(o, ",\"Error\":\"NO_MEDIA\"}");
            j->errors++;
        } else if (errs[i] || outs[i].n == 0 || b64 > FL_IMAGES_MAX_CONTENT) {
            fl_buf_append_str(o, ",\"Error\":\"MEDIA_ERROR\"}");
            j->errors++;
        } else {
            fl_buf_append_str(o, ",\"ImageContent\":\"");
            fl_base64_encode(o, fl_buf_slice(&outs[i]));
            fl_buf_append_str(o, "\"}");
            j->images++;
        }
    }
    fl_buf_append_str(o, "]");
    if (j->more) {
        fl_buf_append_str(o, ",\"NextToken\":\"");
        int64_t next = times[j->page - 1] + (int64_t)q->interval_ms * 1000000;
        if (fl_pb_images_token_seal(j->key, q, next, j->now_ms, o) != 0)
            fl_api_error(&j->err, 500, "InternalFailure", "could not make the NextToken");
        fl_buf_append_str(o, "\"");
    }
    fl_buf_append_str(o, "}");
    if (!j->err.status && o->err)
        fl_api_error(&j->err, 500, "InternalFailure", "out of memory");
out:
    free(v);
    for (size_t i = 0; i < j->page; i++)
        fl_buf_free(&outs[i]);
}

static void images_done(fl_http_async_t *a, fl_http_req_t *r)
{
    images_job_t *j = (images_job_t *)a;
    fl_stream_put(&j->ref);
    j->pb->images += j->images;
    j->pb->image_errors += j->errors;
    if (r) {
        if (j->err.status)
            fl_http_respond_api_error(r, &j->err);
        else
            fl_http_respond(r, 200, "application/json", fl_buf_slice(&j->out));
    }
    fl_buf_free(&j->out);
    free(j);
}

/* ---- the request (loop) ---- */

static const char *const selectors[] = {"SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP", NULL};
static const char *const formats[] = {"JPEG", "PNG", NULL};

/* JPEGQuality from FormatConfig: 0 with *quality, -1 after the 400. */
static int parse_format_config(fl_http_req_t *r, int *quality)
{
    int bad = 0;
    const fl_json_t *fc = fl_pb_object_field(r, fl_json_root(r->json), "FormatConfig", &bad);
    *quality = 80;
    if (bad)
        return -1;
    if (!fc)
        return 0;
    const fl_json_t *qv = fl_json_get(fc, "JPEGQuality");
    size_t members = fc->count;
    char *end = NULL;
    long qn = qv && qv->type == FL_JSON_STRING ? strtol(qv->str, &end, 10) : 0;
    if (members != 1 || !qv || qv->type != FL_JSON_STRING || !end || *end || end == qv->str ||
        qn < 1 || qn > 100) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "FormatConfig takes one key, JPEGQuality, with a value from "
                              "\"1\" to \"100\"");
        return -1;
    }
    *quality = (int)qn;
    return 0;
}

/* The request into q (stream aside) and the page size; 0, or -1 after the 400. */
static int parse_images(fl_http_req_t *r, fl_pb_images_req_t *q, int64_t *max_results)
{
    const fl_json_t *root = fl_json_root(r->json);
    const char *missing = !fl_http_json(r, "ImageSelectorType") ? "ImageSelectorType"
                          : !fl_http_json(r, "StartTimestamp")  ? "StartTimestamp"
                          : !fl_http_json(r, "EndTimestamp")    ? "EndTimestamp"
                          : !fl_http_json(r, "Format")          ? "Format"
                                                                : NULL;
    if (missing) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "%s is required", missing);
        return -1;
    }
    int st = fl_pb_enum_field(r, root, "ImageSelectorType", selectors, -2);
    if (st == -1)
        return -1;
    int fmt = fl_pb_enum_field(r, root, "Format", formats, -2);
    if (fmt == -1)
        return -1;
    if (st < 0 || fmt < 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "ImageSelectorType and Format are required");
        return -1;
    }
    q->selector = (fl_pb_selector_t)st;
    q->format = fmt == 0 ? FL_AV_JPEG : FL_AV_PNG;
    int hs = fl_pb_ts_field(r, root, "StartTimestamp", &q->start_ns);
    if (hs < 0)
        return -1;
    int he = fl_pb_ts_field(r, root, "EndTimestamp", &q->end_ns);
    if (he < 0)
        return -1;
    if (!hs || !he) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "StartTimestamp and EndTimestamp are required");
        return -1;
    }
    if (q->end_ns < q->start_ns) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "EndTimestamp must not be earlier than StartTimestamp");
        return -1;
    }
    if (q->end_ns - q->start_ns > FL_IMAGES_MAX_RANGE_NS) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "EndTimestamp must be at most 300 seconds after StartTimestamp");
        return -1;
    }
    int64_t interval, w, h;
    if (fl_pb_int_field(r, "SamplingInterval", FL_IMAGES_MIN_INTERVAL_MS, INT32_MAX,
                        FL_IMAGES_DEFAULT_INTERVAL_MS, &interval) ||
        fl_pb_int_field(r, "WidthPixels", 1, 3840, 0, &w) ||
        fl_pb_int_field(r, "HeightPixels", 1, 2160, 0, &h) ||
        fl_pb_int_field(r, "MaxResults", 1, 100, FL_IMAGES_PAGE, max_results))
        return -1;
    if (w && !h) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "WidthPixels needs HeightPixels (HeightPixels alone keeps the "
                              "aspect ratio)");
        return -1;
    }
    q->interval_ms = (uint32_t)interval;
    q->width = (unsigned)w;
    q->height = (unsigned)h;
    if (parse_format_config(r, &q->quality) != 0)
        return -1;
    if (q->format == FL_AV_PNG)
        q->quality = 0;
    return 0;
}

void fl_pb_get_images(fl_http_req_t *r)
{
    fl_playback_t *pb = r->mod;
    fl_pb_cors(r);
    if (!r->json) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "a JSON body with StreamName or StreamARN, ImageSelectorType, "
                              "StartTimestamp, EndTimestamp and Format is required");
        return;
    }
    images_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    fl_buf_init(&j->out, 0);
    j->pb = pb;
    j->key = fl_server_token_key(pb->srv);
    j->now_ms = fl_time_real_ns() / 1000000;
    int64_t max_results = FL_IMAGES_PAGE;
    if (parse_images(r, &j->q, &max_results) != 0 ||
        fl_pb_stream_of(r, "kinesisvideo:GetImages", &j->ref) != 0)
        goto fail;
    snprintf(j->q.name, sizeof j->q.name, "%s", j->ref.name);
    j->q.incarnation_ms = j->ref.info.created_ns / 1000000;
    j->q.next_ns = j->q.start_ns;
    const fl_json_t *nt = fl_http_json(r, "NextToken");
    if (nt && nt->type != FL_JSON_NULL) {
        fl_pb_images_req_t t;
        int64_t next = 0;
        int rc = nt->type == FL_JSON_STRING
                     ? fl_pb_images_token_open(j->key, fl_slice_str(nt->str), j->now_ms, &t, &next)
                     : FL_EMALFORMED;
        if (rc) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  rc == FL_EEXPIRED ? "NextToken has expired"
                                                    : "NextToken is not a token this server gave");
            goto fail;
        }
        if (strcmp(t.name, j->q.name) != 0 || t.incarnation_ms != j->q.incarnation_ms ||
            t.selector != j->q.selector || t.format != j->q.format || t.quality != j->q.quality ||
            t.width != j->q.width || t.height != j->q.height || t.interval_ms != j->q.interval_ms ||
            t.start_ns != j->q.start_ns || t.end_ns != j->q.end_ns) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken belongs to another GetImages request (stream, "
                                  "range, interval, format and size must stay the same)");
            goto fail;
        }
        j->q.next_ns = next;
    }
    /* this page's samples */
    uint64_t step = (uint64_t)j->q.interval_ms * 1000000;
    uint64_t left = (uint64_t)(j->q.end_ns - j->q.next_ns) / step + 1;
    size_t page = max_results < FL_IMAGES_PAGE ? (size_t)max_results : FL_IMAGES_PAGE;
    j->page = left < page ? (size_t)left : page;
    j->more = left > j->page;
    j->a.work = images_work;
    j->a.done = images_done;
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0)
        goto fail;
    return;
fail:
    fl_stream_put(&j->ref);
    fl_buf_free(&j->out);
    free(j);
}
