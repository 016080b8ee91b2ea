/*
 * common/error.c — names of error codes. See error.h.
 */
#include "common/error.h"

#include <string.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} fl_errors[] = {
    {FL_ECORRUPT, "FL_ECORRUPT", "stored data failed its integrity check"},
    {FL_EMALFORMED, "FL_EMALFORMED", "malformed input"},
    {FL_ELIMIT, "FL_ELIMIT", "limit exceeded"},
    {FL_ENOTFOUND, "FL_ENOTFOUND", "not found"},
    {FL_EEXISTS, "FL_EEXISTS", "already exists"},
    {FL_EEXPIRED, "FL_EEXPIRED", "data expired by retention"},
    {FL_ECLOSED, "FL_ECLOSED", "closed"},
    {FL_EUNSUPPORTED, "FL_EUNSUPPORTED", "not supported"},
    {FL_EVERSION, "FL_EVERSION", "version mismatch or unknown format version"},
    {FL_ETRUNCATED, "FL_ETRUNCATED", "input truncated"},
    {FL_ECRYPTO, "FL_ECRYPTO", "cryptographic operation failed"},
    {FL_EBUSY, "FL_EBUSY", "resource busy"},
    {FL_ESTATE, "FL_ESTATE", "operation not valid in the current state"},
    {FL_ETIMEDOUT, "FL_ETIMEDOUT", "timed out"},
    {FL_EEOF, "FL_EEOF", "end of data"},
};

static const struct {
    int err;
    const char *name;
} fl_errnos[] = {
    {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EINVAL, "EINVAL"},         {EIO, "EIO"},
    {ENOSPC, "ENOSPC"}, {ENOENT, "ENOENT"}, {EEXIST, "EEXIST"},         {EACCES, "EACCES"},
    {EPERM, "EPERM"},   {EROFS, "EROFS"},   {EFBIG, "EFBIG"},           {EDQUOT, "EDQUOT"},
    {EBADF, "EBADF"},   {EPIPE, "EPIPE"},   {EADDRINUSE, "EADDRINUSE"}, {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"}, {EINTR, "EINTR"},
};

const char *fl_strerror(int err)
{
    if (err == 0)
        return "success";
    for (size_t i = 0; i < sizeof(fl_errors) / sizeof(fl_errors[0]); i++)
        if (fl_errors[i].code == err)
            return fl_errors[i].text;
    if (err < 0 && err > FL_EBASE) {
        /* strerror() is not thread-safe in general, but glibc's returns a
         * pointer to an immutable table for known codes. */
        return strerror(-err);
    }
    return "unknown error";
}

const char *fl_errname(int err)
{
    if (err == 0)
        return "OK";
    for (size_t i = 0; i < sizeof(fl_errors) / sizeof(fl_errors[0]); i++)
        if (fl_errors[i].code == err)
            return fl_errors[i].name;
    for (size_t i = 0; i < sizeof(fl_errnos) / sizeof(fl_errnos[0]); i++)
        if (-fl_errnos[i].err == err)
            return fl_errnos[i].name;
    return "EUNKNOWN";
}
