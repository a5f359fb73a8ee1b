/* stdb_wire_json: v1.json.spacetimedb (spec §4.2-4.3), SATS-JSON in text
 * frames. See stdb_wire.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/stdb/stdb_wire.h"
#include "util/json.h"
#include "util/timeutil.h"

/* {"<kind>":{ … — a server message's envelope; msg_end closes both. */
static void msg_begin(buf_t *b, jw_t *w, const char *kind) {
    jw_init(w, b, 0);
    jw_obj_begin(w);
    jw_key(w, kind);
    jw_obj_begin(w);
}

static void msg_end(jw_t *w) {
    jw_obj_end(w);
    jw_obj_end(w);
}

/* Option<T>'s none: {"none":[]}. */
static void write_none(jw_t *w) {
    jw_obj_begin(w);
    jw_key(w, "none");
    jw_arr_begin(w);
    jw_arr_end(w);
    jw_obj_end(w);
}

/* {"some":v} or {"none":[]}. */
static void write_some_int(jw_t *w, bool some, int64_t v) {
    if (!some) {
        write_none(w);
        return;
    }
    jw_obj_begin(w);
    jw_key(w, "some");
    jw_int(w, v);
    jw_obj_end(w);
}

static void write_duration(jw_t *w, const char *key, uint64_t micros) {
    jw_key(w, key);
    jw_obj_begin(w);
    jw_key(w, "__time_duration_micros__");
    jw_int(w, (int64_t)micros);
    jw_obj_end(w);
}

/* One row as the string of its SATS-JSON array. */
static void write_row(jw_t *w, const subs_rows_t *rs, const scol_t *cols, size_t i) {
    buf_t b = BUF_INIT;
    jw_t rw;
    jw_init(&rw, &b, 0);
    jw_arr_begin(&rw);
    const store_value_t *row = &rs->vals[i * (size_t)rs->ncols];
    for (int c = 0; c < rs->ncols; c++) stdb_json_value(&rw, cols[c], &row[c]);
    jw_arr_end(&rw);
    jw_strn(w, b.data, b.len);
    buf_free(&b);
}

static void write_rows(jw_t *w, const wsess_t *s, const subs_rows_t *rs) {
    jw_arr_begin(w);
    if (rs && rs->n) {
        scol_t *cols = xcalloc((size_t)rs->ncols + 1, sizeof *cols);
        wire_cols(s, rs, cols);
        for (size_t i = 0; i < rs->n; i++) write_row(w, rs, cols, i);
        free(cols);
    }
    jw_arr_end(w);
}

/* A TableUpdate: one `updates` entry per query (dels[i]/ins[i]). */
static void write_tu(jw_t *w, const wsess_t *s, const subs_rows_t *first, const subs_rows_t *const *dels,
                     const subs_rows_t *const *ins, size_t n) {
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) rows += (dels[i] ? dels[i]->n : 0) + (ins[i] ? ins[i]->n : 0);
    jw_obj_begin(w);
    jw_key(w, "table_id");
    jw_int(w, first->table_id);
    jw_key(w, "table_name");
    jw_str(w, first->table);
    jw_key(w, "num_rows");
    jw_int(w, (int64_t)rows);
    jw_key(w, "updates");
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "deletes");
        write_rows(w, s, dels[i]);
        jw_key(w, "inserts");
        write_rows(w, s, ins[i]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

/* [TU…]: query i's rows are dels[i] and ins[i] (either may be NULL);
 * grouped by table, first-seen order, one `updates` entry per query. */
static void write_tables(jw_t *w, const wsess_t *s, const subs_rows_t *const *dels, const subs_rows_t *const *ins,
                         size_t n) {
    jw_arr_begin(w);
    bool *done = xcalloc(n + 1, sizeof *done);
    const subs_rows_t **gd = xcalloc(n + 1, sizeof *gd), **gi = xcalloc(n + 1, sizeof *gi);
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        const subs_rows_t *first = dels[i] ? dels[i] : ins[i];
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            const subs_rows_t *other = dels[j] ? dels[j] : ins[j];
            if (done[j] || strcmp(other->table, first->table) != 0) continue;
            done[j] = true;
            gd[k] = dels[j];
            gi[k] = ins[j];
            k++;
        }
        write_tu(w, s, first, gd, gi, k);
    }
    free(done);
    free(gd);
    free(gi);
    jw_arr_end(w);
}

