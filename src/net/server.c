/* server: HTTP/1.1 over libuv + http-parser (see server.h).
 *
 * Per connection, a small state machine drives the timers:
 *   IDLE     waiting for a request's first byte      idle timeout, then close
 *   HEADERS  reading the request line and headers     header timeout (fixed), 408
 *   BODY     reading the body                         body timeout (fixed), 408
 *   HANDLING the handler owns the request             no timer
 *   CLOSING  response sent, draining before close     linger timeout
 *   UPGRADED handed to another protocol (session.c)    none: the protocol's own
 * Input is read into a per-loop buffer and parsed in place; only bytes that
 * cannot be parsed yet (a pipelined request behind one being handled, or a
 * partial request) are copied into the connection's own buffer. */
#include "net/server.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "net/net_internal.h"
#include "util/json.h"
#include "util/metrics.h"
#include "util/thread.h"
#include "util/timeutil.h"

static http_parser_settings parser_settings;
static void process(conn_t *c);
void net_conn_close(conn_t *c);
static void finish_request(conn_t *c);
static void conn_start_reading(conn_t *c);
static void transport_error(conn_t *c, int status, const char *msg);
static void conn_close_gracefully(conn_t *c);
static void set_timer(conn_t *c, uint64_t ms);

/* ---- small helpers ---------------------------------------------------- */

const char *http_status_text(int s) {
    switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 530: return "Reducer Failed";
    default: return "Unknown";
    }
}

static const char *date_header(worker_t *w) {
    time_t now = time(NULL);
    if (now != w->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_at = now;
    }
    return w->date;
}

const char *http_header(const http_req_t *r, const char *name) {
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

void http_add_header(http_req_t *r, const char *name, const char *value) {
    buf_t *h = &r->extra_headers;
    buf_puts(h, name);
    buf_append(h, ": ", 2);
    /* Never let a value end the header block: CR and LF become spaces. */
    for (;;) {
        size_t n = strcspn(value, "\r\n");
        buf_append(h, value, n);
        if (!value[n]) break;
        buf_putc(h, ' ');
        value += n + 1;
    }
    buf_append(h, "\r\n", 2);
}

/* Closing a written file and unlinking it touch the disk (the last close
 * of an unlinked 100 MiB file frees its blocks): the pool does it. */
typedef struct {
    uv_work_t work;
    int fd;
    char *path;
} discard_t;

static void discard_work(uv_work_t *w) {
    discard_t *d = w->data;
    if (d->fd >= 0) close(d->fd);
    if (d->path) unlink(d->path);
}

static void discard_after(uv_work_t *w, int status) {
    (void)status;
    discard_t *d = w->data;
    free(d->path);
    free(d);
}

/* Takes fd (may be -1) and path (malloc'd, may be NULL). Loop thread. */
static void discard_file(worker_t *w, int fd, char *path) {
    if (fd < 0 && !path) return;
    discard_t *d = xcalloc(1, sizeof *d);
    d->work.data = d;
    d->fd = fd;
    d->path = path;
    if (uv_queue_work(&w->loop, &d->work, discard_work, discard_after) < 0) {
        discard_work(&d->work); /* the loop is going: do it here, once */
        discard_after(&d->work, 0);
    }
}

void http_discard_file(http_req_t *r, int fd, char *path) {
    ASSERT_ON_LOOP();
    discard_file(((conn_t *)r->conn)->w, fd, path);
}

/* Points target, path, query and the headers into the string arena (again,
 * after it may have moved). */
static void req_repoint(http_req_t *r) {
    char *b = r->strings.data;
    r->target = r->target_off >= 0 ? b + r->target_off : NULL;
    r->path = r->path_off >= 0 ? b + r->path_off : NULL;
    r->query = r->query_off >= 0 ? b + r->query_off : NULL;
    for (int i = 0; i < r->nheaders; i++) {
        r->headers[i].name = b + r->header_off[i];
        r->headers[i].value = r->headers[i].name + strlen(r->headers[i].name) + 1;
    }
}

/* Appends s[0..n) and a NUL to the arena; its offset. Call req_repoint
 * once the appends are done. */
static int32_t req_string(http_req_t *r, const char *s, size_t n) {
    int32_t off = (int32_t)r->strings.len;
    buf_reserve(&r->strings, n + 1);
    if (n) buf_append(&r->strings, s, n);
    buf_putc(&r->strings, 0);
    return off;
}

/* Freed requests a loop keeps to reuse: a request is one large block
 * (its header table), and allocating one per request made the allocator
 * consolidate its free lists every time. Kept with their arena and body
 * buffers when those are small. Not under AddressSanitizer, which should
 * see every request's memory go. */
#if defined(__SANITIZE_ADDRESS__)
#define REQ_KEEP 0
#else
#define REQ_KEEP 32
#endif
#define REQ_KEEP_BUF (16u * 1024)

static void req_free(http_req_t *r) {
    if (!r) return;
    conn_t *c = r->conn;
    if (r->body_path) discard_file(c->w, -1, r->body_path);
    buf_free(&r->extra_headers);
    if (r->prepared_free) r->prepared_free(r->prepared);
    worker_t *w = c->w;
    ASSERT_ON_LOOP();
    if (w->nfree_reqs >= REQ_KEEP) {
        buf_free(&r->body);
        buf_free(&r->strings);
        free(r);
        return;
    }
    buf_t strings = r->strings, body = r->body;
    if (strings.cap > REQ_KEEP_BUF) buf_free(&strings);
    if (body.cap > REQ_KEEP_BUF) buf_free(&body);
    memset(r, 0, offsetof(http_req_t, header_off));
    r->strings = strings, r->body = body;
    r->strings.len = r->body.len = 0;
    w->free_reqs[w->nfree_reqs++] = r;
}

void net_worker_free_reqs(worker_t *w) {
    while (w->nfree_reqs) {
        http_req_t *r = w->free_reqs[--w->nfree_reqs];
        buf_free(&r->body);
        buf_free(&r->strings);
        free(r);
    }
}

static http_req_t *req_new(conn_t *c) {
    worker_t *w = c->w;
    http_req_t *r = w->nfree_reqs ? w->free_reqs[--w->nfree_reqs] : xcalloc(1, sizeof *r);
    r->target_off = r->path_off = r->query_off = -1;
    r->conn = c;
    r->app = c->w->srv->cfg.app;
    r->start_us = time_mono_us();
    return r;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct {
    uv_write_t req;
    char *data;
} write_req_t;

#define STREAM_HIGH_WATER (1u << 20)
#define SPOOL_CHUNK (1u << 20) /* a spooled body is written this much at a time */

/* Wakes a stream waiting for its queue to drain. Through the loop's post
 * queue, never as a nested call: a stream that is always ready would
 * otherwise recurse once per chunk. */
static void run_drain(conn_t *c) {
    http_done_fn fn = c->drain_fn;
    if (!fn) return;
    c->drain_fn = NULL;
    http_post(c->req, fn, c->drain_data);
}

static void on_write(uv_write_t *wr, int status) {
    write_req_t *w = (write_req_t *)wr;
    conn_t *c = wr->data;
    free(w->data);
    free(w);
    if (status < 0 && c && !c->closing) net_conn_close(c);
    if (c && c->drain_fn && !c->closing &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < STREAM_HIGH_WATER / 2)
        run_drain(c);
}

/* Writes bytes now if the socket takes them, else queues a copy. */
static void conn_write(conn_t *c, const char *p, size_t n) {
    if (c->closing || n == 0) return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
        int k = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (k > 0) p += k, n -= (size_t)k;
        else if (k < 0 && k != UV_EAGAIN) {
            net_conn_close(c);
            return;
        }
        if (n == 0) return;
    }
    write_req_t *w = xmalloc(sizeof *w);
    w->data = xmalloc(n);
    memcpy(w->data, p, n);
    w->req.data = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        free(w->data);
        free(w);
        net_conn_close(c);
    }
}

