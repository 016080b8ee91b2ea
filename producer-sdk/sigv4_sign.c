/*
 * producer-sdk/sigv4_sign.c — AWS Signature Version 4 (see sigv4_sign.h).
 *
 * The four steps of AWS's documentation:
 *
 *   canonical request = METHOD '\n' canonical URI '\n' canonical query '\n'
 *                       canonical headers '\n' signed headers '\n' payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" '\n' amz-date '\n' scope '\n'
 *                       hex(SHA-256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
 *                       service), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * The canonical request is never held in memory: it is fed to SHA-256 piece
 * by piece as it is produced, so its size does not matter. What must be held
 * is bounded and lives on the stack: the index arrays that sort the query
 * parameters and the headers (FLP_SIGV4_MAX_QUERY, FLP_SIGV4_MAX_HEADERS),
 * the string to sign and the Authorization value (sigv4_sign.h's result).
 * Anything beyond those limits is FLP_EINVAL, never a truncated signature.
 *
 * Canonical forms (AWS, non-S3 services):
 * - URI: every byte of the path as given except unreserved characters
 *   (A-Z a-z 0-9 - _ . ~) and '/' is percent-encoded with upper-case hex.
 *   For a path that is already encoded on the wire this is AWS's "double
 *   encoding" of non-S3 services. The path is not normalised: callers send
 *   normalised paths (no "." or ".." segments, no "//").
 * - Query: parameters split on '&', each name and value percent-decoded and
 *   encoded again (unreserved kept, everything else %XX, '+' is a literal
 *   plus), a missing '=' meaning an empty value, sorted by encoded name and
 *   then encoded value, joined with '&'.
 * - Headers: names lower-cased, values trimmed with inner runs of spaces
 *   made one; a name given more than once has its values joined by ',' in
 *   the order given; sorted by name. host, x-amz-date and (with a session
 *   token) x-amz-security-token are added here; the caller may not give them.
 */
#include "sigv4_sign.h"

#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "common/bytes.h"

#define FLP_SIGV4_MAX_HEADERS     32 /* all signed headers, ours included (server's limit) */
#define FLP_SIGV4_MAX_QUERY       64 /* query parameters */
#define FLP_SIGV4_MAX_NAME        63 /* a header name */
#define FLP_SIGV4_MAX_SCOPE_FIELD 63 /* region, service */
#define FLP_SIGV4_MAX_ACCESS_KEY  128
#define FLP_SIGV4_MAX_SECRET      128

typedef struct {
    const char *p;
    size_t n;
} span_t;

/* ---- small helpers ---- */

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* A header name: an HTTP token. */
static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > FLP_SIGV4_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_unreserved(c) || strchr("!#$%&'*+^`|", c)) || c == 0)
            return 0;
    }
    return 1;
}

/* A scope field (region, service, access key): printable, none of the
 * Authorization header's separators. */
static int valid_field(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '/' || s[i] == ',' || s[i] == '=')
            return 0;
    return 1;
}

static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower((unsigned char)*a) != lower((unsigned char)*b))
            return 0;
    return *a == *b;
}

/* Compare header names without case. */
static int name_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int d = (int)lower((unsigned char)*a) - (int)lower((unsigned char)*b);
        if (d || !*a)
            return d;
    }
}

/* ---- hashing ---- */

typedef struct {
    mbedtls_sha256_context sha;
    int err;
} hasher_t;

static void h_put(hasher_t *h, const void *p, size_t n)
{
    if (!h->err && n && mbedtls_sha256_update_ret(&h->sha, p, n) != 0)
        h->err = FLP_ECRYPTO;
}

static void h_str(hasher_t *h, const char *s)
{
    h_put(h, s, strlen(s));
}

static void h_byte(hasher_t *h, char c)
{
    h_put(h, &c, 1);
}

/* Percent-encode bytes into the hash: unreserved kept, keep_slash keeps '/'. */
static void h_encoded(hasher_t *h, const char *p, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t run = 0; /* bytes passed through unchanged, not yet hashed */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            run++;
            continue;
        }
        h_put(h, p + i - run, run);
        run = 0;
        char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
        h_put(h, esc, 3);
    }
    h_put(h, p + n - run, run);
}

/* ---- query parameters ----
 *
 * A parameter's canonical form is encode(decode(x)). The iterator below
 * yields that form byte by byte from the raw bytes, so that sorting and
 * hashing need no buffer. */

typedef struct {
    span_t s;
    size_t i;
    char pend[3];
    int npend, ipend;
} enc_iter_t;

static void enc_init(enc_iter_t *it, span_t s)
{
    memset(it, 0, sizeof *it);
    it->s = s;
}

