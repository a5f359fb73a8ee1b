/* metrics: see metrics.h. */
#include "util/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 3

static const double SECONDS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
static const double BATCH[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
#define NSECONDS (int)(sizeof SECONDS / sizeof *SECONDS)
#define NBATCH (int)(sizeof BATCH / sizeof *BATCH)

typedef enum { T_COUNTER, T_GAUGE, T_HISTOGRAM } mtype_t;

typedef struct {
    const char *name, *help;
    mtype_t type;
    int nlabels;
    const char *labels[MAX_LABELS];
    const double *bounds; /* histograms: upper bounds, ascending */
    int nbounds;
    int cap; /* slots, a power of two; at most half are used */
} family_t;

static family_t families[MET__COUNT] = {
    [MET_BUILD_INFO] = {"atrium_build_info", "Atrium's version, as a label; the value is always 1.", T_GAUGE, 1,
                        {"version"}, NULL, 0, 4},
    [MET_HTTP_REQUESTS] = {"atrium_http_requests_total",
                           "HTTP requests answered, by dialect, route pattern and status code.", T_COUNTER, 3,
                           {"dialect", "route", "status"}, NULL, 0, 4096},
    [MET_HTTP_DURATION] = {"atrium_http_request_duration_seconds",
                           "Time from a request's first byte to its answer, by dialect and route pattern.",
                           T_HISTOGRAM, 2, {"dialect", "route"}, SECONDS, NSECONDS, 1024},
    [MET_HTTP_CONNECTIONS] = {"atrium_http_connections_total", "HTTP connections accepted.", T_COUNTER, 0, {0},
                              NULL, 0, 2},
    [MET_HTTP_OPEN] = {"atrium_http_connections", "HTTP connections open now (WebSockets included).", T_GAUGE, 0,
                       {0}, NULL, 0, 2},
    [MET_HTTP_REJECTED] = {"atrium_http_connections_rejected_total",
                           "Connections refused because the connection limit was reached.", T_COUNTER, 0, {0},
                           NULL, 0, 2},
    [MET_SQL_STATEMENTS] = {"atrium_sql_statements_total",
                            "SQL statements run for clients, by kind (read: on a reader; write: in a write job).",
                            T_COUNTER, 1, {"kind"}, NULL, 0, 8},
    [MET_SQL_TIME_LIMITS] = {"atrium_sql_time_limit_hits_total", "Reads stopped at their time limit.", T_COUNTER,
                             0, {0}, NULL, 0, 2},
    [MET_SQL_STMT_CACHE] = {"atrium_sql_statement_cache_lookups_total",
                            "Client SQL looked up in the statement cache: hit (the same text), lifted_hit (the "
                            "same text but its literals), miss (prepared anew).",
                            T_COUNTER, 1, {"result"}, NULL, 0, 8},
    [MET_WRITER_QUEUE] = {"atrium_writer_queue_depth", "Write jobs waiting for a database writer, all databases.",
                          T_GAUGE, 0, {0}, NULL, 0, 2},
    [MET_COMMIT_BATCH] = {"atrium_commit_batch_jobs", "Write jobs made durable by one commit (group commit).",
                          T_HISTOGRAM, 0, {0}, BATCH, NBATCH, 2},
    [MET_COMMIT_DURATION] = {"atrium_commit_duration_seconds",
                             "Time a writer's COMMIT takes, its fsyncs included.", T_HISTOGRAM, 0, {0}, SECONDS,
                             NSECONDS, 2},
    [MET_FSYNC_DURATION] = {"atrium_fsync_duration_seconds", "Time each fsync of a database or WAL file takes.",
                            T_HISTOGRAM, 0, {0}, SECONDS, NSECONDS, 2},
    [MET_CHECKPOINTS] = {"atrium_wal_checkpoints_total", "WAL checkpoints run, all databases.", T_COUNTER, 0, {0},
                         NULL, 0, 2},
    [MET_SUBSCRIPTIONS] = {"atrium_subscriptions", "Live subscriptions (SpacetimeDB and GraphQL).", T_GAUGE, 0,
                           {0}, NULL, 0, 2},
    [MET_FANOUT_DURATION] = {"atrium_fanout_duration_seconds",
                             "Time from a commit to its updates being queued for every subscriber.",
                             T_HISTOGRAM, 0, {0}, SECONDS, NSECONDS, 2},
    [MET_WS_MESSAGES] = {"atrium_websocket_messages_total", "WebSocket messages, by protocol and direction.",
                         T_COUNTER, 2, {"protocol", "direction"}, NULL, 0, 32},
    [MET_WS_BYTES] = {"atrium_websocket_bytes_total", "WebSocket payload bytes, by protocol and direction.",
                      T_COUNTER, 2, {"protocol", "direction"}, NULL, 0, 32},
    [MET_LUA_CALLS] = {"atrium_lua_calls_total", "Lua reducer and function calls.", T_COUNTER, 1, {"kind"}, NULL,
                       0, 8},
    [MET_LUA_ERRORS] = {"atrium_lua_errors_total", "Lua reducer and function calls that failed.", T_COUNTER, 1,
                        {"kind"}, NULL, 0, 8},
    [MET_LUA_LIMITS] = {"atrium_lua_limit_hits_total",
                        "Lua calls stopped by their instruction or memory limit.", T_COUNTER, 1, {"kind"}, NULL, 0,
                        8},
    [MET_AUTH_FAILURES] = {"atrium_auth_failures_total",
                           "Requests refused for their credentials, by reason.", T_COUNTER, 1, {"reason"}, NULL, 0,
                           16},
    [MET_CACHE_HITS] = {"atrium_read_cache_hits_total", "Reads answered from the read-answer cache.", T_COUNTER, 0,
                        {0}, NULL, 0, 2},
    [MET_CACHE_MISSES] = {"atrium_read_cache_misses_total",
                          "Cacheable reads the read-answer cache did not hold.", T_COUNTER, 0, {0}, NULL, 0, 2},
    [MET_OPERATIONS] = {"atrium_operations_total", "Long operations (uploads, VACUUM, downloads…) ended, by kind "
                        "and outcome.", T_COUNTER, 2, {"kind", "outcome"}, NULL, 0, 64},
};

struct mseries {
    int id;
    char *values[MAX_LABELS];
    uint64_t hash;
    int64_t gauge;
    uint64_t count;
    uint64_t sum_bits; /* a double's bits, updated by compare-and-swap */
    uint64_t *buckets; /* histograms: nbounds + 1 (the last: above every bound) */
};

typedef struct {
    mseries_t **slots;
    int used;
    pthread_mutex_t lock;
} table_t;

static table_t tables[MET__COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void) {
    for (int i = 0; i < MET__COUNT; i++) {
        if (!families[i].cap) families[i].cap = 2;
        tables[i].slots = xcalloc((size_t)families[i].cap, sizeof(mseries_t *));
        pthread_mutex_init(&tables[i].lock, NULL);
    }
}

static uint64_t hash_values(const char *const *v, int n) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)(v[i] ? v[i] : ""); *p; p++) h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* a separator no UTF-8 text holds */
    }
    return h;
}

