/*
 * server/core/tls.c — the TLS policy of every listener, and certificates
 * reloaded on SIGHUP.
 *
 * Policy (docs/security.md, "TLS"): TLS 1.2 and 1.3 only; a client that
 * offers less is refused with alert 70 (protocol_version), which OpenSSL
 * sends when the minimum version is set explicitly (without it, OpenSSL 3
 * at security level 2 has no protocol left to offer TLS 1.0/1.1 and says
 * internal_error, 80). TLS 1.2 suites are ECDHE with an AEAD cipher only:
 * forward secret, no CBC, no static RSA key exchange. TLS 1.3 keeps
 * OpenSSL's suites (all AEAD, all forward secret). Renegotiation is off.
 *
 * One policy, two kinds of SSL_CTX: libwebsockets' own per listener (set
 * through fl_tls_vhost_info and fl_tls_ctx_setup), and the one h2tls.c
 * serves HTTP/2 with (fl_tls_h2_ctx_new: the same options, suites, lowest
 * version, certificate and key; its ALPN selects "h2", which is the only
 * place h2 is advertised). Both take FL_TLS_OPTIONS and the suite lists
 * below.
 *
 * Reload: lws_tls_cert_updated() (libwebsockets 4.1.6) loads the files
 * again into every vhost's SSL_CTX that was made from these paths;
 * connections already open keep the certificate they were handshaken with
 * (an SSL keeps its own reference), new handshakes get the new one. A file
 * that does not load leaves the old certificate in place and is logged.
 * h2tls.c's SSL_CTX is made anew from the same files once they loaded
 * (server.c swaps it in; an SSL keeps a reference to the SSL_CTX it was
 * made from, so connections open go on with the old one).
 */
#include "server/core/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/diag.h"
#include "common/error.h"

/* ECDHE key exchange, AEAD ciphers (Mozilla's "intermediate" without DHE) */
#define FL_TLS12_CIPHERS                                                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define FL_TLS13_CIPHERS                                                                           \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* no protocol below TLS 1.2 (and FL_TLS_MIN_VERSION), no renegotiation,
 * the server's order of suites */
#define FL_TLS_OPTIONS                                                                             \
    (SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_RENEGOTIATION |             \
     SSL_OP_CIPHER_SERVER_PREFERENCE)
#define FL_TLS_MIN_VERSION TLS1_2_VERSION

void fl_tls_vhost_info(struct lws_context_creation_info *vi)
{
    vi->ssl_cipher_list = FL_TLS12_CIPHERS;
    vi->tls1_3_plus_cipher_list = FL_TLS13_CIPHERS;
    vi->ssl_options_set = (long)FL_TLS_OPTIONS;
}

int fl_tls_ctx_setup(void *ssl_ctx)
{
    SSL_CTX *ctx = ssl_ctx;
    if (!ctx)
        return 0;
    if (SSL_CTX_set_min_proto_version(ctx, FL_TLS_MIN_VERSION) != 1) {
        fl_error("tls: cannot set TLS 1.2 as the lowest version");
        return FL_EINVAL;
    }
    return 0;
}

/* ALPN for h2tls.c's connections: "h2" (they offered it: h2tls.c looked),
 * else no_application_protocol (RFC 7301 3.2). */
static int select_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h2[] = {2, 'h', '2'};
    unsigned char *sel = NULL;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, h2, sizeof h2, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *fl_tls_h2_ctx_new(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        goto fail;
    SSL_CTX_set_options(ctx, FL_TLS_OPTIONS | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections hold no buffers */
    if (SSL_CTX_set_min_proto_version(ctx, FL_TLS_MIN_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, FL_TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, FL_TLS13_CIPHERS) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    SSL_CTX_set_alpn_select_cb(ctx, select_h2, NULL);
    ERR_clear_error();
    return ctx;
fail:
    fl_error("tls: %s / %s do not load for HTTP/2", cert, key);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, len = 0;
    char *p = malloc(cap);
    while (p) {
        size_t got = fread(p + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
        if (len == cap) {
            if (cap >= (1u << 20)) {
                free(p); /* no certificate chain is a megabyte */
                p = NULL;
                break;
            }
            char *q = realloc(p, cap *= 2);
            if (!q) {
                free(p);
                p = NULL;
            }
            p = q;
        }
    }
    fclose(f);
    *n = len;
    return p;
}

/* Do the files hold a certificate and the private key that matches it?
 * (lws takes what it is given: checked first, so that a half-written or
 * wrong file never replaces a working certificate.) */
static int pem_pair_ok(const char *c, size_t nc, const char *k, size_t nk)
{
    BIO *cb = BIO_new_mem_buf(c, (int)nc), *kb = BIO_new_mem_buf(k, (int)nk);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *pk = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int ok = x && pk && X509_check_private_key(x, pk) == 1;
    EVP_PKEY_free(pk);
    X509_free(x);
    BIO_free(cb);
    BIO_free(kb);
    ERR_clear_error();
    return ok;
}

int fl_tls_reload(struct lws_context *ctx, const char *cert, const char *key)
{
    if (!cert || !key)
        return 0;
    size_t nc = 0, nk = 0;
    char *c = slurp(cert, &nc), *k = slurp(key, &nk);
    int rc = 0;
    if (!c || !k || !nc || !nk) {
        fl_error("tls: SIGHUP: cannot read %s or %s: keeping the certificate in use", cert, key);
        rc = FL_EIO;
    } else if (!pem_pair_ok(c, nc, k, nk)) {
        fl_error("tls: SIGHUP: %s and %s are not a PEM certificate and its private key: keeping "
                 "the certificate in use",
                 cert, key);
        rc = FL_EINVAL;
    } else if (lws_tls_cert_updated(ctx, cert, key, c, nc, k, nk) != 0) {
        fl_error("tls: SIGHUP: %s / %s do not load: keeping the certificate in use", cert, key);
        rc = FL_EINVAL;
    } else {
        fl_info("tls: SIGHUP: certificate %s reloaded (open connections keep theirs)", cert);
    }
    if (k)
        OPENSSL_cleanse(k, nk);
    free(c);
    free(k);
    return rc;
}
