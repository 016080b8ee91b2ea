/*
 * tests/test_server_atrest.c — keys at rest, against the real framelogd:
 * the master key kept outside the data dir (--master-key-file, -env, -fd),
 * a copy of the data dir alone neither starts nor reveals a frame's bytes,
 * and the right key serves the video back (GetMedia).
 *
 * The known frame bytes are x264's SEI text ("x264 - core ...", in the first
 * frame of every fragment's GOP): GetMedia's output must hold it (so the
 * grep can fail), the stored files must not.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media_harness.h"

static const char *FRAME = "x264 - core";

/* Start framelogd on dir with args, through `sh -c` when shell is given
 * (descriptor redirections), with env_extra; like fl_test_server_start. */
static void start_with(fl_test_server_t *s, const char *dir, char *const extra[],
                       char *const env_extra[], const char *shell_redirect)
{
    memset(s, 0, sizeof *s);
    s->data_dir = strdup(dir);
    char *argv[64];
    int n = 0;
    char cmd[8192];
    if (shell_redirect) {
        int k = snprintf(cmd, sizeof cmd, "exec %s --listen 127.0.0.1:0 --data-dir %s",
                         FL_FRAMELOGD, dir);
        for (int i = 0; extra && extra[i]; i++)
            k += snprintf(cmd + k, sizeof cmd - (size_t)k, " %s", extra[i]);
        snprintf(cmd + k, sizeof cmd - (size_t)k, " %s", shell_redirect);
        argv[n++] = "sh";
        argv[n++] = "-c";
        argv[n++] = cmd;
    } else {
        argv[n++] = FL_FRAMELOGD;
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1:0";
        argv[n++] = "--data-dir";
        argv[n++] = (char *)dir;
        for (int i = 0; extra && extra[i] && n < 62; i++)
            argv[n++] = extra[i];
    }
    argv[n] = NULL;
    ck_assert_int_eq(fl_test_spawn(&s->proc, argv, env_extra), 0);
    long long deadline = fl_test_now_ms() + 60000;
    while (fl_test_now_ms() < deadline) {
        char *log = fl_test_proc_stderr(&s->proc);
        char *at = strstr(log, "listening on http");
        char *colon = at ? strstr(at, "127.0.0.1:") : NULL;
        if (colon) {
            s->port = atoi(colon + strlen("127.0.0.1:"));
            snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
            free(log);
            return;
        }
        if (fl_test_wait(&s->proc, 0) != -1)
            ck_abort_msg("framelogd exited before listening: %s", log);
        free(log);
        usleep(10000);
    }
    ck_abort_msg("framelogd did not start");
}

/* framelogd on dir with args must refuse to start; its stderr (malloc'd). */
static char *refuses(const char *dir, const char *arg1, const char *arg2)
{
    char *argv[] = {FL_FRAMELOGD, "--listen",   "127.0.0.1:0", "--data-dir",
                    (char *)dir,  (char *)arg1, (char *)arg2,  NULL};
    char *out = NULL, *err = NULL;
    int rc = fl_test_run(argv, 60000, &out, &err);
    ck_assert_msg(rc == 1, "framelogd did not refuse (%d): %s", rc, err);
    free(out);
    return err;
}

/* Occurrences of needle in every file under dir. */
static int count_in_tree(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        ck_assert_int_eq(lstat(p, &st), 0);
        if (S_ISDIR(st.st_mode))
            n += count_in_tree(p, needle);
        else if (S_ISREG(st.st_mode) && st.st_size > 0)
            n += count_in_file(p, needle);
    }
    closedir(d);
    return n;
}

static void copy_tree(const char *from, const char *to)
{
    char *argv[] = {"cp", "-a", (char *)from, (char *)to, NULL};
    ck_assert_int_eq(fl_test_run(argv, 60000, NULL, NULL), 0);
}

/* The key bytes (8..39) of a key file as 64 hex digits. */
static void key_hex(const char *keyfile, char hex[65])
{
    size_t n;
    char *k = fl_test_read_file(keyfile, &n);
    ck_assert_uint_eq(n, 44);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)k[8 + i]);
    free(k);
}

