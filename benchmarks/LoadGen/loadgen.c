// A second load generator for the framed echo (4-byte big-endian length, then the payload), in C: epoll, level-triggered,
// one thread by default, never spinning (it sleeps in epoll_wait). It exists so that no figure in docs/benchmarks.md
// holds for `cbuff bench` alone: it is a different client stack (no .NET runtime, no thread pool), and it spends less
// CPU per message than `cbuff bench`, leaving more of the two cores to the server. Each connection keeps `depth` frames
// in flight; a reply is checked by its length header only (the payload is not compared, to keep the generator lean).
// Latency is from the moment a frame is owed to the socket until its reply's last byte is read.
//
// Build: cc -O2 -pthread -o loadgen loadgen.c
// Usage: loadgen --port P [--connections 1] [--size 32] [--depth 1] [--seconds 5] [--warmup 1] [--threads 1] [--json F]
// Prints one JSON object with the fields benchmarks/report.py reads from `cbuff bench --json`.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Latency histogram: 1 us buckets to 10 ms, then 100 us buckets to 1 s, then one overflow bucket.
#define FINE 10000
#define COARSE 9900
#define BUCKETS (FINE + COARSE + 1)

typedef struct {
    int fd;
    uint64_t owed;     // bytes of whole frames still to write
    uint64_t written;  // bytes written so far: where the next write starts in the template
    uint32_t left;     // payload bytes of the reply being read; 0 while reading a header
    uint8_t header[4];
    int have;          // header bytes read so far
    int waiting_out;   // EPOLLOUT armed
    uint64_t *stamps;  // when each frame in flight was owed, oldest first (a ring of depth)
    int head, count;
} conn;

typedef struct {
    conn *conns;
    int n;
    uint64_t messages, errors;
    uint64_t *hist;
    pthread_t thread;
} worker;

static int port = 0, connections = 1, size = 32, depth = 1, threads = 1;
static double seconds = 5, warmup = 1;
static const char *json_path = NULL;
static uint8_t *template_bytes;  // depth frames back to back: any offset within one frame starts a valid run
static uint64_t frame_len, template_len;
static uint64_t t_measure, t_end;  // monotonic ns

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record(worker *w, uint64_t ns) {
    uint64_t us = ns / 1000;
    size_t i = us < FINE ? us : us < FINE + COARSE * 100ull ? FINE + (us - FINE) / 100 : BUCKETS - 1;
    w->hist[i]++;
}

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static double bucket_us(size_t i) { return i < FINE ? (double)i : FINE + (double)(i - FINE) * 100; }

static void owe_frame(conn *c, uint64_t t) {
    c->stamps[(c->head + c->count) % depth] = t;
    c->count++;
    c->owed += frame_len;
}

static void fail(worker *w, int ep, conn *c, const char *why) {
    if (w->errors++ == 0) fprintf(stderr, "first: connection %d: %s\n", c->fd, why);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static void set_out(int ep, conn *c, int want) {
    if (c->waiting_out == want) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->waiting_out = want;
}

static int flush(worker *w, int ep, conn *c) {
    while (c->owed > 0) {
        uint64_t at = c->written % frame_len, n = template_len - at;
        if (n > c->owed) n = c->owed;
        ssize_t k = send(c->fd, template_bytes + at, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN) break;
            fail(w, ep, c, strerror(errno));
            return -1;
        }
        c->owed -= (uint64_t)k;
        c->written += (uint64_t)k;
    }
    set_out(ep, c, c->owed > 0);
    return 0;
}

static int receive(worker *w, int ep, conn *c, uint8_t *buf, size_t cap, int measuring) {
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n == 0) { fail(w, ep, c, "closed by the server"); return -1; }
        if (n < 0) {
            if (errno == EAGAIN) return 0;
            fail(w, ep, c, strerror(errno));
            return -1;
        }
        uint64_t t = now_ns();
        for (ssize_t i = 0; i < n;) {
            if (c->left == 0) {
                c->header[c->have++] = buf[i++];
                if (c->have < 4) continue;
                c->have = 0;
                c->left = (uint32_t)c->header[0] << 24 | (uint32_t)c->header[1] << 16 | (uint32_t)c->header[2] << 8 | c->header[3];
                if (c->left != (uint32_t)size) { fail(w, ep, c, "a reply of the wrong length"); return -1; }
                continue;
            }
            uint32_t take = (uint64_t)(n - i) < c->left ? (uint32_t)(n - i) : c->left;
            c->left -= take;
            i += take;
            if (c->left > 0) continue;
            if (measuring) { w->messages++; record(w, t - c->stamps[c->head]); }
            c->head = (c->head + 1) % depth;
            c->count--;
            owe_frame(c, t);
        }
        if ((size_t)n < cap) return 0;  // drained: level-triggered epoll reports the rest
    }
}

