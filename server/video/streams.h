/*
 * server/video/streams.h — Kinesis Video streams, kept as storage logs
 * (fl_video_streams_*: data streams are records/'s, fl_rec_*).
 *
 * A video stream is a log of one shard named "v/<StreamName>" in storage's
 * catalog; the stream's KVS fields that are not the log's own (DeviceName,
 * MediaType) are log attributes; tags are log tags; KmsKeyId is the log's
 * master key id; Version is the log's metadata version in decimal;
 * CreationTime is the log's creation time. The ARN is derived:
 *   arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation-ms>
 * and names one incarnation: a stream deleted and created again under the
 * same name has another ARN, and the old one is not found.
 *
 * Calls may block on the catalog's fsync: the server makes them from worker
 * threads. All are thread-safe.
 */
#ifndef FL_SERVER_STREAMS_H
#define FL_SERVER_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "common/kms_key_id.h"
#include "server/video/validate.h"
#include "storage/log.h"

#define FL_STREAM_MAX_TAGS    50
#define FL_STREAM_DEFAULT_KMS "default"

typedef struct {
    char name[FL_STREAM_NAME_MAX + 1];
    char arn[1100];
    char device_name[129];
    char media_type[129];
    char kms_key_id[FL_KMS_REF_MAX + 1]; /* as given (DescribeStream shows it) */
    char version[24];
    int64_t creation_ns;
    uint32_t retention_hours;
} fl_stream_info_t;

typedef struct {
    char key[513]; /* up to 128 characters of UTF-8 */
    char value[1025];
} fl_stream_tag_t;

typedef struct fl_streams fl_video_streams_t;

int fl_video_streams_new(fl_store_t *store, const char *region, const char *account,
                         fl_video_streams_t **out);
void fl_video_streams_free(fl_video_streams_t *st);

/* Create from in's name, device_name, media_type, kms_key_id (empty: the
 * default master key) and retention_hours, with tags. FL_EEXISTS,
 * FL_ENOTFOUND (unknown kms key), FL_ELIMIT (tags). */
int fl_video_streams_create(fl_video_streams_t *st, const fl_stream_info_t *in,
                            const fl_stream_tag_t *tags, size_t n_tags, fl_stream_info_t *out);
/* Find by name; creation_ms >= 0 also requires that incarnation (from an
 * ARN). FL_ENOTFOUND. */
int fl_video_streams_describe(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                              fl_stream_info_t *out);
/* Streams whose names start with prefix, after `after` (exclusive; "" for
 * the start), in name order, at most max. *more says whether others follow. */
int fl_video_streams_list(fl_video_streams_t *st, const char *prefix, const char *after, size_t max,
                          fl_stream_info_t **out, size_t *n_out, int *more);
/* version NULL: any. FL_ENOTFOUND, FL_EVERSION. */
int fl_video_streams_delete(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                            const char *version);
/* NULL or "" device_name/media_type: unchanged. FL_EVERSION. */
int fl_video_streams_update(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                            const char *version, const char *device_name, const char *media_type);
/* delta_hours > 0 increases, < 0 decreases; FL_EINVAL below 0 or above
 * 87600 hours; FL_EVERSION. */
int fl_video_streams_change_retention(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                                      const char *version, int64_t delta_hours);
/* Add or replace tags; FL_ELIMIT past FL_STREAM_MAX_TAGS in all. */
int fl_video_streams_tag(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                         const fl_stream_tag_t *tags, size_t n);
int fl_video_streams_untag(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                           const char *const *keys, size_t n);
/* All tags, in key order (malloc'd array, free with free()). */
int fl_video_streams_tags(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                          fl_stream_tag_t **out, size_t *n_out);

/* A stream's configurations that the APIs store and return before framelog
 * acts on them (UpdateImageGenerationConfiguration, ...): each is one log
 * attribute holding the configuration as the JSON object the Describe call
 * returns, at most FL_STREAM_CONFIG_MAX bytes; "" or absent: none. */
#define FL_STREAM_CONFIG_MAX 1024
/* The configuration under key into buf ("" when none). FL_ENOTFOUND: no
 * such stream. */
int fl_video_streams_config_get(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                                const char *key, char *buf, size_t cap);
/* Replace it ("" removes it); version NULL: any. FL_EVERSION. */
int fl_video_streams_config_set(fl_video_streams_t *st, const char *name, int64_t creation_ms,
                                const char *version, const char *key, const char *json);

/* The ARN of the incarnation of name created at created_ns. */
void fl_video_streams_arn(const fl_video_streams_t *st, const char *name, int64_t created_ns,
                          char *buf, size_t cap);

/* The storage log of a stream (opened), for the media APIs. */
int fl_video_streams_log(fl_video_streams_t *st, const char *name, fl_log_t **out);

#endif
