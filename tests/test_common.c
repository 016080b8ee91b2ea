/*
 * tests/test_common.c — common/: the bounds-checked reader, the growable
 * buffer, error names and log levels.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/dec128.h"
#include "common/diag.h"
#include "common/error.h"
#include "common/fileio.h"
#include "harness.h"

START_TEST(dec128_round_trips_and_refuses_junk)
{
    char buf[FL_DEC128_CAP];
    unsigned __int128 max = ~(unsigned __int128)0, v;
    ck_assert_uint_eq(fl_dec128_put(0, buf), 1);
    ck_assert_str_eq(buf, "0");
    ck_assert_uint_eq(fl_dec128_put(max, buf), 39);
    ck_assert_str_eq(buf, "340282366920938463463374607431768211455");
    ck_assert_int_eq(fl_dec128_parse(buf, &v), 0);
    ck_assert(v == max);
    ck_assert_int_eq(fl_dec128_parse("340282366920938463463374607431768211456", &v), -1);
    ck_assert_int_eq(fl_dec128_parse("", &v), -1);
    ck_assert_int_eq(fl_dec128_parse("12a", &v), -1);
    ck_assert_int_eq(fl_dec128_parse("-1", &v), -1);
    ck_assert_int_eq(fl_dec128_parse(" 1", &v), -1);
    ck_assert_int_eq(fl_dec128_parse("0000000000000000000000000000000000000001", &v), -1);
    ck_assert_int_eq(fl_dec128_parse("007", &v), 0); /* leading zeros: the caller's rule */
    ck_assert(v == 7);
    unsigned __int128 x = ((unsigned __int128)0x0123456789abcdefULL << 64) | 0xfedcba9876543210ULL;
    fl_dec128_put(x, buf);
    ck_assert_int_eq(fl_dec128_parse(buf, &v), 0);
    ck_assert(v == x);
}
END_TEST

START_TEST(reader_reads_in_order)
{
    const uint8_t data[] = {1, 0x12, 0x34, 0x78, 0x56, 0x34, 0x12, 9, 8, 7};
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(data, sizeof data));
    ck_assert_uint_eq(fl_reader_u8(&r), 1);
    ck_assert_uint_eq(fl_reader_be16(&r), 0x1234);
    ck_assert_uint_eq(fl_reader_le32(&r), 0x12345678);
    fl_slice_t s = fl_reader_take(&r, 2);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(s.p[0], 9);
    ck_assert_uint_eq(fl_reader_left(&r), 1);
    ck_assert_int_eq(r.err, 0);
}
END_TEST

START_TEST(reader_error_is_sticky)
{
    const uint8_t data[] = {1, 2, 3};
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(data, sizeof data));
    ck_assert_uint_eq(fl_reader_be32(&r), 0); /* past the end */
    ck_assert_int_eq(r.err, FL_ETRUNCATED);
    /* later reads fail too, even ones that would fit */
    ck_assert_uint_eq(fl_reader_u8(&r), 0);
    ck_assert_uint_eq(fl_reader_left(&r), 0);
    fl_slice_t s = fl_reader_take(&r, 1);
    ck_assert_ptr_null(s.p);
    uint8_t out[2] = {0xff, 0xff};
    fl_reader_copy(&r, out, 2);
    ck_assert_uint_eq(out[0], 0);
}
END_TEST

START_TEST(reader_huge_length_does_not_wrap)
{
    const uint8_t data[] = {1, 2, 3};
    fl_reader_t r;
    fl_reader_init(&r, fl_slice(data, sizeof data));
    fl_reader_u8(&r);
    fl_reader_skip(&r, SIZE_MAX);
    ck_assert_int_eq(r.err, FL_ETRUNCATED);
}
END_TEST

START_TEST(buf_appends_and_round_trips_integers)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_be64(&b, 0x0102030405060708ULL);
    fl_buf_le16(&b, 0xabcd);
    fl_buf_printf(&b, "x=%d", 42);
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.n, 8 + 2 + 4);
    fl_reader_t r;
    fl_reader_init(&r, fl_buf_slice(&b));
    ck_assert(fl_reader_be64(&r) == 0x0102030405060708ULL);
    ck_assert_uint_eq(fl_reader_le16(&r), 0xabcd);
    fl_slice_t s = fl_reader_take(&r, 4);
    ck_assert(fl_slice_eq_str(s, "x=42"));
    fl_buf_consume(&b, 10);
    ck_assert(fl_slice_eq_str(fl_buf_slice(&b), "x=42"));
    fl_buf_free(&b);
}
END_TEST

