/* graphql/schema: a GraphQL type system in memory — scalars, objects,
 * enums and input objects, fields with arguments, descriptions and
 * deprecations — built by a caller through the functions below, plus the
 * standard scalars and the introspection meta-types (__Schema, __Type, …)
 * that every schema carries. Knows nothing of SQL: the Airsequel door
 * builds one per database from its tables.
 *
 * Building: create every named type, then add fields, arguments, input
 * fields and enum values; types are referred to by SDL text ("[T!]!"),
 * resolved by gql_schema_finish. A pointer returned for a field or input
 * value stays valid until the next addition to the same parent (arrays
 * grow). After finish the schema is immutable: share it between threads
 * freely (reference counted by its owner). One arena; gql_schema_free. */
#ifndef ATRIUM_GRAPHQL_SCHEMA_H
#define ATRIUM_GRAPHQL_SCHEMA_H
#include <stdbool.h>
#include <stddef.h>

#include "graphql/arena.h"
#include "graphql/gql.h"

typedef enum { GK_SCALAR, GK_OBJECT, GK_ENUM, GK_INPUT_OBJECT } gql_kind_t;

enum { GQL_INT = 1, GQL_FLOAT, GQL_STRING, GQL_BOOLEAN, GQL_ID };

typedef struct gql_ntype gql_ntype_t;

/* A type reference: a named type or a LIST / NON_NULL of one. */
typedef struct gql_tref {
    gql_tkind_t kind;
    gql_ntype_t *named; /* NAMED */
    struct gql_tref *of;
} gql_tref_t;

/* An argument or an input field. */
typedef struct {
    const char *name, *description, *deprecation;
    const char *type_text;
    gql_tref_t *type;
    const char *default_literal; /* GraphQL text of the default, or NULL */
    gql_value_t *default_value;  /* parsed from it by finish */
} gql_ivalue_t;

typedef struct {
    const char *name, *description, *deprecation;
    const char *type_text;
    gql_tref_t *type;
    gql_ivalue_t *args;
    int nargs;
    vec_t argv;
    int tag;           /* the caller's: which resolver */
    const void *udata; /* the caller's: what it resolves */
    int meta;          /* non-zero: an introspection field the engine answers */
} gql_field_t;

typedef struct {
    const char *name, *description, *deprecation;
} gql_evalue_t;

struct gql_ntype {
    gql_kind_t kind;
    const char *name, *description;
    gql_field_t *fields; /* OBJECT */
    int nfields;
    gql_ivalue_t *inputs; /* INPUT_OBJECT */
    int ninputs;
    gql_evalue_t *values; /* ENUM */
    int nvalues;
    vec_t fv, iv, ev;
    int tag;
    const void *udata;
    gql_tref_t ref; /* NAMED reference to this type */
    bool builtin;   /* a standard scalar or meta-type */
    int scalar;     /* GQL_INT … GQL_ID for the standard scalars, else 0 */
    bool reachable; /* listed by __schema.types */
};

typedef struct gql_schema gql_schema_t;

/* A schema holding the standard scalars (Int, Float, String, Boolean, ID)
 * and the introspection types. */
gql_schema_t *gql_schema_new(void);
void gql_schema_free(gql_schema_t *s);
gql_ntype_t *gql_schema_type(gql_schema_t *s, gql_kind_t kind, const char *name, const char *description);
gql_field_t *gql_schema_field(gql_schema_t *s, gql_ntype_t *obj, const char *name, const char *type_text,
                              const char *description);
gql_ivalue_t *gql_schema_arg(gql_schema_t *s, gql_field_t *f, const char *name, const char *type_text,
                             const char *description);
gql_ivalue_t *gql_schema_input(gql_schema_t *s, gql_ntype_t *in, const char *name, const char *type_text,
                               const char *description);
gql_evalue_t *gql_schema_enum(gql_schema_t *s, gql_ntype_t *e, const char *name, const char *description);
/* Whether a type of that name was created (before finish, too). */
bool gql_schema_declared(const gql_schema_t *s, const char *name);
/* A copy of str in the schema's arena (for descriptions built on the fly). */
const char *gql_schema_str(gql_schema_t *s, const char *str);
/* Resolves every type reference, adds the introspection root fields and
 * marks what is reachable. mutation may be NULL. 0, or -1 with err (a
 * name that is no type, a type with no fields). */
int gql_schema_finish(gql_schema_t *s, const char *query, const char *mutation, char *err, size_t errlen);

const gql_ntype_t *gql_schema_lookup(const gql_schema_t *s, const char *name);
const gql_ntype_t *gql_schema_query(const gql_schema_t *s);
const gql_ntype_t *gql_schema_mutation(const gql_schema_t *s);
/* Every named type in creation order. */
int gql_schema_ntypes(const gql_schema_t *s);
const gql_ntype_t *gql_schema_type_at(const gql_schema_t *s, int i);
const gql_field_t *gql_type_field(const gql_ntype_t *t, const char *name);
const gql_ivalue_t *gql_field_arg(const gql_field_t *f, const char *name);
const gql_ivalue_t *gql_type_input(const gql_ntype_t *t, const char *name);
const gql_evalue_t *gql_type_enum(const gql_ntype_t *t, const char *name);
/* The named type under any wrappers. */
const gql_ntype_t *gql_tref_named(const gql_tref_t *t);
/* SDL text of t ("[Int!]!") appended to out (bounded by n; returns out). */
char *gql_tref_text(const gql_tref_t *t, char *out, size_t n);
/* The __typename, __schema and __type fields (meta ids for the executor). */
enum { GQL_META_TYPENAME = 1, GQL_META_SCHEMA, GQL_META_TYPE, GQL_META_INTRO };
const gql_field_t *gql_schema_typename_field(const gql_schema_t *s);
/* GQL_META_TYPENAME, _SCHEMA or _TYPE. */
const gql_field_t *gql_schema_meta_field(const gql_schema_t *s, int which);
/* __schema.types order: reachable types in graphql-js's collection order. */
int gql_schema_nlisted(const gql_schema_t *s);
const gql_ntype_t *gql_schema_listed(const gql_schema_t *s, int i);

#endif
