/*
 * common/dec128.h — 128-bit unsigned numbers as decimal text: Kinesis Data
 * Streams' hash keys (0 to 2^128 - 1) and Kinesis Video's fragment numbers
 * (log id << 64 | sequence) travel as such text.
 */
#ifndef FL_COMMON_DEC128_H
#define FL_COMMON_DEC128_H

#include <stddef.h>

/* 2^128 - 1 has 39 digits: the text and its NUL fit 40 bytes. */
#define FL_DEC128_DIGITS 39
#define FL_DEC128_CAP    (FL_DEC128_DIGITS + 1)

/* Write v's decimal digits (no leading zeros) and a NUL to buf; returns the
 * digits' count. */
size_t fl_dec128_put(unsigned __int128 v, char buf[FL_DEC128_CAP]);
/* Parse s, the whole string: 1 to 39 ASCII digits (leading zeros allowed:
 * callers that refuse them check s[0] themselves) whose value fits 128
 * bits. 0, or -1 (nothing written to *out). */
int fl_dec128_parse(const char *s, unsigned __int128 *out);

#endif