START_TEST(buf_cap_sets_sticky_limit)
{
    fl_buf_t b;
    fl_buf_init(&b, 10);
    fl_buf_append(&b, "0123456789", 10);
    ck_assert_int_eq(b.err, 0);
    fl_buf_u8(&b, 'x');
    ck_assert_int_eq(b.err, FL_ELIMIT);
    ck_assert_uint_eq(b.n, 10); /* unchanged by the failed append */
    fl_buf_append(&b, "", 0);
    ck_assert_int_eq(fl_buf_reserve(&b, 1), FL_ELIMIT);
    fl_buf_reset(&b);
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.n, 0);
    fl_buf_free(&b);
    fl_buf_free(NULL);
}
END_TEST

START_TEST(buf_grows_large)
{
    fl_buf_t b;
    fl_buf_init(&b, 0);
    for (int i = 0; i < 100000; i++)
        fl_buf_be32(&b, (uint32_t)i);
    ck_assert_int_eq(b.err, 0);
    ck_assert_uint_eq(b.n, 400000);
    ck_assert_uint_eq(fl_load_be32(b.p + 4 * 99999), 99999);
    fl_buf_free(&b);
}
END_TEST

START_TEST(errors_have_names)
{
    for (int e = FL_EBASE - 1; e > FL_ELAST; e--) {
        ck_assert_str_ne(fl_strerror(e), "unknown error");
        ck_assert_str_ne(fl_errname(e), "EUNKNOWN");
    }
    ck_assert_str_eq(fl_errname(-ENOSPC), "ENOSPC");
    ck_assert_str_eq(fl_strerror(0), "success");
    ck_assert_str_eq(fl_strerror(FL_ELAST - 5), "unknown error");
    ck_assert_ptr_nonnull(strstr(fl_strerror(-ENOENT), "No such file"));
}
END_TEST

START_TEST(log_levels_parse)
{
    fl_diag_level_t l;
    ck_assert_int_eq(fl_diag_level_parse("debug", &l), 0);
    ck_assert_int_eq(l, FL_DIAG_DEBUG);
    ck_assert_int_eq(fl_diag_level_parse("error", &l), 0);
    ck_assert_int_eq(l, FL_DIAG_ERROR);
    ck_assert_int_eq(fl_diag_level_parse("loud", &l), FL_EINVAL);
    ck_assert_str_eq(fl_diag_level_name(FL_DIAG_WARN), "warn");
}
END_TEST

static int64_t fake_now(void *data)
{
    return *(int64_t *)data;
}

START_TEST(clock_can_be_driven)
{
    int64_t t = 1234;
    fl_clock_t c = {fake_now, &t};
    ck_assert(fl_clock_now(&c) == 1234);
    t = 99;
    ck_assert(fl_clock_now(&c) == 99);
    fl_clock_t real = fl_clock_real();
    ck_assert(fl_clock_now(&real) > (int64_t)1700000000 * 1000000000);
    ck_assert(fl_clock_now(NULL) > (int64_t)1700000000 * 1000000000);
}
END_TEST

START_TEST(base64_round_trips_and_refuses_junk)
{
    static const char *const vec[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        fl_base64_encode(&b, fl_slice_str(vec[i][0]));
        ck_assert(fl_slice_eq_str(fl_buf_slice(&b), vec[i][1]));
        fl_buf_reset(&b);
        ck_assert_int_eq(fl_base64_decode(&b, fl_slice_str(vec[i][1])), 0);
        ck_assert(fl_slice_eq_str(fl_buf_slice(&b), vec[i][0]));
        fl_buf_free(&b);
    }
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    fl_buf_t e, d;
    fl_buf_init(&e, 0);
    fl_buf_init(&d, 0);
    fl_base64_encode(&e, fl_slice(all, 256));
    ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), 0);
    ck_assert(fl_slice_eq(fl_buf_slice(&d), fl_slice(all, 256)));
    const char *bad[] = {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zh==", "Zm8=Zm8=", "=Zm8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fl_buf_reset(&d);
        ck_assert_msg(fl_base64_decode(&d, fl_slice_str(bad[i])) == FL_EMALFORMED, "%s", bad[i]);
    }
    fl_buf_free(&e);
    fl_buf_free(&d);
}
END_TEST

