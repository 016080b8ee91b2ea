/*
 * media/mkv_parser.c — the incremental EBML/Matroska parser.
 *
 * The parser is a small state machine over the byte stream:
 *
 *   ST_ID    reading an element ID (1-4 bytes, collected in hdr[])
 *   ST_SIZE  reading its size (1-8 bytes, collected in hdr[])
 *   ST_LEAF  collecting a value we need (into the meta buffer)
 *   ST_SKIP  skipping an element we do not need (no copy)
 *   ST_BLOCK a SimpleBlock/Block payload: handed out in place when it is
 *            whole in the fed buffer, else collected into the block buffer
 *
 * Open master elements sit on a stack of (id, start, end); end is
 * FL_EBML_UNKNOWN_SIZE for a Segment or Cluster of unknown size. Invariants:
 * - a known-size child never extends past its known-size parent;
 * - a known-size master is closed as soon as the stream offset reaches its
 *   end (so events never wait for the next byte), an unknown-size one when
 *   an ID arrives that cannot be its child (see closes_unknown());
 * - unknown size is taken only for Segment and Cluster, and only under a
 *   parent of unknown size (or at the top level);
 * - every value kept between calls lives in the meta buffer (capped by
 *   max_meta_size) or the block buffer (capped by max_block_size); the
 *   tables (stack, tracks, tags) are allocated once in new();
 * - the first error sticks: p->err, with the offset where it was found.
 *
 * Events are built from state at the moment the element closes, so the
 * same bytes give the same events whatever the split of feed() calls; only
 * frame data pointers differ (caller's bytes vs. block buffer).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "media/ebml_internal.h"
#include "media/mkv_parser.h"

enum { ST_ID, ST_SIZE, ST_LEAF, ST_SKIP, ST_BLOCK };
enum { K_SKIP, K_MASTER, K_UINT, K_SINT, K_FLOAT, K_STRING, K_BINARY, K_BLOCK, K_REJECT };

#define MAX_LACES 256

typedef struct {
    uint32_t id;
    uint64_t start; /* offset of the ID */
    uint64_t end;   /* offset past the element, or FL_EBML_UNKNOWN_SIZE */
} level_t;

typedef struct {
    size_t off, len;
} span_t;

typedef struct {
    span_t codec_id, codec_private, name, language;
} track_spans_t;

typedef struct {
    span_t name, value;
    int binary;
} tag_spans_t;

struct fl_mkv_parser {
    fl_mkv_limits_t lim;
    fl_mkv_event_cb cb;
    void *data;

    uint64_t pos; /* stream offset of the next byte */
    int state;
    int err;
    uint64_t err_off;
    const char *err_text;

    /* element being read */
    uint8_t hdr[8];
    unsigned hdr_n, hdr_need;
    uint32_t id;
    uint64_t el_start;  /* offset of its ID */
    uint64_t el_size;   /* payload size */
    uint64_t left;      /* payload bytes still to come */
    int kind;           /* K_* */
    size_t leaf_off;    /* where its value starts in meta */
    uint32_t parent_id; /* parent at the time it started */
    int block_in_group; /* ST_BLOCK: a Block inside a BlockGroup */

    level_t *stk;
    unsigned depth;

    fl_buf_t meta; /* header/track/tag values */
    fl_buf_t blk;  /* a block that arrived in pieces */

    /* session */
    uint64_t scale;
    fl_mkv_track_t *tracks;
    track_spans_t *tspans;
    size_t n_tracks; /* complete entries */

    /* EBML header being read */
    span_t doc_type;
    uint64_t doc_type_version;

    /* Info being read */
    fl_mkv_info_t info;
    span_t muxing_app, writing_app, title;

    /* Cluster */
    uint64_t cl_start;
    uint64_t cl_tc;
    int cl_unknown;
    int cl_started; /* CLUSTER_START sent */

    /* BlockGroup */
    int bg_has_block, bg_has_ref, bg_has_dur;
    uint64_t bg_dur;

    /* Tags being read */
    fl_mkv_tag_t *tags;
    tag_spans_t *tspan;
    size_t n_tags;
    tag_spans_t cur_tag;
    int cur_tag_has_name;

    uint64_t lace[MAX_LACES];
};

fl_mkv_limits_t fl_mkv_limits_default(void)
{
    fl_mkv_limits_t l;
    l.max_element_size = (uint64_t)64 << 20;
    l.max_block_size = (uint64_t)16 << 20;
    l.max_meta_size = (size_t)1 << 20;
    l.max_depth = 16;
    l.max_tracks = 8;
    l.max_tags = 64;
    return l;
}

static int fail(fl_mkv_parser_t *p, int code, uint64_t off, const char *text)
{
    if (!p->err) {
        p->err = code;
        p->err_off = off;
        p->err_text = text;
    }
    return p->err;
}

