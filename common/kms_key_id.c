/*
 * common/kms_key_id.c — AWS KMS key references to master key names (see
 * kms_key_id.h for the forms and the names). Bounded: nothing past
 * FL_KMS_REF_MAX bytes is read; the output is at most FL_KMS_NAME_MAX bytes.
 */
#include "common/kms_key_id.h"

#include <string.h>

#include "common/error.h"

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int starts(fl_slice_t s, const char *pfx)
{
    size_t n = strlen(pfx);
    return s.n >= n && memcmp(s.p, pfx, n) == 0;
}

static int fail(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return FL_EMALFORMED;
}

/* A key id: a UUID or "mrk-" and 32 hex digits. */
static int key_id_ok(fl_slice_t s)
{
    if (s.n != 36)
        return 0;
    if (starts(s, "mrk-")) {
        for (size_t i = 4; i < s.n; i++)
            if (!is_hex(s.p[i]))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s.p[i] != '-' : !is_hex(s.p[i]))
            return 0;
    }
    return 1;
}

static int alias_ok(fl_slice_t name)
{
    if (name.n < 1 || name.n > FL_KMS_NAME_MAX - 6)
        return 0;
    for (size_t i = 0; i < name.n; i++) {
        int c = name.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* "key/KEY-ID" (lower case) or "alias/NAME" from the resource part. */
static int name_of(fl_slice_t res, char name[FL_KMS_NAME_MAX + 1], const char **why)
{
    if (starts(res, "key/")) {
        fl_slice_t id = fl_slice(res.p + 4, res.n - 4);
        if (!key_id_ok(id))
            return fail(why, "the key id must be a UUID (8-4-4-4-12 hexadecimal digits) or a "
                             "multi-Region key id (mrk- and 32 hexadecimal digits)");
        memcpy(name, "key/", 4);
        for (size_t i = 0; i < id.n; i++)
            name[4 + i] = (char)lower(id.p[i]);
        name[4 + id.n] = 0;
        return 1;
    }
    if (starts(res, "alias/")) {
        fl_slice_t a = fl_slice(res.p + 6, res.n - 6);
        if (!alias_ok(a))
            return fail(why, "an alias is alias/ and 1 to 250 characters of [A-Za-z0-9/_-]");
        if ((a.n == 16 && memcmp(a.p, "aws/kinesisvideo", 16) == 0) ||
            (a.n == 11 && memcmp(a.p, "aws/kinesis", 11) == 0)) {
            memcpy(name, "default", 8); /* AWS's managed key: the default master key */
            return 1;
        }
        memcpy(name, res.p, res.n);
        name[res.n] = 0;
        return 1;
    }
    return fail(why, "the resource of a KMS ARN is key/KEY-ID or alias/ALIAS-NAME");
}

int fl_kms_key_ref(fl_slice_t ref, char name[FL_KMS_NAME_MAX + 1], const char **why)
{
    name[0] = 0;
    if (ref.n > FL_KMS_REF_MAX)
        return starts(ref, "arn:") || starts(ref, "alias/")
                   ? fail(why, "a KMS key reference is at most 512 characters")
                   : 0;
    if (key_id_ok(ref)) {
        char res[4 + 36 + 1];
        memcpy(res, "key/", 4);
        memcpy(res + 4, ref.p, ref.n);
        return name_of(fl_slice(res, 4 + ref.n), name, why);
    }
    if (starts(ref, "alias/"))
        return name_of(ref, name, why);
    if (!starts(ref, "arn:"))
        return 0;
    /* arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE */
    fl_slice_t f[6];
    size_t nf = 0, at = 0;
    for (size_t i = 0; i <= ref.n && nf < 5; i++) {
        if (i == ref.n || ref.p[i] == ':') {
            f[nf++] = fl_slice(ref.p + at, i - at);
            at = i + 1;
        }
    }
    if (nf < 5 || at > ref.n)
        return fail(why, "a KMS ARN is arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID or "
                         "arn:PARTITION:kms:REGION:ACCOUNT:alias/ALIAS-NAME");
    f[5] = fl_slice(ref.p + at, ref.n - at);
    if (f[1].n < 1 || f[1].n > 32)
        return fail(why, "the ARN's partition must be aws, aws-cn, aws-us-gov or the like");
    for (size_t i = 0; i < f[1].n; i++)
        if (!((f[1].p[i] >= 'a' && f[1].p[i] <= 'z') || f[1].p[i] == '-'))
            return fail(why, "the ARN's partition must be aws, aws-cn, aws-us-gov or the like");
    if (f[2].n != 3 || memcmp(f[2].p, "kms", 3) != 0)
        return fail(why, "the ARN's service must be kms");
    if (f[3].n < 1 || f[3].n > 32)
        return fail(why, "the ARN's region must be 1 to 32 characters of [a-z0-9-]");
    for (size_t i = 0; i < f[3].n; i++) {
        int c = f[3].p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return fail(why, "the ARN's region must be 1 to 32 characters of [a-z0-9-]");
    }
    if (f[4].n != 12)
        return fail(why, "the ARN's account must be 12 digits");
    for (size_t i = 0; i < 12; i++)
        if (f[4].p[i] < '0' || f[4].p[i] > '9')
            return fail(why, "the ARN's account must be 12 digits");
    return name_of(f[5], name, why);
}
