/*
 * tests/fuzz/fuzz_sdk_filestore.c — the SDK's on-flash store
 * (producer-sdk/filestore.c) opening a file whose bytes are the input: the
 * superblock parser, the record chain scan and replay, then an append and a
 * release on top. Flash bytes are untrusted: none may crash the store, and
 * what replay gives must have passed its tag.
 *
 * The seeds are whole store files (64 KiB) written under the fixed key
 * below, so mutations land past the superblocks, in the records.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "filestore.h"
#include <framelog/producer.h>

static const uint8_t key[32] = {0x46, 0x4c, 0x50, 0x53, 1,  2,  3,  4,  5,  6,  7,
                                8,    9,    10,   11,   12, 13, 14, 15, 16, 17, 18,
                                19,   20,   21,   22,   23, 24, 25, 26, 27, 28};

static int count(void *ctx, int kind, int64_t tc, const uint8_t *p, size_t n)
{
    (void)tc;
    size_t *total = ctx;
    if (kind != FLP_REC_HEADER && kind != FLP_REC_FRAGMENT)
        abort();
    for (size_t i = 0; i < n; i++) /* touch every byte (ASan checks it) */
        *total += p[i];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fuzz_sdk_filestore.%ld", dir ? dir : "/tmp", (long)getpid());
    fl_diag_set_level(FL_DIAG_OFF);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        unlink(path);
        return 0;
    }
    fclose(f);
    flp_filestore_t *fs = NULL;
    if (flp_filestore_open(path, key, 64 * 1024, &fs) == 0) {
        size_t total = 0;
        unsigned damaged = 0;
        flp_filestore_replay(fs, count, &total, &damaged);
        if (flp_filestore_used(fs) > flp_filestore_capacity(fs))
            abort();
        static const uint8_t frag[300] = {1};
        flp_filestore_append(fs, FLP_REC_FRAGMENT, INT64_MAX - 1, frag, sizeof frag);
        flp_filestore_release(fs, size > 0 ? (int64_t)data[size - 1] * 1000 : 0);
        flp_filestore_replay(fs, count, &total, &damaged);
        flp_filestore_close(fs);
    }
    unlink(path);
    return 0;
}
