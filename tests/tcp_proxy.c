/*
 * tests/tcp_proxy.c — see tcp_proxy.h.
 *
 * One thread owns every socket. Shared with the test thread, under `mu`:
 * the wanted mode, rate and target, a generation number that the test
 * thread bumps on each change (the loop applies it and publishes
 * `applied`, so tcp_proxy_set_mode() can wait for a DROP to be done), the
 * stop flag and the counters. The test thread wakes the loop through a pipe.
 *
 * A connection pair holds two sockets (0: client, 1: target) and one buffer
 * per direction: buf[d] holds bytes read from fd[d] not yet written to
 * fd[!d]. A side is read only when its buffer is empty, so a slow reader
 * on the other side back-pressures the sender through TCP, as a real link
 * does. EOF on one side is passed on as shutdown(SHUT_WR) once its buffer
 * has drained; the pair is closed when both sides have ended, or at once on
 * any socket error.
 */
#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROXY_MAX_PAIRS 64
#define PROXY_BUF       65536

typedef struct {
    int fd[2];
    uint8_t buf[2][PROXY_BUF];
    size_t len[2], off[2];
    int eof[2];      /* fd[d] has reached EOF */
    int shut[2];     /* fd[d] has been shut down for writing */
    int poll_idx[2]; /* index of fd[d] in this turn's pollfd array, or -1 */
} pair_t;

struct tcp_proxy {
    int listen_fd;
    int port;
    int wake[2]; /* pipe: the test thread writes, the loop reads */
    pthread_t thread;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* signalled when `applied` changes */
    tcp_proxy_mode_t mode;
    size_t rate;
    int target;
    uint64_t gen, applied;
    int stop;
    tcp_proxy_stats_t st;

    /* owned by the loop thread only */
    pair_t *pairs[PROXY_MAX_PAIRS];
    size_t n_pairs;
    double tokens[2];
    long long last_refill_us;
};

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Close with RST rather than FIN: the peer sees ECONNRESET, as when a link
 * really drops. */
