/*
 * tests/fuzz/fuzz_kms_key_id.c — fuzz target for common/kms_key_id.c (the
 * KmsKeyId / KeyId of CreateStream and StartStreamEncryption, untrusted).
 *
 * Any input is read as one reference: the answer is 1, 0 or FL_EMALFORMED
 * with a reason; a name is NUL-terminated, 1 to FL_KMS_NAME_MAX bytes, and
 * is "default", "key/..." or "alias/..."; an alias's name read again names
 * itself.
 */
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "common/kms_key_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[FL_KMS_NAME_MAX + 1];
    const char *why = NULL;
    int rc = fl_kms_key_ref(fl_slice(data, size), name, &why);
    if (rc != 1 && rc != 0 && rc != FL_EMALFORMED)
        __builtin_trap();
    if (rc == FL_EMALFORMED && (!why || !*why))
        __builtin_trap();
    if (rc != 1)
        return 0;
    size_t n = strnlen(name, sizeof name);
    if (n == 0 || n > FL_KMS_NAME_MAX)
        __builtin_trap();
    if (strcmp(name, "default") != 0 && strncmp(name, "key/", 4) != 0 &&
        strncmp(name, "alias/", 6) != 0)
        __builtin_trap();
    if (strncmp(name, "alias/", 6) == 0) {
        char again[FL_KMS_NAME_MAX + 1];
        if (fl_kms_key_ref(fl_slice_str(name), again, NULL) != 1 || strcmp(again, name) != 0)
            __builtin_trap();
    }
    return 0;
}
