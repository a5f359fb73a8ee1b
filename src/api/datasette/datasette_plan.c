/* datasette_plan: a table page's query string → a core/query plan plus
 * what only Datasette shows (spec/datasette.md §4–§6): filters in its
 * vocabulary with their human descriptions, search, sort, _next tokens,
 * selected columns, _extra and _shape. Runs on the page's job thread. */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/datasette/datasette_table.h"
#include "util/thread.h"
#include "util/timeutil.h"

/* ---- plan ------------------------------------------------------------ */

void ds_plan_free(plan_t *p) {
    for (int i = 0; i < p->nhuman; i++) free(p->human[i]);
    free(p->human);
    free(p->cells); /* their text lives in the arena */
    buf_free(&p->arena);
    buf_free(&p->keys);
    free(p->key_end);
    free(p->next);
    if (p->lab_keys) {
        for (int c = 0; c < p->q.nsel; c++) {
            for (int k = 0; k < p->nlab[c]; k++) {
                value_free(&p->lab_keys[c][k]);
                value_free(&p->lab_vals[c][k]);
            }
            free(p->lab_keys[c]);
            free(p->lab_vals[c]);
        }
    }
    free(p->lab_keys);
    free(p->lab_vals);
    free(p->nlab);
    free(p->labelled);
    free(p->json_cols);
    query_free(&p->q); /* last: the label tables are sized by its selection */
}

static void human_add(plan_t *p, char *s) {
    p->human = xrealloc(p->human, (size_t)(p->nhuman + 1) * sizeof *p->human);
    p->human[p->nhuman++] = s;
}

bool ds_is_digits(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

/* Splits a comma/repeat list control into a fresh array of names. */
int ds_list_values(const qs_t *q, const char *key, bool commas, char ***out) {
    int n = 0;
    char **v = NULL;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->pairs[i].key, key) != 0) continue;
        if (!commas) {
            v = xrealloc(v, (size_t)(n + 1) * sizeof *v);
            v[n++] = xstrdup(q->pairs[i].value);
            continue;
        }
        char *dup = xstrdup(q->pairs[i].value), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            v = xrealloc(v, (size_t)(n + 1) * sizeof *v);
            v[n++] = xstrdup(t);
        }
        free(dup);
    }
    *out = v;
    return n;
}

void ds_list_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ---- filters (§4) ---------------------------------------------------- */

typedef struct {
    const char *key, *value;
} pair_t;

