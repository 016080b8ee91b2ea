/*
 * common/dec128.c — see dec128.h.
 */
#include "common/dec128.h"

#include <string.h>

size_t fl_dec128_put(unsigned __int128 v, char buf[FL_DEC128_CAP])
{
    char tmp[FL_DEC128_DIGITS];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return n;
}

int fl_dec128_parse(const char *s, unsigned __int128 *out)
{
    const unsigned __int128 max = ~(unsigned __int128)0;
    unsigned __int128 v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > FL_DEC128_DIGITS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
