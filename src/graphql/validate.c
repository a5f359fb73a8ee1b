/* graphql/validate: the specification's validation rules, worded as
 * graphql-js 16 words them, for a document against a schema. graphql-js
 * runs its rules side by side in one traversal; so does this, and errors
 * come out in the same order: each definition's walk, then (operations)
 * its variable rules, then unused fragments at the end.
 *
 * Rules: ExecutableDefinitions (the parser refuses type-system
 * definitions), UniqueOperationNames, LoneAnonymousOperation,
 * KnownTypeNames, FragmentsOnCompositeTypes, VariablesAreInputTypes,
 * ScalarLeafs, FieldsOnCorrectType, UniqueFragmentNames,
 * KnownFragmentNames, NoUnusedFragments, PossibleFragmentSpreads,
 * NoFragmentCycles, UniqueVariableNames, NoUndefinedVariables,
 * NoUnusedVariables, KnownDirectives, UniqueDirectivesPerLocation,
 * KnownArgumentNames, UniqueArgumentNames, ValuesOfCorrectType,
 * ProvidedRequiredArguments, VariablesInAllowedPosition, and
 * OverlappingFieldsCanBeMerged for fields of one selection set. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/exec_internal.h"

typedef struct {
    const char *name;
    gql_loc_t loc;
    const gql_tref_t *expected; /* NULL: a position we cannot type */
    bool has_default;           /* the position has a default value */
} usage_t;

typedef struct {
    const gql_def_t *def;
    vec_t usages;  /* usage_t */
    vec_t spreads; /* const char * */
    vec_t errors;  /* gerr_t, this definition's walk */
    size_t mark;   /* reach(): the walk that last listed it */
} defstate_t;

typedef struct {
    gql_exec_t *x;
    defstate_t *cur;
    defstate_t *defs;
    size_t ndefs;
    size_t nerrors; /* past MAX_ERRORS validation stops */
} vctx_t;

#define MAX_ERRORS 100 /* graphql-js's default maxErrors */

static void verr(vctx_t *v, const gql_loc_t *l1, const gql_loc_t *l2, const char *msg) {
    if (++v->nerrors > MAX_ERRORS) return;
    gerr_t *e = vec_push(v->x->a, &v->cur->errors);
    e->msg = msg;
    gx_locs(v->x, e, 2);
    if (l1) e->locs[e->nlocs++] = *l1;
    if (l2) e->locs[e->nlocs++] = *l2;
}

#define VERR(v, l1, l2, ...) verr(v, l1, l2, gx_printf((v)->x, __VA_ARGS__))

static const char *tref_str(vctx_t *v, const gql_tref_t *t) {
    char b[512];
    return arena_strdup(v->x->a, gql_tref_text(t, b, sizeof b));
}

static const char *ast_type_str(vctx_t *v, const gql_type_t *t) {
    if (t->kind == GT_NAMED) return t->name;
    if (t->kind == GT_LIST) return gx_printf(v->x, "[%s]", ast_type_str(v, t->of));
    return gx_printf(v->x, "%s!", ast_type_str(v, t->of));
}

static const char *value_str(vctx_t *v, const gql_value_t *val) {
    buf_t b = BUF_INIT;
    gx_print_value(&b, val);
    char *s = arena_strndup(v->x->a, b.data, b.len);
    buf_free(&b);
    return s;
}

static const char **type_names(vctx_t *v, int *n, bool input) {
    int all = gql_schema_ntypes(v->x->s);
    const char **names = arena_alloc(v->x->a, (size_t)(all + 1) * sizeof *names);
    *n = 0;
    for (int i = 0; i < all; i++) {
        const gql_ntype_t *t = gql_schema_type_at(v->x->s, i);
        if (t->reachable && (!input || t->kind != GK_OBJECT)) names[(*n)++] = t->name;
    }
    return names;
}

static const gql_ntype_t *known_type(vctx_t *v, const char *name, const gql_loc_t *loc) {
    const gql_ntype_t *t = gql_schema_lookup(v->x->s, name);
    if (t && t->reachable) return t;
    int n;
    const char **names = type_names(v, &n, false);
    VERR(v, loc, NULL, "Unknown type \"%s\".%s", name, gx_did_you_mean(v->x, name, names, n, NULL));
    return NULL;
}

