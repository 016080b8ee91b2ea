/*
 * media/mkv.h — the Matroska vocabulary shared by the parser
 * (mkv_parser.h) and the writer (mkv_writer.h): segment info, track entries
 * and simple tags, as plain structs whose strings are slices.
 *
 * The subset of Matroska that framelog reads and writes, and how fragments
 * map to clusters, is in docs/matroska.md. Times: Matroska counts in ticks
 * of TimecodeScale nanoseconds (1 000 000 by default, so ticks are ms);
 * fields named *_ns are nanoseconds.
 *
 * Ownership: slices in structs handed to a callback point into the parser's
 * memory and are valid only during that callback; slices given to the writer
 * are read during the call only.
 */
#ifndef FL_MEDIA_MKV_H
#define FL_MEDIA_MKV_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

#define FL_MKV_DEFAULT_TIMECODE_SCALE 1000000u

/* Matroska TrackType values. */
enum {
    FL_MKV_TRACK_VIDEO = 1,
    FL_MKV_TRACK_AUDIO = 2,
    FL_MKV_TRACK_SUBTITLE = 17,
    FL_MKV_TRACK_METADATA = 33
};

/* Segment Info. */
typedef struct {
    uint64_t timecode_scale; /* ns per tick; 0 in the writer means the default */
    double duration;         /* in ticks; 0 when absent */
    fl_slice_t muxing_app;
    fl_slice_t writing_app;
    fl_slice_t title;
} fl_mkv_info_t;

/* One TrackEntry. */
typedef struct {
    uint64_t number;              /* TrackNumber, >= 1 */
    uint64_t uid;                 /* TrackUID; 0 in the writer means "use number" */
    uint64_t type;                /* FL_MKV_TRACK_* */
    fl_slice_t codec_id;          /* e.g. "V_MPEG4/ISO/AVC", "A_AAC" */
    fl_slice_t codec_private;     /* e.g. AVCDecoderConfigurationRecord */
    fl_slice_t name;              /* Name, may be empty */
    fl_slice_t language;          /* Language, may be empty */
    uint64_t default_duration_ns; /* DefaultDuration, 0 when absent */
    uint64_t pixel_width;         /* Video: 0 when absent */
    uint64_t pixel_height;
    double sampling_frequency; /* Audio: Hz, 0 when absent */
    uint64_t channels;         /* Audio: 0 when absent */
    uint64_t bit_depth;        /* Audio: 0 when absent */
} fl_mkv_track_t;

/* One SimpleTag: TagName and TagString (or TagBinary). */
typedef struct {
    fl_slice_t name;
    fl_slice_t value;
    int binary; /* value came from TagBinary rather than TagString */
} fl_mkv_tag_t;

#endif
