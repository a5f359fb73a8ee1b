/* fanout: commit → receipt latency for N WebSocket subscribers of one table,
 * measured by a C client (epoll, one thread) so the client's own cost
 * stays small next to the server's. Usage:
 *   fanout PORT TOKEN DB N WRITES [json|v2]
 * Each subscriber (speaking v1.json.spacetimedb, or v2.bsatn.spacetimedb)
 * subscribes to `SELECT * FROM ev WHERE n < 0`; then WRITES
 * times the client sends one HTTP INSERT (n < 0) through /sql and waits
 * until every subscriber has its TransactionUpdate. Prints JSON:
 * {"p50_ms":…, "p99_ms":…, "max_ms":…, "receipts":…, "write_p50_ms":…,
 *  "acked_p50_ms":…, "acked_p99_ms":…}: from the write sent, and from its
 * answer (the commit acknowledged; 0 for an update that came first).
 * A line "ready" comes first, once every subscriber is live.
 *
 *   fanout --floor N WRITES THREADS
 * measures the machine's floor for the same delivery with no server: N
 * loopback TCP connections, THREADS threads (as many as the server's event
 * loops) writing one 400-byte message to each, this client reading them
 * as above. Prints {"p50_ms":…, "p99_ms":…, "max_ms":…}. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k <= 0) {
            perror("write");
            exit(1);
        }
        c += k, n -= (size_t)k;
    }
}

/* A masked client frame: text, or binary (op 2). */
static void send_frame_op(int fd, int op, const void *data, size_t n) {
    const uint8_t *text = data;
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = (uint8_t)(0x80 | op);
    if (n < 126) {
        h[hl++] = (uint8_t)(0x80 | n);
    } else {
        h[hl++] = 0x80 | 126;
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    }
    static const uint8_t mask[4] = {1, 2, 3, 4};
    memcpy(h + hl, mask, 4);
    hl += 4;
    uint8_t *buf = malloc(hl + n);
    memcpy(buf, h, hl);
    for (size_t i = 0; i < n; i++) buf[hl + i] = (uint8_t)text[i] ^ mask[i % 4];
    send_all(fd, buf, hl + n);
    free(buf);
}

static int binary; /* speak v2.bsatn */

static void send_subscribe(int fd) {
    static const char q[] = "SELECT * FROM ev WHERE n < 0";
    if (!binary) {
        const char *m = "{\"SubscribeSingle\":{\"query\":\"SELECT * FROM ev WHERE n < 0\",\"request_id\":1,"
                        "\"query_id\":{\"id\":1}}}";
        send_frame_op(fd, 1, m, strlen(m));
        return;
    }
    /* v2 Subscribe{request_id 1, query_set_id 1, [q]} */
    uint8_t m[64];
    size_t k = 0, ql = sizeof q - 1;
    m[k++] = 0;
    uint32_t v[4] = {1, 1, 1, (uint32_t)ql};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++) m[k++] = (uint8_t)(v[i] >> (8 * b));
    memcpy(m + k, q, ql);
    send_frame_op(fd, 2, m, k + ql);
}

typedef struct {
    int fd;
    char *in;
    size_t len, cap;
    int stage; /* 0: 101, 1: IdentityToken, 2: Applied, 3: live */
    int got;   /* updates received in the current round */
} sub_t;

