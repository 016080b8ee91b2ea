/*
 * tests/test_server_config.c — framelogd's flags: defaults, every flag in
 * both forms, and the errors for bad ones.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "harness.h"
#include "server/core/config.h"

static int parse(fl_config_t *c, char *err, size_t errlen, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "framelogd";
    va_list ap;
    va_start(ap, errlen);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    FILE *devnull = fopen("/dev/null", "w");
    int rc = fl_config_parse(c, argc, argv, devnull, err, errlen);
    fclose(devnull);
    return rc;
}

START_TEST(defaults)
{
    fl_config_t c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, sizeof err, NULL), 0);
    ck_assert_int_eq(c.n_listen, 1);
    ck_assert_str_eq(c.listen[0].host, "127.0.0.1");
    ck_assert_int_eq(c.listen[0].port, 8080);
    ck_assert_str_eq(c.data_dir, "./framelog-data");
    ck_assert_ptr_null(c.tls_cert);
    ck_assert_int_eq(c.log_level, FL_DIAG_INFO);
    fl_config_free(&c);
}
END_TEST

START_TEST(every_flag_both_forms)
{
    fl_config_t c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, sizeof err, "--listen", "127.0.0.1:9000", "--listen=[::1]:9001",
                           "--data-dir", "/tmp/x", "--tls-cert=c.pem", "--tls-key", "k.pem",
                           "--log-level", "debug", "--max-body-bytes=2048", NULL),
                     0);
    ck_assert_int_eq(c.n_listen, 2); /* the default is replaced, not kept */
    ck_assert_int_eq(c.listen[0].port, 9000);
    ck_assert_str_eq(c.listen[1].host, "::1");
    ck_assert_int_eq(c.listen[1].port, 9001);
    ck_assert_str_eq(c.data_dir, "/tmp/x");
    ck_assert_str_eq(c.tls_cert, "c.pem");
    ck_assert_str_eq(c.tls_key, "k.pem");
    ck_assert_int_eq(c.log_level, FL_DIAG_DEBUG);
    ck_assert_int_eq(c.max_body_bytes, 2048);
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_config_describe(&c, &b);
    fl_buf_u8(&b, 0);
    ck_assert_ptr_nonnull(strstr((char *)b.p, "listen=[::1]:9001"));
    ck_assert_ptr_nonnull(strstr((char *)b.p, "log-level=debug"));
    fl_buf_free(&b);
    fl_config_free(&c);
}
END_TEST

START_TEST(help_and_version_exit)
{
    fl_config_t c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, sizeof err, "--help", NULL), FL_CONFIG_EXIT);
    ck_assert_int_eq(parse(&c, err, sizeof err, "--listen", "1.2.3.4:5", "--version", NULL),
                     FL_CONFIG_EXIT);
}
END_TEST

struct bad_case {
    const char *args[4];
    const char *needle; /* expected in the message */
};

static const struct bad_case bad_cases[] = {
    {{"--nope", NULL}, "unknown option '--nope'"},
    {{"stray", NULL}, "unexpected argument 'stray'"},
    {{"--listen", NULL}, "--listen needs a value"},
    {{"--listen", "127.0.0.1", NULL}, "is not HOST:PORT"},
    {{"--listen", "127.0.0.1:65536", NULL}, "is not HOST:PORT"},
    {{"--listen", "127.0.0.1:-1", NULL}, "is not HOST:PORT"},
    {{"--listen", "127.0.0.1:80x", NULL}, "is not HOST:PORT"},
    {{"--listen", "::1:80", NULL}, "is not HOST:PORT"},
    {{"--listen", "[nothex]:80", NULL}, "is not HOST:PORT"},
    {{"--listen", "bad host:80", NULL}, "is not HOST:PORT"},
    {{"--log-level", "loud", NULL}, "'loud' is not one of"},
    {{"--max-body-bytes", "12", NULL}, "out of range"},
    {{"--max-body-bytes", "many", NULL}, "is not a number"},
    /* no larger than what storage takes as one record (64 MiB): a fragment
     * within the limit is never refused by storage */
    {{"--max-fragment-bytes", "67108865", NULL}, "out of range"},
    {{"--data-dir=", NULL}, "empty value"},
    {{"--tls-cert", "c.pem", NULL}, "--tls-cert and --tls-key go together"},
    {{"--help=yes", NULL}, "takes no value"},
    {{"-", NULL}, "unexpected argument"},
};

START_TEST(bad_flags_give_one_line_reasons)
{
    const struct bad_case *bc = &bad_cases[_i];
    char *argv[8] = {"framelogd"};
    int argc = 1;
    for (int k = 0; bc->args[k]; k++)
        argv[argc++] = (char *)bc->args[k];
    argv[argc] = NULL;
    fl_config_t c;
    char err[256];
    int rc = fl_config_parse(&c, argc, argv, NULL, err, sizeof err);
    ck_assert_int_eq(rc, FL_EINVAL);
    ck_assert_msg(strstr(err, bc->needle) != NULL, "case %d: '%s' lacks '%s'", _i, err, bc->needle);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(listen_forms)
{
    fl_listen_addr_t l;
    ck_assert_int_eq(fl_config_parse_listen("8081", &l), 0);
    ck_assert_str_eq(l.host, "127.0.0.1");
    ck_assert_int_eq(l.port, 8081);
    ck_assert_int_eq(fl_config_parse_listen(":0", &l), 0);
    ck_assert_int_eq(l.port, 0);
    ck_assert_int_eq(fl_config_parse_listen("localhost:1", &l), 0);
    ck_assert_str_eq(l.host, "localhost");
    ck_assert_int_eq(fl_config_parse_listen("[::1]:", &l), FL_EINVAL);
    ck_assert_int_eq(fl_config_parse_listen("", &l), FL_EINVAL);
}
END_TEST

START_TEST(loopback_detection)
{
    ck_assert(fl_config_host_is_loopback("127.0.0.1"));
    ck_assert(fl_config_host_is_loopback("127.8.9.10"));
    ck_assert(fl_config_host_is_loopback("::1"));
    ck_assert(fl_config_host_is_loopback("localhost"));
    ck_assert(!fl_config_host_is_loopback("0.0.0.0"));
    ck_assert(!fl_config_host_is_loopback("::"));
    ck_assert(!fl_config_host_is_loopback("10.0.0.1"));
    ck_assert(!fl_config_host_is_loopback("example.com"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_config");
    TCase *tc = tcase_create("good");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, every_flag_both_forms);
    tcase_add_test(tc, help_and_version_exit);
    tcase_add_test(tc, listen_forms);
    tcase_add_test(tc, loopback_detection);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad");
    tcase_add_loop_test(tc, bad_flags_give_one_line_reasons, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
