/*
 * server/video/stream_ref.c — see stream_ref.h.
 */
#include "server/video/stream_ref.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "server/core/server.h"

/* Resolve and check; on success ref->log is an open handle. */
static int resolve(fl_video_t *v, const fl_stream_want_t *want, fl_stream_ref_t *ref,
                   fl_api_error_t *err)
{
    const char *why = NULL;
    long long arn_ms = -1;
    memset(ref, 0, sizeof *ref);
    ref->video = v;
    if (want->arn && want->arn[0]) {
        fl_slice_t nm;
        if (fl_stream_arn_parts(fl_slice_str(want->arn), &nm, &arn_ms) != 0)
            return fl_api_error(err, 400, "InvalidArgumentException", "%s is not a stream ARN",
                                want->arn_field);
        snprintf(ref->name, sizeof ref->name, "%.*s", (int)nm.n, (const char *)nm.p);
    } else if (want->name && want->name[0]) {
        if (strlen(want->name) > FL_STREAM_NAME_MAX)
            return fl_api_error(err, 400, "InvalidArgumentException",
                                "%s is %zu characters long, longer than %d", want->name_field,
                                strlen(want->name), FL_STREAM_NAME_MAX);
        if (fl_valid_stream_name(fl_slice_str(want->name), &why) != 0)
            return fl_api_error(err, 400, "InvalidArgumentException", "%s: %s", want->name_field,
                                why ? why : "not a stream name");
        snprintf(ref->name, sizeof ref->name, "%s", want->name);
    } else {
        return fl_api_error(err, 400, "InvalidArgumentException", "%s or %s is required",
                            want->name_field, want->arn_field);
    }
    int rc = fl_video_streams_log(v->streams, ref->name, &ref->log);
    if (!rc)
        rc = fl_log_info(ref->log, &ref->info);
    if (!rc && arn_ms >= 0 && ref->info.created_ns / 1000000 != arn_ms)
        rc = FL_ENOTFOUND; /* an ARN of another incarnation of the name */
    if (rc && ref->log) {
        fl_log_close(ref->log);
        ref->log = NULL;
    }
    if (rc == FL_ENOTFOUND)
        return fl_api_error(err, 404, "ResourceNotFoundException", "stream %s not found",
                            ref->name);
    if (rc)
        return fl_api_error(err, 500, "InternalFailure", "stream %s: %s", ref->name,
                            fl_strerror(rc));
    fl_video_streams_arn(v->streams, ref->name, ref->info.created_ns, ref->arn, sizeof ref->arn);
    if (fl_server_access(v->srv, want->who, want->action, ref->arn, &why) != 0) {
        fl_log_close(ref->log);
        ref->log = NULL;
        return fl_api_error(err, 403, "AccessDeniedException", "%s on %s: %s", want->action,
                            ref->arn, why);
    }
    return 0;
}

int fl_stream_check(fl_video_t *v, const fl_stream_want_t *want, fl_stream_ref_t *ref,
                    fl_api_error_t *err)
{
    if (resolve(v, want, ref, err) != 0)
        return -1;
    fl_log_close(ref->log); /* nothing held */
    ref->log = NULL;
    return 0;
}

int fl_stream_get(fl_video_t *v, const fl_stream_want_t *want, fl_stream_ref_t *ref,
                  fl_api_error_t *err)
{
    if (resolve(v, want, ref, err) != 0)
        return -1;
    fl_hub_lock(v->hub);
    fl_hub_entry_t *e = fl_hub_find(v->hub, ref->name);
    int deleting = e && e->deleting;
    if (!deleting)
        ref->hub = fl_hub_acquire(v->hub, ref->name);
    fl_hub_unlock(v->hub);
    if (!ref->hub) {
        fl_log_close(ref->log);
        ref->log = NULL;
        if (deleting)
            return fl_api_error(err, 400, "ResourceInUseException", "stream %s is being deleted",
                                ref->name);
        return fl_api_error(err, 500, "InternalFailure", "out of memory");
    }
    /* the incarnation its tail's fragment numbers are of */
    fl_live_identify(ref->hub->live, ref->name, ref->info.id);
    return 0;
}

void fl_stream_put(fl_stream_ref_t *ref)
{
    if (!ref || !ref->hub)
        return;
    fl_hub_release(ref->video->hub, ref->hub);
    fl_log_close(ref->log);
    ref->hub = NULL;
    ref->log = NULL;
}
