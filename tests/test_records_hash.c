/*
 * tests/test_records_hash.c — partition keys' hash keys (server/records):
 * fl_rec_partition_hash_many, which PutRecords uses for its records (8
 * keys at a time in AVX2's lanes where the CPU has it), gives every key
 * the MD5 that fl_rec_partition_hash (mbedTLS) gives it, whatever the
 * lengths (0 to 300 bytes: one block up to 55, more beyond), the mix of
 * short and long keys and the number of keys a call (1 to 70, so whole
 * and partial groups of 8); and MD5's published test vectors (RFC 1321)
 * come out, so a wrong shared result cannot pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "server/records/records.h"

START_TEST(many_keys_hash_as_one_by_one)
{
    uint8_t bytes[300 * 70];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof bytes; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bytes[i] = (uint8_t)x;
    }
    fl_slice_t keys[70];
    uint8_t got[70][16], want[16];
    /* every length alone, 0..300 */
    for (size_t len = 0; len <= 300; len++) {
        keys[0] = fl_slice(bytes + len, len);
        fl_rec_partition_hash_many(keys, 1, got);
        fl_rec_partition_hash(keys[0], want);
        ck_assert_msg(memcmp(got[0], want, 16) == 0, "a key of %zu bytes", len);
    }
    /* calls of 1..70 keys of mixed lengths */
    for (size_t n = 1; n <= 70; n++) {
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t len = x % 4 == 0 ? 56 + x % 200 : x % 56; /* a quarter longer than a block */
            keys[i] = fl_slice(bytes + 300 * i, len);
        }
        fl_rec_partition_hash_many(keys, n, got);
        for (size_t i = 0; i < n; i++) {
            fl_rec_partition_hash(keys[i], want);
            ck_assert_msg(memcmp(got[i], want, 16) == 0, "key %zu of %zu (%zu bytes)", i, n,
                          keys[i].n);
        }
    }
}
END_TEST

START_TEST(rfc1321_vectors)
{
    static const char *const in[] = {"", "a", "abc", "message digest",
                                     "abcdefghijklmnopqrstuvwxyz"};
    static const char *const md5[] = {
        "d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661",
        "900150983cd24fb0d6963f7d28e17f72", "f96b697d7cb7938d525a2f31aaf161d0",
        "c3fcd3d76192e4007dfb496cca67e13b"};
    fl_slice_t keys[5];
    uint8_t got[5][16];
    for (size_t i = 0; i < 5; i++)
        keys[i] = fl_slice_str(in[i]);
    fl_rec_partition_hash_many(keys, 5, got);
    for (size_t i = 0; i < 5; i++) {
        char hex[33];
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", got[i][j]);
        ck_assert_str_eq(hex, md5[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("records_hash");
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, many_keys_hash_as_one_by_one);
    tcase_add_test(tc, rfc1321_vectors);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
