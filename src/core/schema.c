/* tables: schema snapshots (see tables.h). */
#include "core/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include "util/buf.h"
#include "util/thread.h"

static void fk_free(tfk_t *f) {
    free(f->column);
    free(f->other_table);
    free(f->other_column);
}

static void schema_free(void *p) {
    schema_t *s = p;
    if (!s) return;
    for (int i = 0; i < s->n; i++) {
        tinfo_t *t = &s->t[i];
        for (int c = 0; c < t->ncols; c++) {
            free(t->cols[c].name);
            free(t->cols[c].type);
            free(t->cols[c].dflt);
            for (int k = 0; k < t->cols[c].nitems; k++) free(t->cols[c].items[k]);
            free(t->cols[c].items);
        }
        for (int k = 0; k < t->nout; k++) fk_free(&t->out[k]);
        for (int k = 0; k < t->nin; k++) fk_free(&t->in[k]);
        free(t->cols);
        free(t->pk);
        free(t->out);
        free(t->in);
        free(t->name);
        free(t->sql);
        free(t->fts);
    }
    free(s->t);
    free(s);
}

static char *col_dup(store_stmt_t *st, int i) {
    if (store_col_type(st, i) == SV_NULL) return NULL;
    size_t n;
    const char *p = store_col_text(st, i, &n);
    return xstrndup(p, n);
}

static int load_columns(store_db_t *c, tinfo_t *t) {
    store_stmt_t *st;
    /* hidden 1 = a virtual table's hidden column; 2/3 = generated columns,
     * which SELECT * returns and so do we. */
    if (store_cached(c, "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?) WHERE hidden != 1",
                     &st) < 0)
        return -1;
    store_bind_text(st, 1, t->name, strlen(t->name));
    int rc, cap = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        if (t->ncols == cap) {
            cap = cap ? cap * 2 : 8;
            t->cols = xrealloc(t->cols, (size_t)cap * sizeof *t->cols);
        }
        tcol_t *col = &t->cols[t->ncols++];
        memset(col, 0, sizeof *col);
        col->name = col_dup(st, 0);
        col->type = col_dup(st, 1);
        if (!col->name) col->name = xstrdup("");
        if (!col->type) col->type = xstrdup("");
        col->notnull = store_col_int(st, 2) != 0;
        col->dflt = col_dup(st, 3);
        col->pk = (int)store_col_int(st, 4);
        col->generated = store_col_int(st, 5) >= 2;
    }
    store_reset(st);
    if (rc < 0) return -1;
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].pk > t->npk) t->npk = t->cols[i].pk;
    t->pk = xcalloc((size_t)(t->npk ? t->npk : 1), sizeof *t->pk);
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].pk > 0) t->pk[t->cols[i].pk - 1] = i;
    return 0;
}

static int load_fks(store_db_t *c, tinfo_t *t) {
    store_stmt_t *st;
    if (store_cached(c, "SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?) ORDER BY id, seq", &st) <
        0)
        return -1;
    store_bind_text(st, 1, t->name, strlen(t->name));
    int rc, cap = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        if (t->nout == cap) {
            cap = cap ? cap * 2 : 4;
            t->out = xrealloc(t->out, (size_t)cap * sizeof *t->out);
        }
        tfk_t *f = &t->out[t->nout++];
        f->column = col_dup(st, 0);
        f->other_table = col_dup(st, 1);
        f->other_column = col_dup(st, 2); /* NULL: the other table's key, resolved later */
        if (!f->column) f->column = xstrdup("");
        if (!f->other_table) f->other_table = xstrdup("");
    }
    store_reset(st);
    return rc < 0 ? -1 : 0;
}

static bool is_text_type(const char *type) {
    return strcasestr(type, "TEXT") || strcasestr(type, "CHAR") || strcasestr(type, "CLOB");
}

/* ---- CHECK (c IN (…)): a column's allowed values ----------------------------- */

