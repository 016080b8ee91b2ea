/*
 * server/auth/policy.c — IAM-shaped policies (policy.h has the shape, the
 * rules and the limits).
 *
 * A parsed policy keeps its JSON document: statements point at its
 * strings. Matching is the iterative wildcard walk (one backtrack point),
 * linear in practice and never recursive, so a hostile pattern cannot blow
 * the stack.
 */
#include "server/auth/policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"

typedef struct {
    int deny;
    const char **actions;
    size_t n_actions;
    const char **resources;
    size_t n_resources;
} stmt_t;

struct fl_policy {
    fl_json_doc_t *doc;
    stmt_t *st;
    size_t n;
};

static int fail(char *why, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t cap, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && cap)
        vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return rc;
}

int fl_policy_match(const char *p, const char *s, int icase)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        char pc = *p, sc = *s;
        if (icase) {
            pc = (char)tolower((unsigned char)pc);
            sc = (char)tolower((unsigned char)sc);
        }
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p && (*p == '?' || pc == sc)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

/* A string or an array of strings into a new array. */
static int strings(const fl_json_t *v, const char *what, size_t idx, const char ***out, size_t *n,
                   char *why, size_t cap)
{
    if (!v)
        return fail(why, cap, FL_EMALFORMED, "Statement %zu has no %s", idx, what);
    size_t count = v->type == FL_JSON_STRING ? 1 : v->type == FL_JSON_ARRAY ? v->count : 0;
    if (count == 0)
        return fail(why, cap, FL_EMALFORMED,
                    "Statement %zu: %s must be a string or a non-empty "
                    "array of strings",
                    idx, what);
    if (count > FL_POLICY_MAX_ITEMS)
        return fail(why, cap, FL_ELIMIT, "Statement %zu: more than %d %s", idx, FL_POLICY_MAX_ITEMS,
                    what);
    const char **a = calloc(count, sizeof *a);
    if (!a)
        return fail(why, cap, FL_ENOMEM, "out of memory");
    const fl_json_t *e = v->type == FL_JSON_STRING ? v : v->child;
    for (size_t i = 0; i < count; i++, e = e->next) {
        if (!e || e->type != FL_JSON_STRING || e->len == 0 || e->len > FL_POLICY_MAX_PATTERN ||
            strlen(e->str) != e->len) {
            free(a);
            return fail(why, cap, FL_EMALFORMED,
                        "Statement %zu: each %s is a non-empty string of at most %d bytes", idx,
                        what, FL_POLICY_MAX_PATTERN);
        }
        a[i] = e->str;
        if (v->type == FL_JSON_STRING)
            break;
    }
    *out = a;
    *n = count;
    return 0;
}

static int parse_stmt(const fl_json_t *o, size_t idx, stmt_t *st, char *why, size_t cap)
{
    if (o->type != FL_JSON_OBJECT)
        return fail(why, cap, FL_EMALFORMED, "Statement %zu is not an object", idx);
    for (const fl_json_t *m = o->child; m; m = m->next) {
        if (strcmp(m->key, "Sid") && strcmp(m->key, "Effect") && strcmp(m->key, "Action") &&
            strcmp(m->key, "Resource"))
            return fail(why, cap, FL_EMALFORMED,
                        "Statement %zu: %.40s is not supported (Sid, Effect, Action and Resource "
                        "are)",
                        idx, m->key);
    }
    const fl_json_t *eff = fl_json_get(o, "Effect");
    if (!eff || eff->type != FL_JSON_STRING ||
        (strcmp(eff->str, "Allow") != 0 && strcmp(eff->str, "Deny") != 0))
        return fail(why, cap, FL_EMALFORMED, "Statement %zu: Effect must be Allow or Deny", idx);
    st->deny = eff->str[0] == 'D';
    int rc =
        strings(fl_json_get(o, "Action"), "Action", idx, &st->actions, &st->n_actions, why, cap);
    if (!rc)
        rc = strings(fl_json_get(o, "Resource"), "Resource", idx, &st->resources, &st->n_resources,
                     why, cap);
    return rc;
}

