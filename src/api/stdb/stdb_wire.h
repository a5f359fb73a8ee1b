/* stdb_wire: the subscription WebSocket's three wire protocols (spec
 * §4-5): v1.json.spacetimedb (text frames, SATS-JSON), v1.bsatn and
 * v2.bsatn (binary frames; server messages start with a compression byte,
 * always 0). stdb_ws.c runs sessions on one engine and speaks through
 * these: a client message is decoded into a cmsg_t whatever carried it,
 * and every server message has one encoder per protocol.
 *
 * Decoders are pure and bounded (every length checked; a truncated,
 * oversized or unknown message is refused, never read past). Encoders
 * append to a buf_t and read the module definition in the wsess_t for
 * column types. Any thread. */
#ifndef ATRIUM_API_STDB_WIRE_H
#define ATRIUM_API_STDB_WIRE_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/stdb/stdb_sats.h"
#include "core/lua.h"
#include "core/subs.h"
#include "util/buf.h"

typedef enum { WP_JSON, WP_V1, WP_V2 } wproto_t;

/* The subprotocol names, in our order of preference. */
extern const char *const stdb_wire_protocols[];
wproto_t stdb_wire_proto(const char *name);
static inline bool stdb_wire_binary(wproto_t p) { return p != WP_JSON; }

/* v1's legacy Subscribe replaces one set of its own (query ids are u32). */
#define WIRE_LEGACY_SET (UINT64_C(1) << 32)

/* ---- client messages ---------------------------------------------------------- */

typedef enum {
    CM_SUBSCRIBE,      /* v1 Subscribe: replaces the legacy set */
    CM_SUB_SINGLE,     /* v1 SubscribeSingle */
    CM_SUB_MULTI,      /* v1 SubscribeMulti, v2 Subscribe */
    CM_UNSUB,          /* v1 Unsubscribe */
    CM_UNSUB_MULTI,    /* v1 UnsubscribeMulti, v2 Unsubscribe */
    CM_ONEOFF,
    CM_CALL,
    CM_PROCEDURE,
} cm_kind_t;

typedef struct {
    cm_kind_t kind;
    uint32_t request_id;
    uint64_t set_id; /* query id or query set id (WIRE_LEGACY_SET for Subscribe) */
    char **queries;
    size_t nq;
    char *reducer;
    /* a call's arguments as sent: JSON text (args_json parsed, NULL if it
     * is not JSON) or BSATN bytes */
    char *args;
    size_t args_len;
    json_t *args_json;
    bool args_binary;
    uint8_t flags;      /* CallReducer's */
    bool dropped_rows;  /* v2 Unsubscribe with SendDroppedRows */
    uint8_t *message_id; /* v1 OneOffQuery's (JSON: its text) */
    size_t message_id_len;
} cmsg_t;

/* One client message; false, with why (a close reason), if it is none. */
bool stdb_cmsg_json(const char *p, size_t n, cmsg_t *m, char *why, size_t whyn);
bool stdb_cmsg_bsatn(wproto_t proto, const uint8_t *p, size_t n, cmsg_t *m, char *why, size_t whyn);
void stdb_cmsg_free(cmsg_t *m);

/* ---- server messages ------------------------------------------------------------- */

typedef struct {
    wproto_t proto;
    bool light;           /* v1 light mode */
    const char *identity; /* hex */
    const char *token;
    const uint8_t *conn_id; /* 16 bytes, big-endian */
    const mdef_t *def;      /* column types (may be NULL) */
    /* Atrium's extension (?atrium_doors=1 on the JSON protocol): each
     * TransactionUpdate also says which door wrote it, "atrium_door" */
    bool doors;
} wsess_t;

typedef enum { R_SUBSCRIBE, R_SINGLE, R_MULTI, R_UNSUB, R_UNSUB_MULTI } reply_kind_t;

/* A reducer call as its caller made it (for the caller's failure notice). */
typedef struct {
    const char *reducer;
    uint32_t reducer_id;
    const char *args; /* as sent (JSON text or BSATN) */
    size_t args_len;
    uint32_t request_id;
    const char *identity;
    const uint8_t *conn_id;
} wcall_info_t;

