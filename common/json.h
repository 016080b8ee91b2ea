/*
 * common/json.h — a JSON parser with limits, for untrusted request bodies,
 * and the string escaper that JSON writers use.
 *
 * fl_json_parse() reads one JSON text (RFC 8259) into a read-only tree that
 * lives in one fl_json_doc_t; everything is freed with the document. Limits
 * set by the caller bound the nesting depth, the number of values and the
 * length of any one string; input beyond them, or malformed input, fails
 * with FL_ELIMIT / FL_EMALFORMED and the byte offset where it was found.
 * Strings are decoded (escapes, \u surrogate pairs) to UTF-8 and
 * NUL-terminated; invalid UTF-8 in the input is malformed. Numbers keep
 * their text, so 64-bit integers and decimals survive exactly. Duplicate
 * object keys are kept; fl_json_get() returns the first.
 *
 * Plain C with no library, so the producer SDK can compile it in too.
 */
#ifndef FL_COMMON_JSON_H
#define FL_COMMON_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

typedef enum {
    FL_JSON_NULL,
    FL_JSON_FALSE,
    FL_JSON_TRUE,
    FL_JSON_NUMBER,
    FL_JSON_STRING,
    FL_JSON_ARRAY,
    FL_JSON_OBJECT
} fl_json_type_t;

typedef struct fl_json fl_json_t;
struct fl_json {
    fl_json_type_t type;
    const char *key; /* member name inside an object (decoded), else NULL */
    size_t key_len;
    const char *str;  /* STRING: decoded, NUL-terminated; NUMBER: its text */
    size_t len;       /* bytes in str */
    fl_json_t *child; /* ARRAY/OBJECT: first element */
    size_t count;     /* ARRAY/OBJECT: number of elements */
    fl_json_t *next;  /* next sibling */
};

typedef struct {
    size_t max_depth;  /* nesting of arrays/objects; 0 means 32 */
    size_t max_values; /* values in the whole text; 0 means 100000 */
    size_t max_string; /* bytes in one decoded string or key; 0 means 1 MiB */
} fl_json_limits_t;

typedef struct fl_json_doc fl_json_doc_t;

/* Parse text. On success *out holds the document (free it with
 * fl_json_free). On failure returns FL_EMALFORMED, FL_ELIMIT or FL_ENOMEM
 * and, if err_off is not NULL, the byte offset of the problem. */
int fl_json_parse(fl_slice_t text, const fl_json_limits_t *limits, fl_json_doc_t **out,
                  size_t *err_off);
void fl_json_free(fl_json_doc_t *doc);
const fl_json_t *fl_json_root(const fl_json_doc_t *doc);

/* The first member named key of an object, or NULL (also for non-objects). */
const fl_json_t *fl_json_get(const fl_json_t *obj, const char *key);
/* Typed access: 0 on success, FL_EINVAL if the value has another type or
 * (numbers) is not an integer in range. */
int fl_json_int64(const fl_json_t *v, int64_t *out);
int fl_json_double(const fl_json_t *v, double *out);

/* Append s to b as a JSON string literal, quotes included; control
 * characters and the two specials are escaped, other bytes copied. */
void fl_json_write_string(fl_buf_t *b, fl_slice_t s);

#endif
