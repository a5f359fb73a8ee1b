/* stdb_wire_bsatn: v1.bsatn.spacetimedb and v2.bsatn.spacetimedb (spec §5),
 * BSATN in binary frames. See stdb_wire.h.
 *
 * Layouts (fields in order; tags are the index in the list):
 * v1 client: 0 CallReducer{reducer, args:bytes, request_id, flags:u8},
 *   1 Subscribe{query_strings, request_id}, 2 OneOffQuery{message_id:bytes,
 *   query_string}, 3 SubscribeSingle{query, request_id, query_id},
 *   4 SubscribeMulti{query_strings, request_id, query_id},
 *   5 Unsubscribe{request_id, query_id}, 6 UnsubscribeMulti (same),
 *   7 CallProcedure{procedure, args, request_id, flags}.
 * v2 client: 0 Subscribe{request_id, query_set_id, query_strings},
 *   1 Unsubscribe{request_id, query_set_id, flags:u8},
 *   2 OneOffQuery{request_id, query_string},
 *   3 CallReducer{request_id, flags, reducer, args}, 4 CallProcedure (same).
 * Server messages: see each encoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/stdb/stdb_wire.h"
#include "util/bsatn.h"
#include "util/ids.h"
#include "util/timeutil.h"

/* ---- client messages ---------------------------------------------------------------- */

static char *dup_str(br_t *r) {
    size_t n;
    const char *s = br_str(r, &n);
    return xstrndup(s ? s : "", n);
}

static void read_queries(br_t *r, cmsg_t *m) {
    uint32_t n = br_count(r, 4);
    m->nq = n;
    m->queries = xcalloc((size_t)n + 1, sizeof *m->queries);
    for (uint32_t i = 0; i < n; i++) m->queries[i] = dup_str(r);
}

static void read_args(br_t *r, cmsg_t *m) {
    size_t n;
    const uint8_t *p = br_bytes(r, &n);
    m->args = xmalloc(n + 1);
    if (n) memcpy(m->args, p, n);
    m->args[n] = 0;
    m->args_len = n;
    m->args_binary = true;
}

static bool decode_v1(br_t *r, cmsg_t *m, char *why, size_t whyn) {
    uint8_t tag = br_u8(r);
    switch (tag) {
    case 0:
        m->kind = CM_CALL;
        m->reducer = dup_str(r);
        read_args(r, m);
        m->request_id = br_u32(r);
        m->flags = br_u8(r);
        break;
    case 1:
        m->kind = CM_SUBSCRIBE;
        read_queries(r, m);
        m->request_id = br_u32(r);
        m->set_id = WIRE_LEGACY_SET;
        break;
    case 2: {
        m->kind = CM_ONEOFF;
        size_t n;
        const uint8_t *p = br_bytes(r, &n);
        m->message_id = xmalloc(n + 1);
        if (n) memcpy(m->message_id, p, n);
        m->message_id_len = n;
        m->nq = 1;
        m->queries = xcalloc(2, sizeof *m->queries);
        m->queries[0] = dup_str(r);
        break;
    }
    case 3:
        m->kind = CM_SUB_SINGLE;
        m->nq = 1;
        m->queries = xcalloc(2, sizeof *m->queries);
        m->queries[0] = dup_str(r);
        m->request_id = br_u32(r);
        m->set_id = br_u32(r);
        break;
    case 4:
        m->kind = CM_SUB_MULTI;
        read_queries(r, m);
        m->request_id = br_u32(r);
        m->set_id = br_u32(r);
        break;
    case 5:
    case 6:
        m->kind = tag == 5 ? CM_UNSUB : CM_UNSUB_MULTI;
        m->request_id = br_u32(r);
        m->set_id = br_u32(r);
        break;
    case 7:
        m->kind = CM_PROCEDURE;
        free(dup_str(r));
        read_args(r, m);
        m->request_id = br_u32(r);
        m->flags = br_u8(r);
        break;
    default:
        if (!r->bad) {
            snprintf(why, whyn, "unknown v1.bsatn client message tag %u", tag);
            return false;
        }
    }
    return true;
}