/* The 16-at-a-time coders (SSSE3) and the plain loops agree: every length
 * encodes as a plain loop writes it and round-trips, and any byte outside the alphabet, at any
 * place of a long text (in a whole block, the last block, the last group), is refused. */
START_TEST(base64_blocks_match_the_table_loop)
{
    uint8_t data[300];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof data; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (uint8_t)x;
    }
    fl_buf_t e, d;
    fl_buf_init(&e, 0);
    fl_buf_init(&d, 0);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t n = 0; n <= sizeof data; n++) {
        fl_buf_reset(&e);
        fl_buf_reset(&d);
        fl_base64_encode(&e, fl_slice(data, n));
        /* as a plain loop writes it, 6 bits at a time */
        char want[404];
        size_t w = 0;
        for (size_t i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0) |
                         (i + 2 < n ? data[i + 2] : 0);
            want[w++] = alphabet[v >> 18];
            want[w++] = alphabet[(v >> 12) & 63];
            want[w++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
            want[w++] = i + 2 < n ? alphabet[v & 63] : '=';
        }
        ck_assert_msg(fl_slice_eq(fl_buf_slice(&e), fl_slice(want, w)), "encoding %zu bytes", n);
        ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), 0);
        ck_assert_msg(fl_slice_eq(fl_buf_slice(&d), fl_slice(data, n)), "length %zu", n);
    }
    /* e holds 400 characters of the whole array */
    uint8_t *t = malloc(e.n);
    for (size_t at = 0; at < e.n; at += at < 40 || at > e.n - 40 ? 1 : 7) {
        for (int c = 0; c < 256; c++) {
            if (c && memchr(alphabet, c, 64))
                continue;
            memcpy(t, e.p, e.n);
            t[at] = (uint8_t)c;
            fl_buf_reset(&d);
            ck_assert_msg(fl_base64_decode(&d, fl_slice(t, e.n)) == FL_EMALFORMED, "byte %d at %zu",
                          c, at);
        }
    }
    free(t);
    fl_buf_free(&e);
    fl_buf_free(&d);
}
END_TEST

/* Long texts (PutRecords' 1 MiB records) decode in one pass, also into a
 * capped buffer: exactly at the cap fits, one byte over says FL_ELIMIT,
 * and junk anywhere is still FL_EMALFORMED. */
START_TEST(base64_long_texts_and_caps)
{
    enum { N = 3000 };
    uint8_t *raw = malloc(N);
    for (int i = 0; i < N; i++)
        raw[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = N - 3; n <= N; n++) {
        fl_buf_t e, d;
        fl_buf_init(&e, 0);
        fl_base64_encode(&e, fl_slice(raw, n));
        ck_assert_uint_eq(e.n, (n + 2) / 3 * 4);
        fl_buf_init(&d, n); /* capped at the decoded size: fits */
        ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), 0);
        ck_assert(fl_slice_eq(fl_buf_slice(&d), fl_slice(raw, n)));
        fl_buf_free(&d);
        fl_buf_init(&d, n - 1); /* one byte short */
        ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), FL_ELIMIT);
        fl_buf_free(&d);
        for (size_t at = 0; at < e.n; at += e.n / 5 + 1) { /* junk here and there */
            uint8_t was = e.p[at];
            e.p[at] = '*';
            fl_buf_init(&d, 0);
            ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), FL_EMALFORMED);
            fl_buf_free(&d);
            fl_buf_init(&d, n + 10);
            ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), FL_EMALFORMED);
            fl_buf_free(&d);
            e.p[at] = was;
        }
        /* after text already in the buffer, appended */
        fl_buf_init(&d, 0);
        fl_buf_append_str(&d, "ab");
        ck_assert_int_eq(fl_base64_decode(&d, fl_buf_slice(&e)), 0);
        ck_assert_uint_eq(d.n, n + 2);
        ck_assert_int_eq(memcmp(d.p + 2, raw, n), 0);
        fl_buf_free(&d);
        fl_buf_free(&e);
    }
    free(raw);
}
END_TEST

