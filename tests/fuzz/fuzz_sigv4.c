/*
 * tests/fuzz/fuzz_sigv4.c — fuzz target for server/sigv4.c: any header
 * value parses or fails with a reason; what parses is within its limits.
 */
#include <stdint.h>
#include <string.h>

#include "server/core/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_sigv4_auth_t a;
    const char *why = NULL;
    int rc = fl_sigv4_parse(fl_slice(data, size), &a, &why);
    if (rc != 0 && !why)
        __builtin_trap();
    if (rc == 0) {
        if (strlen(a.signature) != 64 || strlen(a.date) != 8 || a.n_signed_headers < 1 ||
            a.n_signed_headers > FL_SIGV4_MAX_SIGNED_HEADERS || !a.access_key[0])
            __builtin_trap();
    }
    return 0;
}
