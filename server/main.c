/*
 * server/main.c — framelogd: parse flags, start the server, serve until
 * SIGINT/SIGTERM. Exit codes: 0 after a clean stop (or --help/--version),
 * 2 for bad flags, 1 when the server cannot start or fails.
 */
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "server/auth/auth.h"
#include "server/core/config.h"
#include "server/core/master_key.h"
#include "server/core/server.h"
#include "server/modules.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "keys") == 0)
        return fl_auth_keys_main(argc - 1, argv + 1);
    fl_config_t cfg;
    char err[1024];
    if (argc > 1 && strcmp(argv[1], "rotate-master-key") == 0)
        return fl_master_key_rotate_main(argc - 1, argv + 1);
    int rc = fl_config_parse(&cfg, argc, argv, stdout, err, sizeof err);
    if (rc == FL_CONFIG_EXIT)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "framelogd: %s\n", err);
        return 2;
    }
    fl_diag_set_level(cfg.log_level);
    /* A fragment's record (about 0.5 MiB at 2 Mbit/s) is allocated and freed
     * hundreds of times a second at 1,000 producers. By default glibc maps
     * such blocks with mmap, or trims the heap's top back to the kernel
     * once they are freed, so each record was written into fresh zeroed
     * pages: page faults and munmap took a third of the event loop's time.
     * Keep blocks up to the largest fragment in the heap, and never trim
     * it: the heap keeps its high-water mark, and freed memory serves the
     * next records (bench_ingest at 1,000 producers: 15,600 page faults a
     * second with a 512 MiB trim threshold, 1,200 without trimming; the
     * loop's stalls during disk hiccups were those faults). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    if (fl_server_prepare_signals() != 0) {
        fprintf(stderr, "framelogd: cannot set up signal handling\n");
        fl_config_free(&cfg);
        return 1;
    }
    fl_server_t *s;
    rc = fl_server_new(&cfg, fl_modules, &s, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "framelogd: %s\n", err);
        fl_config_free(&cfg);
        return 1;
    }
    rc = fl_server_run(s);
    fl_server_free(s);
    fl_config_free(&cfg);
    return rc == 0 ? 0 : 1;
}
