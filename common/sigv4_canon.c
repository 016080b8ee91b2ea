/*
 * common/sigv4_canon.c — see sigv4_canon.h.
 *
 * Nothing here allocates. The query's canonical form is encode(decode(x));
 * an iterator yields it byte by byte from the raw bytes, so sorting and
 * writing need no buffer. Headers are sorted through an array of pointers
 * (stable insertion sort: few entries, and duplicates keep their order).
 */
#include "common/sigv4_canon.h"

#include <string.h>

#include "common/awstime.h"
#include "common/error.h"

#define MAX_PAYLOAD_HASH 128 /* 64 hex, UNSIGNED-PAYLOAD, STREAMING-... */
#define MAX_EXPIRES      604800

static const char HEX_UPPER[] = "0123456789ABCDEF";

/* ---- output ---- */

typedef struct {
    fl_sigv4_canon_sink_t s;
    int err;
} out_t;

static void put(out_t *o, const void *p, size_t n)
{
    if (!o->err && n)
        o->err = o->s.put(o->s.ctx, p, n);
}

static void put_byte(out_t *o, char c)
{
    put(o, &c, 1);
}

static int buf_put(void *ctx, const void *p, size_t n)
{
    fl_buf_t *b = ctx;
    fl_buf_append(b, p, n);
    return b->err;
}

fl_sigv4_canon_sink_t fl_sigv4_canon_buf_sink(fl_buf_t *b)
{
    fl_sigv4_canon_sink_t s = {buf_put, b};
    return s;
}

/* ---- characters ---- */

static int is_unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/* An HTTP token (RFC 9110) of at most FL_SIGV4_CANON_MAX_NAME bytes. */
static int check_name(fl_slice_t s)
{
    if (s.n == 0)
        return FL_EMALFORMED;
    if (s.n > FL_SIGV4_CANON_MAX_NAME)
        return FL_ELIMIT;
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        /* a leading ':' is HTTP/2's pseudo-header (the AWS SDK for
         * JavaScript v3 signs ":authority") */
        if (!(is_unreserved(c) || (c && strchr("!#$%&'*+^`|", c)) ||
              (c == ':' && i == 0 && s.n > 1)))
            return FL_EMALFORMED;
    }
    return 0;
}

/* A header value: no control characters but tab (CR/LF would split it). */
static int check_value(fl_slice_t s)
{
    if (s.n > FL_SIGV4_CANON_MAX_TEXT)
        return FL_ELIMIT;
    for (size_t i = 0; i < s.n; i++)
        if ((s.p[i] < ' ' && s.p[i] != '\t') || s.p[i] == 0x7f)
            return FL_EMALFORMED;
    return 0;
}

/* Header names compared without case, as slices. */
static int name_cmp(fl_slice_t a, fl_slice_t b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    for (size_t i = 0; i < n; i++) {
        int d = (int)lower(a.p[i]) - (int)lower(b.p[i]);
        if (d)
            return d;
    }
    return a.n < b.n ? -1 : a.n > b.n;
}

void fl_sigv4_canon_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- URI ---- */

int fl_sigv4_canon_uri_encode(fl_slice_t s, int keep_slash, fl_sigv4_canon_sink_t sink)
{
    out_t o = {sink, 0};
    size_t run = 0; /* bytes passed through unchanged, not yet written */
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            run++;
            continue;
        }
        put(&o, s.p + i - run, run);
        run = 0;
        char esc[3] = {'%', HEX_UPPER[c >> 4], HEX_UPPER[c & 15]};
        put(&o, esc, 3);
    }
    put(&o, s.p + s.n - run, run);
    return o.err;
}

/* ---- query ---- */

typedef struct {
    fl_slice_t s;
    size_t i;
    char pend[3];
    int npend, ipend;
} enc_iter_t;

static void enc_init(enc_iter_t *it, fl_slice_t s)
{
    memset(it, 0, sizeof *it);
    it->s = s;
}

