/*
 * common/base64.h — base64 (RFC 4648): the standard alphabet with padding,
 * as AWS JSON APIs carry blobs and opaque tokens, and base64url without
 * padding (§5), as tokens travel in a URL's query or path as they are.
 *
 * Both decoders take only canonical text, the one encoding of its bytes:
 * the bits past the last byte are zero, so no two texts decode alike.
 */
#ifndef FL_COMMON_BASE64_H
#define FL_COMMON_BASE64_H

#include "common/bytes.h"

/* Append the encoding of s to b. */
void fl_base64_encode(fl_buf_t *b, fl_slice_t s);
/* Append the decoding of s to b. Returns 0, or FL_EMALFORMED for anything
 * but canonical padded base64 (b then holds an unspecified prefix). */
int fl_base64_decode(fl_buf_t *b, fl_slice_t s);

/* Append the base64url encoding of s to b, without padding. */
void fl_base64url_encode(fl_buf_t *b, fl_slice_t s);
/* Append the decoding of s to b. Returns 0; FL_EMALFORMED for a character
 * outside the url alphabet ('=' among them), a length of 1 mod 4 or
 * non-zero leftover bits; or b's sticky error (a cap it ran into). On
 * error b holds an unspecified prefix. */
int fl_base64url_decode(fl_buf_t *b, fl_slice_t s);

#endif
