/* stdb_wire: one entry point per server message, for every protocol (see
 * stdb_wire.h). */
#include "api/stdb/stdb_wire.h"

#include <stdlib.h>
#include <string.h>

const char *const stdb_wire_protocols[] = {"v2.bsatn.spacetimedb", "v1.bsatn.spacetimedb", "v1.json.spacetimedb",
                                           NULL};

wproto_t stdb_wire_proto(const char *name) {
    if (name && strcmp(name, stdb_wire_protocols[0]) == 0) return WP_V2;
    if (name && strcmp(name, stdb_wire_protocols[1]) == 0) return WP_V1;
    return WP_JSON;
}

void stdb_cmsg_free(cmsg_t *m) {
    for (size_t i = 0; i < m->nq; i++) free(m->queries[i]);
    free(m->queries);
    free(m->reducer);
    free(m->args);
    json_decref(m->args_json);
    free(m->message_id);
    memset(m, 0, sizeof *m);
}

void wire_cols(const wsess_t *s, const subs_rows_t *rows, scol_t *out) {
    stdb_cols(s->def, rows->table, rows->ncols, rows->names, rows->decltypes, rows->notnull,
              rows->n ? rows->vals : NULL, out);
}

void wire_identity(buf_t *b, const wsess_t *s) {
    if (s->proto == WP_JSON) wire_json_identity(b, s);
    else wire_bsatn_identity(b, s);
}

void wire_applied(buf_t *b, const wsess_t *s, reply_kind_t kind, uint32_t request_id, uint64_t set_id,
                  const subs_rows_t *rows, size_t n, uint64_t micros, bool with_rows) {
    if (s->proto == WP_JSON) wire_json_applied(b, s, kind, request_id, set_id, rows, n, micros);
    else wire_bsatn_applied(b, s, kind, request_id, set_id, rows, n, micros, with_rows);
}

void wire_sub_error(buf_t *b, const wsess_t *s, bool has_request, uint32_t request_id, bool has_set,
                    uint64_t set_id, const char *msg, uint64_t micros) {
    if (s->proto == WP_JSON) wire_json_sub_error(b, has_request, request_id, has_set, set_id, msg, micros);
    else wire_bsatn_sub_error(b, s, has_request, request_id, has_set, set_id, msg, micros);
}

void wire_update(buf_t *b, const wsess_t *s, const subs_delta_t *d, size_t n, const subs_origin_t *o, bool caller) {
    if (s->proto == WP_JSON) wire_json_update(b, s, d, n, o, caller);
    else wire_bsatn_update(b, s, d, n, o, caller);
}

void wire_call_failed(buf_t *b, const wsess_t *s, const wcall_info_t *c, const char *msg, bool internal,
                      int64_t micros) {
    if (s->proto == WP_JSON) wire_json_call_failed(b, c, msg, micros);
    else wire_bsatn_call_failed(b, s, c, msg, internal, micros);
}

void wire_once_table(buf_t *tables, const wsess_t *s, const subs_rows_t *rows) {
    if (s->proto == WP_JSON) wire_json_once_table(tables, s, rows);
    else wire_bsatn_once_table(tables, s, rows);
}

void wire_once(buf_t *b, const wsess_t *s, const cmsg_t *q, const char *error, const buf_t *tables, size_t ntables,
               uint64_t micros) {
    if (s->proto == WP_JSON) wire_json_once(b, q, error, tables, micros);
    else wire_bsatn_once(b, s, q, error, tables, ntables, micros);
}

void wire_procedure(buf_t *b, const wsess_t *s, uint32_t request_id) {
    if (s->proto == WP_JSON) wire_json_procedure(b, request_id);
    else wire_bsatn_procedure(b, s, request_id);
}