/* The next byte of encode(decode(s)), or -1 at the end. A '%' not
 * followed by two hex digits is a literal '%'. */
static int enc_next(enc_iter_t *it)
{
    if (it->ipend < it->npend)
        return (uint8_t)it->pend[it->ipend++];
    if (it->i >= it->s.n)
        return -1;
    uint8_t c = it->s.p[it->i++];
    if (c == '%' && it->i + 2 <= it->s.n) {
        int hi = fl_hex_digit(it->s.p[it->i]), lo = fl_hex_digit(it->s.p[it->i + 1]);
        if (hi >= 0 && lo >= 0) {
            c = (uint8_t)(hi * 16 + lo);
            it->i += 2;
        }
    }
    if (is_unreserved(c))
        return c;
    it->pend[0] = '%';
    it->pend[1] = HEX_UPPER[c >> 4];
    it->pend[2] = HEX_UPPER[c & 15];
    it->npend = 3;
    it->ipend = 1;
    return '%';
}

static int enc_cmp(fl_slice_t a, fl_slice_t b)
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

static void put_canonical(out_t *o, fl_slice_t s)
{
    enc_iter_t it;
    enc_init(&it, s);
    char buf[64];
    size_t k = 0;
    for (int c; (c = enc_next(&it)) >= 0;) {
        buf[k++] = (char)c;
        if (k == sizeof buf) {
            put(o, buf, k);
            k = 0;
        }
    }
    put(o, buf, k);
}

typedef struct {
    fl_slice_t name, value;
} param_t;

static int param_cmp(const param_t *a, const param_t *b)
{
    int d = enc_cmp(a->name, b->name);
    return d ? d : enc_cmp(a->value, b->value);
}

/* Split q on '&' into one parameter at a time: 0 at the end, else 1. */
static int next_param(fl_slice_t q, size_t *i, param_t *p)
{
    while (*i < q.n) {
        size_t at = *i, end = at;
        while (end < q.n && q.p[end] != '&')
            end++;
        *i = end + 1;
        if (end == at)
            continue;
        const uint8_t *eq = memchr(q.p + at, '=', end - at);
        p->name = fl_slice(q.p + at, eq ? (size_t)(eq - (q.p + at)) : end - at);
        p->value = eq ? fl_slice(eq + 1, (size_t)(q.p + end - (eq + 1))) : fl_slice(q.p + end, 0);
        return 1;
    }
    return 0;
}

/* The parameters of q sorted; FL_ELIMIT when there are too many. */
static int split_query(fl_slice_t q, int skip_signature, param_t *params, size_t *np)
{
    size_t count = 0, i = 0;
    param_t p;
    while (next_param(q, &i, &p)) {
        if (skip_signature && enc_cmp(p.name, fl_slice_str("X-Amz-Signature")) == 0)
            continue;
        if (count == FL_SIGV4_CANON_MAX_QUERY)
            return FL_ELIMIT;
        size_t j = count++;
        while (j > 0 && param_cmp(&params[j - 1], &p) > 0) {
            params[j] = params[j - 1];
            j--;
        }
        params[j] = p;
    }
    *np = count;
    return 0;
}

/* ---- headers ---- */

