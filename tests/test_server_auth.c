/*
 * tests/test_server_auth.c — signed requests, access keys and policies
 * (server/auth, docs/security.md) against the real framelogd with real
 * clients: curl (--aws-sigv4), the AWS CLI v2 (/usr/bin/aws) and v1 (`aws`
 * on the PATH), boto3 (tests/auth_boto3.py), the SDK's framelog-put and the
 * GStreamer framelogsink, with clocks skewed by faketime.
 *
 * Keys are made with `framelogd keys` in the server's data dir, before the
 * server starts or while it runs (the running server must notice).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "media_harness.h"

#define RUN_MS 120000

typedef struct {
    char ak[64], sk[64], tok[128];
} creds_t;

/* The value of "name": "..." in a JSON text (first occurrence). */
static void json_field(const char *text, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "no %s in %s", name, text);
    p += strlen(key);
    while (*p == ' ')
        p++;
    ck_assert_msg(*p == '"', "%s is not a string in %s", name, text);
    p++;
    const char *e = strchr(p, '"');
    ck_assert_msg(e && (size_t)(e - p) < cap, "bad %s in %s", name, text);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
}

/* `framelogd keys ARGS... --data-dir dir`: exit code, stdout and stderr. */
static int keys_cmd(const char *dir, char **out, char **err, ...)
{
    char *argv[24];
    int n = 0;
    argv[n++] = FL_FRAMELOGD;
    argv[n++] = "keys";
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 20;)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--data-dir";
    argv[n++] = (char *)dir;
    argv[n] = NULL;
    return fl_test_run(argv, RUN_MS, out, err);
}

/* A policy file beside the data dir. */
static char *policy_file(const char *dir, const char *tag, const char *json)
{
    char *p = malloc(strlen(dir) + 64);
    sprintf(p, "%s-%s.json", dir, tag);
    ck_assert_int_eq(fl_test_write_file(p, json, strlen(json)), 0);
    return p;
}

/* keys create NAME [--policy json] [--temporary]: the credentials. */
static void make_key(const char *dir, const char *name, const char *policy, int temporary,
                     creds_t *c)
{
    char *out = NULL, *err = NULL, *pf = policy ? policy_file(dir, name, policy) : NULL;
    int rc;
    memset(c, 0, sizeof *c);
    if (pf && temporary)
        rc = keys_cmd(dir, &out, &err, "create", name, "--policy", pf, "--temporary", NULL);
    else if (pf)
        rc = keys_cmd(dir, &out, &err, "create", name, "--policy", pf, NULL);
    else if (temporary)
        rc = keys_cmd(dir, &out, &err, "create", name, "--temporary", "--expires", "1h", NULL);
    else
        rc = keys_cmd(dir, &out, &err, "create", name, NULL);
    ck_assert_msg(rc == 0, "keys create %s: %d %s", name, rc, err);
    json_field(out, "AccessKeyId", c->ak, sizeof c->ak);
    json_field(out, "SecretAccessKey", c->sk, sizeof c->sk);
    if (temporary)
        json_field(out, "SessionToken", c->tok, sizeof c->tok);
    free(out);
    free(err);
    free(pf);
}

/* curl a signed (scope non-NULL: "aws:amz:REGION:SERVICE") or unsigned
 * POST of body to path; the HTTP status, the body into *resp. extra: a
 * header or NULL. max_s bounds a streaming answer (GetMedia). */
static int curl_post(const fl_test_server_t *s, const creds_t *c, const char *scope,
                     const char *path, const char *body, const char *extra, int max_s, char **resp)
{
    char url[256], user[200], maxt[16], outp[4200];
    char *dir = fl_test_mkdtemp("curl");
    snprintf(url, sizeof url, "%s%s", s->url, path);
    snprintf(outp, sizeof outp, "%s/body", dir);
    snprintf(maxt, sizeof maxt, "%d", max_s);
    char *argv[40];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-s";
    argv[n++] = "-m";
    argv[n++] = maxt;
    argv[n++] = "-o";
    argv[n++] = outp;
    argv[n++] = "-w";
    argv[n++] = "%{http_code}";
    argv[n++] = "-X";
    argv[n++] = "POST";
    argv[n++] = "-H";
    argv[n++] = "content-type: application/json";
    if (scope) {
        snprintf(user, sizeof user, "%s:%s", c->ak, c->sk);
        argv[n++] = "--aws-sigv4";
        argv[n++] = (char *)scope;
        argv[n++] = "--user";
        argv[n++] = user;
    }
    if (extra) {
        argv[n++] = "-H";
        argv[n++] = (char *)extra;
    }
    argv[n++] = "--data-binary";
    argv[n++] = (char *)body;
    argv[n++] = url;
    argv[n] = NULL;
    char *out = NULL;
    int rc = fl_test_run(argv, RUN_MS, &out, NULL);
    ck_assert_msg(rc == 0 || rc == 28, "curl exited %d", rc); /* 28: -m ran out (streaming) */
    int status = atoi(out);
    free(out);
    if (resp) {
        *resp = fl_test_read_file(outp, NULL);
        if (!*resp)
            *resp = strdup("");
    }
    fl_test_rmtree(dir);
    return status;
}

/* An AWS CLI (bin) as c in region with args (NULL-ended), no config and
 * no retries; exit code, stdout/stderr. */
static int aws_argv(const char *bin, const fl_test_server_t *s, const creds_t *c,
                    const char *region, char *const args[], char **out, char **err)
{
    char e1[128], e2[128], e3[200], e4[64];
    snprintf(e1, sizeof e1, "AWS_ACCESS_KEY_ID=%s", c->ak);
    snprintf(e2, sizeof e2, "AWS_SECRET_ACCESS_KEY=%s", c->sk);
    snprintf(e3, sizeof e3, "AWS_SESSION_TOKEN=%s", c->tok);
    snprintf(e4, sizeof e4, "AWS_DEFAULT_REGION=%s", region);
    char *argv[64];
    int n = 0;
    argv[n++] = "env";
    argv[n++] = "-u";
    argv[n++] = "AWS_PROFILE";
    argv[n++] = "-u";
    argv[n++] = "AWS_SESSION_TOKEN";
    argv[n++] = e1;
    argv[n++] = e2;
    if (c->tok[0])
        argv[n++] = e3;
    argv[n++] = e4;
    argv[n++] = "AWS_EC2_METADATA_DISABLED=true";
    argv[n++] = "AWS_CONFIG_FILE=/dev/null";
    argv[n++] = "AWS_SHARED_CREDENTIALS_FILE=/dev/null";
    argv[n++] = "AWS_PAGER=";
    argv[n++] = "AWS_MAX_ATTEMPTS=1";
    argv[n++] = "AWS_RETRY_MODE=standard";
    argv[n++] = strcmp(bin, "aws") == 0 ? (char *)fl_test_aws_cli() : (char *)bin;
    for (int i = 0; args[i] && n < 56; i++)
        argv[n++] = args[i];
    argv[n++] = "--endpoint-url";
    argv[n++] = (char *)s->url;
    argv[n++] = "--output";
    argv[n++] = "json";
    argv[n] = NULL;
    int rc = fl_test_run(argv, RUN_MS, out, err);
    ck_assert_msg(rc != -1, "%s timed out", bin);
    return rc;
}

/* The same with the arguments given one by one, NULL-ended. */
static int aws_as(const char *bin, const fl_test_server_t *s, const creds_t *c, const char *region,
                  char **out, char **err, ...)
{
    char *args[41];
    int n = 0;
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 40;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return aws_argv(bin, s, c, region, args, out, err);
}

/* framelog-put of the test media into stream as c (NULL: unsigned), the
 * clock shifted by skew ("-6m") when not NULL; exit code, stderr. */