static int emit(fl_mkv_parser_t *p, fl_mkv_event_t *ev)
{
    int rc = p->cb ? p->cb(p->data, ev) : 0;
    if (rc < 0)
        return fail(p, rc, ev->offset, "stopped by the event callback");
    return 0;
}

static fl_slice_t span_slice(const fl_mkv_parser_t *p, span_t s)
{
    return s.len ? fl_slice(p->meta.p + s.off, s.len) : fl_slice(NULL, 0);
}

int fl_mkv_parser_new(const fl_mkv_limits_t *limits, fl_mkv_event_cb cb, void *data,
                      fl_mkv_parser_t **out)
{
    fl_mkv_limits_t lim = limits ? *limits : fl_mkv_limits_default();
    *out = NULL;
    if (lim.max_depth < 1 || lim.max_depth > 1024 || lim.max_tracks == 0 || lim.max_tracks > 4096 ||
        lim.max_tags > 65536 || lim.max_meta_size == 0)
        return FL_EINVAL;
    fl_mkv_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return FL_ENOMEM;
    p->lim = lim;
    p->cb = cb;
    p->data = data;
    p->scale = FL_MKV_DEFAULT_TIMECODE_SCALE;
    p->stk = calloc(lim.max_depth, sizeof *p->stk);
    p->tracks = calloc(lim.max_tracks, sizeof *p->tracks);
    p->tspans = calloc(lim.max_tracks, sizeof *p->tspans);
    p->tags = calloc(lim.max_tags ? lim.max_tags : 1, sizeof *p->tags);
    p->tspan = calloc(lim.max_tags ? lim.max_tags : 1, sizeof *p->tspan);
    fl_buf_init(&p->meta, lim.max_meta_size);
    fl_buf_init(&p->blk, lim.max_block_size > SIZE_MAX ? SIZE_MAX : (size_t)lim.max_block_size);
    if (!p->stk || !p->tracks || !p->tspans || !p->tags || !p->tspan) {
        fl_mkv_parser_free(p);
        return FL_ENOMEM;
    }
    *out = p;
    return 0;
}

void fl_mkv_parser_free(fl_mkv_parser_t *p)
{
    if (!p)
        return;
    free(p->stk);
    free(p->tracks);
    free(p->tspans);
    free(p->tags);
    free(p->tspan);
    fl_buf_free(&p->meta);
    fl_buf_free(&p->blk);
    free(p);
}

uint64_t fl_mkv_parser_offset(const fl_mkv_parser_t *p)
{
    return p->pos;
}

uint64_t fl_mkv_parser_error_offset(const fl_mkv_parser_t *p)
{
    return p->err ? p->err_off : 0;
}

const char *fl_mkv_parser_error_text(const fl_mkv_parser_t *p)
{
    return p->err && p->err_text ? p->err_text : "no error";
}

/* ---- the element table ---- */

static int classify(uint32_t parent, uint32_t id)
{
    switch (parent) {
    case 0:
        return id == ID_EBML || id == ID_SEGMENT ? K_MASTER : K_SKIP;
    case ID_EBML:
        if (id == ID_DOC_TYPE)
            return K_STRING;
        if (id == ID_DOC_TYPE_VERSION || id == ID_EBML_READ_VERSION || id == ID_EBML_MAX_ID_LEN ||
            id == ID_EBML_MAX_SIZE_LEN)
            return K_UINT;
        return K_SKIP;
    case ID_SEGMENT:
        return id == ID_INFO || id == ID_TRACKS || id == ID_CLUSTER || id == ID_TAGS ? K_MASTER
                                                                                     : K_SKIP;
    case ID_INFO:
        if (id == ID_TIMECODE_SCALE)
            return K_UINT;
        if (id == ID_DURATION)
            return K_FLOAT;
        if (id == ID_MUXING_APP || id == ID_WRITING_APP || id == ID_TITLE)
            return K_STRING;
        return K_SKIP;
    case ID_TRACKS:
        return id == ID_TRACK_ENTRY ? K_MASTER : K_SKIP;
    case ID_TRACK_ENTRY:
        switch (id) {
        case ID_TRACK_NUMBER:
        case ID_TRACK_UID:
        case ID_TRACK_TYPE:
        case ID_DEFAULT_DURATION:
            return K_UINT;
        case ID_CODEC_ID:
        case ID_NAME:
        case ID_LANGUAGE:
            return K_STRING;
        case ID_CODEC_PRIVATE:
            return K_BINARY;
        case ID_VIDEO:
        case ID_AUDIO:
            return K_MASTER;
        case ID_CONTENT_ENCODINGS:
            return K_REJECT;
        }
        return K_SKIP;
    case ID_VIDEO:
        return id == ID_PIXEL_WIDTH || id == ID_PIXEL_HEIGHT ? K_UINT : K_SKIP;
    case ID_AUDIO:
        if (id == ID_SAMPLING_FREQUENCY)
            return K_FLOAT;
        return id == ID_CHANNELS || id == ID_BIT_DEPTH ? K_UINT : K_SKIP;
    case ID_CLUSTER:
        if (id == ID_TIMECODE)
            return K_UINT;
        if (id == ID_SIMPLE_BLOCK)
            return K_BLOCK;
        return id == ID_BLOCK_GROUP ? K_MASTER : K_SKIP;
    case ID_BLOCK_GROUP:
        if (id == ID_BLOCK)
            return K_BLOCK;
        if (id == ID_BLOCK_DURATION)
            return K_UINT;
        return id == ID_REFERENCE_BLOCK ? K_SINT : K_SKIP;
    case ID_TAGS:
        return id == ID_TAG ? K_MASTER : K_SKIP;
    case ID_TAG:
        return id == ID_SIMPLE_TAG ? K_MASTER : K_SKIP;
    case ID_SIMPLE_TAG:
        if (id == ID_TAG_NAME || id == ID_TAG_STRING)
            return K_STRING;
        return id == ID_TAG_BINARY ? K_BINARY : K_SKIP;
    }
    return K_SKIP;
}

