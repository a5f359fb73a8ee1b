/* graphql/exec: see exec.h. Execution follows the GraphQL specification's
 * algorithm (CollectFields, ExecuteSelectionSet, CompleteValue) and writes
 * JSON as it goes: a null that must propagate to a nullable parent
 * truncates the output back to where that parent's value started, so no
 * response tree is built. */
#include "graphql/exec_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

#define DEFAULT_MAX_DEPTH 30

/* ---- errors --------------------------------------------------------------- */

char *gx_printf(gql_exec_t *x, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_t b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = arena_strndup(x->a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return s;
}

static const char *path_json(gql_exec_t *x) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_arr_begin(&w);
    for (int i = 0; i < x->depth; i++) {
        if (x->path[i].index) jw_int(&w, (int64_t)x->path[i].i);
        else jw_str(&w, x->path[i].key);
    }
    jw_arr_end(&w);
    char *s = arena_strndup(x->a, b.data, b.len);
    buf_free(&b);
    return s;
}

void gx_locs(gql_exec_t *x, gerr_t *e, int n) { e->locs = arena_alloc(x->a, (size_t)(n ? n : 1) * sizeof *e->locs); }

static gerr_t *add_error(gql_exec_t *x, const char *msg) {
    gerr_t *e = vec_push(x->a, &x->errors);
    e->msg = msg;
    return e;
}

static void verror(gql_exec_t *x, const gql_loc_t *l1, const gql_loc_t *l2, bool with_path, const char *fmt,
                   va_list ap) {
    buf_t b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    gerr_t *e = add_error(x, arena_strndup(x->a, b.data ? b.data : "", b.len));
    buf_free(&b);
    gx_locs(x, e, 2);
    if (l1) e->locs[e->nlocs++] = *l1;
    if (l2) e->locs[e->nlocs++] = *l2;
    if (with_path) e->path = path_json(x);
}

void gx_error(gql_exec_t *x, const gql_loc_t *loc, bool with_path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(x, loc, NULL, with_path, fmt, ap);
    va_end(ap);
}

void gx_error2(gql_exec_t *x, const gql_loc_t *l1, const gql_loc_t *l2, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(x, l1, l2, false, fmt, ap);
    va_end(ap);
}

const gql_def_t *gx_fragment(const gql_exec_t *x, const char *name) {
    gql_exec_t *w = (gql_exec_t *)x;
    if (!w->fragments_indexed) {
        /* the first definition of each name, as graphql-js finds it */
        for (size_t i = 0; i < x->doc->ndefs; i++)
            if (x->doc->defs[i].fragment && smap_get(&w->fragments, x->doc->defs[i].name) == (size_t)-1)
                smap_put(w->a, &w->fragments, x->doc->defs[i].name, i);
        w->fragments_indexed = true;
    }
    size_t i = smap_get(&x->fragments, name);
    return i == (size_t)-1 ? NULL : &x->doc->defs[i];
}

/* ---- printing values as graphql-js does ------------------------------------ */

void gx_print_value(buf_t *b, const gql_value_t *v) {
    switch (v->kind) {
    case GV_VARIABLE: buf_printf(b, "$%s", v->s); break;
    case GV_INT:
    case GV_FLOAT:
    case GV_ENUM: buf_puts(b, v->s); break;
    case GV_BOOLEAN: buf_puts(b, v->b ? "true" : "false"); break;
    case GV_NULL: buf_puts(b, "null"); break;
    case GV_STRING: {
        jw_t w;
        jw_init(&w, b, 0);
        jw_strn(&w, v->s, v->len);
        break;
    }
    case GV_LIST:
        buf_putc(b, '[');
        for (size_t i = 0; i < v->n; i++) {
            if (i) buf_puts(b, ", ");
            gx_print_value(b, v->items[i]);
        }
        buf_putc(b, ']');
        break;
    case GV_OBJECT:
        buf_putc(b, '{');
        for (size_t i = 0; i < v->n; i++) {
            if (i) buf_puts(b, ", ");
            buf_printf(b, "%s: ", v->fields[i].name);
            gx_print_value(b, v->fields[i].value);
        }
        buf_putc(b, '}');
        break;
    }
}

static void inspect_depth(buf_t *b, const json_t *j, int depth) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        if (!json_object_size(j)) {
            buf_puts(b, "{}");
            break;
        }
        if (depth >= 2) {
            buf_puts(b, "[Object]");
            break;
        }
        buf_puts(b, "{ ");
        const char *k;
        json_t *v;
        bool first = true;
        json_object_foreach((json_t *)j, k, v) {
            if (!first) buf_puts(b, ", ");
            first = false;
            buf_printf(b, "%s: ", k);
            inspect_depth(b, v, depth + 1);
        }
        buf_puts(b, " }");
        break;
    }
    case JSON_ARRAY:
        if (!json_array_size(j)) {
            buf_puts(b, "[]");
            break;
        }
        if (depth >= 2) {
            buf_puts(b, "[Array]");
            break;
        }
        buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i) buf_puts(b, ", ");
            inspect_depth(b, json_array_get(j, i), depth + 1);
        }
        buf_putc(b, ']');
        break;
    default: {
        jw_t w;
        jw_init(&w, b, 0);
        jw_json(&w, j);
    }
    }
}

void gx_inspect(buf_t *b, const json_t *j) { inspect_depth(b, j, 0); }

/* ---- "Did you mean" (graphql-js's suggestionList) ---------------------------- */