typedef struct {
    const char *p;
    char text[256]; /* identifier (unquoted) or keyword */
    char kind;      /* 'i' identifier, 'q' quoted identifier, 's' string, 'n' number, else the character; 0 at end */
} lex_t;

static void lex_next(lex_t *l) {
    const char *p = l->p;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n') p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else break;
    }
    l->text[0] = 0;
    size_t n = 0;
    if (!*p) {
        l->kind = 0;
    } else if (*p == '"' || *p == '`' || *p == '[' || *p == '\'') {
        char close = *p == '[' ? ']' : *p;
        l->kind = *p == '\'' ? 's' : 'q';
        for (p++; *p; p++) {
            if (*p == close) {
                if (close != ']' && p[1] == close) p++;
                else {
                    p++;
                    break;
                }
            }
            if (n < sizeof l->text - 1) l->text[n++] = *p;
        }
        l->text[n] = 0;
    } else if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' || (unsigned char)*p >= 0x80) {
        l->kind = 'i';
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
               *p == '$' || (unsigned char)*p >= 0x80) {
            if (n < sizeof l->text - 1) l->text[n++] = *p;
            p++;
        }
        l->text[n] = 0;
    } else if ((*p >= '0' && *p <= '9') || *p == '.') {
        l->kind = 'n';
        while ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == 'x' || *p == 'X' ||
               (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')) {
            if (n < sizeof l->text - 1) l->text[n++] = *p;
            p++;
        }
        l->text[n] = 0;
    } else {
        l->kind = *p++;
    }
    l->p = p;
}

static bool kw(const lex_t *l, const char *word) { return l->kind == 'i' && strcasecmp(l->text, word) == 0; }

/* The values of every CHECK (<col> IN (<literals>)) into that column's
 * items (strings unquoted, numbers as written; NULL is left out). */
static void load_select_items(tinfo_t *t) {
    if (!t->sql) return;
    lex_t l = {.p = t->sql};
    for (lex_next(&l); l.kind; lex_next(&l)) {
        if (!kw(&l, "CHECK")) continue;
        lex_next(&l);
        if (l.kind != '(') continue;
        lex_next(&l);
        if (l.kind != 'i' && l.kind != 'q') continue;
        char col[256];
        snprintf(col, sizeof col, "%s", l.text);
        lex_next(&l);
        if (!kw(&l, "IN")) continue;
        lex_next(&l);
        if (l.kind != '(') continue;
        bool ok = true;
        char **items = NULL;
        int n = 0;
        for (;;) {
            lex_next(&l);
            char sign = 0;
            if (l.kind == '-' || l.kind == '+') sign = (char)l.kind, lex_next(&l);
            if (l.kind != 's' && l.kind != 'n' && !kw(&l, "NULL")) {
                ok = false;
                break;
            }
            if (l.kind != 'i') {
                items = xrealloc(items, (size_t)(n + 1) * sizeof *items);
                buf_t b = BUF_INIT;
                if (sign == '-') buf_putc(&b, '-');
                buf_puts(&b, l.text);
                items[n++] = buf_detach(&b);
            }
            lex_next(&l);
            if (l.kind == ')') break;
            if (l.kind != ',') {
                ok = false;
                break;
            }
        }
        if (ok) {
            lex_next(&l);
            ok = l.kind == ')';
        }
        int i = ok ? tinfo_col(t, col) : -1;
        for (int k = 0; i < 0 && ok && k < t->ncols; k++)
            if (strcasecmp(t->cols[k].name, col) == 0) i = k;
        if (i >= 0 && !t->cols[i].nitems) {
            t->cols[i].items = items;
            t->cols[i].nitems = n;
            continue;
        }
        for (int k = 0; k < n; k++) free(items[k]);
        free(items);
    }
}

/* Label column: the only unique-indexed TEXT column; else the first column
 * called name or title; else the other column of an (id|pk, x) table. */
