/*
 * tests/test_records_h2.c — HTTP/2 on framelogd's listener, beside
 * HTTP/1.1, with real clients: prior-knowledge h2c on a plain listener
 * (case "h2") and ALPN "h2" on a TLS listener (case "tls": the same
 * checks over https://, with a self-signed certificate for 127.0.0.1 the
 * clients trust):
 * - the AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis, HTTP/2 only)
 *   puts 10,000 records over 8 shards and reads them all back, and gets a
 *   typed ResourceNotFoundException (tests/node/kds_h2.js); the same
 *   signed with a real access key (the SDK signs :authority), and a wrong
 *   secret refused;
 * - curl --http2-prior-knowledge sends a PutRecords of 5 MiB of data (the
 *   largest Kinesis takes) and reads it back byte for byte over HTTP/2;
 * - h2load multiplexes 96 PutRecords of 150 kB over 2 connections;
 * - HTTP/1.1 on the same port still works, and bytes that are neither
 *   still get a plain 400;
 * - over TLS: curl negotiates HTTP/2 by ALPN (--http2, and by default),
 *   HTTP/1.1 when asked (--http1.1) on the same port; the JS SDK's default
 *   handler (HTTP/2 only, ALPN "h2") works against https://.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/bytes.h"
#include "common/json.h"
#include "harness.h"

static char *const no_throttle[] = {"--records-throttle", "0", NULL};

START_TEST(js_sdk_v3_over_h2)
{
    ck_assert_msg(fl_test_have("node"), "node is missing (scripts/deps.sh --test)");
    ck_assert_msg(access(FL_SOURCE_DIR "/tests/node/node_modules/@aws-sdk/client-kinesis", R_OK) ==
                      0,
                  "tests/node/node_modules is missing (scripts/deps.sh --test)");
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, no_throttle);
    char *args[] = {"node", FL_SOURCE_DIR "/tests/node/kds_h2.js", s.url, "js-h2", NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 500000, &out, &err);
    ck_assert_msg(rc == 0, "kds_h2.js (%d): %s %s", rc, out, err);
    ck_assert_msg(out && strstr(out, "\"read\":10000") && strstr(out, "\"typed_error\":true") &&
                      strstr(out, "\"consumer\":\"CREATING\""),
                  "kds_h2.js: %s", out);
    fprintf(stderr, "kds_h2.js: %s", out);
    free(out);
    free(err);
    fl_test_server_stop_clean(&s);
}
END_TEST

/* kds_h2.js signed with a real access key, which the server verifies
 * (the SDK signs HTTP/2's :authority pseudo-header), over h2c (tls 0) or
 * over https:// with ALPN "h2" (tls 1). */