START_TEST(base64url_round_trips_unpadded_and_refuses_junk)
{
    static const char *const vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        fl_base64url_encode(&b, fl_slice_str(vec[i][0]));
        ck_assert(fl_slice_eq_str(fl_buf_slice(&b), vec[i][1]));
        fl_buf_reset(&b);
        ck_assert_int_eq(fl_base64url_decode(&b, fl_slice_str(vec[i][1])), 0);
        ck_assert(fl_slice_eq_str(fl_buf_slice(&b), vec[i][0]));
        fl_buf_free(&b);
    }
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    fl_buf_t e, d;
    fl_buf_init(&e, 0);
    fl_buf_init(&d, 0);
    for (size_t n = 250; n <= 256; n++) { /* every length mod 3 */
        fl_buf_reset(&e);
        fl_buf_reset(&d);
        fl_base64url_encode(&e, fl_slice(all, n));
        ck_assert_uint_eq(e.n, (n * 4 + 2) / 3);
        ck_assert_int_eq(fl_base64url_decode(&d, fl_buf_slice(&e)), 0);
        ck_assert(fl_slice_eq(fl_buf_slice(&d), fl_slice(all, n)));
    }
    /* padding, the standard alphabet, a lone character, leftover bits */
    const char *bad[] = {"Zg==", "Zm8=", "+/8", "Z", "Zm9vY", "Zh", "Zm9", "Zm9v!A", "Zm 9v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fl_buf_reset(&d);
        ck_assert_msg(fl_base64url_decode(&d, fl_slice_str(bad[i])) == FL_EMALFORMED, "%s", bad[i]);
    }
    fl_buf_free(&d);
    fl_buf_init(&d, 2); /* a cap: its error */
    ck_assert_int_eq(fl_base64url_decode(&d, fl_slice_str("Zm9v")), FL_ELIMIT);
    fl_buf_free(&e);
    fl_buf_free(&d);
}
END_TEST

/* ---- fileio ---- */

START_TEST(fileio_positional_round_trip_and_end_of_file)
{
    char path[] = "/tmp/fl-fileio-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    uint8_t out[10000], in[10000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(fl_pwrite_all(fd, out, sizeof out, 100), 0);
    ck_assert_int_eq(fl_pread_all(fd, in, sizeof in, 100), 0);
    ck_assert(memcmp(in, out, sizeof in) == 0);
    size_t got = 1;
    ck_assert_int_eq(fl_pread_upto(fd, in, sizeof in, 5100, &got), 0);
    ck_assert_uint_eq(got, 5000); /* short only where the file ends */
    ck_assert(memcmp(in, out + 5000, got) == 0);
    ck_assert_int_eq(fl_pread_all(fd, in, 200, 10000), FL_ETRUNCATED);
    ck_assert_int_eq(fl_pread_upto(fd, in, 10, 20000, &got), 0);
    ck_assert_uint_eq(got, 0);
    close(fd);
    fd = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(fl_pwrite_all(fd, out, 10, 0), -EBADF);
    ck_assert_int_eq(fl_write_all(fd, out, 10), -EBADF);
    close(fd);
}
END_TEST

/* An I/O "table" that moves at most 3 bytes per call and fails every
 * other call with EINTR. */
typedef struct {
    uint8_t file[64];
    int calls;
} choppy_t;

static ssize_t choppy_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    choppy_t *c = ctx;
    (void)fd;
    if (c->calls++ % 2 == 0)
        return -EINTR;
    size_t k = n < 3 ? n : 3;
    memcpy(c->file + off, p, k);
    return (ssize_t)k;
}

static ssize_t choppy_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    choppy_t *c = ctx;
    (void)fd;
    if (c->calls++ % 2 == 0)
        return -EINTR;
    if ((size_t)off >= 40) /* the "file" ends at 40 */
        return 0;
    size_t k = n < 3 ? n : 3;
    if ((size_t)off + k > 40)
        k = 40 - (size_t)off;
    memcpy(p, c->file + off, k);
    return (ssize_t)k;
}