/* The same from per-query rows: as inserts, or (unsubscribe replies) as
 * deletes. */
static void write_tables_of_rows(jw_t *w, const wsess_t *s, const subs_rows_t *rows, size_t n, bool as_deletes) {
    const subs_rows_t **some = xcalloc(n + 1, sizeof *some), **none = xcalloc(n + 1, sizeof *none);
    for (size_t i = 0; i < n; i++) some[i] = &rows[i];
    write_tables(w, s, as_deletes ? some : none, as_deletes ? none : some, n);
    free(some);
    free(none);
}

void wire_json_identity(buf_t *b, const wsess_t *s) {
    jw_t w;
    msg_begin(b, &w, "IdentityToken");
    jw_key(&w, "identity");
    stdb_json_identity(&w, s->identity);
    jw_key(&w, "token");
    jw_str(&w, s->token);
    jw_key(&w, "connection_id");
    stdb_json_conn_id(&w, s->conn_id);
    msg_end(&w);
}

void wire_json_applied(buf_t *b, const wsess_t *s, reply_kind_t kind, uint32_t request_id, uint64_t set_id,
                       const subs_rows_t *rows, size_t n, uint64_t micros) {
    static const char *const names[] = {"InitialSubscription", "SubscribeApplied", "SubscribeMultiApplied",
                                        "UnsubscribeApplied", "UnsubscribeMultiApplied"};
    bool unsub = kind == R_UNSUB || kind == R_UNSUB_MULTI;
    jw_t w;
    msg_begin(b, &w, names[kind]);
    jw_key(&w, "request_id");
    jw_int(&w, request_id);
    if (kind == R_SUBSCRIBE) {
        jw_key(&w, "database_update");
        jw_obj_begin(&w);
        jw_key(&w, "tables");
        write_tables_of_rows(&w, s, rows, n, false);
        jw_obj_end(&w);
        write_duration(&w, "total_host_execution_duration", micros);
    } else {
        jw_key(&w, "total_host_execution_duration_micros");
        jw_int(&w, (int64_t)micros);
        jw_key(&w, "query_id");
        jw_obj_begin(&w);
        jw_key(&w, "id");
        jw_int(&w, (int64_t)set_id);
        jw_obj_end(&w);
        if (kind == R_SINGLE || kind == R_UNSUB) {
            jw_key(&w, "rows");
            jw_obj_begin(&w);
            jw_key(&w, "table_id");
            jw_int(&w, n ? rows[0].table_id : 0);
            jw_key(&w, "table_name");
            jw_str(&w, n ? rows[0].table : "");
            jw_key(&w, "table_rows");
            if (n) {
                const subs_rows_t *one = &rows[0];
                const subs_rows_t *none = NULL;
                write_tu(&w, s, one, unsub ? &one : &none, unsub ? &none : &one, 1);
            } else {
                jw_null(&w);
            }
            jw_obj_end(&w);
        } else {
            jw_key(&w, "update");
            jw_obj_begin(&w);
            jw_key(&w, "tables");
            write_tables_of_rows(&w, s, rows, n, unsub);
            jw_obj_end(&w);
        }
    }
    msg_end(&w);
}