static void access_log(http_req_t *r) {
    conn_t *c = r->conn;
    if (c->w->srv->cfg.quiet) return;
    char line[512];
    int n = snprintf(line, sizeof line, "%s %.300s %d %llu %lluus\n", r->method_name ? r->method_name : "-",
                     r->path ? r->path : "-", r->status, (unsigned long long)r->bytes_out,
                     (unsigned long long)(time_mono_us() - r->start_us));
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1, line[n - 1] = '\n';
    ssize_t wr = write(2, line, (size_t)n);
    (void)wr;
}

/* The request's line in the metrics: its dialect, the route pattern that
 * took it (a bounded set: never the path itself) and its status. Each loop
 * remembers the series of the last combinations it saw (the pattern and
 * dialect strings are the router's, so pointers identify them). */
typedef struct {
    const void *route, *dialect;
    int status;
    mseries_t *count, *hist;
} req_series_t;
static __thread req_series_t seen_series[64];

static void count_request(const http_req_t *r) {
    const char *route = r->route ? r->route : "(unmatched)";
    const char *dialect = r->dialect ? r->dialect->name : "none";
    uintptr_t h = ((uintptr_t)route >> 4) ^ ((uintptr_t)dialect >> 4) ^ (uintptr_t)r->status * 31u;
    req_series_t *e = &seen_series[h % 64];
    if (e->route != route || e->dialect != dialect || e->status != r->status || !e->count) {
        char status[12];
        snprintf(status, sizeof status, "%d", r->status);
        const char *labels[3] = {dialect, route, status};
        *e = (req_series_t){route, dialect, r->status, metrics_series(MET_HTTP_REQUESTS, labels),
                            metrics_series(MET_HTTP_DURATION, labels)};
    }
    metrics_add(e->count, 1);
    metrics_observe(e->hist, (double)(time_mono_us() - r->start_us) / 1e6);
}