static bool decode_v2(br_t *r, cmsg_t *m, char *why, size_t whyn) {
    uint8_t tag = br_u8(r);
    switch (tag) {
    case 0:
        m->kind = CM_SUB_MULTI;
        m->request_id = br_u32(r);
        m->set_id = br_u32(r);
        read_queries(r, m);
        break;
    case 1: {
        m->kind = CM_UNSUB_MULTI;
        m->request_id = br_u32(r);
        m->set_id = br_u32(r);
        uint8_t flags = br_u8(r);
        if (flags > 1) br_fail(r);
        m->dropped_rows = flags == 1;
        break;
    }
    case 2:
        m->kind = CM_ONEOFF;
        m->request_id = br_u32(r);
        m->nq = 1;
        m->queries = xcalloc(2, sizeof *m->queries);
        m->queries[0] = dup_str(r);
        break;
    case 3:
    case 4:
        m->kind = tag == 3 ? CM_CALL : CM_PROCEDURE;
        m->request_id = br_u32(r);
        m->flags = br_u8(r);
        m->reducer = dup_str(r);
        read_args(r, m);
        break;
    default:
        if (!r->bad) {
            snprintf(why, whyn, "unknown v2.bsatn client message tag %u", tag);
            return false;
        }
    }
    return true;
}

bool stdb_cmsg_bsatn(wproto_t proto, const uint8_t *p, size_t n, cmsg_t *m, char *why, size_t whyn) {
    memset(m, 0, sizeof *m);
    br_t r;
    br_init(&r, p, n);
    bool ok = proto == WP_V2 ? decode_v2(&r, m, why, whyn) : decode_v1(&r, m, why, whyn);
    if (ok && !br_done(&r)) {
        snprintf(why, whyn, "%s", r.bad ? "a truncated or malformed message" : "bytes after the end of a message");
        ok = false;
    }
    if (!ok) stdb_cmsg_free(m);
    return ok;
}

/* ---- pieces of server messages ---------------------------------------------------- */

static void begin(buf_t *b, uint8_t tag) {
    bw_u8(b, 0); /* compression: none */
    bw_u8(b, tag);
}

static void put_identity(buf_t *b, const char *hex) {
    uint8_t be[32] = {0};
    hex_decode(hex, strlen(hex) < 64 ? strlen(hex) : 64, be, sizeof be);
    bw_be(b, be, 32);
}

static void put_conn_id(buf_t *b, const uint8_t *be) {
    static const uint8_t zero[16];
    bw_be(b, be ? be : zero, 16);
}

/* A RowList of the rows of several parts of one table: RowOffsets, then
 * the rows' bytes. */
static void put_rowlist(buf_t *b, const wsess_t *s, const subs_rows_t *const *parts, size_t nparts) {
    size_t total = 0;
    for (size_t i = 0; i < nparts; i++) total += parts[i] ? parts[i]->n : 0;
    buf_t data = BUF_INIT;
    uint64_t *offs = xcalloc(total + 1, sizeof *offs);
    size_t k = 0;
    for (size_t i = 0; i < nparts; i++) {
        const subs_rows_t *rs = parts[i];
        if (!rs || !rs->n) continue;
        scol_t *cols = xcalloc((size_t)rs->ncols + 1, sizeof *cols);
        wire_cols(s, rs, cols);
        for (size_t r = 0; r < rs->n; r++) {
            offs[k++] = data.len;
            stdb_bsatn_row(&data, cols, rs->ncols, &rs->vals[r * (size_t)rs->ncols]);
        }
        free(cols);
    }
    bw_u8(b, 1); /* RowOffsets */
    bw_u32(b, (uint32_t)k);
    for (size_t i = 0; i < k; i++) bw_u64(b, offs[i]);
    bw_bytes(b, data.data ? data.data : "", data.len);
    free(offs);
    buf_free(&data);
}

static const subs_rows_t *first_of(const subs_rows_t *d, const subs_rows_t *i) { return d ? d : i; }

/* v1 DbUpdate: [TableUpdate{table_id, table_name, num_rows:u64,
 * [0 Uncompressed{deletes, inserts}]}], one TableUpdate per table (first
 * seen first) with one update per query. */
