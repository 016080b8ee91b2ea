/*
 * tests/fuzz/fuzz_awstime.c — fuzz target for common/awstime.c: any bytes
 * parse as epoch text and as ISO 8601 or fail with a named error, and what
 * parses formats back to text that parses to the same instant.
 */
#include <stdint.h>
#include <string.h>

#include "common/awstime.h"
#include "common/error.h"

static void check_err(int rc)
{
    if (rc != 0 && rc != FL_EMALFORMED && rc != FL_ELIMIT)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_slice_t t = fl_slice(data, size);
    int64_t ns = -1, back = -1;
    char e[FL_AWSTIME_EPOCH_MAX], iso[FL_AWSTIME_ISO8601_LEN + 1];

    int rc = fl_awstime_parse_epoch(t, &ns);
    check_err(rc);
    if (rc == 0) {
        if (ns < 0)
            __builtin_trap();
        int n = fl_awstime_epoch(ns, 9, e, sizeof e);
        if (n <= 0 || fl_awstime_parse_epoch(fl_slice(e, (size_t)n), &back) != 0 || back != ns)
            __builtin_trap();
    }

    rc = fl_awstime_parse_iso8601(t, &ns);
    check_err(rc);
    if (rc == 0) {
        if (ns < 0)
            __builtin_trap();
        if (fl_awstime_iso8601(ns, iso) == 0) {
            if (fl_awstime_parse_iso8601(fl_slice(iso, FL_AWSTIME_ISO8601_LEN), &back) != 0 ||
                back != ns - ns % 1000000)
                __builtin_trap();
        }
    }
    return 0;
}
