/*
 * tests/harness.h — what the tests share: temporary folders, child
 * processes with captured output and deadlines, and the real framelogd
 * started on a free loopback port.
 *
 * The server is started with `--listen 127.0.0.1:0`; the kernel picks a free
 * port, and the harness reads it from the server's "listening on" log line,
 * so parallel tests never race for a port.
 */
#ifndef FL_TESTS_HARNESS_H
#define FL_TESTS_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

/* A fresh folder under $TMPDIR (or /tmp); the path is malloc'd. */
char *fl_test_mkdtemp(const char *tag);
/* A self-signed EC P-256 certificate for 127.0.0.1 and localhost (SANs
 * IP:127.0.0.1, DNS:127.0.0.1, DNS:localhost) made by the openssl CLI:
 * dir/cert.pem and its key dir/key.pem, whose paths go to cert and key
 * (cap bytes each). Fails the current test when openssl does. */
void fl_test_tls_cert(const char *dir, char *cert, char *key, size_t cap);
/* rm -rf path (best effort) and free it. */
void fl_test_rmtree(char *path);

/* Read a whole file into a NUL-terminated malloc'd buffer; NULL if absent. */
char *fl_test_read_file(const char *path, size_t *len_out);
int fl_test_write_file(const char *path, const void *p, size_t n);

typedef struct {
    pid_t pid;
    char *out_path; /* stdout captured here */
    char *err_path; /* stderr captured here */
    char *dir;      /* holds the two files */
} fl_test_proc_t;

/* Start argv[0] (searched in PATH) with stdout/stderr to files and stdin
 * from /dev/null. env_extra: NULL or a NULL-terminated "K=V" list added to
 * the environment. Returns 0 or -errno. */
int fl_test_spawn(fl_test_proc_t *p, char *const argv[], char *const env_extra[]);
/* Wait up to timeout_ms for the process; returns its wait status, or -1 on
 * timeout (the process then still runs). */
int fl_test_wait(fl_test_proc_t *p, int timeout_ms);
/* SIGKILL (if still running), reap, remove the capture files. */
void fl_test_proc_free(fl_test_proc_t *p);
/* The captured stdout / stderr so far (malloc'd, NUL-terminated). */
char *fl_test_proc_stdout(const fl_test_proc_t *p);
char *fl_test_proc_stderr(const fl_test_proc_t *p);

/* Run a command to completion (timeout_ms), capturing stdout and stderr.
 * Returns the exit code (0..255), 128+signal, or -1 on timeout/spawn error.
 * out/err may be NULL; otherwise they get malloc'd strings. */
int fl_test_run(char *const argv[], int timeout_ms, char **out, char **err);

typedef struct {
    fl_test_proc_t proc;
    int port;
    char *data_dir; /* owned when the harness made it */
    int own_data_dir;
    char url[64]; /* "http://127.0.0.1:PORT" */
} fl_test_server_t;

/* Start framelogd on 127.0.0.1:0 with data_dir (NULL: a fresh temporary
 * one) and extra flags (NULL-terminated, may be NULL); wait until it logs
 * where it listens. Returns 0, or fails the current test. The environment
 * variable FL_TEST_LOOPS=N adds --loops N before the extra flags. */
int fl_test_server_start(fl_test_server_t *s, const char *data_dir, char *const extra_args[]);
/* framelogd with these extra flags (NULL-terminated) refuses to start:
 * it exits 1, never listens, and its stderr holds message. Fails the
 * current test otherwise. */
void fl_test_server_refused(char *const extra_args[], const char *message);
/* SIGTERM, wait up to timeout_ms; returns the wait status or -1 on timeout. */
int fl_test_server_stop(fl_test_server_t *s, int timeout_ms);
/* Stop the server and free it, failing the test unless it exited 0 and
 * its stderr holds no sanitizer report (everything it held was freed). */
void fl_test_server_stop_clean(fl_test_server_t *s);
/* Kill -9 and reap. */
void fl_test_server_kill(fl_test_server_t *s);
/* Stop (if running) and free everything, removing an owned data dir. */
void fl_test_server_free(fl_test_server_t *s);

/* Run a Check suite (each test forked, as Check does by default) and
 * return main's exit code: EXIT_FAILURE if any test failed. */
int fl_test_main(Suite *s);

/* The value of the Prometheus series (e.g. `name{label="x"}`) in text, or
 * -1 when absent. */
double fl_test_metric(const char *text, const char *series);

/* Run `aws ARGS --endpoint-url <s> --output json` (args NULL-terminated,
 * at most 48) with test credentials and no user configuration. Returns the
 * exit code, or -1 on timeout (60 s); stdout and stderr into *out / *err
 * (malloc'd) when not NULL. */
int fl_test_aws(const fl_test_server_t *s, char *const args[], char **out, char **err);

/* fl_test_aws with another CLI: bin is "aws" (the first on PATH: v1 here,
 * see fl_test_aws_cli) or "/usr/bin/aws" (Debian's v2). */
int fl_test_aws_bin(const char *bin, const fl_test_server_t *s, char *const args[], char **out,
                    char **err);

/* The program that `aws` on PATH runs: the first `aws` on PATH, or, when
 * that is a pyenv shim, the CLI the shim would run (resolved once). */
const char *fl_test_aws_cli(void);

/* fl_test_aws with the arguments as a NULL-terminated list; fails the
 * current test on a timeout. */
int fl_test_awsl(const fl_test_server_t *s, char **out, char **err, ...);

/* `aws ARGS` (fl_test_awsl) succeeds; *out (or NULL) gets its stdout. */
#define AWS_OK(s, out, ...)                                                                        \
    do {                                                                                           \
        char *err_ = NULL;                                                                         \
        int rc_ = fl_test_awsl(s, out, &err_, __VA_ARGS__, NULL);                                  \
        ck_assert_msg(rc_ == 0, "aws failed (%d): %s", rc_, err_);                                 \
        free(err_);                                                                                \
    } while (0)

/* `aws ARGS` fails and names the error type etype. */
#define AWS_FAILS(s, etype, ...)                                                                   \
    do {                                                                                           \
        char *out_ = NULL, *err_ = NULL;                                                           \
        int rc_ = fl_test_awsl(s, &out_, &err_, __VA_ARGS__, NULL);                                \
        ck_assert_msg(rc_ != 0, "aws succeeded, expected %s: %s", etype, out_);                    \
        ck_assert_msg(strstr(err_, etype) != NULL, "expected %s, got: %s", etype, err_);           \
        free(out_);                                                                                \
        free(err_);                                                                                \
    } while (0)

/* Milliseconds on the monotonic clock. */
long long fl_test_now_ms(void);

/* Is a program on the PATH? */
int fl_test_have(const char *prog);

/* Occurrences of needle in the string hay (overlapping ones counted). */
int fl_test_count(const char *hay, const char *needle);

#endif