static int lexical_distance(const char *a, const char *b, int threshold) {
    size_t la = strlen(a), lb = strlen(b);
    if (strcmp(a, b) == 0) return 0;
    char *la_s = strdup(a), *lb_s = strdup(b);
    for (char *p = la_s; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    for (char *p = lb_s; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    int result;
    if (strcmp(la_s, lb_s) == 0) result = 1;
    else {
        const char *s = la_s, *t = lb_s;
        size_t ls = la, lt = lb;
        if (ls < lt) {
            s = lb_s, t = la_s;
            size_t tmp = ls;
            ls = lt, lt = tmp;
        }
        if ((int)(ls - lt) > threshold) result = -1;
        else {
            int *rows = calloc(3 * (lt + 1), sizeof *rows);
            for (size_t j = 0; j <= lt; j++) rows[j] = (int)j;
            for (size_t i = 1; i <= ls; i++) {
                int *up = rows + ((i - 1) % 3) * (lt + 1), *cur = rows + (i % 3) * (lt + 1);
                int *up2 = rows + ((i + 1) % 3) * (lt + 1);
                int small = cur[0] = (int)i;
                for (size_t j = 1; j <= lt; j++) {
                    int cost = s[i - 1] == t[j - 1] ? 0 : 1;
                    int c = up[j] + 1;
                    if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
                    if (up[j - 1] + cost < c) c = up[j - 1] + cost;
                    if (i > 1 && j > 1 && s[i - 1] == t[j - 2] && s[i - 2] == t[j - 1] && up2[j - 2] + 1 < c)
                        c = up2[j - 2] + 1;
                    if (c < small) small = c;
                    cur[j] = c;
                }
                if (small > threshold) {
                    free(rows);
                    free(la_s);
                    free(lb_s);
                    return -1;
                }
            }
            int d = rows[(ls % 3) * (lt + 1) + lt];
            result = d <= threshold ? d : -1;
            free(rows);
        }
    }
    free(la_s);
    free(lb_s);
    return result;
}

typedef struct {
    const char *name;
    int d;
} cand_t;

/* graphql-js's naturalCompare: character codes, but runs of digits by
 * their numeric value. */
static int natural_compare(const char *a, const char *b) {
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *ea = a, *eb = b;
            while (*ea == '0') ea++;
            while (*eb == '0') eb++;
            const char *da = ea, *db = eb;
            while (*da >= '0' && *da <= '9') da++;
            while (*db >= '0' && *db <= '9') db++;
            if (da - ea != db - eb) return (int)((da - ea) - (db - eb));
            int c = strncmp(ea, eb, (size_t)(da - ea));
            if (c) return c;
            /* equal values: graphql-js compares on from after the runs */
            const char *ra = a, *rb = b;
            while (*ra >= '0' && *ra <= '9') ra++;
            while (*rb >= '0' && *rb <= '9') rb++;
            a = ra, b = rb;
            continue;
        }
        if (*a != *b) return (unsigned char)*a - (unsigned char)*b;
        a++, b++;
    }
    return (int)strlen(a) - (int)strlen(b);
}

static int cmp_cand(const void *pa, const void *pb) {
    const cand_t *a = pa, *b = pb;
    if (a->d != b->d) return a->d - b->d;
    return natural_compare(a->name, b->name);
}

const char *gx_did_you_mean(gql_exec_t *x, const char *input, const char *const *options, int n, const char *prefix) {
    cand_t *c = arena_alloc(x->a, (size_t)(n ? n : 1) * sizeof *c);
    int nc = 0;
    int threshold = (int)(strlen(input) * 4 / 10) + 1;
    for (int i = 0; i < n; i++) {
        int d = lexical_distance(input, options[i], threshold);
        if (d >= 0) c[nc++] = (cand_t){options[i], d};
    }
    if (!nc) return "";
    qsort(c, (size_t)nc, sizeof *c, cmp_cand);
    if (nc > 5) nc = 5;
    buf_t b = BUF_INIT;
    buf_printf(&b, " Did you mean %s", prefix ? prefix : "");
    for (int i = 0; i < nc; i++) {
        if (i) buf_puts(&b, nc > 2 ? ", " : " ");
        if (i && i == nc - 1) buf_puts(&b, "or ");
        buf_printf(&b, "\"%s\"", c[i].name);
    }
    buf_putc(&b, '?');
    char *s = arena_strndup(x->a, b.data, b.len);
    buf_free(&b);
    return s;
}

/* ---- operation selection -------------------------------------------------- */

int gql_select_operation(const gql_doc_t *doc, const char *name, gql_okind_t *kind, char *msg, size_t msgn) {
    const gql_def_t *op = NULL;
    for (size_t i = 0; i < doc->ndefs; i++) {
        const gql_def_t *d = &doc->defs[i];
        if (d->fragment) continue;
        if (!name) {
            if (op) {
                snprintf(msg, msgn, "Must provide operation name if query contains multiple operations.");
                return -1;
            }
            op = d;
        } else if (d->name && strcmp(d->name, name) == 0) {
            op = d;
        }
    }
    if (!op) {
        if (name) snprintf(msg, msgn, "Unknown operation named \"%s\".", name);
        else snprintf(msg, msgn, "Must provide an operation.");
        return -1;
    }
    *kind = op->op;
    return 0;
}

/* ---- input coercion ----------------------------------------------------------- */

static gql_value_t *new_value(gql_exec_t *x, gql_vkind_t k) {
    gql_value_t *v = arena_alloc(x->a, sizeof *v);
    v->kind = k;
    return v;
}

static const gql_value_t *var_value(gql_exec_t *x, const char *name, bool *given) {
    for (int i = 0; i < x->nvars; i++)
        if (strcmp(x->vars[i].name, name) == 0) {
            *given = x->vars[i].v != NULL;
            return x->vars[i].v;
        }
    *given = false;
    return NULL;
}