/* A value trimmed, with runs of spaces and tabs made one space. */
static void put_value(out_t *o, fl_slice_t v)
{
    size_t a = 0, n = v.n;
    while (a < n && (v.p[a] == ' ' || v.p[a] == '\t'))
        a++;
    while (n > a && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t'))
        n--;
    int in_space = 0;
    size_t run = 0;
    for (size_t i = a; i < n; i++) {
        if (v.p[i] == ' ' || v.p[i] == '\t') {
            if (!in_space) {
                put(o, v.p + i - run, run);
                run = 0;
                put_byte(o, ' ');
            }
            in_space = 1;
        } else {
            in_space = 0;
            run++;
        }
    }
    put(o, v.p + n - run, run);
}

/* The received SignedHeaders list split into names: lower-case tokens,
 * strictly increasing. */
static int split_signed(fl_slice_t list, fl_slice_t *names, size_t *nn)
{
    size_t count = 0, at = 0;
    for (size_t i = 0; i <= list.n; i++) {
        if (i < list.n && list.p[i] != ';')
            continue;
        fl_slice_t name = fl_slice(list.p + at, i - at);
        int rc = check_name(name);
        if (rc)
            return rc;
        for (size_t k = 0; k < name.n; k++)
            if (name.p[k] >= 'A' && name.p[k] <= 'Z')
                return FL_EMALFORMED;
        if (count == FL_SIGV4_CANON_MAX_HEADERS)
            return FL_ELIMIT;
        if (count && name_cmp(names[count - 1], name) >= 0)
            return FL_EMALFORMED; /* out of order or repeated */
        names[count++] = name;
        at = i + 1;
    }
    *nn = count;
    return 0;
}

static int in_list(const fl_slice_t *names, size_t nn, fl_slice_t name)
{
    size_t lo = 0, hi = nn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = name_cmp(names[mid], name);
        if (d == 0)
            return 1;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Write the distinct lower-case names of sorted headers joined by ';'. */
static int write_signed(const fl_sigv4_canon_header_t *const *h, size_t nh, char *out, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && name_cmp(h[i - 1]->name, h[i]->name) == 0)
            continue;
        size_t need = (len ? 1 : 0) + h[i]->name.n;
        if (need >= cap - len)
            return FL_ELIMIT;
        if (len)
            out[len++] = ';';
        for (size_t k = 0; k < h[i]->name.n; k++)
            out[len++] = (char)lower(h[i]->name.p[k]);
    }
    out[len] = 0;
    return 0;
}

static int check_payload_hash(fl_slice_t s)
{
    if (s.n == 0)
        return FL_EMALFORMED;
    if (s.n > MAX_PAYLOAD_HASH)
        return FL_ELIMIT;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] <= ' ' || s.p[i] > '~')
            return FL_EMALFORMED;
    return 0;
}

int fl_sigv4_canon_request(const fl_sigv4_canon_request_t *req, fl_sigv4_canon_sink_t sink,
                           char *signed_out, size_t cap)
{
    if (!req || !sink.put || !signed_out || cap == 0 || (req->n_headers && !req->headers) ||
        !req->method.p || !req->path.p)
        return FL_EINVAL;
    signed_out[0] = 0;
    int rc;
    if ((rc = check_name(req->method)) != 0 || (rc = check_payload_hash(req->payload_hash)) != 0)
        return rc;
    if (req->path.n > FL_SIGV4_CANON_MAX_TEXT || req->query.n > FL_SIGV4_CANON_MAX_TEXT)
        return FL_ELIMIT;
    if (req->path.n == 0 || req->path.p[0] != '/')
        return FL_EMALFORMED;

    /* the headers to sign, sorted by name */
    const fl_sigv4_canon_header_t *h[FL_SIGV4_CANON_MAX_HEADERS];
    size_t nh = 0;
    fl_slice_t wanted[FL_SIGV4_CANON_MAX_HEADERS];
    size_t nw = 0;
    int verify = req->signed_headers.n > 0;
    if (verify && (rc = split_signed(req->signed_headers, wanted, &nw)) != 0)
        return rc;
    for (size_t i = 0; i < req->n_headers; i++) {
        const fl_sigv4_canon_header_t *x = &req->headers[i];
        if ((x->name.n && !x->name.p) || (x->value.n && !x->value.p))
            return FL_EINVAL;
        if (verify && !in_list(wanted, nw, x->name))
            continue;
        if ((rc = check_name(x->name)) != 0 || (rc = check_value(x->value)) != 0)
            return rc;
        if (nh == FL_SIGV4_CANON_MAX_HEADERS)
            return FL_ELIMIT;
        size_t j = nh++;
        while (j > 0 && name_cmp(h[j - 1]->name, x->name) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = x;
    }
    if (verify) {
        /* every listed name is there: both lists are sorted */
        size_t k = 0;
        for (size_t i = 0; i < nh && k < nw; i++)
            if (name_cmp(h[i]->name, wanted[k]) == 0)
                k++;
        if (k != nw)
            return FL_EMALFORMED; /* a signed header was not sent */
    }
    if ((rc = write_signed(h, nh, signed_out, cap)) != 0)
        return rc;

    param_t params[FL_SIGV4_CANON_MAX_QUERY];
    size_t np = 0;
    if ((rc = split_query(req->query, req->skip_signature, params, &np)) != 0)
        return rc;

    /* the canonical request */
    out_t o = {sink, 0};
    put(&o, req->method.p, req->method.n);
    put_byte(&o, '\n');
    if (!o.err)
        o.err = fl_sigv4_canon_uri_encode(req->path, 1, sink);
    put_byte(&o, '\n');
    for (size_t i = 0; i < np; i++) {
        if (i)
            put_byte(&o, '&');
        put_canonical(&o, params[i].name);
        put_byte(&o, '=');
        put_canonical(&o, params[i].value);
    }
    put_byte(&o, '\n');
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && name_cmp(h[i - 1]->name, h[i]->name) == 0) {
            put_byte(&o, ',');
        } else {
            if (i)
                put_byte(&o, '\n');
            char lname[FL_SIGV4_CANON_MAX_NAME];
            for (size_t k = 0; k < h[i]->name.n; k++)
                lname[k] = (char)lower(h[i]->name.p[k]);
            put(&o, lname, h[i]->name.n);
            put_byte(&o, ':');
        }
        put_value(&o, h[i]->value);
    }
    put(&o, "\n\n", 2);
    put(&o, signed_out, strlen(signed_out));
    put_byte(&o, '\n');
    put(&o, req->payload_hash.p, req->payload_hash.n);
    return o.err;
}

