/* session: upgraded connections (see session.h). Invariants: c is set
 * while the connection lives and only read on the loop; closed only goes
 * false -> true, under m, on the loop; a post is queued only under m while
 * not closed, so every queued post runs (or drops) before the loop ends. */
#include "net/session.h"

#include <pthread.h>
#include <stdlib.h>

#include "net/net_internal.h"
#include "util/buf.h"
#include "util/thread.h"

struct net_session {
    conn_t *c; /* NULL once the connection is gone */
    worker_t *w;
    const net_proto_t *proto;
    void *ctx;
    pthread_mutex_t m;
    bool closed;
    bool pass_pending; /* loop only */
    int refs;          /* atomic */
};

net_session_t *net_session_new(conn_t *c, worker_t *w, const net_proto_t *proto, void *ctx) {
    net_session_t *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->w = w;
    s->proto = proto;
    s->ctx = ctx;
    s->refs = 1; /* the transport's, until the connection is gone */
    pthread_mutex_init(&s->m, NULL);
    return s;
}

void net_session_retain(net_session_t *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

void net_session_release(net_session_t *s) {
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    pthread_mutex_destroy(&s->m);
    free(s);
}

bool net_session_closed(const net_session_t *s) {
    ASSERT_ON_LOOP();
    return s->closed;
}

void net_session_deliver(net_session_t *s, const char *p, size_t n) {
    if (!s->closed && n) s->proto->on_data(s, s->ctx, p, n);
}

void net_session_conn_gone(net_session_t *s) {
    pthread_mutex_lock(&s->m);
    bool was = s->closed;
    s->closed = true;
    s->c = NULL;
    pthread_mutex_unlock(&s->m);
    if (!was && s->proto->on_close) s->proto->on_close(s, s->ctx);
    net_session_release(s);
}

void net_session_write(net_session_t *s, const void *p, size_t n) {
    ASSERT_ON_LOOP();
    if (s->c) net_conn_write(s->c, p, n);
}

size_t net_session_queued(const net_session_t *s) {
    ASSERT_ON_LOOP();
    return s->c ? net_conn_queued(s->c) : 0;
}

void net_session_close(net_session_t *s) {
    ASSERT_ON_LOOP();
    if (s->c) net_conn_close_gracefully(s->c);
}

void net_session_want_pass(net_session_t *s) {
    ASSERT_ON_LOOP();
    if (s->closed || s->pass_pending || !s->proto->on_pass) return;
    s->pass_pending = true;
    net_session_retain(s); /* the pass list's */
    net_worker_want_pass(s->w, s);
}

void net_session_pass(net_session_t *s) {
    s->pass_pending = false;
    if (!s->closed) s->proto->on_pass(s, s->ctx);
    net_session_release(s);
}

typedef struct {
    net_session_fn fn;
    void (*drop)(void *data);
    void *data;
    void (*always)(void *data); /* net_session_post_loop's */
} post_t;

static void run_post(void *a, void *b) {
    net_session_t *s = a;
    post_t *p = b;
    if (p->always) {
        p->always(p->data);
    } else if (s->closed) {
        if (p->drop) p->drop(p->data);
    } else {
        p->fn(s, s->ctx, p->data);
    }
    free(p);
    net_session_release(s);
}

int net_session_post(net_session_t *s, net_session_fn fn, void *data, void (*drop)(void *data)) {
    pthread_mutex_lock(&s->m);
    if (s->closed) {
        pthread_mutex_unlock(&s->m);
        if (drop) drop(data);
        return -1;
    }
    post_t *p = xmalloc(sizeof *p);
    *p = (post_t){fn, drop, data, NULL};
    net_session_retain(s); /* the queued post's */
    net_worker_post(s->w, run_post, s, p);
    pthread_mutex_unlock(&s->m);
    return 0;
}

int net_session_post_loop(net_session_t *s, void (*fn)(void *data), void *data) {
    pthread_mutex_lock(&s->m);
    if (s->closed) {
        pthread_mutex_unlock(&s->m);
        return -1;
    }
    post_t *p = xmalloc(sizeof *p);
    *p = (post_t){NULL, NULL, data, fn};
    net_session_retain(s);
    net_worker_post(s->w, run_post, s, p);
    pthread_mutex_unlock(&s->m);
    return 0;
}

worker_t *net_session_worker(net_session_t *s) { return s->w; }

bool net_session_shutdown(net_session_t *s) {
    ASSERT_ON_LOOP();
    if (s->closed || !s->proto->on_shutdown) return false;
    s->proto->on_shutdown(s, s->ctx);
    return true;
}
