/*
 * server/ingest.c — see ingest.h for the states and checks.
 *
 * Parser events arrive through on_event(); every slice in them lives only
 * during the callback, so what a fragment needs is copied at once: the
 * Tracks element is re-written into in->tracks (our writer, canonical) and
 * the producer's metadata tags are copied into in->meta. The fragment's
 * stored record (server/fragment.h) is built in place, in one shared
 * buffer (server/recbuf.h, in->rec): when its Cluster starts, a header to
 * be patched, the Tracks, the metadata Tags (they all came before the
 * Cluster) and the Cluster's head; then each frame as a SimpleBlock
 * restamped in absolute milliseconds; at its end the sizes are patched and
 * the record goes to hooks->fragment as it is. The frame hook's bytes point
 * into that record, so the live tail can keep them without a copy.
 * Memory per session: the Tracks element, at most max_tags tags, and one
 * fragment (<= max_fragment_bytes) plus what its holders still keep.
 */
#include "server/video/ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/error.h"
#include "common/json.h"
#include "media/mkv_writer.h"
#include "media/nal.h"
#include "server/video/fragment.h"
#include "server/video/recbuf.h"
#include "server/video/validate.h"
#include "storage/log.h"

#define END_OF_FRAGMENT   "AWS_KINESISVIDEO_END_OF_FRAGMENT"
#define MAX_TRACK_NUMBERS 16

typedef enum { ST_HEADER, ST_READY, ST_FRAGMENT, ST_FAILED } state_t;

typedef struct {
    char *name;
    char *value;
    size_t value_len;
    int binary;
} meta_t;

struct fl_ingest {
    fl_ingest_opts_t o;
    char name[FL_STREAM_NAME_MAX + 1]; /* for log lines */
    fl_ingest_cbs_t h;
    fl_mkv_parser_t *parser;
    state_t state;
    int finishing_clean; /* inside fl_ingest_finish(in, 1) */
    int finishing;       /* inside fl_ingest_finish() */

    /* the session */
    fl_buf_t tracks; /* our Tracks element */
    uint64_t track_numbers[MAX_TRACK_NUMBERS];
    size_t n_tracks;
    meta_t *meta; /* metadata tags for the next fragment */
    size_t n_meta;
    int64_t last_abs_ms; /* the previous fragment's absolute timecode */
    int have_last;

    /* the fragment being received */
    char number[FL_FRAGMENT_NUMBER_CAP];
    int64_t tc_ticks; /* Cluster Timecode as sent: FragmentTimecode in acks */
    int64_t abs_ms;   /* its absolute timecode, epoch ms */
    fl_recbuf_t *rec; /* its record being built (NULL outside a fragment, and for a resend) */
    size_t tags_off;  /* where its Tags (or, without, its Cluster) start in rec */
    size_t cl_off;    /* where its Cluster starts in rec */
    size_t mark;
    uint32_t n_frames;
    int64_t first_ms, end_ms;
    int first_key;
    int dup;        /* a resend of a stored fragment: acked again, not stored */
    size_t charged; /* bytes of o.budget that rec holds (its allocation) */

    size_t last_rec; /* bytes of the last record: the next one's first allocation */
    uint64_t stored;
};

void fl_ack_format(const fl_ack_t *a, fl_buf_t *b)
{
    static const char *const names[] = {"BUFFERING", "RECEIVED", "PERSISTED", "ERROR", "IDLE"};
    fl_buf_printf(b, "{\"EventType\":\"%s\"", names[a->type]);
    if (a->type != FL_ACK_IDLE && !a->no_fragment) {
        fl_buf_printf(b, ",\"FragmentTimecode\":%" PRId64, a->timecode_ms);
        if (a->number[0])
            fl_buf_printf(b, ",\"FragmentNumber\":\"%s\"", a->number);
    }
    if (a->type == FL_ACK_ERROR)
        fl_buf_printf(b, ",\"ErrorId\":%d", a->error_id);
    fl_buf_u8(b, '}');
}

static void send_ack(fl_ingest_t *in, fl_ack_type_t type, int error_id)
{
    fl_ack_t a;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.error_id = error_id;
    if (in->state == ST_FRAGMENT || type != FL_ACK_ERROR) {
        a.timecode_ms = in->tc_ticks;
        snprintf(a.number, sizeof a.number, "%s", in->number);
    } else {
        a.no_fragment = 1; /* not "FragmentTimecode":0, a time producers would look up */
    }
    in->h.ack(in->h.data, &a);
}