static int pair_cmp(const void *a, const void *b) {
    const pair_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static char *fmt(const char *f, const char *c, const char *v) {
    buf_t b = BUF_INIT;
    /* %c column, %v value */
    for (const char *s = f; *s; s++) {
        if (s[0] == '%' && s[1] == 'c') buf_puts(&b, c), s++;
        else if (s[0] == '%' && s[1] == 'v') buf_puts(&b, v), s++;
        else buf_putc(&b, *s);
    }
    return buf_detach(&b);
}

/* Datasette's filter words: the plan operator, how the value binds (as
 * an integer when all digits, for the numeric comparisons) and the human
 * description ("%c" column, "%v" value; NULL: = / != by the value's look). */
static const struct {
    const char *word;
    qop_t op;
    bool numeric, novalue;
    const char *human;
} OPS[] = {
    {"exact", Q_EQ, false, false, NULL},
    {"not", Q_NE, false, false, NULL},
    {"contains", Q_CONTAINS, false, false, "%c contains \"%v\""},
    {"notcontains", Q_NOTCONTAINS, false, false, "%c does not contain \"%v\""},
    {"startswith", Q_STARTSWITH, false, false, "%c starts with \"%v\""},
    {"endswith", Q_ENDSWITH, false, false, "%c ends with \"%v\""},
    {"gt", Q_GT, true, false, "%c > %v"},
    {"gte", Q_GTE, true, false, "%c \xe2\x89\xa5 %v"},
    {"lt", Q_LT, true, false, "%c < %v"},
    {"lte", Q_LTE, true, false, "%c \xe2\x89\xa4 %v"},
    {"like", Q_LIKE, false, false, "%c like \"%v\""},
    {"notlike", Q_NOTLIKE, false, false, "%c not like \"%v\""},
    {"glob", Q_GLOB, false, false, "%c glob \"%v\""},
    {"arraycontains", Q_ARRAY_CONTAINS, false, false, "%c contains \"%v\""},
    {"arraynotcontains", Q_ARRAY_NOTCONTAINS, false, false, "%c does not contain \"%v\""},
    {"date", Q_DATE, false, false, "\"%c\" is on date %v"},
    {"isnull", Q_ISNULL, false, true, "%c is null"},
    {"notnull", Q_NOTNULL, false, true, "%c is not null"},
    {"isblank", Q_ISBLANK, false, true, "%c is blank"},
    {"notblank", Q_NOTBLANK, false, true, "%c is not blank"},
};

/* The values of col__in= / col__notin=: a JSON array, or a comma list of
 * trimmed texts. The values point into the parsed array or the split copy;
 * list is the JSON Datasette shows in the human description. */
typedef struct {
    json_t *arr;
    char *split;
    char **dumped; /* JSON text of array items that are lists or objects */
    store_value_t *vals;
    int n;
    buf_t list;
} in_list_t;

static void in_list_free(in_list_t *l) {
    for (size_t k = 0; l->dumped && k < json_array_size(l->arr); k++) free(l->dumped[k]);
    free(l->dumped);
    free(l->vals);
    free(l->split);
    json_decref(l->arr);
    buf_free(&l->list);
}

/* -1 if v starts like a JSON list but is not one. */
static int in_list_parse(in_list_t *l, const char *v) {
    jw_t w;
    jw_init(&w, &l->list, DS_JW);
    jw_arr_begin(&w);
    if (v[0] == '[') {
        json_error_t je;
        l->arr = json_loads(v, JSON_DECODE_ANY, &je);
        if (!json_is_array(l->arr)) return -1;
        size_t k, size = json_array_size(l->arr);
        json_t *it;
        l->vals = xcalloc(size + 1, sizeof *l->vals);
        l->dumped = xcalloc(size + 1, sizeof *l->dumped);
        json_array_foreach(l->arr, k, it) {
            store_value_t bv;
            buf_t scratch = BUF_INIT; /* VJ_IN_PLAIN decodes no blobs: stays empty */
            if (value_from_json(it, VJ_IN_PLAIN, &bv, &scratch, NULL) != VALUE_SCALAR) {
                l->dumped[k] = json_dumps(it, JSON_COMPACT);
                bv = value_text(l->dumped[k]);
            }
            l->vals[l->n++] = bv;
            ds_write_value(&w, &bv, false);
        }
    } else {
        l->split = xstrdup(v);
        size_t cap = 1;
        for (const char *c = v; *c; c++) cap += *c == ',';
        l->vals = xcalloc(cap, sizeof *l->vals);
        for (char *s = l->split;;) {
            char *comma = strchr(s, ',');
            if (comma) *comma = 0;
            char *a = s, *e = s + strlen(s);
            while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r') a++;
            while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
            l->vals[l->n++] = value_text(a);
            jw_str(&w, a);
            if (!comma) break;
            s = comma + 1;
        }
    }
    jw_arr_end(&w);
    return 0;
}

/* Adds one filter; returns an error message (owned) or NULL. Unknown
 * operators are dropped, as Datasette does. */
static char *filter_add(plan_t *p, const char *col, const char *op, const char *v) {
    if (strcmp(op, "in") == 0 || strcmp(op, "notin") == 0) {
        bool in = op[0] == 'i';
        in_list_t l = {0};
        char *msg = NULL;
        if (in_list_parse(&l, v) < 0) {
            buf_t m = BUF_INIT;
            buf_printf(&m, "Invalid JSON list for %s__%s", col, op);
            msg = buf_detach(&m);
        } else {
            query_filter(&p->q, col, in ? Q_IN : Q_NOTIN, l.vals, l.n);
            buf_t h = BUF_INIT;
            buf_printf(&h, "%s %s %s", col, in ? "in" : "not in", l.list.data);
            human_add(p, buf_detach(&h));
        }
        in_list_free(&l);
        return msg;
    }
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        if (strcmp(op, OPS[i].word) != 0) continue;
        store_value_t bv = value_text(v);
        if (OPS[i].numeric && ds_is_digits(v) && strlen(v) < 19) bv = (store_value_t){.type = SV_INT, .i = atoll(v)};
        query_filter(&p->q, col, OPS[i].op, &bv, OPS[i].novalue ? 0 : 1);
        const char *h = OPS[i].human;
        if (!h && OPS[i].op == Q_EQ) h = ds_is_digits(v) ? "%c = %v" : "%c = \"%v\"";
        else if (!h) h = ds_is_digits(v) ? "%c != %v" : "%c != \"%v\"";
        human_add(p, fmt(h, col, v));
        return NULL;
    }
    return NULL;
}

