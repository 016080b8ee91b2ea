/*
 * producer-sdk/ack.h — the parser of PutMedia acks, the JSON objects the
 * server sends back one per WebSocket text message (docs/api.md):
 *
 *   {"EventType":"PERSISTED","FragmentTimecode":1700000000000,
 *    "FragmentNumber":"1844674407370955161600"}
 *   {"EventType":"ERROR","FragmentTimecode":...,"ErrorId":4006,...}
 *
 * Acks are network bytes: they go through the bounded JSON parser
 * (common/json.h) with small limits, and a message that is not an ack
 * object with a known EventType and well-typed fields is refused whole
 * (FLP_EMALFORMED), never half read. Members other than those below
 * (ErrorCode, a message, ...) are allowed and ignored.
 */
#ifndef FLP_ACK_H
#define FLP_ACK_H

#include <stddef.h>
#include <stdint.h>

#include <framelog/producer.h>

#define FLP_ACK_MAX_BYTES  4096 /* one ack message, at most */
#define FLP_ACK_NUMBER_CAP 48   /* FragmentNumber: decimal digits, NUL included */

typedef struct {
    flp_ack_type_t type;
    int has_timecode;                /* FragmentTimecode was present */
    int64_t timecode_ms;             /* 0 when absent */
    char number[FLP_ACK_NUMBER_CAP]; /* "" when absent */
    int error_id;                    /* ErrorId; 0 when absent */
} flp_ack_t;

/* Parse one ack message of n bytes (no NUL needed). 0 and *out filled, or
 * FLP_EMALFORMED (not an ack: bad JSON, beyond the limits, an unknown
 * EventType, a field of the wrong type or out of range) or FLP_ENOMEM. */
int flp_ack_parse(const void *p, size_t n, flp_ack_t *out);

#endif
