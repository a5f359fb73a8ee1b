/* graphql/schema: see schema.h. Standard texts (scalar and meta-type
 * descriptions) are graphql-js 16's, which introspecting clients show. */
#include "graphql/schema.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct gql_schema {
    arena_t *arena;
    vec_t types; /* gql_ntype_t * in creation order */
    gql_ntype_t **hash;
    size_t hcap;
    gql_ntype_t *query, *mutation;
    gql_field_t typename_field, schema_field, type_field;
    vec_t docs;   /* gql_doc_t * of parsed defaults */
    vec_t listed; /* gql_ntype_t * for __schema.types */
    bool finished;
};

static uint32_t hash_name(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

const char *gql_schema_str(gql_schema_t *s, const char *str) { return str ? arena_strdup(s->arena, str) : NULL; }

gql_ntype_t *gql_schema_type(gql_schema_t *s, gql_kind_t kind, const char *name, const char *description) {
    gql_ntype_t *t = arena_alloc(s->arena, sizeof *t);
    t->kind = kind;
    t->name = arena_strdup(s->arena, name);
    t->description = gql_schema_str(s, description);
    t->fv.size = sizeof(gql_field_t);
    t->iv.size = sizeof(gql_ivalue_t);
    t->ev.size = sizeof(gql_evalue_t);
    t->ref.kind = GT_NAMED;
    t->ref.named = t;
    *(gql_ntype_t **)vec_push(s->arena, &s->types) = t;
    return t;
}

gql_field_t *gql_schema_field(gql_schema_t *s, gql_ntype_t *obj, const char *name, const char *type_text,
                              const char *description) {
    gql_field_t *f = vec_push(s->arena, &obj->fv);
    f->name = arena_strdup(s->arena, name);
    f->type_text = arena_strdup(s->arena, type_text);
    f->description = gql_schema_str(s, description);
    f->argv.size = sizeof(gql_ivalue_t);
    return f;
}

static gql_ivalue_t *ivalue(gql_schema_t *s, vec_t *v, const char *name, const char *type_text,
                            const char *description) {
    gql_ivalue_t *a = vec_push(s->arena, v);
    a->name = arena_strdup(s->arena, name);
    a->type_text = arena_strdup(s->arena, type_text);
    a->description = gql_schema_str(s, description);
    return a;
}

gql_ivalue_t *gql_schema_arg(gql_schema_t *s, gql_field_t *f, const char *name, const char *type_text,
                             const char *description) {
    return ivalue(s, &f->argv, name, type_text, description);
}

gql_ivalue_t *gql_schema_input(gql_schema_t *s, gql_ntype_t *in, const char *name, const char *type_text,
                               const char *description) {
    return ivalue(s, &in->iv, name, type_text, description);
}

gql_evalue_t *gql_schema_enum(gql_schema_t *s, gql_ntype_t *e, const char *name, const char *description) {
    gql_evalue_t *v = vec_push(s->arena, &e->ev);
    v->name = arena_strdup(s->arena, name);
    v->description = gql_schema_str(s, description);
    return v;
}

/* ---- the standard types ------------------------------------------------ */

#define D_INT                                                                                                     \
    "The `Int` scalar type represents non-fractional signed whole numeric values. Int can represent values "      \
    "between -(2^31) and 2^31 - 1."
#define D_FLOAT                                                                                                   \
    "The `Float` scalar type represents signed double-precision fractional values as specified by [IEEE "         \
    "754](https://en.wikipedia.org/wiki/IEEE_floating_point)."
#define D_STRING                                                                                                  \
    "The `String` scalar type represents textual data, represented as UTF-8 character sequences. The String "     \
    "type is most often used by GraphQL to represent free-form human-readable text."
#define D_BOOLEAN "The `Boolean` scalar type represents `true` or `false`."
#define D_ID                                                                                                      \
    "The `ID` scalar type represents a unique identifier, often used to refetch an object or as key for a "       \
    "cache. The ID type appears in a JSON response as a String; however, it is not intended to be "              \
    "human-readable. When expected as an input type, any string (such as `\"4\"`) or integer (such as `4`) "     \
    "input value will be accepted as an ID."

static void deprecated_arg(gql_schema_t *s, gql_field_t *f) {
    gql_schema_arg(s, f, "includeDeprecated", "Boolean", NULL)->default_literal = "false";
}

static void add_meta_types(gql_schema_t *s) {
    gql_ntype_t *t;
    gql_field_t *f;
    t = gql_schema_type(s, GK_OBJECT, "__Schema",
                        "A GraphQL Schema defines the capabilities of a GraphQL server. It exposes all available "
                        "types and directives on the server, as well as the entry points for query, mutation, and "
                        "subscription operations.");
    t->tag = 1;
    gql_schema_field(s, t, "description", "String", NULL);
    gql_schema_field(s, t, "types", "[__Type!]!", "A list of all types supported by this server.");
    gql_schema_field(s, t, "queryType", "__Type!", "The type that query operations will be rooted at.");
    gql_schema_field(s, t, "mutationType", "__Type",
                     "If this server supports mutation, the type that mutation operations will be rooted at.");
    gql_schema_field(s, t, "subscriptionType", "__Type",
                     "If this server support subscription, the type that subscription operations will be rooted "
                     "at.");
    gql_schema_field(s, t, "directives", "[__Directive!]!", "A list of all directives supported by this server.");

    t = gql_schema_type(
        s, GK_OBJECT, "__Type",
        "The fundamental unit of any GraphQL Schema is the type. There are many kinds of types in GraphQL as "
        "represented by the `__TypeKind` enum.\n\nDepending on the kind of a type, certain fields describe "
        "information about that type. Scalar types provide no information beyond a name, description and optional "
        "`specifiedByURL`, while Enum types provide their values. Object and Interface types provide the fields "
        "they describe. Abstract types, Union and Interface, provide the Object types possible at runtime. List "
        "and NonNull types compose other types.");
    t->tag = 2;
    gql_schema_field(s, t, "kind", "__TypeKind!", NULL);
    gql_schema_field(s, t, "name", "String", NULL);
    gql_schema_field(s, t, "description", "String", NULL);
    gql_schema_field(s, t, "specifiedByURL", "String", NULL);
    f = gql_schema_field(s, t, "fields", "[__Field!]", NULL);
    deprecated_arg(s, f);
    gql_schema_field(s, t, "interfaces", "[__Type!]", NULL);
    gql_schema_field(s, t, "possibleTypes", "[__Type!]", NULL);
    f = gql_schema_field(s, t, "enumValues", "[__EnumValue!]", NULL);
    deprecated_arg(s, f);
    f = gql_schema_field(s, t, "inputFields", "[__InputValue!]", NULL);
    deprecated_arg(s, f);
    gql_schema_field(s, t, "ofType", "__Type", NULL);
    gql_schema_field(s, t, "isOneOf", "Boolean", NULL);

    t = gql_schema_type(s, GK_ENUM, "__TypeKind", "An enum describing what kind of type a given `__Type` is.");
    static const char *kinds[][2] = {
        {"SCALAR", "Indicates this type is a scalar."},
        {"OBJECT", "Indicates this type is an object. `fields` and `interfaces` are valid fields."},
        {"INTERFACE", "Indicates this type is an interface. `fields`, `interfaces`, and `possibleTypes` are valid "
                      "fields."},
        {"UNION", "Indicates this type is a union. `possibleTypes` is a valid field."},
        {"ENUM", "Indicates this type is an enum. `enumValues` is a valid field."},
        {"INPUT_OBJECT", "Indicates this type is an input object. `inputFields` is a valid field."},
        {"LIST", "Indicates this type is a list. `ofType` is a valid field."},
        {"NON_NULL", "Indicates this type is a non-null. `ofType` is a valid field."}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) gql_schema_enum(s, t, kinds[i][0], kinds[i][1]);

    t = gql_schema_type(s, GK_OBJECT, "__Field",
                        "Object and Interface types are described by a list of Fields, each of which has a name, "
                        "potentially a list of arguments, and a return type.");
    t->tag = 3;
    gql_schema_field(s, t, "name", "String!", NULL);
    gql_schema_field(s, t, "description", "String", NULL);
    f = gql_schema_field(s, t, "args", "[__InputValue!]!", NULL);
    deprecated_arg(s, f);
    gql_schema_field(s, t, "type", "__Type!", NULL);
    gql_schema_field(s, t, "isDeprecated", "Boolean!", NULL);
    gql_schema_field(s, t, "deprecationReason", "String", NULL);

    t = gql_schema_type(s, GK_OBJECT, "__InputValue",
                        "Arguments provided to Fields or Directives and the input fields of an InputObject are "
                        "represented as Input Values which describe their type and optionally a default value.");
    t->tag = 4;
    gql_schema_field(s, t, "name", "String!", NULL);
    gql_schema_field(s, t, "description", "String", NULL);
    gql_schema_field(s, t, "type", "__Type!", NULL);
    gql_schema_field(s, t, "defaultValue", "String",
                     "A GraphQL-formatted string representing the default value for this input value.");
    gql_schema_field(s, t, "isDeprecated", "Boolean!", NULL);
    gql_schema_field(s, t, "deprecationReason", "String", NULL);

    t = gql_schema_type(s, GK_OBJECT, "__EnumValue",
                        "One possible value for a given Enum. Enum values are unique values, not a placeholder for "
                        "a string or numeric value. However an Enum value is returned in a JSON response as a "
                        "string.");
    t->tag = 5;
    gql_schema_field(s, t, "name", "String!", NULL);
    gql_schema_field(s, t, "description", "String", NULL);
    gql_schema_field(s, t, "isDeprecated", "Boolean!", NULL);
    gql_schema_field(s, t, "deprecationReason", "String", NULL);

    t = gql_schema_type(s, GK_OBJECT, "__Directive",
                        "A Directive provides a way to describe alternate runtime execution and type validation "
                        "behavior in a GraphQL document.\n\nIn some cases, you need to provide options to alter "
                        "GraphQL's execution behavior in ways field arguments will not suffice, such as "
                        "conditionally including or skipping a field. Directives provide this by describing "
                        "additional information to the executor.");
    t->tag = 6;
    gql_schema_field(s, t, "name", "String!", NULL);
    gql_schema_field(s, t, "description", "String", NULL);
    gql_schema_field(s, t, "isRepeatable", "Boolean!", NULL);
    gql_schema_field(s, t, "locations", "[__DirectiveLocation!]!", NULL);
    f = gql_schema_field(s, t, "args", "[__InputValue!]!", NULL);
    deprecated_arg(s, f);

    t = gql_schema_type(s, GK_ENUM, "__DirectiveLocation",
                        "A Directive can be adjacent to many parts of the GraphQL language, a __DirectiveLocation "
                        "describes one such possible adjacencies.");
    static const char *locs[][2] = {
        {"QUERY", "Location adjacent to a query operation."},
        {"MUTATION", "Location adjacent to a mutation operation."},
        {"SUBSCRIPTION", "Location adjacent to a subscription operation."},
        {"FIELD", "Location adjacent to a field."},
        {"FRAGMENT_DEFINITION", "Location adjacent to a fragment definition."},
        {"FRAGMENT_SPREAD", "Location adjacent to a fragment spread."},
        {"INLINE_FRAGMENT", "Location adjacent to an inline fragment."},
        {"VARIABLE_DEFINITION", "Location adjacent to a variable definition."},
        {"SCHEMA", "Location adjacent to a schema definition."},
        {"SCALAR", "Location adjacent to a scalar definition."},
        {"OBJECT", "Location adjacent to an object type definition."},
        {"FIELD_DEFINITION", "Location adjacent to a field definition."},
        {"ARGUMENT_DEFINITION", "Location adjacent to an argument definition."},
        {"INTERFACE", "Location adjacent to an interface definition."},
        {"UNION", "Location adjacent to a union definition."},
        {"ENUM", "Location adjacent to an enum definition."},
        {"ENUM_VALUE", "Location adjacent to an enum value definition."},
        {"INPUT_OBJECT", "Location adjacent to an input object type definition."},
        {"INPUT_FIELD_DEFINITION", "Location adjacent to an input object field definition."}};
    for (size_t i = 0; i < sizeof locs / sizeof *locs; i++) gql_schema_enum(s, t, locs[i][0], locs[i][1]);
}

gql_schema_t *gql_schema_new(void) {
    arena_t *a = arena_new();
    gql_schema_t *s = arena_alloc(a, sizeof *s);
    s->arena = a;
    s->types.size = sizeof(gql_ntype_t *);
    s->docs.size = sizeof(gql_doc_t *);
    s->listed.size = sizeof(gql_ntype_t *);
    static const char *scalars[][2] = {
        {"Int", D_INT}, {"Float", D_FLOAT}, {"String", D_STRING}, {"Boolean", D_BOOLEAN}, {"ID", D_ID}};
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
        gql_ntype_t *t = gql_schema_type(s, GK_SCALAR, scalars[i][0], scalars[i][1]);
        t->builtin = true;
        t->scalar = GQL_INT + (int)i;
    }
    add_meta_types(s);
    for (size_t i = 0; i < s->types.n; i++) ((gql_ntype_t **)s->types.items)[i]->builtin = true;
    return s;
}

