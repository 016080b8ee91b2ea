/*
 * server/records/api_consumers.c — enhanced fan-out's consumers:
 * RegisterStreamConsumer, DescribeStreamConsumer, ListStreamConsumers,
 * DeregisterStreamConsumer.
 *
 * A consumer is kept durably in its stream's catalog attributes, one slot
 * per consumer: "consumer.NN" (NN 00..19) holds "<creation epoch s>
 * <name>", or "" when the slot is free. So consumers go with the stream
 * (DeleteStream removes its attributes) and a changed slot is one catalog
 * transaction (fsync'd before the answer). Changes run on workers under
 * consumers_mu, so two registrations at once cannot take one slot or one
 * name twice. Its ARN is the stream's with "/consumer/<name>:<epoch>".
 *
 * Status: a consumer is usable at once. RegisterStreamConsumer answers
 * CREATING, as AWS does; Describe and List say ACTIVE from then on.
 * Deregistering removes it at once (AWS shows DELETING for a while).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "server/records/records.h"

enum { OP_REGISTER, OP_DESCRIBE, OP_LIST, OP_DEREGISTER };

typedef struct {
    fl_rec_job_t base; /* first */
    int op;
    char consumer[FL_RECORDS_CONSUMER_NAME_MAX + 1];
    int64_t epoch; /* from a ConsumerARN, or -1 */
    size_t start;  /* List: the first to list */
    size_t max;
    int gone; /* Deregister: done, the consumer created at gone_epoch */
    int64_t gone_epoch;
} cons_job_t;

static void slot_key(int slot, char *buf, size_t cap)
{
    snprintf(buf, cap, "consumer.%02d", slot);
}

int fl_rec_consumers_load(fl_log_t *log, fl_rec_consumer_t out[FL_RECORDS_MAX_CONSUMERS],
                          size_t *n_out)
{
    size_t n = 0;
    for (int slot = 0; slot < FL_RECORDS_MAX_CONSUMERS; slot++) {
        char key[24], v[FL_RECORDS_CONSUMER_NAME_MAX + 32] = "";
        slot_key(slot, key, sizeof key);
        int rc = fl_log_attr_get(log, key, v, sizeof v);
        if (rc == FL_ENOTFOUND || (!rc && !v[0]))
            continue;
        if (rc)
            return rc;
        char *sp = strchr(v, ' ');
        if (!sp || strlen(sp + 1) > FL_RECORDS_CONSUMER_NAME_MAX)
            continue; /* not ours (cannot happen) */
        out[n].created_s = strtoll(v, NULL, 10);
        snprintf(out[n].name, sizeof out[n].name, "%s", sp + 1);
        out[n].slot = slot;
        n++;
    }
    *n_out = n;
    return 0;
}

void fl_rec_consumer_arn(const fl_records_t *rs, const char *stream, const fl_rec_consumer_t *c,
                         char *buf, size_t cap)
{
    char sarn[FL_RECORDS_NAME_MAX + 256];
    fl_rec_arn(rs, stream, sarn, sizeof sarn);
    snprintf(buf, cap, "%s/consumer/%s:%" PRId64, sarn, c->name, c->created_s);
}

/* ConsumerName: 1..128 of [a-zA-Z0-9_.-], as StreamName. */
static int valid_consumer(const char *s, size_t n)
{
    const char *why;
    return n >= 1 && n <= FL_RECORDS_CONSUMER_NAME_MAX && fl_rec_valid_name(s, &why) == 0;
}

