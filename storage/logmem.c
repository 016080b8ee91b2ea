/*
 * storage/logmem.c — a log in memory: the fl_log_t object itself, its
 * shards by id, its folder, and the removal of its files.
 *
 * A log is reachable in two ways: from the store's list (s->logs, under
 * mu), which holds it from load or create until fl_log_delete; and from
 * handles that callers got from fl_log_create or fl_log_open and give back
 * with fl_log_close (log->handles counts them, under mu). fl_log_delete
 * takes the log off s->logs; if handles are still open it moves to
 * s->dead, marked deleting, and the last fl_log_close frees it; otherwise
 * it is freed at once. fl_store_close frees whatever is left on both lists,
 * so callers that never close their handles leak nothing.
 *
 * Layering: this file is below the writer, the reader and the metadata
 * files (they call it; it calls only shard.c, keys.c and io.c), which is
 * what keeps store and writer out of a cycle.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

fl_log_t *fl_log_new(fl_store_t *s, uint64_t id, const char *name)
{
    fl_log_t *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    char dir[FL_PATH_MAX];
    fl_log_dir_path(s, id, dir, sizeof dir);
    pthread_mutex_init(&log->idx_mu, NULL);
    log->store = s;
    log->id = id;
    log->name = strdup(name);
    log->dir = strdup(dir);
    log->seg_fd = log->idx_fd = log->dio_fd = -1;
    log->spare_fd = log->spare_idx_fd = -1;
    if (!log->name || !log->dir) {
        fl_log_free_mem(log);
        return NULL;
    }
    return log;
}

int fl_log_push_seg(fl_log_t *log, uint64_t segno, uint64_t size, int64_t sts_max)
{
    if (log->nsegs == log->capsegs) {
        size_t nc = log->capsegs ? log->capsegs * 2 : 16;
        fl_seg_info_t *v = realloc(log->segs, nc * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        log->segs = v;
        log->capsegs = nc;
    }
    fl_seg_info_t *g = &log->segs[log->nsegs++];
    g->segno = segno;
    g->size = size;
    g->sts_max = sts_max;
    return 0;
}

void fl_log_dir_path(const fl_store_t *s, uint64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%llu", s->logs_dir, (unsigned long long)id);
}

fl_shard_t *fl_log_shard(fl_log_t *log, uint32_t id)
{
    return id < log->nshards ? log->shards[id] : NULL;
}

void fl_log_free_mem(fl_log_t *log)
{
    if (!log)
        return;
    for (uint32_t i = 0; i < log->nshards; i++)
        fl_shard_free(log->shards[i]);
    free(log->shards);
    free(log->segs);
    free(log->name);
    free(log->dir);
    fl_keys_wipe(log->key, sizeof log->key);
    pthread_mutex_destroy(&log->idx_mu);
    free(log);
}

int fl_log_remove_files(fl_store_t *s, uint64_t id)
{
    char dir[FL_PATH_MAX], p[FL_PATH_MAX + 256];
    fl_log_dir_path(s, id, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int rc = 0;
    struct dirent *e;
    /* every file the log's folder holds: segments, indexes, temp files */
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        int r = s->io.unlink(s->io.ctx, p);
        if (r < 0 && r != -ENOENT && rc == 0)
            rc = r;
    }
    closedir(d);
    if (rc == 0)
        rc = s->io.rmdir(s->io.ctx, dir);
    if (rc == -ENOENT)
        rc = 0;
    if (rc == 0)
        rc = fl_io_fsync_dir(&s->io, s->logs_dir);
    return rc;
}
