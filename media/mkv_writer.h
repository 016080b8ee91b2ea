/*
 * media/mkv_writer.h — writing Matroska: the EBML header, a Segment of
 * unknown size, Info, Tracks, Clusters of SimpleBlocks and Tags with
 * SimpleTags. This is what the producer SDK needs to send fragments and
 * what the server needs for GetMedia (one Cluster plus one Tags element per
 * fragment).
 *
 * Every function appends to a caller's fl_buf_t and returns its sticky
 * error (0, FL_ENOMEM or FL_ELIMIT when the buffer has a cap), so a caller
 * may write a whole header and check once; FL_EINVAL is returned (and
 * nothing written) for arguments Matroska cannot carry. Nothing is
 * allocated except by the buffer, so a caller that reuses one buffer
 * (fl_buf_reset) allocates nothing per frame in steady state.
 *
 * A cluster is written either with unknown size (fl_mkv_write_cluster_start,
 * then blocks, streaming-friendly: nothing to patch) or with known size
 * (fl_mkv_write_cluster_begin / _end, which patches an 8-byte size).
 */
#ifndef FL_MEDIA_MKV_WRITER_H
#define FL_MEDIA_MKV_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "media/mkv.h"

/* EBML header with DocType "matroska" (doc_type NULL) or "webm". */
int fl_mkv_write_ebml_header(fl_buf_t *b, const char *doc_type);
/* Segment ID with the unknown size. */
int fl_mkv_write_segment_start(fl_buf_t *b);
/* Info: TimecodeScale (0 = 1 ms), MuxingApp, WritingApp, Title, Duration
 * (when > 0). */
int fl_mkv_write_info(fl_buf_t *b, const fl_mkv_info_t *info);
/* Tracks with n entries (number >= 1, distinct). */
int fl_mkv_write_tracks(fl_buf_t *b, const fl_mkv_track_t *tracks, size_t n);

/* Cluster of unknown size with its Timecode (in ticks). */
int fl_mkv_write_cluster_start(fl_buf_t *b, uint64_t timecode);
/* Cluster of known size: writes ID, an 8-byte size to patch and the
 * Timecode; *mark_out is what fl_mkv_write_cluster_end needs. */
int fl_mkv_write_cluster_begin(fl_buf_t *b, uint64_t timecode, size_t *mark_out);
int fl_mkv_write_cluster_end(fl_buf_t *b, size_t mark);

/* SimpleBlock for a track; rel_timecode is relative to the cluster's
 * Timecode in ticks and must fit in int16 (else FL_EINVAL). */
int fl_mkv_write_simple_block(fl_buf_t *b, uint64_t track, int64_t rel_timecode, int keyframe,
                              fl_slice_t frame);

/* Only the SimpleBlock's header (ID, size, track, timecode, flags) for a
 * frame of frame_size bytes that the caller sends from its own memory right
 * after (no copy of the frame). */
int fl_mkv_write_simple_block_header(fl_buf_t *b, uint64_t track, int64_t rel_timecode,
                                     int keyframe, size_t frame_size);

/* Tags > Tag > n SimpleTags (TagName + TagString, or TagBinary when
 * tags[i].binary). */
int fl_mkv_write_tags(fl_buf_t *b, const fl_mkv_tag_t *tags, size_t n);

#endif
