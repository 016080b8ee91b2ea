/*
 * tests/tcp_proxy.h — a fault-injecting TCP proxy for end-to-end tests.
 *
 * The proxy listens on 127.0.0.1:0 (the kernel picks the port) and forwards
 * every accepted connection to 127.0.0.1:<target>. One thread runs a poll()
 * loop over the listening socket, a wake-up pipe and every connection pair;
 * the test thread changes the mode, the target and reads the counters through
 * the calls below (all thread-safe).
 *
 * Modes:
 *   PASS      forward both ways as fast as the sockets go.
 *   DROP      at once: every open connection is reset (RST, as when a NAT
 *             or a Wi-Fi link drops); while in this mode a new connection is
 *             accepted and reset at once.
 *   STALL     accept, keep every connection open, forward nothing (a link
 *             that black-holes packets); back in PASS, what the kernel
 *             buffered meanwhile flows on.
 *   THROTTLE  forward at most rate bytes per second in each direction,
 *             summed over all connections (a token bucket of 1/10 s).
 *
 * A connection to a target that refuses is closed (RST) towards the client.
 */
#ifndef FL_TESTS_TCP_PROXY_H
#define FL_TESTS_TCP_PROXY_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TCP_PROXY_PASS = 0,
    TCP_PROXY_DROP = 1,
    TCP_PROXY_STALL = 2,
    TCP_PROXY_THROTTLE = 3
} tcp_proxy_mode_t;

typedef struct {
    uint64_t bytes_up;   /* client -> target, forwarded */
    uint64_t bytes_down; /* target -> client, forwarded */
    uint64_t accepted;   /* connections accepted from clients */
    uint64_t forwarded;  /* of those, connected to the target */
    uint64_t reset;      /* connections reset by DROP (open or new) */
    unsigned open;       /* connection pairs open now */
} tcp_proxy_stats_t;

typedef struct tcp_proxy tcp_proxy_t;

/* Listen on 127.0.0.1:0 and forward to 127.0.0.1:target_port, in PASS
 * mode. Returns 0 or -errno. */
int tcp_proxy_start(int target_port, tcp_proxy_t **out);
/* The port the proxy listens on. */
int tcp_proxy_port(const tcp_proxy_t *p);
/* Change the mode; rate (bytes/s) matters for THROTTLE only. Takes effect
 * before the call returns for DROP (the open connections are reset by
 * then), within one loop turn (<= 10 ms) otherwise. */
void tcp_proxy_set_mode(tcp_proxy_t *p, tcp_proxy_mode_t mode, size_t rate);
/* Forward new connections to another port (open ones keep theirs). */
void tcp_proxy_set_target(tcp_proxy_t *p, int target_port);
void tcp_proxy_stats(tcp_proxy_t *p, tcp_proxy_stats_t *out);
/* Stop the thread, close every socket, free. NULL is fine. */
void tcp_proxy_stop(tcp_proxy_t *p);

#endif
