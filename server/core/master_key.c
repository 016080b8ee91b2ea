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

/* The key src names, as bytes (a file is read, and created when create). */
static int src_key(fl_master_key_src_t *src, const char *data_dir, int create, char *err,
                   size_t errlen)
{
    if (src->have_key)
        return 0;
    char p[4200];
    if (src->path[0])
        snprintf(p, sizeof p, "%s", src->path);
    else
        snprintf(p, sizeof p, "%s/master.key", data_dir);
    int rc = fl_master_key_load_file(p, create, src->key);
    if (rc < 0)
        return failf(err, errlen, rc, src->what, fl_strerror(rc));
    src->have_key = 1;
    return 0;
}

int fl_master_key_rotate_main(int argc, char **argv)
{
    const char *dir = NULL, *o[3] = {NULL, NULL, NULL}, *n[3] = {NULL, NULL, NULL};
    static const char *const names[] = {"file", "env", "fd"};
    for (int i = 1; i < argc; i += 2) { /* every flag takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int hit = 0;
        if (strcmp(a, "--data-dir") == 0 && v) {
            dir = v;
            hit = 1;
        }
        for (int k = 0; k < 3 && !hit; k++) {
            char on[64], nn[64];
            snprintf(on, sizeof on, "--master-key-%s", names[k]);
            snprintf(nn, sizeof nn, "--new-master-key-%s", names[k]);
            if (strcmp(a, on) == 0 && v)
                o[k] = v, hit = 1;
            else if (strcmp(a, nn) == 0 && v)
                n[k] = v, hit = 1;
        }
        if (!hit) {
            fprintf(stderr,
                    "usage: framelogd rotate-master-key --data-dir DIR\n"
                    "         [--master-key-file F | --master-key-env NAME | --master-key-fd N]"
                    "   (the current key; default DIR/master.key)\n"
                    "          --new-master-key-file F | --new-master-key-env NAME |"
                    " --new-master-key-fd N   (a new file is created 0600)\n");
            return 2;
        }
    }
    if (!dir || (!n[0] && !n[1] && !n[2])) {
        fprintf(stderr, "framelogd rotate-master-key: --data-dir and a --new-master-key-* are "
                        "required (see --help)\n");
        return 2;
    }
    char err[4600];
    fl_master_key_src_t old_src, new_src;
    memset(&old_src, 0, sizeof old_src);
    memset(&new_src, 0, sizeof new_src);
    int rc = fl_master_key_resolve(o[0], o[1], o[2], dir, &old_src, err, sizeof err);
    if (rc == 0)
        rc = src_key(&old_src, dir, 0, err, sizeof err);
    if (rc == 0) {
        rc = fl_master_key_resolve(n[0], n[1], n[2], dir, &new_src, err, sizeof err);
        if (rc == 0 && !new_src.have_key && old_src.path[0] && new_src.path[0] &&
            strcmp(old_src.path, new_src.path) == 0)
            rc = failf(err, sizeof err, FL_EINVAL, new_src.what, "is the current key's file");
        if (rc == 0)
            rc = src_key(&new_src, dir, 1, err, sizeof err);
        if (rc == 0 && memcmp(old_src.key, new_src.key, 32) == 0)
            rc = failf(err, sizeof err, FL_EINVAL, new_src.what, "is the current key");
    }
    fl_rotate_counts_t counts;
    memset(&counts, 0, sizeof counts);
    if (rc == 0) {
        rc = fl_store_rotate_master_key(dir, old_src.key, new_src.key, &counts);
        if (rc < 0)
            snprintf(err, sizeof err, "cannot rotate the master key of %s: %s", dir,
                     rc == FL_EBUSY     ? "in use by another process (stop framelogd first)"
                     : rc == FL_ECRYPTO ? "the current key is not the one it was sealed with"
                                        : fl_strerror(rc));
    }
    if (rc == 0)
        printf("master key of %s rotated: %zu stream keys, %zu named master keys and %zu access "
               "keys re-wrapped under %s; start framelogd with it from now on (the old key opens "
               "nothing)\n",
               dir, counts.streams, counts.named_keys, counts.access_keys, new_src.what);
    else
        fprintf(stderr, "framelogd rotate-master-key: %s\n", err);
    fl_master_key_src_done(&old_src);
    fl_master_key_src_done(&new_src);
    return rc == 0 ? 0 : 1;
}