/* The next canonical byte, or -1 at the end. */
static int enc_next(enc_iter_t *it)
{
    static const char digits[] = "0123456789ABCDEF";
    if (it->ipend < it->npend)
        return (unsigned char)it->pend[it->ipend++];
    if (it->i >= it->s.n)
        return -1;
    unsigned char c = (unsigned char)it->s.p[it->i++];
    if (c == '%' && it->i + 2 <= it->s.n) {
        int hi = fl_hex_digit((unsigned char)it->s.p[it->i]),
            lo = fl_hex_digit((unsigned char)it->s.p[it->i + 1]);
        if (hi >= 0 && lo >= 0) {
            c = (unsigned char)(hi * 16 + lo);
            it->i += 2;
        }
    }
    if (is_unreserved(c))
        return c;
    it->pend[0] = '%';
    it->pend[1] = digits[c >> 4];
    it->pend[2] = digits[c & 15];
    it->npend = 3;
    it->ipend = 1;
    return '%';
}

static int enc_cmp(span_t a, span_t b)
{
    enc_iter_t ia, ib;
    enc_init(&ia, a);
    enc_init(&ib, b);
    for (;;) {
        int ca = enc_next(&ia), cb = enc_next(&ib);
        if (ca != cb)
            return ca - cb;
        if (ca < 0)
            return 0;
    }
}

static void h_canonical(hasher_t *h, span_t s)
{
    enc_iter_t it;
    enc_init(&it, s);
    char buf[64];
    size_t k = 0;
    for (int c; (c = enc_next(&it)) >= 0;) {
        buf[k++] = (char)c;
        if (k == sizeof buf) {
            h_put(h, buf, k);
            k = 0;
        }
    }
    h_put(h, buf, k);
}

typedef struct {
    span_t name, value;
} param_t;

static int param_cmp(const param_t *a, const param_t *b)
{
    int d = enc_cmp(a->name, b->name);
    return d ? d : enc_cmp(a->value, b->value);
}

/* Split the query into params (sorted); FLP_EINVAL when there are too many. */
static int split_query(const char *q, size_t n, param_t *params, size_t *np)
{
    size_t count = 0, i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && q[end] != '&')
            end++;
        if (end > i) {
            if (count == FLP_SIGV4_MAX_QUERY)
                return FLP_EINVAL;
            param_t p;
            const char *eq = memchr(q + i, '=', end - i);
            p.name.p = q + i;
            p.name.n = eq ? (size_t)(eq - (q + i)) : end - i;
            p.value.p = eq ? eq + 1 : q + end;
            p.value.n = eq ? (size_t)(q + end - (eq + 1)) : 0;
            /* insertion sort: few parameters, and stable */
            size_t j = count++;
            while (j > 0 && param_cmp(&params[j - 1], &p) > 0) {
                params[j] = params[j - 1];
                j--;
            }
            params[j] = p;
        }
        i = end + 1;
    }
    *np = count;
    return 0;
}

/* ---- headers ---- */

/* Hash a header value trimmed, with runs of spaces and tabs made one
 * space. FLP_EINVAL for control characters (CR/LF would split it). */
static int check_value(const char *v)
{
    for (const char *s = v; *s; s++)
        if (((unsigned char)*s < ' ' && *s != '\t') || *s == 0x7f)
            return FLP_EINVAL;
    return 0;
}

static void h_value(hasher_t *h, const char *v)
{
    size_t n = strlen(v), a = 0;
    while (a < n && (v[a] == ' ' || v[a] == '\t'))
        a++;
    while (n > a && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    int in_space = 0;
    size_t run = 0;
    for (size_t i = a; i < n; i++) {
        int sp = v[i] == ' ' || v[i] == '\t';
        if (sp) {
            if (!in_space) {
                h_put(h, v + i - run, run);
                run = 0;
                h_byte(h, ' ');
            }
            in_space = 1;
        } else {
            in_space = 0;
            run++;
        }
    }
    h_put(h, v + n - run, run);
}

/* Append to out (NUL-terminated, capacity cap at *len); 0 or FLP_EINVAL. */
static int append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (n >= cap - *len)
        return FLP_EINVAL;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = 0;
    return 0;
}

static int append_lower(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap - *len)
        return FLP_EINVAL;
    for (size_t i = 0; i < n; i++)
        out[*len + i] = (char)lower((unsigned char)s[i]);
    *len += n;
    out[*len] = 0;
    return 0;
}

static int hmac(const uint8_t *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md || mbedtls_md_hmac(md, key, klen, msg, mlen, out) != 0)
        return FLP_ECRYPTO;
    return 0;
}

