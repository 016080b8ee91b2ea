/*
 * server/core/master_key.h — where framelogd's master key comes from.
 *
 * One of --master-key-file PATH (a key file, created 0600 when missing),
 * --master-key-env NAME (the variable holds 64 hex digits or 44 characters
 * of base64; it is removed from the environment once read, so children do
 * not inherit it) or --master-key-fd N (read to its end, then closed: hex,
 * base64 or a key file's 44 bytes). None of them: <data dir>/master.key, as
 * before, and the start-up line says that a copy of the data dir can then
 * be read. The resolved key is held in the struct until fl_master_key_src_done.
 */
#ifndef FL_SERVER_CORE_MASTER_KEY_H
#define FL_SERVER_CORE_MASTER_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "storage/log.h"

typedef struct {
    uint8_t key[32];
    int have_key;    /* key holds it (env, fd) */
    char path[4096]; /* else the key file: "" for <dir>/master.key */
    char what[4400]; /* "file /etc/framelog/master.key", for logs and errors */
    int in_data_dir; /* the key sits in the data dir */
} fl_master_key_src_t;

/* Resolve the flags (any may be NULL; more than one is an error) into src.
 * Returns 0, or a code with a one-line reason in err. */
int fl_master_key_resolve(const char *file, const char *env, const char *fd, const char *data_dir,
                          fl_master_key_src_t *src, char *err, size_t errlen);
/* Point the store options at the resolved key. */
void fl_master_key_apply(const fl_master_key_src_t *src, fl_store_opts_t *so);
/* `framelogd rotate-master-key --data-dir DIR [--master-key-file|-env|-fd
 * CURRENT] --new-master-key-file|-env|-fd NEW` (argv[0] is the command's
 * name): re-wraps every stream's data key, no video rewritten. Exit code. */
int fl_master_key_rotate_main(int argc, char **argv);
/* Wipe the key. */
void fl_master_key_src_done(fl_master_key_src_t *src);

#endif
