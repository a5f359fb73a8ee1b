/* net sessions: a real server (one loop) with an "echo" protocol behind
 * http_upgrade. Checks the 101 hand-over, bytes that came with the
 * request, end-of-pass calls, posts from another thread, drops after close,
 * and that an upgrade request answered normally closes its connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/router.h"
#include "net/server.h"
#include "net/session.h"

static net_session_t *volatile session;
static volatile int closed_calls, drops;

static void echo_data(net_session_t *s, void *ctx, const char *p, size_t n) {
    (void)ctx;
    net_session_write(s, p, n);
    net_session_want_pass(s);
}

static void echo_pass(net_session_t *s, void *ctx) {
    (void)ctx;
    net_session_write(s, "|pass\n", 6);
}

static void echo_close(net_session_t *s, void *ctx) {
    (void)s, (void)ctx;
    __atomic_add_fetch(&closed_calls, 1, __ATOMIC_SEQ_CST);
}

static const net_proto_t echo = {.on_data = echo_data, .on_close = echo_close, .on_pass = echo_pass};

static void h_echo(http_req_t *r) {
    if (!http_wants_upgrade(r)) {
        http_respond(r, 426, "text/plain", "upgrade", 7);
        return;
    }
    http_add_header(r, "Upgrade", "echo");
    http_add_header(r, "Connection", "Upgrade");
    net_session_t *s = http_upgrade(r, &echo, NULL);
    net_session_retain(s); /* the test's */
    __atomic_store_n(&session, s, __ATOMIC_SEQ_CST);
}

static void h_plain(http_req_t *r) { http_respond(r, 200, "text/plain", "plain", 5); }

static void render(http_req_t *r, int status, const char *m) { http_respond(r, status, "text/plain", m, strlen(m)); }
static const dialect_t d = {.name = "test", .render_error = render};

static int port;

static int setup(void **st) {
    (void)st;
    server_block_signals();
    router_t *rt = router_new();
    router_add(rt, &d, M_GET, "/echo", h_echo);
    router_add(rt, &d, M_GET, "/plain", h_plain);
    server_config_t cfg = {.host = "127.0.0.1", .threads = 1, .max_header_bytes = 8192, .max_body_bytes = 1 << 16,
                           .max_connections = 100, .header_timeout_ms = 5000, .body_timeout_ms = 5000,
                           .idle_timeout_ms = 5000, .quiet = true, .router = rt};
    char err[256];
    server_t *srv = server_start(&cfg, err, sizeof err);
    if (!srv) return -1;
    port = server_port(srv);
    return 0;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads until `want` appears (or EOF / 5 s); returns what was read. */
static size_t read_until(int fd, char *buf, size_t cap, const char *want) {
    size_t len = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (len + 1 < cap && poll(&p, 1, 5000) > 0) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = 0;
        if (want && strstr(buf, want)) break;
    }
    buf[len] = 0;
    return len;
}

static void posted(net_session_t *s, void *ctx, void *data) {
    (void)ctx;
    net_session_write(s, data, strlen(data));
}

static void dropped(void *data) {
    (void)data;
    __atomic_add_fetch(&drops, 1, __ATOMIC_SEQ_CST);
}

