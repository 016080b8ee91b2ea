/*
 * common/json.c — see json.h.
 *
 * A recursive-descent parser bounded by max_depth (so recursion is bounded
 * too). Nodes come from blocks of FL_JSON_BLOCK nodes that never move, so
 * pointers between nodes stay valid while the document grows. Decoded
 * strings go to one buffer sized from the input: a decoded string plus its
 * NUL is never longer than its quoted source, so that buffer never grows.
 * A string's runs of plain ASCII are found 16 bytes at a time with SSE2
 * where the compiler targets it (x86-64 always), else 4 at a time.
 */
#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define FL_JSON_BLOCK 64

typedef struct node_block {
    struct node_block *next;
    size_t used;
    fl_json_t nodes[FL_JSON_BLOCK];
} node_block_t;

struct fl_json_doc {
    node_block_t *blocks;
    char *strings;
    size_t strings_used;
    fl_json_t *root;
};

typedef struct {
    const uint8_t *p;
    size_t n, off;
    fl_json_limits_t lim;
    size_t values;
    fl_json_doc_t *doc;
    int err;
} parser_t;

static int fail(parser_t *ps, int err)
{
    if (!ps->err)
        ps->err = err;
    return ps->err;
}

static fl_json_t *new_node(parser_t *ps)
{
    if (++ps->values > ps->lim.max_values) {
        fail(ps, FL_ELIMIT);
        return NULL;
    }
    node_block_t *b = ps->doc->blocks;
    if (!b || b->used == FL_JSON_BLOCK) {
        b = calloc(1, sizeof *b);
        if (!b) {
            fail(ps, FL_ENOMEM);
            return NULL;
        }
        b->next = ps->doc->blocks;
        ps->doc->blocks = b;
    }
    fl_json_t *v = &b->nodes[b->used++];
    memset(v, 0, sizeof *v);
    return v;
}

static void skip_ws(parser_t *ps)
{
    while (ps->off < ps->n) {
        uint8_t c = ps->p[ps->off];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->off++;
    }
}

static int read_hex4(parser_t *ps, uint32_t *out)
{
    if (ps->n - ps->off < 4)
        return fail(ps, FL_EMALFORMED);
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = fl_hex_digit(ps->p[ps->off + (size_t)i]);
        if (h < 0)
            return fail(ps, FL_EMALFORMED);
        v = v << 4 | (uint32_t)h;
    }
    ps->off += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | cp >> 12);
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | cp >> 18);
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* 1 for the bytes a string copies as they are: printable ASCII but the
 * quote and the backslash. */
static const uint8_t plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* At an opening quote: decode into the string buffer. */
static int parse_string(parser_t *ps, const char **out, size_t *out_len)
{
    ps->off++; /* the quote */
    char *start = ps->doc->strings + ps->doc->strings_used;
    char *d = start;
    for (;;) {
        if (ps->off >= ps->n)
            return fail(ps, FL_EMALFORMED);
        uint8_t c = ps->p[ps->off];
        if (c == '"') {
            ps->off++;
            break;
        }
        if ((size_t)(d - start) + 4 > ps->lim.max_string)
            return fail(ps, FL_ELIMIT);
        if (c < 0x20)
            return fail(ps, FL_EMALFORMED);
        if (c < 0x80 && c != '\\') {
            /* a run of plain ASCII (base64 blobs are all of it): copied at
             * once, within the same limit */
            size_t room = ps->lim.max_string - (size_t)(d - start) - 4;
            size_t e = ps->off + 1, end = ps->n - ps->off > room ? ps->off + room + 1 : ps->n;
#if defined(__SSE2__)
            /* 16 at a time: stop at a quote, a backslash, or a byte below
             * 0x20 or from 0x80 (signed, those are all below 0x20) */
            const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                          space = _mm_set1_epi8(0x20);
            while (e + 16 <= end) {
                __m128i v = _mm_loadu_si128((const __m128i *)(ps->p + e));
                __m128i stop =
                    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
                int m = _mm_movemask_epi8(stop);
                if (m) {
                    e += (size_t)__builtin_ctz((unsigned)m);
                    break;
                }
                e += 16;
            }
#endif
            while (e + 4 <= end && (plain[ps->p[e]] & plain[ps->p[e + 1]] & plain[ps->p[e + 2]] &
                                    plain[ps->p[e + 3]]))
                e += 4;
            while (e < end && plain[ps->p[e]])
                e++;
            memcpy(d, ps->p + ps->off, e - ps->off);
            d += e - ps->off;
            ps->off = e;
            continue;
        }
        if (c != '\\') {
            uint32_t cp;
            size_t l = fl_utf8_decode(ps->p + ps->off, ps->n - ps->off, &cp);
            if (!l)
                return fail(ps, FL_EMALFORMED);
            memcpy(d, ps->p + ps->off, l);
            d += l;
            ps->off += l;
            continue;
        }
        if (++ps->off >= ps->n)
            return fail(ps, FL_EMALFORMED);
        c = ps->p[ps->off++];
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *d++ = (char)c;
            break;
        case 'b':
            *d++ = '\b';
            break;
        case 'f':
            *d++ = '\f';
            break;
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 't':
            *d++ = '\t';
            break;
        case 'u': {
            uint32_t cp;
            if (read_hex4(ps, &cp))
                return ps->err;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(ps, FL_EMALFORMED); /* lone low surrogate */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (ps->n - ps->off < 2 || ps->p[ps->off] != '\\' || ps->p[ps->off + 1] != 'u')
                    return fail(ps, FL_EMALFORMED);
                ps->off += 2;
                if (read_hex4(ps, &lo))
                    return ps->err;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(ps, FL_EMALFORMED);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            d += put_utf8(d, cp);
            break;
        }
        default:
            return fail(ps, FL_EMALFORMED);
        }
    }
    *d = 0;
    *out = start;
    *out_len = (size_t)(d - start);
    ps->doc->strings_used += *out_len + 1;
    return 0;
}

