/* airsequel/ag_schema: the GraphQL schema of a database (spec/airsequel.md
 * §4.2–§4.5): objects from tables and views, columns typed by declared
 * affinity, Double-X names, the rowid pseudo-column, by-pk fields,
 * filters, ordering, mutations and their inputs, per access mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/airsequel/ag.h"
#include "util/utf8.h"

/* ---- names ------------------------------------------------------------------ */

static const char specials[] = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

static void encode_cp(buf_t *out, uint32_t cp) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_') {
        buf_putc(out, (char)cp);
        return;
    }
    const char *sp = cp && cp < 128 ? strchr(specials, (int)cp) : NULL;
    if (sp) {
        int i = (int)(sp - specials);
        buf_putc(out, 'X');
        buf_putc(out, 'X');
        buf_putc(out, (char)(i < 10 ? '0' + i : 'A' + i - 10));
        return;
    }
    int digits = cp <= 0xFFFFF ? 5 : 6;
    buf_puts(out, digits == 5 ? "XX" : "XXY");
    for (int k = digits - 1; k >= 0; k--) buf_putc(out, (char)('a' + ((cp >> (4 * k)) & 15)));
}

void ag_encode_name(buf_t *out, const char *name) {
    const char *p = name;
    if (*p >= '0' && *p <= '9') {
        buf_puts(out, "XXZ");
        buf_putc(out, *p++);
    }
    /* XX → XXXXXX, then __ → XXRXXR, left to right */
    buf_t a = BUF_INIT, b = BUF_INIT;
    for (const char *q = p; *q;) {
        if (q[0] == 'X' && q[1] == 'X') {
            buf_puts(&a, "XXXXXX");
            q += 2;
        } else buf_putc(&a, *q++);
    }
    for (size_t i = 0; i < a.len;) {
        if (a.data[i] == '_' && i + 1 < a.len && a.data[i + 1] == '_') {
            buf_puts(&b, "XXRXXR");
            i += 2;
        } else buf_putc(&b, a.data[i++]);
    }
    size_t i = 0;
    while (i < b.len) {
        uint32_t cp;
        size_t n = utf8_decode((const unsigned char *)b.data + i, b.len - i, &cp);
        if (!n) {
            cp = 0xFFFD;
            n = 1;
        }
        encode_cp(out, cp);
        i += n;
    }
    buf_free(&a);
    buf_free(&b);
}

static char *enc(const char *name) {
    buf_t b = BUF_INIT;
    ag_encode_name(&b, name);
    if (!b.data) buf_puts(&b, "");
    return buf_detach(&b);
}

/* ---- columns ------------------------------------------------------------------- */

static ag_type_t affinity(const char *decl, bool *file) {
    char up[256];
    size_t n = strlen(decl);
    if (n >= sizeof up) n = sizeof up - 1;
    for (size_t i = 0; i < n; i++) up[i] = (char)(decl[i] >= 'a' && decl[i] <= 'z' ? decl[i] - 32 : decl[i]);
    up[n] = 0;
    *file = strstr(up, "BLOB") != NULL;
    if (!n) return AT_STRING;
    if (strstr(up, "INT")) return AT_INT;
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT")) return AT_STRING;
    if (*file) return AT_STRING;
    if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB")) return AT_FLOAT;
    if (strstr(up, "BOOL")) return AT_BOOLEAN;
    return AT_STRING;
}

static const char *type_name(ag_type_t t) {
    static const char *names[] = {"Int", "Float", "String", "Boolean"};
    return names[t];
}

static void table_columns(ag_table_t *at) {
    const tinfo_t *t = at->t;
    at->cols = calloc((size_t)t->ncols + 1, sizeof *at->cols);
    at->rowid = -1;
    if (t->has_rowid && !t->is_view) {
        static const char *pseudo[] = {"rowid", "_rowid_", "oid"};
        for (int k = 0; k < 3; k++) {
            bool used = false;
            for (int i = 0; i < t->ncols; i++) used |= strcasecmp(t->cols[i].name, pseudo[k]) == 0;
            if (used) continue;
            ag_col_t *c = &at->cols[at->ncols];
            at->rowid = at->ncols++;
            c->name = strdup(pseudo[k]);
            c->enc = enc(pseudo[k]);
            c->type = AT_INT;
            c->pseudo = c->notnull = true;
            break;
        }
    }
    for (int i = 0; i < t->ncols; i++) {
        const tcol_t *tc = &t->cols[i];
        ag_col_t *c = &at->cols[at->ncols++];
        c->name = strdup(tc->name);
        c->enc = enc(tc->name);
        c->type = affinity(tc->type, &c->file);
        c->generated = tc->generated;
        c->has_default = tc->dflt != NULL;
        c->ipk = t->has_rowid && t->npk == 1 && tc->pk == 1 && strcasecmp(tc->type, "INTEGER") == 0;
        c->notnull = tc->notnull || tc->pk > 0;
        c->select = tc->nitems > 0;
    }
    int off = at->rowid >= 0 ? 1 : 0;
    if (t->npk && !t->is_view) {
        for (int k = 0; k < t->npk && k < 64; k++) at->pk[at->npk++] = t->pk[k] + off;
    } else if (at->rowid >= 0) {
        at->pk[at->npk++] = at->rowid;
    }
}

