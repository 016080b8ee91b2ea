/*
 * server/video/kms.c — KmsKeyId / KeyId to a master key of the store (see
 * kms.h). Invariant: fl_kms_master_key is the one place a KMS reference
 * becomes a master key id, for Kinesis Video and Kinesis Data Streams
 * alike; storage makes a new one in the transaction that first uses it.
 */
#include "server/video/kms.h"

#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "common/error.h"

#define FORMS                                                                                      \
    "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID, KEY-ID, alias/ALIAS-NAME or "                          \
    "arn:aws:kms:REGION:ACCOUNT:alias/ALIAS-NAME"

int fl_kms_check(const char *field, const char *ref, char *msg, size_t cap)
{
    char name[FL_KMS_NAME_MAX + 1];
    const char *why = NULL;
    int rc = fl_kms_key_ref(fl_slice_str(ref), name, &why);
    if (rc == 0 && strlen(ref) > FL_LOG_MAX_KEY_ID) {
        rc = FL_EMALFORMED;
        why = "too long for a master key id";
    }
    if (rc < 0) {
        snprintf(msg, cap, "%s %.300s is not a valid KMS key: %s (give %s)", field, ref, why,
                 FORMS);
        return FL_EMALFORMED;
    }
    return 0;
}

int fl_kms_master_key(const char *ref, char id[FL_LOG_MAX_KEY_ID + 1], int *make)
{
    char name[FL_KMS_NAME_MAX + 1];
    *make = 0;
    int rc = fl_kms_key_ref(fl_slice_str(ref), name, NULL);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (strlen(ref) > FL_LOG_MAX_KEY_ID)
            return FL_EMALFORMED;
        snprintf(id, FL_LOG_MAX_KEY_ID + 1, "%s", ref);
        return 0;
    }
    snprintf(id, FL_LOG_MAX_KEY_ID + 1, "%s", name);
    *make = strcmp(name, "default") != 0;
    return 0;
}

void fl_kms_made(const char *ref, const char *id)
{
    fl_info("KMS key %s: first use, master key '%s' made for it", ref, id);
}

void fl_kms_unknown_msg(const char *field, const char *ref, char *msg, size_t cap)
{
    snprintf(msg, cap, "%s %.300s is not a KMS key reference (%s) nor a master key framelog knows",
             field, ref, FORMS);
}

void fl_kms_shown(fl_log_t *log, const char *master_key_id, char *out, size_t cap)
{
    if (fl_log_attr_get(log, FL_KMS_ATTR, out, cap) != 0)
        snprintf(out, cap, "%s", master_key_id);
}