/* Does an element with this ID end an open element of unknown size? */
static int closes_unknown(uint32_t open_id, uint32_t id)
{
    if (id == ID_EBML || id == ID_SEGMENT)
        return 1;
    if (open_id == ID_CLUSTER)
        return id == ID_CLUSTER || id == ID_TAGS || id == ID_CUES || id == ID_INFO ||
               id == ID_TRACKS || id == ID_SEEK_HEAD || id == ID_ATTACHMENTS || id == ID_CHAPTERS;
    return 0;
}

static uint32_t top_id(const fl_mkv_parser_t *p)
{
    return p->depth ? p->stk[p->depth - 1].id : 0;
}

/* ---- frames ---- */

static const fl_mkv_track_t *find_track(const fl_mkv_parser_t *p, uint64_t number)
{
    for (size_t i = 0; i < p->n_tracks; i++)
        if (p->tracks[i].number == number)
            return &p->tracks[i];
    return NULL;
}

/* Parse one block payload (SimpleBlock or Block) and send its frames.
 * start/end: offsets of the element (SimpleBlock or BlockGroup). */
static int do_block(fl_mkv_parser_t *p, fl_slice_t s, int simple, uint64_t start, uint64_t end)
{
    fl_reader_t r;
    fl_reader_init(&r, s);
    unsigned len;
    uint64_t track = fl_ebml_read_vint(&r, &len);
    int16_t rel = (int16_t)fl_reader_be16(&r);
    uint8_t flags = fl_reader_u8(&r);
    if (r.err || len == 0 || track == FL_EBML_UNKNOWN_SIZE || track == 0)
        return fail(p, FL_EMALFORMED, start, "block header is malformed");
    if (!p->cl_started)
        return fail(p, FL_EMALFORMED, start, "block before the cluster Timecode");

    int64_t tc, pts, dur = 0;
    if (__builtin_add_overflow((int64_t)p->cl_tc, (int64_t)rel, &tc) ||
        __builtin_mul_overflow(tc, (int64_t)p->scale, &pts))
        return fail(p, FL_EMALFORMED, start, "block timestamp overflows");
    const fl_mkv_track_t *t = find_track(p, track);
    int64_t deflt = t && t->default_duration_ns <= INT64_MAX ? (int64_t)t->default_duration_ns : 0;
    if (!simple && p->bg_has_dur) {
        if (p->bg_dur > INT64_MAX ||
            __builtin_mul_overflow((int64_t)p->bg_dur, (int64_t)p->scale, &dur))
            return fail(p, FL_EMALFORMED, start, "block duration overflows");
    } else {
        dur = deflt;
    }

    unsigned lacing = (flags >> 1) & 3;
    unsigned count = 1;
    if (lacing) {
        count = (unsigned)fl_reader_u8(&r) + 1;
        if (r.err)
            return fail(p, FL_EMALFORMED, start, "laced block without a frame count");
        uint64_t total = 0;
        if (lacing == 1) { /* Xiph: each size as a run of 255s plus a final byte */
            for (unsigned i = 0; i + 1 < count; i++) {
                uint64_t v = 0;
                uint8_t b;
                do {
                    b = fl_reader_u8(&r);
                    v += b;
                } while (b == 255 && !r.err);
                p->lace[i] = v;
                total += v;
            }
        } else if (lacing == 3) { /* EBML: first size, then signed differences */
            uint64_t v = fl_ebml_read_vint(&r, &len);
            if (len == 0 || v == FL_EBML_UNKNOWN_SIZE)
                return fail(p, FL_EMALFORMED, start, "EBML lace size is malformed");
            p->lace[0] = v;
            total = count > 1 ? v : 0;
            for (unsigned i = 1; i + 1 < count; i++) {
                uint64_t raw = fl_ebml_read_vint(&r, &len);
                if (len == 0 || r.err)
                    return fail(p, FL_EMALFORMED, start, "EBML lace size is malformed");
                int64_t bias = ((int64_t)1 << (7 * len - 1)) - 1;
                int64_t diff = raw == FL_EBML_UNKNOWN_SIZE ? bias : (int64_t)raw - bias;
                int64_t nv;
                if (__builtin_add_overflow((int64_t)p->lace[i - 1], diff, &nv) || nv < 0 ||
                    (uint64_t)nv > s.n)
                    return fail(p, FL_EMALFORMED, start, "EBML lace size is out of range");
                p->lace[i] = (uint64_t)nv;
                total += (uint64_t)nv;
            }
        }
        if (r.err)
            return fail(p, FL_EMALFORMED, start, "lace sizes run past the block");
        size_t rest = fl_reader_left(&r);
        if (lacing == 2) { /* fixed: equal sizes */
            if (rest % count)
                return fail(p, FL_EMALFORMED, start, "fixed lacing does not divide the block");
            for (unsigned i = 0; i < count; i++)
                p->lace[i] = rest / count;
        } else {
            if (total > rest)
                return fail(p, FL_EMALFORMED, start, "lace sizes exceed the block");
            p->lace[count - 1] = rest - total;
        }
    } else {
        p->lace[0] = fl_reader_left(&r);
    }

    fl_mkv_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FL_MKV_EV_FRAME;
    ev.offset = start;
    ev.end = end;
    fl_mkv_frame_t *f = &ev.u.frame;
    f->track = track;
    f->keyframe = simple ? (flags & 0x80) != 0 : !p->bg_has_ref;
    f->invisible = (flags & 0x08) != 0;
    f->discardable = simple && (flags & 0x01);
    f->lace_count = count;
    f->duration_ns = dur;
    f->block_end = end;
    for (unsigned i = 0; i < count; i++) {
        f->lace_index = i;
        f->timecode = tc;
        f->pts_ns = pts;
        if (i > 0 && deflt > 0) {
            int64_t add;
            if (__builtin_mul_overflow((int64_t)i, deflt, &add) ||
                __builtin_add_overflow(pts, add, &f->pts_ns))
                return fail(p, FL_EMALFORMED, start, "laced timestamp overflows");
            f->timecode = f->pts_ns / (int64_t)p->scale;
        }
        f->data = fl_reader_take(&r, (size_t)p->lace[i]);
        if (r.err)
            return fail(p, FL_EMALFORMED, start, "laced frame runs past the block");
        int rc = emit(p, &ev);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- masters ---- */

static int master_start(fl_mkv_parser_t *p, uint32_t id)
{
    switch (id) {
    case ID_EBML:
        /* a new session */
        p->scale = FL_MKV_DEFAULT_TIMECODE_SCALE;
        p->n_tracks = 0;
        p->meta.n = 0;
        memset(&p->doc_type, 0, sizeof p->doc_type);
        p->doc_type_version = 1;
        break;
    case ID_SEGMENT: {
        fl_mkv_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = FL_MKV_EV_SEGMENT_START;
        ev.offset = p->el_start;
        ev.u.segment.unknown_size = p->el_size == FL_EBML_UNKNOWN_SIZE;
        return emit(p, &ev);
    }
    case ID_INFO:
        p->meta.n = 0;
        memset(&p->info, 0, sizeof p->info);
        p->info.timecode_scale = FL_MKV_DEFAULT_TIMECODE_SCALE;
        memset(&p->muxing_app, 0, sizeof p->muxing_app);
        memset(&p->writing_app, 0, sizeof p->writing_app);
        memset(&p->title, 0, sizeof p->title);
        break;
    case ID_TRACKS:
        p->meta.n = 0;
        p->n_tracks = 0;
        break;
    case ID_TRACK_ENTRY:
        if (p->n_tracks >= p->lim.max_tracks)
            return fail(p, FL_ELIMIT, p->el_start, "too many tracks");
        memset(&p->tracks[p->n_tracks], 0, sizeof p->tracks[0]);
        memset(&p->tspans[p->n_tracks], 0, sizeof p->tspans[0]);
        break;
    case ID_CLUSTER:
        p->cl_start = p->el_start;
        p->cl_tc = 0;
        p->cl_started = 0;
        p->cl_unknown = p->el_size == FL_EBML_UNKNOWN_SIZE;
        break;
    case ID_BLOCK_GROUP:
        p->bg_has_block = p->bg_has_ref = p->bg_has_dur = 0;
        p->blk.n = 0;
        break;
    case ID_TAGS:
        p->meta.n = 0;
        p->n_tags = 0;
        break;
    case ID_SIMPLE_TAG:
        memset(&p->cur_tag, 0, sizeof p->cur_tag);
        p->cur_tag_has_name = 0;
        break;
    }
    return 0;
}

static int cluster_start_event(fl_mkv_parser_t *p, int has_timecode)
{
    fl_mkv_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FL_MKV_EV_CLUSTER_START;
    ev.offset = p->cl_start;
    ev.u.cluster.timecode = p->cl_tc;
    ev.u.cluster.pts_ns = (int64_t)(p->cl_tc * p->scale); /* checked when read */
    ev.u.cluster.unknown_size = p->cl_unknown;
    ev.u.cluster.has_timecode = has_timecode;
    p->cl_started = 1;
    return emit(p, &ev);
}

static int master_end(fl_mkv_parser_t *p, const level_t *lv, uint64_t end)
{
    fl_mkv_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.offset = lv->start;
    ev.end = end;
    switch (lv->id) {
    case ID_EBML: {
        fl_slice_t dt = p->doc_type.len ? span_slice(p, p->doc_type) : fl_slice_str("matroska");
        if (!fl_slice_eq_str(dt, "matroska") && !fl_slice_eq_str(dt, "webm"))
            return fail(p, FL_EUNSUPPORTED, lv->start, "DocType is neither matroska nor webm");
        ev.type = FL_MKV_EV_EBML_HEADER;
        ev.u.ebml.doc_type = dt;
        ev.u.ebml.doc_type_version = p->doc_type_version;
        return emit(p, &ev);
    }
    case ID_SEGMENT:
        ev.type = FL_MKV_EV_SEGMENT_END;
        ev.u.segment.unknown_size = lv->end == FL_EBML_UNKNOWN_SIZE;
        return emit(p, &ev);
    case ID_INFO:
        p->scale = p->info.timecode_scale;
        ev.type = FL_MKV_EV_INFO;
        ev.u.info = p->info;
        ev.u.info.muxing_app = span_slice(p, p->muxing_app);
        ev.u.info.writing_app = span_slice(p, p->writing_app);
        ev.u.info.title = span_slice(p, p->title);
        return emit(p, &ev);
    case ID_TRACK_ENTRY: {
        fl_mkv_track_t *t = &p->tracks[p->n_tracks];
        if (t->number == 0)
            return fail(p, FL_EMALFORMED, lv->start, "TrackEntry without a TrackNumber");
        if (find_track(p, t->number))
            return fail(p, FL_EMALFORMED, lv->start, "two tracks with the same TrackNumber");
        p->n_tracks++;
        return 0;
    }
    case ID_TRACKS: {
        for (size_t i = 0; i < p->n_tracks; i++) {
            p->tracks[i].codec_id = span_slice(p, p->tspans[i].codec_id);
            p->tracks[i].codec_private = span_slice(p, p->tspans[i].codec_private);
            p->tracks[i].name = span_slice(p, p->tspans[i].name);
            p->tracks[i].language = span_slice(p, p->tspans[i].language);
        }
        ev.type = FL_MKV_EV_TRACKS;
        ev.u.tracks.v = p->tracks;
        ev.u.tracks.n = p->n_tracks;
        int rc = emit(p, &ev);
        for (size_t i = 0; i < p->n_tracks; i++) { /* the slices die with the callback */
            memset(&p->tracks[i].codec_id, 0, sizeof(fl_slice_t));
            memset(&p->tracks[i].codec_private, 0, sizeof(fl_slice_t));
            memset(&p->tracks[i].name, 0, sizeof(fl_slice_t));
            memset(&p->tracks[i].language, 0, sizeof(fl_slice_t));
        }
        return rc;
    }
    case ID_CLUSTER: {
        if (!p->cl_started) {
            int rc = cluster_start_event(p, 0);
            if (rc)
                return rc;
        }
        ev.type = FL_MKV_EV_CLUSTER_END;
        ev.u.cluster.timecode = p->cl_tc;
        ev.u.cluster.pts_ns = (int64_t)(p->cl_tc * p->scale);
        ev.u.cluster.unknown_size = lv->end == FL_EBML_UNKNOWN_SIZE;
        ev.u.cluster.has_timecode = 1;
        p->cl_started = 0;
        return emit(p, &ev);
    }
    case ID_BLOCK_GROUP:
        if (!p->bg_has_block)
            return 0; /* nothing to show */
        return do_block(p, fl_buf_slice(&p->blk), 0, lv->start, end);
    case ID_SIMPLE_TAG:
        if (!p->cur_tag_has_name)
            return 0; /* a SimpleTag must have a name; ignore it otherwise */
        if (p->n_tags >= p->lim.max_tags)
            return fail(p, FL_ELIMIT, lv->start, "too many SimpleTags in one Tags");
        p->tspan[p->n_tags++] = p->cur_tag;
        return 0;
    case ID_TAGS:
        for (size_t i = 0; i < p->n_tags; i++) {
            p->tags[i].name = span_slice(p, p->tspan[i].name);
            p->tags[i].value = span_slice(p, p->tspan[i].value);
            p->tags[i].binary = p->tspan[i].binary;
        }
        ev.type = FL_MKV_EV_TAGS;
        ev.u.tags.v = p->tags;
        ev.u.tags.n = p->n_tags;
        return emit(p, &ev);
    }
    return 0;
}

static int pop(fl_mkv_parser_t *p, uint64_t end)
{
    level_t lv = p->stk[--p->depth];
    return master_end(p, &lv, end);
}

/* Close the known-size masters that end at the current offset. */
static int close_finished(fl_mkv_parser_t *p)
{
    while (p->depth && p->stk[p->depth - 1].end == p->pos) {
        int rc = pop(p, p->pos);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- leaves ---- */

static span_t keep_string(fl_mkv_parser_t *p, int kind)
{
    span_t s = {p->leaf_off, (size_t)p->el_size};
    if (kind == K_STRING) /* strings may be padded with NULs */
        while (s.len && p->meta.p[s.off + s.len - 1] == 0)
            s.len--;
    return s;
}

static int leaf_done(fl_mkv_parser_t *p)
{
    const uint8_t *v = p->meta.p ? p->meta.p + p->leaf_off : NULL;
    size_t n = (size_t)p->el_size;
    uint64_t u = 0;
    int64_t si = 0;
    double d = 0;
    int kind = p->kind;

    if (kind == K_UINT || kind == K_SINT) {
        if (n > 8)
            return fail(p, FL_EMALFORMED, p->el_start, "integer element longer than 8 bytes");
        for (size_t i = 0; i < n; i++)
            u = u << 8 | v[i];
        if (kind == K_SINT && n > 0 && n < 8 && (v[0] & 0x80))
            u |= ~(uint64_t)0 << (8 * n);
        si = (int64_t)u;
    } else if (kind == K_FLOAT) {
        if (n == 4) {
            uint32_t b = fl_load_be32(v);
            float f;
            memcpy(&f, &b, 4);
            d = f;
        } else if (n == 8) {
            uint64_t b = fl_load_be64(v);
            memcpy(&d, &b, 8);
        } else if (n != 0) {
            return fail(p, FL_EMALFORMED, p->el_start, "float element of bad length");
        }
        if (!isfinite(d))
            d = 0;
    }
    if (kind != K_STRING && kind != K_BINARY)
        p->meta.n = p->leaf_off; /* the value is decoded; drop its bytes */

    fl_mkv_track_t *t = p->n_tracks < p->lim.max_tracks ? &p->tracks[p->n_tracks] : NULL;
    track_spans_t *ts = t ? &p->tspans[p->n_tracks] : NULL;
    switch (p->id) {
    case ID_DOC_TYPE:
        p->doc_type = keep_string(p, kind);
        break;
    case ID_DOC_TYPE_VERSION:
        p->doc_type_version = u;
        break;
    case ID_EBML_READ_VERSION:
        if (u > 1)
            return fail(p, FL_EUNSUPPORTED, p->el_start, "EBMLReadVersion above 1");
        break;
    case ID_EBML_MAX_ID_LEN:
        if (u > 4)
            return fail(p, FL_EUNSUPPORTED, p->el_start, "EBMLMaxIDLength above 4");
        break;
    case ID_EBML_MAX_SIZE_LEN:
        if (u > 8)
            return fail(p, FL_EUNSUPPORTED, p->el_start, "EBMLMaxSizeLength above 8");
        break;
    case ID_TIMECODE_SCALE:
        if (u == 0 || u > INT64_MAX)
            return fail(p, FL_EMALFORMED, p->el_start, "TimecodeScale out of range");
        p->info.timecode_scale = u;
        break;
    case ID_DURATION:
        p->info.duration = d;
        break;
    case ID_MUXING_APP:
        p->muxing_app = keep_string(p, kind);
        break;
    case ID_WRITING_APP:
        p->writing_app = keep_string(p, kind);
        break;
    case ID_TITLE:
        p->title = keep_string(p, kind);
        break;
    case ID_TRACK_NUMBER:
        if (t)
            t->number = u;
        break;
    case ID_TRACK_UID:
        if (t)
            t->uid = u;
        break;
    case ID_TRACK_TYPE:
        if (t)
            t->type = u;
        break;
    case ID_DEFAULT_DURATION:
        if (t)
            t->default_duration_ns = u;
        break;
    case ID_CODEC_ID:
        if (ts)
            ts->codec_id = keep_string(p, kind);
        break;
    case ID_CODEC_PRIVATE:
        if (ts)
            ts->codec_private = keep_string(p, kind);
        break;
    case ID_NAME:
        if (ts)
            ts->name = keep_string(p, kind);
        break;
    case ID_LANGUAGE:
        if (ts)
            ts->language = keep_string(p, kind);
        break;
    case ID_PIXEL_WIDTH:
        if (t)
            t->pixel_width = u;
        break;
    case ID_PIXEL_HEIGHT:
        if (t)
            t->pixel_height = u;
        break;
    case ID_SAMPLING_FREQUENCY:
        if (t)
            t->sampling_frequency = d;
        break;
    case ID_CHANNELS:
        if (t)
            t->channels = u;
        break;
    case ID_BIT_DEPTH:
        if (t)
            t->bit_depth = u;
        break;
    case ID_TIMECODE: {
        if (p->cl_started)
            return fail(p, FL_EMALFORMED, p->el_start, "second Timecode in a cluster");
        int64_t ns;
        if (u > INT64_MAX || __builtin_mul_overflow((int64_t)u, (int64_t)p->scale, &ns))
            return fail(p, FL_EMALFORMED, p->el_start, "cluster Timecode overflows");
        p->cl_tc = u;
        return cluster_start_event(p, 1);
    }
    case ID_BLOCK_DURATION:
        p->bg_has_dur = 1;
        p->bg_dur = u;
        break;
    case ID_REFERENCE_BLOCK:
        (void)si;
        p->bg_has_ref = 1;
        break;
    case ID_TAG_NAME:
        p->cur_tag.name = keep_string(p, kind);
        p->cur_tag_has_name = 1;
        break;
    case ID_TAG_STRING:
    case ID_TAG_BINARY:
        p->cur_tag.value = keep_string(p, kind);
        p->cur_tag.binary = p->id == ID_TAG_BINARY;
        break;
    }
    return 0;
}

/* ---- headers ---- */

/* An element's ID has been read: close unknown-size elements it ends. */
static int id_done(fl_mkv_parser_t *p)
{
    if (p->id == 0xFF || (p->hdr_need > 1 && p->id == 0))
        return fail(p, FL_EMALFORMED, p->el_start, "invalid element ID");
    while (p->depth && p->stk[p->depth - 1].end == FL_EBML_UNKNOWN_SIZE &&
           closes_unknown(p->stk[p->depth - 1].id, p->id)) {
        int rc = pop(p, p->el_start);
        if (rc)
            return rc;
    }
    return 0;
}

/* An element's size has been read: decide what to do with its payload. */
static int header_done(fl_mkv_parser_t *p)
{
    uint32_t parent = top_id(p);
    int unknown = p->el_size == FL_EBML_UNKNOWN_SIZE;
    int kind = classify(parent, p->id);
    p->parent_id = parent;
    p->kind = kind;

    if (kind == K_REJECT)
        return fail(p, FL_EUNSUPPORTED, p->el_start,
                    "ContentEncodings (compressed or encrypted tracks) are not supported");
    if (unknown) {
        if (kind != K_MASTER || (p->id != ID_SEGMENT && p->id != ID_CLUSTER))
            return fail(p, FL_EUNSUPPORTED, p->el_start,
                        "unknown size is supported for Segment and Cluster only");
        if (p->depth && p->stk[p->depth - 1].end != FL_EBML_UNKNOWN_SIZE)
            return fail(p, FL_EUNSUPPORTED, p->el_start,
                        "element of unknown size inside one of known size");
    } else {
        uint64_t pend = p->depth ? p->stk[p->depth - 1].end : FL_EBML_UNKNOWN_SIZE;
        if (pend != FL_EBML_UNKNOWN_SIZE && (p->pos > pend || p->el_size > pend - p->pos))
            return fail(p, FL_EMALFORMED, p->el_start, "element extends past its parent");
        if (p->el_size > UINT64_MAX / 2 - p->pos)
            return fail(p, FL_EMALFORMED, p->el_start, "element size overflows the stream");
        if (p->id != ID_SEGMENT && p->id != ID_CLUSTER && p->el_size > p->lim.max_element_size)
            return fail(p, FL_ELIMIT, p->el_start, "element larger than max_element_size");
    }

    switch (kind) {
    case K_MASTER:
        if (p->depth >= p->lim.max_depth)
            return fail(p, FL_ELIMIT, p->el_start, "elements nested deeper than max_depth");
        p->stk[p->depth].id = p->id;
        p->stk[p->depth].start = p->el_start;
        p->stk[p->depth].end = unknown ? FL_EBML_UNKNOWN_SIZE : p->pos + p->el_size;
        p->depth++;
        p->state = ST_ID;
        {
            int rc = master_start(p, p->id);
            if (rc)
                return rc;
        }
        return close_finished(p);
    case K_SKIP:
        p->left = p->el_size;
        p->state = ST_SKIP;
        break;
    case K_BLOCK:
        if (p->el_size > p->lim.max_block_size)
            return fail(p, FL_ELIMIT, p->el_start, "block larger than max_block_size");
        p->block_in_group = parent == ID_BLOCK_GROUP;
        if (p->block_in_group) {
            if (p->bg_has_block)
                return fail(p, FL_EMALFORMED, p->el_start, "two Blocks in one BlockGroup");
            p->bg_has_block = 1;
        }
        p->blk.n = 0;
        p->left = p->el_size;
        p->state = ST_BLOCK;
        break;
    default: /* a value we keep */
        if (p->el_size > p->lim.max_meta_size - p->meta.n)
            return fail(p, FL_ELIMIT, p->el_start, "values exceed max_meta_size");
        if (fl_buf_reserve(&p->meta, (size_t)p->el_size))
            return fail(p, FL_ENOMEM, p->el_start, "out of memory");
        p->leaf_off = p->meta.n;
        p->left = p->el_size;
        p->state = ST_LEAF;
        break;
    }
    if (p->left == 0) { /* empty payload: complete now */
        int rc = 0;
        p->state = ST_ID;
        if (kind == K_BLOCK && !p->block_in_group)
            rc = do_block(p, fl_slice(NULL, 0), 1, p->el_start, p->pos);
        else if (kind != K_SKIP && kind != K_BLOCK)
            rc = leaf_done(p);
        return rc ? rc : close_finished(p);
    }
    return 0;
}

/* Collect header bytes into hdr[]; returns how many were taken. */
static size_t take_hdr(fl_mkv_parser_t *p, const uint8_t *b, size_t n)
{
    size_t k = p->hdr_need - p->hdr_n;
    if (k > n)
        k = n;
    memcpy(p->hdr + p->hdr_n, b, k);
    p->hdr_n += (unsigned)k;
    return k;
}

int fl_mkv_parser_feed(fl_mkv_parser_t *p, const void *bytes, size_t n)
{
    const uint8_t *b = bytes;
    int rc = 0;
    if (p->err)
        return p->err;
    while (n > 0 && !rc) {
        size_t k;
        switch (p->state) {
        case ST_ID:
            if (p->hdr_n == 0) {
                p->el_start = p->pos;
                p->hdr_need = fl_ebml_id_len(b[0]);
                if (p->hdr_need == 0)
                    return fail(p, FL_EMALFORMED, p->pos, "invalid element ID");
            }
            k = take_hdr(p, b, n);
            b += k, n -= k, p->pos += k;
            if (p->hdr_n < p->hdr_need)
                break;
            p->id = 0;
            for (unsigned i = 0; i < p->hdr_need; i++)
                p->id = p->id << 8 | p->hdr[i];
            p->hdr_n = 0;
            p->state = ST_SIZE;
            rc = id_done(p);
            break;
        case ST_SIZE:
            if (p->hdr_n == 0) {
                p->hdr_need = fl_ebml_vint_len(b[0]);
                if (p->hdr_need == 0)
                    return fail(p, FL_EMALFORMED, p->pos, "invalid element size");
            }
            k = take_hdr(p, b, n);
            b += k, n -= k, p->pos += k;
            if (p->hdr_n < p->hdr_need)
                break;
            p->el_size = fl_ebml_vint_value(p->hdr, p->hdr_need);
            p->hdr_n = 0;
            rc = header_done(p);
            break;
        case ST_SKIP:
            k = p->left < n ? (size_t)p->left : n;
            b += k, n -= k, p->pos += k, p->left -= k;
            if (p->left == 0) {
                p->state = ST_ID;
                rc = close_finished(p);
            }
            break;
        case ST_LEAF:
            k = p->left < n ? (size_t)p->left : n;
            fl_buf_append(&p->meta, b, k); /* reserved in header_done */
            b += k, n -= k, p->pos += k, p->left -= k;
            if (p->left == 0) {
                p->state = ST_ID;
                rc = leaf_done(p);
                if (!rc)
                    rc = close_finished(p);
            }
            break;
        case ST_BLOCK:
            if (p->blk.n == 0 && p->left <= n && !p->block_in_group) {
                /* whole in the caller's buffer: hand it out in place */
                k = (size_t)p->left;
                fl_slice_t s = fl_slice(b, k);
                b += k, n -= k, p->pos += k, p->left = 0;
                p->state = ST_ID;
                rc = do_block(p, s, 1, p->el_start, p->pos);
                if (!rc)
                    rc = close_finished(p);
                break;
            }
            k = p->left < n ? (size_t)p->left : n;
            fl_buf_append(&p->blk, b, k);
            if (p->blk.err)
                return fail(p, p->blk.err, p->el_start, "cannot buffer the block");
            b += k, n -= k, p->pos += k, p->left -= k;
            if (p->left == 0) {
                p->state = ST_ID;
                if (!p->block_in_group) {
                    rc = do_block(p, fl_buf_slice(&p->blk), 1, p->el_start, p->pos);
                    p->blk.n = 0;
                }
                if (!rc)
                    rc = close_finished(p);
            }
            break;
        }
    }
    return rc ? p->err : 0;
}

int fl_mkv_parser_finish(fl_mkv_parser_t *p)
{
    if (p->err)
        return p->err;
    if (p->state != ST_ID || p->hdr_n != 0)
        return fail(p, FL_ETRUNCATED, p->el_start, "input ended inside an element");
    while (p->depth) {
        if (p->stk[p->depth - 1].end != FL_EBML_UNKNOWN_SIZE)
            return fail(p, FL_ETRUNCATED, p->stk[p->depth - 1].start,
                        "input ended inside an element");
        int rc = pop(p, p->pos);
        if (rc)
            return rc;
    }
    return 0;
}