void gql_schema_free(gql_schema_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->docs.n; i++) gql_doc_free(((gql_doc_t **)s->docs.items)[i]);
    arena_free(s->arena);
}

/* ---- lookups --------------------------------------------------------------- */

const gql_ntype_t *gql_schema_lookup(const gql_schema_t *s, const char *name) {
    if (!s->hcap) return NULL;
    for (size_t i = hash_name(name) & (s->hcap - 1);; i = (i + 1) & (s->hcap - 1)) {
        if (!s->hash[i]) return NULL;
        if (strcmp(s->hash[i]->name, name) == 0) return s->hash[i];
    }
}

bool gql_schema_declared(const gql_schema_t *s, const char *name) {
    for (size_t i = 0; i < s->types.n; i++)
        if (strcmp(((gql_ntype_t **)s->types.items)[i]->name, name) == 0) return true;
    return false;
}

const gql_ntype_t *gql_schema_query(const gql_schema_t *s) { return s->query; }
const gql_ntype_t *gql_schema_mutation(const gql_schema_t *s) { return s->mutation; }
int gql_schema_ntypes(const gql_schema_t *s) { return (int)s->types.n; }
const gql_ntype_t *gql_schema_type_at(const gql_schema_t *s, int i) { return ((gql_ntype_t **)s->types.items)[i]; }
const gql_field_t *gql_schema_typename_field(const gql_schema_t *s) { return &s->typename_field; }