/* A variable's declared type as a schema reference; NULL if unknown. */
static const gql_tref_t *ast_tref(vctx_t *v, const gql_type_t *t) {
    if (t->kind == GT_NAMED) {
        const gql_ntype_t *nt = gql_schema_lookup(v->x->s, t->name);
        return nt && nt->reachable ? &nt->ref : NULL;
    }
    const gql_tref_t *of = ast_tref(v, t->of);
    if (!of) return NULL;
    gql_tref_t *w = arena_alloc(v->x->a, sizeof *w);
    w->kind = t->kind;
    w->of = (gql_tref_t *)of;
    return w;
}

/* ---- values --------------------------------------------------------------------- */

static void check_value(vctx_t *v, const gql_value_t *val, const gql_tref_t *t, bool has_default);

static void check_scalar(vctx_t *v, const gql_value_t *val, const gql_ntype_t *nt, const gql_tref_t *t) {
    const char *n = nt->name;
    const char *p = value_str(v, val);
    if (nt->kind == GK_ENUM) {
        const char **opts = arena_alloc(v->x->a, (size_t)(nt->nvalues + 1) * sizeof *opts);
        for (int i = 0; i < nt->nvalues; i++) opts[i] = nt->values[i].name;
        if (val->kind != GV_ENUM) {
            VERR(v, &val->loc, NULL, "Enum \"%s\" cannot represent non-enum value: %s.%s", n, p,
                 gx_did_you_mean(v->x, p, opts, nt->nvalues, "the enum value "));
        } else if (!gql_type_enum(nt, val->s)) {
            VERR(v, &val->loc, NULL, "Value \"%s\" does not exist in \"%s\" enum.%s", val->s, n,
                 gx_did_you_mean(v->x, val->s, opts, nt->nvalues, "the enum value "));
        }
        return;
    }
    if (nt->kind == GK_INPUT_OBJECT) {
        VERR(v, &val->loc, NULL, "Expected value of type \"%s\", found %s.", tref_str(v, t), p);
        return;
    }
    if (strcmp(n, "Int") == 0) {
        if (val->kind != GV_INT) VERR(v, &val->loc, NULL, "Int cannot represent non-integer value: %s", p);
        else {
            errno = 0;
            long long i = strtoll(val->s, NULL, 10);
            if (errno || i < INT32_MIN || i > INT32_MAX)
                VERR(v, &val->loc, NULL, "Int cannot represent non 32-bit signed integer value: %s", p);
        }
    } else if (strcmp(n, "Float") == 0) {
        if (val->kind != GV_INT && val->kind != GV_FLOAT)
            VERR(v, &val->loc, NULL, "Float cannot represent non numeric value: %s", p);
    } else if (strcmp(n, "Boolean") == 0) {
        if (val->kind != GV_BOOLEAN) VERR(v, &val->loc, NULL, "Boolean cannot represent a non boolean value: %s", p);
    } else if (strcmp(n, "ID") == 0) {
        if (val->kind != GV_STRING && val->kind != GV_INT)
            VERR(v, &val->loc, NULL, "ID cannot represent a non-string and non-integer value: %s", p);
    } else if (val->kind != GV_STRING) {
        VERR(v, &val->loc, NULL, "String cannot represent a non string value: %s", p);
    }
}

