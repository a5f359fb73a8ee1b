/* sql_lift: one statement text for a family of reads that differ only in
 * their literals (see sql.h). A scanner, not a parser: it decides where a
 * literal may become a parameter from the clause it stands in, and when in
 * doubt it leaves the literal alone. It never decides what a statement
 * does — the authorizer still classifies the lifted text when it is
 * prepared. */
#include "core/sql.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* The clause a nesting level is in. Only WHERE/HAVING, ON and LIMIT/OFFSET
 * lift: in a result list a literal names its column ("SELECT 1" has a
 * column called 1), in ORDER BY / GROUP BY an integer is a column number,
 * in FROM an argument of a table-valued function may be what the
 * authorizer judges (pragma_table_info('t')). FROZEN: inside parentheses
 * opened where nothing lifts, whatever keywords follow. */
typedef enum { CL_NONE, CL_LIST, CL_FROM, CL_WHERE, CL_ON, CL_LIMIT, CL_ORDER, CL_FROZEN } clause_t;

#define LIFT_DEPTH 32

static bool lifts(clause_t c) { return c == CL_WHERE || c == CL_ON || c == CL_LIMIT; }

static bool ident_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           c >= 0x80;
}

static bool word_is(const char *w, size_t n, const char *kw) { return strlen(kw) == n && strncasecmp(w, kw, n) == 0; }

/* The clause a keyword opens, or -1 if it opens none. Only reserved
 * words open a clause that lifts (OFFSET may name a column: it only ever
 * follows LIMIT, whose clause it continues). */
static int keyword_clause(const char *w, size_t n) {
    static const struct {
        const char *kw;
        clause_t cl;
    } kws[] = {{"SELECT", CL_LIST},  {"FROM", CL_FROM},   {"JOIN", CL_FROM},   {"WHERE", CL_WHERE},
               {"HAVING", CL_WHERE}, {"ON", CL_ON},       {"LIMIT", CL_LIMIT},
               {"ORDER", CL_ORDER},  {"GROUP", CL_ORDER}, {"WINDOW", CL_ORDER}, {"VALUES", CL_ORDER},
               {"USING", CL_ORDER},  {"RETURNING", CL_ORDER}};
    for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
        if (word_is(w, n, kws[i].kw)) return (int)kws[i].cl;
    return -1;
}

/* The end of a quoted token starting at p (quote q, doubled to escape;
 * ']' ends '[' with no escape), or NULL if it does not end. Sets *doubled
 * if an escaped quote is inside. */
static const char *quoted_end(const char *p, const char *end, char close, bool *doubled) {
    for (p++; p < end; p++) {
        if (*p != close) continue;
        if (close != ']' && p + 1 < end && p[1] == close) {
            if (doubled) *doubled = true;
            p++;
            continue;
        }
        return p + 1;
    }
    return NULL;
}

static int add_literal(sql_lifted_t *out, const char *sql, const char *tok, const char *tok_end, int kind,
                       const char *s, size_t n, int64_t v, bool doubled) {
    if (out->n >= SQL_LIFT_MAX) return -1;
    sql_literal_t *l = &out->lit[out->n++];
    l->at = (size_t)(tok - sql);
    l->tok = (size_t)(tok_end - tok);
    l->kind = kind;
    l->s = s;
    l->len = n;
    l->i = v;
    l->doubled = doubled;
    buf_printf(&out->text, "?%d", out->n);
    return 0;
}

/* A decimal integer token [p, q) as int64; false if it overflows. */
static bool decimal_int(const char *p, const char *q, int64_t *v) {
    uint64_t x = 0;
    for (; p < q; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_C(9223372036854775807) - d) / 10) return false;
        x = x * 10 + d;
    }
    *v = (int64_t)x;
    return true;
}

