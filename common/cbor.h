/*
 * common/cbor.h — CBOR (RFC 8949) as AWS's `application/x-amz-cbor-1.1`
 * carries JSON 1.1 APIs (the Java SDK's default for Kinesis Data Streams):
 * a request body transcoded to the JSON text the handlers read, and a JSON
 * answer transcoded back.
 *
 * The JSON 1.1 and CBOR forms of one message differ in two kinds of
 * member: blobs (base64 strings in JSON, byte strings in CBOR) and
 * timestamps (epoch seconds in JSON; tag 1 around the epoch in CBOR, an
 * integer counting milliseconds as AWS's Java SDK writes it, or a float
 * counting seconds). A request needs no schema (a byte string can only be
 * a blob, tag 1 only a timestamp); an answer names its blob and timestamp
 * members in an fl_cbor_shape_t.
 *
 * fl_cbor_to_json() reads untrusted bytes with limits (nesting, items,
 * input size) and fails with FL_EMALFORMED or FL_ELIMIT and the offset of
 * the problem; definite and indefinite lengths, half/single/double floats,
 * tags (1 as a timestamp, others ignored around their value) are read;
 * map keys must be text; NaN, infinities and simple values other than
 * false/true/null/undefined are refused (JSON has none). Numbers are
 * written exactly (integers as integers; millisecond timestamps as
 * seconds with three decimals).
 */
#ifndef FL_COMMON_CBOR_H
#define FL_COMMON_CBOR_H

#include <stddef.h>

#include "common/bytes.h"
#include "common/json.h"

typedef struct {
    size_t max_depth; /* nesting of arrays/maps; 0 means 32 */
    size_t max_items; /* data items in the whole input; 0 means 100000 */
} fl_cbor_limits_t;

/* Which members of an answer are blobs and timestamps: NULL-terminated
 * lists of member names (either may be NULL). */
typedef struct {
    const char *const *blobs;
    const char *const *timestamps;
} fl_cbor_shape_t;

/* The CBOR data item in cbor (exactly one, nothing after it) as JSON text
 * appended to json. 0, or FL_EMALFORMED / FL_ELIMIT / FL_ENOMEM with
 * *err_off (may be NULL) at the problem. */
int fl_cbor_to_json(fl_slice_t cbor, const fl_cbor_limits_t *lim, fl_buf_t *json, size_t *err_off);

/* The JSON value v as CBOR appended to out, with shape's blobs decoded
 * from base64 to byte strings and its timestamps as tag 1 with integer
 * milliseconds. 0, or FL_EINVAL (a blob that is not base64, a timestamp
 * that is not a number) / FL_ENOMEM. */
int fl_cbor_from_json(const fl_json_t *v, const fl_cbor_shape_t *shape, fl_buf_t *out);

#endif