const gql_field_t *gql_type_field(const gql_ntype_t *t, const char *name) {
    for (int i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0) return &t->fields[i];
    return NULL;
}

const gql_ivalue_t *gql_field_arg(const gql_field_t *f, const char *name) {
    for (int i = 0; i < f->nargs; i++)
        if (strcmp(f->args[i].name, name) == 0) return &f->args[i];
    return NULL;
}

const gql_ivalue_t *gql_type_input(const gql_ntype_t *t, const char *name) {
    for (int i = 0; i < t->ninputs; i++)
        if (strcmp(t->inputs[i].name, name) == 0) return &t->inputs[i];
    return NULL;
}

const gql_evalue_t *gql_type_enum(const gql_ntype_t *t, const char *name) {
    for (int i = 0; i < t->nvalues; i++)
        if (strcmp(t->values[i].name, name) == 0) return &t->values[i];
    return NULL;
}

const gql_ntype_t *gql_tref_named(const gql_tref_t *t) {
    while (t->kind != GT_NAMED) t = t->of;
    return t->named;
}

char *gql_tref_text(const gql_tref_t *t, char *out, size_t n) {
    switch (t->kind) {
    case GT_NAMED: snprintf(out, n, "%s", t->named->name); break;
    case GT_LIST: {
        char in[512];
        snprintf(out, n, "[%s]", gql_tref_text(t->of, in, sizeof in));
        break;
    }
    case GT_NON_NULL: {
        char in[512];
        snprintf(out, n, "%s!", gql_tref_text(t->of, in, sizeof in));
        break;
    }
    }
    return out;
}