int fl_rec_parse_consumer_arn(const fl_records_t *rs, const char *arn, char *stream, size_t scap,
                              char *consumer, size_t ccap, int64_t *epoch)
{
    char prefix[FL_RECORDS_NAME_MAX + 256];
    fl_rec_arn(rs, "", prefix, sizeof prefix); /* "arn:aws:kinesis:R:A:stream/" */
    size_t pl = strlen(prefix);
    if (strncmp(arn, prefix, pl) != 0)
        return -1;
    const char *s = arn + pl, *c = strstr(s, "/consumer/");
    if (!c)
        return -1;
    const char *colon = strrchr(c, ':');
    if (!colon || colon[1] == 0)
        return -1;
    size_t sl = (size_t)(c - s), cl = (size_t)(colon - (c + 10));
    if (sl == 0 || sl >= scap || cl == 0 || cl >= ccap)
        return -1;
    memcpy(stream, s, sl);
    stream[sl] = 0;
    memcpy(consumer, c + 10, cl);
    consumer[cl] = 0;
    const char *why;
    if (fl_rec_valid_name(stream, &why) != 0 || !valid_consumer(consumer, cl))
        return -1;
    int64_t e = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || e > (INT64_MAX - 9) / 10)
            return -1;
        e = e * 10 + (*p - '0');
    }
    *epoch = e;
    return 0;
}

static void consumer_json(fl_buf_t *b, const fl_records_t *rs, const char *stream,
                          const fl_rec_consumer_t *c, const char *status, int with_stream)
{
    char arn[FL_RECORDS_NAME_MAX + FL_RECORDS_CONSUMER_NAME_MAX + 300];
    fl_rec_consumer_arn(rs, stream, c, arn, sizeof arn);
    fl_buf_printf(b, "{\"ConsumerName\":\"%s\",\"ConsumerARN\":", c->name);
    fl_json_write_string(b, fl_slice_str(arn));
    fl_buf_printf(b, ",\"ConsumerStatus\":\"%s\",\"ConsumerCreationTimestamp\":", status);
    fl_rec_put_time(b, c->created_s * 1000000000);
    if (with_stream) {
        char sarn[FL_RECORDS_NAME_MAX + 256];
        fl_rec_arn(rs, stream, sarn, sizeof sarn);
        fl_buf_append_str(b, ",\"StreamARN\":");
        fl_json_write_string(b, fl_slice_str(sarn));
    }
    fl_buf_u8(b, '}');
}

static void not_found(cons_job_t *j)
{
    fl_rec_job_fail(&j->base, "ResourceNotFoundException",
                    "Consumer %s under stream %s under account %s not found.", j->consumer,
                    j->base.st.name, fl_server_config(j->base.rs->srv)->account_id);
}