static void js_sdk_signed(int tls)
{
    ck_assert_msg(fl_test_have("node"), "node is missing (scripts/deps.sh --test)");
    char *dir = fl_test_mkdtemp("h2keys");
    char *ka[] = {FL_FRAMELOGD, "keys", "create", "js", "--data-dir", dir, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_msg(fl_test_run(ka, 60000, &out, &err) == 0, "keys create: %s", err);
    fl_json_doc_t *k = NULL;
    ck_assert_int_eq(fl_json_parse(fl_slice_str(out), NULL, &k, NULL), 0);
    const fl_json_t *root = fl_json_root(k), *ak = fl_json_get(root, "AccessKeyId"),
                    *sk = fl_json_get(root, "SecretAccessKey");
    if (!ak || !sk) { /* {"AccessKey": {...}} as IAM's CreateAccessKey */
        root = fl_json_get(root, "AccessKey");
        ak = fl_json_get(root, "AccessKeyId");
        sk = fl_json_get(root, "SecretAccessKey");
    }
    ck_assert_msg(ak && sk, "keys create: %s", out);
    char eak[200], esk[200];
    snprintf(eak, sizeof eak, "FL_AK=%s", ak->str);
    snprintf(esk, sizeof esk, "FL_SK=%s", sk->str);
    fl_json_free(k);
    free(out);
    free(err);
    char cert[4200], key[4200], ca_env[4300], url[96];
    fl_test_tls_cert(dir, cert, key, sizeof cert);
    snprintf(ca_env, sizeof ca_env, "NODE_EXTRA_CA_CERTS=%s", cert);
    char *tls_args[] = {"--records-throttle", "0", "--tls-cert", cert, "--tls-key", key, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, dir, tls ? tls_args : no_throttle);
    if (tls)
        snprintf(url, sizeof url, "https://127.0.0.1:%d", s.port);
    else
        snprintf(url, sizeof url, "%s", s.url);
    char *args[] = {"env",
                    eak,
                    esk,
                    tls ? "FL_TOTAL=2000" : "FL_TOTAL=1000",
                    ca_env,
                    "node",
                    FL_SOURCE_DIR "/tests/node/kds_h2.js",
                    url,
                    "js-h2-signed",
                    NULL};
    int rc = fl_test_run(args, 300000, &out, &err);
    ck_assert_msg(rc == 0, "kds_h2.js signed %s (%d): %s %s", url, rc, out, err);
    ck_assert_msg(out && strstr(out, tls ? "\"read\":2000," : "\"read\":1000,") &&
                      strstr(out, "\"handler\":\"NodeHttp2Handler\"") &&
                      strstr(out, tls ? "\"alpn\":\"h2\"" : "\"alpn\":\"n/a\"") &&
                      strstr(out, "\"refused\":\"InvalidSignatureException\""),
                  "kds_h2.js signed %s: %s", url, out);
    fprintf(stderr, "kds_h2.js signed %s: %s", url, out);
    free(out);
    free(err);
    fl_test_server_stop_clean(&s);
    fl_test_rmtree(dir);
}

START_TEST(js_sdk_v3_signed_over_h2)
{
    js_sdk_signed(0);
}
END_TEST

/* The SDK's default handler against https://: ALPN "h2", 2,000 records
 * over 8 shards read back, signed. */
START_TEST(js_sdk_v3_signed_over_tls_h2)
{
    js_sdk_signed(1);
}
END_TEST

/* The TLS certificate h2_call trusts: NULL for h2c to the plain
 * listener, else curl --http2 to https:// with it as the CA (one test at
 * a time in a process: Check forks each). */
static const char *h2_cacert;

/* curl over HTTP/2 (h2c, or ALPN h2 when h2_cacert is set): POST / with
 * target and body (a file); the answer's JSON, after checking that HTTP/2
 * carried it and the status. */
static fl_json_doc_t *h2_call(const fl_test_server_t *s, const char *target, const char *body_file,
                              int want_status)
{
    char hdr[128], data[4200], url[96];
    snprintf(hdr, sizeof hdr, "X-Amz-Target: Kinesis_20131202.%s", target);
    snprintf(data, sizeof data, "@%s", body_file);
    if (h2_cacert)
        snprintf(url, sizeof url, "https://127.0.0.1:%d/", s->port);
    else
        snprintf(url, sizeof url, "%s/", s->url);
    char *args[] = {"curl",
                    "-sS",
                    h2_cacert ? "--http2" : "--http2-prior-knowledge",
                    "-w",
                    "\n%{http_version} %{http_code}",
                    "-H",
                    hdr,
                    "-H",
                    "Content-Type: application/x-amz-json-1.1",
                    "--data-binary",
                    data,
                    h2_cacert ? "--cacert" : url,
                    h2_cacert ? (char *)h2_cacert : NULL,
                    url,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 300000, &out, &err);
    ck_assert_msg(rc == 0 && out, "curl %s (%d): %s", target, rc, err);
    char *tail = strrchr(out, '\n');
    ck_assert_ptr_nonnull(tail);
    int ver = 0, code = 0;
    ck_assert_msg(sscanf(tail + 1, "%d %d", &ver, &code) == 2, "curl: %s", tail + 1);
    ck_assert_msg(ver == 2, "%s went over HTTP/%d, not HTTP/2", target, ver);
    *tail = 0;
    ck_assert_msg(code == want_status, "%s: HTTP %d: %.400s", target, code, out);
    fl_json_doc_t *d = NULL;
    fl_json_limits_t lim = {.max_depth = 16, .max_values = 100000, .max_string = 16u << 20};
    ck_assert_msg(fl_json_parse(fl_slice_str(out), &lim, &d, NULL) == 0, "%s: not JSON: %.300s",
                  target, out);
    free(out);
    free(err);
    return d;
}

static void write_body(const char *dir, const char *name, const char *json, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    ck_assert_int_eq(fl_test_write_file(path, json, strlen(json)), 0);
}

/* PutRecords of 5 MiB over HTTP/2 (h2_call's transport), read back byte
 * for byte; an error's JSON 1.1 shape. */
static void put_records_5mib(const fl_test_server_t *srv, char *dir)
{
    const fl_test_server_t s = *srv;
    char path[4096];

    write_body(dir, "create.json", "{\"StreamName\":\"big\",\"ShardCount\":1}", path, sizeof path);
    fl_json_free(h2_call(&s, "CreateStream", path, 200));

    /* 5 records of 1 MiB less their keys: 5 MiB in all, Kinesis' largest */
    enum { N = 5, REC = (1 << 20) - 8 };
    fl_buf_t body, b64[N];
    fl_buf_init(&body, 0);
    fl_buf_append_str(&body, "{\"StreamName\":\"big\",\"Records\":[");
    uint8_t *raw = malloc(REC);
    ck_assert_ptr_nonnull(raw);
    for (int i = 0; i < N; i++) {
        for (size_t off = 0; off < REC;) {
            ssize_t g = getrandom(raw + off, REC - off, 0);
            ck_assert(g > 0);
            off += (size_t)g;
        }
        fl_buf_init(&b64[i], 0);
        fl_base64_encode(&b64[i], fl_slice(raw, REC));
        fl_buf_printf(&body, "%s{\"PartitionKey\":\"key-%d\",\"Data\":\"", i ? "," : "", i);
        fl_buf_append(&body, b64[i].p, b64[i].n);
        fl_buf_append_str(&body, "\"}");
    }
    fl_buf_append_str(&body, "]}");
    free(raw);
    ck_assert_int_eq(body.err, 0);
    snprintf(path, sizeof path, "%s/put.json", dir);
    ck_assert_int_eq(fl_test_write_file(path, body.p, body.n), 0);
    fprintf(stderr, "PutRecords body: %zu bytes over h2c\n", body.n);
    fl_json_doc_t *put = h2_call(&s, "PutRecords", path, 200);
    int64_t failed = -1;
    ck_assert_int_eq(fl_json_int64(fl_json_get(fl_json_root(put), "FailedRecordCount"), &failed),
                     0);
    ck_assert_int_eq(failed, 0);
    fl_json_free(put);

    write_body(dir, "it.json",
               "{\"StreamName\":\"big\",\"ShardId\":\"shardId-000000000000\","
               "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
               path, sizeof path);
    fl_json_doc_t *it = h2_call(&s, "GetShardIterator", path, 200);
    const fl_json_t *itv = fl_json_get(fl_json_root(it), "ShardIterator");
    ck_assert_ptr_nonnull(itv);
    char get[2048];
    snprintf(get, sizeof get, "{\"ShardIterator\":\"%s\"}", itv->str);
    fl_json_free(it);
    write_body(dir, "get.json", get, path, sizeof path);
    fl_json_doc_t *got = h2_call(&s, "GetRecords", path, 200);
    const fl_json_t *recs = fl_json_get(fl_json_root(got), "Records");
    ck_assert_ptr_nonnull(recs);
    ck_assert_int_eq((int)recs->count, N);
    const fl_json_t *rec = recs->child;
    for (int i = 0; i < N; i++, rec = rec->next) {
        const fl_json_t *d = fl_json_get(rec, "Data");
        ck_assert_ptr_nonnull(d);
        ck_assert_msg(fl_slice_eq(fl_slice(d->str, d->len), fl_buf_slice(&b64[i])),
                      "record %d differs", i);
        fl_buf_free(&b64[i]);
    }
    fl_json_free(got);

    /* an error over h2: JSON 1.1's shape, status 400 */
    write_body(dir, "none.json", "{\"StreamName\":\"no-such\"}", path, sizeof path);
    fl_json_doc_t *e = h2_call(&s, "DescribeStreamSummary", path, 400);
    const fl_json_t *ty = fl_json_get(fl_json_root(e), "__type");
    ck_assert_msg(ty && ty->str && strcmp(ty->str, "ResourceNotFoundException") == 0, "no __type");
    fl_json_free(e);
    fl_buf_free(&body);
}

START_TEST(curl_h2_put_records_5mib)
{
    ck_assert_msg(fl_test_have("curl"), "curl is missing");
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, no_throttle);
    char *dir = fl_test_mkdtemp("h2body");
    put_records_5mib(&s, dir);
    fl_test_rmtree(dir);
    fl_test_server_stop_clean(&s);
}
END_TEST

