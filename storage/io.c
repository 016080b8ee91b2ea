/*
 * storage/io.c — the default I/O table: the real system calls, each
 * returning -errno on failure. Everything storage does to segment, index and
 * key files goes through a table like this one, so tests can wrap it and
 * inject EIO, ENOSPC and torn writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "storage_internal.h"

static int io_open(void *ctx, const char *path, int flags, mode_t mode)
{
    (void)ctx;
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static int io_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd) < 0 ? -errno : 0;
}

/* The real calls read and write whole buffers (common/fileio.c: EINTR and
 * short transfers retried); a read is short only at the end of the file. */
static ssize_t io_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
    (void)ctx;
    size_t got;
    int rc = fl_pread_upto(fd, buf, n, (uint64_t)off, &got);
    return rc < 0 ? rc : (ssize_t)got;
}

static ssize_t io_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    (void)ctx;
    int rc = fl_pwrite_all(fd, buf, n, (uint64_t)off);
    return rc < 0 ? rc : (ssize_t)n;
}

static int io_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int io_fsync(void *ctx, int fd)
{
    (void)ctx;
    return fsync(fd) < 0 ? -errno : 0;
}

static int io_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    return ftruncate(fd, len) < 0 ? -errno : 0;
}

static int io_fsize(void *ctx, int fd, uint64_t *size_out)
{
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *size_out = (uint64_t)st.st_size;
    return 0;
}

static int io_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int io_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

static int io_mkdir(void *ctx, const char *path, mode_t mode)
{
    (void)ctx;
    return mkdir(path, mode) < 0 ? -errno : 0;
}

static int io_rmdir(void *ctx, const char *path)
{
    (void)ctx;
    return rmdir(path) < 0 ? -errno : 0;
}

static const fl_store_io_t io_default = {
    io_open,  io_close,  io_pread,  io_pwrite, io_fdatasync, io_fsync, io_ftruncate,
    io_fsize, io_rename, io_unlink, io_mkdir,  io_rmdir,     NULL,
};

const fl_store_io_t *fl_store_io_default(void)
{
    return &io_default;
}

int fl_io_write_all(const fl_store_io_t *io, int fd, const void *p, size_t n, uint64_t off)
{
    return fl_pwrite_all_via(io->pwrite, io->ctx, fd, p, n, off);
}

int fl_io_read_all(const fl_store_io_t *io, int fd, void *p, size_t n, uint64_t off)
{
    size_t got;
    int rc = fl_pread_upto_via(io->pread, io->ctx, fd, p, n, off, &got);
    return rc < 0 ? rc : got < n ? FL_ETRUNCATED : 0;
}

int fl_io_mkdir(const fl_store_io_t *io, const char *p)
{
    int rc = io->mkdir(io->ctx, p, 0700);
    return rc == -EEXIST ? 0 : rc;
}

int fl_io_fsync_dir(const fl_store_io_t *io, const char *dir)
{
    int fd = io->open(io->ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int rc = io->fsync(io->ctx, fd);
    io->close(io->ctx, fd);
    return rc;
}

int fl_io_replace_file(const fl_store_io_t *io, const char *dir, const char *path, const void *p,
                       size_t n, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return FL_ELIMIT;
    int fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return fd;
    int rc = fl_io_write_all(io, fd, p, n, 0);
    if (rc == 0)
        rc = io->fsync(io->ctx, fd);
    io->close(io->ctx, fd);
    if (rc == 0)
        rc = io->rename(io->ctx, tmp, path);
    if (rc == 0)
        rc = fl_io_fsync_dir(io, dir);
    if (rc < 0)
        io->unlink(io->ctx, tmp);
    return rc;
}
