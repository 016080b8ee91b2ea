/*
 * server/validate.c — see validate.h. Small hand-written matchers for the
 * few patterns of the AWS shapes; no regex engine on untrusted input.
 */
#include "server/video/validate.h"

#include <string.h>

#include "common/error.h"
#include "common/utf8.h"

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return FL_EINVAL;
}

static int is_name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static int all(fl_slice_t s, int (*ok)(uint8_t))
{
    for (size_t i = 0; i < s.n; i++)
        if (!ok(s.p[i]))
            return 0;
    return 1;
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c);
}

static int is_lower_digit_dash(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-';
}

static int is_lower(uint8_t c)
{
    return c >= 'a' && c <= 'z';
}

static int is_token_b64(uint8_t c)
{
    return is_alnum(c) || c == '+' || c == '/' || c == '=';
}

static int is_media_char(uint8_t c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.' || c == '+';
}

int fl_valid_stream_name(fl_slice_t s, const char **why)
{
    if (s.n < 1 || s.n > 256)
        return fail(why, "StreamName must be 1 to 256 characters");
    if (!all(s, is_name_char))
        return fail(why, "StreamName must match [a-zA-Z0-9_.-]+");
    return 0;
}

int fl_valid_device_name(fl_slice_t s, const char **why)
{
    if (s.n < 1 || s.n > 128)
        return fail(why, "DeviceName must be 1 to 128 characters");
    if (!all(s, is_name_char))
        return fail(why, "DeviceName must match [a-zA-Z0-9_.-]+");
    return 0;
}

int fl_valid_version(fl_slice_t s, const char **why)
{
    if (s.n < 1 || s.n > 64 || !all(s, is_alnum))
        return fail(why, "CurrentVersion must be 1 to 64 characters of [a-zA-Z0-9]");
    return 0;
}

int fl_valid_kms_key_id(fl_slice_t s, const char **why)
{
    if (s.n < 1 || s.n > 2048)
        return fail(why, "KmsKeyId must be 1 to 2048 characters");
    if (memchr(s.p, '\n', s.n) || memchr(s.p, '\r', s.n))
        return fail(why, "KmsKeyId must not contain line breaks");
    return 0;
}

int fl_valid_next_token(fl_slice_t s, const char **why)
{
    if (s.n > 1024 || !all(s, is_token_b64))
        return fail(why, "NextToken must be up to 1024 characters of [a-zA-Z0-9+/=]");
    return 0;
}

int fl_valid_fragment_number(fl_slice_t s, const char **why)
{
    if (s.n < 1 || s.n > 128 || !all(s, is_digit))
        return fail(why, "fragment numbers are 1 to 128 decimal digits");
    return 0;
}

int fl_valid_continuation_token(fl_slice_t s, const char **why)
{
    if (s.n < 1 || s.n > 128 || !all(s, is_name_char))
        return fail(why, "ContinuationToken must be 1 to 128 characters of [a-zA-Z0-9_.-]");
    return 0;
}

/* Split s at the first c: head before, s after. 0 if c is absent. */
static int cut(fl_slice_t *s, uint8_t c, fl_slice_t *head)
{
    const uint8_t *at = s->n ? memchr(s->p, c, s->n) : NULL;
    if (!at)
        return 0;
    *head = fl_slice(s->p, (size_t)(at - s->p));
    s->n -= head->n + 1;
    s->p = at + 1;
    return 1;
}

int fl_stream_arn_parts(fl_slice_t arn, fl_slice_t *name, long long *creation_ms)
{
    fl_slice_t rest = arn, part;
    if (arn.n < 1 || arn.n > 1024)
        return FL_EINVAL;
    if (!cut(&rest, ':', &part) || !fl_slice_eq_str(part, "arn"))
        return FL_EINVAL;
    if (!cut(&rest, ':', &part) || part.n == 0 || !all(part, is_lower_digit_dash))
        return FL_EINVAL;
    if (!cut(&rest, ':', &part) || !fl_slice_eq_str(part, "kinesisvideo"))
        return FL_EINVAL;
    if (!cut(&rest, ':', &part) || part.n == 0 || !all(part, is_lower_digit_dash))
        return FL_EINVAL;
    if (!cut(&rest, ':', &part) || part.n == 0 || !all(part, is_digit))
        return FL_EINVAL;
    if (!cut(&rest, '/', &part) || part.n == 0 || !all(part, is_lower))
        return FL_EINVAL;
    fl_slice_t nm;
    if (!cut(&rest, '/', &nm) || nm.n == 0 || !all(nm, is_name_char))
        return FL_EINVAL;
    if (rest.n == 0 || rest.n > 19 || !all(rest, is_digit))
        return FL_EINVAL;
    long long ms = 0;
    for (size_t i = 0; i < rest.n; i++)
        ms = ms * 10 + (rest.p[i] - '0');
    if (name)
        *name = nm;
    if (creation_ms)
        *creation_ms = ms;
    return 0;
}

int fl_valid_stream_arn(fl_slice_t s, const char **why)
{
    if (fl_stream_arn_parts(s, NULL, NULL) != 0)
        return fail(why, "StreamARN must look like "
                         "arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION-MS");
    return 0;
}

int fl_valid_media_type(fl_slice_t s, const char **why)
{
    const char *rule = "MediaType must be TYPE/SUBTYPE(,TYPE/SUBTYPE)* of [a-zA-Z0-9_.+-]";
    if (s.n < 1 || s.n > 128)
        return fail(why, "MediaType must be 1 to 128 characters");
    fl_slice_t rest = s, one;
    for (;;) {
        int more = cut(&rest, ',', &one);
        if (!more)
            one = rest;
        fl_slice_t type;
        if (!cut(&one, '/', &type) || type.n == 0 || one.n == 0 || !all(type, is_media_char) ||
            !all(one, is_media_char))
            return fail(why, rule);
        if (!more)
            return 0;
    }
}

/* \p{L}\p{Z}\p{N}_.:/=+\-@ — ASCII exactly, non-ASCII: see validate.h */
static int tag_chars(fl_slice_t s, size_t *chars)
{
    size_t i = 0, count = 0;
    while (i < s.n) {
        uint32_t cp;
        size_t l = fl_utf8_decode(s.p + i, s.n - i, &cp);
        if (!l)
            return 0;
        if (cp < 0x80) {
            if (!(is_alnum((uint8_t)cp) || cp == ' ' || strchr("_.:/=+-@", (int)cp)))
                return 0;
        } else if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || (cp >= 0xfff0 && cp <= 0xffff) ||
                   (cp >= 0xe000 && cp <= 0xf8ff)) {
            return 0; /* C1 controls, line/paragraph separators as controls, specials, private */
        }
        i += l;
        count++;
    }
    *chars = count;
    return 1;
}

int fl_valid_tag_key(fl_slice_t s, const char **why)
{
    size_t n;
    if (!tag_chars(s, &n))
        return fail(why, "tag keys may hold letters, numbers, spaces and _.:/=+-@");
    if (n < 1 || n > 128)
        return fail(why, "tag keys must be 1 to 128 characters");
    return 0;
}

int fl_valid_tag_value(fl_slice_t s, const char **why)
{
    size_t n;
    if (!tag_chars(s, &n))
        return fail(why, "tag values may hold letters, numbers, spaces and _.:/=+-@");
    if (n > 256)
        return fail(why, "tag values must be at most 256 characters");
    return 0;
}
