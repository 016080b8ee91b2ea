/*
 * server/core/master_key.c — resolve --master-key-file/-env/-fd (see
 * master_key.h). Invariants: at most one source; a key read from the
 * environment is unset there and the copy wiped; a descriptor is closed
 * once read; the key bytes live only in src until fl_master_key_src_done.
 */
#include "server/core/master_key.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static int failf(char *err, size_t errlen, int code, const char *what, const char *why)
{
    snprintf(err, errlen, "master key from %s: %s", what, why);
    return code;
}

int fl_master_key_resolve(const char *file, const char *env, const char *fd, const char *data_dir,
                          fl_master_key_src_t *src, char *err, size_t errlen)
{
    memset(src, 0, sizeof *src);
    if ((file != NULL) + (env != NULL) + (fd != NULL) > 1) {
        snprintf(err, errlen,
                 "give at most one of --master-key-file, --master-key-env, --master-key-fd");
        return FL_EINVAL;
    }
    if (file) {
        if (!*file) {
            snprintf(err, errlen, "--master-key-file: empty path");
            return FL_EINVAL;
        }
        snprintf(src->path, sizeof src->path, "%s", file);
        snprintf(src->what, sizeof src->what, "file %s", file);
        char a[PATH_MAX], d[PATH_MAX];
        /* the file may not exist yet: compare its folder with the data dir */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", file);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        if (realpath(slash && !*dir ? "/" : dir, a) && realpath(data_dir, d)) {
            size_t n = strlen(d);
            src->in_data_dir = strncmp(a, d, n) == 0 && (a[n] == 0 || a[n] == '/');
        }
        return 0;
    }
    if (env) {
        snprintf(src->what, sizeof src->what, "environment variable %s", env);
        char *v = getenv(env);
        if (!v)
            return failf(err, errlen, FL_ENOTFOUND, src->what, "not set");
        int rc = fl_master_key_parse(v, strlen(v), src->key);
        fl_master_key_wipe(v, strlen(v));
        unsetenv(env);
        if (rc < 0)
            return failf(err, errlen, rc, src->what,
                         "not a key (64 hexadecimal digits or 44 characters of base64)");
        src->have_key = 1;
        return 0;
    }
    if (fd) {
        snprintf(src->what, sizeof src->what, "descriptor %s", fd);
        char *end;
        errno = 0;
        long n = strtol(fd, &end, 10);
        if (errno || *end || end == fd || n < 0 || n > INT_MAX)
            return failf(err, errlen, FL_EINVAL, src->what, "not a descriptor number");
        int rc = fl_master_key_read_fd((int)n, src->key);
        if (rc < 0)
            return failf(err, errlen, rc, src->what,
                         rc == FL_EMALFORMED ? "not a key (hex, base64 or a key file's bytes)"
                                             : fl_strerror(rc));
        src->have_key = 1;
        return 0;
    }
    snprintf(src->what, sizeof src->what, "%s/master.key in the data dir", data_dir);
    src->in_data_dir = 1;
    return 0;
}

void fl_master_key_apply(const fl_master_key_src_t *src, fl_store_opts_t *so)
{
    so->master_key = src->have_key ? src->key : NULL;
    so->master_key_path = src->path[0] ? src->path : NULL;
}

void fl_master_key_src_done(fl_master_key_src_t *src)
{
    fl_master_key_wipe(src->key, sizeof src->key);
    src->have_key = 0;
}
