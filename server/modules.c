/*
 * server/modules.c — the registration list: every module framelogd runs,
 * in start order (core/module.h). The only file besides main.c that knows
 * the feature folders. A new feature is a folder with one module and one
 * line here.
 */
#include "server/modules.h"

#include "server/auth/auth.h"
#include "server/console/console.h"
#include "server/hooks/hooks.h"
#include "server/kvs/kvs.h"
#include "server/playback/playback.h"
#include "server/records/records.h"
#include "server/video/video.h"

const fl_module_t *const fl_modules[] = {
    &fl_health_module,   /* GET /healthz, GET /metrics */
    &fl_auth_module,     /* SigV4 verification, access keys, policies */
    &fl_video_module,    /* streams, live tails (no routes: the features' base) */
    &fl_kvs_module,      /* the Kinesis Video APIs */
    &fl_playback_module, /* HLS sessions */
    &fl_records_module,  /* the Kinesis Data Streams API */
    &fl_console_module,  /* the web console at /console/ */
    &fl_hooks_module,    /* --hook analytics plugins (last: stops first) */
    NULL,
};
