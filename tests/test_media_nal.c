/*
 * tests/test_media_nal.c — media/nal.h: Annex-B and length-prefixed
 * framing, SPS parsing and codec strings, decoder configuration records and
 * key-frame detection, on hand-made buffers and on streams that libx264 and
 * libx265 (through ffmpeg) make at test time, checked against ffprobe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"
#include "harness.h"
#include "media/mkv_parser.h"
#include "media/nal.h"

START_TEST(annexb_split_and_round_trip)
{
    /* 4-byte and 3-byte start codes, trailing zeros, an empty unit */
    const uint8_t in[] = {0, 0, 0, 1, 0x67, 1, 2,    0, 0, 1, 0x68, 3, 0, 0, 0,
                          0, 0, 1, 0, 0,    1, 0x65, 9, 8, 7, 0,    0, 3, 1};
    size_t pos = 0;
    fl_slice_t nal;
    const size_t want_len[] = {3, 2, 8};
    const uint8_t want_first[] = {0x67, 0x68, 0x65};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(fl_nal_annexb_next(fl_slice(in, sizeof in), &pos, &nal), 0);
        ck_assert_uint_eq(nal.n, want_len[i]);
        ck_assert_uint_eq(nal.p[0], want_first[i]);
    }
    ck_assert_int_eq(fl_nal_annexb_next(fl_slice(in, sizeof in), &pos, &nal), FL_EEOF);

    fl_buf_t lp, back;
    fl_buf_init(&lp, 0);
    fl_buf_init(&back, 0);
    ck_assert_int_eq(fl_nal_annexb_to_lp(fl_slice(in, sizeof in), 4, &lp), 0);
    ck_assert_uint_eq(lp.n, 3 * 4 + 3 + 2 + 8);
    ck_assert_uint_eq(fl_load_be32(lp.p), 3);
    ck_assert_int_eq(fl_nal_lp_to_annexb(fl_buf_slice(&lp), 4, &back), 0);
    ck_assert_uint_eq(back.n, lp.n);
    const uint8_t sc[] = {0, 0, 0, 1, 0x67};
    ck_assert(memcmp(back.p, sc, 5) == 0);
    /* 2-byte lengths round trip too; a length past the end is rejected */
    fl_buf_t lp2;
    fl_buf_init(&lp2, 0);
    ck_assert_int_eq(fl_nal_annexb_to_lp(fl_buf_slice(&back), 2, &lp2), 0);
    ck_assert_uint_eq(lp2.n, 3 * 2 + 13);
    lp2.p[0] = 0x7F;
    fl_buf_reset(&back);
    ck_assert_int_eq(fl_nal_lp_to_annexb(fl_buf_slice(&lp2), 2, &back), FL_EMALFORMED);
    ck_assert_int_eq(fl_nal_lp_to_annexb(fl_buf_slice(&lp2), 3, &back), FL_EINVAL);
    /* a buffer without start codes is one NAL unit */
    pos = 0;
    ck_assert_int_eq(fl_nal_annexb_next(fl_slice(in + 4, 3), &pos, &nal), 0);
    ck_assert_uint_eq(nal.n, 3);
    fl_buf_free(&lp);
    fl_buf_free(&lp2);
    fl_buf_free(&back);
}
END_TEST

START_TEST(keyframes_by_nal_type)
{
    const uint8_t idr[] = {0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x65, 0x88};
    const uint8_t p[] = {0, 0, 1, 0x41, 0x9A};
    const uint8_t cra[] = {0, 0, 1, 0x2A, 0x01, 0xAF}; /* type 21 */
    const uint8_t trail[] = {0, 0, 1, 0x02, 0x01, 0xD0};
    ck_assert_int_eq(fl_nal_is_keyframe(FL_NAL_H264, fl_slice(idr, sizeof idr), 0), 1);
    ck_assert_int_eq(fl_nal_is_keyframe(FL_NAL_H264, fl_slice(p, sizeof p), 0), 0);
    ck_assert_int_eq(fl_nal_is_keyframe(FL_NAL_H265, fl_slice(cra, sizeof cra), 0), 1);
    ck_assert_int_eq(fl_nal_is_keyframe(FL_NAL_H265, fl_slice(trail, sizeof trail), 0), 0);
    const uint8_t bad_lp[] = {0, 0, 0, 9, 0x65};
    ck_assert_int_eq(fl_nal_is_keyframe(FL_NAL_H264, fl_slice(bad_lp, sizeof bad_lp), 4),
                     FL_EMALFORMED);
}
END_TEST

