/*
 * common/awstime.c — see awstime.h.
 *
 * Calendar arithmetic is Howard Hinnant's days_from_civil/civil_from_days
 * (proleptic Gregorian, exact for every int64 day count used here), so
 * nothing depends on the C library's time zone tables or on time_t's width.
 */
#include "common/awstime.h"

#include <string.h>

#include "common/error.h"

#define SECS_PER_DAY INT64_C(86400)
#define MAX_SECS     INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define EXP_CAP      100000                /* exponents beyond this saturate */

/* ---- calendar ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

/* ---- formatting ---- */

/* n decimal digits of v, zero-padded, at p. */
static void put_digits(char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

typedef struct {
    int y, mo, d, h, mi, s;
} civil_t;

static int split_secs(int64_t secs, civil_t *c)
{
    if (secs < 0 || secs > MAX_SECS)
        return FL_ELIMIT;
    int64_t days = secs / SECS_PER_DAY, rem = secs % SECS_PER_DAY;
    civil_from_days(days, &c->y, &c->mo, &c->d);
    c->h = (int)(rem / 3600);
    c->mi = (int)(rem / 60 % 60);
    c->s = (int)(rem % 60);
    return 0;
}

int fl_awstime_amz_date(int64_t secs, char out[FL_AWSTIME_AMZ_DATE_LEN + 1])
{
    civil_t c;
    int rc = split_secs(secs, &c);
    if (rc)
        return rc;
    put_digits(out, (uint64_t)c.y, 4);
    put_digits(out + 4, (uint64_t)c.mo, 2);
    put_digits(out + 6, (uint64_t)c.d, 2);
    out[8] = 'T';
    put_digits(out + 9, (uint64_t)c.h, 2);
    put_digits(out + 11, (uint64_t)c.mi, 2);
    put_digits(out + 13, (uint64_t)c.s, 2);
    out[15] = 'Z';
    out[16] = 0;
    return 0;
}

int fl_awstime_scope_date(int64_t secs, char out[FL_AWSTIME_DATE_LEN + 1])
{
    char full[FL_AWSTIME_AMZ_DATE_LEN + 1];
    int rc = fl_awstime_amz_date(secs, full);
    if (rc)
        return rc;
    memcpy(out, full, FL_AWSTIME_DATE_LEN);
    out[FL_AWSTIME_DATE_LEN] = 0;
    return 0;
}

int fl_awstime_iso8601(int64_t ns, char out[FL_AWSTIME_ISO8601_LEN + 1])
{
    civil_t c;
    if (ns < 0)
        return FL_ELIMIT;
    int rc = split_secs(ns / FL_AWSTIME_NS_PER_SEC, &c);
    if (rc)
        return rc;
    put_digits(out, (uint64_t)c.y, 4);
    out[4] = '-';
    put_digits(out + 5, (uint64_t)c.mo, 2);
    out[7] = '-';
    put_digits(out + 8, (uint64_t)c.d, 2);
    out[10] = 'T';
    put_digits(out + 11, (uint64_t)c.h, 2);
    out[13] = ':';
    put_digits(out + 14, (uint64_t)c.mi, 2);
    out[16] = ':';
    put_digits(out + 17, (uint64_t)c.s, 2);
    out[19] = '.';
    put_digits(out + 20, (uint64_t)(ns % FL_AWSTIME_NS_PER_SEC / 1000000), 3);
    out[23] = 'Z';
    out[24] = 0;
    return 0;
}

int fl_awstime_epoch(int64_t ns, int frac_digits, char *out, size_t cap)
{
    if (!out || cap < FL_AWSTIME_EPOCH_MAX || frac_digits < 0 || frac_digits > 9)
        return FL_EINVAL;
    size_t n = 0;
    /* the magnitude as unsigned, so INT64_MIN has one too */
    uint64_t mag = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0)
        out[n++] = '-';
    uint64_t secs = mag / (uint64_t)FL_AWSTIME_NS_PER_SEC;
    uint64_t frac = mag % (uint64_t)FL_AWSTIME_NS_PER_SEC;
    char tmp[20];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + secs % 10);
        secs /= 10;
    } while (secs);
    while (k)
        out[n++] = tmp[--k];
    if (frac_digits) {
        for (int i = frac_digits; i < 9; i++)
            frac /= 10;
        out[n++] = '.';
        put_digits(out + n, frac, frac_digits);
        n += (size_t)frac_digits;
    }
    out[n] = 0;
    return (int)n;
}

