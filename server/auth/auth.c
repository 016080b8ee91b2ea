/*
 * server/auth/auth.c — the auth module: proves who signs each AWS request
 * (authenticate) and decides what they may do (access).
 *
 * The key table is a copy of the catalog's access keys with their secrets
 * unsealed and their policies parsed. With several event loops (--loops)
 * each loop has its own table, with its own catalog connection, reloaded
 * on its own; a table's lock is its loop's (threads that run no loop, the
 * workers, use loop 0's under the same lock), so loops never wait for
 * each other to authenticate, and a reload on one loop never frees keys
 * another is reading. Before each
 * decision the module asks the catalog for its access-key change counter
 * (fl_akeys_version: one SELECT under SQLite's locks) and reloads the
 * table when it moved, so `framelogd keys revoke` or `keys policy` from
 * another process holds from the next request on, without a restart.
 *
 * The SELECT is asked only when the data folder may have changed: each
 * table has an inotify instance on the data folder (catalog.db and its WAL
 * are in it; the logs are in a folder below, whose writes it does not
 * see). A commit's write to the WAL queues an event before the commit
 * returns, so one read() of the instance per request (EAGAIN when nothing
 * changed) says whether to ask. An event may come before its commit is
 * visible (the WAL's frames are written before SQLite's index of them), so
 * after any event every request asks for FL_AUTH_RECHECK_NS more. Without
 * inotify (its limits reached), every request asks, as before; loop 0's
 * tick asks always.
 *
 * Open or locked: the server is locked as soon as the catalog holds any
 * access key, revoked ones included (revoking the last key never opens
 * the server). Open: unsigned requests are served and a signature is read
 * but not verified (the development default, and what the tests that
 * predate keys rely on). Locked: unsigned -> MissingAuthenticationToken,
 * unknown or revoked key -> UnrecognizedClient, bad signature ->
 * InvalidSignature, temporary key past its expiry -> ExpiredToken; and the
 * access check refuses a principal without an active key whose policy
 * allows the action on the resource.
 *
 * Principals reach access() from the authenticate step (proven here) or
 * from a server token that names the key it was issued to (playback
 * sessions, shard iterators: authenticated by the server's token key), so
 * a token carries its key's rights, re-checked on every use.
 */
#include "server/auth/auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/diag.h"
#include "common/error.h"
#include "server/auth/policy.h"
#include "server/auth/verify.h"
#include "server/core/metrics.h"
#include "server/core/server.h"
#include "storage/access_keys.h"

typedef struct {
    char id[FL_AKEY_ID_MAX + 1];
    char secret[FL_AKEY_SECRET_LEN + 1];
    int active;
    int64_t expires_ms;
    int has_token;
    uint8_t token_hash[32];
    fl_policy_t *policy; /* NULL: no rights */
    /* the signing key of the last scope it signed for (a key signs for
     * one day, region and service at a time: four HMACs saved a request) */
    char sk_scope[FL_SIGV4_CANON_SCOPE_MAX];
    uint8_t skey[32];
} akey_ent_t;

/* After an event of the data folder, how long every request asks the
 * catalog (see the top). */
#define FL_AUTH_RECHECK_NS (10 * 1000000000LL)

/* One loop's copy of the keys. */
typedef struct {
    pthread_mutex_t mu; /* guards everything below */
    int index;          /* its loop (0 logs the reloads) */
    fl_akeys_t *db;     /* its own catalog connection */
    int ino;            /* inotify on the data folder, -1: none */
    int64_t ask_until;  /* monotonic ns: ask the catalog until then */
    int64_t version;    /* of the table below; -1: never loaded */
    akey_ent_t *keys;
    size_t n;
} akey_table_t;

typedef struct {
    fl_server_t *srv;
    akey_table_t t[FL_CONFIG_MAX_LOOPS];
    int n_tables;
    const char *region;
    /* counters (every loop) */
    _Atomic uint64_t verified, missing, unknown, bad_signature, expired, denied;
} auth_t;

