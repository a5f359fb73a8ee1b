/* ws: WebSocket over net/session with wslay (see ws.h). wslay reads from
 * `in` (the bytes the session delivered) and writes through the session;
 * everything runs on the connection's loop. */
#include "net/ws.h"

#include <ctype.h>
#include <nettle/sha1.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "net/net_internal.h"
#include "net/session.h"
#include "util/buf.h"
#include "util/metrics.h"
#include "util/thread.h"

#define WS_TICK_MS 5000
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws {
    net_session_t *s;
    wslay_event_context_ptr ctx;
    const ws_proto_t *proto;
    void *pctx;
    buf_t in;
    size_t in_off;
    buf_t out; /* what wslay produced this flush: one write to the socket */
    uv_timer_t timer;
    uint64_t last_rx, last_ping;
    size_t max_out;
    uint64_t idle_ms, ping_ms, tick_ms;
    bool closing, gone, flushing;
    bool started; /* input is processed only once the accepting handler is done */
    int refs; /* atomic */
    /* its lines in the metrics: messages and bytes, in and out */
    mseries_t *msgs_in, *msgs_out, *bytes_in, *bytes_out;
};

void ws_retain(ws_t *ws) { __atomic_add_fetch(&ws->refs, 1, __ATOMIC_RELAXED); }

void ws_release(ws_t *ws) {
    if (!ws || __atomic_sub_fetch(&ws->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (ws->ctx) wslay_event_context_free(ws->ctx);
    buf_free(&ws->in);
    buf_free(&ws->out);
    net_session_release(ws->s);
    free(ws);
}

/* ---- the handshake ------------------------------------------------------ */

/* True if the comma-separated header value lists token (case-insensitive). */
static bool lists(const char *v, const char *token) {
    size_t n = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        const char *e = v;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - v) == n && strncasecmp(v, token, n) == 0) return true;
        v = e;
    }
    return false;
}

bool ws_is_handshake(const http_req_t *r) {
    const char *up = http_header(r, "upgrade"), *ver = http_header(r, "sec-websocket-version");
    const char *key = http_header(r, "sec-websocket-key");
    if (r->method != M_GET || !r->upgrade || !up || !lists(up, "websocket") || !ver || strcmp(ver, "13") != 0 || !key)
        return false;
    unsigned char raw[32];
    size_t n = 0;
    return strlen(key) == 24 &&
           sodium_base642bin(raw, sizeof raw, key, 24, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 && n == 16;
}

const char *ws_pick_protocol(const http_req_t *r, const char *const *ours) {
    const char *offered = http_header(r, "sec-websocket-protocol");
    if (!offered) return NULL;
    for (int i = 0; ours[i]; i++)
        if (lists(offered, ours[i])) return ours[i];
    return NULL;
}

static void accept_key(const char *key, char out[29]) {
    struct sha1_ctx c;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&c);
    sha1_update(&c, strlen(key), (const uint8_t *)key);
    sha1_update(&c, strlen(WS_GUID), (const uint8_t *)WS_GUID);
    sha1_digest(&c, sizeof digest, digest);
    sodium_bin2base64(out, 29, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
}

/* ---- wslay's side --------------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user) {
    (void)flags;
    ws_t *ws = user;
    size_t left = ws->in.len - ws->in_off;
    if (!left) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > left) len = left;
    memcpy(buf, ws->in.data + ws->in_off, len);
    ws->in_off += len;
    return (ssize_t)len;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user) {
    (void)ctx, (void)flags;
    ws_t *ws = user;
    buf_append(&ws->out, data, len); /* frame headers and payloads, written together in flush */
    return (ssize_t)len;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *user) {
    (void)ctx;
    ws_t *ws = user;
    if (ws->gone || ws->closing) return;
    if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME) {
        metrics_add(ws->msgs_in, 1);
        metrics_add(ws->bytes_in, a->msg_length);
    }
    if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME)
        ws->proto->on_message(ws, ws->pctx, a->opcode == WSLAY_BINARY_FRAME, (const char *)a->msg, a->msg_length);
    else if (a->opcode == WSLAY_CONNECTION_CLOSE)
        ws->closing = true; /* wslay answers it */
}

/* Hands what wslay queued to the socket; closes once both sides are done. */
static void flush(ws_t *ws) {
    if (ws->gone) return;
    int rc = wslay_event_want_write(ws->ctx) ? wslay_event_send(ws->ctx) : 0;
    if (ws->out.len) {
        net_session_write(ws->s, ws->out.data, ws->out.len);
        buf_reset(&ws->out);
        if (ws->out.cap > (64u << 10)) buf_free(&ws->out);
    }
    if (rc != 0) {
        net_session_close(ws->s);
        return;
    }
    if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx)) net_session_close(ws->s);
}

