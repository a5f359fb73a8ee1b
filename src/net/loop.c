/* loop: the server's event loops, listeners, start and graceful stop
 * (see server.h). One worker thread per loop, each with its own
 * SO_REUSEPORT listener; stopping closes the listeners, lets requests in
 * flight finish for DRAIN_GRACE_MS, then drops what is left. */
#include "net/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_internal.h"
#include "util/thread.h"
#include "util/timeutil.h"

/* ---- loops and lifecycle ---------------------------------------------- */

static void on_drain_timeout(uv_timer_t *t) {
    worker_t *w = t->data;
    for (conn_t *c = w->conns, *n; c; c = n) {
        n = c->next;
        net_conn_close(c);
    }
    uv_close((uv_handle_t *)t, NULL);
}

static void on_stop(uv_async_t *a) {
    worker_t *w = a->data;
    w->stopping = true;
    uv_close((uv_handle_t *)&w->listener, NULL);
    uv_close((uv_handle_t *)&w->stop_async, NULL);
    for (conn_t *c = w->conns, *n; c; c = n) {
        n = c->next;
        if (c->state == ST_UPGRADED && c->session && net_session_shutdown(c->session)) continue;
        if (c->state != ST_HANDLING) net_conn_close(c);
    }
    if (w->conns) {
        uv_timer_init(&w->loop, &w->drain_timer);
        w->drain_timer.data = w;
        uv_timer_start(&w->drain_timer, on_drain_timeout, DRAIN_GRACE_MS + DRAIN_ANSWER_MS, 0);
        uv_unref((uv_handle_t *)&w->drain_timer);
    }
}

static void on_pass_end(uv_check_t *h) {
    worker_t *w = h->data;
    w->srv->cfg.on_pass_end();
}

