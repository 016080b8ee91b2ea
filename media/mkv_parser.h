/*
 * media/mkv_parser.h — an incremental EBML/Matroska parser.
 *
 * The caller feeds bytes as they arrive, split anywhere; the parser calls
 * back with events (EBML header, segment start/end, segment info, tracks,
 * cluster start/end with byte offsets, frames, tags). Feeding one byte at a
 * time gives the same events as feeding the whole buffer, except that a
 * frame's data points into the caller's bytes when the whole block sat in
 * one fed buffer and into a bounded internal buffer otherwise.
 *
 * Invariants the caller can rely on:
 * - every slice in an event is valid only during the callback;
 * - CLUSTER_START and CLUSTER_END come in pairs; FRAME events come between
 *   them; a cluster of unknown size ends at the first element that cannot
 *   be its child (next Cluster, Tags, Cues, a new EBML header ...), so its
 *   CLUSTER_END comes when that element's ID has been read, or at
 *   fl_mkv_parser_finish();
 * - an EBML header (at the top level, or after a Segment of unknown size)
 *   starts a new session: track and timecode-scale state is reset;
 * - once a call fails, the parser is stuck in that error: every later call
 *   returns it, and fl_mkv_parser_error_offset() says where it happened;
 * - memory stays within the limits set at creation: the parser allocates
 *   its tables in fl_mkv_parser_new() and grows its two buffers up to their
 *   caps, never per frame once they are large enough.
 *
 * Errors: FL_EMALFORMED (input breaks the format), FL_ELIMIT (a limit was
 * exceeded), FL_EUNSUPPORTED (valid Matroska that framelog does not take,
 * e.g. content encodings), FL_ETRUNCATED (from finish: input ended inside
 * an element), FL_ENOMEM, or whatever negative code a callback returned.
 */
#ifndef FL_MEDIA_MKV_PARSER_H
#define FL_MEDIA_MKV_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "media/mkv.h"

typedef struct fl_mkv_parser fl_mkv_parser_t;

typedef struct {
    uint64_t max_element_size; /* any element but Segment/Cluster (bytes) */
    uint64_t max_block_size;   /* a SimpleBlock/Block payload; also its buffer cap */
    size_t max_meta_size;      /* header/track/tag values buffered at once */
    unsigned max_depth;        /* nesting depth of master elements */
    unsigned max_tracks;       /* TrackEntries per Tracks element */
    unsigned max_tags;         /* SimpleTags per Tags element */
} fl_mkv_limits_t;

/* Defaults: element 64 MiB, block 16 MiB, meta 1 MiB, depth 16, tracks 8,
 * tags 64. */
fl_mkv_limits_t fl_mkv_limits_default(void);

typedef enum {
    FL_MKV_EV_EBML_HEADER = 1, /* u.ebml; a new session starts */
    FL_MKV_EV_SEGMENT_START,   /* u.segment */
    FL_MKV_EV_INFO,            /* u.info, at the end of Info */
    FL_MKV_EV_TRACKS,          /* u.tracks, at the end of Tracks */
    FL_MKV_EV_CLUSTER_START,   /* u.cluster, once its Timecode is read */
    FL_MKV_EV_FRAME,           /* u.frame, one per (laced) frame */
    FL_MKV_EV_TAGS,            /* u.tags, at the end of Tags */
    FL_MKV_EV_CLUSTER_END,     /* u.cluster; end = offset past the cluster */
    FL_MKV_EV_SEGMENT_END      /* u.segment; end = offset past the segment */
} fl_mkv_event_type_t;

typedef struct {
    uint64_t track;      /* TrackNumber from the block header */
    int64_t timecode;    /* absolute, in ticks: cluster timecode + block's */
    int64_t pts_ns;      /* timecode * TimecodeScale */
    int64_t duration_ns; /* BlockDuration or DefaultDuration; 0 unknown */
    int keyframe;        /* SimpleBlock flag, or Block without ReferenceBlock */
    int invisible;       /* flag 0x08 */
    int discardable;     /* SimpleBlock flag 0x01 */
    unsigned lace_index; /* 0-based index within a laced block */
    unsigned lace_count; /* frames in the block (1 when not laced) */
    fl_slice_t data;     /* the frame's bytes */
    uint64_t block_end;  /* offset past the block element */
} fl_mkv_frame_t;

typedef struct {
    fl_mkv_event_type_t type;
    uint64_t offset; /* stream offset of the element's first ID byte */
    uint64_t end;    /* offset just past the element (0 when not yet known) */
    union {
        struct {
            fl_slice_t doc_type; /* "matroska" or "webm" */
            uint64_t doc_type_version;
        } ebml;
        struct {
            int unknown_size;
        } segment;
        fl_mkv_info_t info;
        struct {
            const fl_mkv_track_t *v;
            size_t n;
        } tracks;
        struct {
            uint64_t timecode; /* Cluster Timecode, ticks */
            int64_t pts_ns;
            int unknown_size;
            int has_timecode; /* 0 only for an empty cluster without one */
        } cluster;
        fl_mkv_frame_t frame;
        struct {
            const fl_mkv_tag_t *v;
            size_t n;
        } tags;
    } u;
} fl_mkv_event_t;

/* Called for each event. Return 0 to go on, or a negative code to stop:
 * fl_mkv_parser_feed() then returns that code (and the parser stays stuck
 * in it). */
typedef int (*fl_mkv_event_cb)(void *data, const fl_mkv_event_t *ev);

/* limits may be NULL for the defaults. */
int fl_mkv_parser_new(const fl_mkv_limits_t *limits, fl_mkv_event_cb cb, void *data,
                      fl_mkv_parser_t **out);
void fl_mkv_parser_free(fl_mkv_parser_t *p);

/* Feed the next n bytes. Returns 0 or the parser's (sticky) error. */
int fl_mkv_parser_feed(fl_mkv_parser_t *p, const void *bytes, size_t n);

/* The input has ended: closes elements of unknown size (CLUSTER_END,
 * SEGMENT_END) and returns FL_ETRUNCATED if it ended inside an element. */
int fl_mkv_parser_finish(fl_mkv_parser_t *p);

/* Bytes consumed so far (= the next byte's stream offset). */
uint64_t fl_mkv_parser_offset(const fl_mkv_parser_t *p);
/* Stream offset where the sticky error was found (0 without error). */
uint64_t fl_mkv_parser_error_offset(const fl_mkv_parser_t *p);
/* One line of text about the error (static, never NULL). */
const char *fl_mkv_parser_error_text(const fl_mkv_parser_t *p);

#endif