static int parse_number(parser_t *ps, fl_json_t *v)
{
    size_t s = ps->off;
    const uint8_t *p = ps->p;
    size_t i = s;
    if (i < ps->n && p[i] == '-')
        i++;
    if (i >= ps->n)
        return fail(ps, FL_EMALFORMED);
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < ps->n && p[i] >= '0' && p[i] <= '9')
            i++;
    } else {
        return fail(ps, FL_EMALFORMED);
    }
    if (i < ps->n && p[i] == '.') {
        i++;
        if (i >= ps->n || p[i] < '0' || p[i] > '9')
            return fail(ps, FL_EMALFORMED);
        while (i < ps->n && p[i] >= '0' && p[i] <= '9')
            i++;
    }
    if (i < ps->n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < ps->n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= ps->n || p[i] < '0' || p[i] > '9')
            return fail(ps, FL_EMALFORMED);
        while (i < ps->n && p[i] >= '0' && p[i] <= '9')
            i++;
    }
    if (i - s > 64)
        return fail(ps, FL_ELIMIT); /* no sane API number is this long */
    /* copy the text into the string buffer so it is NUL-terminated */
    char *d = ps->doc->strings + ps->doc->strings_used;
    memcpy(d, p + s, i - s);
    d[i - s] = 0;
    ps->doc->strings_used += i - s + 1;
    v->type = FL_JSON_NUMBER;
    v->str = d;
    v->len = i - s;
    ps->off = i;
    return 0;
}

static int parse_value(parser_t *ps, fl_json_t *v, size_t depth);

static int parse_container(parser_t *ps, fl_json_t *v, size_t depth, int is_object)
{
    if (depth >= ps->lim.max_depth)
        return fail(ps, FL_ELIMIT);
    v->type = is_object ? FL_JSON_OBJECT : FL_JSON_ARRAY;
    uint8_t close = is_object ? '}' : ']';
    ps->off++;
    skip_ws(ps);
    if (ps->off < ps->n && ps->p[ps->off] == close) {
        ps->off++;
        return 0;
    }
    fl_json_t **tail = &v->child;
    for (;;) {
        skip_ws(ps);
        fl_json_t *kid = new_node(ps);
        if (!kid)
            return ps->err;
        if (is_object) {
            if (ps->off >= ps->n || ps->p[ps->off] != '"')
                return fail(ps, FL_EMALFORMED);
            if (parse_string(ps, &kid->key, &kid->key_len))
                return ps->err;
            skip_ws(ps);
            if (ps->off >= ps->n || ps->p[ps->off] != ':')
                return fail(ps, FL_EMALFORMED);
            ps->off++;
            skip_ws(ps);
        }
        if (parse_value(ps, kid, depth + 1))
            return ps->err;
        *tail = kid;
        tail = &kid->next;
        v->count++;
        skip_ws(ps);
        if (ps->off >= ps->n)
            return fail(ps, FL_EMALFORMED);
        uint8_t c = ps->p[ps->off++];
        if (c == close)
            return 0;
        if (c != ',')
            return fail(ps, FL_EMALFORMED);
    }
}

