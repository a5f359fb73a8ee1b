/* http: the request/response contract between the transport (net/) and the
 * dialects (api/). A handler receives an http_req_t, and answers it exactly
 * once, now or later (after deferred work), with http_respond*() or a
 * stream (http_stream_*). The transport owns the request; it stays valid
 * until answered even if the client disconnects meanwhile (the answer is
 * then dropped). All calls happen on the request's own event loop thread. */
#ifndef ATRIUM_NET_HTTP_H
#define ATRIUM_NET_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define HTTP_MAX_CAPTURES 8
#define HTTP_MAX_HEADERS 64

typedef enum {
    M_GET = 1, M_HEAD = 2, M_POST = 4, M_PUT = 8, M_DELETE = 16, M_PATCH = 32, M_OPTIONS = 64, M_OTHER = 128,
} http_method_t;

typedef struct {
    char *name; /* lower-cased */
    char *value;
} http_header_t;

typedef struct dialect dialect_t;
typedef struct http_req http_req_t;
typedef void (*http_done_fn_priv)(http_req_t *r, void *data);

struct http_req {
    http_method_t method;
    const char *method_name;
    char *target; /* raw request target */
    char *path;   /* raw (undecoded) path part of target */
    char *query;  /* raw query string after '?', or NULL */
    http_header_t headers[HTTP_MAX_HEADERS];
    int nheaders;
    buf_t body;
    /* A body spooled to a file instead (see dialect_t.spool_limit): its
     * path and size; body is then empty. The file goes with the request. */
    char *body_path;
    size_t body_size;
    /* Router captures: raw path segments (not decoded). */
    const char *cap[HTTP_MAX_CAPTURES];
    size_t cap_len[HTTP_MAX_CAPTURES];
    int ncap;
    const dialect_t *dialect; /* who answers errors for this path */
    const char *route;        /* the pattern that matched (NULL: none did) */
    void *app;                /* the application context the server was given */
    /* transport-private */
    void *conn;
    uint64_t start_us;
    bool answered;
    bool dispatched;
    bool streaming;
    bool keep_alive;
    bool upgrade; /* the client asked to switch protocols (see net/session.h) */
    buf_t extra_headers; /* "Name: value\r\n" lines added by the handler */
    int status;
    uint64_t bytes_out;
    http_done_fn_priv timer_fn; /* http_after's callback, while armed */
    void *timer_data;
    http_done_fn_priv abort_fn; /* http_on_abort's callback, while armed */
    void *abort_data;
    /* What the server's prepare hook made of the body off the loop (see
     * server_config_t.prepare), freed with the request. */
    void *prepared;
    void (*prepared_free)(void *);
    /* target, path, query and the headers' names and values live in one
     * arena (NUL-terminated, at these offsets; -1: absent) */
    buf_t strings;
    int32_t target_off, path_off, query_off;
    uint32_t header_off[HTTP_MAX_HEADERS];
};

/* Case-insensitive header lookup; NULL if absent. */
const char *http_header(const http_req_t *r, const char *name);
/* Adds a response header (before answering). */
void http_add_header(http_req_t *r, const char *name, const char *value);

void http_respond(http_req_t *r, int status, const char *content_type, const void *body, size_t len);
/* Same, taking the buffer's storage (b is left empty). */
void http_respond_buf(http_req_t *r, int status, const char *content_type, buf_t *b);
/* An error in the request's dialect shape (router fallback when none). */
void http_respond_error(http_req_t *r, int status, const char *message);

/* Chunked streaming: begin, any number of writes, end. */
typedef void (*http_done_fn)(http_req_t *r, void *data);
void http_stream_begin(http_req_t *r, int status, const char *content_type);
void http_stream_write(http_req_t *r, const void *p, size_t n);
void http_stream_end(http_req_t *r);
/* Back-pressure for streams: calls fn(r, data) on the loop once fewer than
 * ~1 MiB of the response wait in the socket queue, or when the client goes
 * away; always from the loop's queue, never inside this call (so a stream
 * that never waits does not recurse). One waiter per request. */
void http_on_drain(http_req_t *r, http_done_fn fn, void *data);
/* Closes fd (-1: none) and unlinks path (malloc'd, taken; NULL: none) on
 * the thread pool, so the loop never waits on the disk. Loop thread. */
void http_discard_file(http_req_t *r, int fd, char *path);
/* True once the client's connection is closed (further output is dropped). */
bool http_gone(const http_req_t *r);

/* Runs work(data) on a worker thread, then done(r, data) back on r's loop.
 * The request stays valid throughout; done must answer it. */
typedef void (*http_work_fn)(void *data);
void http_defer(http_req_t *r, http_work_fn work, http_done_fn done, void *data);

/* Calls fn(r, data) on r's loop after ms unless r is answered first (one
 * timer per request; arming again replaces it). For waits with a deadline,
 * e.g. a write queued behind a held writer. */
void http_after(http_req_t *r, uint64_t ms, http_done_fn fn, void *data);

/* Calls fn(r, data) on r's loop, once, if the client goes away (or the
 * server gives up on it at shutdown) before r is answered: the place to
 * interrupt work nobody waits for any more. r must still be answered. */
void http_on_abort(http_req_t *r, http_done_fn fn, void *data);

/* From ANY thread: runs fn(r, data) on r's own loop thread soon after.
 * This is how work finished elsewhere (a database writer) answers. */
void http_post(http_req_t *r, http_done_fn fn, void *data);

const char *http_status_text(int status);

#endif
