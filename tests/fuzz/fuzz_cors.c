/*
 * tests/fuzz/fuzz_cors.c — fuzz target for server/core/cors.c's parsers of
 * what a browser sends: Access-Control-Request-Headers
 * (fl_cors_allow_headers) and Origin (fl_cors_origin_allowed), and the
 * --cors-origins list (fl_cors_parse). Checks: never reads past the bytes,
 * the allowed-headers answer is NUL-ended within its buffer, is either the
 * request lower-cased (every name allowed) or the base list, and has no
 * control character but tab (it goes into a response header); an origin is
 * allowed only when it is one of the parsed list, as sent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/cors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the request's header value as the browser sent it */
    char out[384];
    int rc = fl_cors_allow_headers((const char *)data, size, out, sizeof out);
    if (rc < 0)
        __builtin_trap();
    size_t n = strnlen(out, sizeof out);
    if (n == sizeof out)
        __builtin_trap();
    if (rc == 1) {
        if (n != size)
            __builtin_trap();
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out[i];
            if (c >= 'A' && c <= 'Z')
                __builtin_trap();
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                __builtin_trap();
        }
    }
    /* the first line as a --cors-origins list, the rest as an Origin */
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ln = nl ? (size_t)(nl - data) : size;
    char *list = malloc(ln + 1);
    if (!list)
        return 0;
    memcpy(list, data, ln);
    list[ln] = 0;
    fl_cors_t c;
    char err[256];
    if (strlen(list) == ln && fl_cors_parse(list, NULL, &c, err, sizeof err) == 0) {
        const char *origin = nl ? (const char *)nl + 1 : "";
        size_t on = nl ? size - ln - 1 : 0;
        int ok = fl_cors_origin_allowed(&c, origin, on);
        int listed = c.any;
        for (int i = 0; i < c.n; i++)
            if (strlen(c.origins[i]) == on && memcmp(c.origins[i], origin, on) == 0)
                listed = 1;
        if (ok != listed)
            __builtin_trap();
    }
    free(list);
    return 0;
}
