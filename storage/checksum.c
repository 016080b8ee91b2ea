/*
 * storage/checksum.c — CRC-32C (Castagnoli), the checksum of every
 * fixed-size header and index entry on disk.
 *
 * Headers carry a CRC so that a scan can tell a header from noise without
 * decrypting anything (the chunk's GCM tag still authenticates it). The
 * polynomial is 0x1EDC6F41 (reflected 0x82F63B78), initial value and final
 * xor 0xFFFFFFFF, as in iSCSI and ext4: crc32c("123456789") = 0xE3069283.
 * The table (and whether the CPU has SSE4.2's crc32 instruction, used
 * instead when it does) is set once at first use (pthread_once); it is the
 * only static state in storage/ and is immutable after that.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define FL_CRC_HW 1
static int crc_hw;

/* SSE4.2 has a CRC-32C instruction (the same reflected polynomial, no
 * pre/post inversion): 8 bytes a step instead of one table lookup a byte.
 * Index entries and chunk headers are checksummed on the writer thread for
 * every chunk, so this is on the append path. */
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *b, size_t n)
{
    uint64_t c64 = c;
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c64 = _mm_crc32_u64(c64, w);
    }
    c = (uint32_t)c64;
    for (; n; n--, b++)
        c = _mm_crc32_u8(c, *b);
    return c;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#ifdef FL_CRC_HW
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2") && !getenv("FL_CRC_SOFT");
#endif
}

uint32_t fl_crc32c_update(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    uint32_t c = crc ^ 0xFFFFFFFFu;
#ifdef FL_CRC_HW
    if (crc_hw)
        return crc_sse42(c, b, n) ^ 0xFFFFFFFFu;
#endif
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ b[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t fl_crc32c(const void *p, size_t n)
{
    return fl_crc32c_update(0, p, n);
}
