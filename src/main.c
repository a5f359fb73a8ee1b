/* main: the command line. `atrium serve` wires catalog, auth, dialect routes
 * and the transport together; `atrium user` / `atrium token` manage the
 * catalog offline; `atrium demo` writes the demo database `make run` serves. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/common.h"
#include "api/routes.h"
#include "core/auth.h"
#include "core/catalog.h"
#include "core/database.h"
#include "core/dbh.h"
#include "core/subs.h"
#include "core/txn.h"
#include "core/demo.h"
#include "core/names.h"
#include "core/rcache.h"
#include "core/sql.h"
#include "core/engine.h"
#include "net/server.h"
#include "store/store.h"

static const char *usage_main =
    "atrium " ATRIUM_VERSION " - a database server for SQLite, over HTTP/JSON\n"
    "\n"
    "Usage:\n"
    "  atrium serve [FILE.db ...] [options]   serve the databases in --data, plus FILE.db in place\n"
    "  atrium user list|add|passwd|delete [NAME] [--data DIR]\n"
    "                                        manage users (password from $ATRIUM_PASSWORD or stdin)\n"
    "  atrium token create USER [--ttl SECONDS] [--data DIR]\n"
    "                                        print a new API token for USER\n"
    "  atrium demo FILE.db                    write a small demo database\n"
    "  atrium backup SOURCE.db COPY.db        a consistent copy of a SQLite file (progress bar on a terminal)\n"
    "  atrium routes                          list the HTTP routes (method, pattern, dialect)\n"
    "  atrium --version | --help\n"
    "\n"
    "Run `atrium serve --help` for the server options.\n";

static const char *usage_serve =
    "Usage: atrium serve [FILE.db ...] [options]\n"
    "\n"
    "Each FILE.db is served in place under its file stem (sanitised to the name rules);\n"
    "anyone may read it unless --private is given. Other databases live in DIR/dbs/.\n"
    "\n"
    "Options:\n"
    "  --data DIR              data directory (default ./atrium-data)\n"
    "  --host H                address to listen on (default 127.0.0.1)\n"
    "  --port N                port (default 8000; 0 picks a free one)\n"
    "  --threads N             event loops (default: number of cores)\n"
    "  --admin-password PW     admin password on first start (or $ATRIUM_ADMIN_PASSWORD);\n"
    "                          without either, one is generated and printed once\n"
    "  --private               FILE.db arguments are not readable anonymously\n"
    "  --cors                  send CORS headers on the Datasette routes\n"
    "  --allow-signup          anyone may create a user (Airsequel's POST /api/users)\n"
    "  --metrics-public        anyone may read /metrics (without the per-database series, which\n"
    "                          name databases: those stay the admin's)\n"
    "  --quiet                 no access log\n"
    "  --token-ttl S           sign-in token lifetime in seconds (default 14400, max 31536000)\n"
    "  --max-body BYTES        request body limit (default 67108864 = 64 MiB)\n"
    "  --max-header BYTES      request line + headers limit (default 16384)\n"
    "  --max-connections N     open connections limit (default 10000)\n"
    "  --header-timeout S      seconds to receive a request's headers (default 10)\n"
    "  --body-timeout S        seconds to receive a request's whole body (default 60)\n"
    "  --idle-timeout S        seconds a keep-alive connection may idle (default 60)\n"
    "  --max-response-bytes N  largest answer built in memory (default 67108864 = 64 MiB)\n"
    "  --sql-time-limit-ms N   time limit of a statement (default 1000)\n"
    "  --typedb-max-txn-timeout S  longest TypeDB transaction allowed (default 3600)\n"
    "  --typedb-max-answers N  most answers a TypeDB query may ask for (default 1000000)\n"
    "  --max-insert-rows N     most rows one Datasette insert may carry (default 100)\n"
    "  --ws-max-message-bytes N  largest WebSocket message accepted (default 33554432 = 32 MiB)\n"
    "  --ws-idle-timeout S     close a WebSocket (1008) after S seconds without a frame from the\n"
    "                          client; it is pinged at half that (default 30)\n"
    "  --ws-max-queue-bytes N  outbound bytes a WebSocket may have waiting before it is closed\n"
    "                          with 1008 (default 268435456 = 256 MiB)\n"
    "  --cache-bytes N         memory kept for read answers that can be reused until their database\n"
    "                          next changes (default 67108864 = 64 MiB; 0 turns the cache off)\n"
    "  --sync full|normal      durability of commits (default full: survives power loss)\n"
    "  --no-group-commit       one transaction and fsync per write (for benchmarks)\n";

/* The CLI asks more of a password than the API (whose rules are the
 * dialects'): an operator typing one gets told it is too short. */