static void check_value(vctx_t *v, const gql_value_t *val, const gql_tref_t *t, bool has_default) {
    if (val->kind == GV_VARIABLE) {
        usage_t *u = vec_push(v->x->a, &v->cur->usages);
        *u = (usage_t){val->s, val->loc, t, has_default};
        return;
    }
    if (!t) return;
    if (t->kind == GT_NON_NULL) {
        if (val->kind == GV_NULL) {
            VERR(v, &val->loc, NULL, "Expected value of type \"%s\", found null.", tref_str(v, t));
            return;
        }
        return check_value(v, val, t->of, false);
    }
    if (val->kind == GV_NULL) return;
    if (t->kind == GT_LIST) {
        if (val->kind == GV_LIST)
            for (size_t i = 0; i < val->n; i++) check_value(v, val->items[i], t->of, false);
        else check_value(v, val, t->of, false);
        return;
    }
    const gql_ntype_t *nt = t->named;
    if (nt->kind != GK_INPUT_OBJECT || val->kind != GV_OBJECT) {
        if (val->kind == GV_LIST || val->kind == GV_OBJECT) {
            VERR(v, &val->loc, NULL, "Expected value of type \"%s\", found %s.", tref_str(v, t), value_str(v, val));
            return;
        }
        check_scalar(v, val, nt, t);
        return;
    }
    smap_t seen = {0};
    for (size_t i = 0; i < val->n; i++) {
        const gql_objfield_t *f = &val->fields[i];
        size_t first = smap_get(&seen, f->name);
        if (first == (size_t)-1) smap_put(v->x->a, &seen, f->name, i);
        else VERR(v, &val->fields[first].loc, &f->loc, "There can be only one input field named \"%s\".", f->name);
        const gql_ivalue_t *def = gql_type_input(nt, f->name);
        if (!def) {
            const char **opts = arena_alloc(v->x->a, (size_t)(nt->ninputs + 1) * sizeof *opts);
            for (int k = 0; k < nt->ninputs; k++) opts[k] = nt->inputs[k].name;
            VERR(v, &f->loc, NULL, "Field \"%s\" is not defined by type \"%s\".%s", f->name, nt->name,
                 gx_did_you_mean(v->x, f->name, opts, nt->ninputs, NULL));
            continue;
        }
        check_value(v, f->value, def->type, def->default_value != NULL);
    }
    for (int k = 0; k < nt->ninputs; k++) {
        const gql_ivalue_t *def = &nt->inputs[k];
        if (def->type->kind != GT_NON_NULL || def->default_value) continue;
        bool given = false;
        for (size_t i = 0; i < val->n; i++) given |= strcmp(val->fields[i].name, def->name) == 0;
        if (!given)
            VERR(v, &val->loc, NULL, "Field \"%s.%s\" of required type \"%s\" was not provided.", nt->name, def->name,
                 tref_str(v, def->type));
    }
}

/* ---- arguments and directives ----------------------------------------------------- */

static void check_args(vctx_t *v, const gql_arg_t *args, size_t n, const gql_ivalue_t *defs, int ndefs,
                       const char *owner, bool directive) {
    /* UniqueArgumentNames: one error per repeated name, at each use */
    smap_t first = {0};
    size_t *count = n ? arena_alloc(v->x->a, n * sizeof *count) : NULL;
    for (size_t i = 0; i < n; i++) {
        size_t f = smap_get(&first, args[i].name);
        if (f == (size_t)-1) smap_put(v->x->a, &first, args[i].name, f = i);
        count[f]++;
    }
    for (size_t i = 0; i < n; i++) {
        if (count[i] < 2) continue;
        gerr_t *e = NULL;
        if (++v->nerrors <= MAX_ERRORS) {
            e = vec_push(v->x->a, &v->cur->errors);
            e->msg = gx_printf(v->x, "There can be only one argument named \"%s\".", args[i].name);
            gx_locs(v->x, e, (int)count[i]);
        }
        for (size_t k = i; e && k < n && e->nlocs < (int)count[i]; k++)
            if (strcmp(args[k].name, args[i].name) == 0) e->locs[e->nlocs++] = args[k].loc;
    }
    for (size_t i = 0; i < n; i++) {
        const gql_ivalue_t *def = NULL;
        for (int k = 0; k < ndefs; k++)
            if (strcmp(defs[k].name, args[i].name) == 0) def = &defs[k];
        if (!def) {
            if (directive) {
                VERR(v, &args[i].loc, NULL, "Unknown argument \"%s\" on directive \"@%s\".", args[i].name, owner);
            } else {
                const char **opts = arena_alloc(v->x->a, (size_t)(ndefs + 1) * sizeof *opts);
                for (int k = 0; k < ndefs; k++) opts[k] = defs[k].name;
                VERR(v, &args[i].loc, NULL, "Unknown argument \"%s\" on field \"%s\".%s", args[i].name, owner,
                     gx_did_you_mean(v->x, args[i].name, opts, ndefs, NULL));
            }
            continue;
        }
        check_value(v, args[i].value, def->type, def->default_value != NULL);
    }
}