/* The one walk that the key-frame check and the parameter-set collector
 * share: every unit with its type, a malformed header as a negative type. */
START_TEST(walk_gives_units_and_types)
{
    const uint8_t au[] = {0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xCE,
                          0, 0, 1, 0xE5, 0x01, 0, 0, 1, 0x65, 0x88};
    const int want[] = {7, 8, FL_EMALFORMED, 5};
    fl_nal_walk_t w;
    fl_slice_t nal;
    int t, rc, i = 0;
    ck_assert_int_eq(fl_nal_walk_init(&w, FL_NAL_H264, fl_slice(au, sizeof au), 0), 0);
    while ((rc = fl_nal_walk_next(&w, &nal, &t)) == 0) {
        ck_assert_int_lt(i, 4);
        ck_assert_int_eq(t, want[i]);
        ck_assert_int_eq((int)nal.n, 2);
        i++;
    }
    ck_assert_int_eq(rc, FL_EEOF);
    ck_assert_int_eq(i, 4);
    ck_assert_int_eq(fl_nal_walk_init(&w, (fl_nal_codec_t)3, fl_slice(au, sizeof au), 0),
                     FL_EINVAL);
    const uint8_t bad_lp[] = {0, 0, 0, 9, 0x65};
    ck_assert_int_eq(fl_nal_walk_init(&w, FL_NAL_H264, fl_slice(bad_lp, sizeof bad_lp), 4), 0);
    ck_assert_int_eq(fl_nal_walk_next(&w, &nal, &t), FL_EMALFORMED);
}
END_TEST