/* The calling loop's table, locked. */
static akey_table_t *table_lock(auth_t *a)
{
    int i = fl_server_loop();
    akey_table_t *t = &a->t[i < a->n_tables ? i : 0];
    pthread_mutex_lock(&t->mu);
    return t;
}

static void table_unlock(akey_table_t *t)
{
    pthread_mutex_unlock(&t->mu);
}

static void keys_free(akey_ent_t *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) {
        fl_policy_free(k[i].policy);
        OPENSSL_cleanse(k[i].secret, sizeof k[i].secret);
        OPENSSL_cleanse(k[i].skey, sizeof k[i].skey);
    }
    free(k);
}

/* Whether the catalog may have changed since the table was loaded: an
 * event of the data folder now, or one in the last FL_AUTH_RECHECK_NS. */
static int may_have_changed(akey_table_t *a)
{
    if (a->ino < 0 || a->version < 0)
        return 1;
    union {
        struct inotify_event e;
        char b[4096];
    } u;
    int any = 0;
    ssize_t n;
    while ((n = read(a->ino, u.b, sizeof u.b)) > 0)
        any = 1;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        any = 1;
    int64_t now = fl_time_mono_ns();
    if (any)
        a->ask_until = now + FL_AUTH_RECHECK_NS;
    return now < a->ask_until;
}

/* Reload the table when the catalog's counter moved (its lock held); ask
 * only when it may have (force: always). On failure the old table stays
 * (and the failure is logged). */
static void refresh_if(akey_table_t *a, int force)
{
    int64_t v;
    if (!force && !may_have_changed(a))
        return;
    if (fl_akeys_version(a->db, &v) != 0 || v == a->version)
        return;
    fl_akey_t *rows = NULL;
    size_t n = 0;
    if (fl_akeys_list(a->db, 1, &rows, &n) != 0) {
        fl_error("access keys: cannot reload; keeping the %zu keys loaded before", a->n);
        return;
    }
    akey_ent_t *k = calloc(n ? n : 1, sizeof *k);
    if (!k) {
        fl_akeys_list_free(rows, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(k[i].id, sizeof k[i].id, "%s", rows[i].id);
        memcpy(k[i].secret, rows[i].secret, sizeof k[i].secret);
        k[i].active = rows[i].active;
        k[i].expires_ms = rows[i].expires_ms;
        k[i].has_token = rows[i].has_token;
        memcpy(k[i].token_hash, rows[i].token_hash, 32);
        char why[200];
        if (rows[i].policy &&
            fl_policy_parse(fl_slice_str(rows[i].policy), &k[i].policy, why, sizeof why) != 0)
            fl_error("access key %s: its policy does not parse (%s): it may do nothing", k[i].id,
                     why);
    }
    int was_open = a->n == 0;
    fl_akeys_list_free(rows, n);
    keys_free(a->keys, a->n);
    a->keys = k;
    a->n = n;
    if (a->version >= 0 && a->index == 0) /* once, not once per loop */
        fl_info("access keys reloaded: %zu", n);
    if (a->version >= 0 && a->index == 0 && was_open && n)
        fl_info("access keys exist now: every request must be signed");
    a->version = v;
}

static void refresh(akey_table_t *a)
{
    refresh_if(a, 0);
}

static akey_ent_t *find(const akey_table_t *a, const char *id)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->keys[i].id, id) == 0)
            return &a->keys[i];
    return NULL;
}

static void auth_fini(void *state);

