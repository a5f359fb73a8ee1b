/* ops: see ops.h. A list of running operations and a ring of ended ones,
 * under one mutex; progress fields are atomics the worker stores and the
 * lister loads. */
#include "core/ops.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/metrics.h"
#include "util/timeutil.h"

struct op {
    uint64_t id;
    const char *kind;
    char db_id[ULID_LEN + 1];
    char *db_name;
    int64_t principal;
    bool cancellable;
    int64_t started_ms;
    uint64_t started_us;
    /* atomics: the worker stores, the lister loads */
    const char *phase;
    const char *unit;
    uint64_t done, total;
    uint64_t phase_us; /* when the phase began (for the ETA) */
    bool cancel;
    /* set at the end, under the lock */
    const char *state; /* "running", "done", "failed", "cancelled" */
    char *error;
    int64_t ended_ms;
    struct op *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static op_t *running;          /* newest first */
static op_t *ended[OPS_KEEP_ENDED]; /* a ring, newest at (next_ended - 1) */
static int next_ended;
static uint64_t last_id;

op_t *op_begin(const char *kind, const char *db_id, const char *db_name, int64_t principal, bool cancellable) {
    op_t *o = xcalloc(1, sizeof *o);
    o->kind = kind;
    snprintf(o->db_id, sizeof o->db_id, "%s", db_id ? db_id : "");
    o->db_name = xstrdup(db_name ? db_name : "");
    o->principal = principal;
    o->cancellable = cancellable;
    o->started_ms = time_now_ms();
    o->started_us = o->phase_us = time_mono_us();
    o->phase = "starting";
    o->unit = "";
    o->state = "running";
    pthread_mutex_lock(&lock);
    o->id = ++last_id;
    o->next = running;
    running = o;
    pthread_mutex_unlock(&lock);
    return o;
}

void op_rename(op_t *o, const char *db_name) {
    if (!o) return;
    char *n = xstrdup(db_name ? db_name : "");
    pthread_mutex_lock(&lock);
    free(o->db_name);
    o->db_name = n;
    pthread_mutex_unlock(&lock);
}

void op_phase(op_t *o, const char *phase, uint64_t total, const char *unit) {
    if (!o) return;
    __atomic_store_n(&o->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&o->total, total, __ATOMIC_RELAXED);
    __atomic_store_n(&o->unit, unit ? unit : "", __ATOMIC_RELAXED);
    __atomic_store_n(&o->phase_us, time_mono_us(), __ATOMIC_RELAXED);
    __atomic_store_n(&o->phase, phase, __ATOMIC_RELEASE);
}

void op_progress(op_t *o, uint64_t done, uint64_t total) {
    if (!o) return;
    __atomic_store_n(&o->total, total, __ATOMIC_RELAXED);
    __atomic_store_n(&o->done, done, __ATOMIC_RELAXED);
}

bool op_cancelled(const op_t *o) { return o && __atomic_load_n(&o->cancel, __ATOMIC_ACQUIRE); }

bool op_pages(void *o, uint64_t done, uint64_t total) {
    op_progress(o, done, total);
    return !op_cancelled(o);
}

static void op_free(op_t *o) {
    if (!o) return;
    free(o->db_name);
    free(o->error);
    free(o);
}

void op_end(op_t *o, int rc, const char *error) {
    if (!o) return;
    pthread_mutex_lock(&lock);
    for (op_t **p = &running; *p; p = &(*p)->next) {
        if (*p == o) {
            *p = o->next;
            break;
        }
    }
    o->next = NULL;
    o->state = rc == 0 ? "done" : op_cancelled(o) ? "cancelled" : "failed";
    o->error = rc == 0 ? NULL : xstrdup(error && *error ? error : "failed");
    o->ended_ms = time_now_ms();
    if (rc == 0 && __atomic_load_n(&o->total, __ATOMIC_RELAXED))
        __atomic_store_n(&o->done, __atomic_load_n(&o->total, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    op_free(ended[next_ended]);
    ended[next_ended] = o;
    next_ended = (next_ended + 1) % OPS_KEEP_ENDED;
    const char *labels[2] = {o->kind, o->state};
    pthread_mutex_unlock(&lock);
    metrics_add(metrics_series(MET_OPERATIONS, labels), 1);
}

static bool sees(const op_t *o, const actor_t *a, op_visible_fn can_see, void *ctx) {
    if (a->is_admin && !a->scoped) return true;
    if (o->principal && o->principal == a->principal_id && !a->scoped) return true;
    return o->db_id[0] && can_see && can_see(ctx, a, o->db_id);
}

static void write_op(jw_t *w, const op_t *o) {
    uint64_t now = time_mono_us();
    const char *phase = __atomic_load_n(&o->phase, __ATOMIC_ACQUIRE);
    uint64_t done = __atomic_load_n(&o->done, __ATOMIC_RELAXED);
    uint64_t total = __atomic_load_n(&o->total, __ATOMIC_RELAXED);
    uint64_t phase_us = __atomic_load_n(&o->phase_us, __ATOMIC_RELAXED);
    bool run = strcmp(o->state, "running") == 0;
    jw_obj_begin(w);
    jw_key(w, "id");
    jw_int(w, (int64_t)o->id);
    jw_key(w, "kind");
    jw_str(w, o->kind);
    jw_key(w, "database");
    jw_str(w, o->db_name);
    jw_key(w, "state");
    jw_str(w, o->state);
    jw_key(w, "phase");
    jw_str(w, run ? phase : o->state);
    jw_key(w, "done");
    jw_int(w, (int64_t)done);
    jw_key(w, "total");
    if (total) jw_int(w, (int64_t)total);
    else jw_null(w);
    jw_key(w, "unit");
    jw_str(w, __atomic_load_n(&o->unit, __ATOMIC_RELAXED));
    jw_key(w, "fraction");
    if (total) jw_double(w, (double)(done > total ? total : done) / (double)total);
    else jw_null(w);
    /* the time the rest of this phase should take at its pace so far */
    jw_key(w, "eta_ms");
    if (run && total && done && done < total)
        jw_int(w, (int64_t)((double)(now - phase_us) / 1000.0 * (double)(total - done) / (double)done));
    else jw_null(w);
    jw_key(w, "started_ms");
    jw_int(w, o->started_ms);
    jw_key(w, "elapsed_ms");
    jw_int(w, run ? (int64_t)((now - o->started_us) / 1000) : o->ended_ms - o->started_ms);
    jw_key(w, "cancellable");
    jw_bool(w, run && o->cancellable);
    jw_key(w, "error");
    if (o->error) jw_str(w, o->error);
    else jw_null(w);
    jw_obj_end(w);
}

void op_list_json(buf_t *out, const actor_t *a, op_visible_fn can_see, void *ctx) {
    jw_t w;
    jw_init(&w, out, 0);
    jw_arr_begin(&w);
    pthread_mutex_lock(&lock);
    for (op_t *o = running; o; o = o->next)
        if (sees(o, a, can_see, ctx)) write_op(&w, o);
    for (int k = 1; k <= OPS_KEEP_ENDED; k++) {
        op_t *o = ended[(next_ended - k + OPS_KEEP_ENDED) % OPS_KEEP_ENDED];
        if (o && sees(o, a, can_see, ctx)) write_op(&w, o);
    }
    pthread_mutex_unlock(&lock);
    jw_arr_end(&w);
}

int op_cancel(uint64_t id, const actor_t *a, op_visible_fn can_see, void *ctx) {
    int rc = -1;
    pthread_mutex_lock(&lock);
    op_t *o = running;
    while (o && o->id != id) o = o->next;
    if (!o) {
        for (int k = 0; k < OPS_KEEP_ENDED && !o; k++)
            if (ended[k] && ended[k]->id == id) o = ended[k];
    }
    if (o && sees(o, a, can_see, ctx)) {
        bool mine = (a->is_admin && !a->scoped) || (o->principal && o->principal == a->principal_id && !a->scoped);
        if (strcmp(o->state, "running") != 0 || !o->cancellable) rc = -2;
        else if (!mine) rc = -3;
        else {
            __atomic_store_n(&o->cancel, true, __ATOMIC_RELEASE);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
