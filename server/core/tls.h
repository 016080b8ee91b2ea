/*
 * server/core/tls.h — the listeners' TLS policy (TLS 1.2 and 1.3, forward
 * secret AEAD suites) for libwebsockets' SSL_CTXs and h2tls.c's, and
 * certificate reload on SIGHUP. See tls.c.
 */
#ifndef FL_SERVER_CORE_TLS_H
#define FL_SERVER_CORE_TLS_H

#include <libwebsockets.h>
#include <openssl/ssl.h>

/* Set the cipher lists and protocol options of a TLS vhost. */
void fl_tls_vhost_info(struct lws_context_creation_info *vi);
/* A vhost's SSL_CTX was made (LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS):
 * set the lowest protocol version. 0 or a negative code. */
int fl_tls_ctx_setup(void *ssl_ctx);
/* Load cert and key again into every vhost made from them (SIGHUP). 0, or
 * a negative code with the old certificate still in use (logged). */
int fl_tls_reload(struct lws_context *ctx, const char *cert, const char *key);

/* The SSL_CTX h2tls.c serves HTTP/2 with: the same policy as the
 * listeners', cert and key, ALPN "h2". NULL (logged) when they do not
 * load. Free with SSL_CTX_free. */
SSL_CTX *fl_tls_h2_ctx_new(const char *cert, const char *key);

#endif