#define MIN_CLI_PASSWORD 8
#define MIN_CLI_PASSWORD_TEXT "8"

static int die(const char *fmt, const char *arg) {
    fprintf(stderr, "atrium: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

static bool parse_num(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

typedef struct {
    const char *data_dir;
    const char *host;
    int port;
    int threads;
    const char *admin_password;
    bool private_files, cors, allow_signup, metrics_public, quiet, no_group_commit, sync_normal;
    double max_txn_s, max_answers, max_insert_rows, sql_time_limit_ms, token_ttl, max_body, max_header, max_conns, header_timeout, idle_timeout,
        body_timeout, max_response, ws_max_message, ws_max_queue, ws_idle, cache_bytes;
    const char **files;
    int nfiles;
} serve_opts_t;

/* Fetches the value of an option ("--x V" or "--x=V"); an option given
 * without its value ends the program with a message saying so. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != 0) return NULL;
    if (*i + 1 >= argc) exit(die("option %s needs a value", name));
    return argv[++*i];
}

static int parse_serve(int argc, char **argv, serve_opts_t *o) {
    o->data_dir = "./atrium-data";
    o->host = "127.0.0.1";
    o->port = 8000;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cores > 0 ? (int)cores : 1;
    o->admin_password = getenv("ATRIUM_ADMIN_PASSWORD");
    o->token_ttl = 14400;
    o->sql_time_limit_ms = 1000;
    o->max_txn_s = 3600;
    o->max_answers = 1000000;
    o->max_insert_rows = 100;
    o->max_body = 64.0 * 1024 * 1024;
    o->max_header = 16384;
    o->max_conns = 10000;
    o->header_timeout = 10;
    o->idle_timeout = 60;
    o->body_timeout = 60;
    o->max_response = 64.0 * 1024 * 1024;
    o->ws_max_message = 32.0 * 1024 * 1024;
    o->ws_max_queue = 256.0 * 1024 * 1024;
    o->ws_idle = 30;
    o->cache_bytes = 64.0 * 1024 * 1024;
    o->files = calloc((size_t)argc, sizeof *o->files);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        double d;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_serve, stdout);
            exit(0);
        } else if (strcmp(a, "--private") == 0) o->private_files = true;
        else if (strcmp(a, "--cors") == 0) o->cors = true;
        else if (strcmp(a, "--allow-signup") == 0) o->allow_signup = true;
        else if (strcmp(a, "--metrics-public") == 0) o->metrics_public = true;
        else if (strcmp(a, "--quiet") == 0) o->quiet = true;
        else if (strcmp(a, "--no-group-commit") == 0) o->no_group_commit = true;
        else if ((v = opt_value(argc, argv, &i, "--sync"))) {
            if (strcmp(v, "full") != 0 && strcmp(v, "normal") != 0) return die("invalid --sync '%s' (full or normal)", v);
            o->sync_normal = strcmp(v, "normal") == 0;
        }
        else if ((v = opt_value(argc, argv, &i, "--data"))) o->data_dir = v;
        else if ((v = opt_value(argc, argv, &i, "--host"))) o->host = v;
        else if ((v = opt_value(argc, argv, &i, "--admin-password"))) o->admin_password = v;
        else if ((v = opt_value(argc, argv, &i, "--port"))) {
            if (!parse_num(v, 0, 65535, &d)) return die("invalid --port '%s'", v);
            o->port = (int)d;
        } else if ((v = opt_value(argc, argv, &i, "--threads"))) {
            if (!parse_num(v, 1, 256, &d)) return die("invalid --threads '%s'", v);
            o->threads = (int)d;
        } else if ((v = opt_value(argc, argv, &i, "--token-ttl"))) {
            if (!parse_num(v, 1, 31536000, &o->token_ttl)) return die("invalid --token-ttl '%s' (1..31536000)", v);
        } else if ((v = opt_value(argc, argv, &i, "--typedb-max-txn-timeout"))) {
            if (!parse_num(v, 1, 86400 * 7, &o->max_txn_s)) return die("invalid --typedb-max-txn-timeout '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--max-insert-rows"))) {
            if (!parse_num(v, 1, 1e6, &o->max_insert_rows)) return die("invalid --max-insert-rows '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--typedb-max-answers"))) {
            if (!parse_num(v, 1, 1e9, &o->max_answers)) return die("invalid --typedb-max-answers '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--sql-time-limit-ms"))) {
            if (!parse_num(v, 1, 3600000, &o->sql_time_limit_ms)) return die("invalid --sql-time-limit-ms '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--max-body"))) {
            if (!parse_num(v, 0, 1e12, &o->max_body)) return die("invalid --max-body '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--max-header"))) {
            if (!parse_num(v, 256, 1 << 24, &o->max_header)) return die("invalid --max-header '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--max-connections"))) {
            if (!parse_num(v, 1, 1e6, &o->max_conns)) return die("invalid --max-connections '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--header-timeout"))) {
            if (!parse_num(v, 0.001, 86400, &o->header_timeout)) return die("invalid --header-timeout '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--body-timeout"))) {
            if (!parse_num(v, 0.001, 86400, &o->body_timeout)) return die("invalid --body-timeout '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--max-response-bytes"))) {
            if (!parse_num(v, 4096, 1e12, &o->max_response)) return die("invalid --max-response-bytes '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--ws-max-message-bytes"))) {
            if (!parse_num(v, 1024, 1e10, &o->ws_max_message)) return die("invalid --ws-max-message-bytes '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--ws-idle-timeout"))) {
            if (!parse_num(v, 0.1, 86400, &o->ws_idle)) return die("invalid --ws-idle-timeout '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--ws-max-queue-bytes"))) {
            if (!parse_num(v, 4096, 1e12, &o->ws_max_queue)) return die("invalid --ws-max-queue-bytes '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--cache-bytes"))) {
            if (!parse_num(v, 0, 1e12, &o->cache_bytes)) return die("invalid --cache-bytes '%s'", v);
        } else if ((v = opt_value(argc, argv, &i, "--idle-timeout"))) {
            if (!parse_num(v, 0.001, 86400, &o->idle_timeout)) return die("invalid --idle-timeout '%s'", v);
        } else if (a[0] == '-') {
            return die("unknown or incomplete option '%s' (see atrium serve --help)", a);
        } else {
            o->files[o->nfiles++] = a;
        }
    }
    return 0;
}

static int open_catalog(const char *dir, catalog_t **c) {
    err_t e;
    if (catalog_open(dir, c, &e) < 0) return die("%s", e.msg);
    return 0;
}

static void print_route(void *ctx, const char *dialect, unsigned methods, const char *pattern) {
    (void)ctx;
    for (unsigned bit = 1; bit <= M_OTHER; bit <<= 1)
        if (methods & bit) printf("%s %s %s\n", router_method_name(bit), pattern, dialect);
}

/* `atrium routes`: the route table, one "METHOD PATTERN DIALECT" a line. */
static int cmd_routes(void) {
    router_t *rt = api_router_new();
    router_each(rt, print_route, NULL);
    router_free(rt);
    return 0;
}

/* Shutdown's grace ran out: stop what in-flight requests wait for. */
static void interrupt_all(void *app) {
    (void)app;
    txn_interrupt_all();
}

static int cmd_serve(int argc, char **argv) {
    serve_opts_t o;
    memset(&o, 0, sizeof o);
    int rc = parse_serve(argc, argv, &o);
    if (rc) return rc;
    server_block_signals();
    /* Memory bounds (see README): no single value and no answer built in
     * memory past the response limit. */
    sql_set_max_response_bytes((size_t)o.max_response);
    rcache_init((size_t)o.cache_bytes);
    store_set_max_value(o.max_response > 1e9 ? 1000000000 : (int)o.max_response);
    catalog_t *cat;
    if ((rc = open_catalog(o.data_dir, &cat))) return rc;
    err_t e;
    if (catalog_claim_dir(cat, &e) < 0) return die("%s", e.msg);
    char generated[33];
    if (auth_init(cat, o.admin_password, generated, &e) < 0) return die("%s", e.msg);
    db_t **served = calloc((size_t)o.nfiles + 1, sizeof *served);
    for (int i = 0; i < o.nfiles; i++) {
        if (catalog_db_register_file(cat, o.files[i], !o.private_files, &served[i], &e) < 0)
            return die("%s", e.msg);
    }

    /* Interactive transactions wait (for the writer, for their turn) on the
     * thread pool; give it room so waits never starve other work. */
    setenv("UV_THREADPOOL_SIZE", "64", 0);
    txn_init();
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    dbh_opts_t dbo = {.no_group_commit = o.no_group_commit,
                      .sync_normal = o.sync_normal,
                      .max_running = ncores > 1 ? (int)ncores : 2,
                      .listener = subs_on_commit};
    dbh_init(&dbo);
    subs_init();
    engine_t engine = {.catalog = cat,
                       .token_ttl_s = (int64_t)o.token_ttl,
                       .cors = o.cors,
                       .allow_signup = o.allow_signup,
                       .metrics_public = o.metrics_public,
                       .sql_time_limit_ms = (int64_t)o.sql_time_limit_ms,
                       .typedb_max_txn_timeout_ms = (int64_t)(o.max_txn_s * 1000),
                       .typedb_max_answers = (int64_t)o.max_answers,
                       .ds_max_insert_rows = (int64_t)o.max_insert_rows,
                       .ws_max_message_bytes = (size_t)o.ws_max_message,
                       .ws_max_queue_bytes = (size_t)o.ws_max_queue,
                       .ws_idle_ms = (uint64_t)(o.ws_idle * 1000)};
    pthread_mutex_init(&engine.hosts_lock, NULL);
    engine.allowed_hosts = catalog_setting_get(cat, ENGINE_ALLOWED_HOSTS);
    router_t *rt = api_router_new();
    buf_t spool_dir = BUF_INIT;
    buf_printf(&spool_dir, "%s/tmp", catalog_data_dir(cat));

    server_config_t cfg = {
        .host = o.host,
        .port = o.port,
        .threads = o.threads,
        .max_header_bytes = (size_t)o.max_header,
        .max_body_bytes = (size_t)o.max_body,
        .max_connections = (int)o.max_conns,
        .header_timeout_ms = (uint64_t)(o.header_timeout * 1000),
        .idle_timeout_ms = (uint64_t)(o.idle_timeout * 1000),
        .body_timeout_ms = (uint64_t)(o.body_timeout * 1000),
        .quiet = o.quiet,
        .on_grace_expired = interrupt_all,
        .prepare = api_prepare_body,
        .prepare_min_body = API_PREPARE_MIN_BODY,
        .spool_dir = spool_dir.data, /* uploads, beside the databases they become */
        .router = rt,
        .on_pass_end = dbh_pass_end,
        .app = &engine,
    };
    char err[256];
    server_t *srv = server_start(&cfg, err, sizeof err);
    if (!srv) return die("%s", err);
    int port = server_port(srv);
    /* The "listening" line comes last: whoever reads stdout knows the
     * banner is complete and the server is accepting once it appears. */
    for (int i = 0; i < o.nfiles; i++)
        printf("  serving %s as '%s': http://%s:%d/v1/databases/%s\n", served[i]->path, served[i]->name, o.host,
               port, served[i]->name);
    if (generated[0])
        printf("  admin password (generated, shown only this once): %s\n"
               "  sign in: curl -X POST http://%s:%d/v1/signin -d '{\"username\":\"admin\",\"password\":\"%s\"}'\n",
               generated, o.host, port, generated);
    printf("atrium %s listening on http://%s:%d (data in %s, %d threads)\n", ATRIUM_VERSION, o.host, port,
           catalog_data_dir(cat), cfg.threads);
    fflush(stdout);
    sodium_memzero(generated, sizeof generated);

    server_wait(srv);
    txn_shutdown(); /* before the writers close: a held writer would never drain */
    subs_shutdown(); /* the sessions are closed: deliver what is queued, stop */
    for (int i = 0; i < o.nfiles; i++) db_release(served[i]);
    free(served);
    free(o.files);
    router_free(rt);
    free(engine.allowed_hosts);
    buf_free(&spool_dir);
    pthread_mutex_destroy(&engine.hosts_lock);
    catalog_close(cat);
    if (!o.quiet) fprintf(stderr, "atrium: stopped\n");
    return 0;
}

/* Reads a password from $ATRIUM_PASSWORD or the first line of stdin. */
static char *read_password(void) {
    const char *env = getenv("ATRIUM_PASSWORD");
    if (env) return strdup(env);
    char *line = NULL;
    size_t cap = 0;
    if (isatty(0)) fprintf(stderr, "password: ");
    ssize_t n = getline(&line, &cap, stdin);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

static const char *data_opt(int argc, char **argv, int *nargs, const char **args) {
    const char *dir = "./atrium-data";
    *nargs = 0;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--data"))) dir = v;
        else args[(*nargs)++] = argv[i];
    }
    return dir;
}

static int cmd_user(int argc, char **argv) {
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n;
    const char *dir = data_opt(argc, argv, &n, args);
    catalog_t *cat;
    int rc = 0;
    if (n == 1 && strcmp(args[0], "list") == 0 && !catalog_exists(dir)) {
        /* Listing only reads: it never creates a data directory. */
        rc = die("no catalog in %s (start `atrium serve` there first, or give --data DIR)", dir);
        goto out;
    }
    if (n == 2 && strcmp(args[0], "add") == 0 && !name_valid(args[1], strlen(args[1]))) {
        rc = die("invalid user name '%s': letters, digits, '_' and '-', starting with a letter or '_'", args[1]);
        goto out;
    }
    rc = open_catalog(dir, &cat);
    if (rc) goto out;
    err_t e;
    char generated[33];
    if (auth_init(cat, getenv("ATRIUM_ADMIN_PASSWORD"), generated, &e) < 0) {
        rc = die("%s", e.msg);
    } else if (generated[0]) {
        printf("admin password (generated, shown only this once): %s\n", generated);
    }
    if (rc) {
    } else if (n == 1 && strcmp(args[0], "list") == 0) {
        char **names;
        size_t k = auth_user_list(cat, &names);
        for (size_t i = 0; i < k; i++) {
            puts(names[i]);
            free(names[i]);
        }
        free(names);
    } else if (n == 2 && (strcmp(args[0], "add") == 0 || strcmp(args[0], "passwd") == 0)) {
        char *pw = read_password();
        if (!pw) rc = die("%s", "no password given");
        else if (strlen(pw) < MIN_CLI_PASSWORD)
            rc = die("password too short: give at least %s characters", MIN_CLI_PASSWORD_TEXT);
        else if ((args[0][0] == 'a' ? auth_user_create(cat, args[1], pw, &e) : auth_user_set_password(cat, args[1], pw, &e)) < 0)
            rc = die("%s", e.msg);
        free(pw);
    } else if (n == 2 && strcmp(args[0], "delete") == 0) {
        if (auth_user_delete(cat, args[1], &e) < 0) rc = die("%s", e.msg);
    } else {
        rc = die("%s", "usage: atrium user list|add NAME|passwd NAME|delete NAME [--data DIR]");
    }
    catalog_close(cat);
out:
    free(args);
    return rc;
}

static int cmd_token(int argc, char **argv) {
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n;
    const char *dir = data_opt(argc, argv, &n, args);
    double ttl = 0;
    int pos = 0;
    const char *user = NULL;
    bool ok = n >= 2 && strcmp(args[0], "create") == 0;
    for (int i = 1; ok && i < n; i++) {
        if (strcmp(args[i], "--ttl") == 0 && i + 1 >= n) return die("%s", "option --ttl needs a value");
        if (strcmp(args[i], "--ttl") == 0 && !parse_num(args[i + 1], 1, (double)AUTH_MAX_TTL_S, &ttl))
            return die("invalid --ttl '%s' (whole seconds, 1 to 3153600000)", args[i + 1]);
        if (strcmp(args[i], "--ttl") == 0) i++;
        else if (pos++ == 0) user = args[i];
        else ok = false;
    }
    free(args);
    if (!ok || !user) return die("%s", "usage: atrium token create USER [--ttl SECONDS] [--data DIR]");
    catalog_t *cat;
    int rc = open_catalog(dir, &cat);
    if (rc) return rc;
    err_t e;
    int64_t id = auth_user_id(cat, user);
    char tok[TOKEN_MAX_LEN];
    if (!id) rc = die("no user '%s'", user);
    else if (auth_token_issue(cat, id, "api", "atr_", (int64_t)ttl, NULL, 0, tok, &e) < 0) rc = die("%s", e.msg);
    else puts(tok);
    catalog_close(cat);
    return rc;
}

/* The terminal's progress bar for a long CLI command: redrawn in place on
 * stderr when it is a terminal, at most once per percent; silent otherwise. */
typedef struct {
    bool tty;
    int last; /* the percent last drawn, -1 before the first */
    const char *what;
} bar_t;

static bool bar_step(void *ctx, uint64_t done, uint64_t total) {
    bar_t *b = ctx;
    if (!b->tty || !total) return true;
    int pct = (int)(done * 100 / total);
    if (pct == b->last) return true;
    b->last = pct;
    char cells[41];
    int fill = pct * 40 / 100;
    memset(cells, '#', (size_t)fill);
    memset(cells + fill, '.', (size_t)(40 - fill));
    cells[40] = 0;
    fprintf(stderr, "\r%s [%s] %3d%% %llu/%llu pages", b->what, cells, pct, (unsigned long long)done,
            (unsigned long long)total);
    fflush(stderr);
    return true;
}

static const char usage_backup[] = "usage: atrium backup SOURCE.db COPY.db\n"
                                   "  a consistent copy of a SQLite file, safe while a server (or anything) writes it;\n"
                                   "  a progress bar on a terminal. COPY.db must not exist.\n";

static int cmd_backup(int argc, char **argv) {
    if (argc == 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(usage_backup, stdout);
        return 0;
    }
    if (argc != 2) {
        fputs(usage_backup, stderr);
        return 2;
    }
    bar_t bar = {isatty(STDERR_FILENO) == 1, -1, "backing up"};
    err_t e;
    int rc = database_backup_file(argv[0], argv[1], bar_step, &bar, &e);
    if (bar.tty && bar.last >= 0) fputc('\n', stderr);
    if (rc < 0) return die("%s", e.msg);
    printf("backed up %s to %s\n", argv[0], argv[1]);
    return 0;
}

int main(int argc, char **argv) {
    if (sodium_init() < 0) return die("%s", "libsodium failed to initialise");
    if (store_global_init() < 0) return die("%s", "SQLite failed to initialise");
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("atrium " ATRIUM_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0) return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "user") == 0) return cmd_user(argc - 2, argv + 2);
    if (strcmp(argv[1], "token") == 0) return cmd_token(argc - 2, argv + 2);
    if (strcmp(argv[1], "routes") == 0) return cmd_routes();
    if (strcmp(argv[1], "backup") == 0) return cmd_backup(argc - 2, argv + 2);
    if (strcmp(argv[1], "demo") == 0) {
        if (argc != 3) return die("%s", "usage: atrium demo FILE.db");
        err_t e;
        if (demo_create(argv[2], &e) < 0) return die("%s", e.msg);
        printf("wrote %s\n", argv[2]);
        return 0;
    }
    return die("unknown command '%s' (see atrium --help)", argv[1]);
}
