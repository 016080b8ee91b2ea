/*
 * server/auth/keys_cli.c — `framelogd keys ...`: access keys in a data dir's
 * catalog, while the server runs or not (storage/access_keys.h).
 *
 *   keys create NAME [--policy FILE] [--expires DURATION [--temporary]]
 *   keys list
 *   keys revoke ID
 *   keys policy ID FILE
 * each with --data-dir DIR (default ./framelog-data) and optionally
 * --master-key-file PATH (default DIR/master.key).
 *
 * create prints the secret once, as `aws iam create-access-key` does:
 *   {"AccessKey":{"UserName","AccessKeyId","Status","SecretAccessKey","CreateDate"}}
 * or, with --temporary, as `aws sts get-session-token` does:
 *   {"Credentials":{"AccessKeyId","SecretAccessKey","SessionToken","Expiration"}}
 * A key made without --policy may do everything (its policy says so:
 * Allow * on *). DURATION is seconds, or a number with s, m, h or d;
 * --temporary defaults to 12h, as STS does.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/awstime.h"
#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "common/json.h"
#include "server/auth/auth.h"
#include "server/auth/policy.h"
#include "storage/access_keys.h"

#define ADMIN_POLICY                                                                               \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\","           \
    "\"Resource\":\"*\"}]}"

static int usage(void)
{
    fprintf(stderr, "usage: framelogd keys create NAME [--policy FILE] [--expires DURATION] "
                    "[--temporary]\n"
                    "       framelogd keys list\n"
                    "       framelogd keys revoke ID\n"
                    "       framelogd keys policy ID FILE\n"
                    "  each with --data-dir DIR [--master-key-file PATH]\n");
    return 2;
}

/* n random characters of alphabet. */
static int random_text(char *out, size_t n, const char *alphabet)
{
    size_t al = strlen(alphabet);
    uint8_t b[128];
    if (n > sizeof b || RAND_bytes(b, (int)n) != 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[b[i] % al]; /* 256 % al small bias: 32 and 64 divide 256 */
    out[n] = 0;
    return 0;
}

static int parse_duration(const char *s, int64_t *secs)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!end || end == s || v <= 0)
        return -1;
    int64_t mul = 1;
    if (*end == 'm')
        mul = 60;
    else if (*end == 'h')
        mul = 3600;
    else if (*end == 'd')
        mul = 86400;
    else if (*end != 's' && *end != 0)
        return -1;
    if (*end && end[1])
        return -1;
    if (v > 3650LL * 86400 / mul)
        return -1;
    *secs = v * mul;
    return 0;
}

/* The whole of a small file into b (its cap): 0 or a negative code. */
static int read_file(const char *path, fl_buf_t *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && !b->err)
        fl_buf_append(b, chunk, n);
    int rc = ferror(f) ? FL_EIO : b->err ? FL_ELIMIT : 0;
    fclose(f);
    return rc;
}

/* Read a policy file and check that it parses: malloc'd text or NULL. */
static char *read_policy(const char *path)
{
    fl_buf_t b;
    fl_buf_init(&b, FL_POLICY_MAX_BYTES + 1);
    int rc = read_file(path, &b);
    if (rc) {
        fprintf(stderr, "framelogd keys: %s: %s\n", path, fl_strerror(rc));
        fl_buf_free(&b);
        return NULL;
    }
    fl_policy_t *p = NULL;
    char why[256];
    if (fl_policy_parse(fl_buf_slice(&b), &p, why, sizeof why) != 0) {
        fprintf(stderr, "framelogd keys: %s: %s\n", path, why);
        fl_buf_free(&b);
        return NULL;
    }
    fl_policy_free(p);
    char *s = malloc(b.n + 1);
    if (s) {
        memcpy(s, b.p, b.n);
        s[b.n] = 0;
    }
    fl_buf_free(&b);
    return s;
}

