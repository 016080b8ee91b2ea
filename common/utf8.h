/*
 * common/utf8.h — decoding one UTF-8 code point, strictly (RFC 3629): no
 * overlong forms, no surrogates, nothing above U+10FFFF.
 */
#ifndef FL_COMMON_UTF8_H
#define FL_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode the code point at p (n > 0 bytes available) into *cp. Returns its
 * length in bytes (1..4), or 0 if the bytes are not well-formed UTF-8. */
size_t fl_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp);

#endif