static void check_required(vctx_t *v, const gql_arg_t *args, size_t n, const gql_ivalue_t *defs, int ndefs,
                           const char *owner, bool directive, const gql_loc_t *loc) {
    for (int k = 0; k < ndefs; k++) {
        if (defs[k].type->kind != GT_NON_NULL || defs[k].default_value) continue;
        bool given = false;
        for (size_t i = 0; i < n; i++) given |= strcmp(args[i].name, defs[k].name) == 0;
        if (given) continue;
        if (directive)
            VERR(v, loc, NULL, "Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but it was not provided.",
                 owner, defs[k].name, tref_str(v, defs[k].type));
        else
            VERR(v, loc, NULL, "Field \"%s\" argument \"%s\" of type \"%s\" is required, but it was not provided.",
                 owner, defs[k].name, tref_str(v, defs[k].type));
    }
}

/* where: "QUERY", "FIELD", … */
static void check_directives(vctx_t *v, const gql_directive_t *dirs, size_t n, const char *where) {
    smap_t seen = {0};
    for (size_t i = 0; i < n; i++) {
        const gql_directive_t *d = &dirs[i];
        bool known = strcmp(d->name, "skip") == 0 || strcmp(d->name, "include") == 0;
        if (!known) {
            VERR(v, &d->loc, NULL, "Unknown directive \"@%s\".", d->name);
            continue;
        }
        if (strcmp(where, "FIELD") && strcmp(where, "FRAGMENT_SPREAD") && strcmp(where, "INLINE_FRAGMENT"))
            VERR(v, &d->loc, NULL, "Directive \"@%s\" may not be used on %s.", d->name, where);
        size_t first = smap_get(&seen, d->name);
        if (first == (size_t)-1) smap_put(v->x->a, &seen, d->name, i);
        else
            VERR(v, &dirs[first].loc, &d->loc, "The directive \"@%s\" can only be used once at this location.",
                 d->name);
        gql_ivalue_t def = {.name = "if"};
        gql_tref_t nn = {.kind = GT_NON_NULL, .of = (gql_tref_t *)&gql_schema_lookup(v->x->s, "Boolean")->ref};
        gql_tref_t *t = arena_alloc(v->x->a, sizeof *t);
        *t = nn;
        def.type = t;
        check_args(v, d->args, d->nargs, &def, 1, d->name, true);
        check_required(v, d->args, d->nargs, &def, 1, d->name, true, &d->loc);
    }
}

/* ---- selections -------------------------------------------------------------------- */

static bool same_args(const gql_selection_t *a, const gql_selection_t *b) {
    if (a->nargs != b->nargs) return false;
    for (size_t i = 0; i < a->nargs; i++) {
        const gql_arg_t *m = NULL;
        for (size_t k = 0; k < b->nargs; k++)
            if (strcmp(a->args[i].name, b->args[k].name) == 0) m = &b->args[k];
        if (!m) return false;
        buf_t x = BUF_INIT, y = BUF_INIT;
        gx_print_value(&x, a->args[i].value);
        gx_print_value(&y, m->value);
        bool eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
        buf_free(&x);
        buf_free(&y);
        if (!eq) return false;
    }
    return true;
}

/* Two fields of one selection set under one response key must be the
 * same field with the same arguments. */
static void check_overlap(vctx_t *v, const gql_selset_t *sel) {
    smap_t first = {0};
    for (size_t k = 0; k < sel->n; k++) {
        const gql_selection_t *b = &sel->items[k];
        if (b->kind != GS_FIELD) continue;
        const char *kb = b->alias ? b->alias : b->name;
        size_t i = smap_get(&first, kb);
        if (i == (size_t)-1) {
            smap_put(v->x->a, &first, kb, k);
            continue;
        }
        const gql_selection_t *a = &sel->items[i];
        if (strcmp(a->name, b->name))
            VERR(v, &a->loc, &b->loc,
                 "Fields \"%s\" conflict because \"%s\" and \"%s\" are different fields. Use different aliases on "
                 "the fields to fetch both if this was intentional.",
                 kb, a->name, b->name);
        else if (!same_args(a, b))
            VERR(v, &a->loc, &b->loc,
                 "Fields \"%s\" conflict because they have differing arguments. Use different aliases on the "
                 "fields to fetch both if this was intentional.",
                 kb);
    }
}

static void walk_selset(vctx_t *v, const gql_selset_t *sel, const gql_ntype_t *parent);

