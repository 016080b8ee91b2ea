/*
 * server/playback/session.c — GetHLSStreamingSessionURL: `POST
 * /getHLSStreamingSessionURL` with AWS's shape (reference/kvs-shapes.md).
 *
 * The request's fields are checked on the loop; the stream is reached
 * through its reference (the access check, action
 * kinesisvideo:GetHLSStreamingSessionURL); then a worker reads the
 * session's first fragment (ON_DEMAND and LIVE_REPLAY: the first in the
 * range; LIVE: the newest, which must be at most 30 s old, as AWS asks)
 * and checks that it is playable (H.264/H.265 video with codec private
 * data). The answer is a URL whose token is the whole session (token.h):
 *
 *   {"HLSStreamingSessionURL":
 *    "<base>/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=<token>"}
 *
 * Defaults as AWS's: PlaybackMode LIVE, FragmentSelectorType
 * SERVER_TIMESTAMP, ContainerFormat FRAGMENTED_MP4, DiscontinuityMode
 * ALWAYS for server and NEVER for producer timestamps,
 * DisplayFragmentTimestamp NEVER, Expires 300 s,
 * MaxMediaPlaylistFragmentResults 5 (LIVE, LIVE_REPLAY) or 1000
 * (ON_DEMAND).
 *
 * And the other end of a session: fl_pb_session_open, the one check of a
 * SessionToken and reach of its stream that every path of an HLS or DASH
 * session makes (hls.c, dash.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "server/playback/playback.h"

#define LIVE_WINDOW_MS 30000

typedef struct {
    fl_http_async_t a; /* first */
    fl_playback_t *pb;
    fl_stream_ref_t ref; /* held while the job runs */
    fl_pb_session_t s;
    char base[320];
    int64_t now_ms;
    fl_api_error_t err; /* status 0: no error */
    const char *path;   /* the session's first URL: the master playlist, the MPD */
    const char *field;  /* the answer's member: HLSStreamingSessionURL, … */
    char url[FL_PB_TOKEN_CAP + 400];
} session_job_t;

static void session_work(fl_http_async_t *a)
{
    session_job_t *j = (session_job_t *)a;
    fl_log_batch_t b;
    memset(&b, 0, sizeof b);
    const fl_log_record_t *rec = NULL;
    fl_pb_media_t m;
    memset(&m, 0, sizeof m);
    int rc = fl_pb_first(j->ref.log, &j->s, j->now_ms, LIVE_WINDOW_MS, &b, &rec);
    if (rc == FL_ENOTFOUND) {
        if (j->s.mode == FL_PB_LIVE)
            fl_api_error(&j->err, 404, "ResourceNotFoundException",
                         "stream %s has no fragments from the last %d seconds", j->ref.name,
                         LIVE_WINDOW_MS / 1000);
        else
            fl_api_error(&j->err, 404, "ResourceNotFoundException",
                         "stream %s has no fragments in the requested time range", j->ref.name);
        goto out;
    }
    if (rc) {
        fl_api_error(&j->err, 500, "InternalFailure", "reading stream %s: %s", j->ref.name,
                     fl_strerror(rc));
        goto out;
    }
    rc = fl_pb_media_open(rec->payload, 0, 0, &m);
    if (rc) {
        fl_api_error(&j->err, 400, "InvalidCodecPrivateDataException",
                     "the first fragment of the session cannot be read as Matroska: %s",
                     fl_strerror(rc));
        goto out;
    }
    fl_pb_codecs_t codecs;
    if (fl_pb_media_codecs(&m, &codecs, &j->err) != 0)
        goto out;
    char token[FL_PB_TOKEN_CAP];
    if (fl_pb_token_encode(j->pb->key, &j->s, token, sizeof token) != 0) {
        fl_api_error(&j->err, 500, "InternalFailure", "could not make the session token");
        goto out;
    }
    snprintf(j->url, sizeof j->url, "%s%s?SessionToken=%s", j->base, j->path, token);
out:
    fl_pb_media_free(&m);
    fl_log_batch_free(&b);
}

static void session_done(fl_http_async_t *a, fl_http_req_t *r)
{
    session_job_t *j = (session_job_t *)a;
    fl_stream_put(&j->ref);
    if (r) {
        if (j->err.status) {
            fl_http_respond_api_error(r, &j->err);
        } else {
            fl_buf_t out;
            fl_buf_init(&out, 0);
            fl_buf_printf(&out, "{\"%s\":", j->field);
            fl_json_write_string(&out, fl_slice_str(j->url));
            fl_buf_append_str(&out, "}");
            j->pb->sessions++;
            fl_http_respond(r, 200, "application/json", fl_buf_slice(&out));
            fl_buf_free(&out);
        }
    }
    free(j);
}

