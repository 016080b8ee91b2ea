/*
 * storage/checksum.c — CRC-32C (Castagnoli), the checksum of every
 * fixed-size header and index entry on disk.
 *
 * Headers carry a CRC so that a scan can tell a header from noise without
 * decrypting anything (the chunk's GCM tag still authenticates it). The
 * polynomial is 0x1EDC6F41 (reflected 0x82F63B78), initial value and final
 * xor 0xFFFFFFFF, as in iSCSI and ext4: crc32c("123456789") = 0xE3069283.
 * The table is computed once at first use (pthread_once); it is the only
 * static state in storage/ and is immutable after that.
 */
#include <pthread.h>

#include "storage_internal.h"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t fl_crc32c_update(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    uint32_t c = crc ^ 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ b[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t fl_crc32c(const void *p, size_t n)
{
    return fl_crc32c_update(0, p, n);
}