/* The same over https://: curl --http2 negotiates h2 by ALPN. */
START_TEST(curl_tls_h2_put_records_5mib)
{
    ck_assert_msg(fl_test_have("curl"), "curl is missing");
    char *dir = fl_test_mkdtemp("h2tlsbody");
    char cert[4200], key[4200];
    fl_test_tls_cert(dir, cert, key, sizeof cert);
    char *extra[] = {"--records-throttle", "0", "--tls-cert", cert, "--tls-key", key, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    h2_cacert = cert;
    put_records_5mib(&s, dir);
    h2_cacert = NULL;
    fl_test_rmtree(dir);
    fl_test_server_stop_clean(&s);
}
END_TEST

/* Many streams at once on few connections (h2load, nghttp2's load tool):
 * 96 PutRecords of 150 kB each, 16 streams in flight on each of 2
 * connections, every one answered 200, and every record stored. */
static void h2load_uploads(char *const extra[], const char *conns)
{
    ck_assert_msg(fl_test_have("h2load"), "h2load is missing (nghttp2-client, scripts/deps.sh)");
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    char *dir = fl_test_mkdtemp("h2load");
    char path[4096];
    write_body(dir, "create.json", "{\"StreamName\":\"many\",\"ShardCount\":2}", path, sizeof path);
    fl_json_free(h2_call(&s, "CreateStream", path, 200));

    enum { REC = 150000, N = 96 };
    uint8_t *raw = malloc(REC);
    ck_assert_ptr_nonnull(raw);
    memset(raw, 'r', REC);
    fl_buf_t body;
    fl_buf_init(&body, 0);
    fl_buf_append_str(&body,
                      "{\"StreamName\":\"many\",\"Records\":[{\"PartitionKey\":\"k\",\"Data\":\"");
    fl_base64_encode(&body, fl_slice(raw, REC));
    fl_buf_append_str(&body, "\"}]}");
    free(raw);
    char put[4200], url[96];
    snprintf(put, sizeof put, "%s/put.json", dir);
    ck_assert_int_eq(fl_test_write_file(put, body.p, body.n), 0);
    fl_buf_free(&body);
    snprintf(url, sizeof url, "%s/", s.url);
    char *args[] = {"h2load",
                    "-n",
                    "96",
                    "-c",
                    (char *)conns,
                    "-m",
                    "16",
                    "-d",
                    put,
                    "-H",
                    "x-amz-target: Kinesis_20131202.PutRecords",
                    "-H",
                    "content-type: application/x-amz-json-1.1",
                    url,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 300000, &out, &err);
    ck_assert_msg(rc == 0 && out, "h2load (%d): %s %s", rc, out, err);
    ck_assert_msg(strstr(out, "96 succeeded, 0 failed, 0 errored") && strstr(out, "96 2xx"),
                  "h2load: %s", out);
    free(out);
    free(err);

    /* every record is there: the two shards hold 96 */
    int total = 0;
    for (int sh = 0; sh < 2; sh++) {
        char it[512];
        snprintf(it, sizeof it,
                 "{\"StreamName\":\"many\",\"ShardId\":\"shardId-00000000000%d\","
                 "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
                 sh);
        write_body(dir, "it.json", it, path, sizeof path);
        fl_json_doc_t *d = h2_call(&s, "GetShardIterator", path, 200);
        char get[2048];
        snprintf(get, sizeof get, "{\"ShardIterator\":\"%s\"}",
                 fl_json_get(fl_json_root(d), "ShardIterator")->str);
        fl_json_free(d);
        /* one GetRecords returns at most 10 MiB: read to the end */
        for (int calls = 0; calls < 50; calls++) {
            write_body(dir, "get.json", get, path, sizeof path);
            d = h2_call(&s, "GetRecords", path, 200);
            size_t got = fl_json_get(fl_json_root(d), "Records")->count;
            total += (int)got;
            snprintf(get, sizeof get, "{\"ShardIterator\":\"%s\"}",
                     fl_json_get(fl_json_root(d), "NextShardIterator")->str);
            fl_json_free(d);
            if (got == 0)
                break;
        }
    }
    ck_assert_int_eq(total, N);
    fl_test_rmtree(dir);
    fl_test_server_stop_clean(&s);
}

START_TEST(h2load_multiplexed_uploads)
{
    h2load_uploads(no_throttle, "2");
    /* on two loops at once (each stream's bytes went through one buffer
     * that both loop threads wrote: another stream's bytes reached the
     * HTTP/1.1 side, as failed requests) */
    char *const two_loops[] = {"--records-throttle", "0", "--loops", "2", NULL};
    h2load_uploads(two_loops, "4");
}
END_TEST

START_TEST(http1_still_served_beside_h2)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char url[96];
    snprintf(url, sizeof url, "%s/healthz", s.url);
    char *a1[] = {
        "curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
        url,    NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(a1, 60000, &out, NULL), 0);
    ck_assert_msg(out && strcmp(out, "1.1 200") == 0, "HTTP/1.1: %s", out);
    free(out);
    char *a2[] = {"curl",      "-sS", "--http2-prior-knowledge",      "-o",
                  "/dev/null", "-w",  "%{http_version} %{http_code}", url,
                  NULL};
    ck_assert_int_eq(fl_test_run(a2, 60000, &out, NULL), 0);
    ck_assert_msg(out && strcmp(out, "2 200") == 0, "HTTP/2: %s", out);
    free(out);
    fl_test_server_stop_clean(&s);
}
END_TEST