int sql_lift(const char *sql, size_t len, sql_lifted_t *out) {
    const char *p = sql, *end = sql + len, *copied = sql;
    clause_t stack[LIFT_DEPTH];
    int depth = 0;
    stack[0] = CL_NONE;
    out->n = 0;
    buf_reset(&out->text);
    /* SQLite reads a text only up to a NUL; lifting a literal across one
     * would run what SQLite never saw */
    if (memchr(sql, 0, len)) return 0;
    /* Only a read that begins as one: SELECT, or WITH (its CTEs come in
     * parentheses opened where nothing lifts). */
    bool first = true;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            p++;
        } else if (c == '-' && p + 1 < end && p[1] == '-') {
            while (p < end && *p != '\n') p++;
        } else if (c == '/' && p + 1 < end && p[1] == '*') {
            const char *q = p + 2;
            while (q + 1 < end && !(q[0] == '*' && q[1] == '/')) q++;
            if (q + 1 >= end) return 0;
            p = q + 2;
        } else if (first && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
            return 0;
        } else if (c == '\'') {
            bool doubled = false;
            const char *q = quoted_end(p, end, '\'', &doubled);
            if (!q) return 0;
            if (lifts(stack[depth])) {
                buf_append(&out->text, copied, (size_t)(p - copied));
                if (add_literal(out, sql, p, q, SQL_LIT_TEXT, p + 1, (size_t)(q - p - 2), 0, doubled) < 0) return 0;
                copied = q;
            }
            p = q;
        } else if (c == '"' || c == '`' || c == '[') {
            const char *q = quoted_end(p, end, c == '[' ? ']' : (char)c, NULL);
            if (!q) return 0;
            p = q;
        } else if (c >= '0' && c <= '9') {
            const char *q = p;
            while (q < end && *q >= '0' && *q <= '9') q++;
            bool plain = !(q < end && (ident_char((unsigned char)*q) || *q == '.'));
            /* 1.5, 1e3, 0x1F, 1_000: kept as written (exactness of reals
             * and SQLite's own readings of the rest are not ours to redo) */
            while (q < end && (ident_char((unsigned char)*q) || *q == '.' ||
                               ((*q == '+' || *q == '-') && (q[-1] == 'e' || q[-1] == 'E'))))
                q++;
            int64_t v;
            if (plain && lifts(stack[depth]) && decimal_int(p, q, &v)) {
                buf_append(&out->text, copied, (size_t)(p - copied));
                if (add_literal(out, sql, p, q, SQL_LIT_INT, p, (size_t)(q - p), v, false) < 0) return 0;
                copied = q;
            }
            p = q;
        } else if (c == '.' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
            p++;
            while (p < end && (ident_char((unsigned char)*p) || *p == '.')) p++;
        } else if (c == '?' || c == ':' || c == '@' || c == '$' || c == '#') {
            return 0; /* the text has parameters of its own: leave it be */
        } else if (ident_char(c)) {
            const char *q = p;
            while (q < end && ident_char((unsigned char)*q)) q++;
            size_t n = (size_t)(q - p);
            if (first && !word_is(p, n, "SELECT") && !word_is(p, n, "WITH")) return 0;
            if ((c == 'x' || c == 'X') && n == 1 && q < end && *q == '\'') {
                q = quoted_end(q, end, '\'', NULL); /* a blob literal, kept */
                if (!q) return 0;
            }
            if (stack[depth] != CL_FROZEN) {
                int k = keyword_clause(p, n);
                if (k >= 0) stack[depth] = (clause_t)k;
            }
            first = false;
            p = q;
        } else if (c == '(') {
            if (depth + 1 >= LIFT_DEPTH) return 0;
            clause_t outer = stack[depth];
            stack[++depth] = lifts(outer) ? outer : CL_FROZEN;
            p++;
        } else if (c == ')') {
            if (depth == 0) return 0;
            depth--;
            p++;
        } else if (c == ',') {
            /* FROM a JOIN b ON a.x = b.x, c: the comma joins again */
            if (stack[depth] == CL_ON) stack[depth] = CL_FROM;
            p++;
        } else if (c == ';') {
            const char *q = p + 1;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == ';')) q++;
            if (q != end) return 0; /* one statement only */
            p = q;
        } else {
            p++;
        }
    }
    if (out->n == 0) return 0;
    buf_append(&out->text, copied, (size_t)(end - copied));
    return out->n;
}

void sql_lift_bind(const sql_lifted_t *l, store_stmt_t *st, buf_t *scratch) {
    for (int i = 0; i < l->n; i++) {
        const sql_literal_t *x = &l->lit[i];
        if (x->kind == SQL_LIT_INT) {
            store_bind_int(st, i + 1, x->i);
        } else if (!x->doubled) {
            store_bind_text(st, i + 1, x->s, x->len);
        } else {
            buf_reset(scratch);
            for (size_t k = 0; k < x->len; k++) {
                buf_putc(scratch, x->s[k]);
                if (x->s[k] == '\'') k++; /* '' stands for one ' */
            }
            store_bind_text(st, i + 1, scratch->data ? scratch->data : "", scratch->len);
        }
    }
}
