/*
 * server/validate.h — the shapes of AWS request fields, checked as AWS
 * checks them (patterns and lengths from reference/kvs-shapes.md), so that
 * a bad name gets the same InvalidArgumentException here as there.
 *
 * Each check returns 0, or FL_EINVAL with a static reason (via *why) that
 * names the rule, e.g. "must match [a-zA-Z0-9_.-]+".
 *
 * Deliberate difference: AWS's tag pattern admits Unicode letters, numbers
 * and separators (\p{L}\p{Z}\p{N}); without Unicode tables, framelog admits
 * every well-formed non-ASCII code point except controls, and checks ASCII
 * exactly.
 */
#ifndef FL_SERVER_VALIDATE_H
#define FL_SERVER_VALIDATE_H

#include "common/bytes.h"

/* Longest StreamName (bytes; buffers are FL_STREAM_NAME_MAX + 1). */
#define FL_STREAM_NAME_MAX 256

int fl_valid_stream_name(fl_slice_t s, const char **why); /* 1..256 [a-zA-Z0-9_.-]+ */
int fl_valid_device_name(fl_slice_t s, const char **why); /* 1..128 [a-zA-Z0-9_.-]+ */
/* 1..1024 arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/NAME/[0-9]+ */
int fl_valid_stream_arn(fl_slice_t s, const char **why);
/* 1..128 TYPE/SUB(,TYPE/SUB)* with [\w.+-] */
int fl_valid_media_type(fl_slice_t s, const char **why);
int fl_valid_kms_key_id(fl_slice_t s, const char **why); /* 1..2048 .+ */
int fl_valid_version(fl_slice_t s, const char **why);    /* 1..64 [a-zA-Z0-9]+ */
int fl_valid_tag_key(fl_slice_t s, const char **why);    /* 1..128 tag chars */
int fl_valid_tag_value(fl_slice_t s, const char **why);  /* 0..256 tag chars */
int fl_valid_next_token(fl_slice_t s, const char **why); /* 0..1024 [a-zA-Z0-9+/=]* */
/* 1..128 ^[0-9]+$ (fragment numbers) */
int fl_valid_fragment_number(fl_slice_t s, const char **why);
/* 1..128 [a-zA-Z0-9_.-]+ */
int fl_valid_continuation_token(fl_slice_t s, const char **why);

/* Split a stream ARN into its name and creation time (ms); the ARN must be
 * valid. name points into arn. */
int fl_stream_arn_parts(fl_slice_t arn, fl_slice_t *name, long long *creation_ms);

#endif