/* A literal (already validated) coerced to type t with variables
 * substituted; NULL when a variable it names was not given (so the
 * argument or field counts as absent). */
static const gql_value_t *coerce_literal(gql_exec_t *x, const gql_value_t *v, const gql_tref_t *t) {
    if (v->kind == GV_VARIABLE) {
        bool given;
        const gql_value_t *r = var_value(x, v->s, &given);
        return given ? r : NULL;
    }
    if (t->kind == GT_NON_NULL) return coerce_literal(x, v, t->of);
    if (v->kind == GV_NULL) return v;
    if (t->kind == GT_LIST) {
        gql_value_t *l = new_value(x, GV_LIST);
        l->loc = v->loc;
        if (v->kind != GV_LIST) {
            const gql_value_t *item = coerce_literal(x, v, t->of);
            if (!item) item = new_value(x, GV_NULL);
            l->items = arena_alloc(x->a, sizeof *l->items);
            l->items[0] = (gql_value_t *)item;
            l->n = 1;
            return l;
        }
        l->items = arena_alloc(x->a, (v->n ? v->n : 1) * sizeof *l->items);
        for (size_t i = 0; i < v->n; i++) {
            const gql_value_t *item = coerce_literal(x, v->items[i], t->of);
            l->items[l->n++] = (gql_value_t *)(item ? item : new_value(x, GV_NULL));
        }
        return l;
    }
    const gql_ntype_t *nt = t->named;
    if (nt->kind == GK_INPUT_OBJECT) {
        gql_value_t *o = new_value(x, GV_OBJECT);
        o->loc = v->loc;
        o->fields = arena_alloc(x->a, (v->n ? v->n : 1) * sizeof *o->fields);
        for (size_t i = 0; i < v->n; i++) {
            const gql_ivalue_t *def = gql_type_input(nt, v->fields[i].name);
            if (!def) continue;
            const gql_value_t *fv = coerce_literal(x, v->fields[i].value, def->type);
            if (!fv) continue;
            o->fields[o->n++] = (gql_objfield_t){def->name, (gql_value_t *)fv, v->fields[i].loc};
        }
        return o;
    }
    gql_value_t *c = arena_alloc(x->a, sizeof *c);
    *c = *v;
    if (v->kind == GV_INT) {
        c->i = strtoll(v->s, NULL, 10);
        c->f = strtod(v->s, NULL);
        if (strcmp(nt->name, "Float") == 0) c->kind = GV_FLOAT;
        else if (strcmp(nt->name, "ID") == 0) c->kind = GV_STRING, c->len = strlen(v->s);
    } else if (v->kind == GV_FLOAT) {
        c->f = strtod(v->s, NULL);
    }
    return c;
}

typedef struct {
    buf_t path; /* ".a[0]" under the variable */
    const json_t *at;
    const char *msg;
} cerr_t;

static gql_value_t *coerce_json(gql_exec_t *x, const json_t *j, const gql_tref_t *t, cerr_t *ce);

static gql_value_t *coerce_scalar_json(gql_exec_t *x, const json_t *j, const gql_ntype_t *nt, cerr_t *ce) {
    buf_t b = BUF_INIT;
    gql_value_t *v = NULL;
    const char *n = nt->name;
    if (nt->kind == GK_ENUM) {
        if (!json_is_string(j)) {
            gx_inspect(&b, j);
            ce->msg = gx_printf(x, "Enum \"%s\" cannot represent non-string value: %s.", n, b.data);
        } else if (!gql_type_enum(nt, json_string_value(j))) {
            const char **opts = arena_alloc(x->a, (size_t)(nt->nvalues + 1) * sizeof *opts);
            for (int i = 0; i < nt->nvalues; i++) opts[i] = nt->values[i].name;
            ce->msg = gx_printf(x, "Value \"%s\" does not exist in \"%s\" enum.%s", json_string_value(j), n,
                                gx_did_you_mean(x, json_string_value(j), opts, nt->nvalues, "the enum value "));
        } else {
            v = new_value(x, GV_ENUM);
            v->s = arena_strdup(x->a, json_string_value(j));
        }
    } else if (strcmp(n, "Int") == 0) {
        double d = json_is_integer(j) ? (double)json_integer_value(j) : json_is_real(j) ? json_real_value(j) : NAN;
        if (!json_is_number(j) || d != floor(d)) {
            gx_inspect(&b, j);
            ce->msg = gx_printf(x, "Int cannot represent non-integer value: %s", b.data);
        } else if (d < INT32_MIN || d > INT32_MAX) {
            gx_inspect(&b, j);
            ce->msg = gx_printf(x, "Int cannot represent non 32-bit signed integer value: %s", b.data);
        } else {
            v = new_value(x, GV_INT);
            v->i = (int64_t)d;
            v->f = d;
        }
    } else if (strcmp(n, "Float") == 0) {
        if (!json_is_number(j)) {
            gx_inspect(&b, j);
            ce->msg = gx_printf(x, "Float cannot represent non numeric value: %s", b.data);
        } else {
            v = new_value(x, GV_FLOAT);
            v->f = json_number_value(j);
        }
    } else if (strcmp(n, "Boolean") == 0) {
        if (!json_is_boolean(j)) {
            gx_inspect(&b, j);
            ce->msg = gx_printf(x, "Boolean cannot represent a non boolean value: %s", b.data);
        } else {
            v = new_value(x, GV_BOOLEAN);
            v->b = json_is_true(j);
        }
    } else if (strcmp(n, "ID") == 0 && json_is_integer(j)) {
        v = new_value(x, GV_STRING);
        v->s = gx_printf(x, "%lld", (long long)json_integer_value(j));
        v->len = strlen(v->s);
    } else { /* String, ID */
        if (!json_is_string(j)) {
            gx_inspect(&b, j);
            ce->msg = strcmp(n, "ID") == 0 ? gx_printf(x, "ID cannot represent value: %s", b.data)
                                           : gx_printf(x, "String cannot represent a non string value: %s", b.data);
        } else {
            v = new_value(x, GV_STRING);
            v->s = arena_strndup(x->a, json_string_value(j), json_string_length(j));
            v->len = json_string_length(j);
        }
    }
    buf_free(&b);
    if (!v && !ce->at) ce->at = j;
    return v;
}