/* GetMedia of stream gives the pushed video back: same packets, and the
 * known frame bytes in it. */
static void serves_video(const fl_test_server_t *s, const char *stream, const char *tag)
{
    char out[4400];
    snprintf(out, sizeof out, "%s/out-%s.mkv", g_dir, tag);
    get_media_earliest(s, stream, out);
    ck_assert_int_gt(count_in_file(out, FRAME), 0);
    char *pin = probe(g_mkv), *pout = probe(out);
    same_packets(pin, pout, 1700000000000LL);
    free(pin);
    free(pout);
}

START_TEST(copied_data_dir_is_unreadable)
{
    make_media();
    ck_assert_int_gt(count_in_file(g_mkv, FRAME), 0);
    char *data = fl_test_mkdtemp("atrest-data");
    char *keys = fl_test_mkdtemp("atrest-keys");
    char keyfile[4200], copy[4200];
    snprintf(keyfile, sizeof keyfile, "%s/master.key", keys);
    snprintf(copy, sizeof copy, "%s/copy", keys);

    fl_test_server_t s;
    char *args[] = {"--master-key-file", keyfile, NULL};
    fl_test_server_start(&s, data, args);
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "master key: file "), "start-up names the key's source: %s", log);
    free(log);
    create_stream(&s, "atrest-cam");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "atrest-cam", g_mkv, 1700000000.0, &acks, &err), 0);
    ck_assert_int_eq(count_acks(acks, "PERSISTED"), 3);
    free(acks);
    free(err);
    ck_assert_int_eq(fl_test_server_stop(&s, 30000), 0);
    fl_test_server_free(&s);

    /* the key is not in the data dir; the copy is the data dir alone */
    char p[8800];
    snprintf(p, sizeof p, "%s/master.key", data);
    ck_assert_int_ne(access(p, F_OK), 0);
    copy_tree(data, copy);
    ck_assert_int_eq(count_in_tree(copy, FRAME), 0);

    /* without the key (a fresh master.key in the copy), with a wrong key in
     * the environment: refused in one line */
    char *e = refuses(copy, NULL, NULL);
    ck_assert_msg(strstr(e, "is not the key this data dir was sealed with"), "%s", e);
    const char *line = strstr(e, "framelogd: ");
    ck_assert_msg(line && strstr(line, "is not the key") && strchr(line, '\n') == strrchr(e, '\n'),
                  "one last line with the reason: %s", e);
    free(e);
    setenv("ATREST_WRONG_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
           1);
    e = refuses(copy, "--master-key-env", "ATREST_WRONG_KEY");
    ck_assert_msg(strstr(e, "environment variable ATREST_WRONG_KEY is not the key"), "%s", e);
    free(e);
    setenv("ATREST_WRONG_KEY", "not-a-key", 1);
    e = refuses(copy, "--master-key-env", "ATREST_WRONG_KEY");
    ck_assert_msg(strstr(e, "not a key"), "%s", e);
    free(e);
    snprintf(p, sizeof p, "%s/master.key", copy);
    ck_assert_int_ne(access(p, F_OK), 0); /* the refused start made no key there */

    /* with the key: from the file, from the environment, from a descriptor */
    fl_test_server_start(&s, copy, args);
    serves_video(&s, "atrest-cam", "file");
    fl_test_server_free(&s);

    char hex[65], env[128];
    key_hex(keyfile, hex);
    snprintf(env, sizeof env, "ATREST_KEY=%s", hex);
    char *env_extra[] = {env, NULL};
    char *eargs[] = {"--master-key-env", "ATREST_KEY", NULL};
    start_with(&s, copy, eargs, env_extra, NULL);
    log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "master key: environment variable ATREST_KEY"), "%s", log);
    free(log);
    serves_video(&s, "atrest-cam", "env");
    fl_test_server_free(&s);

    char redir[4500];
    snprintf(redir, sizeof redir, "3<%s", keyfile);
    char *fargs[] = {"--master-key-fd", "3", NULL};
    start_with(&s, copy, fargs, NULL, redir);
    serves_video(&s, "atrest-cam", "fd");
    fl_test_server_free(&s);

    fl_test_rmtree(data);
    fl_test_rmtree(keys);
}
END_TEST

