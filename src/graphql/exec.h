/* graphql/exec: validating and executing a parsed document against a
 * schema (graphql/schema), writing the JSON response. The engine answers
 * introspection (__schema, __type, __typename) itself; every other field
 * goes to the caller's resolver, which knows what the schema means (the
 * Airsequel door: SQL). Validation and execution errors carry graphql-js
 * 16's wording, locations and paths.
 *
 * A run owns one arena for coerced values and results; a resolver
 * allocates there (gql_alloc) and everything is freed when the run ends.
 * One thread per run; a schema may serve many runs at once. */
#ifndef ATRIUM_GRAPHQL_EXEC_H
#define ATRIUM_GRAPHQL_EXEC_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "graphql/gql.h"
#include "graphql/schema.h"
#include "util/buf.h"

typedef struct gql_exec gql_exec_t;

typedef enum { GR_NULL, GR_INT, GR_FLOAT, GR_STRING, GR_BOOL, GR_ENUM, GR_OBJECT, GR_LIST, GR_ERROR } gql_rkind_t;

/* What a resolver produced for a field. STRING/ENUM: s (len bytes);
 * ERROR: s is the message (the field becomes null, the error is listed
 * with its path). OBJECT: obj is handed to the resolvers of its fields.
 * LIST: n items. Strings and items must outlive the run (gql_alloc). */
typedef struct gql_result {
    gql_rkind_t kind;
    int64_t i;
    double f;
    bool b;
    const char *s;
    size_t len;
    void *obj;
    struct gql_result *items;
    size_t n;
} gql_result_t;

/* Resolves field f of the object obj (NULL for a root field) into *out.
 * The field's arguments: gql_arg. Returns 0; a non-zero return aborts the
 * whole run (the caller's own failure, reported as one error). */
typedef int (*gql_resolve_fn)(void *ctx, gql_exec_t *x, const gql_field_t *f, void *obj, gql_result_t *out);

typedef struct {
    const gql_schema_t *schema;
    gql_resolve_fn resolve;
    void *ctx;
    int max_depth; /* selections nested deeper are refused (0: 30) */
    /* non-NULL: every root field of a query operation (introspection too)
     * resolves to this error (a token that may write but not read) */
    const char *query_error;
    /* the document was validated against this schema before: skip it */
    bool prevalidated;
    /* out, if non-NULL: validation passed on this run */
    bool *validated;
} gql_env_t;

/* The operation a request selects: 0 with *kind, or -1 with msg (graphql-
 * js's texts: "Must provide operation name if query contains multiple
 * operations.", "Unknown operation named \"x\".", …). */
int gql_select_operation(const gql_doc_t *doc, const char *name, gql_okind_t *kind, char *msg, size_t msgn);

/* Validates doc, coerces variables (a JSON object or NULL), executes the
 * selected operation and appends the response ({"data":…,"errors":[…]})
 * to out. Returns 0 when data was produced without errors, 1 when it has
 * field errors, -1 when data is null (request errors, or a null root),
 * -2 when a resolver failed (nothing appended). */
int gql_execute(const gql_env_t *env, const gql_doc_t *doc, const char *operation, const json_t *variables,
                buf_t *out);

/* For resolvers, during a run. */
/* The coerced argument name of the field being resolved; NULL when it was
 * not given and has no default (explicit null is a GV_NULL value). */
const gql_value_t *gql_arg(gql_exec_t *x, const char *name);
void *gql_alloc(gql_exec_t *x, size_t n);
char *gql_strndup(gql_exec_t *x, const char *s, size_t n);
/* Names of the schema fields selected on the field being resolved (its
 * result objects), or with through non-NULL on that child field's; each
 * name once, in selection order. Returns the count (at most max). */
int gql_subfields(gql_exec_t *x, const char *through, const char **names, int max);
/* The root field's position among the operation's root fields (0-based). */
int gql_root_index(gql_exec_t *x);

#endif
