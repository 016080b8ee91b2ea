/*
 * tests/fuzz/fuzz_clienthello.c — fuzz target for server/core/clienthello.c
 * (fl_clienthello_scan, which reads the first bytes of every connection a
 * TLS listener accepts): never reads past the bytes; "need more" asks for
 * more than it was given and at most FL_CLIENTHELLO_MAX; a parsed hello
 * spans at most the bytes given; flags are set only with an ALPN
 * extension; every prefix of a parsed hello asks for more.
 */
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "server/core/clienthello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_clienthello_t ch;
    long r = fl_clienthello_scan(fl_slice(data, size), &ch);
    if (r > 0 && ((size_t)r <= size || r > FL_CLIENTHELLO_MAX))
        __builtin_trap();
    if (r < 0 && r != FL_EMALFORMED && r != FL_ELIMIT)
        __builtin_trap();
    if (r == 0) {
        if (ch.len == 0 || ch.len > size || ch.len > FL_CLIENTHELLO_MAX)
            __builtin_trap();
        if ((ch.h2 || ch.http11) && !ch.alpn)
            __builtin_trap();
        /* the same bytes cut short: "more", never a different answer */
        fl_clienthello_t p;
        long rp = fl_clienthello_scan(fl_slice(data, ch.len - 1), &p);
        if (rp <= 0 || (size_t)rp < ch.len)
            __builtin_trap();
        /* and exactly: the same answer */
        rp = fl_clienthello_scan(fl_slice(data, ch.len), &p);
        if (rp != 0 || p.h2 != ch.h2 || p.http11 != ch.http11 || p.alpn != ch.alpn)
            __builtin_trap();
    }
    return 0;
}
