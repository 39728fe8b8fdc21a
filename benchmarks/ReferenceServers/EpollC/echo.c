/*
 * The physical floor of benchmarks/run.sh: a minimal epoll echo server in C. One thread per core, each with its own
 * SO_REUSEPORT listener and its own edge-triggered epoll; each connection reads into its own 64 KiB buffer and writes
 * the bytes back in place (an echo of the byte stream is an echo of every frame). No framing, no allocation per
 * message, no queue: what a server cannot beat on this machine. Not a peer: CbuffTcp's ratio to it is reported per cell.
 *
 * Build: cc -O2 -pthread -o echo echo.c     Run: ./echo PORT   (prints "listening on 127.0.0.1:PORT")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER 65536

struct conn { int fd; int listener; size_t pending, offset; char buf[BUFFER]; };

static int port;

static int listen_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) { perror("listen"); exit(1); }
    return fd;
}

/* Writes what is pending; 1 when all of it went, 0 when the socket is full, -1 on error. */
static int flush(struct conn *c) {
    while (c->pending) {
        ssize_t n = send(c->fd, c->buf + c->offset, c->pending, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->offset += n; c->pending -= n;
    }
    c->offset = 0;
    return 1;
}

/* Reads and echoes until the socket is drained or full; -1 when the connection is over. */
static int serve(struct conn *c) {
    int flushed = flush(c);
    if (flushed <= 0) return flushed;
    for (;;) {
        ssize_t n = recv(c->fd, c->buf, BUFFER, 0);
        if (n == 0) return -1;
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->pending = n;
        flushed = flush(c);
        if (flushed <= 0) return flushed; /* full: EPOLLOUT resumes, then reading goes on */
    }
}

static void *loop(void *unused) {
    (void)unused;
    int ep = epoll_create1(0), listener = listen_socket();
    struct conn *accepting = calloc(1, sizeof *accepting);
    accepting->fd = listener; accepting->listener = 1;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = accepting }, events[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->listener) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event cev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = nc };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (serve(c) < 0) { close(c->fd); free(c); }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    port = argc > 1 ? atoi(argv[1]) : 9000;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pthread_t threads[64];
    for (long i = 0; i < cores && i < 64; i++) pthread_create(&threads[i], NULL, loop, NULL);
    printf("listening on 127.0.0.1:%d (%ld threads)\n", port, cores);
    fflush(stdout);
    pthread_join(threads[0], NULL);
    return 0;
}
