/*
 * media/mkv_writer.c — the Matroska writer (see mkv_writer.h).
 *
 * Masters are written as ID + 8-byte size placeholder + children, then the
 * size is patched (master_begin/master_end): simple, and the 7 wasted bytes
 * per master do not matter next to video. Leaves get the shortest size vint.
 * Unsigned integers are written in the fewest bytes, floats as 8 bytes.
 * Layout written by a typical GetMedia response:
 *
 *   EBML{EBMLVersion 1, ReadVersion 1, MaxIDLength 4, MaxSizeLength 8,
 *        DocType, DocTypeVersion 4, DocTypeReadVersion 2}
 *   Segment(unknown size){
 *     Info{TimecodeScale, MuxingApp, WritingApp}
 *     Tracks{TrackEntry{TrackNumber, TrackUID, TrackType, CodecID,
 *                       CodecPrivate, Video{PixelWidth, PixelHeight} ...}}
 *     Cluster{Timecode, SimpleBlock...}  Tags{Tag{SimpleTag{TagName,
 *     TagString}...}}   (repeated per fragment)
 */
#include <string.h>

#include "common/error.h"
#include "media/ebml_internal.h"
#include "media/mkv_writer.h"

static void put_id(fl_buf_t *b, uint32_t id)
{
    if (id > 0xFFFFFF)
        fl_buf_u8(b, (uint8_t)(id >> 24));
    if (id > 0xFFFF)
        fl_buf_u8(b, (uint8_t)(id >> 16));
    if (id > 0xFF)
        fl_buf_u8(b, (uint8_t)(id >> 8));
    fl_buf_u8(b, (uint8_t)id);
}

static void put_vint(fl_buf_t *b, uint64_t v, unsigned len)
{
    uint8_t tmp[8];
    for (unsigned i = 0; i < len; i++)
        tmp[len - 1 - i] = (uint8_t)(v >> (8 * i));
    tmp[0] |= (uint8_t)(0x80u >> (len - 1));
    fl_buf_append(b, tmp, len);
}

static void put_size(fl_buf_t *b, uint64_t v)
{
    put_vint(b, v, fl_ebml_vint_size(v));
}

static void put_uint(fl_buf_t *b, uint32_t id, uint64_t v)
{
    unsigned n = 1;
    while (n < 8 && (v >> (8 * n)))
        n++;
    put_id(b, id);
    put_size(b, n);
    for (unsigned i = n; i-- > 0;)
        fl_buf_u8(b, (uint8_t)(v >> (8 * i)));
}

static void put_float(fl_buf_t *b, uint32_t id, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    put_id(b, id);
    put_size(b, 8);
    fl_buf_be64(b, bits);
}

static void put_bytes(fl_buf_t *b, uint32_t id, fl_slice_t s)
{
    put_id(b, id);
    put_size(b, s.n);
    fl_buf_append(b, s.p, s.n);
}

static size_t master_begin(fl_buf_t *b, uint32_t id)
{
    put_id(b, id);
    size_t mark = b->n;
    put_vint(b, 0, 8);
    return mark;
}

static void master_end(fl_buf_t *b, size_t mark)
{
    if (b->err || mark + 8 > b->n)
        return;
    uint64_t size = b->n - mark - 8;
    uint8_t tmp[8];
    for (unsigned i = 0; i < 8; i++)
        tmp[7 - i] = (uint8_t)(size >> (8 * i));
    tmp[0] = 0x01; /* 8-byte vint marker; sizes stay below 2^56 */
    memcpy(b->p + mark, tmp, 8);
}

int fl_mkv_write_ebml_header(fl_buf_t *b, const char *doc_type)
{
    size_t m = master_begin(b, ID_EBML);
    put_uint(b, ID_EBML_VERSION, 1);
    put_uint(b, ID_EBML_READ_VERSION, 1);
    put_uint(b, ID_EBML_MAX_ID_LEN, 4);
    put_uint(b, ID_EBML_MAX_SIZE_LEN, 8);
    put_bytes(b, ID_DOC_TYPE, fl_slice_str(doc_type ? doc_type : "matroska"));
    put_uint(b, ID_DOC_TYPE_VERSION, 4);
    put_uint(b, ID_DOC_TYPE_READ_VERS, 2);
    master_end(b, m);
    return b->err;
}

int fl_mkv_write_segment_start(fl_buf_t *b)
{
    put_id(b, ID_SEGMENT);
    fl_buf_u8(b, 0x01);
    for (int i = 0; i < 7; i++)
        fl_buf_u8(b, 0xFF);
    return b->err;
}

int fl_mkv_write_info(fl_buf_t *b, const fl_mkv_info_t *info)
{
    size_t m = master_begin(b, ID_INFO);
    put_uint(b, ID_TIMECODE_SCALE,
             info->timecode_scale ? info->timecode_scale : FL_MKV_DEFAULT_TIMECODE_SCALE);
    if (info->duration > 0)
        put_float(b, ID_DURATION, info->duration);
    if (info->muxing_app.n)
        put_bytes(b, ID_MUXING_APP, info->muxing_app);
    if (info->writing_app.n)
        put_bytes(b, ID_WRITING_APP, info->writing_app);
    if (info->title.n)
        put_bytes(b, ID_TITLE, info->title);
    master_end(b, m);
    return b->err;
}