/* GET /healthz over https with these curl flags: "<http_version> <code>". */
static char *tls_get(int port, const char *cacert, const char *flag)
{
    char url[96];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", port);
    char *args[] = {"curl", "-sS",        "--cacert", (char *)cacert,
                    "-o",   "/dev/null",  "-w",       "%{http_version} %{http_code}",
                    url,    (char *)flag, NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(args, 60000, &out, &err);
    ck_assert_msg(rc == 0, "curl %s: %s", flag ? flag : "", err);
    free(err);
    return out;
}

/* One TLS port: HTTP/2 for a client that offers h2 (curl --http2, and
 * curl's default over https), HTTP/1.1 for one that asks for it; h2c in
 * plain text there is still refused. */
START_TEST(tls_serves_h2_and_http1_on_one_port)
{
    char *dir = fl_test_mkdtemp("h2tls");
    char cert[4200], key[4200];
    fl_test_tls_cert(dir, cert, key, sizeof cert);
    char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, extra);
    char *out = tls_get(s.port, cert, "--http2");
    ck_assert_msg(strcmp(out, "2 200") == 0, "--http2 over TLS: %s", out);
    free(out);
    out = tls_get(s.port, cert, NULL);
    ck_assert_msg(strcmp(out, "2 200") == 0, "curl's default over TLS: %s", out);
    free(out);
    out = tls_get(s.port, cert, "--http1.1");
    ck_assert_msg(strcmp(out, "1.1 200") == 0, "--http1.1 over TLS: %s", out);
    free(out);
    /* the h2c preface in plain text: the plain 400 it always got */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    ck_assert_int_eq(send(fd, pri, sizeof pri - 1, MSG_NOSIGNAL), (ssize_t)sizeof pri - 1);
    char resp[1024];
    size_t got = 0;
    for (ssize_t n;
         got < sizeof resp - 1 && (n = recv(fd, resp + got, sizeof resp - 1 - got, 0)) > 0;)
        got += (size_t)n;
    resp[got] = 0;
    close(fd);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 400", 12) == 0 && strstr(resp, "this port speaks TLS"),
                  "h2c on the TLS port: %s", resp);
    fl_test_server_stop_clean(&s);
    fl_test_rmtree(dir);
}
END_TEST