static void iso(int64_t ms, char out[40])
{
    char t[FL_AWSTIME_ISO8601_LEN + 1];
    fl_awstime_iso8601(ms * 1000000, t);
    /* "2026-12-04T16:00:00.000Z" -> "2026-12-04T16:00:00+00:00", as the AWS CLI prints */
    snprintf(out, 40, "%.19s+00:00", t);
}

static void json_member(fl_buf_t *b, const char *name, const char *value, int last)
{
    fl_json_write_string(b, fl_slice_str(name));
    fl_buf_append_str(b, ": ");
    fl_json_write_string(b, fl_slice_str(value));
    fl_buf_append_str(b, last ? "\n" : ",\n");
}

static int cmd_create(fl_akeys_t *db, const char *name, const char *policy_file,
                      const char *expires, int temporary)
{
    fl_akey_t k;
    memset(&k, 0, sizeof k);
    char token[65] = "";
    int64_t dur = 0;
    if (strlen(name) == 0 || strlen(name) > FL_AKEY_USER_MAX) {
        fprintf(stderr, "framelogd keys: NAME is 1 to %d characters\n", FL_AKEY_USER_MAX);
        return 2;
    }
    if (expires && parse_duration(expires, &dur) != 0) {
        fprintf(stderr, "framelogd keys: --expires %s: a duration like 900, 15m, 12h, 7d\n",
                expires);
        return 2;
    }
    if (temporary && !expires)
        dur = 12 * 3600;
    snprintf(k.user, sizeof k.user, "%s", name);
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    memcpy(k.id, temporary ? "FLAS" : "FLAK", 4);
    if (random_text(k.id + 4, 16, b32) || random_text(k.secret, FL_AKEY_SECRET_LEN, b64) ||
        (temporary && random_text(token, 64, alnum))) {
        fprintf(stderr, "framelogd keys: no randomness\n");
        return 1;
    }
    k.active = 1;
    k.created_ms = fl_time_real_ns() / 1000000;
    k.expires_ms = dur ? k.created_ms + dur * 1000 : 0;
    if (temporary) {
        unsigned int dl = 32;
        EVP_Digest(token, 64, k.token_hash, &dl, EVP_sha256(), NULL);
        k.has_token = 1;
    }
    char *pol = policy_file ? read_policy(policy_file) : strdup(ADMIN_POLICY);
    if (!pol)
        return 1;
    k.policy = pol;
    int rc = fl_akeys_create(db, &k);
    free(pol);
    if (rc) {
        fprintf(stderr, "framelogd keys: cannot store the key: %s\n", fl_strerror(rc));
        return 1;
    }
    char created[40], exp[40];
    iso(k.created_ms, created);
    fl_buf_t b;
    fl_buf_init(&b, 0);
    if (temporary) {
        iso(k.expires_ms, exp);
        fl_buf_append_str(&b, "{\n\"Credentials\": {\n");
        json_member(&b, "AccessKeyId", k.id, 0);
        json_member(&b, "SecretAccessKey", k.secret, 0);
        json_member(&b, "SessionToken", token, 0);
        json_member(&b, "Expiration", exp, 1);
    } else {
        fl_buf_append_str(&b, "{\n\"AccessKey\": {\n");
        json_member(&b, "UserName", k.user, 0);
        json_member(&b, "AccessKeyId", k.id, 0);
        json_member(&b, "Status", "Active", 0);
        json_member(&b, "SecretAccessKey", k.secret, 0);
        if (k.expires_ms) {
            iso(k.expires_ms, exp);
            json_member(&b, "Expiration", exp, 0);
        }
        json_member(&b, "CreateDate", created, 1);
    }
    fl_buf_append_str(&b, "}\n}\n");
    fwrite(b.p, 1, b.n, stdout);
    fl_buf_free(&b);
    return 0;
}