static void head_start(http_req_t *r, buf_t *h, int status, const char *ctype) {
    conn_t *c = r->conn;
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' '};
    buf_reserve(h, 256);
    buf_append(h, "HTTP/1.1 ", 9);
    buf_append(h, code, 4);
    buf_puts(h, http_status_text(status));
    buf_append(h, "\r\nDate: ", 8);
    buf_puts(h, date_header(c->w));
    buf_append(h, "\r\n", 2);
    if (ctype) {
        buf_append(h, "Content-Type: ", 14);
        buf_puts(h, ctype);
        buf_append(h, "\r\n", 2);
    }
    if (r->dialect && r->dialect->extra_headers) buf_puts(h, r->dialect->extra_headers);
    if (r->dialect && r->dialect->add_headers) r->dialect->add_headers(r, h);
    if (r->extra_headers.len) buf_append(h, r->extra_headers.data, r->extra_headers.len);
    if (!r->keep_alive || c->w->stopping) {
        r->keep_alive = false;
        buf_puts(h, "Connection: close\r\n");
    }
}

static bool begin_answer(http_req_t *r) {
    ASSERT_ON_LOOP();
    if (r->answered) {
        fprintf(stderr, "atrium: bug: request %s answered twice\n", r->path ? r->path : "?");
        return false;
    }
    r->answered = true;
    r->timer_fn = NULL; /* a pending http_after no longer applies */
    r->abort_fn = NULL;
    return true;
}

void http_respond(http_req_t *r, int status, const char *ctype, const void *body, size_t len) {
    if (!begin_answer(r)) return;
    conn_t *c = r->conn;
    r->status = status;
    buf_t h = BUF_INIT;
    head_start(r, &h, status, ctype);
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (!no_body) {
        char n[24];
        int k = sizeof n;
        size_t v = len;
        do n[--k] = (char)('0' + v % 10); while ((v /= 10) && k > 0);
        buf_append(&h, "Content-Length: ", 16);
        buf_append(&h, n + k, sizeof n - (size_t)k);
        buf_append(&h, "\r\n", 2);
    }
    buf_append(&h, "\r\n", 2);
    if (!no_body && r->method != M_HEAD) {
        buf_append(&h, body, len);
        r->bytes_out = len;
    }
    if (c) conn_write(c, h.data, h.len);
    buf_free(&h);
    finish_request(c);
}

void http_respond_buf(http_req_t *r, int status, const char *ctype, buf_t *b) {
    http_respond(r, status, ctype, b->data ? b->data : "", b->len);
    buf_free(b);
}

void http_respond_error(http_req_t *r, int status, const char *message) {
    if (r->dialect && r->dialect->render_error) {
        r->dialect->render_error(r, status, message);
        return;
    }
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "error");
    jw_str(&w, message);
    jw_key(&w, "status");
    jw_int(&w, status);
    jw_obj_end(&w);
    http_respond_buf(r, status, "application/json", &b);
}

void http_stream_begin(http_req_t *r, int status, const char *ctype) {
    if (!begin_answer(r)) return;
    r->answered = false; /* answered for real at http_stream_end */
    r->streaming = true;
    r->status = status;
    conn_t *c = r->conn;
    bool chunked = c && c->parser.http_minor >= 1;
    if (!chunked) r->keep_alive = false; /* HTTP/1.0: the close ends the body */
    buf_t h = BUF_INIT;
    head_start(r, &h, status, ctype);
    if (chunked) buf_puts(&h, "Transfer-Encoding: chunked\r\n");
    buf_puts(&h, "\r\n");
    if (c) conn_write(c, h.data, h.len);
    buf_free(&h);
}

void http_stream_write(http_req_t *r, const void *p, size_t n) {
    ASSERT_ON_LOOP();
    conn_t *c = r->conn;
    if (!c || n == 0 || r->method == M_HEAD) return;
    r->bytes_out += n;
    if (c->parser.http_minor >= 1) {
        buf_t b = BUF_INIT;
        buf_printf(&b, "%zx\r\n", n);
        buf_append(&b, p, n);
        buf_puts(&b, "\r\n");
        conn_write(c, b.data, b.len);
        buf_free(&b);
    } else {
        conn_write(c, p, n);
    }
}

void http_stream_end(http_req_t *r) {
    conn_t *c = r->conn;
    if (c && r->method != M_HEAD && c->parser.http_minor >= 1) conn_write(c, "0\r\n\r\n", 5);
    r->answered = true;
    r->timer_fn = NULL; /* a pending http_after no longer applies */
    r->abort_fn = NULL;
    finish_request(c);
}

bool http_gone(const http_req_t *r) {
    const conn_t *c = r->conn;
    return !c || c->closing;
}

void http_on_drain(http_req_t *r, http_done_fn fn, void *data) {
    ASSERT_ON_LOOP();
    conn_t *c = r->conn;
    c->drain_fn = fn;
    c->drain_data = data;
    if (c->closing || uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < STREAM_HIGH_WATER) run_drain(c);
}