static void put_db_update(buf_t *b, const wsess_t *s, const subs_rows_t *const *dels,
                          const subs_rows_t *const *ins, size_t n) {
    bool *done = xcalloc(n + 1, sizeof *done);
    size_t at = bw_hole_u32(b);
    uint32_t ntables = 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        const subs_rows_t *first = first_of(dels[i], ins[i]);
        size_t rows = 0, nup = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && strcmp(first_of(dels[j], ins[j])->table, first->table) == 0)
                rows += (dels[j] ? dels[j]->n : 0) + (ins[j] ? ins[j]->n : 0), nup++;
        bw_u32(b, first->table_id);
        bw_cstr(b, first->table);
        bw_u64(b, rows);
        bw_u32(b, (uint32_t)nup);
        for (size_t j = i; j < n; j++) {
            if (done[j] || strcmp(first_of(dels[j], ins[j])->table, first->table) != 0) continue;
            done[j] = true;
            bw_u8(b, 0); /* Uncompressed */
            put_rowlist(b, s, &dels[j], 1);
            put_rowlist(b, s, &ins[j], 1);
        }
        ntables++;
    }
    bw_patch_u32(b, at, ntables);
    free(done);
}

/* v2 QueryRows: [{table, RowList}], one per table (a set's queries on the
 * same table together). */
static void put_query_rows(buf_t *b, const wsess_t *s, const subs_rows_t *rows, size_t n) {
    bool *done = xcalloc(n + 1, sizeof *done);
    const subs_rows_t **parts = xcalloc(n + 1, sizeof *parts);
    size_t at = bw_hole_u32(b);
    uint32_t ntables = 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && strcmp(rows[j].table, rows[i].table) == 0) done[j] = true, parts[k++] = &rows[j];
        bw_cstr(b, rows[i].table);
        put_rowlist(b, s, parts, k);
        ntables++;
    }
    bw_patch_u32(b, at, ntables);
    free(done);
    free(parts);
}

/* v2 TransactionUpdate's body: [QuerySetUpdate{query_set_id, [TableUpdate{
 * table_name, [0 PersistentTable{inserts, deletes}]}]}], by set (first
 * seen first), then by table. */
static void put_query_sets(buf_t *b, const wsess_t *s, const subs_delta_t *d, size_t n) {
    bool *set_done = xcalloc(n + 1, sizeof *set_done), *done = xcalloc(n + 1, sizeof *done);
    const subs_rows_t **ins = xcalloc(n + 1, sizeof *ins), **dels = xcalloc(n + 1, sizeof *dels);
    size_t at = bw_hole_u32(b);
    uint32_t nsets = 0;
    for (size_t i = 0; i < n; i++) {
        if (set_done[i]) continue;
        uint64_t set = d[i].set_id;
        bw_u32(b, (uint32_t)set);
        size_t tat = bw_hole_u32(b);
        uint32_t ntables = 0;
        for (size_t j = i; j < n; j++) {
            if (d[j].set_id != set || done[j]) continue;
            const char *table = d[j].inserts.table ? d[j].inserts.table : d[j].deletes.table;
            size_t k = 0;
            for (size_t x = j; x < n; x++) {
                const char *t = d[x].inserts.table ? d[x].inserts.table : d[x].deletes.table;
                if (d[x].set_id != set || done[x] || strcmp(t, table) != 0) continue;
                done[x] = set_done[x] = true;
                ins[k] = &d[x].inserts;
                dels[k] = &d[x].deletes;
                k++;
            }
            bw_cstr(b, table);
            bw_u32(b, 1);
            bw_u8(b, 0); /* PersistentTable */
            put_rowlist(b, s, ins, k);
            put_rowlist(b, s, dels, k);
            ntables++;
        }
        bw_patch_u32(b, tat, ntables);
        nsets++;
    }
    bw_patch_u32(b, at, nsets);
    free(set_done);
    free(done);
    free(ins);
    free(dels);
}

/* ---- server messages ------------------------------------------------------------------- */

void wire_bsatn_identity(buf_t *b, const wsess_t *s) {
    if (s->proto == WP_V2) {
        begin(b, 0); /* InitialConnection{identity, connection_id, token} */
        put_identity(b, s->identity);
        put_conn_id(b, s->conn_id);
        bw_cstr(b, s->token);
    } else {
        begin(b, 3); /* IdentityToken{identity, token, connection_id} */
        put_identity(b, s->identity);
        bw_cstr(b, s->token);
        put_conn_id(b, s->conn_id);
    }
}

