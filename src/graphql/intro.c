/* graphql/intro: the introspection fields (__Schema, __Type, __Field,
 * __InputValue, __EnumValue, __Directive) answered from the schema
 * itself, as graphql-js 16 answers them. A __Type object is a type
 * reference (named or wrapped); the others point at their definition. */
#include <string.h>

#include "graphql/exec_internal.h"

typedef struct {
    const char *name, *description, *arg_description;
} directive_t;

/* The two directives every schema has, in the order graphql-js lists
 * them for Atrium (spec: skip, include). */
static const directive_t directives[] = {
    {"skip", "Directs the executor to skip this field or fragment when the `if` argument is true.",
     "Skipped when true."},
    {"include", "Directs the executor to include this field or fragment only when the `if` argument is true.",
     "Included when true."},
};

static void str(gql_result_t *r, const char *s) {
    if (!s) {
        r->kind = GR_NULL;
        return;
    }
    r->kind = GR_STRING;
    r->s = s;
    r->len = strlen(s);
}

static void boolean(gql_result_t *r, bool b) {
    r->kind = GR_BOOL;
    r->b = b;
}

static void object(gql_result_t *r, const void *obj) {
    r->kind = obj ? GR_OBJECT : GR_NULL;
    r->obj = (void *)obj;
}

static gql_result_t *list(gql_exec_t *x, gql_result_t *r, size_t n) {
    r->kind = GR_LIST;
    r->n = 0;
    r->items = gql_alloc(x, (n ? n : 1) * sizeof *r->items);
    return r->items;
}

static bool with_deprecated(gql_exec_t *x) {
    const gql_value_t *v = gql_arg(x, "includeDeprecated");
    return v && v->kind == GV_BOOLEAN && v->b;
}

static const char *kind_name(const gql_tref_t *t) {
    if (t->kind == GT_LIST) return "LIST";
    if (t->kind == GT_NON_NULL) return "NON_NULL";
    switch (t->named->kind) {
    case GK_SCALAR: return "SCALAR";
    case GK_OBJECT: return "OBJECT";
    case GK_ENUM: return "ENUM";
    case GK_INPUT_OBJECT: return "INPUT_OBJECT";
    }
    return "SCALAR";
}

static void input_values(gql_exec_t *x, gql_result_t *r, const gql_ivalue_t *v, int n) {
    bool all = with_deprecated(x);
    gql_result_t *items = list(x, r, (size_t)n);
    for (int i = 0; i < n; i++)
        if (all || !v[i].deprecation) object(&items[r->n++], &v[i]);
}

static void type_field(gql_exec_t *x, const gql_tref_t *t, const char *f, gql_result_t *r) {
    const gql_ntype_t *nt = t->kind == GT_NAMED ? t->named : NULL;
    if (strcmp(f, "kind") == 0) {
        r->kind = GR_ENUM;
        r->s = kind_name(t);
        r->len = strlen(r->s);
    } else if (strcmp(f, "name") == 0) {
        str(r, nt ? nt->name : NULL);
    } else if (strcmp(f, "description") == 0) {
        str(r, nt ? nt->description : NULL);
    } else if (strcmp(f, "specifiedByURL") == 0) {
        str(r, NULL);
    } else if (strcmp(f, "fields") == 0) {
        if (!nt || nt->kind != GK_OBJECT) return str(r, NULL);
        bool all = with_deprecated(x);
        gql_result_t *items = list(x, r, (size_t)nt->nfields);
        for (int i = 0; i < nt->nfields; i++)
            if (all || !nt->fields[i].deprecation) object(&items[r->n++], &nt->fields[i]);
    } else if (strcmp(f, "interfaces") == 0) {
        if (!nt || nt->kind != GK_OBJECT) return str(r, NULL);
        list(x, r, 0);
    } else if (strcmp(f, "possibleTypes") == 0) {
        str(r, NULL);
    } else if (strcmp(f, "enumValues") == 0) {
        if (!nt || nt->kind != GK_ENUM) return str(r, NULL);
        bool all = with_deprecated(x);
        gql_result_t *items = list(x, r, (size_t)nt->nvalues);
        for (int i = 0; i < nt->nvalues; i++)
            if (all || !nt->values[i].deprecation) object(&items[r->n++], &nt->values[i]);
    } else if (strcmp(f, "inputFields") == 0) {
        if (!nt || nt->kind != GK_INPUT_OBJECT) return str(r, NULL);
        input_values(x, r, nt->inputs, nt->ninputs);
    } else if (strcmp(f, "ofType") == 0) {
        object(r, t->kind == GT_NAMED ? NULL : t->of);
    } else if (strcmp(f, "isOneOf") == 0) {
        if (!nt || nt->kind != GK_INPUT_OBJECT) return str(r, NULL);
        boolean(r, false);
    } else {
        str(r, NULL);
    }
}