/* Every file under dir is 0600 and every folder 0700 (dir itself aside);
 * the number of files seen. */
static int check_modes(const char *dir, int top)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        ck_assert_int_eq(lstat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            ck_assert_msg((st.st_mode & 0777) == 0700, "%s: mode %03o", p, st.st_mode & 0777);
            n += check_modes(p, 0);
        } else {
            ck_assert_msg((st.st_mode & 0777) == 0600, "%s: mode %03o", p, st.st_mode & 0777);
            n++;
        }
    }
    closedir(d);
    (void)top;
    return n;
}

START_TEST(files_are_private)
{
    make_media();
    umask(022); /* what a service usually runs with */
    char *data = fl_test_mkdtemp("atrest-modes");
    char *keys = fl_test_mkdtemp("atrest-modes-key");
    char keyfile[4200], p[8800];
    snprintf(keyfile, sizeof keyfile, "%s/master.key", keys);
    /* a catalog left 0644 by an older framelogd is narrowed */
    fl_test_server_t s;
    fl_test_server_start(&s, data, NULL);
    fl_test_server_free(&s);
    snprintf(p, sizeof p, "%s/catalog.db", data);
    ck_assert_int_eq(chmod(p, 0644), 0);

    char *args[] = {"--master-key-file", keyfile, NULL};
    snprintf(p, sizeof p, "%s/master.key", data);
    ck_assert_int_eq(rename(p, keyfile), 0); /* the key moves out of the data dir */
    snprintf(p, sizeof p, "%s/catalog.db", data);
    fl_test_server_start(&s, data, args);
    create_stream(&s, "modes-cam");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "modes-cam", g_mkv, 1700000000.0, &acks, &err), 0);
    ck_assert_int_eq(count_acks(acks, "PERSISTED"), 3);
    free(acks);
    free(err);
    /* while it runs: catalog.db, -wal, -shm, segments, indexes, keys */
    const char *must[] = {"catalog.db", "catalog.db-wal", "catalog.db-shm", "server.key", "LOCK"};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++) {
        snprintf(p, sizeof p, "%s/%s", data, must[i]);
        ck_assert_msg(access(p, F_OK) == 0, "%s missing", p);
    }
    ck_assert_int_ge(check_modes(data, 1), 7);
    struct stat st;
    ck_assert_int_eq(stat(keyfile, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    fl_test_server_free(&s);
    fl_test_rmtree(data);
    fl_test_rmtree(keys);
}
END_TEST

/* Occurrences of needle in catalog.db, -wal and -shm of dir. */
static int count_in_catalog(const char *dir, const char *needle)
{
    static const char *const f[] = {"catalog.db", "catalog.db-wal", "catalog.db-shm"};
    int n = 0;
    for (size_t i = 0; i < 3; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, f[i]);
        if (access(p, F_OK) == 0)
            n += count_in_file(p, needle);
    }
    return n;
}