START_TEST(sps_rejects_garbage)
{
    fl_nal_sps_t s;
    const uint8_t short_sps[] = {0x67, 0x64};
    ck_assert_int_eq(fl_nal_parse_sps(FL_NAL_H264, fl_slice(short_sps, 2), &s), FL_EMALFORMED);
    const uint8_t not_sps[] = {0x68, 0x64, 0, 0x1f, 0xff};
    ck_assert_int_eq(fl_nal_parse_sps(FL_NAL_H264, fl_slice(not_sps, 5), &s), FL_EMALFORMED);
    const uint8_t zeros[] = {0x67, 0x42, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(fl_nal_parse_sps(FL_NAL_H264, fl_slice(zeros, sizeof zeros), &s),
                     FL_EMALFORMED);
    const uint8_t hevc_short[] = {0x42, 0x01, 0x01};
    ck_assert_int_eq(fl_nal_parse_sps(FL_NAL_H265, fl_slice(hevc_short, 3), &s), FL_EMALFORMED);
    char buf[8];
    memset(&s, 0, sizeof s);
    s.codec = FL_NAL_H264;
    ck_assert_int_eq(fl_nal_codec_string(&s, buf, sizeof buf), FL_ENOSPC);
}
END_TEST

START_TEST(codec_strings)
{
    fl_nal_sps_t s;
    char buf[64];
    memset(&s, 0, sizeof s);
    s.codec = FL_NAL_H264;
    s.profile_idc = 100;
    s.level_idc = 31;
    ck_assert_int_eq(fl_nal_codec_string(&s, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "avc1.64001f");
    memset(&s, 0, sizeof s);
    s.codec = FL_NAL_H265;
    s.profile_idc = 1;
    s.compat_flags = 0x60000000; /* bits 1 and 2, written reversed */
    s.level_idc = 93;
    s.constraint[0] = 0xB0;
    ck_assert_int_eq(fl_nal_codec_string(&s, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "hvc1.1.6.L93.B0");
    s.tier_flag = 1;
    s.profile_space = 2;
    s.constraint[0] = 0;
    ck_assert_int_eq(fl_nal_codec_string(&s, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "hvc1.B1.6.H93");
    ck_assert_int_eq(fl_nal_codec_string(&s, buf, 10), FL_ENOSPC);
}
END_TEST

/* ---- real streams ---- */

typedef struct {
    fl_buf_t codec_private;
    char codec_id[32];
    fl_buf_t frames; /* all frames, each as u32 length + bytes */
    int n, keys, mismatched_keys;
    fl_nal_codec_t codec;
} vid_t;

static int vid_cb(void *data, const fl_mkv_event_t *ev)
{
    vid_t *v = data;
    if (ev->type == FL_MKV_EV_TRACKS && ev->u.tracks.n > 0) {
        const fl_mkv_track_t *t = &ev->u.tracks.v[0];
        fl_buf_append(&v->codec_private, t->codec_private.p, t->codec_private.n);
        snprintf(v->codec_id, sizeof v->codec_id, "%.*s", (int)t->codec_id.n,
                 (const char *)t->codec_id.p);
    } else if (ev->type == FL_MKV_EV_FRAME) {
        v->n++;
        v->keys += ev->u.frame.keyframe;
        int k = fl_nal_is_keyframe(v->codec, ev->u.frame.data, 4);
        if (k != ev->u.frame.keyframe)
            v->mismatched_keys++;
        fl_buf_be32(&v->frames, (uint32_t)ev->u.frame.data.n);
        fl_buf_append(&v->frames, ev->u.frame.data.p, ev->u.frame.data.n);
    }
    return 0;
}

static char *dir;

static void make_dir(void)
{
    dir = fl_test_mkdtemp("media-nal");
}

static void rm_dir(void)
{
    fl_test_rmtree(dir);
}

static void make_and_parse(const char *encoder, fl_nal_codec_t codec, const char *path, vid_t *v)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=326x246:rate=30 -t 2 "
             "-c:v %s %s -pix_fmt yuv420p -g 30 -f matroska %s",
             encoder, codec == FL_NAL_H265 ? "-x265-params log-level=error" : "", path);
    char *argv[] = {"sh", "-c", cmd, NULL};
    ck_assert_int_eq(fl_test_run(argv, 120000, NULL, NULL), 0);
    memset(v, 0, sizeof *v);
    v->codec = codec;
    fl_buf_init(&v->codec_private, 0);
    fl_buf_init(&v->frames, 0);
    size_t n;
    char *bytes = fl_test_read_file(path, &n);
    ck_assert_ptr_nonnull(bytes);
    fl_mkv_parser_t *p;
    ck_assert_int_eq(fl_mkv_parser_new(NULL, vid_cb, v, &p), 0);
    ck_assert_int_eq(fl_mkv_parser_feed(p, bytes, n), 0);
    ck_assert_int_eq(fl_mkv_parser_finish(p), 0);
    fl_mkv_parser_free(p);
    free(bytes);
}

static void vid_free(vid_t *v)
{
    fl_buf_free(&v->codec_private);
    fl_buf_free(&v->frames);
}

/* ffprobe's "key=value" lines for the video stream. */
static void probe(const char *path, char *profile, size_t np, int *level, int *w, int *h)
{
    char *argv[] = {"ffprobe",
                    "-v",
                    "error",
                    "-select_streams",
                    "v:0",
                    "-show_entries",
                    "stream=profile,level,width,height",
                    "-of",
                    "default=nw=1",
                    (char *)path,
                    NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        if (strncmp(l, "profile=", 8) == 0)
            snprintf(profile, np, "%s", l + 8);
        sscanf(l, "level=%d", level);
        sscanf(l, "width=%d", w);
        sscanf(l, "height=%d", h);
    }
    free(out);
}

/* The parameter sets come back out of CodecPrivate; SPS values match
 * ffprobe; rebuilding the record from them gives an equivalent one; key
 * frames found from NAL types match the container's flags; converting
 * every frame to Annex-B and back is lossless. */
static void check_stream(fl_nal_codec_t codec, const char *encoder, const char *codec_id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.mkv", dir, encoder);
    vid_t v;
    make_and_parse(encoder, codec, path, &v);
    ck_assert_str_eq(v.codec_id, codec_id);
    ck_assert_int_eq(v.n, 60);
    ck_assert_int_ge(v.keys, 2);
    ck_assert_int_eq(v.mismatched_keys, 0);

    fl_nal_config_t cfg;
    ck_assert_int_eq(fl_nal_config_parse(codec, fl_buf_slice(&v.codec_private), &cfg), 0);
    ck_assert_uint_eq(cfg.len_size, 4);
    ck_assert_uint_ge(cfg.n_sps, 1);
    ck_assert_uint_ge(cfg.n_pps, 1);
    if (codec == FL_NAL_H265)
        ck_assert_uint_ge(cfg.n_vps, 1);
    fl_nal_sps_t sps;
    ck_assert_int_eq(fl_nal_parse_sps(codec, cfg.sps[0], &sps), 0);

    char profile[64] = "";
    int level = -1, w = -1, h = -1;
    probe(path, profile, sizeof profile, &level, &w, &h);
    ck_assert_int_eq((int)sps.width, w);
    ck_assert_int_eq((int)sps.height, h);
    ck_assert_int_eq((int)sps.level_idc, level);
    char cs[64], want[64];
    ck_assert_int_eq(fl_nal_codec_string(&sps, cs, sizeof cs), 0);
    if (codec == FL_NAL_H264) {
        ck_assert_str_eq(profile, "High");
        snprintf(want, sizeof want, "avc1.64%02x%02x", sps.constraint_flags, level);
    } else {
        ck_assert_str_eq(profile, "Main");
        /* constraint flags as ffmpeg's own hvcC has them (x265: 0x90,
         * progressive + frame-only; other encoders give the B0 of the spec's
         * example) */
        const uint8_t *c = v.codec_private.p + 6;
        ck_assert_uint_ne(c[0], 0);
        ck_assert(c[1] == 0 && c[2] == 0 && c[3] == 0 && c[4] == 0 && c[5] == 0);
        snprintf(want, sizeof want, "hvc1.1.6.L%d.%X", level, c[0]);
    }
    ck_assert_str_eq(cs, want);

    fl_buf_t rec;
    fl_buf_init(&rec, 0);
    ck_assert_int_eq(fl_nal_config_build(&cfg, &rec), 0);
    if (codec == FL_NAL_H264) /* ffmpeg's record is ours, maybe plus the high-profile tail */
        ck_assert(rec.n <= v.codec_private.n && memcmp(rec.p, v.codec_private.p, rec.n) == 0);
    fl_nal_config_t cfg2;
    ck_assert_int_eq(fl_nal_config_parse(codec, fl_buf_slice(&rec), &cfg2), 0);
    ck_assert_uint_eq(cfg2.n_sps, cfg.n_sps);
    ck_assert(fl_slice_eq(cfg2.sps[0], cfg.sps[0]));
    ck_assert(fl_slice_eq(cfg2.pps[0], cfg.pps[0]));
    if (codec == FL_NAL_H265) {
        ck_assert(fl_slice_eq(cfg2.vps[0], cfg.vps[0]));
        /* the 13 bytes of profile/tier/level after the version agree */
        ck_assert(memcmp(rec.p + 1, v.codec_private.p + 1, 12) == 0);
    }

    /* every frame: length-prefixed -> Annex-B -> length-prefixed */
    fl_reader_t r;
    fl_reader_init(&r, fl_buf_slice(&v.frames));
    fl_buf_t ab, lp;
    fl_buf_init(&ab, 0);
    fl_buf_init(&lp, 0);
    int frames = 0;
    while (fl_reader_left(&r) > 0) {
        fl_slice_t f = fl_reader_take(&r, fl_reader_be32(&r));
        fl_buf_reset(&ab);
        fl_buf_reset(&lp);
        ck_assert_int_eq(fl_nal_lp_to_annexb(f, 4, &ab), 0);
        ck_assert_int_eq(fl_nal_annexb_to_lp(fl_buf_slice(&ab), 4, &lp), 0);
        ck_assert(fl_slice_eq(fl_buf_slice(&lp), f));
        frames++;
    }
    ck_assert_int_eq(frames, 60);

    /* parameter sets from an Annex-B access unit */
    fl_buf_reset(&ab);
    ck_assert_int_eq(fl_nal_config_to_annexb(&cfg, &ab), 0);
    fl_nal_config_t cfg3;
    ck_assert_int_eq(fl_nal_config_from_au(codec, fl_buf_slice(&ab), 0, &cfg3), 0);
    ck_assert(fl_slice_eq(cfg3.sps[0], cfg.sps[0]));
    fl_buf_free(&ab);
    fl_buf_free(&lp);
    fl_buf_free(&rec);
    vid_free(&v);
}

START_TEST(h264_from_libx264)
{
    if (!fl_test_have("ffmpeg") || !fl_test_have("ffprobe"))
        return;
    check_stream(FL_NAL_H264, "libx264", "V_MPEG4/ISO/AVC");
}
END_TEST

START_TEST(h265_from_libx265)
{
    if (!fl_test_have("ffmpeg") || !fl_test_have("ffprobe"))
        return;
    check_stream(FL_NAL_H265, "libx265", "V_MPEGH/ISO/HEVC");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("media_nal");
    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, annexb_split_and_round_trip);
    tcase_add_test(tc, keyframes_by_nal_type);
    tcase_add_test(tc, walk_gives_units_and_types);
    tcase_add_test(tc, sps_rejects_garbage);
    tcase_add_test(tc, codec_strings);
    suite_add_tcase(s, tc);
    tc = tcase_create("encoders");
    tcase_add_unchecked_fixture(tc, make_dir, rm_dir);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, h264_from_libx264);
    tcase_add_test(tc, h265_from_libx265);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
