/*
 * common/kms_key_id.h — AWS KMS key references (KmsKeyId, KeyId) read as
 * the names of framelog master keys.
 *
 * AWS takes four forms of a KMS key reference; so does framelog:
 *   key ARN     arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID
 *   key id      KEY-ID
 *   alias ARN   arn:PARTITION:kms:REGION:ACCOUNT:alias/ALIAS-NAME
 *   alias       alias/ALIAS-NAME
 * KEY-ID is a UUID (8-4-4-4-12 hexadecimal digits) or a multi-Region key
 * id ("mrk-" and 32 hexadecimal digits); ALIAS-NAME is 1 to 250 characters
 * of [A-Za-z0-9/_-] (the whole alias, "alias/" included, at most 256, as
 * KMS allows). PARTITION is aws, aws-cn, aws-us-gov or the like
 * ([a-z-]+), REGION [a-z0-9-]+, ACCOUNT 12 digits.
 *
 * The name of the master key a reference means (what the catalog files the
 * key under, docs/storage-format.md) is "key/" + KEY-ID in lower case, or
 * "alias/" + ALIAS-NAME: the ARN's partition, region and account are not
 * part of it (one framelog data dir is one account in one region), so a
 * key ARN and its bare id, or an alias ARN and its alias, name the same
 * key. AWS's managed keys (alias/aws/kinesisvideo, alias/aws/kinesis and
 * their ARNs) are the data dir's default master key: the name "default".
 *
 * Plain C with no library (common/).
 */
#ifndef FL_COMMON_KMS_KEY_ID_H
#define FL_COMMON_KMS_KEY_ID_H

#include <stddef.h>

#include "common/bytes.h"

#define FL_KMS_REF_MAX  512 /* bytes of a reference we read */
#define FL_KMS_NAME_MAX 256 /* bytes of the name it gives ("alias/" + 250) */

/* Read ref. Returns 1 with the key's name in name[FL_KMS_NAME_MAX + 1]
 * when ref is one of the four forms; 0 when ref does not look like a KMS
 * reference at all (no "arn:" or "alias/" prefix and not a key id: the
 * caller may take it as a name of its own); FL_EMALFORMED when it starts
 * like one but is not (*why, when why is not NULL, says what is wrong, a
 * static string). */
int fl_kms_key_ref(fl_slice_t ref, char name[FL_KMS_NAME_MAX + 1], const char **why);

#endif