static int auth_init(struct fl_server *s, void **state, char *err, size_t errlen)
{
    auth_t *a = calloc(1, sizeof *a);
    if (!a)
        return FL_ENOMEM;
    a->srv = s;
    a->region = fl_server_config(s)->region;
    for (int i = 0; i < fl_server_loops(s) && i < FL_CONFIG_MAX_LOOPS; i++) {
        akey_table_t *t = &a->t[i];
        pthread_mutex_init(&t->mu, NULL);
        t->index = i;
        t->version = -1;
        a->n_tables = i + 1;
        t->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        int ino_err = t->ino < 0 ? -errno : 0;
        if (t->ino >= 0 &&
            inotify_add_watch(t->ino, fl_server_config(s)->data_dir,
                              IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                  IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
            ino_err = -errno; /* (before close, which may change errno) */
            close(t->ino);
            t->ino = -1;
        }
        if (t->ino < 0)
            fl_warn("access keys: no inotify on the data folder (%s): every request asks the "
                    "catalog whether keys changed",
                    fl_strerror(ino_err));
        int rc = fl_akeys_open_store(fl_server_store(s), &t->db);
        if (rc) {
            snprintf(err, errlen, "access keys: %s", fl_strerror(rc));
            auth_fini(a);
            return rc;
        }
        refresh(t);
    }
    if (a->t[0].n)
        fl_info("access keys: %zu in the catalog: every request must be signed", a->t[0].n);
    else
        fl_info("access keys: none: unsigned requests are served (create one with `framelogd "
                "keys create NAME --data-dir DIR` to require signatures)");
    *state = a;
    return 0;
}

static void auth_fini(void *state)
{
    auth_t *a = state;
    if (!a)
        return;
    for (int i = 0; i < a->n_tables; i++) {
        keys_free(a->t[i].keys, a->t[i].n);
        fl_akeys_close(a->t[i].db);
        if (a->t[i].ino >= 0)
            close(a->t[i].ino);
        pthread_mutex_destroy(&a->t[i].mu);
    }
    free(a);
}

/* Loop 0's tick: its table (and the log line of a reload) follows the
 * catalog even when no request comes; each loop's follows at its next
 * request. */
static void auth_tick(void *state)
{
    auth_t *a = state;
    akey_table_t *t = &a->t[0];
    pthread_mutex_lock(&t->mu);
    refresh_if(t, 1);
    pthread_mutex_unlock(&t->mu);
}

static void auth_metrics(void *state, fl_buf_t *o)
{
    auth_t *a = state;
    akey_table_t *t = table_lock(a);
    size_t n_keys = t->n;
    table_unlock(t);
    fl_metrics_render_counter(o, "framelog_auth_verified_total",
                              "Requests whose SigV4 signature was verified.", a->verified);
    fl_metrics_render_counter(o, "framelog_auth_missing_total",
                              "Unsigned requests refused (MissingAuthenticationToken).",
                              a->missing);
    fl_metrics_render_counter(o, "framelog_auth_unknown_key_total",
                              "Requests signed with an unknown or revoked key.", a->unknown);
    fl_metrics_render_counter(o, "framelog_auth_bad_signature_total",
                              "Requests refused for their signature (InvalidSignature).",
                              a->bad_signature);
    fl_metrics_render_counter(o, "framelog_auth_expired_total",
                              "Requests with an expired temporary key.", a->expired);
    fl_metrics_render_counter(o, "framelog_auth_denied_total", "Access checks a policy denied.",
                              a->denied);
    fl_metrics_render_gauge(o, "framelog_auth_keys", "Access keys in the catalog.",
                            (int64_t)n_keys);
}

static int access_cb(void *state, const fl_principal_t *who, const char *action,
                     const char *resource, const char **why)
{
    auth_t *a = state;
    akey_table_t *t = table_lock(a);
    refresh(t);
    if (t->n == 0) {
        table_unlock(t);
        return 0;
    }
    const akey_ent_t *k = who && who->has_key ? find(t, who->access_key) : NULL;
    int64_t now_ms = fl_time_real_ns() / 1000000;
    if (!who || !who->has_key)
        *why = "the request is not signed";
    else if (!k)
        *why = "the access key is unknown";
    else if (!k->active)
        *why = "the access key is revoked";
    else if (k->expires_ms && now_ms > k->expires_ms)
        *why = "the access key has expired";
    else if (fl_policy_allows(k->policy, action, resource, why)) {
        table_unlock(t);
        return 0;
    }
    table_unlock(t); /* (*why is a literal) */
    a->denied++;
    return -EACCES;
}

/* Headers named in a SignedHeaders list, read from the connection. */
typedef struct {
    fl_sigv4_canon_header_t h[FL_SIGV4_CANON_MAX_HEADERS];
    size_t n;
    fl_buf_t vals;
} signed_hdrs_t;

static void gather_headers(struct lws *wsi, const char *list, signed_hdrs_t *sh)
{
    size_t offs[FL_SIGV4_CANON_MAX_HEADERS], lens[FL_SIGV4_CANON_MAX_HEADERS];
    const char *names[FL_SIGV4_CANON_MAX_HEADERS];
    size_t nlen[FL_SIGV4_CANON_MAX_HEADERS];
    char name[FL_SIGV4_CANON_MAX_NAME + 1], val[8192];
    sh->n = 0;
    for (const char *p = list; *p && sh->n < FL_SIGV4_CANON_MAX_HEADERS;) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l && l < sizeof name) {
            memcpy(name, p, l);
            name[l] = 0;
            /* HTTP/2's :authority reaches us as Host (core/h2.c) */
            int vl = fl_http_wsi_header(wsi, strcmp(name, ":authority") == 0 ? "host" : name, val,
                                        sizeof val);
            if (vl >= 0) {
                offs[sh->n] = sh->vals.n;
                lens[sh->n] = (size_t)vl;
                names[sh->n] = p;
                nlen[sh->n] = l;
                fl_buf_append(&sh->vals, val, (size_t)vl);
                sh->n++;
            }
        }
        p += l + (e ? 1 : 0);
    }
    for (size_t i = 0; i < sh->n; i++) {
        sh->h[i].name = fl_slice(names[i], nlen[i]);
        sh->h[i].value = fl_slice(sh->vals.p + offs[i], lens[i]);
    }
}

