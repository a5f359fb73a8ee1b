/* subs_query: the subscription query language of core/subs — parsing
 * `SELECT * | t.* FROM t [[AS] a] [WHERE e]`, and compiling it under the
 * subscription policy (its own table only, no subqueries, deterministic
 * functions, no parameter but :sender). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/sql.h"
#include "core/subs.h"
#include "util/buf.h"

/* ---- parsing ------------------------------------------------------------ */

typedef struct {
    const char *p, *end;
} lex_t;

static void lx_space(lex_t *l) {
    for (;;) {
        while (l->p < l->end && isspace((unsigned char)*l->p)) l->p++;
        if (l->p + 1 < l->end && l->p[0] == '-' && l->p[1] == '-') {
            while (l->p < l->end && *l->p != '\n') l->p++;
        } else if (l->p + 1 < l->end && l->p[0] == '/' && l->p[1] == '*') {
            const char *c = l->p + 2;
            while (c + 1 < l->end && !(c[0] == '*' && c[1] == '/')) c++;
            l->p = c + 1 < l->end ? c + 2 : l->end;
        } else {
            return;
        }
    }
}

/* Consumes keyword kw (case-insensitive, whole word). */
static bool lx_kw(lex_t *l, const char *kw) {
    lx_space(l);
    size_t n = strlen(kw);
    if ((size_t)(l->end - l->p) < n || strncasecmp(l->p, kw, n) != 0) return false;
    if (l->p + n < l->end && (isalnum((unsigned char)l->p[n]) || l->p[n] == '_')) return false;
    l->p += n;
    return true;
}

static bool lx_ch(lex_t *l, char c) {
    lx_space(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return true;
    }
    return false;
}

/* An identifier, bare or quoted ("x", `x`, [x]); NULL if none. */
static char *lx_ident(lex_t *l) {
    lx_space(l);
    if (l->p >= l->end) return NULL;
    char open = *l->p, close = open == '[' ? ']' : open;
    if (open == '"' || open == '`' || open == '[') {
        buf_t b = BUF_INIT;
        const char *q = l->p + 1;
        for (;;) {
            if (q >= l->end) {
                buf_free(&b);
                return NULL;
            }
            if (*q == close) {
                if (close != ']' && q + 1 < l->end && q[1] == close) {
                    buf_putc(&b, close);
                    q += 2;
                    continue;
                }
                break;
            }
            buf_putc(&b, *q++);
        }
        l->p = q + 1;
        if (!b.data) return NULL; /* "" names nothing */
        return b.data;
    }
    const char *s = l->p;
    while (l->p < l->end && (isalnum((unsigned char)*l->p) || *l->p == '_' || (unsigned char)*l->p >= 0x80)) l->p++;
    if (l->p == s || isdigit((unsigned char)*s)) {
        l->p = s;
        return NULL;
    }
    return xstrndup(s, (size_t)(l->p - s));
}

static const char *const reserved_after_table[] = {"WHERE", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS",
                                                   "NATURAL", "OUTER", "ON", "USING", "ORDER", "GROUP",
                                                   "LIMIT", "UNION", NULL};

static bool is_reserved(const char *w) {
    for (int i = 0; reserved_after_table[i]; i++)
        if (strcasecmp(w, reserved_after_table[i]) == 0) return true;
    return false;
}

/* True if the expression holds the keyword SELECT outside quotes: a
 * subquery, which a one-row evaluation could not answer. */
static bool has_select(const char *p, const char *end) {
    while (p < end) {
        char c = *p;
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : c;
            p++;
            while (p < end && *p != close) p++;
            p++;
        } else if (isalpha((unsigned char)c) || c == '_') {
            const char *s = p;
            while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '$')) p++;
            if (p - s == 6 && strncasecmp(s, "select", 6) == 0) return true;
        } else {
            p++;
        }
    }
    return false;
}

static bool parens_balance(const char *p, const char *end) {
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '\'' || c == '"' || c == '`') {
            while (p < end && *p != c) p++;
            if (p >= end) return false;
            p++;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (--depth < 0) return false;
        }
    }
    return depth == 0;
}

void subs_query_free(subs_query_t *q) {
    free(q->table);
    free(q->alias);
    free(q->where);
    memset(q, 0, sizeof *q);
}

