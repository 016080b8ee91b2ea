/*
 * storage/catalog.c — the catalog: logs, shards and their lineage, tags,
 * retention, wrapped data keys, versions, master key names and the store's
 * open epoch, in SQLite.
 *
 * The database is <dir>/catalog.db in WAL mode with synchronous=FULL, so a
 * committed change survives power loss. Its files (-wal, -shm too) are 0600.
 * secure_delete is on (deleted rows are zeroed in their pages), and a log's
 * delete ends with a TRUNCATE checkpoint (fl_catalog_scrub) twice: after its
 * wrapped key is zeroed, and after its rows are gone, so neither the key
 * nor its name, tags and attributes stay in catalog.db-wal. Every multi-row change
 * is one transaction (fl_catalog_begin/commit). Schema (user_version = 1):
 *
 *   meta(k TEXT PRIMARY KEY, v INTEGER)            -- 'epoch'
 *   master_keys(id TEXT PRIMARY KEY, path TEXT)
 *   master_key_checks(id TEXT PRIMARY KEY, check_blob BLOB)  -- keys.c
 *   named_keys(id TEXT PRIMARY KEY, created_ns INTEGER,
 *              wrapped_key BLOB)                 -- named_keys.c
 *   logs(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE,
 *        created_ns, version, retention_hours, key_id TEXT,
 *        wrapped_key BLOB,                         -- NULL once deleting
 *        deleting INTEGER)
 *   shards(log_id, shard_id, hash_start BLOB(16), hash_end BLOB(16),
 *          parent, parent2, open, created_ns, trim_seq,
 *          PRIMARY KEY(log_id, shard_id))
 *   tags(log_id, k TEXT, v TEXT, PRIMARY KEY(log_id, k))
 *   attrs(log_id, k TEXT, v TEXT, PRIMARY KEY(log_id, k))
 *
 * Log ids come from AUTOINCREMENT and are never reused, so a deleted log's
 * folder name can never be taken by a new log. The handle is used under
 * the store's cat_mu only.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/diag.h"
#include "storage_internal.h"

struct fl_catalog {
    sqlite3 *db;
};

static int sql_err(fl_catalog_t *c, int rc, const char *what)
{
    fl_error("catalog: %s: %s", what, sqlite3_errmsg(c->db));
    if (rc == SQLITE_FULL)
        return FL_ENOSPC;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return FL_EBUSY;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        return FL_ECORRUPT;
    if (rc == SQLITE_CONSTRAINT)
        return FL_EEXISTS;
    return FL_EIO;
}

static int exec(fl_catalog_t *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fl_error("catalog: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return rc == SQLITE_FULL ? FL_ENOSPC : FL_EIO;
    }
    return 0;
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS master_keys(id TEXT PRIMARY KEY, path TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS master_key_checks(id TEXT PRIMARY KEY,"
    " check_blob BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS named_keys(id TEXT PRIMARY KEY, created_ns INTEGER NOT NULL,"
    " wrapped_key BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS logs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT UNIQUE NOT NULL, created_ns INTEGER NOT NULL, version INTEGER NOT NULL,"
    " retention_hours INTEGER NOT NULL, key_id TEXT NOT NULL, wrapped_key BLOB,"
    " deleting INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS shards(log_id INTEGER NOT NULL, shard_id INTEGER NOT NULL,"
    " hash_start BLOB NOT NULL, hash_end BLOB NOT NULL, parent INTEGER NOT NULL,"
    " parent2 INTEGER NOT NULL, open INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    " trim_seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(log_id, shard_id));"
    "CREATE TABLE IF NOT EXISTS tags(log_id INTEGER NOT NULL, k TEXT NOT NULL,"
    " v TEXT NOT NULL, PRIMARY KEY(log_id, k));"
    "CREATE TABLE IF NOT EXISTS attrs(log_id INTEGER NOT NULL, k TEXT NOT NULL,"
    " v TEXT NOT NULL, PRIMARY KEY(log_id, k));";

/* The catalog holds stream names, tags and wrapped keys: its files are
 * 0600. SQLite makes -wal and -shm with the database file's mode, so the
 * file is made (or narrowed) first; older files are narrowed too. */