int fl_mkv_write_tracks(fl_buf_t *b, const fl_mkv_track_t *tracks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tracks[i].number == 0 || tracks[i].number > 126)
            return FL_EINVAL; /* block headers here use a 1-byte track vint */
        for (size_t j = 0; j < i; j++)
            if (tracks[j].number == tracks[i].number)
                return FL_EINVAL;
    }
    size_t m = master_begin(b, ID_TRACKS);
    for (size_t i = 0; i < n; i++) {
        const fl_mkv_track_t *t = &tracks[i];
        size_t e = master_begin(b, ID_TRACK_ENTRY);
        put_uint(b, ID_TRACK_NUMBER, t->number);
        put_uint(b, ID_TRACK_UID, t->uid ? t->uid : t->number);
        put_uint(b, ID_TRACK_TYPE, t->type);
        put_bytes(b, ID_CODEC_ID, t->codec_id);
        if (t->codec_private.n)
            put_bytes(b, ID_CODEC_PRIVATE, t->codec_private);
        if (t->name.n)
            put_bytes(b, ID_NAME, t->name);
        if (t->language.n)
            put_bytes(b, ID_LANGUAGE, t->language);
        if (t->default_duration_ns)
            put_uint(b, ID_DEFAULT_DURATION, t->default_duration_ns);
        if (t->pixel_width || t->pixel_height) {
            size_t v = master_begin(b, ID_VIDEO);
            put_uint(b, ID_PIXEL_WIDTH, t->pixel_width);
            put_uint(b, ID_PIXEL_HEIGHT, t->pixel_height);
            master_end(b, v);
        }
        if (t->sampling_frequency > 0 || t->channels) {
            size_t a = master_begin(b, ID_AUDIO);
            if (t->sampling_frequency > 0)
                put_float(b, ID_SAMPLING_FREQUENCY, t->sampling_frequency);
            if (t->channels)
                put_uint(b, ID_CHANNELS, t->channels);
            if (t->bit_depth)
                put_uint(b, ID_BIT_DEPTH, t->bit_depth);
            master_end(b, a);
        }
        master_end(b, e);
    }
    master_end(b, m);
    return b->err;
}

int fl_mkv_write_cluster_start(fl_buf_t *b, uint64_t timecode)
{
    put_id(b, ID_CLUSTER);
    fl_buf_u8(b, 0x01);
    for (int i = 0; i < 7; i++)
        fl_buf_u8(b, 0xFF);
    put_uint(b, ID_TIMECODE, timecode);
    return b->err;
}

int fl_mkv_write_cluster_begin(fl_buf_t *b, uint64_t timecode, size_t *mark_out)
{
    *mark_out = master_begin(b, ID_CLUSTER);
    put_uint(b, ID_TIMECODE, timecode);
    return b->err;
}

int fl_mkv_write_cluster_end(fl_buf_t *b, size_t mark)
{
    master_end(b, mark);
    return b->err;
}

int fl_mkv_write_simple_block_header(fl_buf_t *b, uint64_t track, int64_t rel_timecode,
                                     int keyframe, size_t frame_size)
{
    if (track == 0 || track > 126 || rel_timecode < INT16_MIN || rel_timecode > INT16_MAX ||
        (uint64_t)frame_size > ((uint64_t)1 << 56) - 6)
        return FL_EINVAL;
    put_id(b, ID_SIMPLE_BLOCK);
    put_size(b, (uint64_t)frame_size + 4);
    fl_buf_u8(b, (uint8_t)(0x80 | track));
    fl_buf_be16(b, (uint16_t)(int16_t)rel_timecode);
    fl_buf_u8(b, keyframe ? 0x80 : 0x00);
    return b->err;
}

int fl_mkv_write_simple_block(fl_buf_t *b, uint64_t track, int64_t rel_timecode, int keyframe,
                              fl_slice_t frame)
{
    int rc = fl_mkv_write_simple_block_header(b, track, rel_timecode, keyframe, frame.n);
    if (rc == FL_EINVAL)
        return rc;
    fl_buf_append(b, frame.p, frame.n);
    return b->err;
}

int fl_mkv_write_tags(fl_buf_t *b, const fl_mkv_tag_t *tags, size_t n)
{
    size_t m = master_begin(b, ID_TAGS);
    size_t t = master_begin(b, ID_TAG);
    for (size_t i = 0; i < n; i++) {
        size_t s = master_begin(b, ID_SIMPLE_TAG);
        put_bytes(b, ID_TAG_NAME, tags[i].name);
        put_bytes(b, tags[i].binary ? ID_TAG_BINARY : ID_TAG_STRING, tags[i].value);
        master_end(b, s);
    }
    master_end(b, t);
    master_end(b, m);
    return b->err;
}
