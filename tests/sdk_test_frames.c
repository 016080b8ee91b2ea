/*
 * tests/sdk_test_frames.c — see sdk_test_frames.h.
 */
#include "sdk_test_frames.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>

#include "media/mkv_parser.h"
#include "media/nal.h"

extern char **environ;

/* FLP_CODEC_H264/H265 are 1/2, as FL_NAL_H264/H265 are; say so once. */
static fl_nal_codec_t nal_codec(int codec)
{
    return codec == 2 ? FL_NAL_H265 : FL_NAL_H264;
}

/* ---- making the media ---- */

int sdk_media_make(const char *dir, sdk_media_kind_t kind, char *path, size_t cap)
{
    static const char *const names[SDK_MEDIA_KINDS] = {"h264.mp4", "h265.mp4", "h264aac.mp4",
                                                       "h264big.mp4"};
    if ((unsigned)kind >= SDK_MEDIA_KINDS)
        return -1;
    snprintf(path, cap, "%s/%s", dir, names[kind]);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 0)
        return 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/.%d.%s", dir, (int)getpid(), names[kind]);

    const char *common_in[] = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"};
    const char *argv[64];
    int n = 0;
    for (size_t i = 0; i < sizeof common_in / sizeof *common_in; i++)
        argv[n++] = common_in[i];
    switch (kind) {
    case SDK_MEDIA_H264:
    case SDK_MEDIA_H264_AAC: {
        const char *a[] = {"-i", "testsrc=size=320x240:rate=30", NULL};
        for (int i = 0; a[i]; i++)
            argv[n++] = a[i];
        if (kind == SDK_MEDIA_H264_AAC) {
            const char *b[] = {"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", NULL};
            for (int i = 0; b[i]; i++)
                argv[n++] = b[i];
        }
        const char *c[] = {
            "-t",          "4",  "-c:v",          "libx264", "-preset",  "veryfast", "-g", "30",
            "-keyint_min", "30", "-sc_threshold", "0",       "-pix_fmt", "yuv420p",  NULL};
        for (int i = 0; c[i]; i++)
            argv[n++] = c[i];
        if (kind == SDK_MEDIA_H264_AAC) {
            const char *d[] = {"-c:a", "aac", "-ac", "1", NULL};
            for (int i = 0; d[i]; i++)
                argv[n++] = d[i];
        }
        break;
    }
    case SDK_MEDIA_H265: {
        const char *a[] = {"-i",
                           "testsrc=size=320x240:rate=30",
                           "-t",
                           "4",
                           "-c:v",
                           "libx265",
                           "-preset",
                           "ultrafast",
                           "-x265-params",
                           "keyint=30:min-keyint=30:scenecut=0:open-gop=0:log-level=error",
                           "-tag:v",
                           "hvc1",
                           "-pix_fmt",
                           "yuv420p",
                           NULL};
        for (int i = 0; a[i]; i++)
            argv[n++] = a[i];
        break;
    }
    case SDK_MEDIA_H264_BIG: {
        const char *a[] = {"-i",
                           "testsrc=size=320x240:rate=30,noise=alls=40:allf=t",
                           "-t",
                           "3",
                           "-c:v",
                           "libx264",
                           "-preset",
                           "veryfast",
                           "-b:v",
                           "2M",
                           "-maxrate",
                           "2M",
                           "-bufsize",
                           "1M",
                           "-g",
                           "15",
                           "-keyint_min",
                           "15",
                           "-sc_threshold",
                           "0",
                           "-pix_fmt",
                           "yuv420p",
                           NULL};
        for (int i = 0; a[i]; i++)
            argv[n++] = a[i];
        break;
    }
    default:
        return -1;
    }
    argv[n++] = "-f";
    argv[n++] = "mp4";
    argv[n++] = tmp;
    argv[n] = NULL;

    pid_t pid;
    if (posix_spawnp(&pid, "ffmpeg", NULL, NULL, (char *const *)argv, environ) != 0) {
        fprintf(stderr, "sdk_media_make: cannot run ffmpeg\n");
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "sdk_media_make: ffmpeg failed for %s\n", names[kind]);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- reading it ---- */

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

