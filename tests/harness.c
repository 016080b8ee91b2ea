/*
 * tests/harness.c — see harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

long long fl_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *fl_test_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/fl-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(path))
        return NULL;
    return strdup(path);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fl_test_rmtree(char *path)
{
    if (!path)
        return;
    if (strlen(path) > 5)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

char *fl_test_read_file(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    if (len_out)
        *len_out = n;
    return buf;
}

int fl_test_write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -errno;
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -EIO;
        }
        c += w;
        n -= (size_t)w;
    }
    return close(fd) ? -errno : 0;
}

int fl_test_have(const char *prog)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

int fl_test_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

int fl_test_spawn(fl_test_proc_t *p, char *const argv[], char *const env_extra[])
{
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->dir = fl_test_mkdtemp("proc");
    if (!p->dir)
        return -errno;
    size_t dl = strlen(p->dir) + 16;
    p->out_path = malloc(dl);
    p->err_path = malloc(dl);
    snprintf(p->out_path, dl, "%s/stdout", p->dir);
    snprintf(p->err_path, dl, "%s/stderr", p->dir);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    /* the child's environment: ours plus env_extra */
    size_t ne = 0, nx = 0;
    while (environ[ne])
        ne++;
    while (env_extra && env_extra[nx])
        nx++;
    char **env = calloc(ne + nx + 1, sizeof *env);
    memcpy(env, environ, ne * sizeof *env);
    for (size_t i = 0; i < nx; i++)
        env[ne + i] = env_extra[i];

    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    int rc = posix_spawnp(&p->pid, argv[0], &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(env);
    if (rc != 0) {
        p->pid = -1;
        return -rc;
    }
    return 0;
}

int fl_test_wait(fl_test_proc_t *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    long long deadline = fl_test_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = -1;
            return st;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (fl_test_now_ms() >= deadline)
            return -1;
        usleep(5000);
    }
}

void fl_test_proc_free(fl_test_proc_t *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = -1;
    }
    free(p->out_path);
    free(p->err_path);
    fl_test_rmtree(p->dir);
    p->out_path = p->err_path = p->dir = NULL;
}

char *fl_test_proc_stdout(const fl_test_proc_t *p)
{
    char *s = fl_test_read_file(p->out_path, NULL);
    return s ? s : strdup("");
}

char *fl_test_proc_stderr(const fl_test_proc_t *p)
{
    char *s = fl_test_read_file(p->err_path, NULL);
    return s ? s : strdup("");
}