void wire_json_sub_error(buf_t *b, bool has_request, uint32_t request_id, bool has_set, uint64_t set_id,
                         const char *msg, uint64_t micros) {
    jw_t w;
    msg_begin(b, &w, "SubscriptionError");
    jw_key(&w, "total_host_execution_duration_micros");
    jw_int(&w, (int64_t)micros);
    jw_key(&w, "request_id");
    write_some_int(&w, has_request, request_id);
    jw_key(&w, "query_id");
    write_some_int(&w, has_set, (int64_t)set_id);
    jw_key(&w, "table_id");
    write_none(&w);
    jw_key(&w, "error");
    jw_str(&w, msg);
    msg_end(&w);
}

static void write_tx_tail(jw_t *w, const char *reducer, uint32_t reducer_id, const char *args, size_t args_len,
                          uint32_t request_id, const char *caller_identity, const uint8_t *caller_conn,
                          int64_t micros) {
    jw_key(w, "timestamp");
    jw_obj_begin(w);
    jw_key(w, "__timestamp_micros_since_unix_epoch__");
    jw_int(w, (int64_t)time_now_us());
    jw_obj_end(w);
    jw_key(w, "caller_identity");
    stdb_json_identity(w, caller_identity);
    jw_key(w, "caller_connection_id");
    static const uint8_t zero[16];
    stdb_json_conn_id(w, caller_conn ? caller_conn : zero);
    jw_key(w, "reducer_call");
    jw_obj_begin(w);
    jw_key(w, "reducer_name");
    jw_str(w, reducer);
    jw_key(w, "reducer_id");
    jw_int(w, reducer_id);
    jw_key(w, "args");
    jw_strn(w, args, args_len);
    jw_key(w, "request_id");
    jw_int(w, request_id);
    jw_obj_end(w);
    jw_key(w, "energy_quanta_used");
    jw_obj_begin(w);
    jw_key(w, "quanta");
    jw_int(w, 0);
    jw_obj_end(w);
    write_duration(w, "total_host_execution_duration", (uint64_t)micros);
}