static ssize_t failing_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    (void)ctx, (void)fd, (void)p, (void)n, (void)off;
    return -ENOSPC;
}

START_TEST(fileio_loops_over_a_callers_calls)
{
    choppy_t c = {{0}, 0};
    const char *msg = "the quick brown fox jumps over the lazy dog";
    ck_assert_int_eq(fl_pwrite_all_via(choppy_pwrite, &c, 3, msg, 40, 0), 0);
    ck_assert(memcmp(c.file, msg, 40) == 0);
    char in[64];
    size_t got = 0;
    ck_assert_int_eq(fl_pread_upto_via(choppy_pread, &c, 3, in, 30, 5, &got), 0);
    ck_assert_uint_eq(got, 30);
    ck_assert(memcmp(in, msg + 5, 30) == 0);
    ck_assert_int_eq(fl_pread_upto_via(choppy_pread, &c, 3, in, 30, 20, &got), 0);
    ck_assert_uint_eq(got, 20); /* short where the "file" ends */
    ck_assert_int_eq(fl_pwrite_all_via(failing_pwrite, NULL, 3, msg, 4, 0), -ENOSPC);
}
END_TEST

static void on_usr1(int sig)
{
    (void)sig;
}

typedef struct {
    int fd;
    pthread_t target;
    size_t n, got;
    int in_order;
} slow_reader_t;

/* Reads the pipe slowly, signalling the writer between reads, so its
 * write(2) returns short or fails with EINTR. */
static void *slow_reader(void *arg)
{
    slow_reader_t *r = arg;
    uint8_t b[1000];
    r->in_order = 1;
    while (r->got < r->n) {
        pthread_kill(r->target, SIGUSR1);
        usleep(200);
        ssize_t k = read(r->fd, b, sizeof b);
        if (k <= 0)
            break;
        for (ssize_t i = 0; i < k; i++)
            r->in_order &= b[i] == (uint8_t)((r->got + (size_t)i) % 251);
        r->got += (size_t)k;
    }
    return NULL;
}

START_TEST(fileio_write_all_survives_signals_and_short_writes)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: blocked writes are interrupted */
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    size_t n = 300000;
    uint8_t *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i % 251);
    slow_reader_t r = {p[0], pthread_self(), n, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_reader, &r), 0);
    ck_assert_int_eq(fl_write_all(p[1], buf, n), 0);
    pthread_join(th, NULL);
    ck_assert_uint_eq(r.got, n);
    ck_assert(r.in_order);
    close(p[0]);
    close(p[1]);
    free(buf);
    sigaction(SIGUSR1, &old, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, reader_reads_in_order);
    tcase_add_test(tc, reader_error_is_sticky);
    tcase_add_test(tc, reader_huge_length_does_not_wrap);
    suite_add_tcase(s, tc);
    tc = tcase_create("buf");
    tcase_add_test(tc, buf_appends_and_round_trips_integers);
    tcase_add_test(tc, buf_cap_sets_sticky_limit);
    tcase_add_test(tc, buf_grows_large);
    suite_add_tcase(s, tc);
    tc = tcase_create("names");
    tcase_add_test(tc, errors_have_names);
    tcase_add_test(tc, log_levels_parse);
    tcase_add_test(tc, clock_can_be_driven);
    tcase_add_test(tc, base64_round_trips_and_refuses_junk);
    tcase_add_test(tc, base64_blocks_match_the_table_loop);
    tcase_add_test(tc, base64_long_texts_and_caps);
    tcase_add_test(tc, base64url_round_trips_unpadded_and_refuses_junk);
    tcase_add_test(tc, dec128_round_trips_and_refuses_junk);
    suite_add_tcase(s, tc);
    tc = tcase_create("fileio");
    tcase_add_test(tc, fileio_positional_round_trip_and_end_of_file);
    tcase_add_test(tc, fileio_write_all_survives_signals_and_short_writes);
    tcase_add_test(tc, fileio_loops_over_a_callers_calls);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