void fl_awstime_buf_epoch(fl_buf_t *b, int64_t ns, int frac_digits)
{
    char t[FL_AWSTIME_EPOCH_MAX];
    int n = fl_awstime_epoch(ns, frac_digits, t, sizeof t);
    if (n < 0) {
        if (!b->err)
            b->err = n;
        return;
    }
    fl_buf_append(b, t, (size_t)n);
}

/* ---- parsing ---- */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* v = v * 10 + d within int64; 0 or FL_ELIMIT. */
static int mul10_add(int64_t *v, int d)
{
    if (*v > (INT64_MAX - d) / 10)
        return FL_ELIMIT;
    *v = *v * 10 + d;
    return 0;
}

int fl_awstime_parse_epoch(fl_slice_t t, int64_t *ns)
{
    if (t.n == 0)
        return FL_EMALFORMED;
    if (t.n > FL_AWSTIME_MAX_TEXT)
        return FL_ELIMIT;
    size_t i = 0;
    int neg = t.p[0] == '-';
    if (neg)
        i++;
    /* the grammar first: digits ['.' digits] [e [+-] digits] */
    size_t int_at = i;
    while (i < t.n && is_digit(t.p[i]))
        i++;
    size_t int_n = i - int_at, frac_at = i, frac_n = 0;
    if (int_n == 0)
        return FL_EMALFORMED;
    if (i < t.n && t.p[i] == '.') {
        frac_at = ++i;
        while (i < t.n && is_digit(t.p[i]))
            i++;
        frac_n = i - frac_at;
        if (frac_n == 0)
            return FL_EMALFORMED;
    }
    int64_t exp = 0;
    if (i < t.n && (t.p[i] == 'e' || t.p[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < t.n && (t.p[i] == '+' || t.p[i] == '-'))
            eneg = t.p[i++] == '-';
        size_t e_at = i;
        for (; i < t.n && is_digit(t.p[i]); i++)
            if (exp < EXP_CAP)
                exp = exp * 10 + (t.p[i] - '0');
        if (i == e_at)
            return FL_EMALFORMED;
        if (eneg)
            exp = -exp;
    }
    if (i != t.n)
        return FL_EMALFORMED;

    /* The mantissa's digits d[0..L) are int then fraction; digit k stands
     * for d[k] * 10^(p + L-1-k) nanoseconds, p the power of the last one. */
    int64_t p = exp - (int64_t)frac_n + 9;
    size_t L = int_n + frac_n;
    int64_t v = 0;
    int zero = 1;
    for (size_t k = 0; k < L; k++) {
        uint8_t c = k < int_n ? t.p[int_at + k] : t.p[frac_at + (k - int_n)];
        int d = c - '0';
        if (d)
            zero = 0;
        if (p + (int64_t)(L - 1 - k) < 0) {
            if (d)
                return FL_ELIMIT; /* finer than a nanosecond */
            continue;
        }
        if (mul10_add(&v, d))
            return FL_ELIMIT;
    }
    if (zero) {
        *ns = 0;
        return 0;
    }
    if (neg)
        return FL_ELIMIT; /* before the epoch */
    for (int64_t k = 0; k < p; k++)
        if (mul10_add(&v, 0))
            return FL_ELIMIT;
    *ns = v;
    return 0;
}

/* n digits at t[*i] as a number; -1 when they are not all digits. */
static int take_num(fl_slice_t t, size_t *i, size_t n)
{
    if (t.n - *i < n)
        return -1;
    int v = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t c = t.p[*i + k];
        if (!is_digit(c))
            return -1;
        v = v * 10 + (c - '0');
    }
    *i += n;
    return v;
}