static void *run(void *arg) {
    worker *w = arg;
    int ep = epoll_create1(0);
    uint64_t t0 = now_ns();
    for (int i = 0; i < w->n; i++) {
        conn *c = &w->conns[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        for (int d = 0; d < depth; d++) owe_frame(c, t0);
        flush(w, ep, c);
    }
    size_t cap = 256 * 1024;
    uint8_t *buf = malloc(cap);
    struct epoll_event events[256];
    int measuring = 0;
    for (;;) {
        int n = epoll_wait(ep, events, 256, 100);
        uint64_t t = now_ns();
        if (t >= t_end) break;
        if (!measuring && t >= t_measure) { measuring = 1; w->messages = 0; memset(w->hist, 0, BUCKETS * sizeof *w->hist); }
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            if (c->fd < 0) continue;
            if ((events[i].events & EPOLLOUT) && flush(w, ep, c) < 0) continue;
            if ((events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && receive(w, ep, c, buf, cap, measuring) < 0) continue;
            if (c->owed > 0 && !c->waiting_out) flush(w, ep, c);
        }
    }
    free(buf);
    close(ep);
    return NULL;
}

static int connect_one(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) { perror("fcntl"); exit(1); }
    return fd;
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--connections")) connections = atoi(v);
        else if (!strcmp(k, "--size")) size = atoi(v);
        else if (!strcmp(k, "--depth")) depth = atoi(v);
        else if (!strcmp(k, "--seconds")) seconds = atof(v);
        else if (!strcmp(k, "--warmup")) warmup = atof(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--json")) json_path = v;
        else { fprintf(stderr, "unknown option %s\n", k); return 2; }
    }
    if (port <= 0 || connections < 1 || size < 1 || depth < 1 || threads < 1 || seconds <= 0) {
        fprintf(stderr, "usage: loadgen --port P [--connections N] [--size B] [--depth D] [--seconds S] [--warmup S] [--threads T] [--json F]\n");
        return 2;
    }
    if (threads > connections) threads = connections;
    frame_len = 4 + (uint64_t)size;
    template_len = frame_len * (uint64_t)depth;
    template_bytes = malloc(template_len);
    for (uint64_t i = 0; i < template_len; i++) {
        uint64_t at = i % frame_len;
        template_bytes[i] = at < 4 ? (uint8_t)((uint32_t)size >> (8 * (3 - at))) : (uint8_t)(at * 31);
    }
    conn *all = calloc((size_t)connections, sizeof *all);
    for (int i = 0; i < connections; i++) {
        all[i].fd = connect_one();
        all[i].stamps = calloc((size_t)depth, sizeof(uint64_t));
    }
    fprintf(stderr, "connected %d\n", connections);
    worker *ws = calloc((size_t)threads, sizeof *ws);
    uint64_t start = now_ns();
    t_measure = start + (uint64_t)(warmup * 1e9);
    t_end = t_measure + (uint64_t)(seconds * 1e9);
    for (int t = 0, from = 0; t < threads; t++) {
        int n = connections / threads + (t < connections % threads);
        ws[t] = (worker){.conns = all + from, .n = n, .hist = calloc(BUCKETS, sizeof(uint64_t))};
        from += n;
        pthread_create(&ws[t].thread, NULL, run, &ws[t]);
    }
    // The generator's own CPU over the measured window, as `cbuff bench` reports it.
    struct timespec measure = {.tv_sec = (time_t)(t_measure / 1000000000u), .tv_nsec = (long)(t_measure % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &measure, NULL) == EINTR) {}
    double cpu_before = cpu_seconds();
    uint64_t messages = 0, errors = 0, *hist = calloc(BUCKETS, sizeof(uint64_t));
    for (int t = 0; t < threads; t++) {
        pthread_join(ws[t].thread, NULL);
        messages += ws[t].messages;
        errors += ws[t].errors;
        for (size_t i = 0; i < BUCKETS; i++) hist[i] += ws[t].hist[i];
    }
    double cpu = cpu_seconds() - cpu_before;
    double p[4] = {50, 90, 99, 99.9}, at[4] = {0};
    uint64_t seen = 0;
    for (size_t i = 0, k = 0; i < BUCKETS && k < 4; i++) {
        seen += hist[i];
        while (k < 4 && messages > 0 && seen >= (uint64_t)(p[k] / 100 * (double)messages + 0.5)) at[k++] = bucket_us(i);
    }
    FILE *o = json_path ? fopen(json_path, "w") : stdout;
    fprintf(o, "{\"generator\": \"loadgen\", \"connections\": %d, \"size\": %d, \"depth\": %d, \"threads\": %d, \"seconds\": %g, "
               "\"messages\": %llu, \"messagesPerSecond\": %.1f, \"megabytesPerSecond\": %.3f, "
               "\"latencyMicroseconds\": {\"p50\": %g, \"p90\": %g, \"p99\": %g, \"p999\": %g}, \"errors\": %llu, \"benchCpuSeconds\": %.3f}\n",
            connections, size, depth, threads, seconds, (unsigned long long)messages, messages / seconds,
            messages * (double)size / seconds / 1e6, at[0], at[1], at[2], at[3], (unsigned long long)errors, cpu);
    if (o != stdout) fclose(o);
    return errors > 0;
}