static int parse_literal(parser_t *ps, const char *word, fl_json_type_t t, fl_json_t *v)
{
    size_t l = strlen(word);
    if (ps->n - ps->off < l || memcmp(ps->p + ps->off, word, l) != 0)
        return fail(ps, FL_EMALFORMED);
    ps->off += l;
    v->type = t;
    return 0;
}

static int parse_value(parser_t *ps, fl_json_t *v, size_t depth)
{
    skip_ws(ps);
    if (ps->off >= ps->n)
        return fail(ps, FL_EMALFORMED);
    switch (ps->p[ps->off]) {
    case '{':
        return parse_container(ps, v, depth, 1);
    case '[':
        return parse_container(ps, v, depth, 0);
    case '"':
        v->type = FL_JSON_STRING;
        return parse_string(ps, &v->str, &v->len);
    case 't':
        return parse_literal(ps, "true", FL_JSON_TRUE, v);
    case 'f':
        return parse_literal(ps, "false", FL_JSON_FALSE, v);
    case 'n':
        return parse_literal(ps, "null", FL_JSON_NULL, v);
    default:
        return parse_number(ps, v);
    }
}

void fl_json_free(fl_json_doc_t *doc)
{
    if (!doc)
        return;
    node_block_t *b = doc->blocks;
    while (b) {
        node_block_t *next = b->next;
        free(b);
        b = next;
    }
    free(doc->strings);
    free(doc);
}

int fl_json_parse(fl_slice_t text, const fl_json_limits_t *limits, fl_json_doc_t **out,
                  size_t *err_off)
{
    *out = NULL;
    parser_t ps;
    memset(&ps, 0, sizeof ps);
    ps.p = text.p;
    ps.n = text.n;
    if (limits)
        ps.lim = *limits;
    if (!ps.lim.max_depth)
        ps.lim.max_depth = 32;
    if (!ps.lim.max_values)
        ps.lim.max_values = 100000;
    if (!ps.lim.max_string)
        ps.lim.max_string = 1 << 20;
    ps.doc = calloc(1, sizeof *ps.doc);
    if (!ps.doc)
        return FL_ENOMEM;
    /* +1: a bare number at the very end still gets its NUL */
    ps.doc->strings = malloc(text.n + 1);
    if (!ps.doc->strings) {
        fl_json_free(ps.doc);
        return FL_ENOMEM;
    }
    fl_json_t *root = new_node(&ps);
    if (root && parse_value(&ps, root, 0) == 0) {
        skip_ws(&ps);
        if (ps.off != ps.n)
            fail(&ps, FL_EMALFORMED); /* trailing bytes */
    }
    if (ps.err) {
        if (err_off)
            *err_off = ps.off;
        fl_json_free(ps.doc);
        return ps.err;
    }
    ps.doc->root = root;
    *out = ps.doc;
    return 0;
}

const fl_json_t *fl_json_root(const fl_json_doc_t *doc)
{
    return doc ? doc->root : NULL;
}

const fl_json_t *fl_json_get(const fl_json_t *obj, const char *key)
{
    if (!obj || obj->type != FL_JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (const fl_json_t *m = obj->child; m; m = m->next)
        if (m->key_len == kl && memcmp(m->key, key, kl) == 0)
            return m;
    return NULL;
}

int fl_json_int64(const fl_json_t *v, int64_t *out)
{
    if (!v || v->type != FL_JSON_NUMBER)
        return FL_EINVAL;
    for (size_t i = 0; i < v->len; i++)
        if (v->str[i] == '.' || v->str[i] == 'e' || v->str[i] == 'E')
            return FL_EINVAL;
    errno = 0;
    char *end;
    long long x = strtoll(v->str, &end, 10);
    if (errno || *end)
        return FL_EINVAL;
    *out = x;
    return 0;
}

int fl_json_double(const fl_json_t *v, double *out)
{
    if (!v || v->type != FL_JSON_NUMBER)
        return FL_EINVAL;
    char *end;
    double x = strtod(v->str, &end);
    if (*end || !isfinite(x))
        return FL_EINVAL;
    *out = x;
    return 0;
}

void fl_json_write_string(fl_buf_t *b, fl_slice_t s)
{
    static const char hex[] = "0123456789abcdef";
    fl_buf_u8(b, '"');
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        fl_buf_append(b, s.p + i - run, run);
        run = 0;
        char esc[7] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        fl_buf_append(b, esc, el);
    }
    fl_buf_append(b, s.p + s.n - run, run);
    fl_buf_u8(b, '"');
}