static int put_as(const fl_test_server_t *s, const creds_t *c, const char *stream, const char *skew,
                  char **err)
{
    char e1[128], e2[128], e3[200];
    char *argv[32];
    int n = 0;
    argv[n++] = "env";
    argv[n++] = "-u";
    argv[n++] = "AWS_ACCESS_KEY_ID";
    argv[n++] = "-u";
    argv[n++] = "AWS_SECRET_ACCESS_KEY";
    argv[n++] = "-u";
    argv[n++] = "AWS_SESSION_TOKEN";
    if (c) {
        snprintf(e1, sizeof e1, "AWS_ACCESS_KEY_ID=%s", c->ak);
        snprintf(e2, sizeof e2, "AWS_SECRET_ACCESS_KEY=%s", c->sk);
        argv[n++] = e1;
        argv[n++] = e2;
        if (c->tok[0]) {
            snprintf(e3, sizeof e3, "AWS_SESSION_TOKEN=%s", c->tok);
            argv[n++] = e3;
        }
    }
    if (skew) {
        /* an instrumented framelog-put (FL_SANITIZE) accepts libfaketime first */
        argv[n++] = "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0";
        argv[n++] = "faketime";
        argv[n++] = "-f";
        argv[n++] = (char *)skew;
    }
    argv[n++] = FL_FRAMELOG_PUT;
    argv[n++] = g_mkv;
    argv[n++] = (char *)stream;
    argv[n++] = "--endpoint";
    argv[n++] = (char *)s->url;
    argv[n] = NULL;
    return fl_test_run(argv, RUN_MS, NULL, err);
}

#define KVS "aws:amz:us-east-1:kinesisvideo"

static char *new_dir(void)
{
    return fl_test_mkdtemp("auth");
}

/* ---- open by default ---- */