static gql_value_t *coerce_json(gql_exec_t *x, const json_t *j, const gql_tref_t *t, cerr_t *ce) {
    if (t->kind == GT_NON_NULL) {
        if (json_is_null(j)) {
            char tt[512];
            ce->at = j;
            ce->msg = gx_printf(x, "Expected non-nullable type \"%s\" not to be null.", gql_tref_text(t, tt, sizeof tt));
            return NULL;
        }
        return coerce_json(x, j, t->of, ce);
    }
    if (json_is_null(j)) return new_value(x, GV_NULL);
    if (t->kind == GT_LIST) {
        gql_value_t *l = new_value(x, GV_LIST);
        if (!json_is_array(j)) {
            gql_value_t *item = coerce_json(x, j, t->of, ce);
            if (!item) return NULL;
            l->items = arena_alloc(x->a, sizeof *l->items);
            l->items[l->n++] = item;
            return l;
        }
        size_t n = json_array_size(j);
        l->items = arena_alloc(x->a, (n ? n : 1) * sizeof *l->items);
        for (size_t i = 0; i < n; i++) {
            size_t mark = ce->path.len;
            buf_printf(&ce->path, "[%zu]", i);
            gql_value_t *item = coerce_json(x, json_array_get(j, i), t->of, ce);
            if (!item) return NULL;
            ce->path.len = mark;
            ce->path.data[mark] = 0;
            l->items[l->n++] = item;
        }
        return l;
    }
    const gql_ntype_t *nt = t->named;
    if (nt->kind != GK_INPUT_OBJECT) return coerce_scalar_json(x, j, nt, ce);
    if (!json_is_object(j)) {
        ce->at = j;
        ce->msg = gx_printf(x, "Expected type \"%s\" to be an object.", nt->name);
        return NULL;
    }
    gql_value_t *o = new_value(x, GV_OBJECT);
    o->fields = arena_alloc(x->a, (json_object_size(j) + 1) * sizeof *o->fields);
    const char *k;
    json_t *fv;
    json_object_foreach((json_t *)j, k, fv) {
        const gql_ivalue_t *def = gql_type_input(nt, k);
        if (!def) {
            const char **opts = arena_alloc(x->a, (size_t)(nt->ninputs + 1) * sizeof *opts);
            for (int i = 0; i < nt->ninputs; i++) opts[i] = nt->inputs[i].name;
            ce->at = j;
            ce->msg = gx_printf(x, "Field \"%s\" is not defined by type \"%s\".%s", k, nt->name,
                                gx_did_you_mean(x, k, opts, nt->ninputs, NULL));
            return NULL;
        }
        size_t mark = ce->path.len;
        buf_printf(&ce->path, ".%s", k);
        gql_value_t *c = coerce_json(x, fv, def->type, ce);
        if (!c) return NULL;
        ce->path.len = mark;
        ce->path.data[mark] = 0;
        o->fields[o->n++] = (gql_objfield_t){def->name, c, {0, 0}};
    }
    for (int i = 0; i < nt->ninputs; i++)
        if (nt->inputs[i].type->kind == GT_NON_NULL && !nt->inputs[i].default_value &&
            !json_object_get(j, nt->inputs[i].name)) {
            char tt[512];
            ce->at = j;
            ce->msg = gx_printf(x, "Field \"%s\" of required type \"%s\" was not provided.", nt->inputs[i].name,
                                gql_tref_text(nt->inputs[i].type, tt, sizeof tt));
            return NULL;
        }
    return o;
}