/* ---- the session's side --------------------------------------------------- */

static void process_input(ws_t *ws) {
    int rc = wslay_event_recv(ws->ctx);
    /* keep only what wslay has not read yet */
    size_t left = ws->in.len - ws->in_off;
    memmove(ws->in.data, ws->in.data + ws->in_off, left);
    ws->in.len = left;
    ws->in_off = 0;
    if (rc != 0) {
        /* a protocol error: wslay queued its close (1002/1009) if it could */
        ws->closing = true;
        wslay_event_shutdown_read(ws->ctx);
    }
    flush(ws);
}

static void s_data(net_session_t *s, void *ctx, const char *p, size_t n) {
    ws_t *ws = ctx;
    if (!ws->s) ws->s = s; /* bytes that came with the handshake arrive inside http_upgrade */
    ws->last_rx = uv_now(&net_session_worker(s)->loop);
    buf_append(&ws->in, p, n);
    if (ws->started) process_input(ws);
}

static void timer_closed(uv_handle_t *h) { ws_release(h->data); }

static void s_close(net_session_t *s, void *ctx) {
    (void)s;
    ws_t *ws = ctx;
    ws->gone = true;
    uv_timer_stop(&ws->timer);
    uv_close((uv_handle_t *)&ws->timer, timer_closed);
    ws->proto->on_close(ws, ws->pctx);
    ws_release(ws); /* the connection's */
}

static void s_pass(net_session_t *s, void *ctx) {
    (void)s;
    ws_t *ws = ctx;
    ws->flushing = false;
    if (!ws->started) {
        /* the handler that accepted is done: what came early is processed now */
        ws->started = true;
        if (ws->in.len) {
            process_input(ws);
            return;
        }
    }
    flush(ws);
}

static void s_shutdown(net_session_t *s, void *ctx) {
    (void)s;
    ws_close(ctx, 1001, "server shutting down");
}

static const net_proto_t ws_session_proto = {s_data, s_close, s_pass, s_shutdown};

static void on_tick(uv_timer_t *t) {
    ws_t *ws = t->data;
    if (ws->gone) return;
    uint64_t now = uv_now(t->loop);
    if (now - ws->last_rx >= ws->idle_ms) {
        ws_close(ws, 1008, "idle");
        return;
    }
    if (!ws->closing && now - ws->last_ping >= ws->ping_ms) {
        ws->last_ping = now;
        struct wslay_event_msg m = {WSLAY_PING, NULL, 0};
        wslay_event_queue_msg(ws->ctx, &m);
        flush(ws);
    }
}

ws_t *ws_accept(http_req_t *r, const char *protocol, const ws_limits_t *limits, const ws_proto_t *proto, void *ctx) {
    ASSERT_ON_LOOP();
    if (!ws_is_handshake(r)) {
        http_respond_error(r, 400, "Bad request: not a WebSocket handshake");
        return NULL;
    }
    char accept[29];
    accept_key(http_header(r, "sec-websocket-key"), accept);
    http_add_header(r, "Upgrade", "websocket");
    http_add_header(r, "Connection", "Upgrade");
    http_add_header(r, "Sec-WebSocket-Accept", accept);
    if (protocol) http_add_header(r, "Sec-WebSocket-Protocol", protocol);
    ws_t *ws = xcalloc(1, sizeof *ws);
    ws->proto = proto;
    ws->pctx = ctx;
    ws->refs = 2; /* the connection's and the timer's */
    const char *in[2] = {protocol ? protocol : "none", "in"}, *out[2] = {in[0], "out"};
    ws->msgs_in = metrics_series(MET_WS_MESSAGES, in);
    ws->msgs_out = metrics_series(MET_WS_MESSAGES, out);
    ws->bytes_in = metrics_series(MET_WS_BYTES, in);
    ws->bytes_out = metrics_series(MET_WS_BYTES, out);
    ws->max_out = limits && limits->max_out ? limits->max_out : (256u << 20);
    ws->idle_ms = limits && limits->idle_ms ? limits->idle_ms : WS_IDLE_MS;
    ws->ping_ms = ws->idle_ms / 2;
    ws->tick_ms = ws->idle_ms / 6 < WS_TICK_MS ? (ws->idle_ms / 6 ? ws->idle_ms / 6 : 1) : WS_TICK_MS;
    struct wslay_event_callbacks cb = {on_recv, on_send, NULL, NULL, NULL, NULL, on_msg};
    wslay_event_context_server_init(&ws->ctx, &cb, ws);
    wslay_event_config_set_max_recv_msg_length(ws->ctx, limits && limits->max_in ? limits->max_in : (32u << 20));
    net_session_t *s = http_upgrade(r, &ws_session_proto, ws);
    if (!s) {
        wslay_event_context_free(ws->ctx);
        free(ws);
        return NULL;
    }
    ws->s = s;
    net_session_retain(s); /* ws's own, until it is freed */
    net_session_want_pass(s); /* starts reading at the end of this pass */
    uv_loop_t *loop = &net_session_worker(s)->loop;
    ws->last_rx = ws->last_ping = uv_now(loop);
    uv_timer_init(loop, &ws->timer);
    ws->timer.data = ws;
    uv_timer_start(&ws->timer, on_tick, ws->tick_ms, ws->tick_ms);
    return ws;
}