/* ---- raw HTTP/2 frames, for what no client tool does on purpose ---- */

/* A connection to the server's plain port with the h2c preface and an
 * empty SETTINGS sent (60 s receive timeout). */
static int h2_raw_open(const fl_test_server_t *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                              "\x00\x00\x00\x04\x00\x00\x00\x00\x00"; /* SETTINGS */
    ck_assert_int_eq(send(fd, pri, sizeof pri - 1, MSG_NOSIGNAL), (ssize_t)sizeof pri - 1);
    return fd;
}

/* An HPACK literal (not indexed, name from the static table: 1
 * :authority, 4 :path) with a string of n bytes, no Huffman. */
static void hpack_literal(fl_buf_t *b, uint8_t name_index, const char *v, size_t n)
{
    fl_buf_u8(b, name_index); /* 0000xxxx: literal without indexing */
    if (n < 127) {
        fl_buf_u8(b, (uint8_t)n);
    } else {
        fl_buf_u8(b, 127);
        size_t rest = n - 127;
        for (; rest >= 128; rest >>= 7)
            fl_buf_u8(b, (uint8_t)(0x80 | (rest & 0x7f)));
        fl_buf_u8(b, (uint8_t)rest);
    }
    fl_buf_append(b, v, n);
}

/* HEADERS on stream 1 for GET path, END_HEADERS but not END_STREAM: the
 * client keeps its side open. */
