/*
 * tests/test_server_token.c — the server's tokens (server/core/token.h):
 * the token key file (made once with mode 0600, kept across starts,
 * refused when damaged or readable by others, no temporary file left),
 * tokens sealed and opened, expiry, kinds, and subkeys that differ by
 * purpose.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "harness.h"
#include "server/core/token.h"

START_TEST(the_key_file_is_made_once_and_kept)
{
    char *dir = fl_test_mkdtemp("tokkey");
    char err[300], path[4200];
    uint8_t k1[FL_TOKEN_KEY_BYTES], k2[FL_TOKEN_KEY_BYTES];
    ck_assert_int_eq(fl_token_key_load(dir, k1, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/server.key", dir);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 8 + FL_TOKEN_KEY_BYTES);
    ck_assert_int_eq(fl_token_key_load(dir, k2, err, sizeof err), 0);
    ck_assert_int_eq(memcmp(k1, k2, sizeof k1), 0);
    /* no temporary file is left behind */
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    char *argv[] = {"sh", "-c", cmd, NULL};
    char *out = NULL;
    fl_test_run(argv, 10000, &out, NULL);
    ck_assert_msg(out && atoi(out) == 0, "temporary files left: %s", out);
    free(out);
    /* readable by others: refused, with the fix */
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_ne(fl_token_key_load(dir, k2, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "chmod 600") != NULL, "%s", err);
    /* damaged: refused, not replaced */
    ck_assert_int_eq(fl_test_write_file(path, "short", 5), 0);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(fl_token_key_load(dir, k2, err, sizeof err), FL_ECORRUPT);
    ck_assert_msg(strstr(err, "server.key") != NULL, "%s", err);
    fl_test_rmtree(dir);
}
END_TEST

START_TEST(sealed_tokens_open_only_as_sealed)
{
    uint8_t key[FL_TOKEN_KEY_BYTES], other[FL_TOKEN_KEY_BYTES];
    memset(key, 7, sizeof key);
    memset(other, 8, sizeof other);
    fl_buf_t tok, out;
    fl_buf_init(&tok, 0);
    fl_buf_init(&out, 0);
    ck_assert_int_eq(
        fl_token_seal(key, FL_TOKEN_SHARD_ITERATOR, fl_slice_str("position"), 5000, &tok), 0);
    /* url-safe text: nothing a query string would need to escape */
    ck_assert_uint_eq(strspn((char *)tok.p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789-_"),
                      tok.n);
    ck_assert_int_eq(fl_token_open(key, FL_TOKEN_SHARD_ITERATOR, fl_buf_slice(&tok), 5000, &out),
                     0);
    ck_assert_uint_eq(out.n, 8);
    ck_assert_int_eq(memcmp(out.p, "position", 8), 0);
    ck_assert_int_eq(fl_token_open(key, FL_TOKEN_SHARD_ITERATOR, fl_buf_slice(&tok), 5001, &out),
                     FL_EEXPIRED);
    ck_assert_int_eq(fl_token_open(key, FL_TOKEN_HLS_SESSION, fl_buf_slice(&tok), 0, &out),
                     FL_EMALFORMED);
    ck_assert_int_eq(fl_token_open(other, FL_TOKEN_SHARD_ITERATOR, fl_buf_slice(&tok), 0, &out),
                     FL_EMALFORMED);
    for (size_t i = 0; i < tok.n; i++) {
        uint8_t c = tok.p[i];
        tok.p[i] = c == 'A' ? 'B' : 'A';
        ck_assert_int_eq(fl_token_open(key, FL_TOKEN_SHARD_ITERATOR, fl_buf_slice(&tok), 0, &out),
                         FL_EMALFORMED);
        tok.p[i] = c;
    }
    /* too long a payload */
    uint8_t big[FL_TOKEN_MAX_PAYLOAD + 1] = {0};
    ck_assert_int_eq(fl_token_seal(key, 1, fl_slice(big, sizeof big), 0, &tok), FL_ELIMIT);
    fl_buf_free(&tok);
    fl_buf_free(&out);
}
END_TEST

START_TEST(subkeys_differ_by_purpose)
{
    uint8_t key[FL_TOKEN_KEY_BYTES], a[FL_TOKEN_KEY_BYTES], b[FL_TOKEN_KEY_BYTES],
        a2[FL_TOKEN_KEY_BYTES];
    memset(key, 3, sizeof key);
    fl_token_subkey(key, "framelog playback session v1", a);
    fl_token_subkey(key, "framelog something else v1", b);
    fl_token_subkey(key, "framelog playback session v1", a2);
    ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
    ck_assert_int_ne(memcmp(a, key, sizeof a), 0);
    ck_assert_int_eq(memcmp(a, a2, sizeof a), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_token");
    TCase *tc = tcase_create("token");
    tcase_add_test(tc, the_key_file_is_made_once_and_kept);
    tcase_add_test(tc, sealed_tokens_open_only_as_sealed);
    tcase_add_test(tc, subkeys_differ_by_purpose);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