static void walk_field(vctx_t *v, const gql_selection_t *s, const gql_ntype_t *parent) {
    const gql_field_t *f = NULL;
    gql_exec_t *x = v->x;
    if (strcmp(s->name, "__typename") == 0) f = gql_schema_meta_field(x->s, GQL_META_TYPENAME);
    else if (parent == gql_schema_query(x->s) && strcmp(s->name, "__schema") == 0)
        f = gql_schema_meta_field(x->s, GQL_META_SCHEMA);
    else if (parent == gql_schema_query(x->s) && strcmp(s->name, "__type") == 0)
        f = gql_schema_meta_field(x->s, GQL_META_TYPE);
    else if (parent) f = gql_type_field(parent, s->name);
    if (parent && !f) {
        const char **opts = arena_alloc(x->a, (size_t)(parent->nfields + 1) * sizeof *opts);
        for (int i = 0; i < parent->nfields; i++) opts[i] = parent->fields[i].name;
        VERR(v, &s->loc, NULL, "Cannot query field \"%s\" on type \"%s\".%s", s->name, parent->name,
             gx_did_you_mean(x, s->name, opts, parent->nfields, NULL));
    }
    const gql_ntype_t *nt = f ? gql_tref_named(f->type) : NULL;
    if (nt) {
        bool leaf = nt->kind == GK_SCALAR || nt->kind == GK_ENUM;
        if (leaf && s->sel)
            VERR(v, &s->sel->loc, NULL, "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
                 s->name, tref_str(v, f->type));
        else if (!leaf && !s->sel)
            VERR(v, &s->loc, NULL, "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean \"%s { ... }\"?",
                 s->name, tref_str(v, f->type), s->name);
    }
    const char *owner = f && parent ? gx_printf(x, "%s.%s", parent->name, f->name) : s->name;
    if (f) check_args(v, s->args, s->nargs, f->args, f->nargs, owner, false);
    else
        for (size_t i = 0; i < s->nargs; i++) check_value(v, s->args[i].value, NULL, false);
    check_directives(v, s->dirs, s->ndirs, "FIELD");
    if (s->sel) walk_selset(v, s->sel, nt && nt->kind == GK_OBJECT ? nt : NULL);
    if (f) check_required(v, s->args, s->nargs, f->args, f->nargs, f->name, false, &s->loc);
}

static void walk_selset(vctx_t *v, const gql_selset_t *sel, const gql_ntype_t *parent) {
    gql_exec_t *x = v->x;
    for (size_t i = 0; i < sel->n && v->nerrors <= MAX_ERRORS; i++) {
        const gql_selection_t *s = &sel->items[i];
        if (s->kind == GS_FIELD) {
            walk_field(v, s, parent);
        } else if (s->kind == GS_FRAGMENT_SPREAD) {
            *(const char **)vec_push(x->a, &v->cur->spreads) = s->name;
            const gql_def_t *f = gx_fragment(x, s->name);
            if (!f) VERR(v, &s->name_loc, NULL, "Unknown fragment \"%s\".", s->name);
            else {
                const gql_ntype_t *ft = gql_schema_lookup(x->s, f->type_cond);
                if (ft && ft->reachable && ft->kind == GK_OBJECT && parent && ft != parent)
                    VERR(v, &s->loc, NULL,
                         "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
                         s->name, parent->name, ft->name);
            }
            check_directives(v, s->dirs, s->ndirs, "FRAGMENT_SPREAD");
        } else {
            const gql_ntype_t *t = parent;
            if (s->type_cond) {
                t = known_type(v, s->type_cond, &s->loc);
                if (t && t->kind != GK_OBJECT) {
                    VERR(v, &s->loc, NULL, "Fragment cannot condition on non composite type \"%s\".", t->name);
                    t = NULL;
                } else if (t && parent && t != parent) {
                    VERR(v, &s->loc, NULL,
                         "Fragment cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
                         parent->name, t->name);
                }
            }
            check_directives(v, s->dirs, s->ndirs, "INLINE_FRAGMENT");
            walk_selset(v, s->sel, t);
        }
    }
    check_overlap(v, sel);
}

/* ---- definitions ----------------------------------------------------------------- */