int fl_policy_parse(fl_slice_t text, fl_policy_t **out, char *why, size_t cap)
{
    *out = NULL;
    if (text.n > FL_POLICY_MAX_BYTES)
        return fail(why, cap, FL_ELIMIT, "a policy is at most %d bytes", FL_POLICY_MAX_BYTES);
    fl_policy_t *p = calloc(1, sizeof *p);
    if (!p)
        return fail(why, cap, FL_ENOMEM, "out of memory");
    fl_json_limits_t lim = {.max_depth = 8,
                            .max_values = 4 * FL_POLICY_MAX_STATEMENTS * (FL_POLICY_MAX_ITEMS + 4),
                            .max_string = FL_POLICY_MAX_PATTERN};
    size_t off = 0;
    int rc = fl_json_parse(text, &lim, &p->doc, &off);
    if (rc) {
        rc = fail(why, cap, rc == FL_ELIMIT ? FL_ELIMIT : FL_EMALFORMED,
                  "not valid JSON (or past a limit) at byte %zu", off);
        goto fail;
    }
    const fl_json_t *root = fl_json_root(p->doc);
    if (root->type != FL_JSON_OBJECT) {
        rc = fail(why, cap, FL_EMALFORMED, "a policy is a JSON object");
        goto fail;
    }
    for (const fl_json_t *m = root->child; m; m = m->next)
        if (strcmp(m->key, "Version") && strcmp(m->key, "Statement") && strcmp(m->key, "Id")) {
            rc = fail(why, cap, FL_EMALFORMED, "%.40s is not supported in a policy", m->key);
            goto fail;
        }
    const fl_json_t *v = fl_json_get(root, "Version");
    if (v && (v->type != FL_JSON_STRING ||
              (strcmp(v->str, "2012-10-17") && strcmp(v->str, "2008-10-17")))) {
        rc = fail(why, cap, FL_EMALFORMED, "Version must be \"2012-10-17\"");
        goto fail;
    }
    const fl_json_t *s = fl_json_get(root, "Statement");
    size_t n = !s ? 0 : s->type == FL_JSON_OBJECT ? 1 : s->type == FL_JSON_ARRAY ? s->count : 0;
    if (n == 0) {
        rc = fail(why, cap, FL_EMALFORMED, "Statement must be an object or a non-empty array");
        goto fail;
    }
    if (n > FL_POLICY_MAX_STATEMENTS) {
        rc = fail(why, cap, FL_ELIMIT, "more than %d statements", FL_POLICY_MAX_STATEMENTS);
        goto fail;
    }
    p->st = calloc(n, sizeof *p->st);
    if (!p->st) {
        rc = fail(why, cap, FL_ENOMEM, "out of memory");
        goto fail;
    }
    p->n = n;
    const fl_json_t *e = s->type == FL_JSON_OBJECT ? s : s->child;
    for (size_t i = 0; i < n; i++, e = e->next)
        if ((rc = parse_stmt(e, i, &p->st[i], why, cap)) != 0)
            goto fail;
    *out = p;
    return 0;
fail:
    fl_policy_free(p);
    return rc;
}

void fl_policy_free(fl_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->st[i].actions);
        free(p->st[i].resources);
    }
    free(p->st);
    fl_json_free(p->doc);
    free(p);
}

static int stmt_matches(const stmt_t *st, const char *action, const char *resource)
{
    int a = 0, r = 0;
    for (size_t i = 0; i < st->n_actions && !a; i++)
        a = fl_policy_match(st->actions[i], action, 1);
    for (size_t i = 0; a && i < st->n_resources && !r; i++)
        r = fl_policy_match(st->resources[i], resource, 0);
    return a && r;
}

int fl_policy_allows(const fl_policy_t *p, const char *action, const char *resource,
                     const char **why)
{
    int allowed = 0;
    for (size_t i = 0; p && i < p->n; i++) {
        if (!stmt_matches(&p->st[i], action, resource))
            continue;
        if (p->st[i].deny) {
            *why = "an explicit deny in the key's policy";
            return 0;
        }
        allowed = 1;
    }
    *why = allowed ? "allowed" : "no statement in the key's policy allows it";
    return allowed;
}