int sdk_media_load(const char *path, sdk_media_t *m)
{
    memset(m, 0, sizeof *m);
    AVFormatContext *fc = NULL;
    AVPacket *pkt = NULL;
    int rc = -1;
    if (avformat_open_input(&fc, path, NULL, NULL) != 0) {
        fprintf(stderr, "sdk_media_load: cannot open %s\n", path);
        return -1;
    }
    int vi = -1, ai = -1;
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        const AVCodecParameters *cp = fc->streams[i]->codecpar;
        if (cp->codec_type == AVMEDIA_TYPE_VIDEO && vi < 0)
            vi = (int)i;
        if (cp->codec_type == AVMEDIA_TYPE_AUDIO && ai < 0)
            ai = (int)i;
    }
    if (vi < 0)
        goto out;
    const AVCodecParameters *vp = fc->streams[vi]->codecpar;
    if (vp->codec_id != AV_CODEC_ID_H264 && vp->codec_id != AV_CODEC_ID_HEVC)
        goto out;
    m->video_codec = vp->codec_id == AV_CODEC_ID_HEVC ? 2 : 1;
    m->video_private = dup_bytes(vp->extradata, (size_t)vp->extradata_size);
    m->video_private_len = (size_t)vp->extradata_size;
    m->width = (unsigned)vp->width;
    m->height = (unsigned)vp->height;
    fl_nal_config_t cfg;
    if (fl_nal_config_parse(nal_codec(m->video_codec),
                            fl_slice(m->video_private, m->video_private_len), &cfg) != 0) {
        fprintf(stderr, "sdk_media_load: unreadable decoder configuration record\n");
        goto out;
    }
    m->nal_length_size = cfg.len_size;
    if (ai >= 0) {
        const AVCodecParameters *ap = fc->streams[ai]->codecpar;
        if (ap->codec_id != AV_CODEC_ID_AAC)
            goto out;
        m->has_audio = 1;
        m->audio_private = dup_bytes(ap->extradata, (size_t)ap->extradata_size);
        m->audio_private_len = (size_t)ap->extradata_size;
        m->sample_rate = (unsigned)ap->sample_rate;
        m->channels = (unsigned)ap->ch_layout.nb_channels;
    }

    AVRational ms = {1, 1000};
    size_t cap = 0;
    int64_t video_dur_tb = 0;
    pkt = av_packet_alloc();
    while (pkt && av_read_frame(fc, pkt) == 0) {
        if (pkt->stream_index != vi && pkt->stream_index != ai) {
            av_packet_unref(pkt);
            continue;
        }
        if (m->n == cap) {
            cap = cap ? cap * 2 : 256;
            sdk_frame_t *nf = realloc(m->frames, cap * sizeof *nf);
            if (!nf)
                goto out;
            m->frames = nf;
        }
        AVRational tb = fc->streams[pkt->stream_index]->time_base;
        int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pts;
        sdk_frame_t *f = &m->frames[m->n++];
        f->track = pkt->stream_index == vi ? 1 : 2;
        f->pts_ms = av_rescale_q(pts, tb, ms);
        f->dts_ms = av_rescale_q(dts, tb, ms);
        f->duration_ms = av_rescale_q(pkt->duration, tb, ms);
        f->keyframe = f->track == 1 ? (pkt->flags & AV_PKT_FLAG_KEY) != 0 : 1;
        f->data = dup_bytes(pkt->data, (size_t)pkt->size);
        f->size = (size_t)pkt->size;
        if (f->track == 1) {
            m->n_video++;
            video_dur_tb += pkt->duration;
        }
        av_packet_unref(pkt);
    }
    if (m->n_video == 0)
        goto out;
    m->period_ms = av_rescale_q(video_dur_tb, fc->streams[vi]->time_base, ms);
    /* the smallest dts becomes 0 */
    int64_t min = INT64_MAX;
    for (size_t i = 0; i < m->n; i++)
        if (m->frames[i].dts_ms < min)
            min = m->frames[i].dts_ms;
    for (size_t i = 0; i < m->n; i++) {
        m->frames[i].dts_ms -= min;
        m->frames[i].pts_ms -= min;
    }
    rc = 0;