/* ---- planning -------------------------------------------------------- */

char *ds_err_printf(const char *f, const char *a) {
    buf_t b = BUF_INIT;
    buf_printf(&b, f, a);
    return buf_detach(&b);
}

static int col_or_rowid(const plan_t *p, const char *name) {
    int i = tinfo_col(p->q.t, name);
    if (i >= 0) return i;
    if (strcmp(name, "rowid") == 0 && p->q.t->has_rowid) return QCOL_ROWID;
    return QSORT_NONE;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The _extra= keys: where each applies and the flag it sets. */
enum { ON_BOTH, ON_TABLE, ON_ROW };
#define EXTRA(n, f, on) {n, offsetof(extras_t, f), on}
static const struct {
    const char *name;
    size_t off;
    int on;
} EXTRAS[] = {
    EXTRA("columns", columns, ON_BOTH),
    EXTRA("primary_keys", primary_keys, ON_BOTH),
    EXTRA("query", query, ON_BOTH),
    EXTRA("database", database, ON_BOTH),
    EXTRA("table", table, ON_BOTH),
    EXTRA("private", private_, ON_BOTH),
    EXTRA("metadata", metadata, ON_BOTH),
    EXTRA("database_color", color, ON_BOTH),
    EXTRA("foreign_key_tables", fk_tables, ON_ROW),
    EXTRA("count", count, ON_TABLE),
    EXTRA("count_sql", count_sql, ON_TABLE),
    EXTRA("all_columns", all_columns, ON_TABLE),
    EXTRA("human_description_en", human, ON_TABLE),
    EXTRA("facet_results", facets, ON_TABLE),
    EXTRA("next_url", next_url, ON_TABLE),
    EXTRA("is_view", is_view, ON_TABLE),
    EXTRA("expandable_columns", expandable, ON_TABLE),
    EXTRA("table_definition", table_def, ON_TABLE),
    EXTRA("view_definition", view_def, ON_TABLE),
    EXTRA("sorted_facet_results", sorted_facets, ON_TABLE),
    EXTRA("facets_timed_out", facets_timed_out, ON_TABLE),
    EXTRA("suggested_facets", suggested, ON_TABLE),
};
#undef EXTRA

/* The controls every page understands; NULL or an owned error message. */
char *ds_plan_extras(plan_t *p, const qs_t *q, bool row_page) {
    char **v;
    int n = ds_list_values(q, "_extra", true, &v);
    char **bad = NULL;
    int nbad = 0;
    for (int i = 0; i < n; i++) {
        const char *e = v[i];
        bool known = false;
        for (size_t x = 0; x < sizeof EXTRAS / sizeof EXTRAS[0] && !known; x++) {
            if (strcmp(EXTRAS[x].name, e) != 0 || EXTRAS[x].on == (row_page ? ON_TABLE : ON_ROW)) continue;
            *(bool *)((char *)&p->ex + EXTRAS[x].off) = true;
            known = true;
        }
        if (known) continue;
        bool seen = false;
        for (int b = 0; b < nbad && !seen; b++) seen = strcmp(bad[b], e) == 0;
        if (!seen && *e) {
            bad = xrealloc(bad, (size_t)(nbad + 1) * sizeof *bad);
            bad[nbad++] = v[i];
        }
    }
    char *msg = NULL;
    if (nbad) {
        qsort(bad, (size_t)nbad, sizeof *bad, cmp_str);
        buf_t b = BUF_INIT;
        buf_puts(&b, "Unknown _extra: ");
        for (int i = 0; i < nbad; i++) buf_printf(&b, "%s%s", i ? ", " : "", bad[i]);
        msg = buf_detach(&b);
    }
    free(bad);
    ds_list_free(v, n);
    return msg;
}


char *ds_plan_shape(plan_t *p, tjob_t *j) {
    const char *shape = qs_get(&j->qs, "_shape");
    p->infinity = ds_truthy(qs_get(&j->qs, "_json_infinity"));
    j->shape = SH_OBJECTS;
    if (!shape || strcmp(shape, "objects") == 0) j->shape = SH_OBJECTS;
    else if (strcmp(shape, "arrays") == 0) j->shape = SH_ARRAYS;
    else if (strcmp(shape, "array") == 0) j->shape = SH_ARRAY;
    else if (strcmp(shape, "arrayfirst") == 0) j->shape = SH_ARRAYFIRST;
    else if (strcmp(shape, "object") == 0) j->shape = SH_OBJECT;
    else return ds_err_printf("Invalid _shape: %s", shape);
    if (j->shape == SH_OBJECT && (p->q.t->is_view || p->q.t->npk == 0))
        return xstrdup("_shape=object not available for tables with no primary keys");
    const char *nl = qs_get(&j->qs, "_nl");
    j->nl = j->shape == SH_ARRAY && nl && *nl;
    return NULL;
}

/* Selected columns: pks first with _col, minus _nocol; rowid tables lead
 * with rowid. */
static char *plan_columns(plan_t *p, const qs_t *q) {
    const tinfo_t *t = p->q.t;
    char **col, **nocol;
    int ncol = ds_list_values(q, "_col", false, &col), nnocol = ds_list_values(q, "_nocol", false, &nocol);
    char *msg = NULL;
    buf_t bad = BUF_INIT;
    int nbad = 0;
    for (int i = 0; i < ncol; i++)
        if (tinfo_col(t, col[i]) < 0) buf_printf(&bad, "%s%s", nbad++ ? ", " : "", col[i]);
    if (nbad) {
        msg = ds_err_printf("_col=%s - invalid columns", bad.data);
        goto out;
    }
    for (int i = 0; i < nnocol; i++) {
        int c = tinfo_col(t, nocol[i]);
        if (c < 0 || t->cols[c].pk) buf_printf(&bad, "%s%s", nbad++ ? ", " : "", nocol[i]);
    }
    if (nbad) {
        msg = ds_err_printf("_nocol=%s - invalid columns", bad.data);
        goto out;
    }
    if (p->q.rowid) p->q.sel[p->q.nsel++] = -1;
    bool *on = xcalloc((size_t)t->ncols + 1, sizeof *on);
    if (ncol) {
        for (int k = 0; k < t->npk; k++) on[t->pk[k]] = true, p->q.sel[p->q.nsel++] = t->pk[k];
        for (int i = 0; i < ncol; i++) {
            int c = tinfo_col(t, col[i]);
            if (!on[c]) on[c] = true, p->q.sel[p->q.nsel++] = c;
        }
    } else {
        for (int c = 0; c < t->ncols; c++) p->q.sel[p->q.nsel++] = c;
    }
    free(on);
    for (int i = 0; i < nnocol; i++) {
        int c = tinfo_col(t, nocol[i]), w = 0;
        for (int k = 0; k < p->q.nsel; k++)
            if (p->q.sel[k] != c) p->q.sel[w++] = p->q.sel[k];
        p->q.nsel = w;
    }
out:
    buf_free(&bad);
    ds_list_free(col, ncol);
    ds_list_free(nocol, nnocol);
    return msg;
}

static char *plan_filters(plan_t *p, const qs_t *q) {
    pair_t *pairs = xcalloc(q->n + 1, sizeof *pairs);
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++) {
        const char *k = q->pairs[i].key;
        if (k[0] == '_' && !strstr(k, "__")) continue;
        if (!*k) continue;
        pairs[n++] = (pair_t){k, q->pairs[i].value};
    }
    qsort(pairs, n, sizeof *pairs, pair_cmp);
    char *msg = NULL;
    for (size_t i = 0; i < n && !msg; i++) {
        const char *k = pairs[i].key, *sep = NULL;
        for (const char *s = strstr(k, "__"); s; s = strstr(s + 1, "__")) sep = s;
        if (!sep) {
            msg = filter_add(p, k, "exact", pairs[i].value);
            continue;
        }
        char *col = xstrndup(k, (size_t)(sep - k));
        msg = filter_add(p, col, sep + 2, pairs[i].value);
        free(col);
    }
    free(pairs);
    return msg;
}