static void clear_meta(fl_ingest_t *in)
{
    for (size_t i = 0; i < in->n_meta; i++) {
        free(in->meta[i].name);
        free(in->meta[i].value);
    }
    in->n_meta = 0;
}

/* The open fragment's record is not wanted (any more) by the session. */
static void drop_rec(fl_ingest_t *in)
{
    if (in->charged)
        fl_budget_give(in->o.budget, in->charged);
    in->charged = 0;
    fl_recbuf_unref(in->rec);
    in->rec = NULL;
}

/* The connection broke inside the open fragment: drop it (the hook hears
 * of it) and leave the session between fragments. */
static void drop_cut_off(fl_ingest_t *in)
{
    fl_info("putmedia %s: dropping fragment %s cut off by the connection", in->name, in->number);
    if (in->h.dropped)
        in->h.dropped(in->h.data);
    in->state = ST_READY;
    drop_rec(in);
}

/* Send ERROR and stop the session. Returns FL_ECLOSED for the parser. */
static int fail(fl_ingest_t *in, int error_id, const char *why)
{
    if (in->state == ST_FRAGMENT && in->number[0] && in->h.dropped)
        in->h.dropped(in->h.data);
    if (in->state == ST_FRAGMENT)
        fl_warn("putmedia %s: fragment %s (timecode %" PRId64 "): error %d: %s", in->name,
                in->number[0] ? in->number : "-", in->tc_ticks, error_id, why);
    else
        fl_warn("putmedia %s: error %d %s: %s", in->name, error_id,
                in->stored ? "between fragments" : "before any fragment", why);
    send_ack(in, FL_ACK_ERROR, error_id);
    in->state = ST_FAILED;
    drop_rec(in);
    return FL_ECLOSED;
}

static int on_tracks(fl_ingest_t *in, const fl_mkv_track_t *t, size_t n)
{
    if (n == 0)
        return fail(in, FL_ACK_ERR_INVALID_MKV, "Tracks without a TrackEntry");
    if (n > in->o.max_tracks || n > MAX_TRACK_NUMBERS)
        return fail(in, FL_ACK_ERR_TOO_MANY_TRACKS, "too many tracks");
    for (size_t i = 0; i < n; i++) {
        int codec = 0;
        if (fl_slice_eq_str(t[i].codec_id, "V_MPEG4/ISO/AVC"))
            codec = FL_NAL_H264;
        else if (fl_slice_eq_str(t[i].codec_id, "V_MPEGH/ISO/HEVC"))
            codec = FL_NAL_H265;
        if (codec) {
            fl_nal_config_t cfg;
            if (t[i].codec_private.n == 0)
                return fail(in, FL_ACK_ERR_INVALID_MKV, "video track without CodecPrivate");
            if (fl_nal_config_parse((fl_nal_codec_t)codec, t[i].codec_private, &cfg) != 0)
                return fail(in, FL_ACK_ERR_INVALID_MKV, "CodecPrivate does not parse");
        }
        if (t[i].codec_id.n == 0)
            return fail(in, FL_ACK_ERR_INVALID_MKV, "track without CodecID");
        in->track_numbers[i] = t[i].number;
    }
    in->n_tracks = n;
    fl_buf_reset(&in->tracks);
    if (fl_mkv_write_tracks(&in->tracks, t, n) != 0 || in->tracks.err)
        return fail(in, FL_ACK_ERR_INVALID_MKV, "tracks cannot be re-written");
    if (in->h.session)
        in->h.session(in->h.data, fl_buf_slice(&in->tracks));
    in->state = ST_READY;
    return 0;
}

