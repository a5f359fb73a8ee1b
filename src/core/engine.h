/* engine: the one object every dialect is handed (as req->app). It owns the
 * catalog and the instance-wide settings; dialects read it, never copy it. */
#ifndef ATRIUM_CORE_ENGINE_H
#define ATRIUM_CORE_ENGINE_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"

#define ATRIUM_VERSION "0.1.0"

typedef struct {
    catalog_t *catalog;
    int64_t token_ttl_s; /* lifetime of sign-in tokens */
    bool cors;           /* --cors: CORS headers on the Datasette routes */
    bool allow_signup;   /* --allow-signup: anyone may create a user (Airsequel's POST /api/users) */
    bool metrics_public; /* --metrics-public: /metrics without a token (no per-database series) */
    int64_t sql_time_limit_ms; /* default statement time limit (Datasette's 1000) */
    int64_t typedb_max_txn_timeout_ms; /* clamp of transactionTimeoutMillis */
    int64_t typedb_max_answers;        /* clamp of answerCountLimit */
    int64_t ds_max_insert_rows;        /* Datasette's max_insert_rows (100) */
    size_t ws_max_message_bytes;       /* largest inbound WebSocket message */
    size_t ws_max_queue_bytes;         /* a WebSocket's outbound bound (then 1008) */
    uint64_t ws_idle_ms;               /* a silent WebSocket is closed after it (pinged at half) */
    /* Airsequel's instance allowedHosts: "\n"-joined, NULL or "" for any
     * origin. Loaded from system.db at start, swapped by PATCH
     * /api/settings; read or swap it only under hosts_lock, never holding
     * the lock across anything slow (loops read it per response). */
    pthread_mutex_t hosts_lock;
    char *allowed_hosts;
} engine_t;

#define ENGINE_ALLOWED_HOSTS "allowedHosts" /* its system.db setting */

#endif
