/* net_internal: what net/'s files share (private to net/). server.c owns
 * connections and HTTP; loop.c owns the loops, listeners and the server's
 * start and stop; session.c owns sessions. */
#ifndef ATRIUM_NET_INTERNAL_H
#define ATRIUM_NET_INTERNAL_H
#include <http_parser.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <uv.h>

#include "net/server.h"
#include "net/session.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_PENDING_INPUT (1024 * 1024) /* stop reading a pipelining client past this */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (4 * 1024 * 1024)
#define DRAIN_GRACE_MS 5000 /* then what busy requests wait for is interrupted… */
#define DRAIN_ANSWER_MS 1000 /* …and they get this long to answer before their connections are dropped */

/* ST_SPOOLING: the body's last chunk is being written to its spool file
 * (parsing waits; the socket reads on up to MAX_PENDING_INPUT). */
typedef enum { ST_IDLE, ST_HEADERS, ST_BODY, ST_SPOOLING, ST_HANDLING, ST_CLOSING, ST_UPGRADED } conn_state_t;

typedef struct worker worker_t;
typedef struct conn conn_t;

/* An item of a loop's post queue: a request's continuation (req_fn) or a
 * plain function (fn, for sessions). */
typedef struct post_item {
    struct post_item *next;
    http_req_t *r;
    http_done_fn req_fn;
    void (*fn)(void *a, void *b);
    void *a, *data;
} post_item_t;

struct worker {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop_async;
    uv_async_t post_async; /* wakes the loop for http_post; unref'd */
    pthread_mutex_t post_lock;
    post_item_t *post_head, *post_tail;
    uv_check_t pass_check;    /* end of a loop pass: sessions that asked for it */
    uv_check_t pass_end;      /* end of every loop pass: cfg.on_pass_end */
    net_session_t **pass;     /* loop thread only */
    size_t npass, cappass;
    int inflight; /* requests dispatched and not yet answered (loop thread only) */
    uv_timer_t drain_timer;
    uv_thread_t thread;
    server_t *srv;
    int fd;
    conn_t *conns; /* doubly linked list of live connections */
    char read_buf[READ_BUF_SIZE];
    bool read_buf_busy;
    http_req_t *free_reqs[32]; /* freed requests kept for reuse (loop thread only) */
    int nfree_reqs;
    bool stopping;
    time_t date_at;
    char date[64];
};

/* Frees the requests a stopped loop kept for reuse. */
void net_worker_free_reqs(worker_t *w);

struct server {
    server_config_t cfg;
    pthread_mutex_t done_lock;
    pthread_cond_t done_cv;
    int running_workers; /* guarded by done_lock */
    worker_t *workers;
    int nworkers;
    int port;
    int nconns; /* atomic */
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    worker_t *w;
    conn_t *prev, *next;
    http_parser parser;
    conn_state_t state;
    http_req_t *req;
    buf_t in; /* unparsed input */
    size_t header_bytes;
    size_t body_max; /* this request's body limit (the server's, or its dialect's lower one) */
    int err_status;
    const char *err_msg;
    buf_t hfield, hvalue, url;
    bool last_was_value;
    bool closing;    /* uv_close called */
    bool eof;        /* peer closed its side */
    bool in_process; /* inside process(): answers continue the loop there */
    bool reading;
    int handles_open;
    size_t lingered;
    net_session_t *session; /* ST_UPGRADED: who gets the bytes */
    http_done_fn drain_fn; /* a stream waiting for its queue to empty */
    void *drain_data;
    /* A spooled body (dialect_t.spool_limit): the file, its size so far,
     * whether the parser waits for a flush, and whether one runs. */
    char *spool_path;
    int spool_fd;
    size_t spool_size;
    bool spool, spool_flush, spool_busy;
};

/* server.c, loop thread: the handlers loop.c installs. */
void net_conn_close(conn_t *c);
void net_on_post(uv_async_t *a);
void net_on_pass_check(uv_check_t *h);
void net_on_connection(uv_stream_t *ls, int status);
/* Sets the HTTP parser's callbacks; once, before any loop starts. */
void net_http_init(void);

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
/* The loop a session lives on (for protocols in net/ that need timers). */
worker_t *net_session_worker(net_session_t *s);
/* Server stop: lets the protocol close its own way; false if it has no
 * such way (close the connection then). */
bool net_session_shutdown(net_session_t *s);
/* The connection is gone: marks the session closed, calls on_close, and
 * drops the transport's reference. */
void net_session_conn_gone(net_session_t *s);
/* The end-of-pass call net_worker_want_pass asked for (then releases). */
void net_session_pass(net_session_t *s);

#endif