static int on_cluster_start(fl_ingest_t *in, const fl_mkv_event_t *ev)
{
    if (in->state != ST_READY)
        return fail(in, FL_ACK_ERR_INVALID_MKV, "Cluster before Tracks");
    in->tc_ticks = (int64_t)ev->u.cluster.timecode;
    int64_t ms = ev->u.cluster.pts_ns / 1000000;
    in->abs_ms = in->o.relative ? in->o.producer_start_ms + ms : ms;
    in->number[0] = 0;
    in->dup = 0;
    if (!(in->have_last && in->abs_ms <= in->last_abs_ms) && in->o.min_abs_ms &&
        in->abs_ms <= in->o.min_abs_ms && in->h.stored &&
        in->h.stored(in->h.data, in->abs_ms, in->number, sizeof in->number) == 1) {
        /* a producer sends again what it sent before a reconnect: ack the
         * stored fragment again, and ignore these bytes */
        in->dup = 1;
        in->n_frames = 0;
        in->state = ST_FRAGMENT;
        clear_meta(in);
        send_ack(in, FL_ACK_BUFFERING, 0);
        return 0;
    }
    if ((in->have_last && in->abs_ms < in->last_abs_ms) ||
        (in->o.min_abs_ms && in->abs_ms < in->o.min_abs_ms)) {
        in->state = ST_FRAGMENT; /* so the ERROR names this fragment's timecode */
        return fail(in, FL_ACK_ERR_TIMECODE_LOWER, "timecode lower than the previous fragment's");
    }
    if (in->abs_ms < 0)
        return fail(in, FL_ACK_ERR_INVALID_PRODUCER_TS, "negative timecode");
    /* the record's head, before begin() so that its hook can share it:
     * header (patched at the end), Tracks, the metadata Tags that came
     * before this Cluster, and the Cluster's ID, size (patched) and
     * Timecode; room for as much as the last record took, so that a
     * steady stream never moves it */
    size_t want = in->last_rec ? in->last_rec + in->last_rec / 8 : 256 * 1024;
    if (want > in->o.max_fragment_bytes + 65536)
        want = (size_t)in->o.max_fragment_bytes + 65536;
    drop_rec(in);
    in->rec = fl_recbuf_new(want, 0);
    in->state = ST_FRAGMENT;
    if (!in->rec)
        return fail(in, FL_ACK_ERR_INTERNAL, "out of memory");
    fl_buf_t *b = &in->rec->b;
    static const uint8_t zero[FL_FRAGMENT_HEADER];
    fl_buf_append(b, zero, sizeof zero);
    fl_buf_append(b, in->tracks.p, in->tracks.n);
    in->tags_off = b->n;
    if (in->n_meta) {
        fl_mkv_tag_t mt[64];
        size_t n = in->n_meta < 64 ? in->n_meta : 64;
        for (size_t i = 0; i < n; i++) {
            mt[i].name = fl_slice_str(in->meta[i].name);
            mt[i].value = fl_slice(in->meta[i].value, in->meta[i].value_len);
            mt[i].binary = in->meta[i].binary;
        }
        fl_mkv_write_tags(b, mt, n);
    }
    clear_meta(in);
    in->cl_off = b->n;
    if (fl_mkv_write_cluster_begin(b, (uint64_t)in->abs_ms, &in->mark) != 0 || b->err)
        return fail(in, FL_ACK_ERR_INTERNAL, "out of memory");
    int err = in->h.begin(in->h.data, in->tc_ticks, in->abs_ms, in->number, sizeof in->number);
    if (err)
        return fail(in, err, "the stream refused the fragment");
    in->n_frames = 0;
    in->first_key = 0;
    send_ack(in, FL_ACK_BUFFERING, 0);
    return 0;
}

static int on_frame(fl_ingest_t *in, const fl_mkv_frame_t *f)
{
    if (in->state != ST_FRAGMENT)
        return fail(in, FL_ACK_ERR_INVALID_MKV, "frame outside a Cluster");
    if (in->dup)
        return 0;
    int known = 0;
    for (size_t i = 0; i < in->n_tracks; i++)
        known |= in->track_numbers[i] == f->track;
    if (!known)
        return fail(in, FL_ACK_ERR_TRACK_MISMATCH, "frame of an undeclared track");
    int64_t ms = f->pts_ns / 1000000;
    int64_t pts = in->o.relative ? in->o.producer_start_ms + ms : ms;
    int64_t dur = f->duration_ns / 1000000;
    int64_t rel = pts - in->abs_ms;
    if (rel > 32767)
        return fail(in, FL_ACK_ERR_TOO_LONG, "frame more than 32 s after its Cluster");
    if (rel < -32768)
        return fail(in, FL_ACK_ERR_INVALID_MKV, "frame long before its Cluster");
    if (in->n_frames == 0) {
        in->first_ms = pts;
        in->end_ms = pts;
        in->first_key = f->keyframe;
    }
    if (pts < in->first_ms)
        in->first_ms = pts;
    if (pts + dur > in->end_ms)
        in->end_ms = pts + dur;
    if (in->end_ms - in->first_ms > in->o.max_fragment_ms)
        return fail(in, FL_ACK_ERR_TOO_LONG, "fragment longer than the limit");
    fl_buf_t *b = &in->rec->b;
    /* the whole record (header, tags, Cluster) counts: it is what storage
     * takes, so a fragment within the limit is never refused there */
    if (b->n + f->data.n + 32 > in->o.max_fragment_bytes)
        return fail(in, FL_ACK_ERR_TOO_LARGE, "fragment larger than the limit");
    /* through the record, so that a pinned one keeps the frames it lent */
    if (fl_recbuf_grow(in->rec, f->data.n + 32) != 0 ||
        fl_mkv_write_simple_block(b, f->track, rel, f->keyframe, f->data) != 0 || b->err)
        return fail(in, FL_ACK_ERR_INTERNAL, "out of memory");
    in->n_frames++;
    /* what the record's allocation grew by comes out of the shared budget
     * (after the fact: one growth past the cap at most per session) */
    if (in->o.budget && b->cap > in->charged) {
        if (fl_budget_take(in->o.budget, b->cap - in->charged) != 0)
            return fail(in, FL_ACK_ERR_INTERNAL,
                        "the server holds its limit of unfinished fragments "
                        "(--max-fragment-memory): retry");
        in->charged = b->cap;
    }
    /* the frame as stored: the live tail keeps it where it is */
    if (in->h.frame)
        in->h.frame(in->h.data, in->number, f->track, pts, dur, f->keyframe,
                    fl_slice(b->p + b->n - f->data.n, f->data.n));
    return 0;
}

