/*
 * common/awstime.h — time as AWS writes it, formatted and parsed exactly.
 *
 * Four text forms, all UTC:
 * - SigV4's basic ISO 8601 "20150830T123600Z" (X-Amz-Date) and its date
 *   "20150830" (the credential scope);
 * - extended ISO 8601 with milliseconds "2015-08-30T12:36:00.000Z", as the
 *   AWS JSON APIs write timestamps whose format is iso8601;
 * - epoch seconds as decimal text "1700000000.123", as the Kinesis Video
 *   rest-json APIs put a timestamp on the wire (a JSON number) and as
 *   x-amzn-producer-start-timestamp carries it. What the clients send: the
 *   AWS CLI and boto3 (botocore's JSON serialiser, unixtimestamp format) an
 *   integer; the JavaScript SDK v3 `Date.getTime() / 1000`, so up to three
 *   fractional digits; any JSON writer may use an exponent ("1.7e9").
 *
 * Time inside framelog is int64 nanoseconds since the epoch. The parsers
 * work on the decimal digits and never through a double: a double holds
 * 1700000000.123 as 1700000000.12299990654, and `(int64_t)(t * 1e9 + 0.5)`
 * lands tens of ns away from the boundary a client asked for. Parsing is
 * exact or refused:
 * - FL_EMALFORMED: not the form (signs, spaces, letters, "1.", ".5", an
 *   exponent without digits, an impossible date such as February 30);
 * - FL_ELIMIT: text longer than FL_AWSTIME_MAX_TEXT, a value before the
 *   epoch or past int64 nanoseconds (2262-04-11T23:47:16.854775807Z), or a
 *   precision finer than a nanosecond (a non-zero 10th fractional digit;
 *   zeros past the 9th are accepted, as is "1.7e9").
 *
 * The formatters use no gmtime/strftime (firmware C libraries differ) and
 * truncate toward the earlier instant when they drop precision, as the
 * server's responses always have (a fragment at .1239 s reads as .123).
 *
 * Plain C with no library: the producer SDK compiles it in.
 */
#ifndef FL_COMMON_AWSTIME_H
#define FL_COMMON_AWSTIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/json.h"

#define FL_AWSTIME_AMZ_DATE_LEN 16 /* "YYYYMMDDTHHMMSSZ" */
#define FL_AWSTIME_DATE_LEN     8  /* "YYYYMMDD" */
#define FL_AWSTIME_ISO8601_LEN  24 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
#define FL_AWSTIME_EPOCH_MAX    32 /* a buffer for any epoch text, NUL included */
#define FL_AWSTIME_MAX_TEXT     64 /* the longest text the parsers read */
#define FL_AWSTIME_NS_PER_SEC   INT64_C(1000000000)

/* ---- formatting ---- */

/* X-Amz-Date of secs since the epoch into out[17] (NUL-terminated). 0, or
 * FL_ELIMIT outside years 1970..9999. */
int fl_awstime_amz_date(int64_t secs, char out[FL_AWSTIME_AMZ_DATE_LEN + 1]);

/* The credential scope's date "YYYYMMDD" into out[9]; as fl_awstime_amz_date. */
int fl_awstime_scope_date(int64_t secs, char out[FL_AWSTIME_DATE_LEN + 1]);

/* Extended ISO 8601 with milliseconds into out[25]; as fl_awstime_amz_date. */
int fl_awstime_iso8601(int64_t ns, char out[FL_AWSTIME_ISO8601_LEN + 1]);

/* Epoch seconds with frac_digits (0..9) fractional digits, truncated:
 * ns 1700000000123456789, 3 -> "1700000000.123"; 0 digits writes no point.
 * Negative ns (relative producer times) get a '-' and their magnitude.
 * Returns the length written (NUL not counted), or FL_EINVAL for
 * frac_digits out of range or cap < FL_AWSTIME_EPOCH_MAX. */
int fl_awstime_epoch(int64_t ns, int frac_digits, char *out, size_t cap);

/* fl_awstime_epoch appended to b (its sticky error as usual). */
void fl_awstime_buf_epoch(fl_buf_t *b, int64_t ns, int frac_digits);

/* ---- parsing ---- */

/* Epoch seconds as decimal text, a JSON number's grammar without the sign
 * (leading zeros allowed, for header values): digits, an optional fraction,
 * an optional exponent. "1700000000.123" -> 1700000000123000000. */
int fl_awstime_parse_epoch(fl_slice_t text, int64_t *ns);

/* ISO 8601 in UTC or with an offset: "20150830T123600Z" (basic, as
 * X-Amz-Date) or "2015-08-30T12:36:00Z", with an optional fraction of up
 * to 9 digits after the seconds and "Z", "+hh:mm" or "-hh:mm" (extended). */
int fl_awstime_parse_iso8601(fl_slice_t text, int64_t *ns);

/* A timestamp member of an AWS JSON request: a number (epoch seconds) or a
 * string (ISO 8601, or epoch seconds as text, as botocore also accepts).
 * FL_EINVAL when v is NULL or another type. */
int fl_awstime_parse_json(const fl_json_t *v, int64_t *ns);

#endif