/* ---- scope and string to sign ---- */

int fl_sigv4_canon_check_field(fl_slice_t s, size_t max)
{
    if (s.n == 0)
        return FL_EMALFORMED;
    if (s.n > max)
        return FL_ELIMIT;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] <= ' ' || s.p[i] > '~' || s.p[i] == '/' || s.p[i] == ',' || s.p[i] == '=')
            return FL_EMALFORMED;
    return 0;
}

/* Append s to out[cap] at *len, NUL-terminated; 0 or FL_ELIMIT. */
static int append(char *out, size_t cap, size_t *len, fl_slice_t s)
{
    if (s.n >= cap - *len)
        return FL_ELIMIT;
    memcpy(out + *len, s.p, s.n);
    *len += s.n;
    out[*len] = 0;
    return 0;
}

int fl_sigv4_canon_scope(fl_slice_t date, fl_slice_t region, fl_slice_t service, char *out,
                         size_t cap)
{
    if (!out || cap == 0)
        return FL_EINVAL;
    out[0] = 0;
    if (date.n != 8)
        return FL_EMALFORMED;
    for (size_t i = 0; i < 8; i++)
        if (date.p[i] < '0' || date.p[i] > '9')
            return FL_EMALFORMED;
    int rc;
    if ((rc = fl_sigv4_canon_check_field(region, FL_SIGV4_CANON_MAX_FIELD)) != 0 ||
        (rc = fl_sigv4_canon_check_field(service, FL_SIGV4_CANON_MAX_FIELD)) != 0)
        return rc;
    size_t len = 0;
    if (append(out, cap, &len, date) || append(out, cap, &len, fl_slice_str("/")) ||
        append(out, cap, &len, region) || append(out, cap, &len, fl_slice_str("/")) ||
        append(out, cap, &len, service) || append(out, cap, &len, fl_slice_str("/aws4_request"))) {
        out[0] = 0;
        return FL_ELIMIT;
    }
    return (int)len;
}