void wire_bsatn_applied(buf_t *b, const wsess_t *s, reply_kind_t kind, uint32_t request_id, uint64_t set_id,
                        const subs_rows_t *rows, size_t n, uint64_t micros, bool with_rows) {
    bool unsub = kind == R_UNSUB || kind == R_UNSUB_MULTI;
    if (s->proto == WP_V2) {
        begin(b, unsub ? 2 : 1);
        bw_u32(b, request_id);
        bw_u32(b, (uint32_t)set_id);
        if (unsub) {
            if (!with_rows) {
                bw_u8(b, 1); /* None */
                return;
            }
            bw_u8(b, 0);
        }
        put_query_rows(b, s, rows, n);
        return;
    }
    const subs_rows_t **some = xcalloc(n + 1, sizeof *some), **none = xcalloc(n + 1, sizeof *none);
    for (size_t i = 0; i < n; i++) some[i] = &rows[i];
    const subs_rows_t *const *dels = unsub ? some : none, *const *ins = unsub ? none : some;
    switch (kind) {
    case R_SUBSCRIBE: /* InitialSubscription{DbUpdate, request_id, duration} */
        begin(b, 0);
        put_db_update(b, s, dels, ins, n);
        bw_u32(b, request_id);
        bw_i64(b, (int64_t)micros);
        break;
    case R_SINGLE:
    case R_UNSUB: /* {request_id, micros, query_id, {table_id, table_name, TableUpdate}} */
        begin(b, kind == R_SINGLE ? 5 : 6);
        bw_u32(b, request_id);
        bw_u64(b, micros);
        bw_u32(b, (uint32_t)set_id);
        bw_u32(b, n ? rows[0].table_id : 0);
        bw_cstr(b, n ? rows[0].table : "");
        /* the TableUpdate itself */
        bw_u32(b, n ? rows[0].table_id : 0);
        bw_cstr(b, n ? rows[0].table : "");
        bw_u64(b, n ? rows[0].n : 0);
        bw_u32(b, 1);
        bw_u8(b, 0);
        put_rowlist(b, s, n ? &dels[0] : none, 1);
        put_rowlist(b, s, n ? &ins[0] : none, 1);
        break;
    default: /* Subscribe/UnsubscribeMultiApplied{request_id, micros, query_id, DbUpdate} */
        begin(b, kind == R_MULTI ? 8 : 9);
        bw_u32(b, request_id);
        bw_u64(b, micros);
        bw_u32(b, (uint32_t)set_id);
        put_db_update(b, s, dels, ins, n);
        break;
    }
    free(some);
    free(none);
}

void wire_bsatn_sub_error(buf_t *b, const wsess_t *s, bool has_request, uint32_t request_id, bool has_set,
                          uint64_t set_id, const char *msg, uint64_t micros) {
    if (s->proto == WP_V2) {
        begin(b, 3); /* {Option<request_id>, query_set_id, error} */
        if (has_request) bw_u8(b, 0), bw_u32(b, request_id);
        else bw_u8(b, 1);
        bw_u32(b, has_set ? (uint32_t)set_id : 0);
        bw_cstr(b, msg);
        return;
    }
    begin(b, 7); /* {micros, Option<request_id>, Option<query_id>, Option<table_id>, error} */
    bw_u64(b, micros);
    if (has_request) bw_u8(b, 0), bw_u32(b, request_id);
    else bw_u8(b, 1);
    if (has_set) bw_u8(b, 0), bw_u32(b, (uint32_t)set_id);
    else bw_u8(b, 1);
    bw_u8(b, 1);
    bw_cstr(b, msg);
}

/* v1 TransactionUpdate's tail after the status. */
static void put_tx_tail(buf_t *b, const char *reducer, uint32_t reducer_id, const void *args, size_t args_len,
                        uint32_t request_id, const char *identity, const uint8_t *conn_id, int64_t micros) {
    bw_i64(b, time_now_us());
    put_identity(b, identity);
    put_conn_id(b, conn_id);
    bw_cstr(b, reducer);
    bw_u32(b, reducer_id);
    bw_bytes(b, args, args_len);
    bw_u32(b, request_id);
    bw_u128_small(b, 0); /* energy */
    bw_i64(b, micros);
}

