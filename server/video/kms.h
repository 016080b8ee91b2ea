/*
 * server/video/kms.h — what a KmsKeyId (Kinesis Video CreateStream) or
 * KeyId (Kinesis StartStreamEncryption) names: a master key of the store.
 *
 * The four forms of an AWS KMS key reference (common/kms_key_id.h) name
 * master keys kept in the catalog (storage's named keys), made on first use
 * and logged, so that scripts ported from AWS run unchanged; AWS's managed
 * keys (alias/aws/kinesisvideo, alias/aws/kinesis) are the default master
 * key. Anything else is taken as the id of a master key the store already
 * knows ("default", or one registered with fl_store_add_master_key).
 * What the client gave is kept beside the stream (the log attribute
 * FL_KMS_ATTR) and returned as given by DescribeStream.
 */
#ifndef FL_SERVER_VIDEO_KMS_H
#define FL_SERVER_VIDEO_KMS_H

#include "common/kms_key_id.h"
#include "storage/log.h"

#define FL_KMS_ATTR "kms_key_id"

/* Check ref on the loop (no I/O): 0, or FL_EMALFORMED with a message for
 * InvalidArgumentException in msg (field: "KmsKeyId" or "KeyId"). */
int fl_kms_check(const char *field, const char *ref, char *msg, size_t cap);
/* The master key id ref names, into id; *make says whether it is to be
 * made on first use (a KMS reference to a named key): the caller passes
 * it to storage, which makes the key in the transaction of the stream's
 * creation or key switch (fl_log_opts_t.make_master_key,
 * fl_log_set_master_key_ex), then fl_kms_made logs a key that was made.
 * FL_EMALFORMED as fl_kms_check; ids that are not KMS references are
 * passed through (the caller's FL_ENOTFOUND says unknown). No I/O. */
int fl_kms_master_key(const char *ref, char id[FL_LOG_MAX_KEY_ID + 1], int *make);
/* Log the first use of ref, whose master key id was just made. */
void fl_kms_made(const char *ref, const char *id);
/* The message for a ref that names no master key (FL_ENOTFOUND). */
void fl_kms_unknown_msg(const char *field, const char *ref, char *msg, size_t cap);
/* What DescribeStream shows: the reference the stream was given, else its
 * master key id. */
void fl_kms_shown(fl_log_t *log, const char *master_key_id, char *out, size_t cap);

#endif