static int narrow_modes(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fl_error("catalog %s: %s", path, strerror(errno));
        return -errno;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) && fchmod(fd, 0600) < 0)
        rc = -errno;
    close(fd);
    static const char *const sfx[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        if (stat(p, &st) == 0 && (st.st_mode & 077) && chmod(p, 0600) < 0)
            rc = -errno;
    }
    return rc;
}

int fl_catalog_open(const char *path, fl_catalog_t **out)
{
    int nrc = narrow_modes(path);
    if (nrc < 0)
        return nrc;
    fl_catalog_t *c = calloc(1, sizeof *c);
    if (!c)
        return FL_ENOMEM;
    int rc = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fl_error("catalog %s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
        sqlite3_close(c->db);
        free(c);
        return rc == SQLITE_CANTOPEN ? -EACCES : FL_EIO;
    }
    sqlite3_busy_timeout(c->db, 5000);
    int version = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0) {
        rc = sql_err(c, SQLITE_CORRUPT, path);
        goto fail;
    }
    if (version > 1) {
        fl_error("catalog %s: schema version %d is newer than this framelog (1)", path, version);
        rc = FL_EVERSION;
        goto fail;
    }
    if ((rc = exec(c, "PRAGMA journal_mode=WAL")) < 0 ||
        (rc = exec(c, "PRAGMA secure_delete=ON")) < 0 ||
        (rc = exec(c, "PRAGMA synchronous=FULL")) < 0 ||
        (rc = exec(c, "PRAGMA foreign_keys=OFF")) < 0 || (rc = exec(c, "BEGIN")) < 0)
        goto fail;
    if ((rc = exec(c, schema)) < 0 || (rc = exec(c, "PRAGMA user_version=1")) < 0) {
        exec(c, "ROLLBACK");
        goto fail;
    }
    if ((rc = exec(c, "COMMIT")) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    sqlite3_close(c->db);
    free(c);
    return rc;
}

void fl_catalog_close(fl_catalog_t *c)
{
    if (!c)
        return;
    sqlite3_close(c->db);
    free(c);
}

struct sqlite3 *fl_catalog_db(fl_catalog_t *c)
{
    return c->db;
}

int fl_catalog_begin(fl_catalog_t *c)
{
    return exec(c, "BEGIN IMMEDIATE");
}

int fl_catalog_commit(fl_catalog_t *c)
{
    int rc = exec(c, "COMMIT");
    if (rc < 0)
        exec(c, "ROLLBACK");
    return rc;
}

void fl_catalog_rollback(fl_catalog_t *c)
{
    exec(c, "ROLLBACK");
}

/* Prepare, bind by a tiny format ("i" int64, "t" text, "b" blob+len,
 * "n" null), run to completion. */
static int run(fl_catalog_t *c, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, sql);
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        switch (fmt[i]) {
        case 'i':
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 't':
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            int n = va_arg(ap, int);
            sqlite3_bind_blob(st, i + 1, p, n, SQLITE_TRANSIENT);
            break;
        }
        default:
            sqlite3_bind_null(st, i + 1);
        }
    }
    va_end(ap);
    rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sql_err(c, rc, sql);
    sqlite3_finalize(st);
    return out;
}