static defstate_t *state_of(vctx_t *v, const char *fragment) {
    const gql_def_t *f = gx_fragment(v->x, fragment);
    return f ? &v->defs[f - v->x->doc->defs] : NULL;
}

/* Every fragment an operation reaches, each once (mark: this walk's). */
static void reach(vctx_t *v, defstate_t *d, vec_t *out, size_t mark) {
    for (size_t i = 0; i < d->spreads.n; i++) {
        defstate_t *f = state_of(v, ((const char **)d->spreads.items)[i]);
        if (!f || f->mark == mark) continue;
        f->mark = mark;
        *(defstate_t **)vec_push(v->x->a, out) = f;
        reach(v, f, out, mark);
    }
}

static bool tref_eq(const gql_tref_t *a, const gql_tref_t *b) {
    if (a->kind != b->kind) return false;
    return a->kind == GT_NAMED ? a->named == b->named : tref_eq(a->of, b->of);
}

/* isTypeSubTypeOf for the types variables can have. */
static bool subtype(const gql_tref_t *var, const gql_tref_t *loc) {
    if (tref_eq(var, loc)) return true;
    if (loc->kind == GT_NON_NULL) return var->kind == GT_NON_NULL && subtype(var->of, loc->of);
    if (var->kind == GT_NON_NULL) return subtype(var->of, loc);
    if (loc->kind == GT_LIST) return var->kind == GT_LIST && subtype(var->of, loc->of);
    return false;
}

static void operation_variables(vctx_t *v, defstate_t *d) {
    gql_exec_t *x = v->x;
    const gql_def_t *op = d->def;
    vec_t frags = {.size = sizeof(defstate_t *)};
    reach(v, d, &frags, (size_t)(d - v->defs) + 1);
    vec_t all = {.size = sizeof(usage_t)};
    for (size_t i = 0; i < d->usages.n; i++) *(usage_t *)vec_push(x->a, &all) = ((usage_t *)d->usages.items)[i];
    for (size_t f = 0; f < frags.n; f++) {
        defstate_t *fs = ((defstate_t **)frags.items)[f];
        for (size_t i = 0; i < fs->usages.n; i++) *(usage_t *)vec_push(x->a, &all) = ((usage_t *)fs->usages.items)[i];
    }
    usage_t *u = all.items;
    smap_t defined = {0}, used = {0};
    for (size_t k = 0; k < op->nvars; k++)
        if (smap_get(&defined, op->vars[k].name) == (size_t)-1) smap_put(x->a, &defined, op->vars[k].name, k);
    /* NoUndefinedVariables */
    for (size_t i = 0; i < all.n; i++) {
        bool known = smap_get(&defined, u[i].name) != (size_t)-1, dup = smap_get(&used, u[i].name) != (size_t)-1;
        if (!dup) smap_put(x->a, &used, u[i].name, i);
        if (known || dup) continue;
        if (op->name) VERR(v, &u[i].loc, &op->loc, "Variable \"$%s\" is not defined by operation \"%s\".", u[i].name, op->name);
        else VERR(v, &u[i].loc, &op->loc, "Variable \"$%s\" is not defined.", u[i].name);
    }
    /* NoUnusedVariables */
    for (size_t k = 0; k < op->nvars; k++) {
        if (smap_get(&used, op->vars[k].name) != (size_t)-1) continue;
        if (op->name)
            VERR(v, &op->vars[k].loc, NULL, "Variable \"$%s\" is never used in operation \"%s\".", op->vars[k].name,
                 op->name);
        else VERR(v, &op->vars[k].loc, NULL, "Variable \"$%s\" is never used.", op->vars[k].name);
    }
    /* VariablesInAllowedPosition */
    for (size_t i = 0; i < all.n; i++) {
        size_t at = smap_get(&defined, u[i].name);
        const gql_vardef_t *vd = at == (size_t)-1 ? NULL : &op->vars[at];
        if (!vd || !u[i].expected) continue;
        const gql_tref_t *vt = ast_tref(v, vd->type);
        if (!vt) continue;
        const gql_tref_t *lt = u[i].expected;
        bool ok;
        if (lt->kind == GT_NON_NULL && vt->kind != GT_NON_NULL) {
            bool has_default = (vd->def && vd->def->kind != GV_NULL) || u[i].has_default;
            ok = has_default && subtype(vt, lt->of);
        } else ok = subtype(vt, lt);
        if (!ok)
            VERR(v, &vd->loc, &u[i].loc, "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".",
                 u[i].name, ast_type_str(v, vd->type), tref_str(v, lt));
    }
}

