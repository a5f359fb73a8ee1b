/* harness: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/common.h"
#include "api/routes.h"
#include "core/auth.h"
#include "core/catalog.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "core/sql.h"
#include "core/txn.h"
#include "net/server.h"
#include "store/store.h"

static const char *fixture =
    "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, name TEXT, price REAL, tags TEXT,"
    "  owner INTEGER REFERENCES people(id), made TEXT, data BLOB);"
    "CREATE TABLE IF NOT EXISTS people(id INTEGER PRIMARY KEY, name TEXT UNIQUE);"
    "CREATE TABLE IF NOT EXISTS pairs(a TEXT, b INTEGER, v, PRIMARY KEY (a, b)) WITHOUT ROWID;"
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(name, content='items', content_rowid='id');"
    "INSERT OR IGNORE INTO people VALUES (1, 'ann'), (2, 'bob');"
    "INSERT OR IGNORE INTO items VALUES (1, 'lamp', 25.5, '[\"a\",\"b\"]', 1, '2024-01-02', x'00ff'),"
    "  (2, 'desk', 120, '[\"b\"]', 2, '2023-12-31', NULL), (3, NULL, NULL, NULL, NULL, NULL, NULL),"
    "  (4, 'chair ~ / \" ''x''', -1e308, '[]', 1, 'x', zeroblob(3));"
    "INSERT OR IGNORE INTO pairs VALUES ('a', 1, 'x'), ('a,b', 2, 3.5), ('~', -1, NULL);"
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild');";

static int port;

int harness_start(void) {
    if (port) return port;
    if (sodium_init() < 0 || store_global_init() < 0) abort();
    char dir[] = "/tmp/atrium-fuzz-XXXXXX";
    if (!mkdtemp(dir)) abort();
    char path[256];
    snprintf(path, sizeof path, "%s/fx.db", dir);
    store_db_t *s;
    char msg[256];
    if (store_open(path, STORE_CREATE | STORE_WAL, &s, msg, sizeof msg) < 0 || store_exec(s, fixture) < 0) {
        fprintf(stderr, "fixture: %s\n", msg);
        abort();
    }
    store_close(s);
    server_block_signals();
    catalog_t *cat;
    err_t e;
    char gen[33];
    snprintf(path, sizeof path, "%s/data", dir);
    if (catalog_open(path, &cat, &e) < 0 || auth_init(cat, "fuzz-admin-pw", gen, &e) < 0) abort();
    snprintf(path, sizeof path, "%s/fx.db", dir);
    db_t *fx;
    if (catalog_db_register_file(cat, path, true, &fx, &e) < 0) abort();
    txn_init();
    dbh_opts_t dbo = {.max_running = 2};
    dbh_init(&dbo);
    static engine_t engine;
    engine = (engine_t){.catalog = cat,
                        .token_ttl_s = 3600,
                        .sql_time_limit_ms = 200,
                        .typedb_max_txn_timeout_ms = 2000,
                        .typedb_max_answers = 1000,
                        .ds_max_insert_rows = 100};
    pthread_mutex_init(&engine.hosts_lock, NULL);
    server_config_t cfg = {.host = "127.0.0.1",
                           .port = 0,
                           .threads = 1,
                           .max_header_bytes = 16384,
                           .max_body_bytes = 1 << 20,
                           .max_connections = 1000,
                           .header_timeout_ms = 2000,
                           .body_timeout_ms = 2000,
                           .idle_timeout_ms = 2000,
                           .quiet = true,
                           .prepare = api_prepare_body,
                           .prepare_min_body = API_PREPARE_MIN_BODY,
                           .router = api_router_new(),
                           .app = &engine};
    char err[256];
    server_t *srv = server_start(&cfg, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "server: %s\n", err);
        abort();
    }
    port = server_port(srv);
    return port;
}

void harness_roundtrip(int p, const uint8_t *data, size_t n) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc < 0 && errno == EINTR) {
        /* libFuzzer's timer signal: the connect goes on; wait for it. */
        struct pollfd pw = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        while (poll(&pw, 1, 5000) < 0 && errno == EINTR) {
        }
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 ? 0 : -1;
        errno = soerr;
    }
    if (rc < 0) {
        int en = errno, nfd = 0;
        DIR *d = opendir("/proc/self/fd");
        while (d && readdir(d)) nfd++;
        if (d) closedir(d);
        fprintf(stderr, "harness: connect: %s (%d fds open)\n", strerror(en), nfd);
        abort();
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, data + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break; /* the server may answer and close early (413, 400) */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* Closed with a reset once read: no TIME_WAIT, so a long run does not
     * run out of ephemeral ports. */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    char buf[65536];
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    /* Bounded: a server that never answers shows up as a fuzzer timeout. */
    for (;;) {
        int pr = poll(&pf, 1, 5000);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
    }
    close(fd);
}
