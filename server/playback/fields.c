/*
 * server/playback/fields.c — the request fields every playback call reads
 * the same way (GetHLSStreamingSessionURL, GetDASHStreamingSessionURL,
 * GetClip, GetImages): enums, bounded integers, timestamps, and the stream
 * named by StreamName or StreamARN. Each reader answers the request's 400
 * itself when the field is wrong and says so by returning -1, so callers
 * only stop.
 *
 * Timestamps are read exactly from their decimal text (common/awstime.h):
 * a range boundary a client gives as 1700000000.123 is that nanosecond,
 * not a double's neighbour of it.
 */
#include <stdio.h>
#include <string.h>

#include "common/awstime.h"
#include "common/clock.h"
#include "server/playback/playback.h"

int fl_pb_enum_field(fl_http_req_t *r, const fl_json_t *obj, const char *field,
                     const char *const *names, int dflt)
{
    const fl_json_t *v = obj ? fl_json_get(obj, field) : NULL;
    if (!v || v->type == FL_JSON_NULL)
        return dflt;
    if (v->type == FL_JSON_STRING)
        for (int i = 0; names[i]; i++)
            if (strcmp(v->str, names[i]) == 0)
                return i;
    char list[200] = "";
    size_t n = 0;
    for (int i = 0; names[i] && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", names[i]);
    fl_http_respond_error(r, 400, "InvalidArgumentException", "%s must be one of %s", field, list);
    return -1;
}

int fl_pb_int_field(fl_http_req_t *r, const char *field, int64_t lo, int64_t hi, int64_t dflt,
                    int64_t *out)
{
    const fl_json_t *v = fl_http_json(r, field);
    *out = dflt;
    if (v && v->type == FL_JSON_NULL)
        return 0;
    return fl_http_json_int(r, field, lo, hi, out) < 0 ? -1 : 0;
}

int fl_pb_ts_field(fl_http_req_t *r, const fl_json_t *obj, const char *field, int64_t *ns)
{
    const fl_json_t *v = obj ? fl_json_get(obj, field) : NULL;
    if (!v || v->type == FL_JSON_NULL)
        return 0;
    if (fl_awstime_parse_json(v, ns) != 0) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "%s must be a timestamp in epoch seconds", field);
        return -1;
    }
    return 1;
}

const fl_json_t *fl_pb_object_field(fl_http_req_t *r, const fl_json_t *obj, const char *field,
                                    int *bad)
{
    const fl_json_t *v = obj ? fl_json_get(obj, field) : NULL;
    *bad = 0;
    if (!v || v->type == FL_JSON_NULL)
        return NULL;
    if (v->type != FL_JSON_OBJECT) {
        fl_http_respond_error(r, 400, "InvalidArgumentException", "%s must be an object", field);
        *bad = 1;
        return NULL;
    }
    return v;
}

int fl_pb_stream_of(fl_http_req_t *r, const char *action, fl_stream_ref_t *ref)
{
    fl_playback_t *pb = r->mod;
    const fl_json_t *name = fl_http_json(r, "StreamName"), *arn = fl_http_json(r, "StreamARN");
    if ((name && name->type != FL_JSON_STRING && name->type != FL_JSON_NULL) ||
        (arn && arn->type != FL_JSON_STRING && arn->type != FL_JSON_NULL)) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "StreamName and StreamARN are strings");
        return -1;
    }
    fl_stream_want_t want = {
        .name = name && name->type == FL_JSON_STRING ? name->str : NULL,
        .arn = arn && arn->type == FL_JSON_STRING ? arn->str : NULL,
        .action = action,
        .who = &r->who,
        .name_field = "StreamName",
        .arn_field = "StreamARN",
    };
    fl_api_error_t err;
    if (fl_stream_get(pb->video, &want, ref, &err) != 0) {
        fl_http_respond_api_error(r, &err);
        return -1;
    }
    return 0;
}

int fl_pb_query_arg(struct lws *wsi, const char *name, char *buf, size_t cap)
{
    char frag[FL_PB_TOKEN_CAP + 64];
    size_t nl = strlen(name);
    for (int i = 0; i < 32; i++) {
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0)
            break;
        /* an argument longer than any token is nobody's: skipped */
        if ((size_t)len <= nl || (size_t)len + 1 > sizeof frag)
            continue;
        if (lws_hdr_copy_fragment(wsi, frag, (int)sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) != len)
            continue;
        if (memcmp(frag, name, nl) != 0 || frag[nl] != '=')
            continue;
        if ((size_t)len - nl - 1 + 1 > cap)
            return -2;
        memcpy(buf, frag + nl + 1, (size_t)len - nl - 1);
        buf[len - nl - 1] = 0;
        return 0;
    }
    return -1;
}

int fl_pb_session_fields(fl_http_req_t *r, const char *selector_field, const char *max_field,
                         fl_pb_session_t *s)
{
    static const char *const modes[] = {"LIVE", "LIVE_REPLAY", "ON_DEMAND", NULL};
    static const char *const selectors[] = {"SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP", NULL};
    const fl_json_t *root = fl_json_root(r->json);
    int mode = fl_pb_enum_field(r, root, "PlaybackMode", modes, 0);
    if (mode < 0)
        return -1;
    s->mode = (fl_pb_mode_t)(mode + 1);
    int bad = 0;
    const fl_json_t *sel = fl_pb_object_field(r, root, selector_field, &bad);
    if (bad)
        return -1;
    int st = fl_pb_enum_field(r, sel, "FragmentSelectorType", selectors, 0);
    if (st < 0)
        return -1;
    s->selector = (fl_pb_selector_t)st;
    const fl_json_t *range = fl_pb_object_field(r, sel, "TimestampRange", &bad);
    if (bad)
        return -1;
    int hs = fl_pb_ts_field(r, range, "StartTimestamp", &s->start_ns);
    if (hs < 0)
        return -1;
    int he = fl_pb_ts_field(r, range, "EndTimestamp", &s->end_ns);
    if (he < 0)
        return -1;
    s->has_start = hs;
    s->has_end = he;
    const char *why = NULL;
    if (s->mode == FL_PB_LIVE && range)
        why = "a LIVE session takes no TimestampRange";
    else if (s->mode == FL_PB_ON_DEMAND && (!hs || !he))
        why = "an ON_DEMAND session needs %s with a TimestampRange of StartTimestamp and "
              "EndTimestamp";
    else if (s->mode == FL_PB_LIVE_REPLAY && !hs)
        why = "a LIVE_REPLAY session needs %s with a TimestampRange with StartTimestamp";
    else if (hs && he && s->end_ns <= s->start_ns)
        why = "EndTimestamp must be later than StartTimestamp";
    else if (s->mode == FL_PB_ON_DEMAND && s->end_ns - s->start_ns > FL_PB_ON_DEMAND_MAX_NS)
        why = "an ON_DEMAND TimestampRange spans at most 24 hours";
    if (why) {
        char msg[200];
        snprintf(msg, sizeof msg, why, selector_field);
        fl_http_respond_error(r, 400, "InvalidArgumentException", "%s", msg);
        return -1;
    }
    int64_t expires, max;
    if (fl_pb_int_field(r, "Expires", 300, 43200, 300, &expires) ||
        fl_pb_int_field(r, max_field, 1, 5000, s->mode == FL_PB_ON_DEMAND ? 1000 : 5, &max))
        return -1;
    s->max_fragments = (unsigned)max;
    s->issued_ms = fl_time_real_ns() / 1000000;
    s->expires_ms = s->issued_ms + expires * 1000;
    return 0;
}