/* ---- finishing ---------------------------------------------------------------- */

/* "[T!]!" → a reference; NULL if malformed or T is no type. */
static gql_tref_t *parse_tref(gql_schema_t *s, const char **p) {
    gql_tref_t *t = arena_alloc(s->arena, sizeof *t);
    if (**p == '[') {
        (*p)++;
        t->kind = GT_LIST;
        if (!(t->of = parse_tref(s, p)) || **p != ']') return NULL;
        (*p)++;
    } else {
        size_t n = strcspn(*p, "!]");
        char name[256];
        if (!n || n >= sizeof name) return NULL;
        memcpy(name, *p, n);
        name[n] = 0;
        *p += n;
        const gql_ntype_t *nt = gql_schema_lookup(s, name);
        if (!nt) return NULL;
        t = (gql_tref_t *)&nt->ref;
    }
    if (**p == '!') {
        (*p)++;
        gql_tref_t *nn = arena_alloc(s->arena, sizeof *nn);
        nn->kind = GT_NON_NULL;
        nn->of = t;
        t = nn;
    }
    return t;
}

static int resolve(gql_schema_t *s, const char *text, gql_tref_t **out, char *err, size_t errlen) {
    const char *p = text;
    *out = parse_tref(s, &p);
    if (*out && !*p) return 0;
    snprintf(err, errlen, "Bad type reference \"%s\"", text);
    return -1;
}