static char *plan_search(plan_t *p, const qs_t *q) {
    if (!p->q.t->fts) return NULL;
    bool raw = qs_get(q, "_searchmode") && strcmp(qs_get(q, "_searchmode"), "raw") == 0;
    char *msg = NULL;
    const char *all = qs_get(q, "_search");
    char **human = NULL;
    int nh = 0;
    if (all) {
        if (*all) {
            query_search(&p->q, NULL, "search", all, raw, NULL);
            human = xrealloc(human, sizeof *human);
            human[nh++] = ds_err_printf("search matches \"%s\"", all);
        }
    } else {
        int idx = 0;
        for (size_t i = 0; i < q->n && !msg; i++) {
            const char *k = q->pairs[i].key;
            if (strncmp(k, "_search_", 8) != 0) continue;
            bool first = true;
            for (size_t x = 0; x < i && first; x++) first = strcmp(q->pairs[x].key, k) != 0;
            if (!first) continue;
            const char *col = k + 8, *v = q->pairs[i].value;
            int i_here = idx++;
            if (!*v) continue;
            char pname[32];
            snprintf(pname, sizeof pname, "search_%d", i_here);
            if (query_search(&p->q, col, pname, v, raw, NULL) < 0) {
                msg = xstrdup("Cannot search by that column");
                break;
            }
            human = xrealloc(human, (size_t)(nh + 1) * sizeof *human);
            buf_t h = BUF_INIT;
            buf_printf(&h, "search column \"%s\" matches \"%s\"", col, v);
            human[nh++] = buf_detach(&h);
        }
    }
    /* search bits lead the human description */
    if (nh) {
        p->human = xrealloc(p->human, (size_t)(p->nhuman + nh) * sizeof *p->human);
        memmove(p->human + nh, p->human, (size_t)p->nhuman * sizeof *p->human);
        memcpy(p->human, human, (size_t)nh * sizeof *human);
        p->nhuman += nh;
    }
    free(human);
    return msg;
}

