/*
 * server/fragment.c — see fragment.h.
 */
#include "server/video/fragment.h"

#include <string.h>

#include "common/dec128.h"
#include "common/error.h"
#include "media/mkv_parser.h"
#include "media/mkv_writer.h"

void fl_fragment_header(uint8_t out[FL_FRAGMENT_HEADER], const fl_fragment_t *f)
{
    out[0] = FL_FRAGMENT_VERSION;
    out[1] = f->flags;
    fl_store_le16(out + 2, f->n_tracks);
    fl_store_le32(out + 4, f->duration_ms);
    fl_store_le32(out + 8, f->n_frames);
    fl_store_le32(out + 12, (uint32_t)f->tracks.n);
    fl_store_le32(out + 16, (uint32_t)f->tags.n);
    fl_store_le32(out + 20, (uint32_t)f->cluster.n);
}

void fl_fragment_encode(fl_buf_t *b, const fl_fragment_t *f)
{
    uint8_t h[FL_FRAGMENT_HEADER];
    fl_fragment_header(h, f);
    fl_buf_append(b, h, sizeof h);
    fl_buf_append(b, f->tracks.p, f->tracks.n);
    fl_buf_append(b, f->tags.p, f->tags.n);
    fl_buf_append(b, f->cluster.p, f->cluster.n);
}

int fl_fragment_decode(fl_slice_t rec, fl_fragment_t *out)
{
    fl_reader_t r;
    fl_reader_init(&r, rec);
    uint8_t version = fl_reader_u8(&r);
    if (!r.err && version != FL_FRAGMENT_VERSION)
        return FL_EVERSION;
    out->flags = fl_reader_u8(&r);
    out->n_tracks = fl_reader_le16(&r);
    out->duration_ms = fl_reader_le32(&r);
    out->n_frames = fl_reader_le32(&r);
    uint32_t t = fl_reader_le32(&r), g = fl_reader_le32(&r), c = fl_reader_le32(&r);
    out->tracks = fl_reader_take(&r, t);
    out->tags = fl_reader_take(&r, g);
    out->cluster = fl_reader_take(&r, c);
    if (r.err || fl_reader_left(&r) != 0 || t == 0 || c == 0)
        return FL_EMALFORMED;
    return 0;
}

/* fl_fragment_length_ms's walk over the clock track's frames. */
typedef struct {
    uint64_t track;      /* the clock track's number (0: not chosen yet) */
    int64_t default_ns;  /* its DefaultDuration, 0 when absent */
    int64_t first_ns;    /* earliest frame start */
    int64_t last_ns;     /* latest frame start */
    int64_t last_dur_ns; /* the latest frame's own duration, 0 when unknown */
    int64_t end_ns;      /* latest end of a frame with a known duration */
    uint64_t n;          /* its frames */
} length_walk_t;

static int length_event(void *data, const fl_mkv_event_t *ev)
{
    length_walk_t *w = data;
    if (ev->type == FL_MKV_EV_TRACKS) {
        for (size_t i = 0; i < ev->u.tracks.n && !w->track; i++)
            if (ev->u.tracks.v[i].type == FL_MKV_TRACK_VIDEO)
                w->track = ev->u.tracks.v[i].number;
        if (!w->track && ev->u.tracks.n)
            w->track = ev->u.tracks.v[0].number;
        for (size_t i = 0; i < ev->u.tracks.n; i++)
            if (ev->u.tracks.v[i].number == w->track)
                w->default_ns = (int64_t)ev->u.tracks.v[i].default_duration_ns;
    } else if (ev->type == FL_MKV_EV_FRAME && ev->u.frame.track == w->track) {
        const fl_mkv_frame_t *fr = &ev->u.frame;
        if (w->n == 0 || fr->pts_ns < w->first_ns)
            w->first_ns = fr->pts_ns;
        if (w->n == 0 || fr->pts_ns > w->last_ns) {
            w->last_ns = fr->pts_ns;
            w->last_dur_ns = fr->duration_ns;
        }
        if (fr->duration_ns > 0 && fr->pts_ns + fr->duration_ns > w->end_ns)
            w->end_ns = fr->pts_ns + fr->duration_ns;
        w->n++;
    }
    return 0;
}

