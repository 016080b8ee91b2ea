/*
 * tests/fuzz/fuzz_auth_policy.c — fuzz target for server/auth/policy.c.
 *
 * Input: a policy text. It parses or fails with a named error and a
 * reason; a parsed policy answers for a few action/resource pairs (the
 * last two lines of the input among them) with allow or deny and a reason;
 * the wildcard matcher, given the first line as pattern and the second as
 * subject, answers 0 or 1 (never recursing, whatever the stars).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/auth/policy.h"

static char *line(const uint8_t *d, size_t n, size_t *at)
{
    size_t s = *at;
    while (*at < n && d[*at] != '\n')
        (*at)++;
    char *o = malloc(*at - s + 1);
    memcpy(o, d + s, *at - s);
    o[*at - s] = 0;
    if (*at < n)
        (*at)++;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_policy_t *p = NULL;
    char why[200];
    int rc = fl_policy_parse(fl_slice(data, size), &p, why, sizeof why);
    if (rc != 0 && rc != FL_EMALFORMED && rc != FL_ELIMIT && rc != FL_ENOMEM)
        abort();
    if ((rc == 0) != (p != NULL))
        abort();
    size_t at = 0;
    char *a = line(data, size, &at), *b = line(data, size, &at);
    const char *reason = NULL;
    static const char *const actions[] = {"kinesisvideo:GetMedia", "kinesis:PutRecords", "*"};
    for (int i = 0; p && i < 3; i++) {
        int r = fl_policy_allows(p, actions[i], "arn:aws:kinesisvideo:us-east-1:0:stream/cam-1/1",
                                 &reason);
        if ((r != 0 && r != 1) || !reason)
            abort();
    }
    if (p && fl_policy_allows(p, a, b, &reason) > 1)
        abort();
    int m = fl_policy_match(a, b, 1);
    if (m != 0 && m != 1)
        abort();
    /* a pattern always matches itself when it has no '?' or '*' */
    if (!strpbrk(a, "*?") && fl_policy_match(a, a, 0) != 1)
        abort();
    free(a);
    free(b);
    fl_policy_free(p);
    return 0;
}
