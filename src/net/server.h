/* server: the HTTP/1.1 transport. One libuv loop per thread, each with its
 * own SO_REUSEPORT listening socket (the kernel spreads connections); a
 * connection lives on one loop for its life. Requests are parsed with
 * http-parser, answered in order (pipelining), and bounded by the limits
 * below. SIGINT/SIGTERM stop accepting, let in-flight requests finish, and
 * make server_wait return. */
#ifndef ATRIUM_NET_SERVER_H
#define ATRIUM_NET_SERVER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/router.h"

typedef struct {
    const char *host;
    int port; /* 0: any free port (see server_port) */
    int threads;
    size_t max_header_bytes;
    size_t max_body_bytes;
    int max_connections;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms; /* from the end of the headers to the end of the body */
    uint64_t idle_timeout_ms;
    bool quiet; /* no access log */
    /* Called once (from server_wait's thread, which may block) if requests
     * are still in flight DRAIN_GRACE after a stop signal: interrupt what
     * they wait for. The loops drop their busy connections then too (see
     * http_on_abort). May be NULL. */
    void (*on_grace_expired)(void *app);
    /* Optional: runs on the thread pool, before dispatch, for requests
     * whose body has at least prepare_min_body bytes, so that costly body
     * work (parsing a 50 MiB JSON document) never stalls a loop. It may
     * set r->prepared / r->prepared_free; it must not answer. */
    void (*prepare)(http_req_t *r);
    size_t prepare_min_body;
    /* Optional: called on each loop thread at the end of every loop pass
     * (after that pass's I/O callbacks), and once more when the loop ends:
     * where what the loop held for one pass is let go. */
    void (*on_pass_end)(void);
    /* Where spooled request bodies are written (dialect_t.spool_limit);
     * NULL: none are. */
    const char *spool_dir;
    const router_t *router;
    void *app; /* handed to handlers as req->app */
} server_config_t;

typedef struct server server_t;

/* Binds and starts the loops; on failure returns NULL with a message in err. */
server_t *server_start(const server_config_t *cfg, char *err, size_t errlen);
int server_port(const server_t *s);
/* Blocks until SIGINT/SIGTERM, drains, frees the server. Returns 0. */
int server_wait(server_t *s);
/* Blocks SIGINT/SIGTERM/SIGPIPE in the calling thread; call before any other
 * thread starts so every thread inherits the mask. */
void server_block_signals(void);

#endif