/* ---- sending -------------------------------------------------------------- */

size_t ws_queued(const ws_t *ws) {
    ASSERT_ON_LOOP();
    return ws->gone ? 0 : net_session_queued(ws->s) + wslay_event_get_queued_msg_length(ws->ctx) + ws->out.len;
}

bool ws_closing(const ws_t *ws) { return ws->gone || ws->closing; }

bool ws_send(ws_t *ws, bool binary, const void *p, size_t n) {
    ASSERT_ON_LOOP();
    if (ws->gone || ws->closing) return false;
    if (ws_queued(ws) + n > ws->max_out) {
        ws_close(ws, 1008, "send queue full");
        return false;
    }
    metrics_add(ws->msgs_out, 1);
    metrics_add(ws->bytes_out, n);
    if (wslay_event_get_queued_msg_count(ws->ctx) == 0 && !wslay_event_want_write(ws->ctx)) {
        /* wslay has nothing of its own in flight: frame the message
         * straight into this pass's output (a server's frames are
         * unmasked), saving a copy and a queue entry per message */
        uint8_t h[10];
        size_t hl = 0;
        h[hl++] = (uint8_t)(0x80 | (binary ? 0x2 : 0x1));
        if (n < 126) {
            h[hl++] = (uint8_t)n;
        } else if (n <= 0xffff) {
            h[hl++] = 126;
            h[hl++] = (uint8_t)(n >> 8);
            h[hl++] = (uint8_t)n;
        } else {
            h[hl++] = 127;
            for (int i = 7; i >= 0; i--) h[hl++] = (uint8_t)((uint64_t)n >> (8 * i));
        }
        buf_append(&ws->out, h, hl);
        buf_append(&ws->out, p, n);
    } else {
        struct wslay_event_msg m = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, p, n};
        if (wslay_event_queue_msg(ws->ctx, &m) != 0) return false;
    }
    if (!ws->flushing) {
        /* one flush per loop pass, for however many messages it queued */
        ws->flushing = true;
        net_session_want_pass(ws->s);
    }
    return true;
}

void ws_close(ws_t *ws, int code, const char *reason) {
    ASSERT_ON_LOOP();
    if (ws->gone) return;
    if (!ws->closing) {
        ws->closing = true;
        size_t n = reason ? strlen(reason) : 0;
        if (n > 123) n = 123;
        wslay_event_queue_close(ws->ctx, (uint16_t)code, (const uint8_t *)reason, n);
        wslay_event_shutdown_read(ws->ctx);
    }
    flush(ws);
}

/* ---- posting from other threads -------------------------------------------- */

typedef struct {
    ws_t *ws;
    ws_fn fn;
    void *data;
    void (*drop)(void *);
} ws_post_t;

static void run_post(net_session_t *s, void *ctx, void *data) {
    (void)s, (void)ctx;
    ws_post_t *p = data;
    if (!p->ws->gone) p->fn(p->ws, p->ws->pctx, p->data);
    else if (p->drop) p->drop(p->data);
    ws_release(p->ws);
    free(p);
}

static void drop_post(void *data) {
    ws_post_t *p = data;
    if (p->drop) p->drop(p->data);
    ws_release(p->ws);
    free(p);
}

int ws_post(ws_t *ws, ws_fn fn, void *data, void (*drop)(void *data)) {
    ws_post_t *p = xmalloc(sizeof *p);
    *p = (ws_post_t){ws, fn, data, drop};
    ws_retain(ws);
    return net_session_post(ws->s, run_post, p, drop_post);
}

/* ---- pool work ------------------------------------------------------------------ */

