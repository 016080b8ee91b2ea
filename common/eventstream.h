/*
 * common/eventstream.h — AWS's event-stream framing
 * (application/vnd.amazon.eventstream), the binary messages that carry
 * SubscribeToShard's events (docs/records.md, "Event stream"). A message:
 *
 *   0   4  total length, big-endian (prelude + headers + payload + 4)
 *   4   4  headers length, big-endian
 *   8   4  prelude CRC32 (IEEE, of bytes 0..7), big-endian
 *   12  h  headers: name length (1), name, value type (1), value
 *   ..  p  payload
 *   end 4  message CRC32 (of every byte before it), big-endian
 *
 * Header value types: 0 true, 1 false (no value), 2 byte, 3 int16, 4
 * int32, 5 int64, 6 bytes and 7 string (2-byte big-endian length, then
 * the bytes), 8 timestamp (int64 ms), 9 uuid (16 bytes). The writer writes
 * string headers only (all SubscribeToShard needs); the reader reads every
 * type and hands back strings and bytes as slices, the others as numbers.
 *
 * Limits (the reader's, on untrusted bytes): a message at most
 * FL_EVS_MAX_MESSAGE bytes, at most FL_EVS_MAX_HEADERS headers, headers
 * at most FL_EVS_MAX_HEADERS_LEN bytes (AWS's figures: 16 MiB, 128 kB).
 */
#ifndef FL_COMMON_EVENTSTREAM_H
#define FL_COMMON_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

#define FL_EVS_PRELUDE         12
#define FL_EVS_MIN_MESSAGE     16 /* prelude and message CRC */
#define FL_EVS_MAX_MESSAGE     (16u << 20)
#define FL_EVS_MAX_HEADERS_LEN (128u << 10)
#define FL_EVS_MAX_HEADERS     32

enum {
    FL_EVS_TRUE = 0,
    FL_EVS_FALSE = 1,
    FL_EVS_BYTE = 2,
    FL_EVS_INT16 = 3,
    FL_EVS_INT32 = 4,
    FL_EVS_INT64 = 5,
    FL_EVS_BYTES = 6,
    FL_EVS_STRING = 7,
    FL_EVS_TIMESTAMP = 8,
    FL_EVS_UUID = 9,
};

typedef struct {
    fl_slice_t name;
    uint8_t type;   /* FL_EVS_* */
    fl_slice_t str; /* BYTES, STRING, UUID: the value's bytes */
    int64_t num;    /* TRUE/FALSE (1/0), BYTE, INT*, TIMESTAMP */
} fl_evs_header_t;

typedef struct {
    fl_evs_header_t headers[FL_EVS_MAX_HEADERS];
    size_t n_headers;
    fl_slice_t payload; /* into the bytes read */
} fl_evs_message_t;

/* CRC32 (IEEE 802.3, zlib's) of p, continuing from crc (0 to start). */
uint32_t fl_evs_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Append one message with string headers names[i]: values[i] (n of
 * them) and the payload. Errors are b's (sticky). */
void fl_evs_write(fl_buf_t *b, const char *const *names, const char *const *values, size_t n,
                  fl_slice_t payload);

/* Read the message at the start of in: 0 with *m (slices into in) and
 * *used its length; FL_ETRUNCATED when in holds only part of one (read
 * more); FL_EMALFORMED for bad lengths, CRCs or headers; FL_ELIMIT past
 * the limits above. */
int fl_evs_read(fl_slice_t in, fl_evs_message_t *m, size_t *used);

/* A string header's value, or an empty slice with NULL p when absent. */
fl_slice_t fl_evs_header_str(const fl_evs_message_t *m, const char *name);

#endif