int fl_sigv4_canon_string_to_sign(fl_slice_t amz_date, fl_slice_t scope, fl_slice_t hash_hex,
                                  char *out, size_t cap)
{
    if (!out || cap == 0)
        return FL_EINVAL;
    out[0] = 0;
    if (amz_date.n != FL_AWSTIME_AMZ_DATE_LEN || hash_hex.n != 64 || scope.n == 0)
        return FL_EMALFORMED;
    for (size_t i = 0; i < 64; i++) {
        uint8_t c = hash_hex.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return FL_EMALFORMED;
    }
    for (size_t i = 0; i < scope.n; i++)
        if (scope.p[i] <= ' ' || scope.p[i] > '~')
            return FL_EMALFORMED;
    size_t len = 0;
    if (append(out, cap, &len, fl_slice_str(FL_SIGV4_CANON_ALGORITHM "\n")) ||
        append(out, cap, &len, amz_date) || append(out, cap, &len, fl_slice_str("\n")) ||
        append(out, cap, &len, scope) || append(out, cap, &len, fl_slice_str("\n")) ||
        append(out, cap, &len, hash_hex)) {
        out[0] = 0;
        return FL_ELIMIT;
    }
    return (int)len;
}

/* ---- what a verifier receives ---- */

static int fail(const char **why, const char *reason, int code)
{
    if (why)
        *why = reason;
    return code;
}

/* Percent-decode s into out[cap] ('+' stays '+', as SigV4 encodes a space
 * as %20); 0, FL_ELIMIT when it does not fit, FL_EMALFORMED for a NUL. */
static int decode(fl_slice_t s, char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (c == '%' && i + 2 < s.n) {
            int hi = fl_hex_digit(s.p[i + 1]), lo = fl_hex_digit(s.p[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (uint8_t)(hi * 16 + lo);
                i += 2;
            }
        }
        if (c == 0)
            return FL_EMALFORMED;
        if (n + 1 >= cap)
            return FL_ELIMIT;
        out[n++] = (char)c;
    }
    out[n] = 0;
    *len = n;
    return 0;
}

/* KEY/DATE/REGION/SERVICE/aws4_request */
static int parse_credential(fl_slice_t c, fl_sigv4_canon_auth_t *out, const char **why)
{
    fl_slice_t part[5];
    size_t np = 0, at = 0;
    for (size_t i = 0; i <= c.n; i++) {
        if (i < c.n && c.p[i] != '/')
            continue;
        if (np == 5)
            return fail(why, "Credential has too many parts", FL_EMALFORMED);
        part[np++] = fl_slice(c.p + at, i - at);
        at = i + 1;
    }
    if (np != 5 || !fl_slice_eq_str(part[4], "aws4_request"))
        return fail(why, "Credential is not KEY/DATE/REGION/SERVICE/aws4_request", FL_EMALFORMED);
    int rc = fl_sigv4_canon_check_field(part[0], FL_SIGV4_CANON_MAX_ACCESS_KEY);
    for (size_t k = 0; !rc && k < part[0].n; k++) {
        uint8_t ch = part[0].p[k];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            rc = FL_EMALFORMED; /* access key ids are letters and digits */
    }
    if (rc)
        return fail(why,
                    "Credential's access key is empty, too long or has a character other than "
                    "letters and digits",
                    rc);
    int date_ok = part[1].n == 8;
    for (size_t k = 0; date_ok && k < 8; k++)
        date_ok = part[1].p[k] >= '0' && part[1].p[k] <= '9';
    if (!date_ok)
        return fail(why, "Credential's date is not YYYYMMDD", FL_EMALFORMED);
    char scope[FL_SIGV4_CANON_SCOPE_MAX];
    rc = fl_sigv4_canon_scope(part[1], part[2], part[3], scope, sizeof scope);
    if (rc < 0)
        return fail(why, "Credential's date, region or service is not valid", rc);
    memcpy(out->access_key, part[0].p, part[0].n);
    out->access_key[part[0].n] = 0;
    memcpy(out->date, part[1].p, 8);
    out->date[8] = 0;
    memcpy(out->region, part[2].p, part[2].n);
    out->region[part[2].n] = 0;
    memcpy(out->service, part[3].p, part[3].n);
    out->service[part[3].n] = 0;
    return 0;
}