/* Takes whole server frames off s->in; returns how many TransactionUpdates. */
static int take_frames(sub_t *s) {
    int updates = 0;
    for (;;) {
        if (s->stage == 0) {
            char *end = memmem(s->in, s->len, "\r\n\r\n", 4);
            if (!end) return updates;
            if (strncmp(s->in, "HTTP/1.1 101", 12) != 0) {
                fprintf(stderr, "handshake refused: %.*s\n", (int)(end - s->in), s->in);
                exit(1);
            }
            size_t used = (size_t)(end - s->in) + 4;
            memmove(s->in, s->in + used, s->len - used);
            s->len -= used;
            s->stage = 1;
            continue;
        }
        if (s->len < 2) return updates;
        uint8_t *b = (uint8_t *)s->in;
        uint64_t n = b[1] & 0x7f;
        size_t off = 2;
        if (n == 126) {
            if (s->len < 4) return updates;
            n = (uint64_t)b[2] << 8 | b[3];
            off = 4;
        } else if (n == 127) {
            if (s->len < 10) return updates;
            n = 0;
            for (int i = 0; i < 8; i++) n = n << 8 | b[2 + i];
            off = 10;
        }
        if (s->len < off + n) return updates;
        int op = b[0] & 0x0f;
        if (op == 1 || op == 2) {
            const uint8_t *p = b + off;
            if (s->stage == 1) {
                s->stage = 2;
                send_subscribe(s->fd);
            } else if (s->stage == 2) {
                s->stage = 3;
            } else if (!binary && n > 20 && memcmp(p, "{\"TransactionUpdate", 19) == 0) {
                updates++;
            } else if (binary && n > 2 && p[0] == 0 && p[1] == 4) { /* TransactionUpdate */
                updates++;
            }
        } else if (op == 8) {
            fprintf(stderr, "closed by the server\n");
            exit(1);
        }
        memmove(s->in, s->in + off + n, s->len - off - n);
        s->len -= off + n;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the floor: the same delivery with nothing but write(2) ---------------- */

static int *floor_fds, floor_n, floor_threads;
static pthread_barrier_t floor_go, floor_done;
static volatile int floor_stop;

static void *floor_writer(void *arg) {
    int k = (int)(intptr_t)arg;
    char msg[400];
    memset(msg, 'x', sizeof msg);
    for (;;) {
        pthread_barrier_wait(&floor_go);
        if (floor_stop) return NULL;
        for (int i = k; i < floor_n; i += floor_threads) send_all(floor_fds[i], msg, sizeof msg);
        pthread_barrier_wait(&floor_done);
    }
}

static int floor_main(int n, int writes, int threads) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(l, (struct sockaddr *)&a, &al) < 0 ||
        listen(l, 4096) < 0) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0), one = 1;
    int *cli = calloc((size_t)n, sizeof *cli);
    floor_fds = calloc((size_t)n, sizeof *floor_fds);
    floor_n = n, floor_threads = threads;
    for (int i = 0; i < n; i++) {
        cli[i] = dial(ntohs(a.sin_port));
        floor_fds[i] = accept(l, NULL, NULL);
        setsockopt(floor_fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cli[i], &ev);
    }
    pthread_barrier_init(&floor_go, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&floor_done, NULL, (unsigned)threads + 1);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    for (int k = 0; k < threads; k++) pthread_create(&th[k], NULL, floor_writer, (void *)(intptr_t)k);
    double *lat = calloc((size_t)n * (size_t)writes + 1, sizeof *lat);
    size_t nlat = 0;
    struct epoll_event evs[256];
    char buf[4096];
    for (int r = 0; r < writes; r++) {
        usleep(2000);
        double t0 = now_ms();
        pthread_barrier_wait(&floor_go);
        for (int got = 0; got < n;) {
            int k = epoll_wait(ep, evs, 256, 20000);
            if (k <= 0) {
                fprintf(stderr, "floor: timed out\n");
                return 1;
            }
            double t = now_ms();
            for (int e = 0; e < k; e++)
                if (read(cli[evs[e].data.u32], buf, sizeof buf) > 0) lat[nlat++] = t - t0, got++;
        }
        pthread_barrier_wait(&floor_done);
    }
    floor_stop = 1;
    pthread_barrier_wait(&floor_go);
    for (int k = 0; k < threads; k++) pthread_join(th[k], NULL);
    qsort(lat, nlat, sizeof *lat, cmp_double);
    printf("{\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n", lat[nlat / 2], lat[(size_t)(nlat * 0.99)],
           lat[nlat - 1]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "--floor") == 0) return floor_main(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc < 6) {
        fprintf(stderr, "usage: fanout PORT TOKEN DB N WRITES [json|v2] | fanout --floor N WRITES THREADS\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[4]), writes = atoi(argv[5]);
    binary = argc > 6 && strcmp(argv[6], "v2") == 0;
    const char *token = argv[2], *db = argv[3];
    int ep = epoll_create1(0);
    sub_t *subs = calloc((size_t)n, sizeof *subs);
    char req[1024];
    snprintf(req, sizeof req,
             "GET /v1/database/%s/subscribe HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Protocol: %s\r\nAuthorization: Bearer %s\r\n\r\n",
             db, binary ? "v2.bsatn.spacetimedb" : "v1.json.spacetimedb", token);
    for (int i = 0; i < n; i++) {
        subs[i].fd = dial(port);
        subs[i].cap = 1 << 16;
        subs[i].in = malloc(subs[i].cap);
        send_all(subs[i].fd, req, strlen(req));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
    }
    double *lat = calloc((size_t)n * (size_t)writes + 1, sizeof *lat), *wr = calloc((size_t)writes + 1, sizeof *wr);
    double *acked = calloc((size_t)n * (size_t)writes + 1, sizeof *acked);
    size_t nlat = 0;
    int live = 0, round = -1, pending = 0;
    double t0 = 0;
    struct epoll_event evs[256];
    char http[2048];
    int hfd = -1;
    for (;;) {
        if (live == n && pending == 0) {
            if (round == -1) {
                /* every subscriber is live: a caller measuring the server's
                 * cost of delivery alone starts counting now */
                printf("ready\n");
                fflush(stdout);
                usleep(200000);
            }
            if (hfd >= 0) close(hfd);
            if (++round == writes) break;
            /* the next write: every subscriber must receive it */
            char body[64];
            int bl = snprintf(body, sizeof body, "INSERT INTO ev(n) VALUES (-%d)", round + 1);
            int hl = snprintf(http, sizeof http,
                              "POST /v1/database/%s/sql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                              "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                              db, token, bl, body);
            hfd = dial(port);
            pending = n;
            for (int i = 0; i < n; i++) subs[i].got = 0;
            t0 = now_ms();
            send_all(hfd, http, (size_t)hl);
            char tmp[4096];
            ssize_t k = read(hfd, tmp, sizeof tmp); /* the answer: after the commit */
            if (k <= 0 || strncmp(tmp, "HTTP/1.1 200", 12) != 0) {
                fprintf(stderr, "write failed: %.*s\n", (int)(k > 0 ? k : 0), tmp);
                return 1;
            }
            wr[round] = now_ms() - t0;
        }
        int k = epoll_wait(ep, evs, 256, 20000);
        if (k <= 0) {
            fprintf(stderr, "timed out (live %d/%d, pending %d)\n", live, n, pending);
            return 1;
        }
        double t = now_ms();
        for (int e = 0; e < k; e++) {
            sub_t *s = &subs[evs[e].data.u32];
            if (s->cap - s->len < 4096) s->in = realloc(s->in, s->cap *= 2);
            ssize_t r = read(s->fd, s->in + s->len, s->cap - s->len);
            if (r <= 0) {
                fprintf(stderr, "a subscriber's connection ended\n");
                return 1;
            }
            s->len += (size_t)r;
            int before = s->stage;
            int u = take_frames(s);
            if (before < 3 && s->stage == 3) live++;
            for (int x = 0; x < u && round >= 0; x++) {
                if (s->got++ == 0) {
                    double after = t - (t0 + wr[round]);
                    acked[nlat] = after > 0 ? after : 0;
                    lat[nlat++] = t - t0;
                    pending--;
                }
            }
        }
    }
    qsort(lat, nlat, sizeof *lat, cmp_double);
    qsort(acked, nlat, sizeof *acked, cmp_double);
    qsort(wr, (size_t)writes, sizeof *wr, cmp_double);
    printf("{\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"receipts\": %zu, \"write_p50_ms\": %.3f, "
           "\"acked_p50_ms\": %.3f, \"acked_p99_ms\": %.3f}\n",
           lat[nlat / 2], lat[(size_t)(nlat * 0.99)], lat[nlat - 1], nlat, wr[writes / 2], acked[nlat / 2],
           acked[(size_t)(nlat * 0.99)]);
    return 0;
}