static void upgrade_echo_post_close(void **st) {
    (void)st;
    int fd = dial();
    const char req[] = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello\n";
    assert_int_equal(send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    char buf[4096];
    read_until(fd, buf, sizeof buf, "|pass\n");
    assert_non_null(strstr(buf, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(buf, "Upgrade: echo\r\n"));
    /* the bytes sent with the request were the protocol's, then one pass */
    assert_non_null(strstr(buf, "\r\n\r\nhello\n|pass\n"));
    assert_int_equal(send(fd, "again\n", 6, 0), 6);
    read_until(fd, buf, sizeof buf, "|pass\n");
    assert_string_equal(buf, "again\n|pass\n");

    /* a post from this (non-loop) thread runs on the session's loop */
    net_session_t *s = __atomic_load_n(&session, __ATOMIC_SEQ_CST);
    assert_non_null(s);
    assert_int_equal(net_session_post(s, posted, "posted\n", dropped), 0);
    read_until(fd, buf, sizeof buf, "posted\n");
    assert_string_equal(buf, "posted\n");

    /* the peer leaves: on_close once, later posts are dropped */
    close(fd);
    for (int i = 0; i < 500 && !__atomic_load_n(&closed_calls, __ATOMIC_SEQ_CST); i++) usleep(10000);
    assert_int_equal(closed_calls, 1);
    assert_int_equal(net_session_post(s, posted, "late\n", dropped), -1);
    assert_int_equal(drops, 1);
    net_session_release(s);
}

static void upgrade_refused_or_not_asked(void **st) {
    (void)st;
    char buf[4096];
    /* no Upgrade: an ordinary answer, the connection stays for more */
    int fd = dial();
    const char plain[] = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, plain, sizeof plain - 1, 0);
    read_until(fd, buf, sizeof buf, "upgrade");
    assert_non_null(strstr(buf, "HTTP/1.1 426 "));
    send(fd, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", 33, 0);
    read_until(fd, buf, sizeof buf, "plain");
    assert_non_null(strstr(buf, "HTTP/1.1 200 "));
    close(fd);
    /* an upgrade request answered normally: what follows is not HTTP, so
     * the connection closes after the answer */
    fd = dial();
    const char up[] = "GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
                      "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, up, sizeof up - 1, 0);
    size_t n = read_until(fd, buf, sizeof buf, NULL); /* to EOF */
    assert_true(n > 0);
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    assert_null(strstr(strstr(buf, "plain") + 5, "HTTP/1.1"));
    close(fd);
}

/* ---- route matching ---- */

static int hit;
static char caps[HTTP_MAX_CAPTURES][64];
static int ncaps;

static void record(http_req_t *r, int which) {
    hit = which;
    ncaps = r->ncap;
    for (int i = 0; i < r->ncap; i++) snprintf(caps[i], sizeof caps[i], "%.*s", (int)r->cap_len[i], r->cap[i]);
}
static void r1(http_req_t *r) { record(r, 1); }
static void r2(http_req_t *r) { record(r, 2); }
static void r3(http_req_t *r) { record(r, 3); }
static void r4(http_req_t *r) { record(r, 4); }
static void r5(http_req_t *r) { record(r, 5); }
static void r6(http_req_t *r) { record(r, 6); }

static int route(const router_t *rt, const char *path) {
    http_req_t r = {0};
    r.path = (char *)path;
    r.method = M_GET;
    hit = 0;
    ncaps = -1;
    router_dispatch(rt, &r);
    return hit;
}

static void routes_match_segments(void **st) {
    (void)st;
    router_t *rt = router_new();
    router_add(rt, &d, M_GET, "/a", r1);
    router_add(rt, &d, M_GET, "/a/:x", r2);
    router_add(rt, &d, M_GET, "/a/:x/b", r3);
    router_add(rt, &d, M_GET, "/s/*", r4);
    router_add(rt, &d, M_GET, "/", r6);
    router_add(rt, &d, M_GET, "/*", r5);
    assert_int_equal(route(rt, "/a"), 1);
    assert_int_equal(ncaps, 0);
    assert_int_equal(route(rt, "/a/q"), 2);
    assert_string_equal(caps[0], "q");
    assert_int_equal(route(rt, "/a/"), 5); /* a trailing slash is no empty capture */
    assert_string_equal(caps[0], "a/");
    assert_int_equal(route(rt, "/a//b"), 3); /* an empty middle segment is */
    assert_int_equal(ncaps, 1);
    assert_string_equal(caps[0], "");
    assert_int_equal(route(rt, "/a/q%2F/b"), 3);
    assert_string_equal(caps[0], "q%2F");
    assert_int_equal(route(rt, "/a/q/b/"), 5);
    assert_int_equal(route(rt, "/ab"), 5);
    assert_int_equal(route(rt, "/a/q/c"), 5);
    assert_int_equal(route(rt, "/s"), 5);
    assert_int_equal(route(rt, "/s/"), 4);
    assert_string_equal(caps[0], "");
    assert_int_equal(route(rt, "/s/x/y/"), 4);
    assert_string_equal(caps[0], "x/y/");
    assert_int_equal(route(rt, "/"), 6);
    assert_int_equal(route(rt, "//"), 5);
    assert_string_equal(caps[0], "/");
    /* longer than any route: only "*" routes can take it */
    assert_int_equal(route(rt, "/s/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20"), 4);
    assert_string_equal(caps[0], "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20");
    assert_int_equal(route(rt, "/a/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20"), 5);
    router_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_match_segments),
        cmocka_unit_test(upgrade_echo_post_close),
        cmocka_unit_test(upgrade_refused_or_not_asked),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