START_TEST(open_without_keys_then_locked_by_the_first_key)
{
    char *dir = new_dir();
    fl_test_server_t s;
    fl_test_server_start(&s, dir, NULL);
    creds_t none;
    memset(&none, 0, sizeof none);
    char *resp = NULL;
    /* no keys: unsigned requests are served, and the log says so */
    ck_assert_int_eq(curl_post(&s, &none, NULL, "/listStreams", "{}", NULL, 30, &resp), 200);
    free(resp);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "running open") && strstr(log, "access keys: none"), "%s", log);
    free(log);
    /* a key made while it runs locks it from the next request on */
    creds_t admin;
    make_key(dir, "admin", NULL, 0, &admin);
    ck_assert_int_eq(curl_post(&s, &none, NULL, "/listStreams", "{}", NULL, 30, &resp), 403);
    ck_assert_msg(strstr(resp, "MissingAuthenticationTokenException") &&
                      strstr(resp, "Missing Authentication Token"),
                  "%s", resp);
    free(resp);
    ck_assert_int_eq(curl_post(&s, &admin, KVS, "/listStreams", "{}", NULL, 30, &resp), 200);
    free(resp);
    /* /healthz stays open for health checks */
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", s.url);
    char *argv[] = {"curl", "-sf", url, NULL};
    ck_assert_int_eq(fl_test_run(argv, RUN_MS, NULL, NULL), 0);
    fl_test_server_free(&s);
    /* started with a key, it says so */
    fl_test_server_start(&s, dir, NULL);
    log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(!strstr(log, "running open") && strstr(log, "every request must be signed"), "%s",
                  log);
    free(log);
    fl_test_server_free(&s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- the command line ---- */

START_TEST(keys_cli_prints_aws_shapes_and_seals_secrets)
{
    char *dir = new_dir();
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(keys_cmd(dir, &out, NULL, "create", "alice", NULL), 0);
    ck_assert_msg(strstr(out, "\"AccessKey\"") && strstr(out, "\"UserName\": \"alice\"") &&
                      strstr(out, "\"Status\": \"Active\"") && strstr(out, "\"CreateDate\""),
                  "%s", out);
    char ak[64], sk[64];
    json_field(out, "AccessKeyId", ak, sizeof ak);
    json_field(out, "SecretAccessKey", sk, sizeof sk);
    ck_assert_int_eq((int)strlen(ak), 20);
    ck_assert_int_eq((int)strlen(sk), 40);
    free(out);
    ck_assert_int_eq(keys_cmd(dir, &out, NULL, "create", "t", "--temporary", NULL), 0);
    ck_assert_msg(strstr(out, "\"Credentials\"") && strstr(out, "\"SessionToken\"") &&
                      strstr(out, "\"Expiration\""),
                  "%s", out);
    free(out);
    /* list: metadata, never a secret */
    ck_assert_int_eq(keys_cmd(dir, &out, NULL, "list", NULL), 0);
    ck_assert_msg(strstr(out, ak) && strstr(out, "AccessKeyMetadata") && !strstr(out, sk), "%s",
                  out);
    free(out);
    /* the catalog holds the secret sealed, not as text */
    char cat[4200];
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    char *argv[] = {"grep", "-rqF", sk, dir, NULL};
    ck_assert_int_ne(fl_test_run(argv, RUN_MS, NULL, NULL), 0);
    /* revoke: an unknown id is refused; a known one lists Inactive */
    ck_assert_int_eq(keys_cmd(dir, NULL, &err, "revoke", "FLAKNOSUCHKEY", NULL), 1);
    ck_assert_msg(strstr(err, "no such access key"), "%s", err);
    free(err);
    ck_assert_int_eq(keys_cmd(dir, NULL, NULL, "revoke", ak, NULL), 0);
    ck_assert_int_eq(keys_cmd(dir, &out, NULL, "list", NULL), 0);
    ck_assert_msg(strstr(out, "Inactive"), "%s", out);
    free(out);
    /* policies are checked before they are stored */
    char *bad = policy_file(dir, "bad", "{\"Statement\":[{\"Effect\":\"Allow\"}]}");
    ck_assert_int_eq(keys_cmd(dir, NULL, &err, "policy", ak, bad, NULL), 1);
    ck_assert_msg(strstr(err, "has no Action"), "%s", err);
    free(err);
    char *cond = policy_file(dir, "cond",
                             "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":"
                             "\"*\",\"Condition\":{}}}");
    ck_assert_int_eq(keys_cmd(dir, NULL, &err, "create", "c", "--policy", cond, NULL), 1);
    ck_assert_msg(strstr(err, "Condition is not supported"), "%s", err);
    free(err);
    ck_assert_int_eq(keys_cmd(dir, NULL, &err, "create", "x", "--expires", "soon", NULL), 2);
    free(err);
    free(bad);
    free(cond);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- refusals, client by client ---- */

/* A server with an admin key (and a temporary one). */
typedef struct {
    char *dir;
    fl_test_server_t s;
    creds_t admin, temp;
} locked_t;

static void locked_start(locked_t *l)
{
    l->dir = new_dir();
    make_key(l->dir, "admin", NULL, 0, &l->admin);
    make_key(l->dir, "temp", NULL, 1, &l->temp);
    fl_test_server_start(&l->s, l->dir, NULL);
}

static void locked_stop(locked_t *l)
{
    fl_test_server_free(&l->s);
    fl_test_rmtree(l->dir);
}

static void expect(int status, char *resp, int want_status, const char *type, const char *msg)
{
    ck_assert_msg(status == want_status && strstr(resp, type) && (!msg || strstr(resp, msg)),
                  "expected %d %s %s, got %d %s", want_status, type, msg ? msg : "", status, resp);
    free(resp);
}

START_TEST(curl_refusals)
{
    locked_t l;
    locked_start(&l);
    fl_test_server_t *s = &l.s;
    char *r = NULL;
    creds_t bad = l.admin, unknown = l.admin;
    bad.sk[0] = bad.sk[0] == 'A' ? 'B' : 'A';
    snprintf(unknown.ak, sizeof unknown.ak, "FLAKNOSUCHKEY0000000");
    ck_assert_int_eq(curl_post(s, &l.admin, KVS, "/listStreams", "{}", NULL, 30, &r), 200);
    free(r);
    int st = curl_post(s, NULL, NULL, "/listStreams", "{}", NULL, 30, &r);
    expect(st, r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
    st = curl_post(s, &bad, KVS, "/listStreams", "{}", NULL, 30, &r);
    expect(st, r, 403, "InvalidSignatureException",
           "The request signature we calculated does not match the signature you provided");
    st = curl_post(s, &unknown, KVS, "/listStreams", "{}", NULL, 30, &r);
    expect(st, r, 403, "UnrecognizedClientException",
           "The security token included in the request is invalid.");
    st = curl_post(s, &l.admin, "aws:amz:us-west-2:kinesisvideo", "/listStreams", "{}", NULL, 30,
                   &r);
    expect(st, r, 403, "InvalidSignatureException",
           "Credential should be scoped to a valid region, not 'us-west-2'");
    st = curl_post(s, &l.admin, "aws:amz:us-east-1:s3", "/listStreams", "{}", NULL, 30, &r);
    expect(st, r, 403, "InvalidSignatureException",
           "Credential should be scoped to correct service: 'kinesisvideo'");
    /* dated 10 minutes ago, or ahead: curl signs with the x-amz-date given */
    char old[64], ahead[64];
    time_t now = time(NULL), t1 = now - 600, t2 = now + 600;
    strftime(old, sizeof old, "x-amz-date: %Y%m%dT%H%M%SZ", gmtime(&t1));
    strftime(ahead, sizeof ahead, "x-amz-date: %Y%m%dT%H%M%SZ", gmtime(&t2));
    st = curl_post(s, &l.admin, KVS, "/listStreams", "{}", old, 30, &r);
    expect(st, r, 403, "InvalidSignatureException", "Signature expired: ");
    st = curl_post(s, &l.admin, KVS, "/listStreams", "{}", ahead, 30, &r);
    expect(st, r, 403, "InvalidSignatureException", "Signature not yet current: ");
    /* a body that is not the one x-amz-content-sha256 names */
    st = curl_post(s, &l.admin, KVS, "/listStreams", "{}",
                   "x-amz-content-sha256: "
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                   30, &r);
    expect(st, r, 403, "InvalidSignatureException",
           "The provided 'x-amz-content-sha256' header does not match what was computed.");
    /* Kinesis Data Streams answers in JSON 1.1, with 400 */
    st = curl_post(s, &bad, "aws:amz:us-east-1:kinesis", "/", "{}",
                   "x-amz-target: Kinesis_20131202.ListStreams", 30, &r);
    expect(st, r, 400, "InvalidSignatureException", "does not match");
    st = curl_post(s, NULL, NULL, "/", "{}", "x-amz-target: Kinesis_20131202.ListStreams", 30, &r);
    expect(st, r, 403, "MissingAuthenticationTokenException", NULL);
    locked_stop(&l);
}
END_TEST

static void aws_cli_refusals(const char *bin)
{
    locked_t l;
    locked_start(&l);
    fl_test_server_t *s = &l.s;
    creds_t bad = l.admin, unknown = l.admin;
    bad.sk[0] = bad.sk[0] == 'A' ? 'B' : 'A';
    snprintf(unknown.ak, sizeof unknown.ak, "FLAKNOSUCHKEY0000000");
    char *out = NULL, *err = NULL;
#define OK_(...)                                                                                   \
    do {                                                                                           \
        int rc_ = aws_as(bin, s, __VA_ARGS__, NULL);                                               \
        ck_assert_msg(rc_ == 0, "%s failed: %s", bin, err);                                        \
        free(out);                                                                                 \
        free(err);                                                                                 \
    } while (0)
#define FAILS_(etype, ...)                                                                         \
    do {                                                                                           \
        int rc_ = aws_as(bin, s, __VA_ARGS__, NULL);                                               \
        ck_assert_msg(rc_ != 0 && strstr(err, etype), "%s: expected %s, got %d: %s", bin, etype,   \
                      rc_, err);                                                                   \
        free(out);                                                                                 \
        free(err);                                                                                 \
    } while (0)
    OK_(&l.admin, "us-east-1", &out, &err, "kinesisvideo", "create-stream", "--stream-name", "c1");
    OK_(&l.admin, "us-east-1", &out, &err, "kinesisvideo", "list-streams");
    OK_(&l.temp, "us-east-1", &out, &err, "kinesisvideo", "describe-stream", "--stream-name", "c1");
    OK_(&l.admin, "us-east-1", &out, &err, "kinesis", "list-streams");
    FAILS_("InvalidSignatureException", &bad, "us-east-1", &out, &err, "kinesisvideo",
           "list-streams");
    FAILS_("UnrecognizedClientException", &unknown, "us-east-1", &out, &err, "kinesisvideo",
           "list-streams");
    FAILS_("InvalidSignatureException", &l.admin, "eu-west-1", &out, &err, "kinesisvideo",
           "list-streams");
    FAILS_("InvalidSignatureException", &bad, "us-east-1", &out, &err, "kinesis", "list-streams");
    FAILS_("MissingAuthenticationTokenException", &l.admin, "us-east-1", &out, &err, "kinesisvideo",
           "list-streams", "--no-sign-request");
    creds_t notoken = l.temp;
    notoken.tok[0] = 0;
    FAILS_("UnrecognizedClientException", &notoken, "us-east-1", &out, &err, "kinesisvideo",
           "list-streams");
#undef OK_
#undef FAILS_
    locked_stop(&l);
}

START_TEST(aws_cli_v2_refusals)
{
    aws_cli_refusals("/usr/bin/aws");
}
END_TEST

START_TEST(aws_cli_v1_refusals)
{
    aws_cli_refusals("aws");
}
END_TEST

START_TEST(boto3_refusals_skew_tokens_and_presigned_urls)
{
    make_media();
    locked_t l;
    locked_start(&l);
    char *err = NULL;
    int rc = put_as(&l.s, &l.admin, "boto-cam", NULL, &err);
    ck_assert_msg(rc == 0, "framelog-put: %s", err);
    free(err);
    char script[4200];
    snprintf(script, sizeof script, "%s/tests/auth_boto3.py", FL_SOURCE_DIR);
    char *argv[] = {"/usr/bin/python3", script,    l.s.url,    l.admin.ak, l.admin.sk,
                    l.temp.ak,          l.temp.sk, l.temp.tok, NULL};
    char *out = NULL;
    rc = fl_test_run(argv, RUN_MS, &out, &err);
    ck_assert_msg(rc == 0, "auth_boto3.py exited %d:\n%s\n%s", rc, out, err);
    int n = 0;
    for (const char *p = out; (p = strstr(p, "ok ")) != NULL; p += 3)
        n++;
    ck_assert_msg(n == 22, "%d checks passed:\n%s", n, out);
    free(out);
    free(err);
    locked_stop(&l);
}
END_TEST

/* ---- policies ---- */

#define GM(name)                                                                                   \
    "{\"StreamName\":\"" name "\",\"StartSelector\":{\"StartSelectorType\":\"EARLIEST\"}}"

START_TEST(policy_matrix)
{
    make_media();
    locked_t l;
    locked_start(&l);
    fl_test_server_t *s = &l.s;
    char *err = NULL, *r = NULL;
    ck_assert_msg(put_as(s, &l.admin, "cam-1", NULL, &err) == 0, "%s", err);
    free(err);
    ck_assert_msg(put_as(s, &l.admin, "door-1", NULL, &err) == 0, "%s", err);
    free(err);
    creds_t reader, most;
    make_key(l.dir, "reader",
             "{\"Version\":\"2012-10-17\",\"Statement\":["
             "{\"Effect\":\"Allow\",\"Action\":\"kinesisvideo:GetMedia\","
             "\"Resource\":\"arn:aws:kinesisvideo:*:*:stream/cam-*\"},"
             "{\"Effect\":\"Allow\",\"Action\":[\"kinesisvideo:DescribeStream\","
             "\"kinesisvideo:GetDataEndpoint\"],\"Resource\":\"*\"}]}",
             0, &reader);
    make_key(l.dir, "most",
             "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kinesisvideo:*\",\"Resource\":"
             "\"*\"},{\"Effect\":\"Deny\",\"Action\":\"kinesisvideo:getmedia\",\"Resource\":"
             "\"arn:aws:kinesisvideo:*:*:stream/cam-1/*\"}]}",
             0, &most);
    /* GetMedia on cam-* only */
    int st = curl_post(s, &reader, KVS, "/getMedia", GM("cam-1"), NULL, 3, &r);
    ck_assert_msg(st == 200 && (unsigned char)r[0] == 0x1a, "%d %s", st, r);
    free(r);
    st = curl_post(s, &reader, KVS, "/getMedia", GM("door-1"), NULL, 3, &r);
    expect(st, r, 403, "AccessDeniedException", "kinesisvideo:GetMedia");
    /* PutMedia nowhere: over HTTP and over the SDK's WebSocket */
    st = curl_post(s, &reader, KVS, "/putMedia", "", "x-amzn-stream-name: cam-1", 10, &r);
    expect(st, r, 403, "AccessDeniedException", "kinesisvideo:PutMedia");
    ck_assert_int_ne(put_as(s, &reader, "cam-1", NULL, &err), 0);
    ck_assert_msg(strstr(err, "AccessDeniedException"), "%s", err);
    free(err);
    /* a deny wins over an allow */
    st = curl_post(s, &most, KVS, "/getMedia", GM("cam-1"), NULL, 3, &r);
    expect(st, r, 403, "AccessDeniedException", "explicit deny");
    st = curl_post(s, &most, KVS, "/getMedia", GM("door-1"), NULL, 3, &r);
    ck_assert_msg(st == 200, "%d %s", st, r);
    free(r);
    st = curl_post(s, &most, KVS, "/describeStream", "{\"StreamName\":\"cam-1\"}", NULL, 30, &r);
    ck_assert_msg(st == 200, "%d %s", st, r);
    free(r);
    /* a new policy holds from the next request, without a restart */
    char *pf = policy_file(l.dir, "door",
                           "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesisvideo:Get*\","
                           "\"Resource\":\"arn:aws:kinesisvideo:*:*:stream/door-*\"}}");
    ck_assert_int_eq(keys_cmd(l.dir, NULL, NULL, "policy", reader.ak, pf, NULL), 0);
    free(pf);
    st = curl_post(s, &reader, KVS, "/getMedia", GM("door-1"), NULL, 3, &r);
    ck_assert_msg(st == 200, "%d %s", st, r);
    free(r);
    st = curl_post(s, &reader, KVS, "/getMedia", GM("cam-1"), NULL, 3, &r);
    expect(st, r, 403, "AccessDeniedException", NULL);
    /* revoking a key ends its next request */
    ck_assert_int_eq(keys_cmd(l.dir, NULL, NULL, "revoke", reader.ak, NULL), 0);
    st = curl_post(s, &reader, KVS, "/getMedia", GM("door-1"), NULL, 3, &r);
    expect(st, r, 403, "UnrecognizedClientException", NULL);
    locked_stop(&l);
}
END_TEST

/* Every route names an action to the access check: a key allowed nothing
 * that exists is refused by every one of them. */
START_TEST(every_route_asks_the_access_check)
{
    locked_t l;
    locked_start(&l);
    fl_test_server_t *s = &l.s;
    char *r = NULL;
    ck_assert_int_eq(
        curl_post(s, &l.admin, KVS, "/createStream", "{\"StreamName\":\"cam-1\"}", NULL, 30, &r),
        200);
    char arn[256], del[400];
    json_field(r, "StreamARN", arn, sizeof arn);
    snprintf(del, sizeof del, "{\"StreamARN\":\"%s\",\"CurrentVersion\":\"x\"}", arn);
    free(r);
    ck_assert_int_eq(curl_post(s, &l.admin, "aws:amz:us-east-1:kinesis", "/",
                               "{\"StreamName\":\"rec-1\",\"ShardCount\":1}",
                               "x-amz-target: Kinesis_20131202.CreateStream", 30, &r),
                     200);
    free(r);
    creds_t nobody;
    make_key(l.dir, "nobody",
             "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesisvideo:NoSuchAction\","
             "\"Resource\":\"*\"}}",
             0, &nobody);
    static const char *const kvs_paths[] = {"/createStream",
                                            "/describeStream",
                                            "/listStreams",
                                            "/deleteStream",
                                            "/updateStream",
                                            "/updateDataRetention",
                                            "/tagStream",
                                            "/untagStream",
                                            "/listTagsForStream",
                                            "/TagResource",
                                            "/UntagResource",
                                            "/ListTagsForResource",
                                            "/getDataEndpoint",
                                            "/describeImageGenerationConfiguration",
                                            "/updateImageGenerationConfiguration",
                                            "/describeNotificationConfiguration",
                                            "/updateNotificationConfiguration",
                                            "/describeStreamStorageConfiguration",
                                            "/updateStreamStorageConfiguration",
                                            "/describeMediaStorageConfiguration",
                                            "/getMedia",
                                            "/listFragments",
                                            "/getMediaForFragmentList",
                                            "/getHLSStreamingSessionURL",
                                            NULL};
    char body[1024];
    snprintf(body, sizeof body,
             "{\"StreamName\":\"cam-1\",\"ChannelName\":\"ch-1\",\"CurrentVersion\":\"x\","
             "\"DataRetentionChangeInHours\":1,"
             "\"Operation\":\"INCREASE_DATA_RETENTION\",\"Tags\":{\"a\":\"b\"},"
             "\"TagKeyList\":[\"a\"],\"ResourceARN\":\"%s\","
             "\"TagList\":[{\"Key\":\"a\",\"Value\":\"b\"}],\"APIName\":\"GET_MEDIA\","
             "\"StartSelector\":{\"StartSelectorType\":\"EARLIEST\"},\"Fragments\":[\"1\"],"
             "\"ClipFragmentSelector\":{\"FragmentSelectorType\":\"SERVER_TIMESTAMP\","
             "\"TimestampRange\":{\"StartTimestamp\":1,\"EndTimestamp\":2}},"
             "\"ImageSelectorType\":\"SERVER_TIMESTAMP\",\"StartTimestamp\":1,"
             "\"EndTimestamp\":2,\"SamplingInterval\":3000,\"Format\":\"JPEG\"}",
             arn);
    for (int i = 0; kvs_paths[i]; i++) {
        int st = curl_post(s, &nobody, KVS, kvs_paths[i],
                           strcmp(kvs_paths[i], "/deleteStream") ? body : del, NULL, 30, &r);
        ck_assert_msg(st == 403 && strstr(r, "AccessDeniedException"), "%s: %d %s", kvs_paths[i],
                      st, r);
        free(r);
    }
    /* GetRecords: its iterator's key is checked too (the tokens case below) */
    static const char *const kds_ops[] = {"CreateStream",
                                          "DeleteStream",
                                          "DescribeStream",
                                          "DescribeStreamSummary",
                                          "ListStreams",
                                          "ListShards",
                                          "IncreaseStreamRetentionPeriod",
                                          "DecreaseStreamRetentionPeriod",
                                          "PutRecord",
                                          "PutRecords",
                                          "GetShardIterator",
                                          NULL};
    const char *kbody =
        "{\"StreamName\":\"rec-1\",\"ShardCount\":1,\"PartitionKey\":\"k\","
        "\"Data\":\"AA==\",\"Records\":[{\"Data\":\"AA==\",\"PartitionKey\":"
        "\"k\"}],\"ShardId\":\"shardId-000000000000\",\"ShardIteratorType\":"
        "\"LATEST\",\"RetentionPeriodHours\":48,\"Tags\":{\"a\":\"b\"},"
        "\"TagKeys\":[\"a\"],\"NewStartingHashKey\":\"1\",\"ShardToSplit\":"
        "\"shardId-000000000000\",\"AdjacentShardToMerge\":"
        "\"shardId-000000000001\",\"TargetShardCount\":2,\"ScalingType\":"
        "\"UNIFORM_SCALING\",\"EncryptionType\":\"KMS\",\"KeyId\":\"alias/aws/kinesis\"}";
    for (int i = 0; kds_ops[i]; i++) {
        char target[128];
        snprintf(target, sizeof target, "x-amz-target: Kinesis_20131202.%s", kds_ops[i]);
        int st = curl_post(s, &nobody, "aws:amz:us-east-1:kinesis", "/", kbody, target, 30, &r);
        ck_assert_msg(st == 400 && strstr(r, "AccessDeniedException"), "%s: %d %s", kds_ops[i], st,
                      r);
        free(r);
    }
    locked_stop(&l);
}
END_TEST

/* ---- tokens carry their key's rights ---- */

START_TEST(hls_sessions_and_iterators_carry_their_key)
{
    make_media();
    locked_t l;
    locked_start(&l);
    fl_test_server_t *s = &l.s;
    char *err = NULL, *out = NULL;
    ck_assert_msg(put_as(s, &l.admin, "cam-1", NULL, &err) == 0, "%s", err);
    free(err);
    creds_t viewer, rec;
    make_key(l.dir, "viewer",
             "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[\"kinesisvideo:GetHLS*\","
             "\"kinesisvideo:GetMP4*\"],\"Resource\":\"arn:aws:kinesisvideo:*:*:stream/cam-*\"}}",
             0, &viewer);
    make_key(l.dir, "rec",
             "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesis:*\",\"Resource\":\"*\"}}",
             0, &rec);
    /* an HLS session made by the viewer plays while the viewer's key holds */
    char range[256], a[32], b[32];
    time_t now = time(NULL), from = now - 3600, to = now + 60;
    strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime(&from));
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime(&to));
    snprintf(range, sizeof range,
             "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=%s,"
             "EndTimestamp=%s}",
             a, b);
    int rc =
        aws_as("/usr/bin/aws", s, &viewer, "us-east-1", &out, &err, "kinesis-video-archived-media",
               "get-hls-streaming-session-url", "--stream-name", "cam-1", "--playback-mode",
               "ON_DEMAND", "--hls-fragment-selector", range, NULL);
    ck_assert_msg(rc == 0, "get-hls-streaming-session-url: %s", err);
    free(err);
    char url[2048];
    json_field(out, "HLSStreamingSessionURL", url, sizeof url);
    free(out);
    char *get[] = {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url, NULL};
    ck_assert_int_eq(fl_test_run(get, RUN_MS, &out, NULL), 0);
    ck_assert_msg(strcmp(out, "200") == 0, "master playlist: %s", out);
    free(out);
    ck_assert_int_eq(keys_cmd(l.dir, NULL, NULL, "revoke", viewer.ak, NULL), 0);
    ck_assert_int_eq(fl_test_run(get, RUN_MS, &out, NULL), 0);
    ck_assert_msg(strcmp(out, "403") == 0, "master playlist after revoke: %s", out);
    free(out);

    /* a shard iterator carries the key that asked for it */
    char *r = NULL;
    ck_assert_int_eq(curl_post(s, &rec, "aws:amz:us-east-1:kinesis", "/",
                               "{\"StreamName\":\"rec-1\",\"ShardCount\":1}",
                               "x-amz-target: Kinesis_20131202.CreateStream", 30, &r),
                     200);
    free(r);
    int st = curl_post(s, &rec, "aws:amz:us-east-1:kinesis", "/",
                       "{\"StreamName\":\"rec-1\",\"ShardId\":\"shardId-000000000000\","
                       "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
                       "x-amz-target: Kinesis_20131202.GetShardIterator", 30, &r);
    ck_assert_msg(st == 200, "%d %s", st, r);
    char it[1024], body[1200];
    json_field(r, "ShardIterator", it, sizeof it);
    free(r);
    snprintf(body, sizeof body, "{\"ShardIterator\":\"%s\"}", it);
    st = curl_post(s, &l.admin, "aws:amz:us-east-1:kinesis", "/", body,
                   "x-amz-target: Kinesis_20131202.GetRecords", 30, &r);
    ck_assert_msg(st == 200, "%d %s", st, r);
    free(r);
    ck_assert_int_eq(keys_cmd(l.dir, NULL, NULL, "revoke", rec.ak, NULL), 0);
    st = curl_post(s, &l.admin, "aws:amz:us-east-1:kinesis", "/", body,
                   "x-amz-target: Kinesis_20131202.GetRecords", 30, &r);
    expect(st, r, 400, "AccessDeniedException", "the iterator's key");
    locked_stop(&l);
}
END_TEST

/* An HLS session URL carries the key that asked for it: made by a
 * temporary key, it plays until that key expires, then 403 (AWS's Expires
 * is 300 s at least; the key's expiry is the short bound). The key lives
 * 12 s; on a machine so busy that the URL expired before its first play,
 * the case runs again with a key of 60 s (progress, not a clock, decides). */
static int hls_url_until_key_expires(locked_t *l, const char *key_name, const char *expires)
{
    fl_test_server_t *s = &l->s;
    char *err = NULL, *out = NULL;
    char *pf =
        policy_file(l->dir, key_name,
                    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[\"kinesisvideo:GetHLS*\","
                    "\"kinesisvideo:GetMP4*\"],\"Resource\":\"*\"}}");
    ck_assert_int_eq(keys_cmd(l->dir, &out, &err, "create", key_name, "--policy", pf, "--temporary",
                              "--expires", expires, NULL),
                     0);
    creds_t c;
    memset(&c, 0, sizeof c);
    json_field(out, "AccessKeyId", c.ak, sizeof c.ak);
    json_field(out, "SecretAccessKey", c.sk, sizeof c.sk);
    json_field(out, "SessionToken", c.tok, sizeof c.tok);
    free(out);
    free(err);
    free(pf);
    char range[256], a[32], b[32];
    time_t now = time(NULL), from = now - 3600, to = now + 60;
    strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime(&from));
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime(&to));
    snprintf(range, sizeof range,
             "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=%s,"
             "EndTimestamp=%s}",
             a, b);
    int rc = aws_as("/usr/bin/aws", s, &c, "us-east-1", &out, &err, "kinesis-video-archived-media",
                    "get-hls-streaming-session-url", "--stream-name", "cam-exp", "--playback-mode",
                    "ON_DEMAND", "--hls-fragment-selector", range, NULL);
    if (rc != 0 && strstr(err, "expired")) {
        free(out);
        free(err);
        return 0; /* the key expired before it was used: too busy */
    }
    ck_assert_msg(rc == 0, "get-hls-streaming-session-url: %s", err);
    free(err);
    char url[2048];
    json_field(out, "HLSStreamingSessionURL", url, sizeof url);
    free(out);
    char *get[] = {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url, NULL};
    ck_assert_int_eq(fl_test_run(get, RUN_MS, &out, NULL), 0);
    int first = atoi(out);
    free(out);
    if (first == 403)
        return 0; /* expired before its first play: too busy */
    ck_assert_msg(first == 200, "master playlist: %d", first);
    /* the same URL again and again: 200 until the key's expiry, then 403
     * (a condition waited for, bounded generously; no duration asserted) */
    int n = 0, last = 200;
    while (last == 200 && n++ < 1000) {
        ck_assert_int_eq(fl_test_run(get, RUN_MS, &out, NULL), 0);
        last = atoi(out);
        free(out);
        if (last == 200)
            usleep(250000);
    }
    ck_assert_int_eq(last, 403);
    char *body[] = {"curl", "-s", url, NULL};
    ck_assert_int_eq(fl_test_run(body, RUN_MS, &out, NULL), 0);
    ck_assert_msg(strstr(out, "expired"), "%s", out);
    free(out);
    return 1;
}