int flp_sigv4_sign(const flp_sigv4_request_t *req, flp_sigv4_result_t *out)
{
    if (!req || !out || !req->method || !req->path || !req->host || !req->region || !req->service ||
        !req->access_key || !req->secret_key)
        return FLP_EINVAL;
    if (req->n_headers && !req->headers)
        return FLP_EINVAL;
    if (!req->body && req->body_len)
        return FLP_EINVAL;
    if (!valid_field(req->region, FLP_SIGV4_MAX_SCOPE_FIELD) ||
        !valid_field(req->service, FLP_SIGV4_MAX_SCOPE_FIELD) ||
        !valid_field(req->access_key, FLP_SIGV4_MAX_ACCESS_KEY))
        return FLP_EINVAL;
    size_t secret_len = strlen(req->secret_key);
    if (secret_len == 0 || secret_len > FLP_SIGV4_MAX_SECRET)
        return FLP_EINVAL;
    if (req->path[0] != '/' || !valid_name(req->method, strlen(req->method)) ||
        check_value(req->host) || req->host[0] == 0 ||
        (req->session_token && check_value(req->session_token)))
        return FLP_EINVAL;

    /* the date */
    struct tm tm;
    time_t now = req->now;
    if (!gmtime_r(&now, &tm) || tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999)
        return FLP_EINVAL;
    if (strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16)
        return FLP_EINVAL;
    char date[9];
    memcpy(date, out->amz_date, 8);
    date[8] = 0;

    /* the payload hash */
    int rc = FLP_ECRYPTO;
    if (req->body) {
        uint8_t d[32];
        if (mbedtls_sha256_ret(req->body, req->body_len, d, 0) != 0)
            return FLP_ECRYPTO;
        to_hex(d, 32, out->payload_hash);
    } else {
        strcpy(out->payload_hash, "UNSIGNED-PAYLOAD");
    }

    /* the headers to sign, sorted by name (stable: duplicates keep order) */
    const char *names[FLP_SIGV4_MAX_HEADERS], *values[FLP_SIGV4_MAX_HEADERS];
    size_t nh = 0;
    const char *fixed_names[3] = {"host", "x-amz-date", "x-amz-security-token"};
    const char *fixed_values[3] = {req->host, out->amz_date, req->session_token};
    size_t n_fixed = req->session_token ? 3 : 2;
    if (req->n_headers > FLP_SIGV4_MAX_HEADERS - n_fixed)
        return FLP_EINVAL;
    for (size_t i = 0; i < req->n_headers + n_fixed; i++) {
        const char *name, *value;
        if (i < n_fixed) {
            name = fixed_names[i];
            value = fixed_values[i];
        } else {
            name = req->headers[i - n_fixed].name;
            value = req->headers[i - n_fixed].value;
            if (!name || !value || !valid_name(name, strlen(name)) || check_value(value))
                return FLP_EINVAL;
            for (size_t k = 0; k < 3; k++)
                if (name_eq(name, fixed_names[k]))
                    return FLP_EINVAL; /* ours to set */
            if (name_eq(name, "authorization"))
                return FLP_EINVAL;
        }
        size_t j = nh++;
        while (j > 0 && name_cmp(names[j - 1], name) > 0) {
            names[j] = names[j - 1];
            values[j] = values[j - 1];
            j--;
        }
        names[j] = name;
        values[j] = value;
    }

    /* the signed headers list: distinct names, lower case */
    char signed_headers[FLP_SIGV4_MAX_HEADERS * (FLP_SIGV4_MAX_NAME + 1) + 1];
    size_t sh_len = 0;
    signed_headers[0] = 0;
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && name_cmp(names[i - 1], names[i]) == 0)
            continue;
        if ((sh_len && append(signed_headers, sizeof signed_headers, &sh_len, ";", 1)) ||
            append_lower(signed_headers, sizeof signed_headers, &sh_len, names[i]))
            return FLP_EINVAL;
    }

    /* the query */
    const char *qmark = strchr(req->path, '?');
    size_t path_len = qmark ? (size_t)(qmark - req->path) : strlen(req->path);
    param_t params[FLP_SIGV4_MAX_QUERY];
    size_t np = 0;
    if (qmark && split_query(qmark + 1, strlen(qmark + 1), params, &np) != 0)
        return FLP_EINVAL;

    /* the canonical request, straight into SHA-256 */
    hasher_t h = {.err = 0};
    mbedtls_sha256_init(&h.sha);
    if (mbedtls_sha256_starts_ret(&h.sha, 0) != 0)
        h.err = FLP_ECRYPTO;
    h_str(&h, req->method);
    h_byte(&h, '\n');
    h_encoded(&h, req->path, path_len, 1);
    h_byte(&h, '\n');
    for (size_t i = 0; i < np; i++) {
        if (i)
            h_byte(&h, '&');
        h_canonical(&h, params[i].name);
        h_byte(&h, '=');
        h_canonical(&h, params[i].value);
    }
    h_byte(&h, '\n');
    for (size_t i = 0; i < nh; i++) {
        int same = i > 0 && name_cmp(names[i - 1], names[i]) == 0;
        if (same) {
            h_byte(&h, ',');
        } else {
            if (i)
                h_byte(&h, '\n');
            char lname[FLP_SIGV4_MAX_NAME + 1];
            size_t ln = 0;
            if (append_lower(lname, sizeof lname, &ln, names[i]))
                h.err = FLP_EINVAL;
            h_put(&h, lname, ln);
            h_byte(&h, ':');
        }
        h_value(&h, values[i]);
    }
    h_str(&h, "\n\n");
    h_put(&h, signed_headers, sh_len);
    h_byte(&h, '\n');
    h_str(&h, out->payload_hash);
    uint8_t creq_hash[32];
    if (!h.err && mbedtls_sha256_finish_ret(&h.sha, creq_hash) != 0)
        h.err = FLP_ECRYPTO;
    mbedtls_sha256_free(&h.sha);
    if (h.err)
        return h.err;

    /* the string to sign */
    char scope[8 + 1 + FLP_SIGV4_MAX_SCOPE_FIELD * 2 + 2 + 13 + 1];
    size_t scope_len = 0;
    scope[0] = 0;
    if (append(scope, sizeof scope, &scope_len, date, 8) ||
        append(scope, sizeof scope, &scope_len, "/", 1) ||
        append(scope, sizeof scope, &scope_len, req->region, strlen(req->region)) ||
        append(scope, sizeof scope, &scope_len, "/", 1) ||
        append(scope, sizeof scope, &scope_len, req->service, strlen(req->service)) ||
        append(scope, sizeof scope, &scope_len, "/aws4_request", 13))
        return FLP_EINVAL;
    char sts[17 + 17 + sizeof scope + 65 + 1];
    size_t sts_len = 0;
    char creq_hex[65];
    to_hex(creq_hash, 32, creq_hex);
    sts[0] = 0;
    if (append(sts, sizeof sts, &sts_len, "AWS4-HMAC-SHA256\n", 17) ||
        append(sts, sizeof sts, &sts_len, out->amz_date, 16) ||
        append(sts, sizeof sts, &sts_len, "\n", 1) ||
        append(sts, sizeof sts, &sts_len, scope, scope_len) ||
        append(sts, sizeof sts, &sts_len, "\n", 1) ||
        append(sts, sizeof sts, &sts_len, creq_hex, 64))
        return FLP_EINVAL;

    /* the signing key and the signature */
    uint8_t key[4 + FLP_SIGV4_MAX_SECRET], k[32], sig[32];
    memcpy(key, "AWS4", 4);
    memcpy(key + 4, req->secret_key, secret_len);
    if (hmac(key, 4 + secret_len, date, 8, k) || hmac(k, 32, req->region, strlen(req->region), k) ||
        hmac(k, 32, req->service, strlen(req->service), k) || hmac(k, 32, "aws4_request", 12, k) ||
        hmac(k, 32, sts, sts_len, sig))
        goto out;
    char sig_hex[65];
    to_hex(sig, 32, sig_hex);

    /* the Authorization value */
    size_t alen = 0;
    char *a = out->authorization;
    size_t acap = sizeof out->authorization;
    a[0] = 0;
    rc = FLP_EINVAL;
    if (append(a, acap, &alen, "AWS4-HMAC-SHA256 Credential=", 28) ||
        append(a, acap, &alen, req->access_key, strlen(req->access_key)) ||
        append(a, acap, &alen, "/", 1) || append(a, acap, &alen, scope, scope_len) ||
        append(a, acap, &alen, ", SignedHeaders=", 16) ||
        append(a, acap, &alen, signed_headers, sh_len) ||
        append(a, acap, &alen, ", Signature=", 12) || append(a, acap, &alen, sig_hex, 64)) {
        a[0] = 0;
        goto out;
    }
    rc = 0;
out:
    /* the secret and what derives from it do not stay on the stack */
    mbedtls_platform_zeroize(key, sizeof key);
    mbedtls_platform_zeroize(k, sizeof k);
    return rc;
}
