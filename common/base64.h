/*
 * common/base64.h — standard base64 (RFC 4648, with padding), as AWS JSON
 * APIs carry blobs and opaque tokens.
 */
#ifndef FL_COMMON_BASE64_H
#define FL_COMMON_BASE64_H

#include "common/bytes.h"

/* Append the encoding of s to b. */
void fl_base64_encode(fl_buf_t *b, fl_slice_t s);
/* Append the decoding of s to b. Returns 0, or FL_EMALFORMED for anything
 * but canonical padded base64 (b then holds an unspecified prefix). */
int fl_base64_decode(fl_buf_t *b, fl_slice_t s);

#endif