/* ---- _next tokens (§6) ------------------------------------------------ */

/* A view's token is an offset; a table's is the last row's sort value (on
 * sorted pages, "$null" for a null) and key, comma-separated and
 * tilde-encoded. */
static char *plan_next(plan_t *p, const char *next) {
    const tinfo_t *t = p->q.t;
    if (!next) return NULL;
    if (t->is_view) {
        if (!ds_is_digits(next) || strlen(next) > 15) return xstrdup("Invalid _next token");
        p->q.offset = atoll(next);
        return NULL;
    }
    /* split on ',' and tilde-decode */
    char **parts = NULL;
    int n = 0;
    bool bad = false;
    const char *s = next;
    for (;;) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        buf_t d = BUF_INIT;
        if (tilde_decode(s, len, &d) < 0) bad = true;
        parts = xrealloc(parts, (size_t)(n + 1) * sizeof *parts);
        parts[n++] = buf_detach(&d);
        if (!parts[n - 1]) parts[n - 1] = xstrdup("");
        if (!c) break;
        s = c + 1;
    }
    bool sorted = p->q.sort != QSORT_NONE;
    int start = sorted && n > 1 ? 1 : 0; /* a sorted page's token leads with the sort value */
    bool sort_null = start == 0 || strncmp(next, "$null,", 6) == 0;
    char *msg = NULL;
    store_value_t *key = xcalloc((size_t)n + 1, sizeof *key);
    for (int i = start; i < n; i++) key[i - start] = value_text(parts[i]);
    store_value_t sv = value_text(parts[0]);
    if (bad || query_after(&p->q, sort_null ? NULL : &sv, key, n - start, NULL) < 0)
        msg = xstrdup("Invalid _next token");
    free(key);
    for (int i = 0; i < n; i++) free(parts[i]);
    free(parts);
    return msg;
}

