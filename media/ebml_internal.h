/*
 * media/ebml_internal.h — EBML element IDs and variable-length integers,
 * shared by the Matroska parser and writer (not a public header).
 *
 * Byte layout of an element: ID, size, payload.
 * - ID: 1 to 4 bytes; the count of leading zero bits of the first byte plus
 *   one is the length, and the marker bit stays in the ID (0x1A45DFA3).
 * - size: 1 to 8 bytes, same length rule, marker bit removed; a size whose
 *   value bits are all ones means "unknown" (only Segment and Cluster).
 * - payload: unsigned/signed big-endian integers of 0-8 bytes, IEEE floats
 *   of 0, 4 or 8 bytes, UTF-8/ASCII strings (may be NUL-padded), binary, or
 *   child elements (master).
 */
#ifndef FL_MEDIA_EBML_INTERNAL_H
#define FL_MEDIA_EBML_INTERNAL_H

#include <stdint.h>

#include "common/bytes.h"

#define FL_EBML_UNKNOWN_SIZE UINT64_MAX

/* EBML header */
#define ID_EBML               0x1A45DFA3u
#define ID_EBML_VERSION       0x4286u
#define ID_EBML_READ_VERSION  0x42F7u
#define ID_EBML_MAX_ID_LEN    0x42F2u
#define ID_EBML_MAX_SIZE_LEN  0x42F3u
#define ID_DOC_TYPE           0x4282u
#define ID_DOC_TYPE_VERSION   0x4287u
#define ID_DOC_TYPE_READ_VERS 0x4285u
#define ID_VOID               0xECu
#define ID_CRC32              0xBFu
/* Segment and its children */
#define ID_SEGMENT     0x18538067u
#define ID_SEEK_HEAD   0x114D9B74u
#define ID_INFO        0x1549A966u
#define ID_TRACKS      0x1654AE6Bu
#define ID_CLUSTER     0x1F43B675u
#define ID_CUES        0x1C53BB6Bu
#define ID_ATTACHMENTS 0x1941A469u
#define ID_CHAPTERS    0x1043A770u
#define ID_TAGS        0x1254C367u
/* Info */
#define ID_TIMECODE_SCALE 0x2AD7B1u
#define ID_DURATION       0x4489u
#define ID_MUXING_APP     0x4D80u
#define ID_WRITING_APP    0x5741u
#define ID_TITLE          0x7BA9u
/* Tracks */
#define ID_TRACK_ENTRY        0xAEu
#define ID_TRACK_NUMBER       0xD7u
#define ID_TRACK_UID          0x73C5u
#define ID_TRACK_TYPE         0x83u
#define ID_CODEC_ID           0x86u
#define ID_CODEC_PRIVATE      0x63A2u
#define ID_NAME               0x536Eu
#define ID_LANGUAGE           0x22B59Cu
#define ID_DEFAULT_DURATION   0x23E383u
#define ID_CONTENT_ENCODINGS  0x6D80u
#define ID_VIDEO              0xE0u
#define ID_PIXEL_WIDTH        0xB0u
#define ID_PIXEL_HEIGHT       0xBAu
#define ID_AUDIO              0xE1u
#define ID_SAMPLING_FREQUENCY 0xB5u
#define ID_CHANNELS           0x9Fu
#define ID_BIT_DEPTH          0x6264u
/* Cluster */
#define ID_TIMECODE        0xE7u
#define ID_SIMPLE_BLOCK    0xA3u
#define ID_BLOCK_GROUP     0xA0u
#define ID_BLOCK           0xA1u
#define ID_BLOCK_DURATION  0x9Bu
#define ID_REFERENCE_BLOCK 0xFBu
/* Tags */
#define ID_TAG        0x7373u
#define ID_TARGETS    0x63C0u
#define ID_SIMPLE_TAG 0x67C8u
#define ID_TAG_NAME   0x45A3u
#define ID_TAG_LANG   0x447Au
#define ID_TAG_STRING 0x4487u
#define ID_TAG_BINARY 0x4485u

/* Length of an ID from its first byte (1..4), or 0 if invalid. */
static inline unsigned fl_ebml_id_len(uint8_t b)
{
    if (b & 0x80)
        return 1;
    if (b & 0x40)
        return 2;
    if (b & 0x20)
        return 3;
    if (b & 0x10)
        return 4;
    return 0;
}

/* Length of a size vint from its first byte (1..8), or 0 if invalid. */
static inline unsigned fl_ebml_vint_len(uint8_t b)
{
    for (unsigned i = 0; i < 8; i++)
        if (b & (0x80u >> i))
            return i + 1;
    return 0;
}

/* Decode a size vint of len bytes at p (marker removed); unknown sizes
 * (all value bits set) come back as FL_EBML_UNKNOWN_SIZE. */
static inline uint64_t fl_ebml_vint_value(const uint8_t *p, unsigned len)
{
    uint64_t v = p[0] & (0xFFu >> len);
    for (unsigned i = 1; i < len; i++)
        v = v << 8 | p[i];
    uint64_t all = (len == 8) ? (((uint64_t)1 << 56) - 1) : (((uint64_t)1 << (7 * len)) - 1);
    return v == all ? FL_EBML_UNKNOWN_SIZE : v;
}

/* Read a size vint through a bounded reader; *len_out gets its length.
 * Sets r->err (FL_ETRUNCATED) when short; returns 0 and sets *len_out = 0
 * when the first byte is invalid. */
static inline uint64_t fl_ebml_read_vint(fl_reader_t *r, unsigned *len_out)
{
    uint8_t b[8];
    b[0] = fl_reader_u8(r);
    unsigned len = fl_ebml_vint_len(b[0]);
    *len_out = len;
    if (len == 0 || r->err)
        return 0;
    fl_reader_copy(r, b + 1, len - 1);
    return fl_ebml_vint_value(b, len);
}

/* Bytes needed to write v as a size vint (v < 2^56 - 1). */
static inline unsigned fl_ebml_vint_size(uint64_t v)
{
    unsigned len = 1;
    while (len < 8 && v >= ((uint64_t)1 << (7 * len)) - 1)
        len++;
    return len;
}

#endif