int fl_catalog_bump_epoch(fl_catalog_t *c, uint32_t *epoch_out)
{
    int rc = fl_catalog_begin(c);
    if (rc < 0)
        return rc;
    rc = run(c,
             "INSERT INTO meta(k, v) VALUES('epoch', 1) "
             "ON CONFLICT(k) DO UPDATE SET v = v + 1",
             "");
    sqlite3_stmt *st = NULL;
    int64_t e = -1;
    if (rc == 0 &&
        sqlite3_prepare_v2(c->db, "SELECT v FROM meta WHERE k='epoch'", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        e = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc == 0 && (e <= 0 || e >= (1 << 24)))
        rc = e <= 0 ? FL_ECORRUPT : FL_ELIMIT;
    if (rc < 0) {
        fl_catalog_rollback(c);
        return rc;
    }
    rc = fl_catalog_commit(c);
    if (rc == 0)
        *epoch_out = (uint32_t)e;
    return rc;
}

int fl_catalog_mkey_add(fl_catalog_t *c, const char *id, const char *path)
{
    return run(c, "INSERT OR REPLACE INTO master_keys(id, path) VALUES(?, ?)", "tt", id, path);
}

int fl_catalog_mkey_remove(fl_catalog_t *c, const char *id)
{
    int rc = run(c, "DELETE FROM master_keys WHERE id = ?", "t", id);
    return rc < 0 ? rc : run(c, "DELETE FROM master_key_checks WHERE id = ?", "t", id);
}

int fl_catalog_mkey_check_get(fl_catalog_t *c, const char *id, uint8_t *out, size_t cap, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "SELECT check_blob FROM master_key_checks WHERE id = ?", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, "master_key_checks");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    int out_rc = FL_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        if (len > cap)
            len = cap;
        if (len)
            memcpy(out, sqlite3_column_blob(st, 0), len);
        *n = len;
        out_rc = 0;
    } else if (rc != SQLITE_DONE) {
        out_rc = sql_err(c, rc, "master_key_checks");
    }
    sqlite3_finalize(st);
    return out_rc;
}

int fl_catalog_mkey_check_set(fl_catalog_t *c, const char *id, const uint8_t *check, size_t n)
{
    return run(c, "INSERT OR REPLACE INTO master_key_checks(id, check_blob) VALUES(?, ?)", "tb", id,
               check, (int)n);
}

int fl_catalog_mkeys(fl_catalog_t *c, int (*cb)(void *arg, const char *id, const char *path),
                     void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(c->db, "SELECT id, path FROM master_keys ORDER BY id", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, "master_keys");
    int out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out = cb(arg, (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 1));
    if (out == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sql_err(c, rc, "master_keys");
    sqlite3_finalize(st);
    return out;
}

int fl_catalog_named_key_set(fl_catalog_t *c, const char *id, int64_t created_ns,
                             const uint8_t *wrapped, size_t n)
{
    if (created_ns)
        return run(c, "INSERT INTO named_keys(id, created_ns, wrapped_key) VALUES(?, ?, ?)", "tib",
                   id, created_ns, wrapped, (int)n);
    return run(c, "UPDATE named_keys SET wrapped_key = ? WHERE id = ?", "bt", wrapped, (int)n, id);
}

int fl_catalog_named_keys(fl_catalog_t *c,
                          int (*cb)(void *arg, const char *id, const uint8_t *wrapped, size_t n),
                          void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "SELECT id, wrapped_key FROM named_keys ORDER BY id", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, "named_keys");
    int out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out = cb(arg, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
                 (size_t)sqlite3_column_bytes(st, 1));
    if (out == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sql_err(c, rc, "named_keys");
    sqlite3_finalize(st);
    return out;
}

int fl_catalog_log_set_master(fl_catalog_t *c, uint64_t id, const char *key_id,
                              const uint8_t *wrapped, size_t n)
{
    return run(c, "UPDATE logs SET key_id = ?, wrapped_key = ? WHERE id = ?", "tbi", key_id,
               wrapped, (int)n, (int64_t)id);
}

int fl_catalog_log_insert(fl_catalog_t *c, const char *name, int64_t created_ns,
                          uint32_t retention_hours, const char *key_id, uint64_t *id_out)
{
    int rc = run(c,
                 "INSERT INTO logs(name, created_ns, version, retention_hours, key_id) "
                 "VALUES(?, ?, 1, ?, ?)",
                 "tiit", name, created_ns, (int64_t)retention_hours, key_id);
    if (rc == 0)
        *id_out = (uint64_t)sqlite3_last_insert_rowid(c->db);
    return rc;
}

int fl_catalog_log_set_key(fl_catalog_t *c, uint64_t id, const uint8_t *wrapped, size_t n)
{
    return run(c, "UPDATE logs SET wrapped_key = ? WHERE id = ?", "bi", wrapped, (int)n,
               (int64_t)id);
}

int fl_catalog_log_set_retention(fl_catalog_t *c, uint64_t id, uint32_t hours)
{
    return run(c, "UPDATE logs SET retention_hours = ?, version = version + 1 WHERE id = ?", "ii",
               (int64_t)hours, (int64_t)id);
}

int fl_catalog_log_bump_version(fl_catalog_t *c, uint64_t id)
{
    return run(c, "UPDATE logs SET version = version + 1 WHERE id = ?", "i", (int64_t)id);
}

int fl_catalog_log_mark_deleting(fl_catalog_t *c, uint64_t id)
{
    /* Overwrite the wrapped key with zeros first, then drop it: the key
     * bytes do not linger in the row (SQLite's secure_delete zeroes freed
     * pages too). */
    int rc = exec(c, "PRAGMA secure_delete=ON");
    if (rc == 0)
        rc = run(c, "UPDATE logs SET wrapped_key = zeroblob(61) WHERE id = ?", "i", (int64_t)id);
    if (rc == 0)
        rc = run(c, "UPDATE logs SET wrapped_key = NULL, deleting = 1 WHERE id = ?", "i",
                 (int64_t)id);
    /* The WAL still holds the pages as they were, key included: copy the
     * new ones into the database and cut the WAL to nothing. */
    if (rc == 0)
        rc = fl_catalog_scrub(c);
    return rc;
}

int fl_catalog_scrub(fl_catalog_t *c)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, "wal_checkpoint");
    rc = sqlite3_step(st);
    /* a row (busy, log frames, checkpointed): busy = 1 when a reader kept
     * it from finishing */
    int busy = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 1;
    int out = rc == SQLITE_ROW ? 0 : sql_err(c, rc, "wal_checkpoint");
    sqlite3_finalize(st);
    if (out == 0 && busy) {
        fl_warn("catalog: the WAL could not be emptied (a reader held it); the next delete or "
                "open empties it");
        out = 0;
    }
    return out;
}