static void close_reset(int fd)
{
    if (fd < 0)
        return;
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void pair_close(tcp_proxy_t *p, size_t i, int reset)
{
    pair_t *c = p->pairs[i];
    for (int d = 0; d < 2; d++) {
        if (reset)
            close_reset(c->fd[d]);
        else
            close(c->fd[d]);
    }
    free(c);
    p->pairs[i] = p->pairs[--p->n_pairs];
    pthread_mutex_lock(&p->mu);
    p->st.open = (unsigned)p->n_pairs;
    if (reset)
        p->st.reset++;
    pthread_mutex_unlock(&p->mu);
}

static int connect_target(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* loopback: a blocking connect succeeds or is refused at once */
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblock(fd);
    return fd;
}

static void accept_one(tcp_proxy_t *p, tcp_proxy_mode_t mode, int target)
{
    int cfd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
        return;
    pthread_mutex_lock(&p->mu);
    p->st.accepted++;
    pthread_mutex_unlock(&p->mu);
    int sfd = -1;
    if (mode != TCP_PROXY_DROP && p->n_pairs < PROXY_MAX_PAIRS)
        sfd = connect_target(target);
    pair_t *c = sfd >= 0 ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        close_reset(cfd);
        if (sfd >= 0)
            close(sfd);
        pthread_mutex_lock(&p->mu);
        p->st.reset++;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd[0] = cfd;
    c->fd[1] = sfd;
    p->pairs[p->n_pairs++] = c;
    pthread_mutex_lock(&p->mu);
    p->st.forwarded++;
    p->st.open = (unsigned)p->n_pairs;
    pthread_mutex_unlock(&p->mu);
}

/* Move bytes of direction d as far as the sockets (and the bucket) allow.
 * Returns 0, or -1 when the pair must be reset. */
static int pump(tcp_proxy_t *p, pair_t *c, int d, short rev_from, short rev_to, int throttle)
{
    int to = !d;
    if (c->len[d] == 0 && !c->eof[d] && (rev_from & (POLLIN | POLLHUP | POLLERR))) {
        size_t want = PROXY_BUF;
        if (throttle) {
            if (p->tokens[d] < 1)
                want = 0;
            else if (p->tokens[d] < (double)want)
                want = (size_t)p->tokens[d];
        }
        if (want) {
            ssize_t r = recv(c->fd[d], c->buf[d], want, 0);
            if (r == 0) {
                c->eof[d] = 1;
            } else if (r < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    return -1;
            } else {
                c->len[d] = (size_t)r;
                c->off[d] = 0;
                if (throttle)
                    p->tokens[d] -= (double)r;
            }
        }
    }
    if (c->len[d] > c->off[d] && (rev_to & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = send(c->fd[to], c->buf[d] + c->off[d], c->len[d] - c->off[d], MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
        } else {
            c->off[d] += (size_t)w;
            pthread_mutex_lock(&p->mu);
            if (d == 0)
                p->st.bytes_up += (uint64_t)w;
            else
                p->st.bytes_down += (uint64_t)w;
            pthread_mutex_unlock(&p->mu);
            if (c->off[d] == c->len[d])
                c->len[d] = c->off[d] = 0;
        }
    }
    /* pass an EOF on once everything before it went out */
    if (c->eof[d] && c->len[d] == 0 && !c->shut[to]) {
        shutdown(c->fd[to], SHUT_WR);
        c->shut[to] = 1;
    }
    return 0;
}

static void *proxy_main(void *arg)
{
    tcp_proxy_t *p = arg;
    struct pollfd pfd[2 + 2 * PROXY_MAX_PAIRS];
    p->last_refill_us = now_us();
    for (;;) {
        /* take the wanted state; apply a DROP before publishing it */
        pthread_mutex_lock(&p->mu);
        int stop = p->stop;
        tcp_proxy_mode_t mode = p->mode;
        size_t rate = p->rate;
        int target = p->target;
        uint64_t gen = p->gen;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        if (mode == TCP_PROXY_DROP)
            while (p->n_pairs)
                pair_close(p, p->n_pairs - 1, 1);
        pthread_mutex_lock(&p->mu);
        if (p->applied != gen) {
            p->applied = gen;
            pthread_cond_broadcast(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);

        /* refill the bucket: rate per second, at most 1/10 s worth */
        int throttle = mode == TCP_PROXY_THROTTLE;
        long long t = now_us();
        if (throttle) {
            double cap = (double)rate / 10 > 1024 ? (double)rate / 10 : 1024;
            for (int d = 0; d < 2; d++) {
                p->tokens[d] += (double)rate * (double)(t - p->last_refill_us) / 1e6;
                if (p->tokens[d] > cap)
                    p->tokens[d] = cap;
            }
        }
        p->last_refill_us = t;

        nfds_t n = 0;
        pfd[n++] = (struct pollfd){p->wake[0], POLLIN, 0};
        pfd[n++] = (struct pollfd){p->listen_fd, POLLIN, 0};
        for (size_t i = 0; i < p->n_pairs; i++) {
            pair_t *c = p->pairs[i];
            c->poll_idx[0] = c->poll_idx[1] = -1;
            if (mode == TCP_PROXY_STALL)
                continue; /* forward nothing, notice nothing */
            for (int d = 0; d < 2; d++) {
                short ev = 0;
                int can_read = !throttle || p->tokens[d] >= 1;
                if (c->len[d] == 0 && !c->eof[d] && can_read)
                    ev |= POLLIN;
                if (c->len[!d] > c->off[!d])
                    ev |= POLLOUT;
                if (ev) {
                    c->poll_idx[d] = (int)n;
                    pfd[n++] = (struct pollfd){c->fd[d], ev, 0};
                }
            }
        }
        int timeout = throttle ? 10 : 200;
        if (poll(pfd, n, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            char junk[64];
            while (read(p->wake[0], junk, sizeof junk) > 0) {
            }
        }
        if (pfd[1].revents & POLLIN)
            accept_one(p, mode, target);
        if (mode == TCP_PROXY_STALL)
            continue;
        for (size_t i = p->n_pairs; i-- > 0;) {
            pair_t *c = p->pairs[i];
            short rev[2] = {0, 0};
            for (int d = 0; d < 2; d++)
                if (c->poll_idx[d] >= 0)
                    rev[d] = pfd[c->poll_idx[d]].revents;
            int bad = pump(p, c, 0, rev[0], rev[1], throttle) != 0 ||
                      pump(p, c, 1, rev[1], rev[0], throttle) != 0;
            if (bad)
                pair_close(p, i, 1);
            else if (c->eof[0] && c->eof[1] && c->len[0] == 0 && c->len[1] == 0)
                pair_close(p, i, 0);
        }
    }
    while (p->n_pairs)
        pair_close(p, p->n_pairs - 1, 1);
    return NULL;
}

int tcp_proxy_start(int target_port, tcp_proxy_t **out)
{
    *out = NULL;
    tcp_proxy_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->listen_fd = p->wake[0] = p->wake[1] = -1;
    p->target = target_port;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int err = 0;
    if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail_errno;
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p->listen_fd < 0)
        goto fail_errno;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->listen_fd, 64) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&a, &al) != 0)
        goto fail_errno;
    p->port = ntohs(a.sin_port);
    err = pthread_create(&p->thread, NULL, proxy_main, p);
    if (err != 0) {
        err = -err;
        goto fail;
    }
    *out = p;
    return 0;
fail_errno:
    err = -errno;
fail:
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    if (p->wake[0] >= 0) {
        close(p->wake[0]);
        close(p->wake[1]);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    return err;
}

int tcp_proxy_port(const tcp_proxy_t *p)
{
    return p->port;
}

static void wake_loop(tcp_proxy_t *p)
{
    char c = 1;
    ssize_t r = write(p->wake[1], &c, 1);
    (void)r; /* a full pipe already means "wake up" */
}

void tcp_proxy_set_mode(tcp_proxy_t *p, tcp_proxy_mode_t mode, size_t rate)
{
    pthread_mutex_lock(&p->mu);
    p->mode = mode;
    p->rate = rate;
    uint64_t gen = ++p->gen;
    wake_loop(p);
    /* wait until the loop has taken it (a DROP has reset every connection) */
    while (p->applied < gen && !p->stop)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void tcp_proxy_set_target(tcp_proxy_t *p, int target_port)
{
    pthread_mutex_lock(&p->mu);
    p->target = target_port;
    p->gen++;
    pthread_mutex_unlock(&p->mu);
    wake_loop(p);
}

void tcp_proxy_stats(tcp_proxy_t *p, tcp_proxy_stats_t *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}

void tcp_proxy_stop(tcp_proxy_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    wake_loop(p);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