void wire_bsatn_update(buf_t *b, const wsess_t *s, const subs_delta_t *d, size_t n, const subs_origin_t *o,
                       bool caller) {
    if (s->proto == WP_V2) {
        if (caller && o) {
            begin(b, 6); /* ReducerResult{request_id, timestamp, Ok{ret_value, TransactionUpdate}} */
            bw_u32(b, o->request_id);
            bw_i64(b, time_now_us());
            bw_u8(b, 0);
            bw_bytes(b, "", 0);
        } else {
            begin(b, 4);
        }
        put_query_sets(b, s, d, n);
        return;
    }
    const subs_rows_t **dels = xcalloc(n + 1, sizeof *dels), **ins = xcalloc(n + 1, sizeof *ins);
    for (size_t i = 0; i < n; i++) dels[i] = &d[i].deletes, ins[i] = &d[i].inserts;
    if (s->light) {
        begin(b, 2); /* TransactionUpdateLight{request_id, DbUpdate} */
        bw_u32(b, o && caller ? o->request_id : 0);
        put_db_update(b, s, dels, ins, n);
    } else {
        begin(b, 1);
        bw_u8(b, 0); /* Committed */
        put_db_update(b, s, dels, ins, n);
        static const char zero_identity[] = "0000000000000000000000000000000000000000000000000000000000000000";
        if (o)
            put_tx_tail(b, o->reducer, o->reducer_id, o->args_bin, o->args_bin_len, o->request_id, o->identity,
                        o->conn_id, o->micros);
        else put_tx_tail(b, "", 0, "", 0, 0, zero_identity, NULL, 0);
    }
    free(dels);
    free(ins);
}

void wire_bsatn_call_failed(buf_t *b, const wsess_t *s, const wcall_info_t *c, const char *msg, bool internal,
                            int64_t micros) {
    if (s->proto == WP_V2) {
        begin(b, 6); /* ReducerResult{request_id, timestamp, Err(bytes(String)) | InternalError(String)} */
        bw_u32(b, c->request_id);
        bw_i64(b, time_now_us());
        if (internal) {
            bw_u8(b, 3);
            bw_cstr(b, msg);
        } else {
            bw_u8(b, 2);
            bw_u32(b, (uint32_t)strlen(msg) + 4); /* bytes holding a BSATN String */
            bw_cstr(b, msg);
        }
        return;
    }
    begin(b, 1);
    bw_u8(b, 1); /* Failed */
    bw_cstr(b, msg);
    put_tx_tail(b, c->reducer, c->reducer_id, c->args, c->args_len, c->request_id, c->identity, c->conn_id, micros);
}

void wire_bsatn_once_table(buf_t *tables, const wsess_t *s, const subs_rows_t *rows) {
    bw_cstr(tables, rows->table); /* {table_name, RowList}: the same in v1 and v2 */
    const subs_rows_t *one = rows;
    put_rowlist(tables, s, &one, 1);
}

void wire_bsatn_once(buf_t *b, const wsess_t *s, const cmsg_t *q, const char *error, const buf_t *tables,
                     size_t ntables, uint64_t micros) {
    if (s->proto == WP_V2) {
        begin(b, 5); /* OneOffQueryResult{request_id, Result<QueryRows, String>} */
        bw_u32(b, q->request_id);
        if (error) {
            bw_u8(b, 1);
            bw_cstr(b, error);
            return;
        }
        bw_u8(b, 0);
        bw_u32(b, (uint32_t)ntables);
        buf_append(b, tables->data ? tables->data : "", tables->len);
        return;
    }
    begin(b, 4); /* OneOffQueryResponse{message_id, Option<error>, tables, duration} */
    bw_bytes(b, q->message_id ? (const void *)q->message_id : "", q->message_id_len);
    if (error) {
        bw_u8(b, 0);
        bw_cstr(b, error);
        bw_u32(b, 0);
    } else {
        bw_u8(b, 1);
        bw_u32(b, (uint32_t)ntables);
        buf_append(b, tables->data ? tables->data : "", tables->len);
    }
    bw_i64(b, (int64_t)micros);
}

void wire_bsatn_procedure(buf_t *b, const wsess_t *s, uint32_t request_id) {
    begin(b, s->proto == WP_V2 ? 7 : 10);
    bw_u8(b, s->proto == WP_V2 ? 1 : 2); /* InternalError */
    bw_cstr(b, "procedures are not supported");
    bw_i64(b, time_now_us());
    bw_i64(b, 0);
    bw_u32(b, request_id);
}
