/*
 * tests/fuzz/fuzz_sdk_ack.c — the SDK's parser of PutMedia acks
 * (producer-sdk/ack.c), which reads what the network sends on the PutMedia
 * WebSocket. Any bytes parse or are refused cleanly; what parses keeps the
 * promises of ack.h (a known type, digits only in FragmentNumber, ErrorId
 * in range) and, written back as an ack, parses to the same thing.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flp_ack_t a;
    int rc = flp_ack_parse(data, size, &a);
    if (rc != 0) {
        if (rc != FLP_EMALFORMED && rc != FLP_ENOMEM)
            __builtin_trap();
        return 0;
    }
    if (a.type < FLP_ACK_BUFFERING || a.type > FLP_ACK_IDLE || a.error_id < 0 ||
        a.error_id > 99999 || a.timecode_ms < 0 || (!a.has_timecode && a.timecode_ms))
        __builtin_trap();
    size_t len = strnlen(a.number, sizeof a.number);
    if (len == sizeof a.number)
        __builtin_trap();
    for (size_t i = 0; i < len; i++)
        if (a.number[i] < '0' || a.number[i] > '9')
            __builtin_trap();
    static const char *names[] = {"BUFFERING", "RECEIVED", "PERSISTED", "ERROR", "IDLE"};
    char again[256];
    int k = snprintf(again, sizeof again, "{\"EventType\":\"%s\"", names[a.type]);
    if (a.has_timecode)
        k += snprintf(again + k, sizeof again - (size_t)k, ",\"FragmentTimecode\":%lld",
                      (long long)a.timecode_ms);
    if (len)
        k += snprintf(again + k, sizeof again - (size_t)k, ",\"FragmentNumber\":\"%s\"", a.number);
    k += snprintf(again + k, sizeof again - (size_t)k, ",\"ErrorId\":%d}", a.error_id);
    flp_ack_t b;
    if (flp_ack_parse(again, (size_t)k, &b) != 0 || b.type != a.type ||
        b.has_timecode != a.has_timecode || b.timecode_ms != a.timecode_ms ||
        b.error_id != a.error_id || strcmp(b.number, a.number) != 0)
        __builtin_trap();
    return 0;
}