int subs_parse(const char *text, subs_query_t *q, err_t *e) {
    memset(q, 0, sizeof *q);
    lex_t l = {text, text + strlen(text)};
    char *star_of = NULL;
    if (!lx_kw(&l, "SELECT")) goto syntax;
    if (!lx_ch(&l, '*')) {
        star_of = lx_ident(&l);
        if (!star_of || !lx_ch(&l, '.') || !lx_ch(&l, '*')) goto syntax;
    }
    if (!lx_kw(&l, "FROM")) goto syntax;
    q->table = lx_ident(&l);
    if (!q->table) goto syntax;
    if (lx_kw(&l, "AS")) {
        q->alias = lx_ident(&l);
        if (!q->alias) goto syntax;
    } else {
        lex_t save = l;
        char *a = lx_ident(&l);
        if (a && !is_reserved(a)) q->alias = a;
        else {
            free(a);
            l = save;
        }
    }
    if (!q->alias) q->alias = xstrdup(q->table);
    lex_t save = l;
    if (lx_ch(&l, ',') || lx_kw(&l, "JOIN") || lx_kw(&l, "INNER") || lx_kw(&l, "LEFT") || lx_kw(&l, "RIGHT") ||
        lx_kw(&l, "FULL") || lx_kw(&l, "CROSS") || lx_kw(&l, "NATURAL")) {
        free(star_of);
        subs_query_free(q);
        return err_set(e, E_BAD_INPUT, "joins in subscriptions are not supported yet");
    }
    l = save;
    if (star_of && strcmp(star_of, q->alias) != 0 && strcmp(star_of, q->table) != 0) {
        err_set(e, E_BAD_INPUT, "no such table: %s", star_of);
        free(star_of);
        subs_query_free(q);
        return -1;
    }
    free(star_of);
    star_of = NULL;
    if (lx_kw(&l, "WHERE")) {
        lx_space(&l);
        const char *s = l.p, *end = l.end;
        /* a trailing ';' (and space) ends the statement */
        while (end > s && (isspace((unsigned char)end[-1]) || end[-1] == ';')) end--;
        if (end == s) goto syntax;
        if (!parens_balance(s, end)) {
            subs_query_free(q);
            return err_set(e, E_BAD_INPUT, "unbalanced parentheses in WHERE");
        }
        if (has_select(s, end)) {
            subs_query_free(q);
            return err_set(e, E_BAD_INPUT, "subqueries are not allowed in subscriptions");
        }
        q->where = xstrndup(s, (size_t)(end - s));
        return 0;
    }
    while (lx_ch(&l, ';')) {
    }
    lx_space(&l);
    if (l.p != l.end) goto syntax;
    return 0;
syntax:
    free(star_of);
    subs_query_free(q);
    return err_set(e, E_BAD_INPUT,
                   "unsupported subscription query: expected SELECT * FROM table [WHERE expression]: %.200s", text);
}

/* ---- the subscription policy -------------------------------------------- */

typedef struct {
    const char *table;
    int selects;
    char denied[160];
} pol_t;

static bool policy(void *ctx, store_action_t act, const char *a1, const char *a2) {
    pol_t *p = ctx;
    switch (act) {
    case SACT_READ:
        if (a1 && strcmp(a1, p->table) == 0) return true;
        if (!p->denied[0]) snprintf(p->denied, sizeof p->denied, "subscriptions may only read their own table");
        return false;
    case SACT_SELECT:
        if (++p->selects == 1) return true;
        if (!p->denied[0]) snprintf(p->denied, sizeof p->denied, "subqueries are not allowed in subscriptions");
        return false;
    case SACT_FUNCTION: {
        static const char *const nondet[] = {"random", "randomblob", "changes", "total_changes", "last_insert_rowid",
                                             "date", "time", "datetime", "julianday", "unixepoch", "strftime",
                                             "timediff", "load_extension", NULL};
        for (int i = 0; a2 && nondet[i]; i++)
            if (strcasecmp(a2, nondet[i]) == 0) {
                if (!p->denied[0])
                    snprintf(p->denied, sizeof p->denied, "function %s is not allowed in subscriptions", a2);
                return false;
            }
        return true;
    }
    default:
        if (!p->denied[0]) snprintf(p->denied, sizeof p->denied, "not allowed in subscriptions");
        return false;
    }
}

/* Compiles `SELECT <what> FROM "t" AS "a" [WHERE (e)]` under the policy. */
int subs_compile(store_db_t *c, const subs_query_t *q, const char *what, const char *sender, store_stmt_t **out,
                   err_t *e) {
    buf_t sql = BUF_INIT;
    buf_printf(&sql, "SELECT %s FROM ", what);
    sql_quote(&sql, q->table, '"');
    buf_puts(&sql, " AS ");
    sql_quote(&sql, q->alias, '"');
    if (q->where) buf_printf(&sql, " WHERE (%s)", q->where);
    pol_t p = {.table = q->table};
    store_set_authorizer(c, policy, &p);
    int rc = store_prepare(c, sql.data, out);
    store_set_authorizer(c, NULL, NULL);
    buf_free(&sql);
    if (rc < 0) {
        if (p.denied[0]) return err_set(e, E_BAD_INPUT, "%s", p.denied);
        return err_set(e, E_BAD_INPUT, "%s", store_errmsg(c));
    }
    int np = store_param_count(*out);
    for (int i = 1; i <= np; i++) {
        const char *name = store_param_name(*out, i);
        if (name && strcmp(name + 1, "sender") == 0) {
            if (sender) store_bind_text(*out, i, sender, strlen(sender));
        } else {
            store_finalize(*out);
            *out = NULL;
            return err_set(e, E_BAD_INPUT, "only :sender may be a parameter in subscriptions");
        }
    }
    return 0;
}

