/*
 * server/video/stream_ref.h — the one way a feature reaches a video stream.
 *
 * fl_stream_get() resolves a StreamName or StreamARN (one incarnation of
 * the name), asks the server's access check whether the caller may do the
 * action on the stream's ARN, and holds what the stream needs while it is
 * used: its storage log and its hub entry (the live tail, the producer,
 * the readers). fl_stream_put() lets go. HTTP routes and WebSocket
 * sessions alike go through here, so the access check has one place.
 *
 * Any loop (the hub has its lock); a reference is put on the loop that
 * got it. A stream being deleted gives
 * no new reference.
 */
#ifndef FL_SERVER_VIDEO_STREAM_REF_H
#define FL_SERVER_VIDEO_STREAM_REF_H

#include "server/core/http.h"
#include "server/video/hub.h"
#include "server/video/validate.h"
#include "server/video/video.h"
#include "storage/log.h"

/* What the caller asks for. */
typedef struct {
    const char *name;   /* StreamName, or NULL / "" */
    const char *arn;    /* StreamARN, or NULL / "" (wins over the name) */
    const char *action; /* the IAM action: "kinesisvideo:GetMedia" */
    const fl_principal_t *who;
    /* how the request names the two, for messages: "StreamName" and
     * "StreamARN" in JSON, the x-amzn-stream-* headers for PutMedia */
    const char *name_field;
    const char *arn_field;
} fl_stream_want_t;

typedef struct {
    fl_video_t *video;
    char name[FL_STREAM_NAME_MAX + 1];
    char arn[FL_STREAM_NAME_MAX + 128];
    fl_log_t *log; /* an open handle (fl_log_close at put); NULL after check */
    fl_log_info_t info;
    fl_hub_entry_t *hub; /* NULL once put */
} fl_stream_ref_t;

/* Fill ref, or return -1 with the AWS error to answer in err (400
 * InvalidArgumentException, 404 ResourceNotFoundException, 403
 * AccessDeniedException, 400 ResourceInUseException, 500). */
int fl_stream_get(fl_video_t *v, const fl_stream_want_t *want, fl_stream_ref_t *ref,
                  fl_api_error_t *err);
/* The same resolution and access check without holding anything (ref's
 * hub stays NULL; put is not needed): for calls that only name the stream
 * and work on the catalog (the control plane). */
int fl_stream_check(fl_video_t *v, const fl_stream_want_t *want, fl_stream_ref_t *ref,
                    fl_api_error_t *err);
/* Let go (a ref that was never got, or was put already, is fine). */
void fl_stream_put(fl_stream_ref_t *ref);

#endif