static int on_tags(fl_ingest_t *in, const fl_mkv_tag_t *t, size_t n)
{
    /* (a Tags element ends a Cluster of unknown size before it is read, and
     * cannot sit inside one of known size: tags always come between
     * fragments, for the next one) */
    if (in->dup && in->state == ST_FRAGMENT)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (fl_slice_eq_str(t[i].name, END_OF_FRAGMENT))
            continue; /* the cluster already ended when this Tags began */
        if (in->n_meta >= in->o.max_tags)
            return fail(in, FL_ACK_ERR_TOO_MANY_TAGS, "too many metadata tags for a fragment");
        meta_t *m = &in->meta[in->n_meta];
        m->name = strndup((const char *)t[i].name.p, t[i].name.n);
        m->value = malloc(t[i].value.n + 1);
        if (!m->name || !m->value) {
            free(m->name);
            free(m->value);
            return fail(in, FL_ACK_ERR_INTERNAL, "out of memory");
        }
        memcpy(m->value, t[i].value.p, t[i].value.n);
        m->value[t[i].value.n] = 0;
        m->value_len = t[i].value.n;
        m->binary = t[i].binary;
        in->n_meta++;
    }
    return 0;
}

static int on_cluster_end(fl_ingest_t *in)
{
    if (in->state != ST_FRAGMENT)
        return 0;
    if (in->finishing && !in->finishing_clean) {
        drop_cut_off(in);
        return 0;
    }
    if (in->dup) {
        in->dup = 0;
        send_ack(in, FL_ACK_RECEIVED, 0);
        send_ack(in, FL_ACK_PERSISTED, 0);
        in->last_abs_ms = in->abs_ms;
        in->have_last = 1;
        in->state = ST_READY;
        return 0;
    }
    if (in->n_frames == 0)
        return fail(in, FL_ACK_ERR_INVALID_MKV, "fragment without frames");
    fl_buf_t *b = &in->rec->b;
    if (fl_mkv_write_cluster_end(b, in->mark) != 0 || b->err)
        return fail(in, FL_ACK_ERR_INTERNAL, "out of memory");
    send_ack(in, FL_ACK_RECEIVED, 0);

    size_t t_off = FL_FRAGMENT_HEADER;
    fl_fragment_t fr = {
        .flags = in->first_key ? FL_FRAGMENT_KEYFRAME : 0,
        .n_tracks = (uint16_t)in->n_tracks,
        .duration_ms = (uint32_t)(in->end_ms - in->first_ms),
        .n_frames = in->n_frames,
        .tracks = fl_slice(b->p + t_off, in->tags_off - t_off),
        .tags = fl_slice(b->p + in->tags_off, in->cl_off - in->tags_off),
        .cluster = fl_slice(b->p + in->cl_off, b->n - in->cl_off),
    };
    fl_fragment_header(b->p, &fr);
    in->last_rec = b->n;
    int err = in->h.fragment(in->h.data, in->number, in->tc_ticks, in->abs_ms, fl_buf_slice(b));
    drop_rec(in); /* the hook took a reference if it keeps the record */
    if (err)
        return fail(in, err, "the fragment could not be stored");
    in->stored++;
    in->last_abs_ms = in->abs_ms;
    in->have_last = 1;
    in->state = ST_READY;
    return 0;
}

