/*
 * producer-sdk/ack.c — PutMedia acks from the network into flp_ack_t
 * (ack.h), through the bounded JSON parser.
 *
 * Limits: 4 KiB per message, nesting 4, 64 values, 256 bytes per string.
 * What is checked, beyond well-formed JSON: the root is an object;
 * EventType is one of BUFFERING, RECEIVED, PERSISTED, ERROR, IDLE;
 * FragmentTimecode, if present, an integer >= 0; FragmentNumber, if present,
 * a string of 1..47 decimal digits; ErrorId, if present, an integer in
 * 0..99999. The first member of a name counts (fl_json_get).
 */
#include "ack.h"

#include <string.h>

#include "common/error.h"
#include "common/json.h"

static const struct {
    const char *name;
    flp_ack_type_t type;
} ack_types[] = {{"BUFFERING", FLP_ACK_BUFFERING},
                 {"RECEIVED", FLP_ACK_RECEIVED},
                 {"PERSISTED", FLP_ACK_PERSISTED},
                 {"ERROR", FLP_ACK_ERROR},
                 {"IDLE", FLP_ACK_IDLE}};

int flp_ack_parse(const void *p, size_t n, flp_ack_t *out)
{
    memset(out, 0, sizeof *out);
    if (!p || n > FLP_ACK_MAX_BYTES)
        return FLP_EMALFORMED;
    fl_json_limits_t lim = {.max_depth = 4, .max_values = 64, .max_string = 256};
    fl_json_doc_t *doc = NULL;
    int rc = fl_json_parse(fl_slice(p, n), &lim, &doc, NULL);
    if (rc != 0)
        return rc == FL_ENOMEM ? FLP_ENOMEM : FLP_EMALFORMED;
    rc = FLP_EMALFORMED;
    const fl_json_t *root = fl_json_root(doc);
    if (!root || root->type != FL_JSON_OBJECT)
        goto out;
    const fl_json_t *v = fl_json_get(root, "EventType");
    if (!v || v->type != FL_JSON_STRING)
        goto out;
    size_t i;
    for (i = 0; i < sizeof ack_types / sizeof ack_types[0]; i++)
        if (strlen(ack_types[i].name) == v->len && memcmp(v->str, ack_types[i].name, v->len) == 0)
            break;
    if (i == sizeof ack_types / sizeof ack_types[0])
        goto out;
    out->type = ack_types[i].type;
    if ((v = fl_json_get(root, "FragmentTimecode"))) {
        if (fl_json_int64(v, &out->timecode_ms) != 0 || out->timecode_ms < 0)
            goto out;
        out->has_timecode = 1;
    }
    if ((v = fl_json_get(root, "FragmentNumber"))) {
        if (v->type != FL_JSON_STRING || v->len == 0 || v->len >= sizeof out->number)
            goto out;
        for (size_t k = 0; k < v->len; k++)
            if (v->str[k] < '0' || v->str[k] > '9')
                goto out;
        memcpy(out->number, v->str, v->len);
        out->number[v->len] = 0;
    }
    if ((v = fl_json_get(root, "ErrorId"))) {
        int64_t id;
        if (fl_json_int64(v, &id) != 0 || id < 0 || id > 99999)
            goto out;
        out->error_id = (int)id;
    }
    rc = 0;
out:
    if (rc != 0)
        memset(out, 0, sizeof *out);
    fl_json_free(doc);
    return rc;
}