static const char zero_identity[IDENTITY_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

void wire_json_update(buf_t *b, const wsess_t *s, const subs_delta_t *d, size_t n, const subs_origin_t *o,
                      bool caller) {
    jw_t w;
    jw_init(&w, b, 0);
    jw_obj_begin(&w);
    if (s->light) {
        jw_key(&w, "TransactionUpdateLight");
        jw_obj_begin(&w);
        jw_key(&w, "request_id");
        jw_int(&w, o && caller ? o->request_id : 0);
        jw_key(&w, "update");
    } else {
        jw_key(&w, "TransactionUpdate");
        jw_obj_begin(&w);
        jw_key(&w, "status");
        jw_obj_begin(&w);
        jw_key(&w, "Committed");
    }
    jw_obj_begin(&w);
    jw_key(&w, "tables");
    const subs_rows_t **dels = xcalloc(n + 1, sizeof *dels), **ins = xcalloc(n + 1, sizeof *ins);
    for (size_t i = 0; i < n; i++) dels[i] = &d[i].deletes, ins[i] = &d[i].inserts;
    write_tables(&w, s, dels, ins, n);
    free(dels);
    free(ins);
    jw_obj_end(&w);
    if (s->light) {
        jw_obj_end(&w);
    } else {
        jw_obj_end(&w); /* status */
        if (o)
            write_tx_tail(&w, o->reducer, o->reducer_id, o->args, strlen(o->args), o->request_id, o->identity,
                          o->conn_id, o->micros);
        else write_tx_tail(&w, "", 0, "[]", 2, 0, zero_identity, NULL, 0);
        if (s->doors) {
            jw_key(&w, "atrium_door");
            const char *door = n ? d[0].door : o ? "spacetimedb" : NULL;
            if (door) jw_str(&w, door);
            else jw_null(&w);
        }
        jw_obj_end(&w);
    }
    jw_obj_end(&w);
}

void wire_json_call_failed(buf_t *b, const wcall_info_t *c, const char *msg, int64_t micros) {
    jw_t w;
    msg_begin(b, &w, "TransactionUpdate");
    jw_key(&w, "status");
    jw_obj_begin(&w);
    jw_key(&w, "Failed");
    jw_str(&w, msg);
    jw_obj_end(&w);
    write_tx_tail(&w, c->reducer, c->reducer_id, c->args, c->args_len, c->request_id, c->identity, c->conn_id,
                  micros);
    msg_end(&w);
}

void wire_json_once_table(buf_t *tables, const wsess_t *s, const subs_rows_t *rows) {
    jw_t w;
    jw_init(&w, tables, 0);
    if (tables->len) buf_putc(tables, ',');
    jw_obj_begin(&w);
    jw_key(&w, "table_name");
    jw_str(&w, rows->table);
    jw_key(&w, "rows");
    write_rows(&w, s, rows);
    jw_obj_end(&w);
}

void wire_json_once(buf_t *b, const cmsg_t *q, const char *error, const buf_t *tables, uint64_t micros) {
    jw_t w;
    msg_begin(b, &w, "OneOffQueryResponse");
    jw_key(&w, "message_id");
    jw_strn(&w, (const char *)q->message_id, q->message_id_len);
    jw_key(&w, "error");
    if (error) {
        jw_obj_begin(&w);
        jw_key(&w, "some");
        jw_str(&w, error);
        jw_obj_end(&w);
    } else {
        write_none(&w);
    }
    jw_key(&w, "tables");
    jw_arr_begin(&w);
    if (!error && tables->len) jw_raw(&w, tables->data, tables->len);
    jw_arr_end(&w);
    write_duration(&w, "total_host_execution_duration", micros);
    msg_end(&w);
}

void wire_json_procedure(buf_t *b, uint32_t request_id) {
    jw_t w;
    msg_begin(b, &w, "ProcedureResult");
    jw_key(&w, "status");
    jw_obj_begin(&w);
    jw_key(&w, "InternalError");
    jw_str(&w, "procedures are not supported");
    jw_obj_end(&w);
    jw_key(&w, "timestamp");
    jw_obj_begin(&w);
    jw_key(&w, "__timestamp_micros_since_unix_epoch__");
    jw_int(&w, (int64_t)time_now_us());
    jw_obj_end(&w);
    write_duration(&w, "total_host_execution_duration", 0);
    jw_key(&w, "request_id");
    jw_int(&w, request_id);
    msg_end(&w);
}

/* ---- client messages ------------------------------------------------------------- */

static bool get_u32(json_t *o, const char *k, uint32_t *out) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX) return false;
    *out = (uint32_t)json_integer_value(v);
    return true;
}

static bool get_query_id(json_t *o, uint64_t *out) {
    json_t *q = json_object_get(o, "query_id");
    uint32_t id;
    if (!json_is_object(q) || !get_u32(q, "id", &id)) return false;
    *out = id;
    return true;
}

static bool fail(char *why, size_t whyn, const char *msg) {
    snprintf(why, whyn, "%s", msg);
    return false;
}

static void take_queries(cmsg_t *m, json_t *qs) {
    m->nq = json_array_size(qs);
    m->queries = xcalloc(m->nq + 1, sizeof *m->queries);
    for (size_t i = 0; i < m->nq; i++) m->queries[i] = xstrdup(json_string_value(json_array_get(qs, i)));
}