/* The first frame: IdentityToken (v1) or InitialConnection (v2). */
void wire_identity(buf_t *b, const wsess_t *s);
/* A set's initial (subscribe) or final (unsubscribe) rows; with_rows is
 * v2's SendDroppedRows. */
void wire_applied(buf_t *b, const wsess_t *s, reply_kind_t kind, uint32_t request_id, uint64_t set_id,
                  const subs_rows_t *rows, size_t n, uint64_t micros, bool with_rows);
void wire_sub_error(buf_t *b, const wsess_t *s, bool has_request, uint32_t request_id, bool has_set,
                    uint64_t set_id, const char *msg, uint64_t micros);
/* One committed job's matches (n may be 0 for a caller): a transaction
 * update, or for v2's caller its ReducerResult. */
void wire_update(buf_t *b, const wsess_t *s, const subs_delta_t *d, size_t n, const subs_origin_t *o, bool caller);
/* A call that did not commit: internal for the engine's refusals (no such
 * reducer, bad arguments, an exhausted limit), else the module's error. */
void wire_call_failed(buf_t *b, const wsess_t *s, const wcall_info_t *c, const char *msg, bool internal,
                      int64_t micros);
/* A one-off query's answer: each table's rows appended to tables by
 * wire_once_table, then the message. */
void wire_once_table(buf_t *tables, const wsess_t *s, const subs_rows_t *rows);
void wire_once(buf_t *b, const wsess_t *s, const cmsg_t *q, const char *error, const buf_t *tables, size_t ntables,
               uint64_t micros);
void wire_procedure(buf_t *b, const wsess_t *s, uint32_t request_id);

/* The protocol-specific halves (stdb_wire_json.c, stdb_wire_bsatn.c). */
void wire_json_identity(buf_t *b, const wsess_t *s);
void wire_json_applied(buf_t *b, const wsess_t *s, reply_kind_t kind, uint32_t request_id, uint64_t set_id,
                       const subs_rows_t *rows, size_t n, uint64_t micros);
void wire_json_sub_error(buf_t *b, bool has_request, uint32_t request_id, bool has_set, uint64_t set_id,
                         const char *msg, uint64_t micros);
void wire_json_update(buf_t *b, const wsess_t *s, const subs_delta_t *d, size_t n, const subs_origin_t *o,
                      bool caller);
void wire_json_call_failed(buf_t *b, const wcall_info_t *c, const char *msg, int64_t micros);
void wire_json_once_table(buf_t *tables, const wsess_t *s, const subs_rows_t *rows);
void wire_json_once(buf_t *b, const cmsg_t *q, const char *error, const buf_t *tables, uint64_t micros);
void wire_json_procedure(buf_t *b, uint32_t request_id);

void wire_bsatn_identity(buf_t *b, const wsess_t *s);
void wire_bsatn_applied(buf_t *b, const wsess_t *s, reply_kind_t kind, uint32_t request_id, uint64_t set_id,
                        const subs_rows_t *rows, size_t n, uint64_t micros, bool with_rows);
void wire_bsatn_sub_error(buf_t *b, const wsess_t *s, bool has_request, uint32_t request_id, bool has_set,
                          uint64_t set_id, const char *msg, uint64_t micros);
void wire_bsatn_update(buf_t *b, const wsess_t *s, const subs_delta_t *d, size_t n, const subs_origin_t *o,
                       bool caller);
void wire_bsatn_call_failed(buf_t *b, const wsess_t *s, const wcall_info_t *c, const char *msg, bool internal,
                            int64_t micros);
void wire_bsatn_once_table(buf_t *tables, const wsess_t *s, const subs_rows_t *rows);
void wire_bsatn_once(buf_t *b, const wsess_t *s, const cmsg_t *q, const char *error, const buf_t *tables,
                     size_t ntables, uint64_t micros);
void wire_bsatn_procedure(buf_t *b, const wsess_t *s, uint32_t request_id);

/* The column types of rows as this session's encoders write them. */
void wire_cols(const wsess_t *s, const subs_rows_t *rows, scol_t *out);

#endif