static int find_label(store_db_t *c, tinfo_t *t) {
    store_stmt_t *st;
    int found = -1, count = 0;
    if (store_cached(c,
                     "SELECT ii.name FROM pragma_index_list(?1) il, pragma_index_info(il.name) ii WHERE il.\"unique\""
                     " AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1",
                     &st) == 0) {
        store_bind_text(st, 1, t->name, strlen(t->name));
        while (store_step(st) == STORE_ROW) {
            int i = tinfo_col(t, store_col_text(st, 0, NULL));
            if (i >= 0) t->cols[i].unique = true;
            if (i >= 0 && is_text_type(t->cols[i].type)) {
                found = i;
                count++;
            }
        }
        store_reset(st);
    }
    if (count == 1) return found;
    for (int i = 0; i < t->ncols; i++)
        if (strcasecmp(t->cols[i].name, "name") == 0 || strcasecmp(t->cols[i].name, "title") == 0) return i;
    if (t->ncols == 2) {
        int key = -1;
        for (int i = 0; i < 2; i++)
            if (strcmp(t->cols[i].name, "id") == 0 || strcmp(t->cols[i].name, "pk") == 0) key = i;
        if (key >= 0) return 1 - key;
    }
    return -1;
}

/* content="T" / content='T' / content=[T] / content=T in an FTS table's SQL. */
static char *fts_content(const char *sql) {
    const char *p = strcasestr(sql, "content");
    while (p) {
        const char *q = p + 7;
        while (*q == ' ') q++;
        if (*q == '=') {
            q++;
            while (*q == ' ') q++;
            char close = *q == '"' ? '"' : *q == '\'' ? '\'' : *q == '[' ? ']' : *q == '`' ? '`' : 0;
            if (close) q++;
            const char *e = q;
            if (close) {
                while (*e && *e != close) e++;
            } else {
                while (*e && *e != ',' && *e != ')' && *e != ' ') e++;
            }
            if (e > q) return xstrndup(q, (size_t)(e - q));
        }
        p = strcasestr(p + 7, "content");
    }
    return NULL;
}

static bool is_fts_sql(const char *sql) {
    const char *u = sql ? strcasestr(sql, "USING") : NULL;
    if (!u) return false;
    u += 5;
    while (*u == ' ') u++;
    return strncasecmp(u, "fts3", 4) == 0 || strncasecmp(u, "fts4", 4) == 0 || strncasecmp(u, "fts5", 4) == 0;
}