/* ---- deferred work ---------------------------------------------------- */

typedef struct {
    uv_work_t work;
    http_req_t *r;
    http_work_fn fn;
    http_done_fn done;
    void *data;
} defer_t;

static void defer_work(uv_work_t *w) {
    defer_t *d = w->data;
    d->fn(d->data);
}

static void defer_after(uv_work_t *w, int status) {
    (void)status;
    defer_t *d = w->data;
    d->done(d->r, d->data);
    free(d);
}

void http_defer(http_req_t *r, http_work_fn work, http_done_fn done, void *data) {
    ASSERT_ON_LOOP();
    conn_t *c = r->conn;
    defer_t *d = xcalloc(1, sizeof *d);
    d->r = r, d->fn = work, d->done = done, d->data = data;
    d->work.data = d;
    uv_queue_work(&c->w->loop, &d->work, defer_work, defer_after);
}

void net_on_post(uv_async_t *a) {
    worker_t *w = a->data;
    pthread_mutex_lock(&w->post_lock);
    post_item_t *it = w->post_head;
    w->post_head = w->post_tail = NULL;
    pthread_mutex_unlock(&w->post_lock);
    while (it) {
        post_item_t *next = it->next;
        if (it->req_fn) it->req_fn(it->r, it->data);
        else it->fn(it->a, it->data);
        free(it);
        it = next;
    }
}

static void post_item(worker_t *w, post_item_t *it) {
    pthread_mutex_lock(&w->post_lock);
    if (w->post_tail) w->post_tail->next = it;
    else w->post_head = it;
    w->post_tail = it;
    pthread_mutex_unlock(&w->post_lock);
    uv_async_send(&w->post_async);
}

void http_post(http_req_t *r, http_done_fn fn, void *data) {
    conn_t *c = r->conn;
    post_item_t *it = xcalloc(1, sizeof *it);
    it->r = r, it->req_fn = fn, it->data = data;
    post_item(c->w, it);
}

void net_worker_post(worker_t *w, void (*fn)(void *a, void *b), void *a, void *b) {
    post_item_t *it = xcalloc(1, sizeof *it);
    it->fn = fn, it->a = a, it->data = b;
    post_item(w, it);
}

/* ---- sessions (upgraded connections; see session.c) --------------------- */

void net_on_pass_check(uv_check_t *h) {
    worker_t *w = h->data;
    net_session_t **list = w->pass;
    size_t n = w->npass;
    w->pass = NULL;
    w->npass = w->cappass = 0;
    uv_check_stop(h);
    for (size_t i = 0; i < n; i++) net_session_pass(list[i]);
    free(list);
}

void net_worker_want_pass(worker_t *w, net_session_t *s) {
    ASSERT_ON_LOOP();
    if (w->npass == w->cappass) {
        w->cappass = w->cappass ? w->cappass * 2 : 16;
        w->pass = xrealloc(w->pass, w->cappass * sizeof *w->pass);
    }
    w->pass[w->npass++] = s;
    if (w->npass == 1) uv_check_start(&w->pass_check, net_on_pass_check);
}

void net_conn_write(conn_t *c, const char *p, size_t n) { conn_write(c, p, n); }