/* ---- the whole plan ---------------------------------------------------- */

char *ds_plan_table(plan_t *p, tjob_t *j, int *status) {
    const tinfo_t *t = p->q.t;
    const qs_t *q = &j->qs;
    char *msg;
    if ((msg = ds_plan_extras(p, q, false)) || (msg = ds_plan_shape(p, j))) return msg;
    p->size = DS_PAGE_SIZE;
    const char *size = qs_get(q, "_size");
    if (size && *size) {
        if (strcmp(size, "max") == 0) p->size = DS_MAX_RETURNED_ROWS;
        else if (!ds_is_digits(size)) return xstrdup("_size must be a positive integer");
        else if (strlen(size) > 9 || atoi(size) > DS_MAX_RETURNED_ROWS)
            return ds_err_printf("_size must be <= %s", "1000");
        else p->size = atoi(size);
    }
    if (j->stream) p->size = STREAM_PAGE;
    const char *sort = qs_get(q, "_sort"), *sort_desc = qs_get(q, "_sort_desc");
    if (sort && !*sort) sort = NULL;
    if (sort_desc && !*sort_desc) sort_desc = NULL;
    if (sort && sort_desc) return xstrdup("Cannot use _sort and _sort_desc at the same time");
    if (sort || sort_desc) {
        const char *c = sort ? sort : sort_desc;
        int col = col_or_rowid(p, c);
        if (col == QSORT_NONE) return ds_err_printf("Cannot sort table by %s", c);
        query_sort(&p->q, col, sort_desc != NULL);
    }
    if ((msg = plan_columns(p, q)) || (msg = plan_filters(p, q))) return msg;
    p->nvis = p->q.nsel;
    if (p->q.sort != QSORT_NONE && !t->is_view) {
        bool have = false;
        for (int i = 0; i < p->q.nsel; i++) have = have || p->q.sel[i] == p->q.sort;
        if (!have) p->q.sel[p->q.nsel++] = p->q.sort; /* the next token needs its value */
    }
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->pairs[i].key, "_where") != 0) continue;
        if (!j->can_where) {
            *status = 403;
            return xstrdup("_where= is not allowed");
        }
        if (*q->pairs[i].value) query_where(&p->q, q->pairs[i].value);
    }
    if ((msg = plan_search(p, q))) return msg;
    const char *next = j->stream_next ? j->stream_next : qs_get(q, "_next");
    if (next && !*next) next = NULL;
    if ((msg = plan_next(p, next))) return msg;
    p->q.limit = p->size + 1; /* one more tells whether a next page exists */
    query_compile(&p->q);

    /* labels and _json */
    p->labelled = xcalloc((size_t)p->q.nsel + 1, sizeof *p->labelled);
    p->json_cols = xcalloc((size_t)p->q.nsel + 1, sizeof *p->json_cols);
    char **lab;
    int nlab = ds_list_values(q, "_label", false, &lab);
    bool all = ds_truthy(qs_get(q, "_labels"));
    for (int i = 0; i < p->q.nsel; i++) {
        if (p->q.sel[i] < 0 || !tinfo_fk(t, t->cols[p->q.sel[i]].name)) continue;
        bool on = nlab == 0 && all;
        for (int k = 0; k < nlab; k++) on = on || strcmp(lab[k], t->cols[p->q.sel[i]].name) == 0;
        p->labelled[i] = on;
    }
    ds_list_free(lab, nlab);
    char **js;
    int njs = ds_list_values(q, "_json", false, &js);
    for (int i = 0; i < p->q.nsel; i++)
        for (int k = 0; k < njs; k++)
            if (strcmp(js[k], query_sel_name(&p->q, i)) == 0) p->json_cols[i] = true;
    ds_list_free(js, njs);
    return NULL;
}