static void worker_main(void *arg) {
    worker_t *w = arg;
    thread_mark_loop();
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* Requests whose connection is gone may still be answered from another
     * thread (http_post): keep the loop turning until they are. */
    if (w->inflight > 0) {
        uv_ref((uv_handle_t *)&w->post_async);
        while (w->inflight > 0) uv_run(&w->loop, UV_RUN_ONCE);
    }
    /* Sessions are all closed by now (on_stop): posts still queued for them
     * drop their data, and pending passes let go of their references. */
    net_on_post(&w->post_async);
    if (w->npass) net_on_pass_check(&w->pass_check);
    uv_close((uv_handle_t *)&w->pass_check, NULL);
    if (w->srv->cfg.on_pass_end) w->srv->cfg.on_pass_end();
    uv_close((uv_handle_t *)&w->pass_end, NULL);
    uv_close((uv_handle_t *)&w->post_async, NULL);
    /* Close whatever is left (the drain timer) and let the loop finish. */
    if (w->conns == NULL && uv_is_active((uv_handle_t *)&w->drain_timer)) uv_close((uv_handle_t *)&w->drain_timer, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    net_worker_free_reqs(w);
    pthread_mutex_lock(&w->srv->done_lock);
    w->srv->running_workers--;
    pthread_cond_signal(&w->srv->done_cv);
    pthread_mutex_unlock(&w->srv->done_lock);
}

/* Every loop listens with SO_REUSEPORT, which would let a second server on
 * the same port start silently and take a share of the connections. So the
 * port is first bound once without it: if anything listens there, that
 * bind fails and the server does not start. */
static int make_listener(const char *host, int port, bool reuseport, char *err, size_t errlen);

static int probe_port(const char *host, int port, char *err, size_t errlen) {
    int fd = make_listener(host, port, false, err, errlen);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int make_listener(const char *host, int port, bool reuseport, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int family = AF_INET;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
            snprintf(err, errlen, "invalid host address '%s' (give an IP address)", host);
            return -1;
        }
        family = AF_INET6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
        if (errno == EADDRINUSE)
            snprintf(err, errlen, "cannot listen on %s:%d: the port is already in use (is another server running?)",
                     host, port);
        else snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void server_block_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void raise_fd_limit(int want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max : (rlim_t)want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

server_t *server_start(const server_config_t *cfg, char *err, size_t errlen) {
    net_http_init();
    raise_fd_limit(cfg->max_connections + 256);

    server_t *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->nworkers = cfg->threads > 0 ? cfg->threads : 1;
    s->workers = xcalloc((size_t)s->nworkers, sizeof *s->workers);
    int port = cfg->port;
    if (port != 0 && probe_port(cfg->host, port, err, errlen) < 0) {
        free(s->workers);
        free(s);
        return NULL;
    }
    for (int i = 0; i < s->nworkers; i++) {
        worker_t *w = &s->workers[i];
        w->srv = s;
        w->fd = make_listener(cfg->host, port, true, err, errlen);
        if (w->fd < 0) {
            for (int k = 0; k < i; k++) close(s->workers[k].fd);
            free(s->workers);
            free(s);
            return NULL;
        }
        if (port == 0) port = bound_port(w->fd); /* the others join the same port */
    }
    s->port = port;
    pthread_mutex_init(&s->done_lock, NULL);
    time_cond_init_mono(&s->done_cv);
    s->running_workers = s->nworkers;
    for (int i = 0; i < s->nworkers; i++) {
        worker_t *w = &s->workers[i];
        uv_loop_init(&w->loop);
        uv_tcp_init(&w->loop, &w->listener);
        w->listener.data = w;
        uv_tcp_open(&w->listener, w->fd);
        uv_listen((uv_stream_t *)&w->listener, 1024, net_on_connection);
        uv_async_init(&w->loop, &w->stop_async, on_stop);
        w->stop_async.data = w;
        pthread_mutex_init(&w->post_lock, NULL);
        uv_async_init(&w->loop, &w->post_async, net_on_post);
        w->post_async.data = w;
        uv_unref((uv_handle_t *)&w->post_async);
        uv_check_init(&w->loop, &w->pass_check);
        w->pass_check.data = w;
        uv_unref((uv_handle_t *)&w->pass_check);
        uv_check_init(&w->loop, &w->pass_end);
        w->pass_end.data = w;
        if (cfg->on_pass_end) uv_check_start(&w->pass_end, on_pass_end);
        uv_unref((uv_handle_t *)&w->pass_end);
        uv_thread_create(&w->thread, worker_main, w);
    }
    return s;
}

int server_port(const server_t *s) { return s->port; }

int server_wait(server_t *s) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    if (!s->cfg.quiet) fprintf(stderr, "atrium: %s received, finishing in-flight requests\n", strsignal(sig));
    for (int i = 0; i < s->nworkers; i++) uv_async_send(&s->workers[i].stop_async);
    /* In-flight requests get DRAIN_GRACE_MS to finish; then what they wait
     * for is interrupted, so a long query cannot hold up the shutdown. */
    uint64_t until = time_mono_us() + (uint64_t)DRAIN_GRACE_MS * 1000;
    struct timespec ts;
    time_mono_timespec(until, &ts);
    pthread_mutex_lock(&s->done_lock);
    while (s->running_workers > 0)
        if (pthread_cond_timedwait(&s->done_cv, &s->done_lock, &ts) == ETIMEDOUT) break;
    bool late = s->running_workers > 0;
    pthread_mutex_unlock(&s->done_lock);
    if (late && s->cfg.on_grace_expired) {
        if (!s->cfg.quiet) fprintf(stderr, "atrium: interrupting requests still running after %d ms\n", DRAIN_GRACE_MS);
        s->cfg.on_grace_expired(s->cfg.app);
    }
    for (int i = 0; i < s->nworkers; i++) {
        uv_thread_join(&s->workers[i].thread);
        pthread_mutex_destroy(&s->workers[i].post_lock);
    }
    pthread_mutex_destroy(&s->done_lock);
    pthread_cond_destroy(&s->done_cv);
    free(s->workers);
    free(s);
    return 0;
}