/* NoFragmentCycles as graphql-js finds them: a depth-first walk over the
 * spreads of each fragment not yet visited, reporting every spread that
 * closes a cycle, located at the spreads along it. */
typedef struct {
    smap_t visited; /* fragment names */
    const gql_selection_t *path[GQL_MAX_DEPTH];
    int depth;
    const char *names[GQL_MAX_DEPTH]; /* fragments on the path, and where each starts */
    int starts[GQL_MAX_DEPTH];
    int nnames;
} cycles_t;

/* The spreads of a selection set, in graphql-js's order (a stack of sets). */
static size_t spreads_of(vctx_t *v, const gql_selset_t *sel, const gql_selection_t ***out) {
    vec_t spreads = {.size = sizeof(const gql_selection_t *)}, stack = {.size = sizeof(const gql_selset_t *)};
    *(const gql_selset_t **)vec_push(v->x->a, &stack) = sel;
    while (stack.n) {
        const gql_selset_t *set = ((const gql_selset_t **)stack.items)[--stack.n];
        for (size_t i = 0; i < set->n; i++) {
            const gql_selection_t *s = &set->items[i];
            if (s->kind == GS_FRAGMENT_SPREAD) *(const gql_selection_t **)vec_push(v->x->a, &spreads) = s;
            else if (s->sel) *(const gql_selset_t **)vec_push(v->x->a, &stack) = s->sel;
        }
    }
    *out = spreads.items;
    return spreads.n;
}

static void detect_cycles(vctx_t *v, cycles_t *c, const gql_def_t *f) {
    if (smap_get(&c->visited, f->name) != (size_t)-1) return;
    smap_put(v->x->a, &c->visited, f->name, 1);
    const gql_selection_t **spreads;
    size_t n = spreads_of(v, f->sel, &spreads);
    if (!n || c->nnames >= GQL_MAX_DEPTH || c->depth >= GQL_MAX_DEPTH - 1) return;
    c->names[c->nnames] = f->name;
    c->starts[c->nnames++] = c->depth;
    for (size_t i = 0; i < n && c->depth < GQL_MAX_DEPTH; i++) {
        const gql_selection_t *sp = spreads[i];
        int at = -1;
        for (int k = 0; k < c->nnames; k++)
            if (strcmp(c->names[k], sp->name) == 0) at = c->starts[k];
        c->path[c->depth++] = sp;
        if (at < 0) {
            const gql_def_t *g = gx_fragment(v->x, sp->name);
            if (g) detect_cycles(v, c, g);
        } else {
            buf_t via = BUF_INIT;
            for (int k = at; k < c->depth - 1; k++) buf_printf(&via, "%s\"%s\"", k > at ? ", " : "", c->path[k]->name);
            gerr_t *e = vec_push(v->x->a, &v->cur->errors);
            e->msg = via.len ? gx_printf(v->x, "Cannot spread fragment \"%s\" within itself via %s.", sp->name, via.data)
                             : gx_printf(v->x, "Cannot spread fragment \"%s\" within itself.", sp->name);
            gx_locs(v->x, e, c->depth - at);
            for (int k = at; k < c->depth; k++) e->locs[e->nlocs++] = c->path[k]->loc;
            buf_free(&via);
        }
        c->depth--;
    }
    c->nnames--;
}

