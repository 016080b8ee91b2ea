/*
 * storage/filehdr.c — the 32-byte header that opens every segment and
 * index file: which log and which segment the file belongs to, so that a
 * file moved, renamed or mixed up with another log's is refused.
 *
 * Layout (little-endian; FL_SEG_HDR = FL_IDX_HDR = 32):
 *     0   4  magic ("FLSG" segment, "FLIX" index)
 *     4   1  version
 *     5   3  zero
 *     8   8  log id
 *    16   8  segment number
 *    24   4  zero
 *    28   4  CRC-32C of bytes 0..27
 * A reader checks a header by encoding the one it expects and comparing
 * all 32 bytes. Calls only checksum.c.
 */
#include <string.h>

#include "storage_internal.h"

_Static_assert(FL_SEG_HDR == FL_FILE_HDR && FL_IDX_HDR == FL_FILE_HDR, "one header size");

void fl_file_hdr_encode(const char magic[4], uint8_t version, uint64_t log_id, uint64_t segno,
                        uint8_t out[FL_FILE_HDR])
{
    memset(out, 0, FL_FILE_HDR);
    memcpy(out, magic, 4);
    out[4] = version;
    fl_store_le64(out + 8, log_id);
    fl_store_le64(out + 16, segno);
    fl_store_le32(out + 28, fl_crc32c(out, 28));
}