static void h2_raw_get_open(int fd, const char *path)
{
    fl_buf_t blk, f;
    fl_buf_init(&blk, 0);
    fl_buf_u8(&blk, 0x82); /* :method GET */
    fl_buf_u8(&blk, 0x86); /* :scheme http */
    hpack_literal(&blk, 4, path, strlen(path));
    hpack_literal(&blk, 1, "127.0.0.1", 9);
    fl_buf_init(&f, 0);
    uint8_t hd[9] = {
        (uint8_t)(blk.n >> 16), (uint8_t)(blk.n >> 8), (uint8_t)blk.n, 0x1, 0x4, 0, 0, 0, 1};
    fl_buf_append(&f, hd, 9);
    fl_buf_append(&f, blk.p, blk.n);
    ck_assert_int_eq(send(fd, f.p, f.n, MSG_NOSIGNAL), (ssize_t)f.n);
    fl_buf_free(&blk);
    fl_buf_free(&f);
}

/* Read frames until stream 1 is reset (its error code into *code) or the
 * connection ends (-1). *ended gets whether an END_STREAM on stream 1
 * came first. */
static int h2_raw_until_reset(int fd, uint32_t *code, int *ended)
{
    *ended = 0;
    for (int frames = 0; frames < 1000; frames++) {
        uint8_t hd[9];
        size_t got = 0;
        while (got < 9) {
            ssize_t n = recv(fd, hd + got, 9 - got, 0);
            if (n <= 0)
                return -1;
            got += (size_t)n;
        }
        size_t len = ((size_t)hd[0] << 16) | ((size_t)hd[1] << 8) | hd[2];
        uint32_t sid = ((uint32_t)(hd[5] & 0x7f) << 24) | ((uint32_t)hd[6] << 16) |
                       ((uint32_t)hd[7] << 8) | hd[8];
        uint8_t *pl = malloc(len + 1);
        for (got = 0; got < len;) {
            ssize_t n = recv(fd, pl + got, len - got, 0);
            if (n <= 0) {
                free(pl);
                return -1;
            }
            got += (size_t)n;
        }
        if (sid == 1 && (hd[3] == 0x0 || hd[3] == 0x1) && (hd[4] & 0x1))
            *ended = 1;
        if (sid == 1 && hd[3] == 0x3 && len == 4) {
            *code =
                ((uint32_t)pl[0] << 24) | ((uint32_t)pl[1] << 16) | ((uint32_t)pl[2] << 8) | pl[3];
            free(pl);
            return 0;
        }
        free(pl);
    }
    return -1;
}

/* A stream whose answer is complete while the client has not ended its
 * side (RFC 9113 8.1) is closed by RST_STREAM NO_ERROR after the answer:
 * it used to stay open, and with it the connection (past --idle-timeout
 * and counted against --max-connections) — for an answered request and
 * for a head refused with 431 alike. */
START_TEST(an_answered_stream_is_closed_though_the_client_left_it_open)
{
    fl_test_server_t s;
    fl_test_server_start(&s, NULL, NULL);
    char longpath[5001];
    longpath[0] = '/';
    memset(longpath + 1, 'p', sizeof longpath - 2);
    longpath[sizeof longpath - 1] = 0;
    const char *paths[] = {"/healthz", longpath};
    for (int i = 0; i < 2; i++) {
        int fd = h2_raw_open(&s);
        h2_raw_get_open(fd, paths[i]);
        uint32_t code = 99;
        int ended = 0;
        ck_assert_msg(h2_raw_until_reset(fd, &code, &ended) == 0, "%s: stream 1 was never reset",
                      i ? "a 5000-byte path" : "/healthz");
        ck_assert_msg(ended, "the answer did not end before the reset");
        ck_assert_int_eq(code, 0); /* NO_ERROR */
        close(fd);
    }
    fl_test_server_stop_clean(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("records_h2");
    TCase *tc = tcase_create("h2");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, http1_still_served_beside_h2);
    tcase_add_test(tc, curl_h2_put_records_5mib);
    tcase_add_test(tc, h2load_multiplexed_uploads);
    tcase_add_test(tc, an_answered_stream_is_closed_though_the_client_left_it_open);
    tcase_add_test(tc, js_sdk_v3_over_h2);
    tcase_add_test(tc, js_sdk_v3_signed_over_h2);
    suite_add_tcase(su, tc);
    tc = tcase_create("tls");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, tls_serves_h2_and_http1_on_one_port);
    tcase_add_test(tc, curl_tls_h2_put_records_5mib);
    tcase_add_test(tc, js_sdk_v3_signed_over_tls_h2);
    suite_add_tcase(su, tc);
    return fl_test_main(su);
}