void gx_validate(gql_exec_t *x) {
    const gql_doc_t *doc = x->doc;
    vctx_t v = {.x = x, .ndefs = doc->ndefs};
    v.defs = arena_alloc(x->a, (doc->ndefs + 1) * sizeof *v.defs);
    size_t nops = 0;
    cycles_t cycles = {0};
    smap_t op_names = {0}, frag_names = {0};
    for (size_t i = 0; i < doc->ndefs; i++) {
        v.defs[i].def = &doc->defs[i];
        v.defs[i].usages.size = sizeof(usage_t);
        v.defs[i].spreads.size = sizeof(const char *);
        v.defs[i].errors.size = sizeof(gerr_t);
        nops += !doc->defs[i].fragment;
    }
    for (size_t i = 0; i < doc->ndefs; i++) {
        defstate_t *d = v.cur = &v.defs[i];
        const gql_def_t *def = d->def;
        if (!def->fragment) {
            if (!def->name && nops > 1)
                VERR(&v, &def->loc, NULL, "This anonymous operation must be the only defined operation.");
            if (def->name) {
                size_t k = smap_get(&op_names, def->name);
                if (k == (size_t)-1) smap_put(x->a, &op_names, def->name, i);
                else VERR(&v, &doc->defs[k].name_loc, &def->name_loc, "There can be only one operation named \"%s\".", def->name);
            }
            smap_t var_names = {0};
            for (size_t k = 0; k < def->nvars; k++) {
                const gql_vardef_t *vd = &def->vars[k];
                size_t j = smap_get(&var_names, vd->name);
                if (j == (size_t)-1) smap_put(x->a, &var_names, vd->name, k);
                else VERR(&v, &def->vars[j].loc, &vd->loc, "There can be only one variable named \"$%s\".", vd->name);
                const gql_type_t *base = vd->type;
                while (base->kind != GT_NAMED) base = base->of;
                const gql_ntype_t *nt = known_type(&v, base->name, &base->loc);
                if (nt && nt->kind == GK_OBJECT)
                    VERR(&v, &vd->type->loc, NULL, "Variable \"$%s\" cannot be non-input type \"%s\".", vd->name,
                         ast_type_str(&v, vd->type));
                else if (nt && vd->def)
                    check_value(&v, vd->def, ast_tref(&v, vd->type), false);
                check_directives(&v, vd->dirs, vd->ndirs, "VARIABLE_DEFINITION");
            }
            const char *where = def->op == GO_QUERY ? "QUERY" : def->op == GO_MUTATION ? "MUTATION" : "SUBSCRIPTION";
            check_directives(&v, def->dirs, def->ndirs, where);
            const gql_ntype_t *root = def->op == GO_QUERY      ? gql_schema_query(x->s)
                                      : def->op == GO_MUTATION ? gql_schema_mutation(x->s)
                                                               : NULL;
            walk_selset(&v, def->sel, root);
        } else {
            size_t k = smap_get(&frag_names, def->name);
            if (k == (size_t)-1) smap_put(x->a, &frag_names, def->name, i);
            else VERR(&v, &doc->defs[k].name_loc, &def->name_loc, "There can be only one fragment named \"%s\".", def->name);
            detect_cycles(&v, &cycles, def);
            const gql_ntype_t *t = known_type(&v, def->type_cond, &def->loc);
            if (t && t->kind != GK_OBJECT) {
                VERR(&v, &def->loc, NULL, "Fragment \"%s\" cannot condition on non composite type \"%s\".", def->name,
                     t->name);
                t = NULL;
            }
            check_directives(&v, def->dirs, def->ndirs, "FRAGMENT_DEFINITION");
            walk_selset(&v, def->sel, t);
        }
    }
    /* each definition's errors in order; operations' variable rules after
     * their walk; fragment cycles as each fragment is entered */
    for (size_t i = 0; i < doc->ndefs; i++) {
        defstate_t *d = v.cur = &v.defs[i];
        if (!d->def->fragment) operation_variables(&v, d);
        for (size_t k = 0; k < d->errors.n; k++) *(gerr_t *)vec_push(x->a, &x->errors) = ((gerr_t *)d->errors.items)[k];
    }
    /* NoUnusedFragments */
    vec_t used = {.size = sizeof(defstate_t *)};
    for (size_t i = 0; i < doc->ndefs; i++)
        if (!doc->defs[i].fragment) reach(&v, &v.defs[i], &used, doc->ndefs + 1);
    for (size_t i = 0; i < doc->ndefs && v.nerrors < MAX_ERRORS; i++)
        if (doc->defs[i].fragment && v.defs[i].mark != doc->ndefs + 1) {
            v.nerrors++;
            gx_error(x, &doc->defs[i].loc, false, "Fragment \"%s\" is never used.", doc->defs[i].name);
        }
    if (v.nerrors > MAX_ERRORS) {
        x->errors.n = MAX_ERRORS;
        gx_error(x, NULL, false, "Too many validation errors, error limit reached. Validation aborted.");
    }
}
