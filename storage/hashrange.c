/*
 * storage/hashrange.c — the 128-bit hash-key space and its ranges: every
 * piece of hash-key arithmetic in storage/ is here.
 *
 * As in Kinesis Data Streams, a partition key maps to the unsigned 128-bit
 * integer MD5(key), kept as 16 bytes big-endian (so memcmp orders keys as
 * numbers). A range is a pair [start, end], both inclusive. The open shards
 * of a log cover [0, 2^128-1] without overlap: a log created with N shards
 * splits the space into N equal ranges (the last takes the remainder); a
 * split cuts one range in two non-empty ranges; a merge joins two ranges
 * where the first ends right before the second begins.
 *
 * Calls nothing in storage/ (libcrypto's MD5 only); logmeta.c (a new
 * log's ranges) and reshard.c (key lookup, split, merge) call it.
 */
#include <openssl/evp.h>
#include <string.h>

#include "storage_internal.h"

static unsigned __int128 u128_load(const uint8_t p[16])
{
    unsigned __int128 v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 8 | p[i];
    return v;
}

static void u128_put(uint8_t p[16], unsigned __int128 v)
{
    for (int i = 15; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void fl_hashrange_key(fl_slice_t key, uint8_t out[16])
{
    unsigned int n = 16;
    if (EVP_Digest(key.p ? key.p : (const uint8_t *)"", key.n, out, &n, EVP_md5(), NULL) != 1)
        memset(out, 0, 16);
}

void fl_hashrange_nth(uint32_t i, uint32_t n, uint8_t start[16], uint8_t end[16])
{
    const unsigned __int128 max = ~(unsigned __int128)0;
    unsigned __int128 step = max / n + (max % n == n - 1 ? 1 : 0); /* floor(2^128 / n) */
    u128_put(start, step * i);
    u128_put(end, i + 1 == n ? max : step * (i + 1) - 1);
}

int fl_hashrange_contains(const uint8_t start[16], const uint8_t end[16], const uint8_t h[16])
{
    return memcmp(start, h, 16) <= 0 && memcmp(h, end, 16) <= 0;
}

int fl_hashrange_split(const uint8_t start[16], const uint8_t end[16], const uint8_t at[16],
                       uint8_t left_end[16])
{
    if (memcmp(at, start, 16) <= 0 || memcmp(at, end, 16) > 0)
        return FL_EINVAL; /* both halves must be non-empty */
    u128_put(left_end, u128_load(at) - 1);
    return 0;
}

int fl_hashrange_merge(const uint8_t a_start[16], const uint8_t a_end[16],
                       const uint8_t b_start[16], const uint8_t b_end[16], uint8_t start[16],
                       uint8_t end[16])
{
    int a_first = memcmp(a_start, b_start, 16) < 0;
    const uint8_t *lo_end = a_first ? a_end : b_end, *hi_start = a_first ? b_start : a_start;
    if (u128_load(lo_end) + 1 != u128_load(hi_start))
        return FL_EINVAL; /* not adjacent */
    memcpy(start, a_first ? a_start : b_start, 16);
    memcpy(end, a_first ? b_end : a_end, 16);
    return 0;
}