static void token_hash(const char *tok, size_t n, uint8_t out[32])
{
    unsigned int dl = 32;
    EVP_Digest(tok, n, out, &dl, EVP_sha256(), NULL);
}

static int authenticate(void *state, const fl_auth_req_t *q, fl_principal_t *who,
                        fl_api_error_t *err)
{
    auth_t *a = state;
    int st = fl_sigv4_status(q->json11);
    memset(who, 0, sizeof *who);
    akey_table_t *t = table_lock(a);
    refresh(t);

    fl_sigv4_canon_auth_t au;
    const char *why = "malformed";
    int presigned = 0, rc = -1;
    char hdr[FL_SIGV4_CANON_MAX_AUTHORIZATION + 1];
    fl_buf_t query;
    signed_hdrs_t sh;
    fl_buf_init(&query, FL_SIGV4_CANON_MAX_AUTHORIZATION * 4);
    fl_buf_init(&sh.vals, 65536);
    int alen = fl_http_wsi_header(q->wsi, "authorization", hdr, sizeof hdr);
    int qrc = fl_http_wsi_query(q->wsi, &query);
    if (alen > 0) {
        if (fl_sigv4_canon_parse_authorization(fl_slice(hdr, (size_t)alen), &au, &why) != 0) {
            fl_api_error(err, 400, "IncompleteSignatureException", "%s", why);
            goto out;
        }
    } else {
        int prc =
            qrc ? FL_ENOTFOUND : fl_sigv4_canon_parse_presigned(fl_buf_slice(&query), &au, &why);
        if (prc == FL_ENOTFOUND) {
            if (t->n) {
                a->missing++;
                fl_api_error(err, 403, "MissingAuthenticationTokenException",
                             "Missing Authentication Token");
                goto out;
            }
            rc = 0; /* open: anonymous */
            goto out;
        }
        if (prc != 0) {
            fl_api_error(err, 400, "IncompleteSignatureException", "%s", why);
            goto out;
        }
        presigned = 1;
    }
    if (qrc && t->n) {
        fl_api_error(err, 400, "IncompleteSignatureException", "the query is too long to verify");
        goto out;
    }
    if (t->n == 0) {
        /* open: the identity as given, unverified */
        who->has_key = 1;
        snprintf(who->access_key, sizeof who->access_key, "%s", au.access_key);
        snprintf(who->region, sizeof who->region, "%s", au.region);
        snprintf(who->service, sizeof who->service, "%s", au.service);
        rc = 0;
        goto out;
    }

    akey_ent_t *k = find(t, au.access_key);
    int64_t now_ms = fl_time_real_ns() / 1000000;
    if (!k || !k->active) {
        a->unknown++;
        fl_api_error(err, st, "UnrecognizedClientException",
                     "The security token included in the request is invalid.");
        goto out;
    }
    /* a temporary key's session token */
    char tok[512];
    int tl = -1;
    if (presigned) {
        const char *v = lws_get_urlarg_by_name(q->wsi, "X-Amz-Security-Token=", tok, sizeof tok);
        tl = v ? (int)strlen(v) : -1;
        if (v)
            memmove(tok, v, (size_t)tl + 1);
    } else {
        tl = fl_http_wsi_header(q->wsi, "x-amz-security-token", tok, sizeof tok);
    }
    if (k->has_token || tl >= 0) {
        uint8_t h[32];
        if (tl >= 0)
            token_hash(tok, (size_t)tl, h);
        if (!k->has_token || tl < 0 || CRYPTO_memcmp(h, k->token_hash, 32) != 0) {
            a->unknown++;
            fl_api_error(err, st, "UnrecognizedClientException",
                         "The security token included in the request is invalid.");
            goto out;
        }
    }
    if (k->expires_ms && now_ms > k->expires_ms) {
        a->expired++;
        fl_api_error(err, st, "ExpiredTokenException",
                     "The security token included in the request is expired");
        goto out;
    }

    gather_headers(q->wsi, au.signed_headers, &sh);
    char date[32], chash[80];
    int dl = presigned ? (int)strlen(au.amz_date)
                       : fl_http_wsi_header(q->wsi, "x-amz-date", date, sizeof date);
    int cl = fl_http_wsi_header(q->wsi, "x-amz-content-sha256", chash, sizeof chash);
    fl_sigv4_check_t c = {
        .method = fl_slice_str(fl_http_method_name(q->method)),
        .path = fl_slice_str(q->path),
        .query = fl_buf_slice(&query),
        .headers = sh.h,
        .n_headers = sh.n,
        .auth = &au,
        .presigned = presigned,
        .amz_date =
            presigned ? fl_slice(au.amz_date, (size_t)dl) : fl_slice(date, dl > 0 ? (size_t)dl : 0),
        .content_hash = fl_slice(chash, cl > 0 ? (size_t)cl : 0),
        .body_known = q->body_known,
        .body = q->body,
        .region = a->region,
        .service = q->service,
        .now_s = now_ms / 1000,
        .json11 = q->json11,
    };
    char scope[FL_SIGV4_CANON_SCOPE_MAX];
    snprintf(scope, sizeof scope, "%s/%s/%s", au.date, au.region, au.service);
    if (strcmp(scope, k->sk_scope) != 0) {
        fl_sigv4_signing_key(k->secret, au.date, au.region, au.service, k->skey);
        memcpy(k->sk_scope, scope, sizeof scope);
    }
    c.signing_key = k->skey;
    if (sh.vals.err) {
        fl_api_error(err, 400, "IncompleteSignatureException", "signed headers too long");
        goto out;
    }
    if (fl_sigv4_verify(&c, k->secret, err) != 0) {
        a->bad_signature++;
        goto out;
    }
    a->verified++;
    who->has_key = 1;
    snprintf(who->access_key, sizeof who->access_key, "%s", au.access_key);
    snprintf(who->region, sizeof who->region, "%s", au.region);
    snprintf(who->service, sizeof who->service, "%s", au.service);
    rc = 0;
out:
    table_unlock(t);
    if (rc)
        fl_debug("auth: %s %s refused: %s: %s", fl_http_method_name(q->method), q->path, err->type,
                 err->msg);
    fl_buf_free(&query);
    fl_buf_free(&sh.vals);
    return rc;
}

const fl_module_t fl_auth_module = {
    .name = "auth",
    .init = auth_init,
    .fini = auth_fini,
    .tick = auth_tick,
    .metrics = auth_metrics,
    .access = access_cb,
    .authenticate = authenticate,
};