void gx_intro(gql_exec_t *x, const gql_ntype_t *parent, const gql_field_t *f, void *obj, gql_result_t *r) {
    const char *n = f->name;
    if (f->meta == GQL_META_SCHEMA) return object(r, x->s);
    if (f->meta == GQL_META_TYPE) {
        const gql_value_t *name = gql_arg(x, "name");
        const gql_ntype_t *t = name && name->kind == GV_STRING ? gql_schema_lookup(x->s, name->s) : NULL;
        return object(r, t && t->reachable ? &t->ref : NULL);
    }
    switch (parent->tag) {
    case 1: /* __Schema */
        if (strcmp(n, "types") == 0) {
            int nt = gql_schema_nlisted(x->s);
            gql_result_t *items = list(x, r, (size_t)nt);
            for (int i = 0; i < nt; i++) object(&items[r->n++], &gql_schema_listed(x->s, i)->ref);
        } else if (strcmp(n, "queryType") == 0) {
            object(r, &gql_schema_query(x->s)->ref);
        } else if (strcmp(n, "mutationType") == 0) {
            const gql_ntype_t *m = gql_schema_mutation(x->s);
            object(r, m ? &m->ref : NULL);
        } else if (strcmp(n, "directives") == 0) {
            gql_result_t *items = list(x, r, 2);
            for (int i = 0; i < 2; i++) object(&items[r->n++], &directives[i]);
        } else {
            str(r, NULL); /* description, subscriptionType */
        }
        return;
    case 2: return type_field(x, obj, n, r);
    case 3: { /* __Field */
        const gql_field_t *fd = obj;
        if (strcmp(n, "name") == 0) str(r, fd->name);
        else if (strcmp(n, "description") == 0) str(r, fd->description);
        else if (strcmp(n, "args") == 0) input_values(x, r, fd->args, fd->nargs);
        else if (strcmp(n, "type") == 0) object(r, fd->type);
        else if (strcmp(n, "isDeprecated") == 0) boolean(r, fd->deprecation != NULL);
        else str(r, fd->deprecation);
        return;
    }
    case 4: { /* __InputValue */
        const gql_ivalue_t *iv = obj;
        if (strcmp(n, "name") == 0) str(r, iv->name);
        else if (strcmp(n, "description") == 0) str(r, iv->description);
        else if (strcmp(n, "type") == 0) object(r, iv->type);
        else if (strcmp(n, "defaultValue") == 0) str(r, iv->default_literal);
        else if (strcmp(n, "isDeprecated") == 0) boolean(r, iv->deprecation != NULL);
        else str(r, iv->deprecation);
        return;
    }
    case 5: { /* __EnumValue */
        const gql_evalue_t *ev = obj;
        if (strcmp(n, "name") == 0) str(r, ev->name);
        else if (strcmp(n, "description") == 0) str(r, ev->description);
        else if (strcmp(n, "isDeprecated") == 0) boolean(r, ev->deprecation != NULL);
        else str(r, ev->deprecation);
        return;
    }
    case 6: { /* __Directive */
        const directive_t *d = obj;
        if (strcmp(n, "name") == 0) str(r, d->name);
        else if (strcmp(n, "description") == 0) str(r, d->description);
        else if (strcmp(n, "isRepeatable") == 0) boolean(r, false);
        else if (strcmp(n, "locations") == 0) {
            static const char *locs[] = {"INLINE_FRAGMENT", "FRAGMENT_SPREAD", "FIELD"};
            gql_result_t *items = list(x, r, 3);
            for (int i = 0; i < 3; i++) {
                items[i].kind = GR_ENUM;
                items[i].s = locs[i];
                items[i].len = strlen(locs[i]);
            }
            r->n = 3;
        } else if (strcmp(n, "args") == 0) {
            /* if: Boolean! */
            gql_ivalue_t *iv = gql_alloc(x, sizeof *iv);
            iv->name = "if";
            iv->description = d->arg_description;
            gql_tref_t *nn = gql_alloc(x, sizeof *nn);
            nn->kind = GT_NON_NULL;
            nn->of = (gql_tref_t *)&gql_schema_lookup(x->s, "Boolean")->ref;
            iv->type = nn;
            gql_result_t *items = list(x, r, 1);
            object(&items[r->n++], iv);
        } else str(r, NULL);
        return;
    }
    }
    str(r, NULL);
}