size_t net_conn_queued(const conn_t *c) {
    return c->closing ? 0 : uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

void net_conn_close_gracefully(conn_t *c) { conn_close_gracefully(c); }

bool http_wants_upgrade(const http_req_t *r) { return r->upgrade; }

net_session_t *http_upgrade(http_req_t *r, const net_proto_t *proto, void *ctx) {
    conn_t *c = r->conn;
    if (!r->upgrade || !c || c->closing || c->eof) {
        http_respond_error(r, 400, "Bad request: not an upgrade request, or the client is gone");
        return NULL;
    }
    if (!begin_answer(r)) return NULL;
    r->status = 101;
    buf_t h = BUF_INIT;
    buf_printf(&h, "HTTP/1.1 101 Switching Protocols\r\nDate: %s\r\n", date_header(c->w));
    if (r->extra_headers.len) buf_append(&h, r->extra_headers.data, r->extra_headers.len);
    buf_puts(&h, "\r\n");
    conn_write(c, h.data, h.len);
    buf_free(&h);
    c->w->inflight--;
    access_log(r);
    c->req = NULL;
    req_free(r);
    c->state = ST_UPGRADED;
    set_timer(c, 0);
    c->session = net_session_new(c, c->w, proto, ctx);
    /* Bytes after the request, already read, are the new protocol's: they
     * are handed over once the loop is back in process() or on_read. */
    if (!c->in_process && c->in.len) {
        net_session_deliver(c->session, c->in.data, c->in.len);
        buf_reset(&c->in);
    }
    return c->session;
}

/* ---- connection lifecycle -------------------------------------------- */

static void set_timer(conn_t *c, uint64_t ms);

/* Forgets a spool file that never became a request's body. */
static void spool_drop(conn_t *c) {
    discard_file(c->w, c->spool_fd, c->spool_path);
    c->spool_fd = -1;
    c->spool_path = NULL;
    c->spool = c->spool_flush = false;
    c->spool_size = 0;
}

static void conn_free_if_done(conn_t *c) {
    if (c->handles_open > 0) return;
    /* A request still being read when the connection closed (never
     * dispatched) has nobody to answer it: it goes with the connection —
     * here, once the handles are closed, never inside a parser callback. A
     * dispatched one is freed once answered (finish_request). */
    if (c->req && !c->req->dispatched) {
        req_free(c->req);
        c->req = NULL;
    }
    if (c->req) return;
    spool_drop(c);
    buf_free(&c->in);
    buf_free(&c->hfield);
    buf_free(&c->hvalue);
    buf_free(&c->url);
    __atomic_sub_fetch(&c->w->srv->nconns, 1, __ATOMIC_RELAXED);
    metrics_gauge_add0(MET_HTTP_OPEN, -1);
    free(c);
}

static void on_handle_closed(uv_handle_t *h) {
    conn_t *c = h->data;
    c->handles_open--;
    conn_free_if_done(c);
}

void http_on_abort(http_req_t *r, http_done_fn fn, void *data) {
    ASSERT_ON_LOOP();
    r->abort_fn = fn;
    r->abort_data = data;
}

/* The client is gone (or is being dropped): work still running for its
 * request learns it. */
static void fire_abort(conn_t *c) {
    http_req_t *r = c->req;
    if (!r || !r->dispatched || r->answered || !r->abort_fn) return;
    http_done_fn fn = r->abort_fn;
    r->abort_fn = NULL;
    fn(r, r->abort_data);
}

void net_conn_close(conn_t *c) {
    if (c->closing) return;
    c->closing = true;
    fire_abort(c);
    if (c->session) {
        net_session_t *s = c->session;
        c->session = NULL;
        net_session_conn_gone(s);
    }
    run_drain(c); /* a waiting stream learns the client is gone */
    if (c->prev) c->prev->next = c->next;
    else c->w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *sr, int status) {
    (void)status;
    free(sr);
}

/* Closes after the queued response is flushed, reading and discarding what
 * the client still sends for a while, so the client sees the response
 * instead of a reset. */
static void conn_close_gracefully(conn_t *c) {
    if (c->closing || c->state == ST_CLOSING) return;
    c->state = ST_CLOSING;
    uv_shutdown_t *sr = xmalloc(sizeof *sr);
    if (uv_shutdown(sr, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(sr);
        net_conn_close(c);
        return;
    }
    set_timer(c, LINGER_MS);
}

static void on_timer(uv_timer_t *t) {
    conn_t *c = t->data;
    switch (c->state) {
    case ST_HEADERS:
    case ST_BODY:
    case ST_SPOOLING:
        /* Answer as a transport error on whatever request is half-read. */
        transport_error(c, 408, "Request timeout");
        break;
    case ST_UPGRADED: break;
    case ST_HANDLING:
        if (c->req && c->req->timer_fn && !c->req->answered) {
            http_done_fn fn = c->req->timer_fn;
            c->req->timer_fn = NULL;
            fn(c->req, c->req->timer_data);
        }
        break;
    case ST_IDLE:
    case ST_CLOSING: net_conn_close(c); break;
    }
}

static void set_timer(conn_t *c, uint64_t ms) {
    if (c->closing) return;
    if (ms) uv_timer_start(&c->timer, on_timer, ms, 0);
    else uv_timer_stop(&c->timer);
}

void http_after(http_req_t *r, uint64_t ms, http_done_fn fn, void *data) {
    ASSERT_ON_LOOP();
    conn_t *c = r->conn;
    r->timer_fn = fn;
    r->timer_data = data;
    if (c && !c->closing && c->state == ST_HANDLING) uv_timer_start(&c->timer, on_timer, ms ? ms : 1, 0);
}

/* Called once a request has been answered in full. */
static void finish_request(conn_t *c) {
    if (!c) return;
    http_req_t *r = c->req;
    if (r) {
        if (r->dispatched) c->w->inflight--;
        access_log(r);
        count_request(r);
        bool keep = r->keep_alive;
        c->req = NULL;
        req_free(r);
        if (c->closing) {
            conn_free_if_done(c);
            return;
        }
        if (!keep || c->w->stopping || c->eof) {
            conn_close_gracefully(c);
            return;
        }
    }
    c->state = ST_IDLE;
    c->header_bytes = 0;
    set_timer(c, c->w->srv->cfg.idle_timeout_ms);
    if (!c->in_process) process(c);
}

/* ---- parsing ---------------------------------------------------------- */

static int header_budget(conn_t *c, size_t n) {
    c->header_bytes += n;
    if (c->header_bytes > c->w->srv->cfg.max_header_bytes) {
        c->err_status = 431;
        c->err_msg = "Request header fields too large";
        http_parser_pause(&c->parser, 1);
        return 0;
    }
    return 0;
}

static int on_message_begin(http_parser *p) {
    conn_t *c = p->data;
    if (!c->req) c->req = req_new(c);
    spool_drop(c); /* (nothing: the last request's file went with it) */
    c->state = ST_HEADERS;
    set_timer(c, c->w->srv->cfg.header_timeout_ms);
    buf_reset(&c->url);
    buf_reset(&c->hfield);
    buf_reset(&c->hvalue);
    c->last_was_value = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    conn_t *c = p->data;
    buf_append(&c->url, at, n);
    return header_budget(c, n);
}

static void commit_header(conn_t *c) {
    http_req_t *r = c->req;
    if (c->hfield.len == 0) return;
    if (r->nheaders < HTTP_MAX_HEADERS) {
        for (size_t i = 0; i < c->hfield.len; i++)
            if (c->hfield.data[i] >= 'A' && c->hfield.data[i] <= 'Z') c->hfield.data[i] += 32;
        r->header_off[r->nheaders] = (uint32_t)req_string(r, c->hfield.data, c->hfield.len);
        req_string(r, c->hvalue.data ? c->hvalue.data : "", c->hvalue.len);
        r->nheaders++;
        req_repoint(r);
    } else {
        c->err_status = 431;
        c->err_msg = "Too many request header fields";
        http_parser_pause(&c->parser, 1);
    }
    buf_reset(&c->hfield);
    buf_reset(&c->hvalue);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    conn_t *c = p->data;
    if (c->last_was_value) commit_header(c);
    c->last_was_value = false;
    buf_append(&c->hfield, at, n);
    return header_budget(c, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    conn_t *c = p->data;
    c->last_was_value = true;
    buf_append(&c->hvalue, at, n);
    return header_budget(c, n);
}

static http_method_t map_method(unsigned m) {
    switch (m) {
    case HTTP_GET: return M_GET;
    case HTTP_HEAD: return M_HEAD;
    case HTTP_POST: return M_POST;
    case HTTP_PUT: return M_PUT;
    case HTTP_DELETE: return M_DELETE;
    case HTTP_PATCH: return M_PATCH;
    case HTTP_OPTIONS: return M_OPTIONS;
    default: return M_OTHER;
    }
}

static void fill_target(conn_t *c) {
    http_req_t *r = c->req;
    r->target_off = req_string(r, c->url.data ? c->url.data : "", c->url.len);
    /* room for the path and query copies below, so the arena (and t, q,
     * hash, which point into it) stays where it is while they are made */
    buf_reserve(&r->strings, c->url.len + 4);
    const char *t = r->strings.data + r->target_off;
    /* An absolute-form target ("http://host/path") is reduced to its path. */
    size_t scheme = strncmp(t, "http://", 7) == 0 ? 7 : strncmp(t, "https://", 8) == 0 ? 8 : 0;
    if (scheme) {
        const char *s = strchr(t + scheme, '/'); /* t + scheme is within the string (at most its NUL) */
        t = s ? s : "/";
    }
    const char *q = strchr(t, '?');
    const char *hash = strchr(t, '#');
    size_t plen = q ? (size_t)(q - t) : hash ? (size_t)(hash - t) : strlen(t);
    size_t qlen = q ? (hash && hash > q ? (size_t)(hash - q - 1) : strlen(q + 1)) : 0;
    r->path_off = req_string(r, t, plen);
    r->query_off = q ? req_string(r, q + 1, qlen) : -1;
    req_repoint(r);
}

static int on_headers_complete(http_parser *p) {
    conn_t *c = p->data;
    if (c->last_was_value) commit_header(c);
    http_req_t *r = c->req;
    r->method = map_method(p->method);
    r->method_name = http_method_str((enum http_method)p->method);
    r->keep_alive = http_should_keep_alive(p) != 0;
    fill_target(c);
    if (c->err_status) return 0; /* already paused */
    if (p->http_major != 1) {
        c->err_status = 505;
        c->err_msg = "HTTP version not supported";
        http_parser_pause(p, 1);
        return 0;
    }
    size_t max = c->w->srv->cfg.max_body_bytes;
    bool has_body = (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
    const dialect_t *dl = has_body ? router_dialect_for(c->w->srv->cfg.router, r->path) : NULL;
    if (dl && dl->max_body_bytes && dl->max_body_bytes < max) max = dl->max_body_bytes;
    const dialect_t *sdl = c->w->srv->cfg.spool_dir ? dl : NULL;
    size_t spool = sdl && sdl->spool_limit ? sdl->spool_limit(r) : 0;
    if (spool) {
        max = spool;
        c->spool = true;
        static uint64_t seq;
        buf_t path = BUF_INIT;
        buf_printf(&path, "%s/body-%ld-%llu", c->w->srv->cfg.spool_dir, (long)getpid(),
                   (unsigned long long)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
        c->spool_path = buf_detach(&path);
    }
    c->body_max = max;
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX && p->content_length > max) {
        c->err_status = 413;
        c->err_msg = "Request body too large";
        http_parser_pause(p, 1);
        return 0;
    }
    const char *expect = http_header(r, "expect");
    if (expect && has_body) {
        if (strcasecmp(expect, "100-continue") == 0) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            conn_write(c, cont, sizeof cont - 1);
        } else {
            c->err_status = 417;
            c->err_msg = "Expectation failed";
            http_parser_pause(p, 1);
            return 0;
        }
    }
    c->state = ST_BODY;
    /* A fixed deadline for the whole body: a trickling client cannot hold
     * the connection by sending a byte now and then. */
    set_timer(c, c->w->srv->cfg.body_timeout_ms);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    conn_t *c = p->data;
    if (c->spool_size + c->req->body.len + n > c->body_max) {
        c->err_status = 413;
        c->err_msg = "Request body too large";
        http_parser_pause(p, 1);
        return 0;
    }
    buf_append(&c->req->body, at, n);
    if (c->spool && c->req->body.len >= SPOOL_CHUNK) {
        /* this much waits for the disk: parsing stops until it is written */
        c->spool_flush = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

/* ---- spooled bodies: written a chunk at a time on the thread pool ---- */

typedef struct {
    uv_work_t work;
    conn_t *c;
    char *path; /* borrowed from the connection */
    int fd;
    char *data;
    size_t len;
    bool final;
    int err; /* errno */
} spool_job_t;

static void spool_work(uv_work_t *w) {
    spool_job_t *j = w->data;
    if (j->fd < 0) j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        j->err = errno;
        return;
    }
    for (size_t off = 0; off < j->len;) {
        ssize_t k = write(j->fd, j->data + off, j->len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            j->err = k < 0 ? errno : EIO;
            return;
        }
        off += (size_t)k;
    }
    if (j->final) {
        close(j->fd);
        j->fd = -1;
    }
}

static void dispatch(conn_t *c);

static void spool_after(uv_work_t *w, int status) {
    spool_job_t *j = w->data;
    conn_t *c = j->c;
    c->handles_open--;
    c->spool_busy = false;
    c->spool_fd = j->fd;
    int err = status < 0 ? EIO : j->err;
    bool final = j->final;
    free(j->data);
    free(j);
    if (c->closing) {
        conn_free_if_done(c);
        return;
    }
    if (c->state == ST_CLOSING || (c->req && c->req->answered)) {
        spool_drop(c); /* answered meanwhile (a timeout): nothing more to do */
        return;
    }
    if (err) {
        spool_drop(c);
        transport_error(c, 500, "The request body could not be stored");
        return;
    }
    if (final) {
        http_req_t *r = c->req;
        r->body_path = c->spool_path;
        r->body_size = c->spool_size;
        c->spool_path = NULL;
        c->spool = false;
        dispatch(c);
        return;
    }
    c->state = ST_BODY;
    if (!c->in_process) process(c);
}

/* Hands what the body buffer holds to the pool for the spool file; the
 * final flush dispatches the request when it is written. */
static void spool_flush(conn_t *c, bool final) {
    spool_job_t *j = xcalloc(1, sizeof *j);
    j->work.data = j;
    j->c = c;
    j->path = c->spool_path;
    j->fd = c->spool_fd;
    j->final = final;
    j->len = c->req->body.len;
    j->data = buf_detach(&c->req->body);
    c->spool_size += j->len;
    c->spool_busy = true;
    if (!final) c->state = ST_SPOOLING;
    c->handles_open++; /* the connection outlives the job */
    if (uv_queue_work(&c->w->loop, &j->work, spool_work, spool_after) < 0) {
        c->handles_open--;
        c->spool_busy = false;
        free(j->data);
        free(j);
        spool_drop(c);
        transport_error(c, 500, "The request body could not be stored");
    }
}

static int on_message_complete(http_parser *p) {
    conn_t *c = p->data;
    c->state = ST_HANDLING;
    http_parser_pause(p, 1);
    return 0;
}

void net_http_init(void) {
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
}

static void prepare_work(void *data) {
    http_req_t *r = data;
    ((conn_t *)r->conn)->w->srv->cfg.prepare(r);
}

static void prepare_done(http_req_t *r, void *data) {
    (void)data;
    router_dispatch(((conn_t *)r->conn)->w->srv->cfg.router, r);
}

static void dispatch(conn_t *c) {
    if (c->spool) {
        spool_flush(c, true); /* dispatched once the body is all on disk */
        return;
    }
    set_timer(c, 0);
    c->w->inflight++;
    http_req_t *r = c->req;
    r->dispatched = true;
    if (c->parser.upgrade) {
        /* What follows the request is another protocol's: unless a handler
         * takes it over (http_upgrade), the connection closes after it. */
        r->upgrade = true;
        r->keep_alive = false;
    }
    if (!r->body.data) buf_reserve(&r->body, 0);
    const server_config_t *cfg = &c->w->srv->cfg;
    if (cfg->prepare && r->body.len >= cfg->prepare_min_body) {
        http_defer(r, prepare_work, prepare_done, r);
        return;
    }
    router_dispatch(cfg->router, r);
}

/* Answers a transport-level error and closes after it. */
static void transport_error(conn_t *c, int status, const char *msg) {
    if (!c->req) c->req = req_new(c);
    http_req_t *r = c->req;
    if (!r->path && c->url.len) fill_target(c);
    if (r->path) r->dialect = router_dialect_for(c->w->srv->cfg.router, r->path);
    r->keep_alive = false;
    c->state = ST_HANDLING;
    http_respond_error(r, status, msg);
}

static void process(conn_t *c) {
    c->in_process = true;
    size_t off = 0;
    while (!c->closing && off < c->in.len && c->state != ST_HANDLING && c->state != ST_CLOSING &&
           c->state != ST_UPGRADED && c->state != ST_SPOOLING) {
        size_t n = http_parser_execute(&c->parser, &parser_settings, c->in.data + off, c->in.len - off);
        off += n;
        enum http_errno en = HTTP_PARSER_ERRNO(&c->parser);
        if (en == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            if (c->err_status) {
                off = c->in.len;
                transport_error(c, c->err_status, c->err_msg);
                break;
            }
            if (c->spool_flush) {
                c->spool_flush = false;
                spool_flush(c, false);
                break;
            }
            dispatch(c);
        } else if (en != HPE_OK) {
            off = c->in.len;
            if (en == HPE_HEADER_OVERFLOW) transport_error(c, 431, "Request header fields too large");
            else transport_error(c, 400, http_errno_description(en));
            break;
        }
    }
    if (!c->closing && c->state == ST_UPGRADED && c->session) {
        /* Upgraded by the handler just dispatched: the rest is the session's. */
        net_session_deliver(c->session, c->in.data + off, c->in.len - off);
        off = c->in.len;
    }
    if (!c->closing) {
        buf_consume(&c->in, off);
        if (c->in.len == 0 && c->in.cap > READ_BUF_SIZE) buf_free(&c->in);
        bool want = c->in.len < MAX_PENDING_INPUT && !c->eof;
        if (want && !c->reading) {
            conn_start_reading(c);
        } else if (!want && c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        if (c->eof && c->state == ST_IDLE && c->in.len == 0) net_conn_close(c);
    }
    c->in_process = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    conn_t *c = h->data;
    worker_t *w = c->w;
    if (!w->read_buf_busy) {
        w->read_buf_busy = true;
        *b = uv_buf_init(w->read_buf, READ_BUF_SIZE);
    } else {
        *b = uv_buf_init(xmalloc(READ_BUF_SIZE), READ_BUF_SIZE);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    conn_t *c = s->data;
    worker_t *w = c->w;
    bool shared = b->base == w->read_buf;
    if (nread > 0 && !c->closing) {
        if (c->state == ST_CLOSING) {
            c->lingered += (size_t)nread;
            if (c->lingered > LINGER_MAX_BYTES) net_conn_close(c);
        } else if (c->state == ST_UPGRADED) {
            net_session_deliver(c->session, b->base, (size_t)nread);
        } else {
            buf_append(&c->in, b->base, (size_t)nread);
            if (!c->in_process) process(c);
        }
    } else if (nread < 0 && !c->closing) {
        c->eof = true;
        uv_read_stop(s);
        c->reading = false;
        /* A request being handled is still answered (and its work told the
         * client left); otherwise close now. */
        if (c->state != ST_HANDLING) net_conn_close(c);
        else fire_abort(c);
    }
    if (shared) w->read_buf_busy = false;
    else free(b->base);
}

static void conn_start_reading(conn_t *c) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
}

void net_on_connection(uv_stream_t *ls, int status) {
    worker_t *w = ls->data;
    if (status < 0 || w->stopping) return;
    conn_t *c = xcalloc(1, sizeof *c);
    c->w = w;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    c->spool_fd = -1;
    __atomic_add_fetch(&w->srv->nconns, 1, __ATOMIC_RELAXED);
    metrics_inc(MET_HTTP_CONNECTIONS);
    metrics_gauge_add0(MET_HTTP_OPEN, 1);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        net_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (__atomic_load_n(&w->srv->nconns, __ATOMIC_RELAXED) > w->srv->cfg.max_connections) {
        static const char body[] = "{\"error\":\"Too many connections\",\"status\":503}\n";
        char busy[256];
        int n = snprintf(busy, sizeof busy,
                         "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         sizeof body - 1, body);
        uv_buf_t b = uv_buf_init(busy, (unsigned)n);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        metrics_inc(MET_HTTP_REJECTED);
        net_conn_close(c);
        return;
    }
    c->state = ST_IDLE;
    set_timer(c, w->srv->cfg.idle_timeout_ms);
    conn_start_reading(c);
}