/* CoerceVariableValues: 0, or -1 with the errors listed. */
static int coerce_variables(gql_exec_t *x, const json_t *vars) {
    const gql_def_t *op = x->op;
    x->vars = arena_alloc(x->a, (op->nvars + 1) * sizeof *x->vars);
    x->nvars = (int)op->nvars;
    size_t nerr = x->errors.n;
    for (size_t i = 0; i < op->nvars; i++) {
        const gql_vardef_t *vd = &op->vars[i];
        binding_t *b = &x->vars[i];
        b->name = vd->name;
        /* the type (validated: it names an input type) */
        gql_tref_t *t = NULL;
        {
            /* build a reference from the AST type */
            const gql_type_t *at = vd->type;
            gql_tref_t **slot = &t;
            while (at) {
                if (at->kind == GT_NAMED) {
                    *slot = (gql_tref_t *)&gql_schema_lookup(x->s, at->name)->ref;
                    break;
                }
                gql_tref_t *w = arena_alloc(x->a, sizeof *w);
                w->kind = at->kind;
                *slot = w;
                slot = &w->of;
                at = at->of;
            }
        }
        char tt[512];
        gql_tref_text(t, tt, sizeof tt);
        json_t *j = vars ? json_object_get(vars, vd->name) : NULL;
        if (!j) {
            if (vd->def) b->v = coerce_literal(x, vd->def, t);
            else if (t->kind == GT_NON_NULL)
                gx_error(x, &vd->loc, false, "Variable \"$%s\" of required type \"%s\" was not provided.", vd->name, tt);
            continue;
        }
        if (json_is_null(j) && t->kind == GT_NON_NULL) {
            gx_error(x, &vd->loc, false, "Variable \"$%s\" of non-null type \"%s\" must not be null.", vd->name, tt);
            continue;
        }
        cerr_t ce = {.path = BUF_INIT};
        buf_puts(&ce.path, "");
        b->v = coerce_json(x, j, t, &ce);
        if (!b->v) {
            buf_t m = BUF_INIT;
            gx_inspect(&m, ce.at ? ce.at : j);
            if (ce.path.len) gx_error(x, &vd->loc, false, "Variable \"$%s\" got invalid value %s at \"%s%s\"; %s", vd->name, m.data, vd->name, ce.path.data, ce.msg);
            else gx_error(x, &vd->loc, false, "Variable \"$%s\" got invalid value %s; %s", vd->name, m.data, ce.msg);
            buf_free(&m);
        }
        buf_free(&ce.path);
    }
    return x->errors.n > nerr ? -1 : 0;
}

/* ---- field collection ------------------------------------------------------- */

typedef struct {
    const char *key;
    vec_t nodes; /* const gql_selection_t * */
    const gql_field_t *def; /* looked up on first use */
} cfield_t;

static bool directive_if(gql_exec_t *x, const gql_directive_t *d) {
    for (size_t i = 0; i < d->nargs; i++)
        if (strcmp(d->args[i].name, "if") == 0) {
            const gql_value_t *v = d->args[i].value;
            if (v->kind == GV_VARIABLE) {
                bool given;
                v = var_value(x, v->s, &given);
                if (!given) return false;
            }
            return v && v->kind == GV_BOOLEAN && v->b;
        }
    return false;
}

static bool included(gql_exec_t *x, const gql_directive_t *dirs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(dirs[i].name, "skip") == 0 && directive_if(x, &dirs[i])) return false;
        if (strcmp(dirs[i].name, "include") == 0 && !directive_if(x, &dirs[i])) return false;
    }
    return true;
}

typedef struct {
    vec_t *fields;
    smap_t keys;  /* response key → index in fields */
    smap_t spread; /* fragments already followed */
} collector_t;

static void collect(gql_exec_t *x, const gql_ntype_t *t, const gql_selset_t *sel, collector_t *c) {
    for (size_t i = 0; i < sel->n; i++) {
        const gql_selection_t *s = &sel->items[i];
        if (!included(x, s->dirs, s->ndirs)) continue;
        if (s->kind == GS_FIELD) {
            const char *key = s->alias ? s->alias : s->name;
            size_t at = smap_get(&c->keys, key);
            cfield_t *cf;
            if (at == (size_t)-1) {
                smap_put(x->a, &c->keys, key, c->fields->n);
                cf = vec_push(x->a, c->fields);
                cf->key = key;
                cf->nodes.size = sizeof(gql_selection_t *);
            } else {
                cf = &((cfield_t *)c->fields->items)[at];
            }
            *(const gql_selection_t **)vec_push(x->a, &cf->nodes) = s;
        } else if (s->kind == GS_FRAGMENT_SPREAD) {
            if (smap_get(&c->spread, s->name) != (size_t)-1) continue;
            smap_put(x->a, &c->spread, s->name, 1);
            const gql_def_t *f = gx_fragment(x, s->name);
            if (f && strcmp(f->type_cond, t->name) == 0) collect(x, t, f->sel, c);
        } else if (!s->type_cond || strcmp(s->type_cond, t->name) == 0) {
            collect(x, t, s->sel, c);
        }
    }
}

static void collect_nodes(gql_exec_t *x, const gql_ntype_t *t, const gql_selection_t *const *nodes, int n,
                          vec_t *fields) {
    *fields = (vec_t){.size = sizeof(cfield_t)};
    collector_t c = {.fields = fields};
    for (int i = 0; i < n; i++)
        if (nodes[i]->sel) collect(x, t, nodes[i]->sel, &c);
}

int gql_subfields(gql_exec_t *x, const char *through, const char **names, int max) {
    const gql_ntype_t *t = gql_tref_named(x->field->type);
    const gql_selection_t *const *nodes = x->nodes;
    int nn = x->nnodes;
    vec_t fields;
    collect_nodes(x, t, nodes, nn, &fields);
    if (through) {
        const gql_field_t *f = gql_type_field(t, through);
        if (!f) return 0;
        vec_t sub = {.size = sizeof(const gql_selection_t *)};
        for (size_t i = 0; i < fields.n; i++) {
            cfield_t *cf = &((cfield_t *)fields.items)[i];
            const gql_selection_t *first = ((const gql_selection_t **)cf->nodes.items)[0];
            if (strcmp(first->name, through) == 0)
                for (size_t k = 0; k < cf->nodes.n; k++)
                    *(const gql_selection_t **)vec_push(x->a, &sub) = ((const gql_selection_t **)cf->nodes.items)[k];
        }
        t = gql_tref_named(f->type);
        collect_nodes(x, t, sub.items, (int)sub.n, &fields);
    }
    int n = 0;
    for (size_t i = 0; i < fields.n; i++) {
        const char *name = ((const gql_selection_t **)((cfield_t *)fields.items)[i].nodes.items)[0]->name;
        if (!gql_type_field(t, name)) continue;
        bool dup = false;
        for (int k = 0; k < n; k++) dup |= strcmp(names[k], name) == 0;
        if (!dup && n < max) names[n++] = name;
    }
    return n;
}