static int finish_ivalues(gql_schema_t *s, vec_t *v, gql_ivalue_t **items, int *n, char *err, size_t errlen) {
    *items = v->items;
    *n = (int)v->n;
    for (int i = 0; i < *n; i++) {
        gql_ivalue_t *a = &(*items)[i];
        if (resolve(s, a->type_text, &a->type, err, errlen) < 0) return -1;
        if (a->default_literal) {
            /* parse the literal as an argument of a throwaway document */
            char src[256];
            snprintf(src, sizeof src, "{f(a: %s)}", a->default_literal);
            gql_doc_t *d;
            char m[128];
            if (gql_parse(src, strlen(src), &d, m, sizeof m, NULL) < 0) {
                snprintf(err, errlen, "Bad default %s", a->default_literal);
                return -1;
            }
            *(gql_doc_t **)vec_push(s->arena, &s->docs) = d;
            a->default_value = d->defs[0].sel->items[0].args[0].value;
        }
    }
    return 0;
}

static void reach(gql_schema_t *s, const gql_tref_t *r) {
    gql_ntype_t *t = (gql_ntype_t *)gql_tref_named(r);
    if (t->reachable) return;
    t->reachable = true;
    *(gql_ntype_t **)vec_push(s->arena, &s->listed) = t;
    for (int i = 0; i < t->nfields; i++) {
        reach(s, t->fields[i].type);
        for (int j = 0; j < t->fields[i].nargs; j++) reach(s, t->fields[i].args[j].type);
    }
    for (int i = 0; i < t->ninputs; i++) reach(s, t->inputs[i].type);
}

int gql_schema_nlisted(const gql_schema_t *s) { return (int)s->listed.n; }
const gql_ntype_t *gql_schema_listed(const gql_schema_t *s, int i) { return ((gql_ntype_t **)s->listed.items)[i]; }

