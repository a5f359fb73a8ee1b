/* net_internal: what net/session.c and net/server.c share (private to
 * net/). server.c owns connections and loops; session.c owns sessions. */
#ifndef ATRIUM_NET_INTERNAL_H
#define ATRIUM_NET_INTERNAL_H
#include <stddef.h>

#include "net/session.h"

typedef struct conn conn_t;
typedef struct worker worker_t;

/* server.c, loop thread: */
void net_conn_write(conn_t *c, const char *p, size_t n);
size_t net_conn_queued(const conn_t *c);
void net_conn_close_gracefully(conn_t *c);
/* Asks the worker's end-of-pass phase to call net_session_pass(s). */
void net_worker_want_pass(worker_t *w, net_session_t *s);
/* server.c, any thread: runs fn(a, b) on w's loop (its post queue). The
 * worker drains its queue before it ends, so nothing queued is lost. */
void net_worker_post(worker_t *w, void (*fn)(void *a, void *b), void *a, void *b);

/* session.c, loop thread: */
net_session_t *net_session_new(conn_t *c, worker_t *w, const net_proto_t *proto, void *ctx);
void net_session_deliver(net_session_t *s, const char *p, size_t n);
/* The connection is gone: marks the session closed, calls on_close, and
 * drops the transport's reference. */
void net_session_conn_gone(net_session_t *s);
/* The end-of-pass call net_worker_want_pass asked for (then releases). */
void net_session_pass(net_session_t *s);

#endif