START_TEST(hls_url_works_until_its_key_expires)
{
    make_media();
    locked_t l;
    locked_start(&l);
    char *err = NULL;
    ck_assert_msg(put_as(&l.s, &l.admin, "cam-exp", NULL, &err) == 0, "%s", err);
    free(err);
    if (!hls_url_until_key_expires(&l, "short", "12s"))
        ck_assert_msg(hls_url_until_key_expires(&l, "longer", "60s"),
                      "a 60 s key expired before its URL played once");
    locked_stop(&l);
}
END_TEST

/* ---- the SDK and GStreamer, with verification on ---- */

START_TEST(sdk_signs_and_says_which_clock_is_off)
{
    make_media();
    locked_t l;
    locked_start(&l);
    fl_test_server_t *s = &l.s;
    char *err = NULL;
    int rc = put_as(s, &l.admin, "sdk-1", NULL, &err);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    rc = put_as(s, &l.temp, "sdk-2", NULL, &err);
    ck_assert_msg(rc == 0, "temporary credentials: %s", err);
    free(err);
    rc = put_as(s, NULL, "sdk-3", NULL, &err);
    ck_assert_msg(rc != 0 && strstr(err, "MissingAuthenticationTokenException"), "%s", err);
    free(err);
    /* 4 minutes off either way is within AWS's 5; 6 is not, and it says which */
    rc = put_as(s, &l.admin, "sdk-1", "-4m", &err);
    ck_assert_msg(rc == 0, "4 min behind: %s", err);
    free(err);
    rc = put_as(s, &l.temp, "sdk-2", "+4m", &err);
    ck_assert_msg(rc == 0, "4 min ahead: %s", err);
    free(err);
    rc = put_as(s, &l.admin, "sdk-1", "-6m", &err);
    ck_assert_msg(rc != 0 && strstr(err, "Signature expired") &&
                      strstr(err, "this device's clock is more than 5 minutes behind the server's"),
                  "%s", err);
    free(err);
    rc = put_as(s, &l.admin, "sdk-1", "+6m", &err);
    ck_assert_msg(
        rc != 0 && strstr(err, "Signature not yet current") &&
            strstr(err, "this device's clock is more than 5 minutes ahead of the server's"),
        "%s", err);
    free(err);
    locked_stop(&l);
}
END_TEST