static void cons_work(fl_rec_job_t *base)
{
    cons_job_t *j = (cons_job_t *)base;
    fl_records_t *rs = base->rs;
    fl_rec_consumer_t cs[FL_RECORDS_MAX_CONSUMERS];
    size_t n = 0;
    int locked = j->op == OP_REGISTER || j->op == OP_DEREGISTER;
    if (locked)
        pthread_mutex_lock(&rs->consumers_mu);
    if ((base->rc = fl_rec_consumers_load(base->st.log, cs, &n)) != 0)
        goto out;
    fl_rec_consumer_t *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(cs[i].name, j->consumer) == 0 && (j->epoch < 0 || cs[i].created_s == j->epoch))
            found = &cs[i];
    char key[24];
    switch (j->op) {
    case OP_REGISTER: {
        if (found) {
            fl_rec_job_fail(base, "ResourceInUseException",
                            "Consumer %s under stream %s already exists for account %s.",
                            j->consumer, base->st.name, fl_server_config(rs->srv)->account_id);
            goto out;
        }
        if (n >= FL_RECORDS_MAX_CONSUMERS) {
            fl_rec_job_fail(base, "LimitExceededException",
                            "Stream %s already has %d registered consumers, the most it may have.",
                            base->st.name, FL_RECORDS_MAX_CONSUMERS);
            goto out;
        }
        fl_rec_consumer_t c = {.created_s = fl_time_real_ns() / 1000000000, .slot = 0};
        snprintf(c.name, sizeof c.name, "%s", j->consumer);
        for (size_t i = 0; i < n && cs[i].slot == c.slot; i++)
            c.slot++; /* the first free slot (cs is in slot order) */
        char v[FL_RECORDS_CONSUMER_NAME_MAX + 32];
        snprintf(v, sizeof v, "%" PRId64 " %s", c.created_s, c.name);
        slot_key(c.slot, key, sizeof key);
        if ((base->rc = fl_log_attr_set(base->st.log, key, v)) != 0)
            goto out;
        fl_buf_append_str(&base->out, "{\"Consumer\":");
        consumer_json(&base->out, rs, base->st.name, &c, "CREATING", 0);
        fl_buf_u8(&base->out, '}');
        break;
    }
    case OP_DESCRIBE:
        if (!found) {
            not_found(j);
            goto out;
        }
        fl_buf_append_str(&base->out, "{\"ConsumerDescription\":");
        consumer_json(&base->out, rs, base->st.name, found, "ACTIVE", 1);
        fl_buf_u8(&base->out, '}');
        break;
    case OP_DEREGISTER:
        if (!found) {
            not_found(j);
            goto out;
        }
        slot_key(found->slot, key, sizeof key);
        if ((base->rc = fl_log_attr_set(base->st.log, key, "")) == 0) {
            j->gone = 1;
            j->gone_epoch = found->created_s;
        }
        break;
    case OP_LIST: {
        fl_buf_append_str(&base->out, "{\"Consumers\":[");
        size_t end = j->start + j->max < n ? j->start + j->max : n;
        for (size_t i = j->start; i < end; i++) {
            if (i > j->start)
                fl_buf_u8(&base->out, ',');
            consumer_json(&base->out, rs, base->st.name, &cs[i], "ACTIVE", 0);
        }
        fl_buf_u8(&base->out, ']');
        if (end < n)
            fl_buf_printf(&base->out, ",\"NextToken\":\"%s/%zu\"", base->st.name, end);
        fl_buf_u8(&base->out, '}');
        break;
    }
    }
out:
    if (locked)
        pthread_mutex_unlock(&rs->consumers_mu);
}

/* On the loop: a deregistered consumer's subscriptions end, as AWS ends
 * them, with ResourceNotFoundException in their event streams. */
static void cons_after(fl_rec_job_t *base)
{
    cons_job_t *j = (cons_job_t *)base;
    if (!j->gone)
        return;
    fl_rec_sub_end_t e = {
        .log_id = base->st.info.id, .epoch = j->gone_epoch, .type = "ResourceNotFoundException"};
    snprintf(e.consumer, sizeof e.consumer, "%s", j->consumer);
    snprintf(e.msg, sizeof e.msg,
             "Consumer %s under stream %s under account %s not found "
             "(deregistered).",
             j->consumer, base->st.name, fl_server_config(base->rs->srv)->account_id);
    fl_rec_sub_end(base->rs, &e);
}

/* Strings only, when present. */
static int str_member(fl_http_req_t *r, const char *key, const fl_json_t **out)
{
    const fl_json_t *v = fl_http_json(r, key);
    if (v && (v->type != FL_JSON_STRING || memchr(v->str, 0, v->len))) {
        fl_http_respond_error(r, 400, "SerializationException", "%s is a string", key);
        return -1;
    }
    *out = v;
    return 0;
}