static int by_kind_name(const void *a, const void *b) {
    const tinfo_t *x = a, *y = b;
    if (x->is_view != y->is_view) return x->is_view ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* Columns, keys, foreign keys and label of one table. A table SQLite
 * cannot describe (a broken virtual table, a view over a dropped table)
 * shows without columns rather than failing the snapshot. */
static void load_details(store_db_t *c, tinfo_t *t) {
    if (load_columns(c, t) < 0 && !t->pk) t->pk = xcalloc(1, sizeof *t->pk);
    if (t->npk > 0 || t->is_virtual) t->rowid = t->rowid && t->npk == 0 && !t->is_virtual;
    if (!t->is_view) load_fks(c, t);
    t->label = t->is_view ? -1 : find_label(c, t);
    if (t->npk == 1) t->cols[t->pk[0]].unique = true;
    load_select_items(t);
}

/* Foreign keys naming no column point at the other table's key; then each
 * table learns the foreign keys pointing at it. */
static void link_fks(schema_t *s) {
    for (int i = 0; i < s->n; i++) {
        tinfo_t *t = &s->t[i];
        for (int k = 0; k < t->nout; k++) {
            tfk_t *f = &t->out[k];
            if (f->other_column) continue;
            const tinfo_t *o = schema_find(s, f->other_table);
            f->other_column = xstrdup(o && o->npk ? o->cols[o->pk[0]].name : "rowid");
        }
    }
    for (int i = 0; i < s->n; i++) {
        const tinfo_t *src = &s->t[i];
        for (int k = 0; k < src->nout; k++) {
            const tfk_t *f = &src->out[k];
            tinfo_t *o = (tinfo_t *)schema_find(s, f->other_table); /* s is still being built */
            if (!o) continue;
            o->in = xrealloc(o->in, (size_t)(o->nin + 1) * sizeof *o->in);
            o->in[o->nin++] = (tfk_t){xstrdup(f->other_column), xstrdup(src->name), xstrdup(f->column)};
        }
    }
}

static schema_t *load(store_db_t *c, int64_t cookie) {
    schema_t *s = xcalloc(1, sizeof *s);
    s->cookie = cookie;
    s->refs = 1;
    store_stmt_t *st;
    if (store_cached(c,
                     "SELECT s.type, s.name, s.sql, coalesce(t.type, ''), coalesce(t.wr, 0) FROM sqlite_schema s"
                     " LEFT JOIN pragma_table_list(s.name) t ON t.schema = 'main'"
                     " WHERE s.type IN ('table', 'view') AND s.name NOT LIKE '\\_atrium\\_%' ESCAPE '\\'",
                     &st) < 0)
        goto fail;
    int rc, cap = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        if (s->n == cap) {
            cap = cap ? cap * 2 : 16;
            s->t = xrealloc(s->t, (size_t)cap * sizeof *s->t);
        }
        tinfo_t *t = &s->t[s->n++];
        memset(t, 0, sizeof *t);
        t->is_view = strcmp(store_col_text(st, 0, NULL), "view") == 0;
        t->name = col_dup(st, 1);
        t->sql = col_dup(st, 2);
        if (!t->name) t->name = xstrdup("");
        const char *kind = store_col_text(st, 3, NULL);
        t->is_virtual = strcmp(kind, "virtual") == 0;
        t->hidden = strcmp(kind, "shadow") == 0 || strncmp(t->name, "sqlite_", 7) == 0 ||
                    (t->is_virtual && is_fts_sql(t->sql));
        t->rowid = !t->is_view && store_col_int(st, 4) == 0; /* refined once the key is known */
        t->has_rowid = t->rowid && !t->is_virtual;
        t->label = -1;
    }
    store_reset(st);
    if (rc < 0) goto fail;
    if (s->n > 1) qsort(s->t, (size_t)s->n, sizeof *s->t, by_kind_name); /* s->t is NULL for no tables */
    /* Full-text indexes come from the DDL alone. */
    for (int i = 0; i < s->n; i++) {
        tinfo_t *t = &s->t[i];
        if (!t->is_virtual || !is_fts_sql(t->sql)) continue;
        char *content = fts_content(t->sql);
        tinfo_t *o = NULL;
        for (int k = 0; content && k < s->n && !o; k++)
            if (strcmp(s->t[k].name, content) == 0) o = &s->t[k];
        if (o && !o->fts) o->fts = xstrdup(t->name);
        if (!t->fts) t->fts = xstrdup(t->name);
        free(content);
    }
    for (int i = 0; i < s->n; i++) load_details(c, &s->t[i]);
    link_fks(s);
    return s;
fail:
    schema_free(s);
    return NULL;
}

const schema_t *schema_load(store_db_t *c, char *err, size_t errlen) {
    int64_t cookie = store_schema_cookie(c);
    schema_t *s = cookie < 0 ? NULL : load(c, cookie);
    if (!s) snprintf(err, errlen, "%s", store_errmsg(c));
    return s;
}

void schema_release(const schema_t *s) {
    if (s && __atomic_sub_fetch(&((schema_t *)s)->refs, 1, __ATOMIC_ACQ_REL) == 0) schema_free((schema_t *)s);
}

static void release_void(void *p) { schema_release(p); }

/* d's shared snapshot if it describes cookie (a new reference), else NULL.
 * schema_lock is only ever held for these few instructions. */