START_TEST(delete_is_crypto_erase)
{
    make_media();
    char *data = fl_test_mkdtemp("atrest-erase");
    char *keys = fl_test_mkdtemp("atrest-erase-key");
    char keyfile[4200], old[4200], mix[4200], p[8800], q[8800];
    snprintf(keyfile, sizeof keyfile, "%s/master.key", keys);
    snprintf(old, sizeof old, "%s/old", keys);
    snprintf(mix, sizeof mix, "%s/mix", keys);
    char *args[] = {"--master-key-file", keyfile, NULL};
    fl_test_server_t s;
    fl_test_server_start(&s, data, args);
    char *out = NULL;
    ck_assert_int_eq(post_json(&s, "/createStream",
                               "{\"StreamName\":\"erase-me-cam\",\"DataRetentionInHours\":24,"
                               "\"Tags\":{\"erasetagkey\":\"erasetagvalue\"}}",
                               &out),
                     0);
    ck_assert_msg(strstr(out, "StreamARN"), "%s", out);
    free(out);
    create_stream(&s, "keep-cam");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "erase-me-cam", g_mkv, 1700000000.0, &acks, &err), 0);
    ck_assert_int_eq(count_acks(acks, "PERSISTED"), 3);
    free(acks);
    free(err);
    ck_assert_int_eq(fl_test_server_stop(&s, 30000), 0);
    fl_test_server_free(&s);
    ck_assert_int_gt(count_in_catalog(data, "erase-me-cam"), 0); /* the grep can fail */
    ck_assert_int_gt(count_in_catalog(data, "erasetagvalue"), 0);
    copy_tree(data, old); /* segments and catalog before the delete */

    fl_test_server_start(&s, data, args);
    ck_assert_int_eq(post_json(&s, "/describeStream", "{\"StreamName\":\"erase-me-cam\"}", &out),
                     0);
    char *arn = strstr(out, "\"StreamARN\":\"");
    ck_assert_ptr_nonnull(arn);
    arn += strlen("\"StreamARN\":\"");
    *strchr(arn, '"') = 0;
    char body[1024];
    snprintf(body, sizeof body, "{\"StreamARN\":\"%s\"}", arn);
    free(out);
    ck_assert_int_eq(post_json(&s, "/deleteStream", body, &out), 0);
    free(out);
    int gone = 0;
    for (int i = 0; i < 600 && !gone; i++) {
        ck_assert_int_eq(
            post_json(&s, "/describeStream", "{\"StreamName\":\"erase-me-cam\"}", &out), 0);
        gone = strstr(out, "ResourceNotFoundException") != NULL;
        free(out);
        if (!gone)
            usleep(100000);
    }
    ck_assert(gone);
    /* while the server still runs: nothing of it in the catalog's files */
    ck_assert_int_eq(count_in_catalog(data, "erase-me-cam"), 0);
    ck_assert_int_eq(count_in_catalog(data, "erasetagvalue"), 0);
    ck_assert_int_eq(count_in_catalog(data, "erasetagkey"), 0);
    ck_assert_int_gt(count_in_catalog(data, "keep-cam"), 0);
    ck_assert_int_eq(fl_test_server_stop(&s, 30000), 0);
    fl_test_server_free(&s);
    ck_assert_int_eq(count_in_catalog(data, "erase-me-cam"), 0);

    /* the segments copied before the delete, with the catalog and key left
     * after it: the stream is gone, its bytes unreadable */
    copy_tree(data, mix);
    snprintf(p, sizeof p, "%s/logs", mix);
    fl_test_rmtree(strdup(p));
    snprintf(p, sizeof p, "%s/logs", old);
    snprintf(q, sizeof q, "%s/logs", mix);
    copy_tree(p, q);
    ck_assert_int_eq(count_in_tree(q, FRAME), 0);
    fl_test_server_start(&s, mix, args);
    ck_assert_int_eq(post_json(&s, "/describeStream", "{\"StreamName\":\"erase-me-cam\"}", &out),
                     0);
    ck_assert_msg(strstr(out, "ResourceNotFoundException"), "%s", out);
    free(out);
    ck_assert_int_eq(post_json(&s, "/listStreams", "{}", &out), 0);
    ck_assert_msg(!strstr(out, "erase-me-cam") && strstr(out, "keep-cam"), "%s", out);
    free(out);
    char media[4400];
    snprintf(media, sizeof media, "%s/erased.mkv", keys);
    get_media_earliest(&s, "erase-me-cam", media);
    ck_assert_int_eq(count_in_file(media, FRAME), 0);
    fl_test_server_free(&s);

    /* the old catalog does hold the key: the copy of before is readable
     * with it (what the delete took away) */
    fl_test_server_start(&s, old, args);
    serves_video(&s, "erase-me-cam", "old");
    fl_test_server_free(&s);
    fl_test_rmtree(data);
    fl_test_rmtree(keys);
}
END_TEST