static int parse_signed_headers(fl_slice_t v, fl_sigv4_canon_auth_t *out, const char **why)
{
    if (v.n >= sizeof out->signed_headers)
        return fail(why, "SignedHeaders is too long", FL_ELIMIT);
    size_t count = 1;
    for (size_t k = 0; k < v.n; k++) {
        if (v.p[k] != ';')
            continue;
        count++;
        if (k == 0 || k + 1 == v.n || v.p[k + 1] == ';')
            return fail(why, "SignedHeaders has an empty name", FL_EMALFORMED);
    }
    if (v.n == 0)
        return fail(why, "SignedHeaders has an empty name", FL_EMALFORMED);
    if (count > FL_SIGV4_CANON_MAX_HEADERS)
        return fail(why, "SignedHeaders names more than 32 headers", FL_ELIMIT);
    fl_slice_t names[FL_SIGV4_CANON_MAX_HEADERS];
    size_t nn;
    int rc = split_signed(v, names, &nn);
    if (rc)
        return fail(why, "SignedHeaders is not sorted lower-case header names", rc);
    memcpy(out->signed_headers, v.p, v.n);
    out->signed_headers[v.n] = 0;
    return 0;
}

static int parse_signature(fl_slice_t v, fl_sigv4_canon_auth_t *out, const char **why)
{
    if (v.n != 64)
        return fail(why, "Signature is not 64 hex digits (lower case)", FL_EMALFORMED);
    for (size_t k = 0; k < 64; k++)
        if (!((v.p[k] >= '0' && v.p[k] <= '9') || (v.p[k] >= 'a' && v.p[k] <= 'f')))
            return fail(why, "Signature is not 64 hex digits (lower case)", FL_EMALFORMED);
    memcpy(out->signature, v.p, 64);
    out->signature[64] = 0;
    return 0;
}

