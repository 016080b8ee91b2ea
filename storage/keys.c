/*
 * storage/keys.c — master keys and per-log data keys.
 *
 * Each log has a random 256-bit data key that seals its chunks. The data key
 * is stored only wrapped (AES-256-GCM) by a master key, in the catalog; the
 * master key lives in a file of mode 0600 that is created on first open.
 * Deleting a log removes its wrapped key from the catalog first, so its
 * segment bytes are unreadable even before they are unlinked.
 *
 * Master key file (44 bytes, little-endian):
 *   0   4  magic "FLMK"
 *   4   1  version = 1
 *   5   3  zero
 *   8  32  key
 *  40   4  CRC-32C of bytes 0..39
 * A file readable by group or others is refused (-EACCES).
 *
 * Wrapped data key (FL_WRAPPED_KEY_LEN = 61 bytes):
 *   0   1  version = 1
 *   1  12  nonce (random; a master key wraps few keys, far below the 2^32
 *          random-nonce bound)
 *  13  32  ciphertext of the data key
 *  45  16  GCM tag
 * AAD = "FLDK" || log id (u64 LE) || master key id bytes, so a wrapped key
 * cannot be moved to another log or presented under another key id.
 *
 * The store's master keys (s->mkeys, by id; "default" first) are loaded at
 * open and when fl_store_add_master_key registers one, under cat_mu. The
 * default key may instead be given by the caller as bytes (read from an
 * environment variable or a descriptor: fl_master_key_parse takes 64 hex
 * digits, 44 characters of base64, or a key file's 44 bytes).
 *
 * Key check (61 bytes, in master_key_checks.check_blob): a wrapped data key
 * of 32 zero bytes for log id 0 (no log has id 0), so opening a data dir
 * with another master key fails at once with a clear reason instead of
 * later, per stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/bytes.h"
#include "common/diag.h"
#include "storage_internal.h"

#define MK_LEN 44

int fl_keys_random(uint8_t *p, size_t n)
{
    return RAND_bytes(p, (int)n) == 1 ? 0 : FL_ECRYPTO;
}

static int mk_parse(const uint8_t *b, size_t n, const char *path, uint8_t key[32])
{
    if (n != MK_LEN || memcmp(b, "FLMK", 4) != 0 || fl_load_le32(b + 40) != fl_crc32c(b, 40)) {
        fl_error("master key %s: not a framelog master key file (damaged?)", path);
        return FL_ECORRUPT;
    }
    if (b[4] != 1) {
        fl_error("master key %s: unknown version %u", path, b[4]);
        return FL_EVERSION;
    }
    memcpy(key, b + 8, 32);
    return 0;
}

int fl_keys_load_or_create(const fl_store_io_t *io, const char *path, uint8_t key[32])
{
    uint8_t b[MK_LEN + 1];
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd >= 0) {
        struct stat st;
        int rc = 0;
        if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
            fl_error("master key %s: mode %03o lets others read it; chmod 600", path,
                     (unsigned)(st.st_mode & 0777));
            rc = -EACCES;
        }
        ssize_t r = rc == 0 ? io->pread(io->ctx, fd, b, sizeof b, 0) : 0;
        io->close(io->ctx, fd);
        if (rc == 0 && r < 0)
            rc = (int)r;
        if (rc == 0)
            rc = mk_parse(b, (size_t)r, path, key);
        OPENSSL_cleanse(b, sizeof b);
        return rc;
    }
    if (fd != -ENOENT)
        return fd;
    /* First open: create with O_EXCL so two processes never both create. */
    memcpy(b, "FLMK", 4);
    b[4] = 1;
    b[5] = b[6] = b[7] = 0;
    if (fl_keys_random(b + 8, 32) < 0)
        return FL_ECRYPTO;
    fl_store_le32(b + 40, fl_crc32c(b, 40));
    fd = io->open(io->ctx, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fd;
    int rc = fl_io_write_all(io, fd, b, MK_LEN, 0);
    if (rc == 0)
        rc = io->fsync(io->ctx, fd);
    io->close(io->ctx, fd);
    if (rc == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
        rc = fl_io_fsync_dir(io, dir);
    }
    if (rc == 0) {
        memcpy(key, b + 8, 32);
        fl_info("master key %s created", path);
    } else {
        io->unlink(io->ctx, path);
    }
    OPENSSL_cleanse(b, sizeof b);
    return rc;
}

static void wrap_aad(uint8_t *aad, size_t *n, uint64_t log_id, const char *key_id)
{
    size_t kl = strlen(key_id);
    if (kl > 63)
        kl = 63;
    memcpy(aad, "FLDK", 4);
    fl_store_le64(aad + 4, log_id);
    memcpy(aad + 12, key_id, kl);
    *n = 12 + kl;
}

int fl_keys_wrap(const uint8_t master[32], const char *key_id, uint64_t log_id,
                 const uint8_t dk[32], uint8_t out[FL_WRAPPED_KEY_LEN])
{
    uint8_t aad[80];
    size_t aadn;
    int len, rc = FL_ECRYPTO;
    wrap_aad(aad, &aadn, log_id, key_id);
    out[0] = 1;
    if (fl_keys_random(out + 1, 12) < 0)
        return FL_ECRYPTO;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return FL_ENOMEM;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, master, out + 1) == 1 &&
        EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadn) == 1 &&
        EVP_EncryptUpdate(c, out + 13, &len, dk, 32) == 1 &&
        EVP_EncryptFinal_ex(c, out + 13 + len, &len) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + 45) == 1)
        rc = 0;
    EVP_CIPHER_CTX_free(c);
    return rc;
}