/* sha256sum of every segment file under dir/logs, sorted (malloc'd). */
static char *segment_sums(const char *dir)
{
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "cd '%s/logs' && find . -name '*.seg' -exec sha256sum {} + | sort",
             dir);
    char *argv[] = {"sh", "-c", cmd, NULL};
    char *out = NULL;
    ck_assert_int_eq(fl_test_run(argv, 60000, &out, NULL), 0);
    ck_assert_msg(strstr(out, ".seg"), "no segments: %s", out);
    return out;
}

START_TEST(rotation_rewraps_keys_only)
{
    make_media();
    char *data = fl_test_mkdtemp("atrest-rot");
    char *keys = fl_test_mkdtemp("atrest-rot-key");
    char keyfile[4200];
    snprintf(keyfile, sizeof keyfile, "%s/new.key", keys);
    fl_test_server_t s;
    fl_test_server_start(&s, data, NULL); /* today's default: master.key in the data dir */
    char *log = fl_test_proc_stderr(&s.proc);
    ck_assert_msg(strstr(log, "master.key in the data dir (a copy of the data dir can be read"),
                  "%s", log);
    free(log);
    create_stream(&s, "rot-cam");
    create_stream(&s, "rot-empty");
    char *acks = NULL, *err = NULL;
    ck_assert_int_eq(put_media(&s, "rot-cam", g_mkv, 1700000000.0, &acks, &err), 0);
    ck_assert_int_eq(count_acks(acks, "PERSISTED"), 3);
    free(acks);
    free(err);

    /* refused while the server runs */
    char *rot[] = {FL_FRAMELOGD, "rotate-master-key",     "--data-dir",
                   data,         "--new-master-key-file", keyfile,
                   NULL};
    char *out = NULL;
    err = NULL;
    ck_assert_int_eq(fl_test_run(rot, 60000, &out, &err), 1);
    ck_assert_msg(strstr(err, "stop framelogd first"), "%s", err);
    free(out);
    free(err);
    ck_assert_int_eq(fl_test_server_stop(&s, 30000), 0);
    fl_test_server_free(&s);

    char *before = segment_sums(data);
    ck_assert_int_eq(fl_test_run(rot, 60000, &out, &err), 0);
    ck_assert_msg(strstr(out, "2 stream keys re-wrapped"), "%s / %s", out, err);
    free(out);
    free(err);
    char *after = segment_sums(data);
    ck_assert_str_eq(before, after); /* no video rewritten */
    free(before);
    free(after);

    /* the old key (still in the data dir) opens nothing; the new one serves */
    char *e = refuses(data, NULL, NULL);
    ck_assert_msg(strstr(e, "is not the key this data dir was sealed with"), "%s", e);
    free(e);
    char *args[] = {"--master-key-file", keyfile, NULL};
    fl_test_server_start(&s, data, args);
    serves_video(&s, "rot-cam", "rotated");
    fl_test_server_free(&s);

    /* and once more, from the file to a key in the environment */
    char hex[65], env[128];
    memset(hex, 'a', 64);
    hex[64] = 0;
    setenv("ATREST_ROT_KEY", hex, 1);
    char *rot2[] = {
        FL_FRAMELOGD, "rotate-master-key",    "--data-dir",     data, "--master-key-file",
        keyfile,      "--new-master-key-env", "ATREST_ROT_KEY", NULL};
    ck_assert_int_eq(fl_test_run(rot2, 60000, &out, &err), 0);
    free(out);
    free(err);
    e = refuses(data, "--master-key-file", keyfile);
    free(e);
    snprintf(env, sizeof env, "ATREST_ROT_KEY=%s", hex);
    char *env_extra[] = {env, NULL};
    char *eargs[] = {"--master-key-env", "ATREST_ROT_KEY", NULL};
    start_with(&s, data, eargs, env_extra, NULL);
    serves_video(&s, "rot-cam", "rotated2");
    fl_test_server_free(&s);
    fl_test_rmtree(data);
    fl_test_rmtree(keys);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_atrest");
    TCase *tc = tcase_create("keys");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, copied_data_dir_is_unreadable);
    tcase_add_test(tc, files_are_private);
    tcase_add_test(tc, delete_is_crypto_erase);
    tcase_add_test(tc, rotation_rewraps_keys_only);
    suite_add_tcase(s, tc);
    return fl_test_main(s);
}
