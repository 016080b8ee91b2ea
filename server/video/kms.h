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
/* On a worker: the master key id ref names into id (made on first use,
 * then logged). FL_EMALFORMED as fl_kms_check; ids that are not KMS
 * references are passed through (the caller's FL_ENOTFOUND says unknown). */
int fl_kms_master_key(fl_store_t *s, const char *ref, char id[FL_LOG_MAX_KEY_ID + 1]);
/* The message for a ref that names no master key (FL_ENOTFOUND). */
void fl_kms_unknown_msg(const char *field, const char *ref, char *msg, size_t cap);
/* What DescribeStream shows: the reference the stream was given, else its
 * master key id. */
void fl_kms_shown(fl_log_t *log, const char *master_key_id, char *out, size_t cap);

#endif