int gql_schema_finish(gql_schema_t *s, const char *query, const char *mutation, char *err, size_t errlen) {
    s->hcap = 64;
    while (s->hcap < s->types.n * 2) s->hcap *= 2;
    s->hash = arena_alloc(s->arena, s->hcap * sizeof *s->hash);
    for (size_t k = 0; k < s->types.n; k++) {
        gql_ntype_t *t = ((gql_ntype_t **)s->types.items)[k];
        size_t i = hash_name(t->name) & (s->hcap - 1);
        for (; s->hash[i]; i = (i + 1) & (s->hcap - 1))
            if (strcmp(s->hash[i]->name, t->name) == 0) {
                snprintf(err, errlen, "Schema must contain uniquely named types but contains multiple types named \"%s\".", t->name);
                return -1;
            }
        s->hash[i] = t;
    }
    for (size_t k = 0; k < s->types.n; k++) {
        gql_ntype_t *t = ((gql_ntype_t **)s->types.items)[k];
        t->fields = t->fv.items;
        t->nfields = (int)t->fv.n;
        t->values = t->ev.items;
        t->nvalues = (int)t->ev.n;
        for (int i = 0; i < t->nfields; i++) {
            gql_field_t *f = &t->fields[i];
            if (resolve(s, f->type_text, &f->type, err, errlen) < 0) return -1;
            if (finish_ivalues(s, &f->argv, &f->args, &f->nargs, err, errlen) < 0) return -1;
        }
        if (finish_ivalues(s, &t->iv, &t->inputs, &t->ninputs, err, errlen) < 0) return -1;
    }
    s->query = (gql_ntype_t *)gql_schema_lookup(s, query);
    s->mutation = mutation ? (gql_ntype_t *)gql_schema_lookup(s, mutation) : NULL;
    if (!s->query || (mutation && !s->mutation)) {
        snprintf(err, errlen, "No root type %s", s->query ? mutation : query);
        return -1;
    }
    /* the fields every object answers, and the query root's two */
    s->typename_field = (gql_field_t){.name = "__typename", .meta = GQL_META_TYPENAME};
    resolve(s, "String!", &s->typename_field.type, err, errlen);
    s->schema_field = (gql_field_t){.name = "__schema", .meta = GQL_META_SCHEMA,
                                    .description = "Access the current type schema of this server."};
    resolve(s, "__Schema!", &s->schema_field.type, err, errlen);
    s->type_field = (gql_field_t){.name = "__type", .meta = GQL_META_TYPE,
                                  .description = "Request the type information of a single type."};
    resolve(s, "__Type", &s->type_field.type, err, errlen);
    gql_ivalue_t *a = arena_alloc(s->arena, sizeof *a);
    a->name = "name";
    resolve(s, "String!", &a->type, err, errlen);
    s->type_field.args = a;
    s->type_field.nargs = 1;
    for (size_t k = 0; k < s->types.n; k++) {
        gql_ntype_t *t = ((gql_ntype_t **)s->types.items)[k];
        if (t->builtin && t->kind == GK_OBJECT)
            for (int i = 0; i < t->nfields; i++) t->fields[i].meta = GQL_META_INTRO;
    }
    /* __schema.types: what the roots reach, the standard scalars, the
     * meta-types (graphql-js's order: roots, directive arguments, __Schema) */
    reach(s, &s->query->ref);
    if (s->mutation) reach(s, &s->mutation->ref);
    reach(s, &gql_schema_lookup(s, "Boolean")->ref);
    reach(s, &gql_schema_lookup(s, "__Schema")->ref);
    for (size_t k = 0; k < s->types.n; k++) {
        gql_ntype_t *t = ((gql_ntype_t **)s->types.items)[k];
        if (t->builtin) reach(s, &t->ref);
    }
    s->finished = true;
    return 0;
}

const gql_field_t *gql_schema_meta_field(const gql_schema_t *s, int which) {
    return which == GQL_META_SCHEMA ? &s->schema_field : which == GQL_META_TYPE ? &s->type_field : &s->typename_field;
}
