/*
 * common/fileio.h — whole-buffer I/O on a file descriptor.
 *
 * read(2), write(2), pread(2) and pwrite(2) may transfer fewer bytes than
 * asked, or fail with EINTR when a signal arrives; every caller that wants
 * "all of it or an error" would otherwise write the same loop. These loops
 * retry EINTR and short transfers and return 0 or a negative code: -errno,
 * FL_EIO (nothing was written and no error said why), FL_ETRUNCATED (the
 * file ended first). C library only.
 */
#ifndef FL_COMMON_FILEIO_H
#define FL_COMMON_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* All n bytes at the descriptor's position (files, pipes, sockets). */
int fl_write_all(int fd, const void *p, size_t n);
/* All n bytes at offset off. */
int fl_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* Up to n bytes from offset off, fewer only where the file ends: 0 and
 * *got (bytes read). */
int fl_pread_upto(int fd, void *p, size_t n, uint64_t off, size_t *got);
/* Exactly n bytes from offset off: FL_ETRUNCATED if the file ends first. */
int fl_pread_all(int fd, void *p, size_t n, uint64_t off);

/* The same loops over the caller's calls (an I/O table that tests wrap to
 * inject faults): each returns a byte count or -errno, like storage's
 * fl_store_io_t. */
typedef ssize_t (*fl_pwrite_fn)(void *ctx, int fd, const void *p, size_t n, off_t off);
typedef ssize_t (*fl_pread_fn)(void *ctx, int fd, void *p, size_t n, off_t off);
int fl_pwrite_all_via(fl_pwrite_fn fn, void *ctx, int fd, const void *p, size_t n, uint64_t off);
int fl_pread_upto_via(fl_pread_fn fn, void *ctx, int fd, void *p, size_t n, uint64_t off,
                      size_t *got);

#endif