/* gst-launch-1.0 of a 3 s H.264 pipeline into framelogsink as c, the clock
 * shifted by skew when not NULL; exit code, stderr. */
#if defined(FL_GST_PLUGIN_DIR) && !defined(FL_SANITIZE_GST)
static int gst_as(const fl_test_server_t *s, const creds_t *c, const char *stream, const char *skew,
                  char **err)
{
    char plugin_path[4200], registry[4200], pipe[1024];
    snprintf(plugin_path, sizeof plugin_path, "GST_PLUGIN_PATH=%s", FL_GST_PLUGIN_DIR);
    snprintf(registry, sizeof registry, "GST_REGISTRY=%s/tests/gst-registry-auth.bin",
             FL_BINARY_DIR);
    int w = snprintf(pipe, sizeof pipe,
                     "videotestsrc num-buffers=90 ! video/x-raw,width=320,height=240,"
                     "framerate=30/1 ! x264enc key-int-max=30 tune=zerolatency ! h264parse ! "
                     "framelogsink stream-name=%s endpoint=%s create-stream=true access-key=%s "
                     "secret-key=%s",
                     stream, s->url, c->ak, c->sk);
    if (c->tok[0])
        snprintf(pipe + w, sizeof pipe - (size_t)w, " session-token=%s", c->tok);
    char *argv[64];
    int n = 0;
    argv[n++] = "env";
    argv[n++] = plugin_path;
    argv[n++] = registry;
    if (skew) {
        argv[n++] = "faketime";
        argv[n++] = "-f";
        argv[n++] = (char *)skew;
    }
    argv[n++] = "gst-launch-1.0";
    argv[n++] = "-e";
    for (char *tok = strtok(pipe, " "); tok && n < 62; tok = strtok(NULL, " "))
        argv[n++] = tok;
    argv[n] = NULL;
    return fl_test_run(argv, RUN_MS, NULL, err);
}
#endif