out:
    av_packet_free(&pkt);
    avformat_close_input(&fc);
    if (rc != 0) {
        fprintf(stderr, "sdk_media_load: %s is not what the tests expect\n", path);
        sdk_media_free(m);
    }
    return rc;
}

void sdk_media_free(sdk_media_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->frames[i].data);
    free(m->frames);
    free(m->video_private);
    free(m->audio_private);
    memset(m, 0, sizeof *m);
}

const sdk_frame_t *sdk_media_loop(const sdk_media_t *m, uint64_t i, int64_t *shift_ms)
{
    uint64_t cycle = i / m->n_video, k = i % m->n_video;
    *shift_ms = (int64_t)cycle * m->period_ms;
    /* the k-th video frame (the file may interleave audio) */
    for (size_t j = 0; j < m->n; j++)
        if (m->frames[j].track == 1 && k-- == 0)
            return &m->frames[j];
    return NULL;
}

int sdk_media_annexb(const sdk_media_t *m, const sdk_frame_t *f, fl_buf_t *out)
{
    if (f->keyframe) {
        fl_nal_config_t cfg;
        int rc = fl_nal_config_parse(nal_codec(m->video_codec),
                                     fl_slice(m->video_private, m->video_private_len), &cfg);
        if (rc != 0)
            return rc;
        rc = fl_nal_config_to_annexb(&cfg, out);
        if (rc != 0)
            return rc;
    }
    int rc = fl_nal_lp_to_annexb(fl_slice(f->data, f->size), m->nal_length_size, out);
    return rc ? rc : out->err;
}

/* Parameter sets and access unit delimiters: allowed in-band or not. */
static int skippable_nal(int codec, fl_slice_t nal)
{
    int t = fl_nal_type(nal_codec(codec), nal);
    if (codec == 2)
        return t >= 32 && t <= 35;
    return t == 7 || t == 8 || t == 9;
}

static int next_kept(int codec, fl_slice_t buf, unsigned len_size, size_t *pos, fl_slice_t *nal)
{
    int rc;
    while ((rc = fl_nal_next(buf, len_size, pos, nal)) == 0)
        if (!skippable_nal(codec, *nal))
            return 0;
    return rc;
}

int sdk_same_nal_units(int codec, fl_slice_t a, unsigned a_len_size, fl_slice_t b,
                       unsigned b_len_size, char *why, size_t whycap)
{
    size_t pa = 0, pb = 0;
    for (int i = 0;; i++) {
        fl_slice_t na, nb;
        int ra = next_kept(codec, a, a_len_size, &pa, &na);
        int rb = next_kept(codec, b, b_len_size, &pb, &nb);
        if (ra != 0 || rb != 0) {
            if (ra == rb)
                return 1;
            snprintf(why, whycap, "NAL unit %d: present on one side only (%d vs %d)", i, ra, rb);
            return 0;
        }
        if (!fl_slice_eq(na, nb)) {
            snprintf(why, whycap, "NAL unit %d differs: type %d, %zu bytes vs type %d, %zu bytes",
                     i, fl_nal_type(nal_codec(codec), na), na.n, fl_nal_type(nal_codec(codec), nb),
                     nb.n);
            return 0;
        }
    }
}

/* ---- GetMedia output ---- */