static bool decode(json_t *msg, cmsg_t *m, char *why, size_t whyn) {
    const char *kind = NULL;
    json_t *body = NULL;
    if (json_is_object(msg) && json_object_size(msg) == 1) {
        void *it = json_object_iter(msg);
        kind = json_object_iter_key(it);
        body = json_object_iter_value(it);
    }
    if (!kind || !json_is_object(body)) return fail(why, whyn, "a message is an object with one key naming its kind");
    if (strcmp(kind, "Subscribe") == 0 || strcmp(kind, "SubscribeMulti") == 0) {
        bool multi = kind[9] == 'M';
        json_t *qs = json_object_get(body, "query_strings"), *q;
        size_t i;
        bool ok = json_is_array(qs) && get_u32(body, "request_id", &m->request_id) &&
                  (!multi || get_query_id(body, &m->set_id));
        json_array_foreach(qs, i, q) ok = ok && json_is_string(q);
        if (!ok)
            return fail(why, whyn,
                        multi ? "SubscribeMulti needs query_strings, request_id and query_id"
                              : "Subscribe needs query_strings and request_id");
        m->kind = multi ? CM_SUB_MULTI : CM_SUBSCRIBE;
        if (!multi) m->set_id = WIRE_LEGACY_SET;
        take_queries(m, qs);
        return true;
    }
    if (strcmp(kind, "SubscribeSingle") == 0) {
        json_t *q = json_object_get(body, "query");
        if (!json_is_string(q) || !get_u32(body, "request_id", &m->request_id) || !get_query_id(body, &m->set_id))
            return fail(why, whyn, "SubscribeSingle needs query, request_id and query_id");
        m->kind = CM_SUB_SINGLE;
        m->nq = 1;
        m->queries = xcalloc(2, sizeof *m->queries);
        m->queries[0] = xstrdup(json_string_value(q));
        return true;
    }
    if (strcmp(kind, "Unsubscribe") == 0 || strcmp(kind, "UnsubscribeMulti") == 0) {
        if (!get_u32(body, "request_id", &m->request_id) || !get_query_id(body, &m->set_id))
            return fail(why, whyn, "Unsubscribe needs request_id and query_id");
        m->kind = kind[11] == 'M' ? CM_UNSUB_MULTI : CM_UNSUB;
        return true;
    }
    if (strcmp(kind, "OneOffQuery") == 0) {
        json_t *id = json_object_get(body, "message_id"), *q = json_object_get(body, "query_string");
        if (!json_is_string(id) || !json_is_string(q))
            return fail(why, whyn, "OneOffQuery needs message_id and query_string");
        m->kind = CM_ONEOFF;
        m->message_id_len = json_string_length(id);
        m->message_id = (uint8_t *)xstrndup(json_string_value(id), m->message_id_len);
        m->nq = 1;
        m->queries = xcalloc(2, sizeof *m->queries);
        m->queries[0] = xstrdup(json_string_value(q));
        return true;
    }
    if (strcmp(kind, "CallReducer") == 0) {
        json_t *name = json_object_get(body, "reducer"), *args = json_object_get(body, "args");
        if (!json_is_string(name) || !json_is_string(args) || !get_u32(body, "request_id", &m->request_id))
            return fail(why, whyn, "CallReducer needs reducer, args and request_id");
        json_t *flags = json_object_get(body, "flags");
        m->kind = CM_CALL;
        m->flags = json_is_integer(flags) && json_integer_value(flags) == 1 ? 1 : 0;
        m->reducer = xstrdup(json_string_value(name));
        m->args_len = json_string_length(args);
        m->args = xstrndup(json_string_value(args), m->args_len);
        json_error_t je;
        m->args_json = m->args_len ? json_loadb(m->args, m->args_len, JSON_DECODE_ANY, &je) : json_array();
        return true;
    }
    if (strcmp(kind, "CallProcedure") == 0) {
        m->kind = CM_PROCEDURE;
        get_u32(body, "request_id", &m->request_id);
        return true;
    }
    snprintf(why, whyn, "unknown message kind: %.80s", kind);
    return false;
}

bool stdb_cmsg_json(const char *p, size_t n, cmsg_t *m, char *why, size_t whyn) {
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *msg = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    if (!msg) return fail(why, whyn, je.text);
    bool ok = decode(msg, m, why, whyn);
    json_decref(msg);
    if (!ok) stdb_cmsg_free(m);
    return ok;
}