static int cmd_list(fl_akeys_t *db)
{
    fl_akey_t *v = NULL;
    size_t n = 0;
    int rc = fl_akeys_list(db, 0, &v, &n);
    if (rc) {
        fprintf(stderr, "framelogd keys: %s\n", fl_strerror(rc));
        return 1;
    }
    fl_buf_t b;
    fl_buf_init(&b, 0);
    fl_buf_append_str(&b, "{\n\"AccessKeyMetadata\": [");
    for (size_t i = 0; i < n; i++) {
        char created[40], exp[40];
        iso(v[i].created_ms, created);
        fl_buf_append_str(&b, i ? ",\n{\n" : "\n{\n");
        json_member(&b, "UserName", v[i].user, 0);
        json_member(&b, "AccessKeyId", v[i].id, 0);
        json_member(&b, "Status", v[i].active ? "Active" : "Inactive", 0);
        if (v[i].expires_ms) {
            iso(v[i].expires_ms, exp);
            json_member(&b, "Expiration", exp, 0);
        }
        json_member(&b, "CreateDate", created, 0);
        fl_json_write_string(&b, fl_slice_str("Policy"));
        fl_buf_append_str(&b, ": ");
        fl_buf_append_str(&b, v[i].policy ? v[i].policy : "null");
        fl_buf_append_str(&b, "\n}");
    }
    fl_buf_append_str(&b, "\n]\n}\n");
    fwrite(b.p, 1, b.n, stdout);
    fl_buf_free(&b);
    fl_akeys_list_free(v, n);
    return 0;
}

int fl_auth_keys_main(int argc, char **argv)
{
    const char *dir = "./framelog-data", *mk = NULL, *policy = NULL, *expires = NULL;
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0, temporary = 0;
    fl_diag_set_level(FL_DIAG_WARN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--data-dir") == 0 && next)
            dir = argv[++i];
        else if (strcmp(a, "--master-key-file") == 0 && next)
            mk = argv[++i];
        else if (strcmp(a, "--policy") == 0 && next)
            policy = argv[++i];
        else if (strcmp(a, "--expires") == 0 && next)
            expires = argv[++i];
        else if (strcmp(a, "--temporary") == 0)
            temporary = 1;
        else if (a[0] == '-' || npos == 3)
            return usage();
        else
            pos[npos++] = a;
    }
    if (npos == 0)
        return usage();
    const char *cmd = pos[0];
    int want = strcmp(cmd, "create") == 0   ? 2
               : strcmp(cmd, "list") == 0   ? 1
               : strcmp(cmd, "revoke") == 0 ? 2
               : strcmp(cmd, "policy") == 0 ? 3
                                            : -1;
    if (want != npos || ((policy || expires || temporary) && strcmp(cmd, "create") != 0))
        return usage();
    fl_akeys_t *db = NULL;
    int rc = fl_akeys_open(dir, mk, &db);
    if (rc) {
        fprintf(stderr, "framelogd keys: data dir %s: %s\n", dir, fl_strerror(rc));
        return 1;
    }
    int code = 0;
    if (strcmp(cmd, "create") == 0) {
        code = cmd_create(db, pos[1], policy, expires, temporary);
    } else if (strcmp(cmd, "list") == 0) {
        code = cmd_list(db);
    } else if (strcmp(cmd, "revoke") == 0) {
        rc = fl_akeys_set_active(db, pos[1], 0);
        if (rc) {
            fprintf(stderr, "framelogd keys: %s: %s\n", pos[1],
                    rc == FL_ENOTFOUND ? "no such access key" : fl_strerror(rc));
            code = 1;
        }
    } else {
        char *text = read_policy(pos[2]);
        rc = text ? fl_akeys_set_policy(db, pos[1], text) : FL_EMALFORMED;
        if (text && rc) {
            fprintf(stderr, "framelogd keys: %s: %s\n", pos[1],
                    rc == FL_ENOTFOUND ? "no such access key" : fl_strerror(rc));
        }
        code = rc ? 1 : 0;
        free(text);
    }
    fl_akeys_close(db);
    return code;
}