typedef struct {
    uv_work_t w;
    ws_t *ws;
    ws_work_fn work;
    ws_fn done;
    void *data;
} ws_defer_t;

static void defer_work(uv_work_t *w) {
    ws_defer_t *d = w->data;
    d->work(d->data);
}

static void defer_after(uv_work_t *w, int status) {
    (void)status;
    ws_defer_t *d = w->data;
    d->done(d->ws, d->ws->pctx, d->data);
    ws_release(d->ws);
    free(d);
}

void ws_defer(ws_t *ws, ws_work_fn work, ws_fn done, void *data) {
    ASSERT_ON_LOOP();
    ws_defer_t *d = xcalloc(1, sizeof *d);
    d->ws = ws, d->work = work, d->done = done, d->data = data;
    d->w.data = d;
    ws_retain(ws);
    uv_queue_work(&net_session_worker(ws->s)->loop, &d->w, defer_work, defer_after);
}

/* ---- batches ---------------------------------------------------------------- */

struct ws_msg {
    int refs; /* atomic */
    bool binary;
    size_t n;
    char p[];
};

ws_msg_t *ws_msg_new(bool binary, const void *p, size_t n) {
    ws_msg_t *m = xmalloc(sizeof *m + n + 1);
    m->refs = 1;
    m->binary = binary;
    m->n = n;
    if (n) memcpy(m->p, p, n);
    return m;
}

void ws_msg_retain(ws_msg_t *m) { __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED); }

void ws_msg_release(ws_msg_t *m) {
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) free(m);
}

typedef struct {
    ws_t *ws;
    ws_msg_t *m;
} batch_item_t;

typedef struct {
    worker_t *w;
    batch_item_t *items;
    size_t n, cap;
} batch_group_t; /* one loop's share */

struct ws_batch {
    batch_group_t *groups;
    size_t ngroups, cap, n;
};

ws_batch_t *ws_batch_new(void) { return xcalloc(1, sizeof(ws_batch_t)); }

void ws_batch_free(ws_batch_t *b) {
    if (!b) return;
    ws_batch_flush(b);
    free(b->groups);
    free(b);
}

size_t ws_batch_size(const ws_batch_t *b) { return b->n; }

void ws_batch_add(ws_batch_t *b, ws_t *ws, ws_msg_t *m) {
    worker_t *w = net_session_worker(ws->s);
    size_t g;
    for (g = 0; g < b->ngroups && b->groups[g].w != w; g++) {
    }
    if (g == b->ngroups) {
        if (b->ngroups == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 4;
            b->groups = xrealloc(b->groups, b->cap * sizeof *b->groups);
        }
        b->groups[b->ngroups++] = (batch_group_t){w, NULL, 0, 0};
    }
    batch_group_t *gr = &b->groups[g];
    if (gr->n == gr->cap) {
        gr->cap = gr->cap ? gr->cap * 2 : 64;
        gr->items = xrealloc(gr->items, gr->cap * sizeof *gr->items);
    }
    ws_retain(ws);
    ws_msg_retain(m);
    gr->items[gr->n++] = (batch_item_t){ws, m};
    b->n++;
}

/* On the group's loop: every send, to connections still open. */
static void run_group(void *data) {
    ASSERT_ON_LOOP();
    batch_group_t *gr = data;
    for (size_t i = 0; i < gr->n; i++) {
        batch_item_t *it = &gr->items[i];
        if (!it->ws->gone) ws_send(it->ws, it->m->binary, it->m->p, it->m->n);
        ws_msg_release(it->m);
        ws_release(it->ws);
    }
    free(gr->items);
    free(gr);
}

void ws_batch_flush(ws_batch_t *b) {
    for (size_t g = 0; g < b->ngroups; g++) {
        batch_group_t *gr = xmalloc(sizeof *gr);
        *gr = b->groups[g];
        /* through any session of the group still open (an open session
         * keeps its loop running until the post is served); once posted, gr
         * belongs to its loop, which may free it at once: nothing of it is
         * read after a post succeeds */
        size_t n = gr->n, i;
        bool posted = false;
        for (i = 0; i < n && !posted; i++) posted = net_session_post_loop(gr->items[i].ws->s, run_group, gr) == 0;
        if (posted) continue;
        for (i = 0; i < n; i++) { /* all closed: nothing to send */
            ws_msg_release(gr->items[i].m);
            ws_release(gr->items[i].ws);
        }
        free(gr->items);
        free(gr);
    }
    b->ngroups = 0;
    b->n = 0;
}
