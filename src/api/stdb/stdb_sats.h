/* stdb_sats: stored values as typed SATS values (spec/spacetimedb.md §2
 * SQL "Types", §3.2, §5), in SATS-JSON and in BSATN, and reducer
 * arguments between the two.
 *
 * A column's SATS type: a module column keeps the type its module declared
 * (bool, u8…, identity, timestamp…); any other column goes by its declared
 * affinity (INTEGER → I64, REAL → F64, TEXT → String, BLOB → bytes), and
 * NUMERIC or no declared type by the first row's storage class. A column
 * is Option<T> when it is nullable. Values of another storage class are
 * cast. Pure; any thread. */
#ifndef ATRIUM_API_STDB_SATS_H
#define ATRIUM_API_STDB_SATS_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/lua.h"
#include "store/store.h"
#include "util/bsatn.h"
#include "util/json.h"

typedef struct {
    ltype_t t;
    bool optional;
} scol_t;

/* The types of ncols columns of table (names in order; decltypes and
 * notnull as the schema gives them): def's if it declares table with these
 * very columns (def may be NULL), else by affinity, NUMERIC deciding by
 * first (a row, may be NULL). */
void stdb_cols(const mdef_t *def, const char *table, int ncols, const char *const *names,
               const char *const *decltypes, const bool *notnull, const store_value_t *first, scol_t *out);
/* A column of a query result (no table to look up). */
scol_t stdb_col_affinity(const char *decltype, bool notnull, const store_value_t *first);

void stdb_bsatn_value(buf_t *b, scol_t c, const store_value_t *v);
void stdb_json_value(jw_t *w, scol_t c, const store_value_t *v);
/* A row (ncols values) as a BSATN product. */
void stdb_bsatn_row(buf_t *b, const scol_t *cols, int ncols, const store_value_t *row);

/* A reducer's BSATN arguments (its params as a product) as a SATS-JSON
 * array its runtime accepts; NULL with why if they do not decode exactly. */
json_t *stdb_args_from_bsatn(const mreducer_t *r, const uint8_t *p, size_t n, char *why, size_t whyn);
/* SATS-JSON arguments (array by position or object by name) as BSATN;
 * false if they do not fit the params (out is then unspecified). */
bool stdb_args_to_bsatn(const mreducer_t *r, const json_t *args, buf_t *out);

/* u128 (big-endian bytes) in decimal (out: 40 digits and the NUL). */
void stdb_u128_dec(const uint8_t be[16], char out[48]);
/* {"__identity__":"0x<hex>"} and {"__connection_id__":<u128>}. */
void stdb_json_identity(jw_t *w, const char *hex);
void stdb_json_conn_id(jw_t *w, const uint8_t be[16]);

#endif
