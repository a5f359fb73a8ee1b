/* ws: WebSocket (RFC 6455) over an upgraded connection (net/session), with
 * wslay doing the framing: text and binary messages, fragmentation, ping
 * and pong, the close handshake. On top of it:
 * - a ping every WS_PING_MS and a close (1008) after WS_IDLE_MS without any
 *   frame from the peer;
 * - inbound messages past the configured limit close with 1009 (wslay);
 * - an outbound queue bound: a message that would take the bytes waiting
 *   for the socket past it closes the connection with 1008 instead, so a
 *   peer that stops reading costs at most that much memory;
 * - a server shutdown closes with 1001.
 *
 * Threads: ws_accept and every ws_* call except ws_post/retain/release run
 * on the connection's loop, as do the callbacks; ws_post, ws_retain and
 * ws_release may be called from any thread. A ws_t stays valid while
 * referenced: the connection holds one until on_close returns. */
#ifndef ATRIUM_NET_WS_H
#define ATRIUM_NET_WS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

#define WS_PING_MS 15000
#define WS_IDLE_MS 30000

typedef struct ws ws_t;

typedef struct {
    /* One whole message (fragments joined). */
    void (*on_message)(ws_t *ws, void *ctx, bool binary, const char *p, size_t n);
    /* The connection is gone (closed by either side, dropped, shutdown).
     * Called once; nothing is delivered after it. */
    void (*on_close)(ws_t *ws, void *ctx);
} ws_proto_t;

typedef struct {
    size_t max_in;  /* largest inbound message (0: 32 MiB) */
    size_t max_out; /* outbound bytes waiting for the socket (0: 256 MiB) */
    uint64_t idle_ms; /* close (1008) after this long without a frame (0: WS_IDLE_MS); a ping goes out at half */
} ws_limits_t;

/* True if r is a WebSocket opening handshake (GET, Upgrade: websocket,
 * Sec-WebSocket-Version 13, a 16-byte Sec-WebSocket-Key). */
bool ws_is_handshake(const http_req_t *r);
/* The subprotocol to speak: the first of ours (NULL-terminated, in our
 * order of preference) that the client offers in Sec-WebSocket-Protocol;
 * NULL if none. */
const char *ws_pick_protocol(const http_req_t *r, const char *const *ours);
/* Answers r with 101 (Sec-WebSocket-Accept, and Sec-WebSocket-Protocol if
 * protocol is not NULL) and hands the connection over. NULL (r answered
 * 400) if r is not a handshake or its client is gone. */
ws_t *ws_accept(http_req_t *r, const char *protocol, const ws_limits_t *limits, const ws_proto_t *proto, void *ctx);

/* Queues a message. False if the connection is closing or the message
 * would exceed the outbound bound (then it closes with 1008). */
bool ws_send(ws_t *ws, bool binary, const void *p, size_t n);
/* Starts the close handshake with code and reason (≤ 123 bytes, cut). */
void ws_close(ws_t *ws, int code, const char *reason);
bool ws_closing(const ws_t *ws);
/* Outbound bytes not yet taken by the socket. */
size_t ws_queued(const ws_t *ws);

/* Runs work(data) on the thread pool, then done(ws, ctx, data) back on the
 * connection's loop (also after it closed: check ws_closing). Loop only. */
typedef void (*ws_work_fn)(void *data);
typedef void (*ws_fn)(ws_t *ws, void *ctx, void *data);
void ws_defer(ws_t *ws, ws_work_fn work, ws_fn done, void *data);

/* From ANY thread: runs fn(ws, ctx, data) on the connection's loop soon,
 * if it is still open then; else drop(data) (may be NULL) runs instead.
 * Returns 0 if queued, -1 if already closed (drop was called). */
int ws_post(ws_t *ws, ws_fn fn, void *data, void (*drop)(void *data));
void ws_retain(ws_t *ws);
void ws_release(ws_t *ws);

/* A message many connections are sent: made once, shared read-only, freed
 * with its last reference. Any thread. */
typedef struct ws_msg ws_msg_t;
ws_msg_t *ws_msg_new(bool binary, const void *p, size_t n); /* copies p */
void ws_msg_retain(ws_msg_t *m);
void ws_msg_release(ws_msg_t *m);

/* A batch of sends built on one thread and handed over with one post per
 * event loop, so a fan-out to thousands of connections costs no post, copy
 * or wake-up per connection. A flushed batch's sends keep their order with
 * each other and with ws_post calls the same thread made before the flush
 * (one FIFO per loop). A batch belongs to the thread that uses it. */
typedef struct ws_batch ws_batch_t;
ws_batch_t *ws_batch_new(void);
void ws_batch_free(ws_batch_t *b); /* flushes first */
/* Queues sending m to ws (both retained until sent or dropped). */
void ws_batch_add(ws_batch_t *b, ws_t *ws, ws_msg_t *m);
size_t ws_batch_size(const ws_batch_t *b);
void ws_batch_flush(ws_batch_t *b);

#endif
