/* graphql: what exec.c, validate.c and intro.c share (not an interface). */
#ifndef ATRIUM_GRAPHQL_EXEC_INTERNAL_H
#define ATRIUM_GRAPHQL_EXEC_INTERNAL_H
#include "graphql/arena.h"
#include "graphql/exec.h"

typedef struct {
    const char *msg;
    gql_loc_t *locs; /* in the run's arena */
    int nlocs;
    const char *path; /* JSON array text, or NULL */
} gerr_t;

typedef struct {
    bool index;
    const char *key;
    size_t i;
} pathseg_t;

typedef struct {
    const char *name;
    const gql_value_t *v; /* NULL: not given */
} binding_t;

struct gql_exec {
    const gql_env_t *env;
    const gql_schema_t *s;
    const gql_doc_t *doc;
    arena_t *a;
    vec_t errors; /* gerr_t */
    const gql_def_t *op;
    binding_t *vars;
    int nvars;
    buf_t *out;
    pathseg_t path[2 * GQL_MAX_DEPTH + 8];
    int depth;
    /* the field being resolved */
    const gql_field_t *field;
    binding_t *args;
    int nargs;
    const gql_selection_t **nodes;
    int nnodes;
    int root_index;
    bool aborted; /* a resolver failed: the run has no answer */
    vec_t memo;   /* collected fields per (type, nodes); exec.c */
    smap_t fragments; /* fragment name → definition index */
    bool fragments_indexed;
};

/* Room for n locations on e (before adding them). */
void gx_locs(gql_exec_t *x, gerr_t *e, int n);
void gx_error(gql_exec_t *x, const gql_loc_t *loc, bool with_path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gx_error2(gql_exec_t *x, const gql_loc_t *l1, const gql_loc_t *l2, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
char *gx_printf(gql_exec_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* validate.c: every rule; errors appended to x->errors. */
void gx_validate(gql_exec_t *x);
/* intro.c: an introspection field of a meta-object. */
void gx_intro(gql_exec_t *x, const gql_ntype_t *parent, const gql_field_t *f, void *obj, gql_result_t *out);
/* graphql-js's print() of a literal; JS-inspect of a JSON value. */
void gx_print_value(buf_t *b, const gql_value_t *v);
void gx_inspect(buf_t *b, const json_t *j);
/* " Did you mean \"a\", \"b\", or \"c\"?" for the options near input ("" if none). */
const char *gx_did_you_mean(gql_exec_t *x, const char *input, const char *const *options, int n, const char *prefix);
const gql_def_t *gx_fragment(const gql_exec_t *x, const char *name);

#endif