int fl_keys_unwrap(const uint8_t master[32], const char *key_id, uint64_t log_id,
                   const uint8_t *wrapped, size_t n, uint8_t dk[32])
{
    if (n != FL_WRAPPED_KEY_LEN)
        return FL_ECORRUPT;
    if (wrapped[0] != 1)
        return FL_EVERSION;
    uint8_t aad[80], tag[16];
    size_t aadn;
    int len, rc = FL_ECRYPTO;
    wrap_aad(aad, &aadn, log_id, key_id);
    memcpy(tag, wrapped + 45, 16);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return FL_ENOMEM;
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, master, wrapped + 1) == 1 &&
        EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadn) == 1 &&
        EVP_DecryptUpdate(c, dk, &len, wrapped + 13, 32) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
        EVP_DecryptFinal_ex(c, dk + len, &len) == 1)
        rc = 0;
    EVP_CIPHER_CTX_free(c);
    if (rc < 0)
        OPENSSL_cleanse(dk, 32);
    return rc;
}

void fl_keys_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

/* ---- the store's master keys ---- */

fl_master_key_t *fl_keys_master_find(fl_store_t *s, const char *id)
{
    for (size_t i = 0; i < s->nmkeys; i++)
        if (strcmp(s->mkeys[i].id, id) == 0)
            return &s->mkeys[i];
    return NULL;
}

int fl_keys_master_set(fl_store_t *s, const char *id, const uint8_t k[32])
{
    if (strlen(id) == 0 || strlen(id) >= sizeof s->mkeys[0].id)
        return FL_EINVAL;
    fl_master_key_t *m = fl_keys_master_find(s, id);
    if (!m) {
        fl_master_key_t *v = realloc(s->mkeys, (s->nmkeys + 1) * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        s->mkeys = v;
        m = &v[s->nmkeys++];
        snprintf(m->id, sizeof m->id, "%s", id);
    }
    memcpy(m->key, k, 32);
    return 0;
}

int fl_keys_master_load(fl_store_t *s, const char *id, const char *path)
{
    if (strlen(id) == 0 || strlen(id) >= sizeof s->mkeys[0].id)
        return FL_EINVAL;
    uint8_t k[32];
    int rc = fl_keys_load_or_create(&s->io, path, k);
    if (rc < 0) {
        fl_error("master key %s (%s): %s", id, path, fl_strerror(rc));
        return rc;
    }
    rc = fl_keys_master_set(s, id, k);
    fl_keys_wipe(k, sizeof k);
    return rc;
}

/* ---- master keys given by the caller (environment, descriptor) ---- */

int fl_master_key_parse(const void *buf, size_t n, uint8_t key[32])
{
    const uint8_t *b = buf;
    if (n == MK_LEN && memcmp(b, "FLMK", 4) == 0)
        return mk_parse(b, n, "(given)", key);
    while (n && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r'))
        b++, n--;
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t' || b[n - 1] == '\n' || b[n - 1] == '\r'))
        n--;
    if (n == 64) {
        int ok = 1;
        for (size_t i = 0; i < 32 && ok; i++) {
            int hi = fl_hex_digit(b[2 * i]), lo = fl_hex_digit(b[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            key[i] = (uint8_t)(hi << 4 | lo);
        }
        if (ok)
            return 0;
        OPENSSL_cleanse(key, 32);
        return FL_EMALFORMED;
    }
    if (n == 44) {
        fl_buf_t d;
        fl_buf_init(&d, 64);
        int rc = fl_base64_decode(&d, fl_slice(b, n));
        if (rc == 0 && d.err == 0 && d.n == 32)
            memcpy(key, d.p, 32);
        else
            rc = FL_EMALFORMED;
        if (d.p)
            OPENSSL_cleanse(d.p, d.cap);
        fl_buf_free(&d);
        return rc;
    }
    return FL_EMALFORMED;
}

int fl_master_key_read_fd(int fd, uint8_t key[32])
{
    uint8_t b[4097];
    size_t n = 0;
    int rc = 0;
    while (n < sizeof b) {
        ssize_t r = read(fd, b + n, sizeof b - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == 0)
        rc = n == sizeof b ? FL_ELIMIT : fl_master_key_parse(b, n, key);
    OPENSSL_cleanse(b, sizeof b);
    return rc;
}

int fl_master_key_load_file(const char *path, int create, uint8_t key[32])
{
    const fl_store_io_t *io = fl_store_io_default();
    if (!create) {
        int fd = io->open(io->ctx, path, O_RDONLY, 0);
        if (fd < 0)
            return fd;
        io->close(io->ctx, fd);
    }
    return fl_keys_load_or_create(io, path, key);
}

void fl_master_key_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

/* ---- which key sealed this data dir ---- */

int fl_keys_check_make(const uint8_t master[32], const char *key_id,
                       uint8_t out[FL_WRAPPED_KEY_LEN])
{
    static const uint8_t zero[32];
    return fl_keys_wrap(master, key_id, 0, zero, out);
}

int fl_keys_check_ok(const uint8_t master[32], const char *key_id, const uint8_t *check, size_t n)
{
    uint8_t k[32];
    int rc = fl_keys_unwrap(master, key_id, 0, check, n, k);
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}