int fl_catalog_log_remove(fl_catalog_t *c, uint64_t id)
{
    int rc = fl_catalog_begin(c);
    if (rc < 0)
        return rc;
    if ((rc = run(c, "DELETE FROM tags WHERE log_id = ?", "i", (int64_t)id)) < 0 ||
        (rc = run(c, "DELETE FROM attrs WHERE log_id = ?", "i", (int64_t)id)) < 0 ||
        (rc = run(c, "DELETE FROM shards WHERE log_id = ?", "i", (int64_t)id)) < 0 ||
        (rc = run(c, "DELETE FROM logs WHERE id = ?", "i", (int64_t)id)) < 0) {
        fl_catalog_rollback(c);
        return rc;
    }
    rc = fl_catalog_commit(c);
    /* its name, tags and attributes: zeroed in the pages (secure_delete),
     * and gone from the WAL */
    return rc == 0 ? fl_catalog_scrub(c) : rc;
}

int fl_catalog_logs(fl_catalog_t *c, int (*cb)(void *arg, const fl_cat_log_t *row), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT id, name, created_ns, version, retention_hours, key_id,"
                                " wrapped_key, deleting FROM logs ORDER BY id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, "logs");
    int out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fl_cat_log_t row = {0};
        row.id = (uint64_t)sqlite3_column_int64(st, 0);
        row.name = (const char *)sqlite3_column_text(st, 1);
        row.created_ns = sqlite3_column_int64(st, 2);
        row.version = (uint64_t)sqlite3_column_int64(st, 3);
        row.retention_hours = (uint32_t)sqlite3_column_int64(st, 4);
        row.key_id = (const char *)sqlite3_column_text(st, 5);
        row.wrapped = sqlite3_column_blob(st, 6);
        row.wrapped_len = (size_t)sqlite3_column_bytes(st, 6);
        row.deleting = sqlite3_column_int(st, 7);
        if (!row.name || !row.key_id)
            out = FL_ECORRUPT;
        else
            out = cb(arg, &row);
    }
    if (out == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sql_err(c, rc, "logs");
    sqlite3_finalize(st);
    return out;
}

int fl_catalog_shard_insert(fl_catalog_t *c, uint64_t log_id, const fl_cat_shard_t *sh)
{
    return run(c,
               "INSERT INTO shards(log_id, shard_id, hash_start, hash_end, parent, parent2,"
               " open, created_ns, trim_seq) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
               "iibbiiiii", (int64_t)log_id, (int64_t)sh->id, sh->hash_start, 16, sh->hash_end, 16,
               (int64_t)sh->parent, (int64_t)sh->parent2, (int64_t)sh->open, sh->created_ns,
               (int64_t)sh->trim_seq);
}