int fl_fragment_length_ms(const fl_fragment_t *f, uint32_t *ms)
{
    length_walk_t w;
    memset(&w, 0, sizeof w);
    fl_mkv_parser_t *p = NULL;
    fl_buf_t head;
    fl_buf_init(&head, 0);
    fl_mkv_write_ebml_header(&head, NULL);
    fl_mkv_write_segment_start(&head);
    int rc = head.err ? FL_ENOMEM : fl_mkv_parser_new(NULL, length_event, &w, &p);
    if (rc == 0)
        rc = fl_mkv_parser_feed(p, head.p, head.n);
    if (rc == 0)
        rc = fl_mkv_parser_feed(p, f->tracks.p, f->tracks.n);
    if (rc == 0)
        rc = fl_mkv_parser_feed(p, f->cluster.p, f->cluster.n);
    if (rc == 0)
        rc = fl_mkv_parser_finish(p);
    fl_mkv_parser_free(p);
    fl_buf_free(&head);
    if (rc)
        return rc == FL_ENOMEM ? rc : FL_EMALFORMED;
    *ms = 0;
    if (w.n == 0)
        return 0;
    /* the last frame lasts its own duration (the parser gives the track's
     * DefaultDuration for a block without one), or else the mean interval
     * between this fragment's frames */
    int64_t last = w.last_dur_ns > 0 ? w.last_dur_ns : w.default_ns;
    if (last <= 0 && w.n > 1)
        last = (w.last_ns - w.first_ns) / (int64_t)(w.n - 1);
    int64_t end = w.last_ns + last > w.end_ns ? w.last_ns + last : w.end_ns;
    int64_t len = (end - w.first_ns) / 1000000;
    *ms = len < 0 ? 0 : len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    return 0;
}

void fl_fragment_number(uint64_t log_id, uint64_t seq, char *buf, size_t cap)
{
    char tmp[FL_DEC128_CAP];
    size_t n = fl_dec128_put((unsigned __int128)log_id << 64 | seq, tmp);
    if (n + 1 > cap) {
        if (cap)
            buf[0] = 0;
        return;
    }
    memcpy(buf, tmp, n + 1);
}

int fl_fragment_number_parse(const char *s, uint64_t *log_id, uint64_t *seq)
{
    unsigned __int128 v;
    if (fl_dec128_parse(s, &v) != 0)
        return FL_EINVAL;
    *log_id = (uint64_t)(v >> 64);
    *seq = (uint64_t)v;
    return 0;
}

typedef struct {
    int (*each)(void *data, const fl_mkv_track_t *t, size_t n);
    void *data;
    int seen;
} tracks_walk_t;

static int tracks_event(void *data, const fl_mkv_event_t *ev)
{
    tracks_walk_t *w = data;
    if (ev->type != FL_MKV_EV_TRACKS || w->seen++)
        return 0;
    return w->each(w->data, ev->u.tracks.v, ev->u.tracks.n);
}

int fl_fragment_tracks(fl_slice_t tracks,
                       int (*each)(void *data, const fl_mkv_track_t *t, size_t n), void *data)
{
    tracks_walk_t w = {.each = each, .data = data};
    fl_mkv_parser_t *p = NULL;
    fl_buf_t head;
    fl_buf_init(&head, 0);
    fl_mkv_write_ebml_header(&head, NULL);
    fl_mkv_write_segment_start(&head);
    int rc = head.err ? FL_ENOMEM : fl_mkv_parser_new(NULL, tracks_event, &w, &p);
    if (rc == 0)
        rc = fl_mkv_parser_feed(p, head.p, head.n);
    if (rc == 0)
        rc = fl_mkv_parser_feed(p, tracks.p, tracks.n);
    fl_mkv_parser_free(p);
    fl_buf_free(&head);
    if (rc == 0 && !w.seen)
        rc = FL_EMALFORMED;
    return rc;
}