static schema_t *shared_for(db_t *d, int64_t cookie) {
    pthread_mutex_lock(&d->schema_lock);
    schema_t *cur = d->schema;
    if (cur && cur->cookie == cookie) __atomic_add_fetch(&cur->refs, 1, __ATOMIC_RELAXED);
    else cur = NULL;
    pthread_mutex_unlock(&d->schema_lock);
    return cur;
}

const schema_t *schema_peek(db_t *d, store_db_t *c) {
    int64_t cookie = store_schema_cookie(c);
    return cookie < 0 ? NULL : shared_for(d, cookie);
}

/* The connection's private snapshot (uncommitted changes, or an older read
 * snapshot): kept for its next jobs; a rollback drops it, so a reused
 * schema_version never finds undone changes. */
static const schema_t *private_for(store_db_t *c, int64_t cookie, char *err, size_t errlen) {
    schema_t *mine = store_get_aux(c);
    if (mine && mine->cookie == cookie) {
        __atomic_add_fetch(&mine->refs, 1, __ATOMIC_RELAXED);
        return mine;
    }
    mine = (schema_t *)schema_load(c, err, errlen);
    if (mine) {
        __atomic_add_fetch(&mine->refs, 1, __ATOMIC_RELAXED);
        store_set_aux(c, mine, release_void);
    }
    return mine;
}

const schema_t *schema_acquire(db_t *d, store_db_t *c, char *err, size_t errlen) {
    ASSERT_OFF_LOOP();
    if (!d) return schema_load(c, err, errlen);
    int64_t cookie = store_schema_cookie(c);
    if (cookie < 0) {
        snprintf(err, errlen, "%s", store_errmsg(c));
        return NULL;
    }
    /* committed snapshots only are shared, and schema_version only grows
     * when committed: the same number is the same schema */
    schema_t *s = shared_for(d, cookie);
    if (s) return s;
    if (store_txn_writing(c)) return private_for(c, cookie, err, errlen);
    /* one builder at a time; the others wait here, then find its snapshot */
    pthread_mutex_lock(&d->schema_build_lock);
    if ((s = shared_for(d, cookie))) {
        pthread_mutex_unlock(&d->schema_build_lock);
        return s;
    }
    pthread_mutex_lock(&d->schema_lock);
    schema_t *cur = d->schema;
    bool older = cur && cookie < cur->cookie;
    pthread_mutex_unlock(&d->schema_lock);
    if (older) {
        pthread_mutex_unlock(&d->schema_build_lock);
        return private_for(c, cookie, err, errlen);
    }
    s = load(c, cookie);
    if (!s) {
        pthread_mutex_unlock(&d->schema_build_lock);
        snprintf(err, errlen, "%s", store_errmsg(c));
        return NULL;
    }
    s->refs = 2; /* the database's and the caller's */
    pthread_mutex_lock(&d->schema_lock);
    cur = d->schema;
    d->schema = s;
    pthread_mutex_unlock(&d->schema_lock);
    pthread_mutex_unlock(&d->schema_build_lock);
    schema_release(cur);
    return s;
}

void schema_forget(db_t *d) {
    pthread_mutex_lock(&d->schema_lock);
    schema_t *cur = d->schema;
    d->schema = NULL;
    pthread_mutex_unlock(&d->schema_lock);
    schema_release(cur);
}

const tinfo_t *schema_find(const schema_t *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

const tinfo_t *schema_at(const schema_t *s, int i) { return &s->t[i]; }

const tfk_t *schema_incoming(const schema_t *s, const tinfo_t *t, int *n) {
    (void)s;
    *n = t->nin;
    return t->in;
}

int tinfo_col(const tinfo_t *t, const char *name) {
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return i;
    return -1;
}

const tfk_t *tinfo_fk(const tinfo_t *t, const char *column) {
    for (int i = 0; i < t->nout; i++)
        if (strcmp(t->out[i].column, column) == 0) return &t->out[i];
    return NULL;
}