START_TEST(gst_sink_signs_with_verification_on)
{
#if defined(FL_GST_PLUGIN_DIR) && !defined(FL_SANITIZE_GST)
    locked_t l;
    locked_start(&l);
    char *err = NULL;
    int rc = gst_as(&l.s, &l.admin, "gst-1", NULL, &err);
    ck_assert_msg(rc == 0, "framelogsink: %s", err);
    free(err);
    rc = gst_as(&l.s, &l.temp, "gst-2", "+4m", &err);
    ck_assert_msg(rc == 0, "framelogsink, temporary key, 4 min ahead: %s", err);
    free(err);
    rc = gst_as(&l.s, &l.admin, "gst-1", "-6m", &err);
    ck_assert_msg(rc != 0 && strstr(err, "Signature expired") && strstr(err, "clock"), "%s", err);
    free(err);
    creds_t bad = l.admin;
    bad.sk[0] = bad.sk[0] == 'A' ? 'B' : 'A';
    rc = gst_as(&l.s, &bad, "gst-1", NULL, &err);
    ck_assert_msg(rc != 0 && strstr(err, "InvalidSignatureException"), "%s", err);
    free(err);
    locked_stop(&l);
#else
    fprintf(stderr, "gst_sink_signs_with_verification_on: skipped (no framelogsink, or "
                    "uninstrumented GStreamer tools under the sanitizers)\n");
#endif
}
END_TEST

/* ---- keys at rest: the master key's sources, KMS key ids, rotation ---- */

/* GetMedia of stream from EARLIEST as c (curl --aws-sigv4) into out: the
 * HTTP status. */
static int get_media_as(const fl_test_server_t *s, const creds_t *c, const char *stream,
                        const char *out)
{
    char url[256], user[200], body[300], tok[200];
    snprintf(url, sizeof url, "%s/getMedia", s->url);
    snprintf(user, sizeof user, "%s:%s", c->ak, c->sk);
    snprintf(body, sizeof body,
             "{\"StreamName\":\"%s\",\"StartSelector\":{\"StartSelectorType\":\"EARLIEST\"}}",
             stream);
    snprintf(tok, sizeof tok, "x-amz-security-token: %s", c->tok);
    char *argv[] = {"curl",
                    "-s",
                    "-m",
                    "60",
                    "-o",
                    (char *)out,
                    "-w",
                    "%{http_code}",
                    "--aws-sigv4",
                    KVS,
                    "--user",
                    user,
                    "-H",
                    c->tok[0] ? tok : "x-test: 1",
                    "--data-binary",
                    body,
                    url,
                    NULL};
    char *o = NULL;
    int rc = fl_test_run(argv, RUN_MS, &o, NULL);
    ck_assert_msg(rc == 0 || rc == 28, "curl exited %d", rc);
    int st = atoi(o);
    free(o);
    return st;
}

/* The stream plays back as c: GetMedia answers 200 with the frames' bytes. */
static void plays(const fl_test_server_t *s, const creds_t *c, const char *dir, const char *stream)
{
    char out[4200];
    snprintf(out, sizeof out, "%s-%s.mkv", dir, stream);
    int st = get_media_as(s, c, stream, out);
    ck_assert_msg(st == 200, "GetMedia %s: %d", stream, st);
    ck_assert_msg(count_in_file(out, "x264 - core") > 0, "GetMedia %s: no frames", stream);
    unlink(out);
}

/* 64 hex digits of a fresh key. */
static void hex_key(char hex[65], char fill)
{
    memset(hex, fill, 64);
    hex[64] = 0;
}

