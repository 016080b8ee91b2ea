/*
 * server/auth/policy.h — IAM-shaped policies: what an access key may do.
 *
 *   {"Version": "2012-10-17",
 *    "Statement": [ {"Sid": "...", "Effect": "Allow" | "Deny",
 *                    "Action": "kinesisvideo:GetMedia" | [...],
 *                    "Resource": "arn:aws:kinesisvideo:*:*:stream/cam-*" | [...]}, ... ]}
 *
 * "Statement" may be one object or an array; "Action" and "Resource" a
 * string or an array of strings. Patterns take '*' (any run of characters,
 * '/' and ':' included) and '?' (one character), as IAM does; actions match
 * without regard to case, resources with it. Evaluation: a Deny statement
 * that matches wins; else an Allow that matches allows; else denied (no
 * match is deny). Anything IAM has that this does not take (NotAction,
 * NotResource, Principal, Condition) is refused at parse rather than
 * ignored, so a policy never allows more than it reads.
 *
 * Limits (the text comes from an operator's file, but is parsed by the
 * server too, and fuzzed): FL_POLICY_MAX_BYTES of text, FL_POLICY_MAX_STATEMENTS
 * statements, FL_POLICY_MAX_ITEMS actions or resources per statement, each at
 * most FL_POLICY_MAX_PATTERN bytes; JSON nesting 8.
 */
#ifndef FL_SERVER_AUTH_POLICY_H
#define FL_SERVER_AUTH_POLICY_H

#include <stddef.h>

#include "common/bytes.h"

#define FL_POLICY_MAX_BYTES      65536
#define FL_POLICY_MAX_STATEMENTS 100
#define FL_POLICY_MAX_ITEMS      100
#define FL_POLICY_MAX_PATTERN    1024

typedef struct fl_policy fl_policy_t;

/* Parse text: 0 with *out, or FL_EMALFORMED / FL_ELIMIT / FL_ENOMEM with
 * a one-line reason in why[cap]. */
int fl_policy_parse(fl_slice_t text, fl_policy_t **out, char *why, size_t cap);
void fl_policy_free(fl_policy_t *p);

/* Does p allow action on resource? 1 allow, 0 deny; *why says which
 * (static text). */
int fl_policy_allows(const fl_policy_t *p, const char *action, const char *resource,
                     const char **why);

/* IAM's wildcard match: '*' any run, '?' one character; icase for actions. */
int fl_policy_match(const char *pattern, const char *s, int icase);

#endif