int fl_sigv4_canon_parse_authorization(fl_slice_t h, fl_sigv4_canon_auth_t *out, const char **why)
{
    if (!out)
        return FL_EINVAL;
    memset(out, 0, sizeof *out);
    if (h.n > FL_SIGV4_CANON_MAX_AUTHORIZATION)
        return fail(why, "Authorization header too long", FL_ELIMIT);
    size_t sl = strlen(FL_SIGV4_CANON_ALGORITHM);
    if (h.n < sl || memcmp(h.p, FL_SIGV4_CANON_ALGORITHM, sl) != 0 || (h.n > sl && h.p[sl] != ' '))
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
        const uint8_t *eq = memchr(h.p + s, '=', e - s);
        if (!eq)
            return fail(why, "Authorization part without '='", FL_EMALFORMED);
        fl_slice_t name = fl_slice(h.p + s, (size_t)(eq - (h.p + s)));
        fl_slice_t val = fl_slice(eq + 1, (size_t)(h.p + e - (eq + 1)));
        int bit, rc;
        if (fl_slice_eq_str(name, "Credential")) {
            bit = 1;
            rc = parse_credential(val, out, why);
        } else if (fl_slice_eq_str(name, "SignedHeaders")) {
            bit = 2;
            rc = parse_signed_headers(val, out, why);
        } else if (fl_slice_eq_str(name, "Signature")) {
            bit = 4;
            rc = parse_signature(val, out, why);
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

enum { P_ALG, P_CRED, P_DATE, P_EXPIRES, P_SIGNED, P_SIG, P_TOKEN, P_COUNT };
static const char *const presigned_names[P_COUNT] = {
    "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token"};

int fl_sigv4_canon_parse_presigned(fl_slice_t query, fl_sigv4_canon_auth_t *out, const char **why)
{
    if (!out)
        return FL_EINVAL;
    memset(out, 0, sizeof *out);
    if (query.n > FL_SIGV4_CANON_MAX_TEXT)
        return fail(why, "query too long", FL_ELIMIT);
    fl_slice_t val[P_COUNT];
    memset(val, 0, sizeof val);
    int seen[P_COUNT] = {0};
    size_t i = 0, count = 0;
    param_t p;
    while (next_param(query, &i, &p)) {
        if (++count > FL_SIGV4_CANON_MAX_QUERY)
            return fail(why, "query has too many parameters", FL_ELIMIT);
        for (int k = 0; k < P_COUNT; k++) {
            if (enc_cmp(p.name, fl_slice_str(presigned_names[k])) != 0)
                continue;
            if (seen[k])
                return fail(why, "a presigned X-Amz-* parameter is repeated", FL_EMALFORMED);
            seen[k] = 1;
            val[k] = p.value;
        }
    }
    if (!seen[P_ALG])
        return fail(why, "not a presigned URL (no X-Amz-Algorithm)", FL_ENOTFOUND);
    char tmp[FL_SIGV4_CANON_SIGNED_MAX];
    size_t n;
    int rc;
    if (decode(val[P_ALG], tmp, sizeof tmp, &n) != 0 || strcmp(tmp, FL_SIGV4_CANON_ALGORITHM) != 0)
        return fail(why, "X-Amz-Algorithm is not AWS4-HMAC-SHA256", FL_EUNSUPPORTED);
    for (int k = 0; k < P_TOKEN; k++)
        if (!seen[k])
            return fail(why,
                        "a presigned URL lacks one of X-Amz-Credential, X-Amz-Date, "
                        "X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature",
                        FL_EMALFORMED);
    out->has_security_token = seen[P_TOKEN];

    if ((rc = decode(val[P_CRED], tmp, sizeof tmp, &n)) != 0)
        return fail(why, "X-Amz-Credential is too long or holds a NUL", rc);
    if ((rc = parse_credential(fl_slice(tmp, n), out, why)) != 0)
        return rc;

    int64_t ns;
    if (decode(val[P_DATE], tmp, sizeof tmp, &n) != 0 || n != FL_AWSTIME_AMZ_DATE_LEN ||
        tmp[8] != 'T' || tmp[15] != 'Z' || fl_awstime_parse_iso8601(fl_slice(tmp, n), &ns) != 0)
        return fail(why, "X-Amz-Date is not YYYYMMDDTHHMMSSZ", FL_EMALFORMED);
    memcpy(out->amz_date, tmp, n + 1);
    if (memcmp(out->amz_date, out->date, 8) != 0)
        return fail(why, "X-Amz-Date is not on the credential's date", FL_EMALFORMED);

    if (decode(val[P_EXPIRES], tmp, sizeof tmp, &n) != 0 || n == 0 || n > 6)
        return fail(why, "X-Amz-Expires is not 1..604800 seconds", FL_EMALFORMED);
    out->expires = 0;
    for (size_t k = 0; k < n; k++) {
        if (tmp[k] < '0' || tmp[k] > '9')
            return fail(why, "X-Amz-Expires is not 1..604800 seconds", FL_EMALFORMED);
        out->expires = out->expires * 10 + (tmp[k] - '0');
    }
    if (out->expires < 1 || out->expires > MAX_EXPIRES)
        return fail(why, "X-Amz-Expires is not 1..604800 seconds", FL_ELIMIT);

    if ((rc = decode(val[P_SIGNED], tmp, sizeof tmp, &n)) != 0)
        return fail(why, "X-Amz-SignedHeaders is too long", rc);
    if ((rc = parse_signed_headers(fl_slice(tmp, n), out, why)) != 0)
        return rc;
    if (decode(val[P_SIG], tmp, sizeof tmp, &n) != 0)
        return fail(why, "Signature is not 64 hex digits (lower case)", FL_EMALFORMED);
    return parse_signature(fl_slice(tmp, n), out, why);
}