static void consumer_call(fl_http_req_t *r, int op)
{
    fl_records_t *rs = r->mod;
    const fl_json_t *carn, *cname, *sarn, *tok;
    if (str_member(r, "ConsumerARN", &carn) || str_member(r, "ConsumerName", &cname) ||
        str_member(r, "StreamARN", &sarn) || str_member(r, "NextToken", &tok))
        return;
    cons_job_t tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.epoch = -1;
    tmp.max = 100;
    fl_rec_stream_t st;
    if (op == OP_DESCRIBE || op == OP_DEREGISTER) {
        if (carn && carn->len) {
            char stream[FL_RECORDS_NAME_MAX + 1];
            if (fl_rec_parse_consumer_arn(rs, carn->str, stream, sizeof stream, tmp.consumer,
                                          sizeof tmp.consumer, &tmp.epoch) != 0) {
                fl_http_respond_error(r, 400, "InvalidArgumentException",
                                      "ConsumerARN is not a consumer ARN of this server "
                                      "(arn:aws:kinesis:%s:%s:stream/NAME/consumer/NAME:EPOCH)",
                                      fl_server_config(rs->srv)->region,
                                      fl_server_config(rs->srv)->account_id);
                return;
            }
            if (sarn && sarn->len) {
                char want[FL_RECORDS_NAME_MAX + 256];
                fl_rec_arn(rs, stream, want, sizeof want);
                if (strcmp(want, sarn->str) != 0) {
                    fl_http_respond_error(r, 400, "InvalidArgumentException",
                                          "ConsumerARN and StreamARN name different streams");
                    return;
                }
            }
            if (cname && strcmp(cname->str, tmp.consumer) != 0) {
                fl_http_respond_error(r, 400, "InvalidArgumentException",
                                      "ConsumerARN and ConsumerName name different consumers");
                return;
            }
            if (fl_rec_get_named(r, stream, &st) != 0)
                return;
            goto have_stream;
        }
        if (!sarn || !cname) {
            fl_http_respond_error(
                r, 400, "InvalidArgumentException",
                "Either ConsumerARN, or StreamARN and ConsumerName, are required");
            return;
        }
    } else if (!sarn || !sarn->len) {
        fl_http_respond_error(r, 400, "ValidationException", "StreamARN is required");
        return;
    }
    if (op == OP_REGISTER || op == OP_DESCRIBE || op == OP_DEREGISTER) {
        if (!cname || !valid_consumer(cname->str, cname->len)) {
            fl_http_respond_error(r, 400, "ValidationException",
                                  "ConsumerName must be 1 to 128 characters of [a-zA-Z0-9_.-]");
            return;
        }
        snprintf(tmp.consumer, sizeof tmp.consumer, "%s", cname->str);
    }
    if (op == OP_LIST) {
        int64_t max = 100;
        if (fl_http_json_int(r, "MaxResults", 1, 10000, &max) < 0)
            return;
        tmp.max = (size_t)max;
    }
    if (fl_rec_get(r, &st) != 0)
        return;
have_stream:
    if (op == OP_LIST && tok) {
        /* "<stream>/<index>", as the previous page wrote it */
        const char *slash = strrchr(tok->str, '/');
        size_t nl = slash ? (size_t)(slash - tok->str) : 0;
        char *end = NULL;
        unsigned long v = slash ? strtoul(slash + 1, &end, 10) : 0;
        if (!slash || nl != strlen(st.name) || memcmp(tok->str, st.name, nl) != 0 || !end || *end ||
            end == slash + 1 || v > FL_RECORDS_MAX_CONSUMERS) {
            fl_http_respond_error(r, 400, "InvalidArgumentException",
                                  "NextToken is not one ListStreamConsumers gave for this stream");
            fl_rec_put(&st);
            return;
        }
        tmp.start = v;
    }
    cons_job_t *j = (cons_job_t *)fl_rec_job_new(r, sizeof *j, cons_work);
    if (!j) {
        fl_rec_put(&st);
        return;
    }
    fl_rec_job_t keep = j->base;
    *j = tmp;
    j->base = keep;
    j->op = op;
    j->base.st = st;
    if (op == OP_DEREGISTER)
        j->base.after = cons_after;
    snprintf(j->base.name, sizeof j->base.name, "%s", st.name);
    fl_rec_job_submit(r, &j->base);
}

void fl_rec_register_consumer(fl_http_req_t *r)
{
    consumer_call(r, OP_REGISTER);
}

void fl_rec_describe_consumer(fl_http_req_t *r)
{
    consumer_call(r, OP_DESCRIBE);
}

void fl_rec_list_consumers(fl_http_req_t *r)
{
    consumer_call(r, OP_LIST);
}

void fl_rec_deregister_consumer(fl_http_req_t *r)
{
    consumer_call(r, OP_DEREGISTER);
}