int fl_pb_session_open(fl_http_req_t *r, const char *action, int64_t now_ms, int dash,
                       fl_pb_session_t *s, char *token, size_t cap, fl_stream_ref_t *ref)
{
    fl_playback_t *pb = r->mod;
    int qa = fl_pb_query_arg(r->wsi, "SessionToken", token, cap);
    fl_pb_token_cache_t **tc = &pb->tokens[fl_server_loop()];
    if (!*tc)
        *tc = fl_pb_token_cache_new(pb->key); /* (NULL: each token decoded) */
    int rc = qa == 0 ? fl_pb_token_check(*tc, pb->key, fl_slice_str(token), now_ms, s) : FL_EINVAL;
    if (rc == 0 && dash && !s->dash)
        rc = FL_EINVAL; /* an HLS session's token on a DASH path */
    if (rc) {
        pb->token_refusals++;
        fl_http_respond_error(r, 403, "NotAuthorizedException",
                              rc == FL_EEXPIRED ? "the session token has expired"
                              : qa == 0         ? "the session token is not valid"
                                                : "SessionToken is missing or not valid");
        return -1;
    }
    /* the session's rights are those of the key it was issued to */
    fl_principal_t who;
    memset(&who, 0, sizeof who);
    if (s->key_id[0]) {
        who.has_key = 1;
        snprintf(who.access_key, sizeof who.access_key, "%s", s->key_id);
    }
    fl_stream_want_t want = {
        .name = s->name,
        .action = action,
        .who = &who,
        .name_field = "StreamName",
        .arn_field = "StreamARN",
    };
    fl_api_error_t err;
    if (fl_stream_get(pb->video, &want, ref, &err) != 0) {
        fl_http_respond_api_error(r, &err);
        return -1;
    }
    if (ref->info.created_ns / 1000000 != s->incarnation_ms) {
        fl_http_respond_error(r, 404, "ResourceNotFoundException",
                              "the session's stream %s was deleted", s->name);
        fl_stream_put(ref);
        return -1;
    }
    return 0;
}

static const char *const containers[] = {"FRAGMENTED_MP4", "MPEG_TS", NULL};
static const char *const discs[] = {"ALWAYS", "NEVER", "ON_DISCONTINUITY", NULL};
static const char *const displays[] = {"NEVER", "ALWAYS", NULL};

/* The session the request asks for, into s (stream fields aside). 0, or
 * -1 after answering the error. */
static int parse_session(fl_http_req_t *r, fl_pb_session_t *s)
{
    if (fl_pb_session_fields(r, "HLSFragmentSelector", "MaxMediaPlaylistFragmentResults", s) != 0)
        return -1;
    int c = fl_pb_enum_field(r, fl_json_root(r->json), "ContainerFormat", containers, 0);
    if (c < 0)
        return -1;
    s->container = (fl_pb_container_t)c;
    int d =
        fl_pb_enum_field(r, fl_json_root(r->json), "DiscontinuityMode", discs,
                         s->selector == FL_PB_PRODUCER_TS ? FL_PB_DISC_NEVER : FL_PB_DISC_ALWAYS);
    if (d < 0)
        return -1;
    s->discontinuity = (fl_pb_disc_t)d;
    int disp = fl_pb_enum_field(r, fl_json_root(r->json), "DisplayFragmentTimestamp", displays, 0);
    if (disp < 0)
        return -1;
    s->display_ts = disp;
    return 0;
}

void fl_pb_session_url(fl_http_req_t *r, const fl_pb_session_t *s, const char *action,
                       const char *path, const char *field)
{
    session_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        fl_http_respond_error(r, 500, "InternalFailure", "out of memory");
        return;
    }
    j->pb = r->mod;
    j->s = *s;
    j->path = path;
    j->field = field;
    if (fl_pb_stream_of(r, action, &j->ref) != 0)
        goto fail;
    snprintf(j->s.name, sizeof j->s.name, "%s", j->ref.name);
    j->s.incarnation_ms = j->ref.info.created_ns / 1000000;
    if (r->who.has_key)
        snprintf(j->s.key_id, sizeof j->s.key_id, "%.*s", FL_PB_MAX_KEY_ID, r->who.access_key);
    j->now_ms = j->s.issued_ms;
    fl_http_base_url(r, j->base, sizeof j->base);
    j->a.work = session_work;
    j->a.done = session_done;
    if (fl_http_async_or_busy(r, &j->a, "ClientLimitExceededException") != 0)
        goto fail;
    return;
fail:
    fl_stream_put(&j->ref);
    free(j);
}

void fl_pb_get_hls_session_url(fl_http_req_t *r)
{
    if (!r->json) {
        fl_http_respond_error(r, 400, "InvalidArgumentException",
                              "a JSON body with StreamName or StreamARN is required");
        return;
    }
    fl_pb_session_t s;
    memset(&s, 0, sizeof s);
    if (parse_session(r, &s) != 0)
        return;
    fl_pb_session_url(r, &s, "kinesisvideo:GetHLSStreamingSessionURL",
                      "/hls/v1/getHLSMasterPlaylist.m3u8", "HLSStreamingSessionURL");
}
