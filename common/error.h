/*
 * common/error.h — framelog's error codes.
 *
 * Every framelog function that can fail returns an int: 0 on success, a
 * negative code on failure (libuv's habit). System errors are negative errno
 * values (-ENOENT, -ENOSPC, ...); framelog's own conditions use the FL_E*
 * codes below, which sit far below any errno. fl_strerror() names every code.
 *
 * "Not yet" is FL_EAGAIN (== -EAGAIN): a normal answer for a non-blocking
 * call, not a failure.
 */
#ifndef FL_COMMON_ERROR_H
#define FL_COMMON_ERROR_H

#include <errno.h>

#define FL_OK     0
#define FL_EAGAIN (-EAGAIN)
#define FL_ENOMEM (-ENOMEM)
#define FL_EINVAL (-EINVAL)
#define FL_EIO    (-EIO)
#define FL_ENOSPC (-ENOSPC)

enum {
    FL_EBASE = -10000,
    FL_ECORRUPT = FL_EBASE - 1,     /* stored bytes failed their integrity check */
    FL_EMALFORMED = FL_EBASE - 2,   /* untrusted input does not follow its format */
    FL_ELIMIT = FL_EBASE - 3,       /* input exceeds a configured limit */
    FL_ENOTFOUND = FL_EBASE - 4,    /* no such object (stream, log, shard, record) */
    FL_EEXISTS = FL_EBASE - 5,      /* object already exists */
    FL_EEXPIRED = FL_EBASE - 6,     /* data was removed by retention */
    FL_ECLOSED = FL_EBASE - 7,      /* object is closed for this operation */
    FL_EUNSUPPORTED = FL_EBASE - 8, /* valid but not supported by framelog */
    FL_EVERSION = FL_EBASE - 9,     /* unknown format version or version mismatch */
    FL_ETRUNCATED = FL_EBASE - 10,  /* input ended before a complete unit */
    FL_ECRYPTO = FL_EBASE - 11,     /* a cryptographic operation failed */
    FL_EBUSY = FL_EBASE - 12,       /* resource in use (lock held, stream busy) */
    FL_ESTATE = FL_EBASE - 13,      /* call not valid in the object's current state */
    FL_ETIMEDOUT = FL_EBASE - 14,   /* a wait ran out */
    FL_EEOF = FL_EBASE - 15,        /* nothing more to read */
    FL_ELAST = FL_EBASE - 16
};

/* Name of an error code, e.g. "malformed input"; never NULL. Thread-safe. */
const char *fl_strerror(int err);

/* Symbolic name of an error code, e.g. "FL_EMALFORMED" or "ENOSPC". */
const char *fl_errname(int err);

#endif
