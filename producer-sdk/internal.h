/*
 * producer-sdk/internal.h — what the SDK's files share: the client's
 * allocator and log, signed requests, and the content store (store.c).
 */
#ifndef FLP_INTERNAL_H
#define FLP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <framelog/producer.h>

struct flp_client {
    flp_allocator_t alloc;
    int own_alloc;  /* the default malloc hooks */
    char scheme[8]; /* "https" or "http" */
    char host[256];
    int port;
    char host_header[272]; /* host[:port] as sent and signed */
    char region[32];
    char *access_key, *secret_key, *session_token, *ca_file;
    void (*log)(void *ctx, flp_log_level_t level, const char *line);
    void *log_ctx;
    flp_log_level_t log_level;
    const flp_transport_t *transport;
};

void *flp_alloc(flp_client_t *c, size_t n); /* zeroed */
void flp_free(flp_client_t *c, void *p);
char *flp_strdup(flp_client_t *c, const char *s); /* NULL for NULL */

void flp_logf(flp_client_t *c, flp_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill req for a request on the client's endpoint: method, path, extra
 * headers (copied into hdrs, which needs n + 4 entries) plus the signature
 * headers when the client has keys; scratch holds their values. */
typedef struct {
    char amz_date[17];
    char authorization[1024];
    char payload_hash[65];
} flp_sign_scratch_t;

int flp_client_prepare(flp_client_t *c, flp_request_t *req, const char *method, const char *path,
                       const flp_header_t *extra, size_t n_extra, flp_header_t *hdrs,
                       flp_sign_scratch_t *scratch, const uint8_t *body, size_t body_len,
                       int sign_body);

/* Parse "s" from a server error body {"message":"..."} or the
 * x-amzn-ErrorType name into msg. */
void flp_error_message(const char *body, size_t n, char *msg, size_t cap);
/* A hint naming the clock when msg is a SigV4 refusal for the request's
 * date ("Signature expired", "Signature not yet current"), else "". */
const char *flp_clock_hint(const char *msg);

#endif