/* ---- execution --------------------------------------------------------------- */

const gql_value_t *gql_arg(gql_exec_t *x, const char *name) {
    for (int i = 0; i < x->nargs; i++)
        if (strcmp(x->args[i].name, name) == 0) return x->args[i].v;
    return NULL;
}

void *gql_alloc(gql_exec_t *x, size_t n) { return arena_alloc(x->a, n); }
char *gql_strndup(gql_exec_t *x, const char *s, size_t n) { return arena_strndup(x->a, s, n); }
int gql_root_index(gql_exec_t *x) { return x->root_index; }

/* The field's arguments, coerced; -1 with a field error. */
static int coerce_args(gql_exec_t *x, const gql_field_t *f, const gql_selection_t *node) {
    if (!f->nargs) {
        x->args = NULL;
        x->nargs = 0;
        return 0;
    }
    x->args = arena_alloc(x->a, (size_t)f->nargs * sizeof *x->args);
    x->nargs = f->nargs;
    for (int i = 0; i < f->nargs; i++) {
        const gql_ivalue_t *def = &f->args[i];
        binding_t *b = &x->args[i];
        b->name = def->name;
        const gql_arg_t *given = NULL;
        for (size_t k = 0; k < node->nargs; k++)
            if (strcmp(node->args[k].name, def->name) == 0) given = &node->args[k];
        if (given) b->v = coerce_literal(x, given->value, def->type);
        if (!b->v && def->default_value) b->v = coerce_literal(x, def->default_value, def->type);
        if (def->type->kind == GT_NON_NULL && (!b->v || b->v->kind == GV_NULL)) {
            char tt[512];
            gql_tref_text(def->type, tt, sizeof tt);
            if (given && given->value->kind == GV_VARIABLE)
                gx_error(x, &given->value->loc, true,
                         "Argument \"%s\" of non-null type \"%s\" must not be null.", def->name, tt);
            else
                gx_error(x, &node->loc, true, "Argument \"%s\" of required type \"%s\" was not provided.", def->name, tt);
            return -1;
        }
    }
    return 0;
}

static int exec_selset(gql_exec_t *x, const gql_ntype_t *t, void *obj, const gql_selection_t *const *nodes, int n);

static void put_null(gql_exec_t *x) { buf_append(x->out, "null", 4); }

static void put_str(gql_exec_t *x, const char *s, size_t n) {
    buf_putc(x->out, '"');
    json_escape(x->out, s, n, 0);
    buf_putc(x->out, '"');
}

/* A leaf value of scalar or enum type nt; 1 if it wrote null after an
 * error. */
static int put_leaf(gql_exec_t *x, const gql_ntype_t *nt, const gql_result_t *r, const gql_loc_t *loc) {
    buf_t *o = x->out;
    char tmp[64];
    if (nt->kind == GK_ENUM || nt->scalar == GQL_STRING || nt->scalar == GQL_ID) {
        switch (r->kind) {
        case GR_STRING:
        case GR_ENUM: put_str(x, r->s, r->len); return 0;
        case GR_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)r->i); break;
        case GR_FLOAT: json_format_double(r->f, tmp); break;
        case GR_BOOL: snprintf(tmp, sizeof tmp, "%s", r->b ? "true" : "false"); break;
        default: tmp[0] = 0;
        }
        put_str(x, tmp, strlen(tmp));
        return 0;
    }
    if (nt->scalar == GQL_INT) {
        int64_t v;
        if (r->kind == GR_INT) v = r->i;
        else if (r->kind == GR_BOOL) v = r->b;
        else if (r->kind == GR_FLOAT && r->f == floor(r->f) && fabs(r->f) < 9e15) v = (int64_t)r->f;
        else {
            gx_error(x, loc, true, "Int cannot represent non-integer value: %s", r->kind == GR_FLOAT ? "" : "\"\"");
            put_null(x);
            return 1;
        }
        if (v < INT32_MIN || v > INT32_MAX) {
            gx_error(x, loc, true, "Int cannot represent non 32-bit signed integer value: %lld", (long long)v);
            put_null(x);
            return 1;
        }
        char digits[24];
        int k = sizeof digits;
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do digits[--k] = (char)('0' + u % 10);
        while (u /= 10);
        if (v < 0) digits[--k] = '-';
        buf_append(o, digits + k, sizeof digits - (size_t)k);
        return 0;
    }
    if (nt->scalar == GQL_FLOAT) {
        double v = r->kind == GR_INT ? (double)r->i : r->kind == GR_BOOL ? r->b : r->f;
        if (r->kind == GR_STRING || !isfinite(v)) {
            gx_error(x, loc, true, "Float cannot represent non numeric value: \"%.*s\"", (int)r->len, r->s ? r->s : "");
            put_null(x);
            return 1;
        }
        jw_t w;
        jw_init(&w, o, 0);
        jw_double(&w, v);
        return 0;
    }
    /* Boolean */
    bool b = r->kind == GR_BOOL ? r->b : r->kind == GR_INT ? r->i != 0 : r->kind == GR_FLOAT ? r->f != 0 : r->len != 0;
    buf_puts(o, b ? "true" : "false");
    return 0;
}

/* CompleteValue: 0 wrote a value, 1 wrote null, -1 wrote nothing and the
 * null must propagate to the parent (the position is non-null). */
