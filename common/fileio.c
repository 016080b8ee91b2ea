/*
 * common/fileio.c — the EINTR- and short-transfer-safe loops of fileio.h.
 * Offsets stay below 2^63 (off_t); a transfer never asks for more than
 * SSIZE_MAX bytes at once (the kernel caps one call lower anyway).
 */
#include "fileio.h"

#include <errno.h>
#include <unistd.h>

#include "error.h"

int fl_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return FL_EIO;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int fl_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return FL_EIO;
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int fl_pread_upto(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    uint8_t *b = p;
    size_t done = 0;
    *got = 0;
    while (done < n) {
        ssize_t r = pread(fd, b + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

int fl_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    size_t got;
    int rc = fl_pread_upto(fd, p, n, off, &got);
    return rc < 0 ? rc : got < n ? FL_ETRUNCATED : 0;
}
