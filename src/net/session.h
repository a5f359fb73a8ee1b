/* session: a connection handed over from HTTP/1.1 to another protocol
 * (WebSocket, in net/ws.c with wslay), after a handler accepted an upgrade
 * request with http_upgrade. The transport then delivers the connection's
 * bytes to the protocol's callbacks, on the connection's own loop, until it
 * closes. Other threads reach a session only through net_session_post,
 * which runs a function on its loop (or drops the data if it has closed).
 *
 * Threads: http_upgrade, net_session_write/close/queued/want_pass and every
 * callback run on the session's loop; net_session_post, retain and release
 * may be called from any thread. A session stays valid while referenced:
 * the transport holds one reference until on_close returns, and each
 * queued post holds one. */
#ifndef ATRIUM_NET_SESSION_H
#define ATRIUM_NET_SESSION_H
#include <stdbool.h>
#include <stddef.h>

#include "net/http.h"

typedef struct net_session net_session_t;

typedef struct {
    /* Bytes from the peer (any split; the protocol frames them). */
    void (*on_data)(net_session_t *s, void *ctx, const char *p, size_t n);
    /* The connection is gone (peer closed, error, net_session_close, or
     * shutdown). Called once; nothing is delivered after it. */
    void (*on_close)(net_session_t *s, void *ctx);
    /* Optional: once at the end of a loop pass in which net_session_want_pass
     * was called (to flush what that pass queued, e.g. batched frames). */
    void (*on_pass)(net_session_t *s, void *ctx);
    /* Optional: the server is stopping; the protocol says goodbye its own
     * way and closes (without it, the connection is closed at once). */
    void (*on_shutdown)(net_session_t *s, void *ctx);
} net_proto_t;

/* True if r asked to switch protocols (Connection: upgrade + Upgrade). */
bool http_wants_upgrade(const http_req_t *r);
/* Answers r with 101 Switching Protocols (plus the headers added with
 * http_add_header) and hands its connection to proto with ctx. Bytes the
 * client sent after the request are delivered to on_data next. Returns the
 * session, or NULL (and r is answered 400) if r did not ask to upgrade or
 * its client is gone. An upgrade request answered any other way closes the
 * connection after the answer. */
net_session_t *http_upgrade(http_req_t *r, const net_proto_t *proto, void *ctx);

/* Queues bytes for the peer (dropped once closed). */
void net_session_write(net_session_t *s, const void *p, size_t n);
/* Bytes queued and not yet taken by the socket (for back-pressure). */
size_t net_session_queued(const net_session_t *s);
/* Closes after what is queued is flushed; on_close follows. */
void net_session_close(net_session_t *s);
/* Asks for on_pass at the end of the current loop pass. */
void net_session_want_pass(net_session_t *s);
bool net_session_closed(const net_session_t *s);

typedef void (*net_session_fn)(net_session_t *s, void *ctx, void *data);
/* From ANY thread: runs fn(s, ctx, data) on the session's loop soon, if it
 * is still open then; otherwise drop(data) (may be NULL) runs instead, on
 * whichever thread finds it closed. Returns 0 if queued, -1 if the session
 * had already closed (drop was called). */
int net_session_post(net_session_t *s, net_session_fn fn, void *data, void (*drop)(void *data));
/* From ANY thread: runs fn(data) on the session's loop soon, whether or not
 * the session is still open then (fn serves more than this session).
 * Returns -1, calling nothing, if the session had already closed. */
int net_session_post_loop(net_session_t *s, void (*fn)(void *data), void *data);
void net_session_retain(net_session_t *s);
void net_session_release(net_session_t *s);

#endif
