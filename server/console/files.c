/*
 * server/console/files.c — the console's static files, read once at start.
 *
 * framelogd serves the console from memory: every regular file under the
 * console folder (--console-dir, or the installed or source-tree default)
 * is read at start, its Content-Type chosen by extension and its ETag made
 * from its bytes (FNV-1a 64, enough to tell versions of one file apart).
 * The table is sorted by name and searched by bisection. Serving then
 * never reads the disk, and a request can only name a file of the table:
 * "..", symlinks out of the folder (they are not followed) and dot files
 * (not loaded) cannot be reached.
 *
 * Bounds: FL_CONSOLE_MAX_FILES files, FL_CONSOLE_MAX_BYTES in all, names
 * of FL_CONSOLE_MAX_NAME bytes, folders 8 deep. Past them, the load fails
 * with a reason and framelogd does not start (a console folder that big is
 * a wrong flag, not a console).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "server/console/console.h"

#define MAX_DEPTH 8

typedef struct {
    fl_console_files_t *f;
    size_t cap;
    size_t total;
    char *err;
    size_t errlen;
} load_t;

const char *fl_console_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    if (!dot) /* LICENSE, SOURCE, README: the texts carried with vendor code */
        return strcmp(base, "LICENSE") == 0 || strcmp(base, "SOURCE") == 0 ||
                       strcmp(base, "README") == 0
                   ? "text/plain; charset=utf-8"
                   : "application/octet-stream";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int failf(load_t *l, int rc, const char *fmt, const char *a, const char *b)
{
    snprintf(l->err, l->errlen, fmt, a, b);
    return rc;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = read(fd, p + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : FL_EIO;
        off += (size_t)k;
    }
    return 0;
}

static int add_file(load_t *l, int dirfd, const char *entry, const char *rel)
{
    fl_console_files_t *f = l->f;
    if (f->n == FL_CONSOLE_MAX_FILES)
        return failf(l, FL_ELIMIT, "console: more than %s files under %s", "256", f->dir);
    int fd = openat(dirfd, entry, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return failf(l, -errno, "console: cannot open %s: %s", rel, strerror(errno));
    struct stat st;
    int rc = 0;
    uint8_t *bytes = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    if ((uint64_t)st.st_size > FL_CONSOLE_MAX_BYTES - l->total) {
        close(fd);
        return failf(l, FL_ELIMIT, "console: the files under %s pass %s bytes", f->dir, "33554432");
    }
    size_t n = (size_t)st.st_size;
    bytes = malloc(n ? n : 1);
    if (!bytes) {
        close(fd);
        return FL_ENOMEM;
    }
    rc = read_all(fd, bytes, n);
    close(fd);
    if (rc) {
        free(bytes);
        return failf(l, rc, "console: cannot read %s: %s", rel, fl_strerror(rc));
    }
    if (f->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        fl_console_file_t *nf = realloc(f->files, cap * sizeof *nf);
        if (!nf) {
            free(bytes);
            return FL_ENOMEM;
        }
        f->files = nf;
        l->cap = cap;
    }
    fl_console_file_t *e = &f->files[f->n++];
    memset(e, 0, sizeof *e);
    size_t k = strnlen(rel, FL_CONSOLE_MAX_NAME); /* walk() checked the length */
    memcpy(e->name, rel, k);
    e->name[k] = 0;
    e->bytes = bytes;
    e->n = n;
    e->content_type = fl_console_content_type(rel);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (size_t i = 0; i < n; i++) {
        h ^= bytes[i];
        h *= 0x100000001b3ull;
    }
    snprintf(e->etag, sizeof e->etag, "\"%016llx\"", (unsigned long long)h);
    e->immutable = strncmp(rel, "vendor/", 7) == 0;
    l->total += n;
    return 0;
}

static int walk(load_t *l, int fd, const char *prefix, int depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char rel[FL_CONSOLE_MAX_NAME + 2];
        int k = snprintf(rel, sizeof rel, "%s%s", prefix, de->d_name);
        if (k < 0 || (size_t)k > FL_CONSOLE_MAX_NAME) {
            rc = failf(l, FL_ELIMIT, "console: a path under %s is too long: %s", l->f->dir, rel);
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth + 1 >= MAX_DEPTH) {
                rc = failf(l, FL_ELIMIT, "console: folders nested too deep at %s%s", rel, "");
                break;
            }
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (sub < 0)
                continue;
            char p2[FL_CONSOLE_MAX_NAME + 3];
            snprintf(p2, sizeof p2, "%s/", rel);
            rc = walk(l, sub, p2, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_file(l, dirfd(d), de->d_name, rel);
        }
    }
    closedir(d);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const fl_console_file_t *)a)->name, ((const fl_console_file_t *)b)->name);
}

int fl_console_files_load(fl_console_files_t *f, const char *dir, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    load_t l = {.f = f, .err = err, .errlen = errlen};
    err[0] = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int rc = errno == ENOENT ? FL_ENOTFOUND : -errno;
        snprintf(err, errlen, "console: no folder %s (%s)", dir, strerror(errno));
        f->dir[0] = 0;
        return rc;
    }
    int rc = walk(&l, fd, "", 0);
    if (rc == 0 && f->n)
        qsort(f->files, f->n, sizeof *f->files, by_name);
    if (rc == 0 && !fl_console_files_find(f, "index.html")) {
        snprintf(err, errlen, "console: %s has no index.html", dir);
        rc = FL_ENOTFOUND;
    }
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "console: loading %s: %s", dir, fl_strerror(rc));
        fl_console_files_free(f);
    }
    return rc;
}

void fl_console_files_free(fl_console_files_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->files[i].bytes);
    free(f->files);
    f->files = NULL;
    f->n = 0;
    f->dir[0] = 0;
}

const fl_console_file_t *fl_console_files_find(const fl_console_files_t *f, const char *name)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->files[mid].name);
        if (c == 0)
            return &f->files[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}
