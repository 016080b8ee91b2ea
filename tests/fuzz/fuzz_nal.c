/*
 * tests/fuzz/fuzz_nal.c — libFuzzer target for media/nal*.c: framing in
 * both directions, NAL types and key frames, SPS parsing and codec strings,
 * decoder configuration records (parse, rebuild, parse again).
 *
 * The first input byte picks the codec (bit 0) and the length size (bits
 * 1-2); the rest is the bitstream. Invariants checked (trap otherwise):
 * Annex-B -> length-prefixed -> Annex-B -> length-prefixed is stable, and a
 * record we build parses back to the same parameter sets.
 */
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "media/nal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fl_nal_codec_t codec = (data[0] & 1) ? FL_NAL_H265 : FL_NAL_H264;
    static const unsigned sizes[4] = {4, 1, 2, 4};
    unsigned ls = sizes[(data[0] >> 1) & 3];
    fl_slice_t in = fl_slice(data + 1, size - 1);

    /* every NAL unit: type and, when an SPS, its fields and codec string */
    size_t pos = 0;
    fl_slice_t nal;
    while (fl_nal_annexb_next(in, &pos, &nal) == 0) {
        fl_nal_sps_t sps;
        (void)fl_nal_type(codec, nal);
        if (fl_nal_parse_sps(codec, nal, &sps) == 0) {
            char cs[64];
            if (fl_nal_codec_string(&sps, cs, sizeof cs) != 0)
                __builtin_trap(); /* 64 bytes always suffice */
        }
    }
    (void)fl_nal_is_keyframe(codec, in, 0);
    (void)fl_nal_is_keyframe(codec, in, ls);

    fl_buf_t a, b, c;
    fl_buf_init(&a, 0);
    fl_buf_init(&b, 0);
    fl_buf_init(&c, 0);
    if (fl_nal_annexb_to_lp(in, 4, &a) == 0 && fl_nal_lp_to_annexb(fl_buf_slice(&a), 4, &b) == 0 &&
        fl_nal_annexb_to_lp(fl_buf_slice(&b), 4, &c) == 0 &&
        !fl_slice_eq(fl_buf_slice(&a), fl_buf_slice(&c)))
        __builtin_trap();
    fl_buf_reset(&a);
    (void)fl_nal_lp_to_annexb(in, ls, &a);

    /* records: parse the input as one, and build one from its NAL units */
    fl_nal_config_t cfg, back;
    if (fl_nal_config_parse(codec, in, &cfg) == 0) {
        fl_buf_reset(&b);
        (void)fl_nal_config_to_annexb(&cfg, &b);
    }
    if (fl_nal_config_from_au(codec, in, 0, &cfg) == 0) {
        fl_buf_reset(&c);
        if (fl_nal_config_build(&cfg, &c) == 0) {
            if (fl_nal_config_parse(codec, fl_buf_slice(&c), &back) != 0 ||
                back.n_sps != cfg.n_sps || back.n_pps != cfg.n_pps ||
                !fl_slice_eq(back.sps[0], cfg.sps[0]) || !fl_slice_eq(back.pps[0], cfg.pps[0]))
                __builtin_trap();
        }
    }
    fl_buf_free(&a);
    fl_buf_free(&b);
    fl_buf_free(&c);
    return 0;
}