static int exists(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* `framelogd keys` takes the master key from where framelogd does
 * (--master-key-file, -env, -fd), checks it against the data dir, and
 * never leaves a master.key where the server would not look. */
START_TEST(keys_cli_takes_the_servers_master_key_sources)
{
    char *dir = new_dir();
    char *kd = fl_test_mkdtemp("auth-mk");
    char kf[4200];
    snprintf(kf, sizeof kf, "%s/master.key", kd);
    char *out = NULL, *err = NULL;
    /* a fresh data dir, the key file outside it: made there, not in DIR */
    ck_assert_int_eq(keys_cmd(dir, &out, &err, "create", "admin", "--master-key-file", kf, NULL),
                     0);
    creds_t admin;
    memset(&admin, 0, sizeof admin);
    json_field(out, "AccessKeyId", admin.ak, sizeof admin.ak);
    json_field(out, "SecretAccessKey", admin.sk, sizeof admin.sk);
    free(out);
    free(err);
    ck_assert(exists(kd, "master.key"));
    ck_assert(!exists(dir, "master.key"));
    /* without the flag: refused, and still no master.key in the data dir */
    ck_assert_int_eq(keys_cmd(dir, &out, &err, "list", NULL), 1);
    ck_assert_msg(strstr(err, "is not the key this data dir was sealed with"), "%s", err);
    free(out);
    free(err);
    ck_assert(!exists(dir, "master.key"));
    /* two sources at once: refused as framelogd refuses them */
    ck_assert_int_eq(
        keys_cmd(dir, &out, &err, "list", "--master-key-file", kf, "--master-key-env", "X", NULL),
        1);
    ck_assert_msg(strstr(err, "give at most one of"), "%s", err);
    free(out);
    free(err);
    /* the server with the same flag verifies the key */
    fl_test_server_t s;
    char *args[] = {"--master-key-file", kf, NULL};
    fl_test_server_start(&s, dir, args);
    char *r = NULL;
    ck_assert_int_eq(curl_post(&s, &admin, KVS, "/listStreams", "{}", NULL, 30, &r), 200);
    free(r);
    /* --master-key-fd while it runs: a key made so verifies at once */
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "exec %s keys create fd-key --master-key-fd 3 --data-dir '%s' 3<'%s'",
             FL_FRAMELOGD, dir, kf);
    char *sh[] = {"sh", "-c", cmd, NULL};
    ck_assert_int_eq(fl_test_run(sh, RUN_MS, &out, &err), 0);
    creds_t fdk;
    memset(&fdk, 0, sizeof fdk);
    json_field(out, "AccessKeyId", fdk.ak, sizeof fdk.ak);
    json_field(out, "SecretAccessKey", fdk.sk, sizeof fdk.sk);
    free(out);
    free(err);
    ck_assert_int_eq(curl_post(&s, &fdk, KVS, "/listStreams", "{}", NULL, 30, &r), 200);
    free(r);
    fl_test_server_free(&s);
    ck_assert(!exists(dir, "master.key"));

    /* --master-key-env: a fresh data dir sealed by a key in the environment */
    char *dir2 = new_dir();
    char hex[65], other[65];
    hex_key(hex, 'c');
    hex_key(other, 'd');
    setenv("FL_TEST_MK", hex, 1);
    ck_assert_int_eq(
        keys_cmd(dir2, &out, &err, "create", "env-key", "--master-key-env", "FL_TEST_MK", NULL), 0);
    creds_t envk;
    memset(&envk, 0, sizeof envk);
    json_field(out, "AccessKeyId", envk.ak, sizeof envk.ak);
    json_field(out, "SecretAccessKey", envk.sk, sizeof envk.sk);
    free(out);
    free(err);
    ck_assert(!exists(dir2, "master.key"));
    /* another key in the variable: refused */
    setenv("FL_TEST_MK", other, 1);
    ck_assert_int_eq(keys_cmd(dir2, &out, &err, "list", "--master-key-env", "FL_TEST_MK", NULL), 1);
    ck_assert_msg(strstr(err, "is not the key this data dir was sealed with"), "%s", err);
    free(out);
    free(err);
    /* and no key at all (no variable, no file): refused, nothing made */
    ck_assert_int_eq(keys_cmd(dir2, &out, &err, "list", NULL), 1);
    free(out);
    free(err);
    ck_assert(!exists(dir2, "master.key"));
    setenv("FL_TEST_MK", hex, 1);
    char *eargs[] = {"--master-key-env", "FL_TEST_MK", NULL};
    fl_test_server_start(&s, dir2, eargs);
    ck_assert_int_eq(curl_post(&s, &envk, KVS, "/listStreams", "{}", NULL, 30, &r), 200);
    free(r);
    fl_test_server_free(&s);
    unsetenv("FL_TEST_MK");
    fl_test_rmtree(dir2);
    fl_test_rmtree(kd);
    fl_test_rmtree(dir);
}
END_TEST

/* An AWS CLI v2 call as c that must succeed; its stdout (malloc'd). */
static char *aws_ok(const fl_test_server_t *s, const creds_t *c, char *const args[])
{
    char *out = NULL, *err = NULL;
    int rc = aws_argv("/usr/bin/aws", s, c, "us-east-1", args, &out, &err);
    ck_assert_msg(rc == 0, "aws %s %s: %d %s", args[0], args[1], rc, err);
    free(err);
    return out;
}

/* The same call must fail with etype and msg in its error. */
static void aws_fails(const fl_test_server_t *s, const creds_t *c, const char *etype,
                      const char *msg, char *const args[])
{
    char *out = NULL, *err = NULL;
    int rc = aws_argv("/usr/bin/aws", s, c, "us-east-1", args, &out, &err);
    ck_assert_msg(rc != 0 && strstr(err, etype) && strstr(err, msg), "expected %s (%s): %d %s",
                  etype, msg, rc, err);
    free(out);
    free(err);
}

#define KMS_KEY_ARN   "arn:aws:kms:us-east-1:123456789012:key/1234ABCD-12ab-34cd-56ef-1234567890ab"
#define KMS_KEY_ID    "1234abcd-12ab-34cd-56ef-1234567890ab"
#define KMS_ALIAS     "alias/framelog-test"
#define KMS_ALIAS_ARN "arn:aws:kms:eu-west-1:123456789012:alias/framelog-test"
#define KMS_AWS       "arn:aws:kms:us-east-1:123456789012:alias/aws/kinesisvideo"

static const char *const kms_refs[] = {KMS_KEY_ARN, KMS_KEY_ID, KMS_ALIAS, KMS_ALIAS_ARN, KMS_AWS};
static const char *const kms_streams[] = {"kms-arn", "kms-id", "kms-alias", "kms-alias-arn",
                                          "kms-aws"};

/* Every stream plays, every key verifies, the data stream reads back. */
static void all_readable(const fl_test_server_t *s, const locked_t *l)
{
    for (int i = 0; i < 5; i++)
        plays(s, &l->admin, l->dir, kms_streams[i]);
    plays(s, &l->temp, l->dir, "kms-none");
    char *ls[] = {"kinesisvideo", "list-streams", NULL};
    free(aws_ok(s, &l->temp, ls));
    char *it[] = {"kinesis",    "get-shard-iterator",   "--stream-name",         "rec-kms",
                  "--shard-id", "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON",
                  NULL};
    char *out = aws_ok(s, &l->admin, it);
    char iter[1024];
    json_field(out, "ShardIterator", iter, sizeof iter);
    free(out);
    char *gr[] = {"kinesis", "get-records", "--shard-iterator", iter, NULL};
    out = aws_ok(s, &l->admin, gr);
    ck_assert_msg(strstr(out, "\"Data\": \"aGVsbG8=\""), "%s", out);
    free(out);
}

/* KmsKeyId / KeyId in each AWS KMS form names a master key (made on first
 * use, logged); DescribeStream returns what was given; a malformed one is
 * InvalidArgumentException; restarts and a master-key rotation keep every
 * stream readable and every access key verifying. */
