/*
 * tests/fuzz/fuzz_json.c — fuzz target for common/json.c: any bytes parse
 * or fail cleanly, within the limits; a parsed string re-written by
 * fl_json_write_string parses back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

static void walk(const fl_json_t *v, int depth)
{
    if (depth > 8)
        __builtin_trap(); /* max_depth below is 8 */
    for (const fl_json_t *k = v->child; k; k = k->next)
        walk(k, depth + 1);
    if (v->type == FL_JSON_STRING) {
        fl_buf_t b;
        fl_buf_init(&b, 0);
        fl_json_write_string(&b, fl_slice(v->str, v->len));
        fl_json_doc_t *d2 = NULL;
        if (fl_json_parse(fl_buf_slice(&b), NULL, &d2, NULL) != 0)
            __builtin_trap();
        const fl_json_t *r = fl_json_root(d2);
        if (r->len != v->len || memcmp(r->str, v->str, v->len) != 0)
            __builtin_trap();
        fl_json_free(d2);
        fl_buf_free(&b);
    }
    int64_t i;
    double x;
    (void)fl_json_int64(v, &i);
    (void)fl_json_double(v, &x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_json_limits_t lim = {.max_depth = 8, .max_values = 1000, .max_string = 4096};
    fl_json_doc_t *d = NULL;
    size_t off = 0;
    if (fl_json_parse(fl_slice(data, size), &lim, &d, &off) == 0) {
        walk(fl_json_root(d), 0);
        (void)fl_json_get(fl_json_root(d), "StreamName");
        fl_json_free(d);
    } else if (off > size) {
        __builtin_trap();
    }
    return 0;
}
