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
