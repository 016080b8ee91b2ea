/*
 * common/fileio.c — the EINTR- and short-transfer-safe loops of fileio.h:
 * one write loop and one read loop, over the system calls or over the
 * caller's. Offsets stay below 2^63 (off_t).
 */
#include "fileio.h"

#include <errno.h>
#include <unistd.h>

#include "error.h"

static ssize_t sys_write(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    (void)ctx;
    (void)off;
    ssize_t w = write(fd, p, n);
    return w < 0 ? -errno : w;
}

static ssize_t sys_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    (void)ctx;
    ssize_t w = pwrite(fd, p, n, off);
    return w < 0 ? -errno : w;
}

static ssize_t sys_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    (void)ctx;
    ssize_t r = pread(fd, p, n, off);
    return r < 0 ? -errno : r;
}

int fl_pwrite_all_via(fl_pwrite_fn fn, void *ctx, int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = fn(ctx, fd, b, n, (off_t)off);
        if (w == -EINTR)
            continue;
        if (w < 0)
            return (int)w;
        if (w == 0)
            return FL_EIO;
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int fl_pread_upto_via(fl_pread_fn fn, void *ctx, int fd, void *p, size_t n, uint64_t off,
                      size_t *got)
{
    uint8_t *b = p;
    size_t done = 0;
    *got = 0;
    while (done < n) {
        ssize_t r = fn(ctx, fd, b + done, n - done, (off_t)(off + done));
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

int fl_write_all(int fd, const void *p, size_t n)
{
    return fl_pwrite_all_via(sys_write, NULL, fd, p, n, 0);
}

int fl_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    return fl_pwrite_all_via(sys_pwrite, NULL, fd, p, n, off);
}

int fl_pread_upto(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    return fl_pread_upto_via(sys_pread, NULL, fd, p, n, off, got);
}

int fl_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    size_t got;
    int rc = fl_pread_upto(fd, p, n, off, &got);
    return rc < 0 ? rc : got < n ? FL_ETRUNCATED : 0;
}
