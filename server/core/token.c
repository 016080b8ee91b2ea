/*
 * server/core/token.c — see token.h.
 *
 * The key file (`<data-dir>/server.key`): "FLTK" (4), version 1 (1), three
 * zero bytes, the 32-byte key; mode 0600; written to a temporary file,
 * fsynced, renamed and the directory fsynced, so a crash leaves the old key
 * or the new one, never half of one.
 */
#include "server/core/token.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/diag.h"
#include "common/error.h"
#include "server/core/server_internal.h"

#define KEY_FILE_BYTES (8 + FL_TOKEN_KEY_BYTES)
#define MAC_BYTES      32
#define HEAD_BYTES     10

static void mac(const uint8_t key[FL_TOKEN_KEY_BYTES], const uint8_t *p, size_t n,
                uint8_t out[MAC_BYTES])
{
    unsigned int len = MAC_BYTES;
    HMAC(EVP_sha256(), key, FL_TOKEN_KEY_BYTES, p, n, out, &len);
}

const uint8_t *fl_server_token_key(const struct fl_server *s)
{
    return s->token_key;
}

void fl_token_subkey(const uint8_t key[FL_TOKEN_KEY_BYTES], const char *label,
                     uint8_t out[FL_TOKEN_KEY_BYTES])
{
    mac(key, (const uint8_t *)label, strlen(label), out);
}

int fl_token_seal(const uint8_t key[FL_TOKEN_KEY_BYTES], uint8_t kind, fl_slice_t payload,
                  int64_t expires_ms, fl_buf_t *out)
{
    if (payload.n > FL_TOKEN_MAX_PAYLOAD)
        return FL_ELIMIT;
    uint8_t raw[HEAD_BYTES + FL_TOKEN_MAX_PAYLOAD + MAC_BYTES];
    raw[0] = FL_TOKEN_VERSION;
    raw[1] = kind;
    fl_store_be64(raw + 2, (uint64_t)expires_ms);
    memcpy(raw + HEAD_BYTES, payload.p, payload.n);
    size_t n = HEAD_BYTES + payload.n;
    mac(key, raw, n, raw + n);
    n += MAC_BYTES;
    fl_base64url_encode(out, fl_slice(raw, n)); /* safe in a URL's query as it is */
    fl_buf_u8(out, 0);
    if (out->err)
        return FL_ENOMEM;
    out->n--; /* the NUL is there, not counted */
    return 0;
}

int fl_token_open(const uint8_t key[FL_TOKEN_KEY_BYTES], uint8_t kind, fl_slice_t text,
                  int64_t now_ms, fl_buf_t *out)
{
    enum { MAX_RAW = HEAD_BYTES + FL_TOKEN_MAX_PAYLOAD + MAC_BYTES };
    if (text.n == 0 || text.n > (MAX_RAW * 4 + 2) / 3)
        return FL_EMALFORMED;
    fl_buf_t raw;
    fl_buf_init(&raw, MAX_RAW);
    int rc = fl_base64url_decode(&raw, text);
    if (rc || raw.n < HEAD_BYTES + MAC_BYTES || raw.p[0] != FL_TOKEN_VERSION) {
        fl_buf_free(&raw);
        return FL_EMALFORMED;
    }
    uint8_t want[MAC_BYTES];
    size_t body = raw.n - MAC_BYTES;
    mac(key, raw.p, body, want);
    if (CRYPTO_memcmp(want, raw.p + body, MAC_BYTES) != 0 || raw.p[1] != kind) {
        fl_buf_free(&raw);
        return FL_EMALFORMED;
    }
    int64_t exp = (int64_t)fl_load_be64(raw.p + 2);
    fl_buf_reset(out);
    fl_buf_append(out, raw.p + HEAD_BYTES, body - HEAD_BYTES);
    fl_buf_free(&raw);
    if (out->err)
        return FL_ENOMEM;
    return now_ms > exp ? FL_EEXPIRED : 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int fl_token_key_load(const char *data_dir, uint8_t key[FL_TOKEN_KEY_BYTES], char *err,
                      size_t errlen)
{
    char path[4200], tmp[4220];
    snprintf(path, sizeof path, "%s/server.key", data_dir);
    uint8_t b[KEY_FILE_BYTES];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        ssize_t n = fstat(fd, &st) == 0 ? read(fd, b, sizeof b) : -1;
        close(fd);
        if (n != (ssize_t)sizeof b || memcmp(b, "FLTK", 4) != 0 || b[4] != 1) {
            snprintf(err, errlen, "token key %s is not a framelog token key (damaged?)", path);
            return FL_ECORRUPT;
        }
        if (st.st_mode & 077) {
            snprintf(err, errlen, "token key %s: mode %03o lets others read it; chmod 600", path,
                     (unsigned)(st.st_mode & 0777));
            return FL_EINVAL;
        }
        memcpy(key, b + 8, FL_TOKEN_KEY_BYTES);
        OPENSSL_cleanse(b, sizeof b);
        return 0;
    }
    if (errno != ENOENT) {
        int rc = -errno;
        snprintf(err, errlen, "cannot read token key %s: %s", path, fl_strerror(rc));
        return rc;
    }
    memset(b, 0, sizeof b);
    memcpy(b, "FLTK", 4);
    b[4] = 1;
    if (getrandom(b + 8, FL_TOKEN_KEY_BYTES, 0) != FL_TOKEN_KEY_BYTES) {
        snprintf(err, errlen, "no randomness for the token key");
        return FL_EIO;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int rc = 0;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, b, sizeof b) != (ssize_t)sizeof b || fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (!rc)
        rc = fsync_dir(data_dir);
    if (rc) {
        unlink(tmp);
        OPENSSL_cleanse(b, sizeof b);
        snprintf(err, errlen, "cannot create token key %s: %s", path, fl_strerror(rc));
        return rc;
    }
    memcpy(key, b + 8, FL_TOKEN_KEY_BYTES);
    OPENSSL_cleanse(b, sizeof b);
    fl_info("token key %s created", path);
    return 0;
}
