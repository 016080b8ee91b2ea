/*
 * server/fragment.h — the stored form of one video fragment: the payload
 * of one storage record (docs/fragment-format.md).
 *
 * A fragment is self-describing: it carries the Matroska Tracks element of
 * its session, the producer's metadata Tags (if any) and one Cluster of
 * known size whose Timecode is absolute (epoch milliseconds, TimecodeScale
 * 1 ms). GetMedia, HLS and clips start from any fragment without looking
 * back.
 *
 *   offset size  field (little-endian)
 *   0      1     version = 1
 *   1      1     flags: bit 0 = the first frame is a key frame
 *   2      2     number of tracks
 *   4      4     duration in ms (first frame's start to last frame's end)
 *   8      4     number of frames
 *   12     4     T = bytes of the Tracks element
 *   16     4     G = bytes of the Tags element (0: none)
 *   20     4     C = bytes of the Cluster element
 *   24     T     Tracks element
 *   24+T   G     Tags element
 *   24+T+G C     Cluster element
 *   Nothing follows; a record longer or shorter than 24+T+G+C is damaged.
 */
#ifndef FL_SERVER_FRAGMENT_H
#define FL_SERVER_FRAGMENT_H

#include <stdint.h>

#include "common/bytes.h"
#include "media/mkv.h"

#define FL_FRAGMENT_VERSION  1
#define FL_FRAGMENT_HEADER   24
#define FL_FRAGMENT_KEYFRAME 1
/* A fragment number's decimal text with its NUL (a 128-bit number has at
 * most 39 digits): the size of every buffer that holds one. */
#define FL_FRAGMENT_NUMBER_CAP 48

typedef struct {
    uint8_t flags;
    uint16_t n_tracks;
    uint32_t duration_ms;
    uint32_t n_frames;
    fl_slice_t tracks;  /* a Matroska Tracks element */
    fl_slice_t tags;    /* a Matroska Tags element, or empty */
    fl_slice_t cluster; /* a Matroska Cluster element */
} fl_fragment_t;

/* Append the record for f to b. */
void fl_fragment_encode(fl_buf_t *b, const fl_fragment_t *f);
/* Only the record's 24-byte header for f (its slices give only their
 * lengths), for a writer that builds the rest in place after it. */
void fl_fragment_header(uint8_t out[FL_FRAGMENT_HEADER], const fl_fragment_t *f);
/* Parse a record; slices point into rec. FL_EVERSION or FL_EMALFORMED. */
int fl_fragment_decode(fl_slice_t rec, fl_fragment_t *out);

/* The fragment's length as ListFragments reports it
 * (FragmentLengthInMilliseconds, docs/api.md): the playback duration of its
 * clock track, the first video track (or the first track when none is
 * video), from its earliest frame's start to its last frame's end. A
 * frame's end is its time plus its duration: BlockDuration, else the
 * track's DefaultDuration, else the track's mean frame interval in this
 * fragment (what a frame without a duration lasts in a constant-rate
 * stream). Other tracks do not count: audio that runs past the next key
 * frame belongs to the next fragment's time. Parses the record's Tracks and
 * Cluster; 0, or FL_EMALFORMED / FL_ENOMEM. */
int fl_fragment_length_ms(const fl_fragment_t *f, uint32_t *ms);

/* Fragment numbers as clients see them: the decimal form of the 128-bit
 * value (log_id << 64 | seq), so numbers differ across streams and grow
 * with the sequence within one. buf needs 40 bytes. */
void fl_fragment_number(uint64_t log_id, uint64_t seq, char *buf, size_t cap);
/* Parse one back: FL_EINVAL if it is not a number this server gives. */
int fl_fragment_number_parse(const char *s, uint64_t *log_id, uint64_t *seq);

/* The TrackEntries of a Tracks element (a record's, or the live tail's
 * session Tracks), handed to each(data, tracks, n) at once, valid during
 * the call. 0, FL_EMALFORMED (no Tracks element), the Matroska parser's
 * error (FL_EMALFORMED, FL_ELIMIT past its limits, FL_ENOMEM) or each's
 * own code. */
int fl_fragment_tracks(fl_slice_t tracks,
                       int (*each)(void *data, const fl_mkv_track_t *t, size_t n), void *data);

#endif