/* ---- the schema ----------------------------------------------------------------- */

static const char *fmt(gql_schema_t *s, const char *f, const char *a) {
    char b[2048];
    snprintf(b, sizeof b, f, a);
    return gql_schema_str(s, b);
}

static const char *tname(gql_schema_t *s, const ag_table_t *t, const char *suffix) {
    char b[1024];
    snprintf(b, sizeof b, "%s_%s", t->enc, suffix);
    return gql_schema_str(s, b);
}

#define DEP_HASURA "Unify naming with Hasura"

static void comparison_type(gql_schema_t *s, const char *name, const char *of) {
    gql_ntype_t *c = gql_schema_type(s, GK_INPUT_OBJECT, name, fmt(s, "Compare to a(n) %s", of));
    /* Int Float String Boolean, or a select column's (a String) */
    static const char *ops[] = {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in", "nin"};
    char list[64];
    snprintf(list, sizeof list, "[%s]", of);
    for (int i = 0; i < 10; i++) {
        char u[16];
        snprintf(u, sizeof u, "_%s", ops[i]);
        const char *t = i >= 8 ? list : of;
        gql_schema_input(s, c, ops[i], t, NULL)->deprecation = DEP_HASURA;
        gql_schema_input(s, c, u, t, NULL);
    }
}

static bool is_table_name(const ag_schema_t *as, const char *name) {
    for (int i = 0; i < as->ntables; i++)
        if (strcmp(as->tables[i].enc, name) == 0) return true;
    return false;
}

/* Table order as sqlite_schema lists it. */
static int load_order(store_db_t *c, const schema_t *s, const tinfo_t **out) {
    store_stmt_t *st;
    int n = 0;
    if (store_cached(c, "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')", &st) < 0) return -1;
    while (store_step(st) == STORE_ROW) {
        const tinfo_t *t = schema_find(s, store_col_text(st, 0, NULL));
        /* every table and view but SQLite's own and shadow tables: a
         * full-text index itself is listed (the shared model hides it,
         * as Datasette does) */
        if (t && (!t->hidden || t->is_virtual) && strncmp(t->name, "sqlite_", 7) != 0 && n < s->n) out[n++] = t;
    }
    store_reset(st);
    return n;
}

static void add_filter_and_order(gql_schema_t *s, ag_table_t *t) {
    gql_ntype_t *f = gql_schema_type(s, GK_INPUT_OBJECT, tname(s, t, "filter"),
                                     "Select rows matching the provided filter object");
    for (int i = 0; i < t->ncols; i++) {
        char cmp[2048];
        if (t->cols[i].select) {
            /* a select column's own comparison type, shaped as StringComparison */
            buf_t raw = BUF_INIT, name = BUF_INIT;
            buf_printf(&raw, "%s_%s_String", t->name, t->cols[i].name);
            ag_encode_name(&name, raw.data);
            snprintf(cmp, sizeof cmp, "%sComparison", name.data);
            buf_free(&raw);
            buf_free(&name);
            if (!gql_schema_declared(s, cmp)) comparison_type(s, cmp, "String");
        } else {
            snprintf(cmp, sizeof cmp, "%sComparison", type_name(t->cols[i].type));
        }
        gql_schema_input(s, f, t->cols[i].enc, cmp, NULL);
    }
    gql_ntype_t *o = gql_schema_type(s, GK_INPUT_OBJECT, tname(s, t, "order_by"),
                                     fmt(s, "Ordering options when selecting data from \"%s\".", t->name));
    for (int i = 0; i < t->ncols; i++) gql_schema_input(s, o, t->cols[i].enc, "OrderingTerm", NULL);
}

static void add_row(gql_schema_t *s, ag_table_t *t) {
    gql_ntype_t *r = gql_schema_type(s, GK_OBJECT, tname(s, t, "row"), fmt(s, "Available columns for table \"%s\"", t->name));
    for (int i = 0; i < t->ncols; i++) {
        char ty[32];
        snprintf(ty, sizeof ty, "%s%s", type_name(t->cols[i].type), t->cols[i].notnull ? "!" : "");
        gql_field_t *f = gql_schema_field(s, r, t->cols[i].enc, ty, NULL);
        f->tag = AG_F_COLUMN;
        f->udata = &t->cols[i];
    }
}

static void add_mutation_types(gql_schema_t *s, ag_table_t *t, ag_mode_t mode) {
    bool returning = mode == AG_READWRITE;
    gql_ntype_t *r = gql_schema_type(s, GK_OBJECT, tname(s, t, "mutation_response"),
                                     fmt(s, "Mutation response for table \"%s\"", t->name));
    gql_schema_field(s, r, "affected_rows", "Int!", NULL)->tag = AG_F_AFFECTED;
    char ty[1024];
    if (returning) {
        snprintf(ty, sizeof ty, "[%s_row!]!", t->enc);
        gql_schema_field(s, r, "returning", ty, NULL)->tag = AG_F_RETURNING;
    }
    if (mode != AG_INSERTONLY && t->npk) {
        r = gql_schema_type(s, GK_OBJECT, tname(s, t, "mutation_by_pk_response"),
                            fmt(s, "Response for a PK-based mutation on table \"%s\"", t->name));
        gql_schema_field(s, r, "affected_rows", "Int!", NULL)->tag = AG_F_AFFECTED;
        if (returning) {
            snprintf(ty, sizeof ty, "%s_row", t->enc);
            gql_schema_field(s, r, "returning", ty, NULL)->tag = AG_F_RETURNING;
        }
    }
    gql_ntype_t *in = gql_schema_type(s, GK_INPUT_OBJECT, tname(s, t, "insert_input"), fmt(s, "Input object for %s", t->name));
    for (int i = 0; i < t->ncols; i++) {
        const ag_col_t *c = &t->cols[i];
        if (c->generated) continue;
        bool nn = c->notnull && !c->has_default && !c->pseudo && !c->ipk;
        snprintf(ty, sizeof ty, "%s%s", type_name(c->type), nn ? "!" : "");
        gql_schema_input(s, in, c->enc, ty, NULL);
    }
    if (mode != AG_INSERTONLY) {
        gql_ntype_t *set = gql_schema_type(s, GK_INPUT_OBJECT, tname(s, t, "set_input"), fmt(s, "Fields to set for %s", t->name));
        for (int i = 0; i < t->ncols; i++)
            if (!t->cols[i].generated) gql_schema_input(s, set, t->cols[i].enc, type_name(t->cols[i].type), NULL);
    }
    if (mode == AG_INSERTONLY) return;
    gql_ntype_t *e = gql_schema_type(s, GK_ENUM, tname(s, t, "column"),
                                     "This enum contains a variant for each column in the table");
    for (int i = 0; i < t->ncols; i++) {
        const char *n = t->cols[i].enc;
        if (strcmp(n, "true") && strcmp(n, "false") && strcmp(n, "null")) gql_schema_enum(s, e, n, NULL);
    }
    gql_ntype_t *u = gql_schema_type(s, GK_INPUT_OBJECT, tname(s, t, "upsert_on_conflict"),
                                     fmt(s, "Specifies how broken UNIQUE constraints for %s should be handled", t->name));
    snprintf(ty, sizeof ty, "[%s_column!]!", t->enc);
    gql_schema_input(s, u, "constraint", ty, "columns to handle conflicts of");
    gql_schema_input(s, u, "update_columns", ty, "columns to override on conflict");
    snprintf(ty, sizeof ty, "%s_filter", t->enc);
    gql_schema_input(s, u, "where", ty, "filter specifying which conflicting columns to update");
}

static void pk_args(gql_schema_t *s, gql_field_t *f, const ag_table_t *t) {
    for (int k = 0; k < t->npk; k++) {
        const ag_col_t *c = &t->cols[t->pk[k]];
        char ty[32];
        snprintf(ty, sizeof ty, "%s!", type_name(c->type));
        gql_schema_arg(s, f, c->enc, ty, NULL);
    }
}

/* `e_by_pk`, with `_` appended while it names a table. */
static char *by_pk_name(const ag_schema_t *as, const ag_table_t *t) {
    buf_t b = BUF_INIT;
    buf_printf(&b, "%s_by_pk", t->enc);
    while (is_table_name(as, b.data)) buf_putc(&b, '_');
    return buf_detach(&b);
}

static void add_query(gql_schema_t *s, ag_schema_t *as) {
    gql_ntype_t *q = gql_schema_type(s, GK_OBJECT, "Query", NULL);
    char ty[1024];
    for (int i = 0; i < as->ntables; i++) {
        ag_table_t *t = &as->tables[i];
        snprintf(ty, sizeof ty, "[%s_row!]!", t->enc);
        gql_field_t *f = gql_schema_field(s, q, t->enc, ty, fmt(s, "Rows from the table \"%s\"", t->name));
        f->tag = AG_F_LIST;
        f->udata = t;
        snprintf(ty, sizeof ty, "%s_filter", t->enc);
        gql_schema_arg(s, f, "where", ty, "Filter to select specific rows");
        gql_schema_arg(s, f, "filter", ty, "Filter to select specific rows")->deprecation = DEP_HASURA;
        snprintf(ty, sizeof ty, "[%s_order_by]", t->enc);
        gql_schema_arg(s, f, "order_by", ty, "Columns used to sort the data");
        gql_schema_arg(s, f, "limit", "Int", "Limit the number of returned rows");
        gql_schema_arg(s, f, "offset", "Int", "The index to start returning rows from");
    }
    for (int i = 0; i < as->ntables; i++) {
        ag_table_t *t = &as->tables[i];
        if (t->view || !t->npk) continue;
        char *name = by_pk_name(as, t);
        snprintf(ty, sizeof ty, "%s_row", t->enc);
        gql_field_t *f = gql_schema_field(s, q, name, ty,
                                          fmt(s, "Rows from the table \"%s\", accessible by their primary key", t->name));
        free(name);
        f->tag = AG_F_BY_PK;
        f->udata = t;
        pk_args(s, f, t);
    }
}

static void add_mutation(gql_schema_t *s, ag_schema_t *as) {
    gql_ntype_t *m = gql_schema_type(s, GK_OBJECT, "Mutation", NULL);
    char ty[1024], name[1200];
    for (int pass = 0; pass < 5; pass++) {
        if (as->mode == AG_INSERTONLY && pass) break;
        for (int i = 0; i < as->ntables; i++) {
            ag_table_t *t = &as->tables[i];
            if (t->view) continue;
            gql_field_t *f;
            if (pass == 0) {
                snprintf(name, sizeof name, "insert_%s", t->enc);
                snprintf(ty, sizeof ty, "%s_mutation_response!", t->enc);
                f = gql_schema_field(s, m, name, ty, fmt(s, "Insert new rows in table \"%s\"", t->name));
                f->tag = AG_F_INSERT;
                f->udata = t;
                snprintf(ty, sizeof ty, "[%s_insert_input!]!", t->enc);
                gql_schema_arg(s, f, "objects", ty, "Rows to be inserted");
                if (as->mode != AG_INSERTONLY) {
                    snprintf(ty, sizeof ty, "[%s_upsert_on_conflict!]", t->enc);
                    gql_schema_arg(s, f, "on_conflict", ty, "Specifies how to handle broken UNIQUE constraints");
                }
            } else if (pass == 1 || pass == 2) {
                bool upd = pass == 1;
                snprintf(name, sizeof name, "%s_%s", upd ? "update" : "delete", t->enc);
                snprintf(ty, sizeof ty, "%s_mutation_response!", t->enc);
                f = gql_schema_field(s, m, name, ty,
                                     fmt(s, upd ? "Update rows in table \"%s\"" : "Delete rows in table \"%s\"", t->name));
                f->tag = upd ? AG_F_UPDATE : AG_F_DELETE;
                f->udata = t;
                if (upd) {
                    snprintf(ty, sizeof ty, "%s_set_input", t->enc);
                    gql_schema_arg(s, f, "_set", ty, "Fields to be updated");
                    gql_schema_arg(s, f, "set", ty, "Fields to be updated")->deprecation = DEP_HASURA;
                }
                const char *wd = upd ? "Filter to select rows to be updated" : "Filter to select rows to be deleted";
                snprintf(ty, sizeof ty, "%s_filter", t->enc);
                gql_schema_arg(s, f, "where", ty, wd);
                gql_schema_arg(s, f, "filter", ty, wd)->deprecation = DEP_HASURA;
            } else {
                if (!t->npk) continue;
                bool upd = pass == 3;
                char *bp = by_pk_name(as, t);
                snprintf(name, sizeof name, "%s_%s", upd ? "update" : "delete", bp);
                free(bp);
                snprintf(ty, sizeof ty, "%s_mutation_by_pk_response!", t->enc);
                f = gql_schema_field(s, m, name, ty,
                                     fmt(s, upd ? "Update row in table \"%s\" by PK" : "Delete row in table \"%s\" by PK",
                                         t->name));
                f->tag = upd ? AG_F_UPDATE_PK : AG_F_DELETE_PK;
                f->udata = t;
                pk_args(s, f, t);
                if (upd) {
                    char setn[1100] = "_set", plain[1100] = "set";
                    for (bool again = true; again;) {
                        again = false;
                        for (int k = 0; k < t->npk; k++) {
                            if (strcmp(t->cols[t->pk[k]].enc, setn) == 0) strcat(setn, "_"), again = true;
                            if (strcmp(t->cols[t->pk[k]].enc, plain) == 0) strcat(plain, "_"), again = true;
                        }
                    }
                    snprintf(ty, sizeof ty, "%s_set_input", t->enc);
                    gql_schema_arg(s, f, setn, ty, "Fields to be updated");
                    gql_schema_arg(s, f, plain, ty, "Fields to be updated")->deprecation = DEP_HASURA;
                }
            }
        }
    }
}

ag_schema_t *ag_schema_build(store_db_t *c, const schema_t *src, ag_mode_t mode, const char *readonly_id, char *err,
                             size_t errlen) {
    ag_schema_t *as = calloc(1, sizeof *as);
    as->src = src;
    as->mode = mode;
    as->refs = 1;
    static uint64_t serials;
    as->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
    snprintf(as->readonly_id, sizeof as->readonly_id, "%s", readonly_id ? readonly_id : "");
    const tinfo_t **order = calloc((size_t)src->n + 1, sizeof *order);
    int n = load_order(c, src, order);
    if (n < 0) {
        snprintf(err, errlen, "%s", store_errmsg(c));
        free(order);
        ag_schema_release(as);
        return NULL;
    }
    as->tables = calloc((size_t)n + 1, sizeof *as->tables);
    for (int i = 0; i < n; i++) {
        ag_table_t *t = &as->tables[as->ntables++];
        t->t = order[i];
        t->name = strdup(order[i]->name);
        t->enc = enc(order[i]->name);
        t->view = order[i]->is_view;
        table_columns(t);
        if (!t->ncols) as->ntables--; /* nothing to show */
    }
    free(order);
    gql_schema_t *s = as->gs = gql_schema_new();
    for (int i = 0; i < 4; i++) {
        static const char *types[] = {"Int", "Float", "String", "Boolean"};
        char name[32];
        snprintf(name, sizeof name, "%sComparison", types[i]);
        comparison_type(s, name, types[i]);
    }
    gql_ntype_t *ot = gql_schema_type(s, GK_ENUM, "OrderingTerm", "Ordering options when ordering by a column");
    gql_schema_enum(s, ot, "ASC", "In ascending order");
    gql_schema_enum(s, ot, "asc", "In ascending order")->deprecation = "GraphQL spec recommends all caps for enums";
    gql_schema_enum(s, ot, "DESC", "In descending order");
    gql_schema_enum(s, ot, "desc", "In descending order")->deprecation = "GraphQL spec recommends all caps for enums";
    bool mutations = mode != AG_READONLY;
    for (int i = 0; i < as->ntables; i++) {
        ag_table_t *t = &as->tables[i];
        add_row(s, t);
        add_filter_and_order(s, t);
        if (mutations && !t->view) add_mutation_types(s, t, mode);
    }
    add_query(s, as);
    bool any_writable = false;
    for (int i = 0; i < as->ntables; i++) any_writable |= !as->tables[i].view;
    if (mutations && any_writable) add_mutation(s, as);
    if (gql_schema_finish(s, "Query", mutations && any_writable ? "Mutation" : NULL, err, errlen) < 0) {
        ag_schema_release(as);
        return NULL;
    }
    if (as->ntables) {
        const ag_table_t *t = &as->tables[0];
        buf_printf(&as->default_query, "query %sQuery {\n  %s( limit: 100 ) {\n", t->enc, t->enc);
        for (int i = 0; i < t->ncols; i++) buf_printf(&as->default_query, "    %s\n", t->cols[i].enc);
        buf_puts(&as->default_query, "  }\n}");
    }
    return as;
}

void ag_schema_release(ag_schema_t *as) {
    if (!as || __atomic_sub_fetch(&as->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (int i = 0; i < as->ntables; i++) {
        ag_table_t *t = &as->tables[i];
        for (int k = 0; k < t->ncols; k++) {
            free(t->cols[k].name);
            free(t->cols[k].enc);
        }
        free(t->cols);
        free(t->name);
        free(t->enc);
    }
    free(as->tables);
    gql_schema_free(as->gs);
    if (as->src) schema_release(as->src);
    buf_free(&as->default_query);
    free(as);
}
