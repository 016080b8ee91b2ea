/*
 * server/core/tls.h — the listeners' TLS policy (TLS 1.2 and 1.3, forward
 * secret AEAD suites) and certificate reload on SIGHUP. See tls.c.
 */
#ifndef FL_SERVER_CORE_TLS_H
#define FL_SERVER_CORE_TLS_H

#include <libwebsockets.h>

/* Set the cipher lists and protocol options of a TLS vhost. */
void fl_tls_vhost_info(struct lws_context_creation_info *vi);
/* A vhost's SSL_CTX was made (LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS):
 * set the lowest protocol version. 0 or a negative code. */
int fl_tls_ctx_setup(void *ssl_ctx);
/* Load cert and key again into every vhost made from them (SIGHUP). 0, or
 * a negative code with the old certificate still in use (logged). */
int fl_tls_reload(struct lws_context *ctx, const char *cert, const char *key);

#endif
