/*
 * server/core/uvpoll.c — framelogd's uv_poll_start(), in front of libuv's.
 *
 * libwebsockets' libuv glue calls uv_poll_start() at every change of a
 * connection's poll events, and also with no change at all: per HTTP
 * response, POLLIN set again when the request comes, POLLOUT asked at the
 * transaction's end (lws_http_transaction_completed) and dropped twice
 * when it fires. libuv's uv_poll_start() (1.44) always stops the handle
 * first, which takes the descriptor out of epoll at once (EPOLL_CTL_DEL)
 * and puts it back at the loop's next iteration (EPOLL_CTL_ADD): 7
 * epoll_ctl calls per response were counted with 500 HLS players, about a
 * tenth of framelogd's CPU (docs/playback.md, Benchmark).
 *
 * So framelogd defines uv_poll_start() itself (linked into the executable
 * only, and exported so that the glue lws loads binds to it) and takes two
 * cases off libuv, both on an active handle whose watcher epoll has as it
 * wants it (nothing pending for the loop's next iteration), asked for the
 * same callback with readable and writable events only:
 *   - the same events: nothing to do (libuv would take the descriptor out
 *     and put it back as it was);
 *   - other events: one EPOLL_CTL_MOD, and the watcher's wanted and
 *     current masks set to them, which is what libuv's own stream watchers
 *     get (its uv__io_start/uv__io_stop queue the change, and its next
 *     poll makes it with one EPOLL_CTL_MOD). Events of this descriptor
 *     already fetched by the running iteration are still dispatched, masked
 *     by the new events as libuv does (level-triggered: they hold).
 * Everything else (a first start, another callback, UV_DISCONNECT or
 * UV_PRIORITIZED, a change queued, an epoll_ctl that fails) goes to
 * libuv's uv_poll_start(), found with dlsym(RTLD_NEXT). It reads the
 * watcher fields of libuv's public headers (uv/unix.h: io_watcher's
 * pevents/events/fd, the loop's backend_fd and watchers); a libuv whose
 * epoll backend does not keep them so needs this file looked at again. So
 * the two cases are taken only when the libuv running is the major.minor
 * this file was compiled against (uv_version()); with any other, every
 * call goes to libuv's own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <uv.h>

typedef int (*uv_poll_start_fn)(uv_poll_t *, int, uv_poll_cb);

static uv_poll_start_fn libuv_poll_start(void)
{
    static _Atomic(uv_poll_start_fn) fn;
    uv_poll_start_fn f = atomic_load(&fn);
    if (!f) {
        f = (uv_poll_start_fn)dlsym(RTLD_NEXT, "uv_poll_start");
        atomic_store(&fn, f);
    }
    return f;
}

/* The libuv running is the major.minor of the headers compiled against. */
static int same_libuv(void)
{
    static atomic_int same = -1;
    int v = atomic_load(&same);
    if (v < 0) {
        v = (uv_version() >> 8) == ((unsigned)UV_VERSION_MAJOR << 8 | UV_VERSION_MINOR);
        atomic_store(&same, v);
    }
    return v;
}

int uv_poll_start(uv_poll_t *h, int pevents, uv_poll_cb cb)
{
    uv__io_t *w = &h->io_watcher;
    uv_loop_t *loop = h->loop;
    unsigned want = (pevents & UV_READABLE ? POLLIN : 0) | (pevents & UV_WRITABLE ? POLLOUT : 0);
    if (same_libuv() && pevents != 0 && (pevents & ~(UV_READABLE | UV_WRITABLE)) == 0 &&
        uv_is_active((uv_handle_t *)h) && !uv_is_closing((uv_handle_t *)h) && h->poll_cb == cb &&
        w->fd >= 0 && (unsigned)w->fd < loop->nwatchers && loop->watchers[w->fd] == w &&
        w->events != 0 && w->events == w->pevents &&
        (w->events & ~(unsigned)(POLLIN | POLLOUT)) == 0) {
        if (want == w->pevents)
            return 0;
        struct epoll_event e = {.events = want, .data.fd = w->fd};
        if (epoll_ctl(loop->backend_fd, EPOLL_CTL_MOD, w->fd, &e) == 0) {
            w->pevents = want;
            w->events = want;
            return 0;
        }
    }
    uv_poll_start_fn f = libuv_poll_start();
    return f ? f(h, pevents, cb) : UV_ENOSYS;
}
