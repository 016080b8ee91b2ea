/*
 * tests/fuzz/fuzz_storage_chunk.c — the on-disk chunk parsers of storage/:
 * the chunk header decoder, chunk opening (tag check and decryption with a
 * fixed key) and the record parser, on arbitrary bytes. Disk bytes are
 * untrusted: any of them may be damaged, and none may crash a reader.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_chunk_hdr_t h;
    if (fl_chunk_hdr_decode(data, size, &h) == 0) {
        /* as a whole chunk: must fail its tag, never read out of bounds */
        uint8_t *copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        static const uint8_t key[32] = {1};
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        if (c && fl_chunk_open(c, key, 1, copy, size, &h) == 0)
            abort(); /* a forged tag was accepted */
        EVP_CIPHER_CTX_free(c);
        free(copy);
    }
    /* as a decrypted body: parse records until the first error */
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(data, size));
    for (int i = 0; i < 100000; i++) {
        fl_log_record_t rec;
        if (fl_chunk_record_next(&r, &rec) < 0)
            break;
        if (rec.key.n > FL_LOG_MAX_KEY || rec.payload.n > size)
            abort();
        if (fl_reader_left(&r) == 0)
            break;
    }
    return 0;
}