/* The separator sep at t[*i] when the form is extended; 0 or -1. */
static int take_sep(fl_slice_t t, size_t *i, int extended, char sep)
{
    if (!extended)
        return 0;
    if (*i >= t.n || t.p[*i] != sep)
        return -1;
    (*i)++;
    return 0;
}

int fl_awstime_parse_iso8601(fl_slice_t t, int64_t *ns)
{
    if (t.n > FL_AWSTIME_MAX_TEXT)
        return FL_ELIMIT;
    if (t.n < 5)
        return FL_EMALFORMED;
    int ext = t.p[4] == '-';
    size_t i = 0;
    int y = take_num(t, &i, 4), mo, d, h, mi, s;
    if (y < 0 || take_sep(t, &i, ext, '-') || (mo = take_num(t, &i, 2)) < 0 ||
        take_sep(t, &i, ext, '-') || (d = take_num(t, &i, 2)) < 0)
        return FL_EMALFORMED;
    if (i >= t.n || (t.p[i] != 'T' && t.p[i] != 't'))
        return FL_EMALFORMED;
    i++;
    if ((h = take_num(t, &i, 2)) < 0 || take_sep(t, &i, ext, ':') ||
        (mi = take_num(t, &i, 2)) < 0 || take_sep(t, &i, ext, ':') || (s = take_num(t, &i, 2)) < 0)
        return FL_EMALFORMED;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
        return FL_EMALFORMED;
    int64_t frac = 0;
    if (i < t.n && (t.p[i] == '.' || t.p[i] == ',')) {
        size_t at = ++i;
        for (; i < t.n && is_digit(t.p[i]); i++) {
            int dg = t.p[i] - '0';
            if (i - at < 9)
                frac = frac * 10 + dg;
            else if (dg)
                return FL_ELIMIT; /* finer than a nanosecond */
        }
        if (i == at)
            return FL_EMALFORMED;
        for (size_t k = i - at; k < 9; k++)
            frac *= 10;
    }
    int64_t off = 0;
    if (i < t.n && (t.p[i] == 'Z' || t.p[i] == 'z')) {
        i++;
    } else if (i < t.n && (t.p[i] == '+' || t.p[i] == '-')) {
        int sign = t.p[i++] == '-' ? -1 : 1;
        int oh = take_num(t, &i, 2), om;
        if (oh < 0 || take_sep(t, &i, ext, ':') || (om = take_num(t, &i, 2)) < 0 || oh > 23 ||
            om > 59)
            return FL_EMALFORMED;
        off = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return FL_EMALFORMED; /* a time without a zone is local: not ours to guess */
    }
    if (i != t.n)
        return FL_EMALFORMED;
    int64_t secs = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + s - off;
    if (secs < 0 || secs > INT64_MAX / FL_AWSTIME_NS_PER_SEC ||
        (secs == INT64_MAX / FL_AWSTIME_NS_PER_SEC && frac > INT64_MAX % FL_AWSTIME_NS_PER_SEC))
        return FL_ELIMIT;
    *ns = secs * FL_AWSTIME_NS_PER_SEC + frac;
    return 0;
}

int fl_awstime_parse_json(const fl_json_t *v, int64_t *ns)
{
    if (!v)
        return FL_EINVAL;
    fl_slice_t t = fl_slice(v->str, v->len);
    if (v->type == FL_JSON_NUMBER)
        return fl_awstime_parse_epoch(t, ns);
    if (v->type != FL_JSON_STRING)
        return FL_EINVAL;
    if (memchr(t.p, 'T', t.n) || memchr(t.p, 't', t.n))
        return fl_awstime_parse_iso8601(t, ns);
    return fl_awstime_parse_epoch(t, ns);
}