static int out_event(void *data, const fl_mkv_event_t *ev)
{
    sdk_out_t *o = data;
    switch (ev->type) {
    case FL_MKV_EV_EBML_HEADER:
        o->n_headers++;
        break;
    case FL_MKV_EV_TRACKS:
        for (size_t i = 0; i < o->n_tracks; i++)
            free(o->tracks[i].codec_private);
        o->n_tracks = 0;
        for (size_t i = 0; i < ev->u.tracks.n && i < 4; i++) {
            const fl_mkv_track_t *t = &ev->u.tracks.v[i];
            sdk_out_track_t *d = &o->tracks[o->n_tracks++];
            d->number = t->number;
            snprintf(d->codec_id, sizeof d->codec_id, "%.*s", (int)t->codec_id.n,
                     (const char *)t->codec_id.p);
            d->codec_private = dup_bytes(t->codec_private.p, t->codec_private.n);
            d->codec_private_len = t->codec_private.n;
        }
        break;
    case FL_MKV_EV_CLUSTER_START: {
        int64_t *nc = realloc(o->cluster_ms, (o->n_clusters + 1) * sizeof *nc);
        if (!nc)
            return -ENOMEM;
        o->cluster_ms = nc;
        o->cluster_ms[o->n_clusters++] = ev->u.cluster.pts_ns / 1000000;
        break;
    }
    case FL_MKV_EV_FRAME: {
        if (o->n % 256 == 0) {
            sdk_out_frame_t *nf = realloc(o->frames, (o->n + 256) * sizeof *nf);
            if (!nf)
                return -ENOMEM;
            o->frames = nf;
        }
        sdk_out_frame_t *f = &o->frames[o->n++];
        f->track = ev->u.frame.track;
        f->pts_ms = ev->u.frame.pts_ns / 1000000;
        f->keyframe = ev->u.frame.keyframe;
        f->data = dup_bytes(ev->u.frame.data.p, ev->u.frame.data.n);
        f->size = ev->u.frame.data.n;
        f->cluster = o->n_clusters ? o->n_clusters - 1 : 0;
        break;
    }
    case FL_MKV_EV_TAGS:
        for (size_t i = 0; i < ev->u.tags.n; i++) {
            const fl_mkv_tag_t *t = &ev->u.tags.v[i];
            if (!fl_slice_eq_str(t->name, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"))
                continue;
            char(*nn)[48] = realloc(o->numbers, (o->n_numbers + 1) * sizeof *nn);
            if (!nn)
                return -ENOMEM;
            o->numbers = nn;
            snprintf(o->numbers[o->n_numbers++], 48, "%.*s", (int)t->value.n,
                     (const char *)t->value.p);
        }
        break;
    default:
        break;
    }
    return 0;
}

int sdk_out_read(const char *path, sdk_out_t *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        out->err = -errno;
        snprintf(out->err_text, sizeof out->err_text, "cannot open %s", path);
        return out->err;
    }
    fl_mkv_parser_t *p = NULL;
    int rc = fl_mkv_parser_new(NULL, out_event, out, &p);
    uint8_t buf[65536];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, fp)) > 0)
        rc = fl_mkv_parser_feed(p, buf, n);
    if (rc == 0)
        rc = fl_mkv_parser_finish(p);
    if (rc != 0 && p)
        snprintf(out->err_text, sizeof out->err_text, "at byte %llu: %s",
                 (unsigned long long)fl_mkv_parser_error_offset(p), fl_mkv_parser_error_text(p));
    fl_mkv_parser_free(p);
    fclose(fp);
    out->err = rc;
    return rc;
}

void sdk_out_free(sdk_out_t *out)
{
    for (size_t i = 0; i < out->n; i++)
        free(out->frames[i].data);
    free(out->frames);
    free(out->cluster_ms);
    free(out->numbers);
    for (size_t i = 0; i < out->n_tracks; i++)
        free(out->tracks[i].codec_private);
    memset(out, 0, sizeof *out);
}

unsigned sdk_out_len_size(const sdk_out_t *out, uint64_t track, int codec)
{
    for (size_t i = 0; i < out->n_tracks; i++) {
        if (out->tracks[i].number != track)
            continue;
        fl_nal_config_t cfg;
        if (fl_nal_config_parse(
                nal_codec(codec),
                fl_slice(out->tracks[i].codec_private, out->tracks[i].codec_private_len),
                &cfg) == 0)
            return cfg.len_size;
    }
    return 4;
}
