/* graphql: GraphQL executable documents - the first stage of Atrium's own
 * GraphQL engine (DESIGN: we write it; no Debian library exists). This is
 * the lexer and parser: the whole executable grammar of the October 2021
 * specification (operations, variables with defaults, named and inline
 * fragments, aliases, directives, lists and objects, block strings,
 * unicode escapes of both widths) into an AST, with graphql-js 16's error
 * texts and locations (lines, and columns counted in UTF-16 code units as
 * graphql-js counts them).
 *
 * It knows nothing of SQL or of any schema. A document is one arena: every
 * node and string lives until gql_doc_free. Nesting deeper than
 * GQL_MAX_DEPTH (selection sets, lists, objects, type references) is
 * refused, so no document can exhaust the stack. Pure; any thread. */
#ifndef ATRIUM_GRAPHQL_GQL_H
#define ATRIUM_GRAPHQL_GQL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GQL_MAX_DEPTH 256

typedef struct {
    int line, column; /* 1-based; column in UTF-16 code units */
} gql_loc_t;

typedef enum { GV_VARIABLE, GV_INT, GV_FLOAT, GV_STRING, GV_BOOLEAN, GV_NULL, GV_ENUM, GV_LIST, GV_OBJECT } gql_vkind_t;

typedef struct gql_value gql_value_t;
typedef struct gql_objfield gql_objfield_t;

struct gql_value {
    gql_vkind_t kind;
    gql_loc_t loc;
    /* VARIABLE: its name (no $); INT, FLOAT: the literal's text; STRING:
     * the decoded UTF-8 (len bytes; may hold NUL); ENUM: the name */
    const char *s;
    size_t len;
    bool b;     /* BOOLEAN */
    int64_t i;  /* INT, once coerced (graphql/exec) */
    double f;   /* FLOAT (and INT coerced to Float), once coerced */
    bool block; /* STRING: written as a block string */
    gql_value_t **items; /* LIST */
    gql_objfield_t *fields; /* OBJECT */
    size_t n;            /* items or fields */
};

struct gql_objfield {
    const char *name;
    gql_value_t *value;
    gql_loc_t loc;
};

typedef struct {
    const char *name;
    gql_value_t *value;
    gql_loc_t loc;
} gql_arg_t;

typedef struct {
    const char *name; /* without @ */
    gql_arg_t *args;
    size_t nargs;
    gql_loc_t loc;
} gql_directive_t;

typedef enum { GT_NAMED, GT_LIST, GT_NON_NULL } gql_tkind_t;

typedef struct gql_type {
    gql_tkind_t kind;
    const char *name;     /* NAMED */
    struct gql_type *of;  /* LIST, NON_NULL */
    gql_loc_t loc;
} gql_type_t;

typedef enum { GS_FIELD, GS_FRAGMENT_SPREAD, GS_INLINE_FRAGMENT } gql_skind_t;

typedef struct gql_selection gql_selection_t;

typedef struct {
    gql_selection_t *items;
    size_t n;
    gql_loc_t loc;
} gql_selset_t;

struct gql_selection {
    gql_skind_t kind;
    gql_loc_t loc;
    const char *alias;     /* FIELD: or NULL */
    const char *name;      /* FIELD: the field; FRAGMENT_SPREAD: the fragment */
    const char *type_cond; /* INLINE_FRAGMENT: or NULL */
    gql_arg_t *args;       /* FIELD */
    size_t nargs;
    gql_directive_t *dirs;
    size_t ndirs;
    gql_selset_t *sel; /* FIELD: or NULL; INLINE_FRAGMENT: always */
    gql_loc_t name_loc; /* FRAGMENT_SPREAD: where the fragment's name is */
};

typedef struct {
    const char *name; /* without $ */
    gql_type_t *type;
    gql_value_t *def; /* default, or NULL */
    gql_directive_t *dirs;
    size_t ndirs;
    gql_loc_t loc;
} gql_vardef_t;

typedef enum { GO_QUERY, GO_MUTATION, GO_SUBSCRIPTION } gql_okind_t;

/* An operation or a fragment definition, in document order. */
typedef struct {
    bool fragment;
    gql_okind_t op;       /* operations */
    const char *name;     /* NULL for an anonymous operation */
    const char *type_cond; /* fragments */
    gql_vardef_t *vars;
    size_t nvars;
    gql_directive_t *dirs;
    size_t ndirs;
    gql_selset_t *sel;
    gql_loc_t loc;
    gql_loc_t name_loc; /* named ones */
} gql_def_t;

typedef struct {
    gql_def_t *defs;
    size_t ndefs;
    void *arena;
} gql_doc_t;

/* Parses src (n bytes of UTF-8). 0 and *out on success; -1 with msg (as
 * graphql-js words it: "Syntax Error: Expected Name, found <EOF>.") and
 * *loc on failure. */
int gql_parse(const char *src, size_t n, gql_doc_t **out, char *msg, size_t msgn, gql_loc_t *loc);
void gql_doc_free(gql_doc_t *d);

#endif