int fl_test_run(char *const argv[], int timeout_ms, char **out, char **err)
{
    fl_test_proc_t p;
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (fl_test_spawn(&p, argv, NULL) != 0) {
        fl_test_proc_free(&p);
        return -1;
    }
    int st = fl_test_wait(&p, timeout_ms);
    if (out)
        *out = fl_test_proc_stdout(&p);
    if (err)
        *err = fl_test_proc_stderr(&p);
    fl_test_proc_free(&p);
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

void fl_test_tls_cert(const char *dir, char *cert, char *key, size_t cap)
{
    snprintf(cert, cap, "%s/cert.pem", dir);
    snprintf(key, cap, "%s/key.pem", dir);
    char *gen[] = {"openssl",
                   "req",
                   "-x509",
                   "-newkey",
                   "ec",
                   "-pkeyopt",
                   "ec_paramgen_curve:P-256",
                   "-nodes",
                   "-keyout",
                   key,
                   "-out",
                   cert,
                   "-days",
                   "2",
                   "-subj",
                   "/CN=127.0.0.1",
                   "-addext",
                   "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost",
                   NULL};
    char *err = NULL;
    int rc = fl_test_run(gen, 60000, NULL, &err);
    ck_assert_msg(rc == 0, "openssl req (%d): %s", rc, err ? err : "");
    free(err);
}

int fl_test_server_start(fl_test_server_t *s, const char *data_dir, char *const extra_args[])
{
    memset(s, 0, sizeof *s);
    if (data_dir) {
        s->data_dir = strdup(data_dir);
    } else {
        s->data_dir = fl_test_mkdtemp("data");
        s->own_data_dir = 1;
    }
    ck_assert_ptr_nonnull(s->data_dir);

    char *argv[64];
    int n = 0;
    argv[n++] = FL_FRAMELOGD;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--data-dir";
    argv[n++] = s->data_dir;
    /* FL_TEST_LOOPS=N runs every server a suite starts with --loops N
     * (a suite's own --loops, given after, wins) */
    const char *loops = getenv("FL_TEST_LOOPS");
    if (loops && *loops) {
        argv[n++] = "--loops";
        argv[n++] = (char *)loops;
    }
    for (int i = 0; extra_args && extra_args[i] && n < 62; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    ck_assert_int_eq(fl_test_spawn(&s->proc, argv, NULL), 0);

    /* wait for "listening on http://127.0.0.1:PORT" */
    long long deadline = fl_test_now_ms() + 20000;
    while (fl_test_now_ms() < deadline) {
        char *log = fl_test_proc_stderr(&s->proc);
        char *at = strstr(log, "listening on http");
        if (at) {
            char *colon = strstr(at, "127.0.0.1:");
            if (colon) {
                s->port = atoi(colon + strlen("127.0.0.1:"));
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
                free(log);
                return 0;
            }
        }
        if (fl_test_wait(&s->proc, 0) != -1) {
            ck_abort_msg("framelogd exited before listening: %s", log);
        }
        free(log);
        usleep(10000);
    }
    char *log = fl_test_proc_stderr(&s->proc);
    ck_abort_msg("framelogd did not start within 20 s: %s", log);
    free(log);
    return -1;
}

void fl_test_server_refused(char *const extra_args[], const char *message)
{
    char *dir = fl_test_mkdtemp("refused");
    char *argv[64];
    int n = 0;
    argv[n++] = FL_FRAMELOGD;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--data-dir";
    argv[n++] = dir;
    for (int i = 0; extra_args && extra_args[i] && n < 62; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    char *err = NULL;
    int rc = fl_test_run(argv, 60000, NULL, &err);
    ck_assert_msg(rc == 1, "framelogd exited %d: %s", rc, err);
    ck_assert_msg(strstr(err, message) != NULL, "expected \"%s\" in: %s", message, err);
    ck_assert_msg(strstr(err, "listening on") == NULL, "it started: %s", err);
    free(err);
    fl_test_rmtree(dir);
}

int fl_test_server_stop(fl_test_server_t *s, int timeout_ms)
{
    if (s->proc.pid <= 0)
        return -1;
    kill(s->proc.pid, SIGTERM);
    return fl_test_wait(&s->proc, timeout_ms);
}

void fl_test_server_stop_clean(fl_test_server_t *s)
{
    int st = fl_test_server_stop(s, 60000);
    char *e = fl_test_proc_stderr(&s->proc);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "framelogd stop: %d: %s", st,
                  e ? e + (strlen(e) > 3000 ? strlen(e) - 3000 : 0) : "");
    ck_assert_msg(!e || !strstr(e, "Sanitizer"), "framelogd: %s", strstr(e, "Sanitizer"));
    free(e);
    fl_test_server_free(s);
}

void fl_test_server_kill(fl_test_server_t *s)
{
    if (s->proc.pid > 0) {
        kill(s->proc.pid, SIGKILL);
        fl_test_wait(&s->proc, 10000);
    }
}

void fl_test_server_free(fl_test_server_t *s)
{
    if (s->proc.pid > 0 && fl_test_server_stop(s, 5000) == -1)
        fl_test_server_kill(s);
    fl_test_proc_free(&s->proc);
    if (s->own_data_dir)
        fl_test_rmtree(s->data_dir);
    else
        free(s->data_dir);
    s->data_dir = NULL;
}

int fl_test_main(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    int ran = srunner_ntests_run(sr);
    srunner_free(sr);
    /* ctest runs one case of a program at a time (CK_RUN_CASE, see
     * tests/CMakeLists.txt): a case that matched nothing is a mistake */
    const char *only = getenv("CK_RUN_CASE");
    if (ran == 0 && only && *only) {
        fprintf(stderr, "no test ran: no test case named '%s'\n", only);
        return EXIT_FAILURE;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

double fl_test_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

int fl_test_awsl(const fl_test_server_t *s, char **out, char **err, ...)
{
    char *args[50];
    int n = 0;
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 48)
        args[n++] = (char *)a;
    va_end(ap);
    args[n] = NULL;
    int rc = fl_test_aws(s, args, out, err);
    ck_assert_msg(rc != -1, "aws timed out");
    return rc;
}

/* The first `aws` on PATH, or "" when there is none. */
static void aws_on_path(char *found, size_t size)
{
    const char *path = getenv("PATH");
    found[0] = 0;
    for (const char *p = path ? path : ""; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(found, size, "%.*s/aws", (int)n, p);
        if (n && access(found, X_OK) == 0)
            return;
        found[0] = 0;
        p += n + (p[n] == ':');
    }
}

const char *fl_test_aws_cli(void)
{
    static char cli[4096];
    if (cli[0])
        return cli;
    snprintf(cli, sizeof cli, "aws");
    /* A pyenv shim is a bash script that runs `pyenv exec`: about 0.4 s
     * of CPU per call, and the suite makes hundreds. The program it would
     * run is the same CLI, resolved once here for this working directory. */
    char first[4096];
    aws_on_path(first, sizeof first);
    size_t n = strlen(first);
    if (n < sizeof "/shims/aws" || strcmp(first + n - strlen("/shims/aws"), "/shims/aws") != 0)
        return cli;
    char *argv[] = {"pyenv", "which", "aws", NULL};
    char *out = NULL;
    if (fl_test_run(argv, 60000, &out, NULL) == 0 && out && out[0] == '/') {
        out[strcspn(out, "\r\n")] = 0;
        if (access(out, X_OK) == 0)
            snprintf(cli, sizeof cli, "%s", out);
    }
    free(out);
    return cli;
}

int fl_test_aws(const fl_test_server_t *s, char *const args[], char **out, char **err)
{
    return fl_test_aws_bin("aws", s, args, out, err);
}

int fl_test_aws_bin(const char *bin, const fl_test_server_t *s, char *const args[], char **out,
                    char **err)
{
    static char *env[] = {"AWS_ACCESS_KEY_ID=AKIDFRAMELOGTEST",
                          "AWS_SECRET_ACCESS_KEY=framelog-test-secret",
                          "AWS_DEFAULT_REGION=us-west-2",
                          "AWS_EC2_METADATA_DISABLED=true",
                          "AWS_CONFIG_FILE=/dev/null",
                          "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
                          "AWS_PAGER=",
                          "AWS_MAX_ATTEMPTS=1",
                          "AWS_RETRY_MODE=standard",
                          NULL};
    char *argv[56];
    int n = 0;
    argv[n++] = strcmp(bin, "aws") == 0 ? (char *)fl_test_aws_cli() : (char *)bin;
    for (int i = 0; args[i] && n < 50; i++)
        argv[n++] = args[i];
    argv[n++] = "--endpoint-url";
    argv[n++] = (char *)s->url;
    argv[n++] = "--output";
    argv[n++] = "json";
    argv[n] = NULL;
    fl_test_proc_t p;
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (fl_test_spawn(&p, argv, env) != 0) {
        fl_test_proc_free(&p);
        return -1;
    }
    int st = fl_test_wait(&p, 60000);
    if (out)
        *out = fl_test_proc_stdout(&p);
    if (err)
        *err = fl_test_proc_stderr(&p);
    fl_test_proc_free(&p);
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