static int complete_at(gql_exec_t *x, const gql_ntype_t *parent, const gql_field_t *f, const gql_tref_t *t,
                       const gql_result_t *r, const gql_selection_t *const *nodes, int n, bool nonnull) {
    if (t->kind == GT_NON_NULL) return complete_at(x, parent, f, t->of, r, nodes, n, true);
    size_t mark = x->out->len;
    if (r->kind == GR_ERROR) {
        gx_error(x, &nodes[0]->loc, true, "%.*s", (int)r->len, r->s);
        if (nonnull) return -1;
        put_null(x);
        return 1;
    }
    if (r->kind == GR_NULL) {
        if (nonnull) {
            gx_error(x, &nodes[0]->loc, true, "Cannot return null for non-nullable field %s.%s.", parent->name,
                     f->name);
            return -1;
        }
        put_null(x);
        return 1;
    }
    int rc = 0;
    if (t->kind == GT_LIST) {
        if (r->kind != GR_LIST) {
            gx_error(x, &nodes[0]->loc, true, "Expected Iterable, but did not find one for field \"%s.%s\".",
                     parent->name, f->name);
            rc = -1;
        } else {
            buf_putc(x->out, '[');
            for (size_t i = 0; i < r->n && rc >= 0; i++) {
                if (i) buf_putc(x->out, ',');
                x->path[x->depth++] = (pathseg_t){.index = true, .i = i};
                rc = complete_at(x, parent, f, t->of, &r->items[i], nodes, n, false) < 0 ? -1 : 0;
                x->depth--;
            }
            if (rc == 0) buf_putc(x->out, ']');
        }
    } else if (t->named->kind == GK_OBJECT) {
        rc = exec_selset(x, t->named, r->obj, nodes, n);
    } else if (put_leaf(x, t->named, r, &nodes[0]->loc) == 1) {
        rc = -1; /* a value it cannot represent: an error, and null */
    }
    if (rc < 0) {
        x->out->len = mark;
        if (nonnull) return -1;
        put_null(x);
        return 1;
    }
    return 0;
}

static int complete(gql_exec_t *x, const gql_ntype_t *parent, const gql_field_t *f, const gql_tref_t *t,
                    const gql_result_t *r, const gql_selection_t *const *nodes, int n) {
    return complete_at(x, parent, f, t, r, nodes, n, false);
}

static int exec_field(gql_exec_t *x, const gql_ntype_t *t, void *obj, const gql_field_t *f,
                      const gql_selection_t *const *nodes, int n) {
    gql_result_t r = {0};
    if (f->meta == GQL_META_TYPENAME && !(x->env->query_error && x->depth == 1 && x->op->op == GO_QUERY)) {
        r.kind = GR_STRING;
        r.s = t->name;
        r.len = strlen(t->name);
        return complete(x, t, f, f->type, &r, nodes, n);
    }
    if (coerce_args(x, f, nodes[0]) < 0) {
        /* the error is listed: the value is null, propagating if need be */
        if (f->type->kind == GT_NON_NULL) return -1;
        put_null(x);
        return 1;
    }
    x->field = f;
    if (x->env->query_error && x->depth == 1 && x->op->op == GO_QUERY) {
        r.kind = GR_ERROR;
        r.s = x->env->query_error;
        r.len = strlen(r.s);
        return complete(x, t, f, f->type, &r, nodes, n);
    }
    x->nodes = (const gql_selection_t **)nodes;
    x->nnodes = n;
    if (f->meta) gx_intro(x, t, f, obj, &r);
    else if (x->env->resolve(x->env->ctx, x, f, obj, &r) != 0) x->aborted = true;
    if (x->aborted) return -1;
    return complete(x, t, f, f->type, &r, nodes, n);
}

static const gql_field_t *field_def(gql_exec_t *x, const gql_ntype_t *t, const char *name) {
    if (name[0] == '_' && name[1] == '_') {
        if (strcmp(name, "__typename") == 0) return gql_schema_meta_field(x->s, GQL_META_TYPENAME);
        if (t == gql_schema_query(x->s) && strcmp(name, "__schema") == 0)
            return gql_schema_meta_field(x->s, GQL_META_SCHEMA);
        if (t == gql_schema_query(x->s) && strcmp(name, "__type") == 0)
            return gql_schema_meta_field(x->s, GQL_META_TYPE);
    }
    return gql_type_field(t, name);
}

/* CollectSubfields, memoized per (type, field nodes) for the run: every
 * item of a list shares its field's selection. */
typedef struct {
    const gql_ntype_t *t;
    const gql_selection_t *const *nodes;
    const gql_selection_t *first;
    int n;
    vec_t fields;
} memo_t;

static vec_t *collected(gql_exec_t *x, const gql_ntype_t *t, const gql_selection_t *const *nodes, int n) {
    for (size_t i = 0; i < x->memo.n; i++) {
        memo_t *m = &((memo_t *)x->memo.items)[i];
        if (m->t == t && m->n == n && m->first == nodes[0] && (n == 1 || m->nodes == nodes)) return &m->fields;
    }
    if (!x->memo.size) x->memo.size = sizeof(memo_t);
    memo_t *m = vec_push(x->a, &x->memo);
    m->t = t;
    m->nodes = nodes;
    m->first = nodes[0];
    m->n = n;
    collect_nodes(x, t, nodes, n, &m->fields);
    return &m->fields;
}