static bool same(const mseries_t *s, const char *const *v, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(s->values[i], v[i] ? v[i] : "") != 0) return false;
    return true;
}

/* Looks for the series in slot order from its hash; the first empty slot
 * ends the search (series are never removed). */
static mseries_t *find(const table_t *t, int cap, uint64_t h, const char *const *v, int n, int *empty) {
    for (int k = 0; k < cap; k++) {
        int i = (int)((h + (uint64_t)k) & (uint64_t)(cap - 1));
        mseries_t *s = __atomic_load_n(&t->slots[i], __ATOMIC_ACQUIRE);
        if (!s) {
            *empty = i;
            return NULL;
        }
        if (s->hash == h && same(s, v, n)) return s;
    }
    *empty = -1;
    return NULL;
}

mseries_t *metrics_series(metric_id_t id, const char *const *values) {
    pthread_once(&once, init);
    const family_t *f = &families[id];
    table_t *t = &tables[id];
    static const char *const none[MAX_LABELS] = {"", "", ""};
    static const char *const other[MAX_LABELS] = {"_other", "_other", "_other"};
    const char *const *v = f->nlabels ? values : none;
    uint64_t h = hash_values(v, f->nlabels);
    int empty;
    mseries_t *s = find(t, f->cap, h, v, f->nlabels, &empty);
    if (s) return s;
    pthread_mutex_lock(&t->lock);
    s = find(t, f->cap, h, v, f->nlabels, &empty);
    if (!s && t->used >= f->cap / 2 && f->nlabels) {
        /* full: counted under "_other" (which may take one slot more) */
        v = other;
        h = hash_values(v, f->nlabels);
        s = find(t, f->cap, h, v, f->nlabels, &empty);
    }
    if (!s && empty >= 0) {
        s = xcalloc(1, sizeof *s);
        s->id = (int)id;
        s->hash = h;
        for (int i = 0; i < f->nlabels; i++) s->values[i] = xstrdup(v[i] ? v[i] : "");
        if (f->type == T_HISTOGRAM) s->buckets = xcalloc((size_t)f->nbounds + 1, sizeof(uint64_t));
        t->used++;
        __atomic_store_n(&t->slots[empty], s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&t->lock);
    if (!s) abort(); /* unreachable: a table is never more than half full, plus "_other" */
    return s;
}

void metrics_add(mseries_t *s, uint64_t n) { __atomic_add_fetch(&s->count, n, __ATOMIC_RELAXED); }
void metrics_gauge_add(mseries_t *s, int64_t d) { __atomic_add_fetch(&s->gauge, d, __ATOMIC_RELAXED); }
void metrics_gauge_set(mseries_t *s, int64_t v) { __atomic_store_n(&s->gauge, v, __ATOMIC_RELAXED); }

void metrics_observe(mseries_t *s, double v) {
    const family_t *f = &families[s->id];
    int b = 0;
    while (b < f->nbounds && v > f->bounds[b]) b++;
    __atomic_add_fetch(&s->buckets[b], 1, __ATOMIC_RELAXED);
    uint64_t old = __atomic_load_n(&s->sum_bits, __ATOMIC_RELAXED), next;
    do {
        double d;
        memcpy(&d, &old, sizeof d);
        d += v;
        memcpy(&next, &d, sizeof next);
    } while (!__atomic_compare_exchange_n(&s->sum_bits, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

void metrics_inc(metric_id_t id) { metrics_add(metrics_series(id, NULL), 1); }
void metrics_inc1(metric_id_t id, const char *value) { metrics_add(metrics_series(id, &value), 1); }
void metrics_gauge_add0(metric_id_t id, int64_t d) { metrics_gauge_add(metrics_series(id, NULL), d); }
void metrics_observe0(metric_id_t id, double v) { metrics_observe(metrics_series(id, NULL), v); }

double metrics_value(mseries_t *s) {
    const family_t *f = &families[s->id];
    if (f->type == T_GAUGE) return (double)__atomic_load_n(&s->gauge, __ATOMIC_RELAXED);
    if (f->type == T_COUNTER) return (double)__atomic_load_n(&s->count, __ATOMIC_RELAXED);
    uint64_t n = 0;
    for (int b = 0; b <= f->nbounds; b++) n += __atomic_load_n(&s->buckets[b], __ATOMIC_RELAXED);
    return (double)n;
}

/* ---- rendering -------------------------------------------------------- */

static void escaped(buf_t *out, const char *s, bool quotes) {
    for (; *s; s++) {
        if (*s == '\\') buf_append(out, "\\\\", 2);
        else if (*s == '\n') buf_append(out, "\\n", 2);
        else if (*s == '"' && quotes) buf_append(out, "\\\"", 2);
        else buf_putc(out, *s);
    }
}

static void number(buf_t *out, double v) {
    if (v != v) buf_puts(out, "NaN");
    else if (v > 1.7e308) buf_puts(out, "+Inf");
    else if (v < -1.7e308) buf_puts(out, "-Inf");
    else if (v == (double)(int64_t)v && v < 9e15 && v > -9e15) buf_printf(out, "%lld", (long long)v);
    else buf_printf(out, "%.10g", v);
}

void metrics_write_family(buf_t *out, const char *name, const char *help, const char *type) {
    buf_printf(out, "# HELP %s ", name);
    escaped(out, help, false);
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* name{k="v",...,extra} value */
static void sample(buf_t *out, const char *name, const char *suffix, const char *const *keys,
                   char *const *values, int n, const char *le, double v) {
    buf_puts(out, name);
    buf_puts(out, suffix);
    if (n || le) {
        buf_putc(out, '{');
        for (int i = 0; i < n; i++) {
            if (i) buf_putc(out, ',');
            buf_puts(out, keys[i]);
            buf_append(out, "=\"", 2);
            escaped(out, values[i], true);
            buf_putc(out, '"');
        }
        if (le) buf_printf(out, "%sle=\"%s\"", n ? "," : "", le);
        buf_putc(out, '}');
    }
    buf_putc(out, ' ');
    number(out, v);
    buf_putc(out, '\n');
}

void metrics_write_sample(buf_t *out, const char *name, const char *const *labels, int nlabels, double v) {
    const char *keys[8];
    char *values[8];
    if (nlabels > 8) nlabels = 8;
    for (int i = 0; i < nlabels; i++) {
        keys[i] = labels[2 * i];
        values[i] = (char *)labels[2 * i + 1];
    }
    sample(out, name, "", keys, values, nlabels, NULL, v);
}

static int nl_for_sort;
static int by_values(const void *a, const void *b) {
    const mseries_t *x = *(mseries_t *const *)a, *y = *(mseries_t *const *)b;
    for (int i = 0; i < nl_for_sort; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c) return c;
    }
    return 0;
}

static pthread_mutex_t render_lock = PTHREAD_MUTEX_INITIALIZER; /* nl_for_sort */

void metrics_render(buf_t *out) {
    pthread_once(&once, init);
    static const char *const tnames[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&render_lock);
    for (int id = 0; id < MET__COUNT; id++) {
        const family_t *f = &families[id];
        table_t *t = &tables[id];
        mseries_t **list = xcalloc((size_t)f->cap, sizeof *list);
        int n = 0;
        for (int i = 0; i < f->cap; i++) {
            mseries_t *s = __atomic_load_n(&t->slots[i], __ATOMIC_ACQUIRE);
            if (s) list[n++] = s;
        }
        nl_for_sort = f->nlabels;
        qsort(list, (size_t)n, sizeof *list, by_values);
        metrics_write_family(out, f->name, f->help, tnames[f->type]);
        if (n == 0 && f->nlabels == 0) {
            /* an unlabelled family shows 0 before its first event */
            list[n++] = metrics_series((metric_id_t)id, NULL);
        }
        for (int k = 0; k < n; k++) {
            mseries_t *s = list[k];
            if (f->type != T_HISTOGRAM) {
                sample(out, f->name, "", f->labels, s->values, f->nlabels, NULL, metrics_value(s));
                continue;
            }
            uint64_t cum = 0;
            char le[32];
            for (int b = 0; b <= f->nbounds; b++) {
                cum += __atomic_load_n(&s->buckets[b], __ATOMIC_RELAXED);
                if (b < f->nbounds) snprintf(le, sizeof le, "%g", f->bounds[b]);
                else snprintf(le, sizeof le, "+Inf");
                sample(out, f->name, "_bucket", f->labels, s->values, f->nlabels, le, (double)cum);
            }
            uint64_t bits = __atomic_load_n(&s->sum_bits, __ATOMIC_RELAXED);
            double sum;
            memcpy(&sum, &bits, sizeof sum);
            sample(out, f->name, "_sum", f->labels, s->values, f->nlabels, NULL, sum);
            sample(out, f->name, "_count", f->labels, s->values, f->nlabels, NULL, (double)cum);
        }
        free(list);
    }
    pthread_mutex_unlock(&render_lock);
}