START_TEST(kms_key_ids_name_master_keys_and_rotation_keeps_them)
{
    make_media();
    locked_t l;
    locked_start(&l);
    fl_test_server_t *s = &l.s;
    char *err = NULL;
    for (int i = 0; i < 5; i++) {
        char *cs[] = {"kinesisvideo",
                      "create-stream",
                      "--stream-name",
                      (char *)kms_streams[i],
                      "--kms-key-id",
                      (char *)kms_refs[i],
                      "--data-retention-in-hours",
                      "24",
                      NULL};
        free(aws_ok(s, &l.admin, cs));
        char *ds[] = {"kinesisvideo", "describe-stream", "--stream-name", (char *)kms_streams[i],
                      NULL};
        char *out = aws_ok(s, &l.admin, ds);
        char got[600];
        json_field(out, "KmsKeyId", got, sizeof got);
        ck_assert_str_eq(got, kms_refs[i]);
        free(out);
        ck_assert_msg(put_as(s, &l.admin, kms_streams[i], NULL, &err) == 0, "%s", err);
        free(err);
    }
    ck_assert_msg(put_as(s, &l.admin, "kms-none", NULL, &err) == 0, "%s", err);
    free(err);
    /* a CreateStream that fails (its name is taken) makes no key: a new
     * key and its stream are made in one catalog transaction (the
     * rotation below counts the named keys too) */
    char *taken[] = {"kinesisvideo",
                     "create-stream",
                     "--stream-name",
                     "kms-arn",
                     "--kms-key-id",
                     "alias/never-made",
                     NULL};
    aws_fails(s, &l.admin, "ResourceInUseException", "", taken);
    /* the key ARN and its id name one key, the alias and its ARN another:
     * two keys made, each logged once; AWS's managed key is the default */
    char *log = fl_test_proc_stderr(&s->proc);
    int made = 0;
    for (const char *p = log; (p = strstr(p, "first use, master key")) != NULL; p++)
        made++;
    ck_assert_msg(made == 2 && strstr(log, "'key/" KMS_KEY_ID "'") &&
                      strstr(log, "'" KMS_ALIAS "'"),
                  "%s", log);
    free(log);
    /* malformed references: AWS's InvalidArgumentException, saying what */
    static const struct {
        const char *ref, *msg;
    } bad[] = {
        {"arn:aws:kms:us-east-1:1234:key/" KMS_KEY_ID, "account must be 12 digits"},
        {"alias/has space", "alias/ and 1 to 250 characters"},
        {"arn:aws:kms:us-east-1:123456789012:key/not-a-uuid", "must be a UUID"},
        {"no-such-key", "not a KMS key reference"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *cs[] = {"kinesisvideo",
                      "create-stream",
                      "--stream-name",
                      "bad",
                      "--kms-key-id",
                      (char *)bad[i].ref,
                      NULL};
        aws_fails(s, &l.admin, "InvalidArgumentException", bad[i].msg, cs);
    }
    char *nobad[] = {"kinesisvideo", "describe-stream", "--stream-name", "bad", NULL};
    aws_fails(s, &l.admin, "ResourceNotFoundException", "", nobad);

    /* Kinesis Data Streams: StartStreamEncryption names the key the same way */
    char *kc[] = {"kinesis", "create-stream", "--stream-name", "rec-kms", "--shard-count", "1",
                  NULL};
    free(aws_ok(s, &l.admin, kc));
    char *kbad[] = {"kinesis",
                    "start-stream-encryption",
                    "--stream-name",
                    "rec-kms",
                    "--encryption-type",
                    "KMS",
                    "--key-id",
                    "alias/",
                    NULL};
    aws_fails(s, &l.admin, "InvalidArgumentException", "not a valid KMS key", kbad);
    char *ke[] = {"kinesis",
                  "start-stream-encryption",
                  "--stream-name",
                  "rec-kms",
                  "--encryption-type",
                  "KMS",
                  "--key-id",
                  KMS_ALIAS_ARN,
                  NULL};
    free(aws_ok(s, &l.admin, ke));
    char *kd[] = {"kinesis", "describe-stream-summary", "--stream-name", "rec-kms", NULL};
    char *out = aws_ok(s, &l.admin, kd);
    char got[600];
    json_field(out, "KeyId", got, sizeof got);
    ck_assert_str_eq(got, KMS_ALIAS_ARN);
    free(out);
    char *pr[] = {"kinesis", "put-record", "--stream-name", "rec-kms", "--partition-key",
                  "k",       "--data",     "aGVsbG8=",      NULL};
    free(aws_ok(s, &l.admin, pr));
    all_readable(s, &l);

    /* a restart reads the named keys back from the catalog */
    fl_test_server_free(s);
    fl_test_server_start(s, l.dir, NULL);
    all_readable(s, &l);
    ck_assert_int_eq(fl_test_server_stop(s, 30000), 0);
    fl_test_server_free(s);

    /* rotate the master key: every stream keeps playing, every key verifies */
    char *kdir = fl_test_mkdtemp("auth-rot");
    char nk[4200];
    snprintf(nk, sizeof nk, "%s/new.key", kdir);
    char *rot[] = {
        FL_FRAMELOGD, "rotate-master-key", "--data-dir", l.dir, "--new-master-key-file", nk, NULL};
    ck_assert_int_eq(fl_test_run(rot, RUN_MS, &out, &err), 0);
    ck_assert_msg(strstr(out, "2 stream keys, 2 named master keys and 2 access keys re-wrapped"),
                  "%s / %s", out, err);
    free(out);
    free(err);
    char *args[] = {"--master-key-file", nk, NULL};
    fl_test_server_start(s, l.dir, args);
    all_readable(s, &l);
    /* a key made after the rotation, with the new key, verifies too */
    ck_assert_int_eq(keys_cmd(l.dir, &out, &err, "create", "after", "--master-key-file", nk, NULL),
                     0);
    creds_t after;
    memset(&after, 0, sizeof after);
    json_field(out, "AccessKeyId", after.ak, sizeof after.ak);
    json_field(out, "SecretAccessKey", after.sk, sizeof after.sk);
    free(out);
    free(err);
    plays(s, &after, l.dir, "kms-alias");
    fl_test_rmtree(kdir);
    locked_stop(&l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_auth");
    TCase *t = tcase_create("keys");
    tcase_add_test(t, open_without_keys_then_locked_by_the_first_key);
    tcase_add_test(t, keys_cli_prints_aws_shapes_and_seals_secrets);
    suite_add_tcase(s, t);
    t = tcase_create("refusals");
    tcase_add_test(t, curl_refusals);
    tcase_add_test(t, aws_cli_v2_refusals);
    tcase_add_test(t, aws_cli_v1_refusals);
    tcase_add_test(t, boto3_refusals_skew_tokens_and_presigned_urls);
    suite_add_tcase(s, t);
    t = tcase_create("policies");
    tcase_add_test(t, policy_matrix);
    tcase_add_test(t, every_route_asks_the_access_check);
    suite_add_tcase(s, t);
    t = tcase_create("sessions");
    tcase_add_test(t, hls_sessions_and_iterators_carry_their_key);
    tcase_add_test(t, hls_url_works_until_its_key_expires);
    suite_add_tcase(s, t);
    t = tcase_create("atrest");
    tcase_add_test(t, keys_cli_takes_the_servers_master_key_sources);
    suite_add_tcase(s, t);
    t = tcase_create("kms");
    tcase_add_test(t, kms_key_ids_name_master_keys_and_rotation_keeps_them);
    suite_add_tcase(s, t);
    t = tcase_create("sdk");
    tcase_add_test(t, sdk_signs_and_says_which_clock_is_off);
    tcase_add_test(t, gst_sink_signs_with_verification_on);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fl_test_main(suite());
}