static int on_event(void *data, const fl_mkv_event_t *ev)
{
    fl_ingest_t *in = data;
    if (in->state == ST_FAILED)
        return FL_ECLOSED;
    switch (ev->type) {
    case FL_MKV_EV_EBML_HEADER:
        /* a new session on the same stream: new track info follows */
        in->state = ST_HEADER;
        in->n_tracks = 0;
        clear_meta(in);
        return 0;
    case FL_MKV_EV_TRACKS:
        if (in->state == ST_FRAGMENT)
            return fail(in, FL_ACK_ERR_INVALID_MKV, "Tracks inside a fragment");
        return on_tracks(in, ev->u.tracks.v, ev->u.tracks.n);
    case FL_MKV_EV_CLUSTER_START:
        return on_cluster_start(in, ev);
    case FL_MKV_EV_FRAME:
        return on_frame(in, &ev->u.frame);
    case FL_MKV_EV_TAGS:
        return on_tags(in, ev->u.tags.v, ev->u.tags.n);
    case FL_MKV_EV_CLUSTER_END:
        return on_cluster_end(in);
    default:
        return 0;
    }
}

int fl_ingest_new(const fl_ingest_opts_t *opts, const fl_ingest_cbs_t *hooks, fl_ingest_t **out)
{
    *out = NULL;
    fl_ingest_t *in = calloc(1, sizeof *in);
    if (!in)
        return FL_ENOMEM;
    in->o = *opts;
    in->h = *hooks;
    snprintf(in->name, sizeof in->name, "%s", opts->name ? opts->name : "-");
    in->o.name = in->name;
    if (!in->o.max_fragment_bytes)
        in->o.max_fragment_bytes = 50u * 1000 * 1000;
    if (in->o.max_fragment_bytes > FL_LOG_MAX_PAYLOAD)
        in->o.max_fragment_bytes = FL_LOG_MAX_PAYLOAD; /* what storage takes */
    if (!in->o.max_fragment_ms)
        in->o.max_fragment_ms = 20000;
    if (!in->o.max_tracks)
        in->o.max_tracks = 3;
    if (!in->o.max_tags)
        in->o.max_tags = 10;
    fl_buf_init(&in->tracks, 1 << 20);
    in->meta = calloc(in->o.max_tags, sizeof *in->meta);
    int rc = in->meta ? fl_mkv_parser_new(opts->mkv, on_event, in, &in->parser) : FL_ENOMEM;
    if (rc) {
        fl_ingest_free(in);
        return rc;
    }
    *out = in;
    return 0;
}

void fl_ingest_free(fl_ingest_t *in)
{
    if (!in)
        return;
    fl_mkv_parser_free(in->parser);
    clear_meta(in);
    free(in->meta);
    fl_buf_free(&in->tracks);
    drop_rec(in);
    free(in);
}

int fl_ingest_feed(fl_ingest_t *in, fl_slice_t bytes)
{
    if (in->state == ST_FAILED)
        return FL_ECLOSED;
    int rc = fl_mkv_parser_feed(in->parser, bytes.p, bytes.n);
    if (rc && in->state != ST_FAILED) {
        fl_warn("putmedia %s: invalid Matroska at byte %" PRIu64 ": %s", in->name,
                fl_mkv_parser_error_offset(in->parser), fl_mkv_parser_error_text(in->parser));
        fail(in, FL_ACK_ERR_INVALID_MKV, "invalid Matroska");
    }
    return in->state == ST_FAILED ? FL_ECLOSED : 0;
}

int fl_ingest_finish(fl_ingest_t *in, int clean)
{
    if (in->state == ST_FAILED)
        return FL_ECLOSED;
    in->finishing = 1;
    in->finishing_clean = clean;
    int rc = fl_mkv_parser_finish(in->parser);
    if (in->state == ST_FAILED)
        return FL_ECLOSED;
    if (!clean && in->state == ST_FRAGMENT) {
        /* a Cluster of known size cut off: the parser does not close it */
        drop_cut_off(in);
    }
    if (rc && clean) {
        /* a body that ended properly but inside an element */
        fail(in, FL_ACK_ERR_INVALID_MKV, "the body ended inside a Matroska element");
        return FL_ECLOSED;
    }
    return 0;
}

int fl_ingest_abort(fl_ingest_t *in, int error_id, const char *why)
{
    if (in->state == ST_FAILED)
        return FL_ECLOSED;
    return fail(in, error_id, why);
}

uint64_t fl_ingest_fragments(const fl_ingest_t *in)
{
    return in->stored;
}

fl_recbuf_t *fl_ingest_record(const fl_ingest_t *in)
{
    return in->state == ST_FRAGMENT ? in->rec : NULL;
}