static int exec_selset(gql_exec_t *x, const gql_ntype_t *t, void *obj, const gql_selection_t *const *nodes, int n) {
    vec_t fields = *collected(x, t, nodes, n);
    size_t mark = x->out->len;
    bool root = x->depth == 0;
    buf_putc(x->out, '{');
    for (size_t i = 0; i < fields.n; i++) {
        cfield_t *cf = &((cfield_t *)fields.items)[i];
        const gql_selection_t **fn = cf->nodes.items;
        if (!cf->def) cf->def = field_def(x, t, fn[0]->name);
        const gql_field_t *f = cf->def;
        if (!f) continue; /* validated: cannot happen */
        if (i) buf_putc(x->out, ',');
        put_str(x, cf->key, strlen(cf->key));
        buf_putc(x->out, ':');
        if (root) x->root_index = (int)i;
        x->path[x->depth++] = (pathseg_t){.key = cf->key};
        int rc = exec_field(x, t, obj, f, fn, (int)cf->nodes.n);
        x->depth--;
        if (rc < 0) {
            x->out->len = mark;
            return -1;
        }
    }
    buf_putc(x->out, '}');
    return 0;
}

/* ---- the request ------------------------------------------------------------- */

static void write_errors(gql_exec_t *x, buf_t *out) {
    buf_puts(out, "\"errors\":[");
    for (size_t i = 0; i < x->errors.n; i++) {
        gerr_t *e = &((gerr_t *)x->errors.items)[i];
        if (i) buf_putc(out, ',');
        buf_puts(out, "{\"message\":\"");
        json_escape(out, e->msg, strlen(e->msg), 0);
        buf_putc(out, '"');
        if (e->nlocs) {
            buf_puts(out, ",\"locations\":[");
            for (int k = 0; k < e->nlocs; k++)
                buf_printf(out, "%s{\"line\":%d,\"column\":%d}", k ? "," : "", e->locs[k].line, e->locs[k].column);
            buf_putc(out, ']');
        }
        if (e->path) buf_printf(out, ",\"path\":%s", e->path);
        buf_putc(out, '}');
    }
    buf_putc(out, ']');
}

/* Selections nested more than max deep (fragments followed). */
static int depth_of(gql_exec_t *x, const gql_selset_t *sel, int depth, int max, int guard) {
    if (guard > 64) return max + 1; /* fragments nested past reason count as too deep */
    if (!sel || depth > max) return depth;
    int deepest = depth;
    for (size_t i = 0; i < sel->n && deepest <= max; i++) {
        const gql_selection_t *s = &sel->items[i];
        int d = depth;
        if (s->kind == GS_FIELD) d = s->sel ? depth_of(x, s->sel, depth + 1, max, guard) : depth;
        else if (s->kind == GS_INLINE_FRAGMENT) d = depth_of(x, s->sel, depth, max, guard);
        else {
            const gql_def_t *f = gx_fragment(x, s->name);
            if (f) d = depth_of(x, f->sel, depth, max, guard + 1);
        }
        if (d > deepest) deepest = d;
    }
    return deepest;
}

int gql_execute(const gql_env_t *env, const gql_doc_t *doc, const char *operation, const json_t *variables,
                buf_t *out) {
    gql_exec_t *x = calloc(1, sizeof *x);
    if (!x) abort();
    x->env = env;
    x->s = env->schema;
    x->doc = doc;
    x->a = arena_new();
    x->errors.size = sizeof(gerr_t);
    int max = env->max_depth ? env->max_depth : DEFAULT_MAX_DEPTH;
    int rc = -1;
    size_t start = out->len;
    buf_putc(out, '{');
    if (!env->prevalidated) gx_validate(x);
    if (x->errors.n) goto request_error;
    if (env->validated) *env->validated = true;
    for (size_t i = 0; i < doc->ndefs; i++)
        if (!doc->defs[i].fragment && depth_of(x, doc->defs[i].sel, 0, max, 0) > max) {
            gx_error(x, NULL, false, "Query is nested too deeply");
            goto request_error;
        }
    char msg[300];
    gql_okind_t kind;
    if (gql_select_operation(doc, operation, &kind, msg, sizeof msg) < 0) {
        gx_error(x, NULL, false, "%s", msg);
        goto request_error;
    }
    for (size_t i = 0; i < doc->ndefs; i++) {
        const gql_def_t *d = &doc->defs[i];
        if (!d->fragment && (operation ? d->name && strcmp(d->name, operation) == 0 : true)) x->op = d;
    }
    const gql_ntype_t *root = kind == GO_MUTATION ? gql_schema_mutation(x->s) : kind == GO_QUERY ? gql_schema_query(x->s) : NULL;
    if (!root) {
        gx_error(x, &x->op->loc, false, "Schema is not configured to execute %s operation.",
                 kind == GO_MUTATION ? "mutation" : "subscription");
        goto request_error;
    }
    if (coerce_variables(x, variables) < 0) goto request_error;
    buf_puts(out, "\"data\":");
    x->out = out;
    const gql_selection_t *top = NULL;
    gql_selection_t fake = {.kind = GS_FIELD, .sel = x->op->sel};
    top = &fake;
    size_t data_at = out->len;
    if (exec_selset(x, root, NULL, &top, 1) < 0 || x->aborted) {
        out->len = data_at;
        put_null(x);
        rc = -1;
    } else {
        rc = x->errors.n ? 1 : 0;
    }
    if (x->aborted) {
        out->len = start;
        out->data[start] = 0;
        rc = -2;
        goto done;
    }
    if (x->errors.n) {
        buf_putc(out, ',');
        write_errors(x, out);
    }
    buf_putc(out, '}');
    goto done;
request_error:
    buf_puts(out, "\"data\":null,");
    write_errors(x, out);
    buf_putc(out, '}');
    rc = -1;
done:
    arena_free(x->a);
    free(x);
    return rc;
}
