/* metrics: the process's counters, gauges and histograms, and their
 * rendering in the Prometheus text exposition format (version 0.0.4).
 *
 * Every family is declared once, in the table in metrics.c (name, help,
 * type, label names, buckets), and named here by its enum. A series is a
 * family plus one value per label. Recording is lock-free: a series is
 * found by hashing its label values into the family's fixed table (created
 * under a lock the first time, never removed), then updated with atomics.
 * Any thread may record; rendering may run on any thread too, and reads
 * each number atomically (a scrape is not a snapshot across series).
 *
 * Label values must come from small sets (a route pattern, not a path; a
 * status, not a message): a family holds at most a fixed number of series,
 * and the rest are counted under the label value "_other".
 *
 * Families whose series come from live state (one per database, the
 * process's memory) are written at render time by the caller with
 * metrics_write_family / metrics_write_sample, so nothing stale lingers. */
#ifndef ATRIUM_UTIL_METRICS_H
#define ATRIUM_UTIL_METRICS_H
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum {
    MET_BUILD_INFO,          /* gauge {version}: always 1 */
    MET_HTTP_REQUESTS,       /* counter {dialect,route,status} */
    MET_HTTP_DURATION,       /* histogram {dialect,route}, seconds */
    MET_HTTP_CONNECTIONS,    /* counter: accepted */
    MET_HTTP_OPEN,           /* gauge: open now */
    MET_HTTP_REJECTED,       /* counter: refused at the connection limit */
    MET_SQL_STATEMENTS,      /* counter {kind}: read, write */
    MET_SQL_TIME_LIMITS,     /* counter: statements stopped at their time limit */
    MET_SQL_STMT_CACHE,      /* counter {result}: hit, lifted_hit, miss */
    MET_WRITER_QUEUE,        /* gauge: write jobs waiting, all databases */
    MET_COMMIT_BATCH,        /* histogram: write jobs per commit */
    MET_COMMIT_DURATION,     /* histogram, seconds: COMMIT, its fsyncs included */
    MET_FSYNC_DURATION,      /* histogram, seconds: each fsync of a database or WAL */
    MET_CHECKPOINTS,         /* counter: WAL checkpoints run */
    MET_SUBSCRIPTIONS,       /* gauge: live subscriptions */
    MET_FANOUT_DURATION,     /* histogram, seconds: commit to update queued */
    MET_WS_MESSAGES,         /* counter {protocol,direction} */
    MET_WS_BYTES,            /* counter {protocol,direction} */
    MET_LUA_CALLS,           /* counter {kind}: reducer, function */
    MET_LUA_ERRORS,          /* counter {kind} */
    MET_LUA_LIMITS,          /* counter {kind}: stopped by the time or memory limit */
    MET_AUTH_FAILURES,       /* counter {reason} */
    MET_CACHE_HITS,          /* counter */
    MET_CACHE_MISSES,        /* counter */
    MET_OPERATIONS,          /* counter {kind,outcome}: long operations ended */
    MET__COUNT
} metric_id_t;

typedef struct mseries mseries_t;

/* The series of id with these label values (as many as the family has
 * labels; NULL counts as ""). Never NULL. Any thread. */
mseries_t *metrics_series(metric_id_t id, const char *const *values);

void metrics_add(mseries_t *s, uint64_t n);      /* counters */
void metrics_gauge_add(mseries_t *s, int64_t d); /* gauges */
void metrics_gauge_set(mseries_t *s, int64_t v);
void metrics_observe(mseries_t *s, double v);    /* histograms */

/* Shorthands for families without labels, or with one. */
void metrics_inc(metric_id_t id);
void metrics_inc1(metric_id_t id, const char *value);
void metrics_gauge_add0(metric_id_t id, int64_t d);
void metrics_observe0(metric_id_t id, double v);

/* Writes every registered family, in table order. Any thread. */
void metrics_render(buf_t *out);

/* For families the caller renders from live state: the HELP and TYPE lines
 * ("counter", "gauge"), then its samples. labels holds nlabels name/value
 * pairs (values are escaped here). */
void metrics_write_family(buf_t *out, const char *name, const char *help, const char *type);
void metrics_write_sample(buf_t *out, const char *name, const char *const *labels, int nlabels, double v);

/* For tests: the current value of a counter or gauge series (histograms:
 * their count). */
double metrics_value(mseries_t *s);

#endif
