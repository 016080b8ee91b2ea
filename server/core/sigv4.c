/*
 * server/sigv4.c — see sigv4.h.
 *
 * Grammar accepted (spaces and tabs around commas and after the scheme are
 * optional, the three parts may come in any order, each exactly once):
 *   "AWS4-HMAC-SHA256" SP part ("," part){2}
 *   part = "Credential=" key "/" date "/" region "/" service "/aws4_request"
 *        | "SignedHeaders=" name (";" name)*
 *        | "Signature=" 64 hex digits
 */
#include "server/core/sigv4.h"

#include <string.h>

#include "common/error.h"

#define SCHEME "AWS4-HMAC-SHA256"

static int fail(const char **why, const char *reason, int code)
{
    if (why)
        *why = reason;
    return code;
}

/* Copy s into dst[cap] as a string; 0 or FL_ELIMIT. Empty is malformed. */
static int copy_part(char *dst, size_t cap, fl_slice_t s)
{
    if (s.n == 0)
        return FL_EMALFORMED;
    if (s.n >= cap)
        return FL_ELIMIT;
    memcpy(dst, s.p, s.n);
    dst[s.n] = 0;
    return 0;
}

static int is_token_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '+' || c == '=' || c == '@';
}

static int parse_credential(fl_slice_t v, fl_sigv4_auth_t *a, const char **why)
{
    fl_slice_t parts[5];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= v.n; i++) {
        if (i == v.n || v.p[i] == '/') {
            if (n == 5)
                return fail(why, "Credential has too many parts", FL_EMALFORMED);
            parts[n++] = fl_slice(v.p + start, i - start);
            start = i + 1;
        } else if (!is_token_char(v.p[i])) {
            return fail(why, "Credential has a character outside [A-Za-z0-9-_.+=@/]",
                        FL_EMALFORMED);
        }
    }
    if (n != 5 || !fl_slice_eq_str(parts[4], "aws4_request"))
        return fail(why, "Credential is not KEY/DATE/REGION/SERVICE/aws4_request", FL_EMALFORMED);
    int rc;
    if ((rc = copy_part(a->access_key, sizeof a->access_key, parts[0])) != 0)
        return fail(why, "Credential's access key is empty or too long", rc);
    if (parts[1].n != 8)
        return fail(why, "Credential's date is not YYYYMMDD", FL_EMALFORMED);
    for (size_t i = 0; i < 8; i++)
        if (parts[1].p[i] < '0' || parts[1].p[i] > '9')
            return fail(why, "Credential's date is not YYYYMMDD", FL_EMALFORMED);
    copy_part(a->date, sizeof a->date, parts[1]);
    if ((rc = copy_part(a->region, sizeof a->region, parts[2])) != 0)
        return fail(why, "Credential's region is empty or too long", rc);
    if ((rc = copy_part(a->service, sizeof a->service, parts[3])) != 0)
        return fail(why, "Credential's service is empty or too long", rc);
    return 0;
}

static int parse_signed_headers(fl_slice_t v, fl_sigv4_auth_t *a, const char **why)
{
    size_t start = 0;
    a->n_signed_headers = 0;
    for (size_t i = 0; i <= v.n; i++) {
        if (i < v.n && v.p[i] != ';') {
            uint8_t c = v.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.'))
                return fail(why, "SignedHeaders has a character outside [a-z0-9-_.]",
                            FL_EMALFORMED);
            continue;
        }
        if (a->n_signed_headers == FL_SIGV4_MAX_SIGNED_HEADERS)
            return fail(why, "SignedHeaders names too many headers", FL_ELIMIT);
        int rc = copy_part(a->signed_headers[a->n_signed_headers], sizeof a->signed_headers[0],
                           fl_slice(v.p + start, i - start));
        if (rc)
            return fail(why, "SignedHeaders has an empty or too long name", rc);
        a->n_signed_headers++;
        start = i + 1;
    }
    return 0;
}

static int parse_signature(fl_slice_t v, fl_sigv4_auth_t *a, const char **why)
{
    if (v.n != 64)
        return fail(why, "Signature is not 64 hex digits", FL_EMALFORMED);
    for (size_t i = 0; i < 64; i++) {
        uint8_t c = v.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return fail(why, "Signature is not 64 lower-case hex digits", FL_EMALFORMED);
    }
    copy_part(a->signature, sizeof a->signature, v);
    return 0;
}

int fl_sigv4_parse(fl_slice_t h, fl_sigv4_auth_t *a, const char **why)
{
    memset(a, 0, sizeof *a);
    if (h.n > FL_SIGV4_MAX_HEADER)
        return fail(why, "Authorization header too long", FL_ELIMIT);
    size_t sl = strlen(SCHEME);
    if (h.n < sl || memcmp(h.p, SCHEME, sl) != 0 || (h.n > sl && h.p[sl] != ' '))
        return fail(why, "Authorization scheme is not AWS4-HMAC-SHA256", FL_EUNSUPPORTED);
    size_t i = sl;
    int seen = 0; /* bit 0: Credential, 1: SignedHeaders, 2: Signature */
    for (;;) {
        while (i < h.n && (h.p[i] == ' ' || h.p[i] == '\t'))
            i++;
        size_t s = i;
        while (i < h.n && h.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (h.p[e - 1] == ' ' || h.p[e - 1] == '\t'))
            e--;
        fl_slice_t part = fl_slice(h.p + s, e - s);
        const uint8_t *eq = memchr(part.p, '=', part.n);
        if (!eq)
            return fail(why, "Authorization part without '='", FL_EMALFORMED);
        fl_slice_t name = fl_slice(part.p, (size_t)(eq - part.p));
        fl_slice_t val = fl_slice(eq + 1, part.n - name.n - 1);
        int bit, rc;
        if (fl_slice_eq_str(name, "Credential")) {
            bit = 1;
            rc = parse_credential(val, a, why);
        } else if (fl_slice_eq_str(name, "SignedHeaders")) {
            bit = 2;
            rc = parse_signed_headers(val, a, why);
        } else if (fl_slice_eq_str(name, "Signature")) {
            bit = 4;
            rc = parse_signature(val, a, why);
        } else {
            return fail(why, "Authorization has an unknown part", FL_EMALFORMED);
        }
        if (seen & bit)
            return fail(why, "Authorization repeats a part", FL_EMALFORMED);
        if (rc)
            return rc;
        seen |= bit;
        if (i == h.n)
            break;
        i++; /* the comma */
    }
    if (seen != 7)
        return fail(why, "Authorization lacks Credential, SignedHeaders or Signature",
                    FL_EMALFORMED);
    return 0;
}
