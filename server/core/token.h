/*
 * server/core/token.h — authenticated, expiring tokens: state a client
 * carries so the server keeps none (Kinesis shard iterators, HLS session
 * URLs). The token is the state, sealed with HMAC-SHA-256 under the
 * server's token key, a random 32-byte key kept in the data dir
 * (`server.key`, mode 0600, created on first start), so tokens outlive a
 * restart and cannot be forged or altered.
 *
 * Bytes, before base64url (RFC 4648 §5, no padding) — docs/tokens.md:
 *   0   1  version (1)
 *   1   1  kind (the feature's own number: what the payload is)
 *   2   8  expiry, ms since the epoch, big-endian
 *   10  n  payload (the feature's bytes)
 *   ..  32 HMAC-SHA-256 of every byte before it
 */
#ifndef FL_SERVER_CORE_TOKEN_H
#define FL_SERVER_CORE_TOKEN_H

#include <stdint.h>

#include "common/bytes.h"

struct fl_server;

#define FL_TOKEN_VERSION     1
#define FL_TOKEN_MAX_PAYLOAD 512
#define FL_TOKEN_KEY_BYTES   32

/* Kinds (one per feature that seals tokens; never reuse a number). */
#define FL_TOKEN_SHARD_ITERATOR 1
#define FL_TOKEN_HLS_SESSION    2
#define FL_TOKEN_IMAGES_PAGE    3 /* GetImages NextToken (server/playback/images.c) */

/* Seal payload as a token of kind that expires at expires_ms; the text is
 * appended to out (NUL-terminated). FL_ELIMIT for a payload too long. */
int fl_token_seal(const uint8_t key[FL_TOKEN_KEY_BYTES], uint8_t kind, fl_slice_t payload,
                  int64_t expires_ms, fl_buf_t *out);
/* Open a token of kind: its payload into out (replacing what it held).
 * FL_EMALFORMED (not a token of ours, or altered: the same answer, so a
 * forger learns nothing), FL_EEXPIRED (genuine but past its expiry at
 * now_ms). */
int fl_token_open(const uint8_t key[FL_TOKEN_KEY_BYTES], uint8_t kind, fl_slice_t text,
                  int64_t now_ms, fl_buf_t *out);
/* The server's token key (fl_token_key_load at start). */
const uint8_t *fl_server_token_key(const struct fl_server *s);

/* A key for one purpose, derived from the server's token key:
 * HMAC-SHA-256(key, label). A feature whose tokens have a format of their
 * own (HLS sessions) seals them under its subkey, so no token of one
 * format can pass for a token of another. */
void fl_token_subkey(const uint8_t key[FL_TOKEN_KEY_BYTES], const char *label,
                     uint8_t out[FL_TOKEN_KEY_BYTES]);

/* Load the data dir's token key, creating it on first start (core use:
 * fl_server_new). Returns 0, or a negative code with a reason in err. */
int fl_token_key_load(const char *data_dir, uint8_t key[FL_TOKEN_KEY_BYTES], char *err,
                      size_t errlen);

#endif