int fl_catalog_shard_close(fl_catalog_t *c, uint64_t log_id, uint32_t shard)
{
    return run(c, "UPDATE shards SET open = 0 WHERE log_id = ? AND shard_id = ?", "ii",
               (int64_t)log_id, (int64_t)shard);
}

int fl_catalog_shard_set_trim(fl_catalog_t *c, uint64_t log_id, uint32_t shard, uint64_t trim)
{
    return run(c, "UPDATE shards SET trim_seq = ? WHERE log_id = ? AND shard_id = ?", "iii",
               (int64_t)trim, (int64_t)log_id, (int64_t)shard);
}

int fl_catalog_shards(fl_catalog_t *c, uint64_t log_id,
                      int (*cb)(void *arg, const fl_cat_shard_t *row), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT shard_id, hash_start, hash_end, parent, parent2, open,"
                                " created_ns, trim_seq FROM shards WHERE log_id = ?"
                                " ORDER BY shard_id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, "shards");
    sqlite3_bind_int64(st, 1, (int64_t)log_id);
    int out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fl_cat_shard_t row = {0};
        row.id = (uint32_t)sqlite3_column_int64(st, 0);
        if (sqlite3_column_bytes(st, 1) != 16 || sqlite3_column_bytes(st, 2) != 16) {
            out = FL_ECORRUPT;
            break;
        }
        memcpy(row.hash_start, sqlite3_column_blob(st, 1), 16);
        memcpy(row.hash_end, sqlite3_column_blob(st, 2), 16);
        row.parent = (uint32_t)sqlite3_column_int64(st, 3);
        row.parent2 = (uint32_t)sqlite3_column_int64(st, 4);
        row.open = sqlite3_column_int(st, 5);
        row.created_ns = sqlite3_column_int64(st, 6);
        row.trim_seq = (uint64_t)sqlite3_column_int64(st, 7);
        out = cb(arg, &row);
    }
    if (out == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sql_err(c, rc, "shards");
    sqlite3_finalize(st);
    return out;
}

static const char *kv_table(int attrs)
{
    return attrs ? "attrs" : "tags";
}

int fl_catalog_kv_set(fl_catalog_t *c, int attrs, uint64_t log_id, const char *k, const char *v)
{
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s(log_id, k, v) VALUES(?, ?, ?)",
             kv_table(attrs));
    return run(c, sql, "itt", (int64_t)log_id, k, v);
}

int fl_catalog_kv_remove(fl_catalog_t *c, int attrs, uint64_t log_id, const char *k)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE log_id = ? AND k = ?", kv_table(attrs));
    int rc = run(c, sql, "it", (int64_t)log_id, k);
    if (rc == 0 && sqlite3_changes(c->db) == 0)
        rc = FL_ENOTFOUND;
    return rc;
}

int fl_catalog_kv_get(fl_catalog_t *c, int attrs, uint64_t log_id, const char *k, char *buf,
                      size_t cap)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE log_id = ? AND k = ?", kv_table(attrs));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, sql);
    sqlite3_bind_int64(st, 1, (int64_t)log_id);
    sqlite3_bind_text(st, 2, k, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    int out = FL_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (cap)
            snprintf(buf, cap, "%s", v ? v : "");
        out = 0;
    } else if (rc != SQLITE_DONE) {
        out = sql_err(c, rc, sql);
    }
    sqlite3_finalize(st);
    return out;
}

int fl_catalog_kv_list(fl_catalog_t *c, int attrs, uint64_t log_id,
                       int (*cb)(void *arg, const char *k, const char *v), void *arg)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT k, v FROM %s WHERE log_id = ? ORDER BY k", kv_table(attrs));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(c, rc, sql);
    sqlite3_bind_int64(st, 1, (int64_t)log_id);
    int out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        out = cb(arg, k ? k : "", v ? v : "");
    }
    if (out == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sql_err(c, rc, sql);
    sqlite3_finalize(st);
    return out;
}
