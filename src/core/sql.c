/* sql: classification, policy, limits and row delivery (see sql.h). */
#include "core/sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/metrics.h"
#include "util/timeutil.h"

typedef struct {
    sql_class_t cls;
    unsigned facts;   /* SQL_FACT_* seen */
    int calls;        /* how often the authorizer was asked */
    char denied[160]; /* why the authorizer refused, if it did */
    char verb[16];    /* the refused statement's verb, when it has one */
} auth_ctx_t;

static void deny(auth_ctx_t *a, const char *what) {
    if (!a->denied[0]) snprintf(a->denied, sizeof a->denied, "%s", what);
}

static void deny_verb(auth_ctx_t *a, const char *what, const char *verb) {
    if (!a->denied[0]) snprintf(a->verb, sizeof a->verb, "%s", verb);
    deny(a, what);
}

/* Functions whose answer does not follow from their arguments and the
 * database: randomness, the connection's own counters, and the date and
 * time functions (any of which may read 'now'; CURRENT_TIMESTAMP and its
 * kin reach the authorizer as functions too). */
static bool volatile_function(const char *name) {
    static const char *const names[] = {"random", "randomblob", "changes", "total_changes", "last_insert_rowid",
                                        "date", "time", "datetime", "julianday", "unixepoch", "strftime",
                                        "timediff", "current_date", "current_time", "current_timestamp", NULL};
    for (int i = 0; names[i]; i++)
        if (strcasecmp(name, names[i]) == 0) return true;
    return false;
}

static bool authorize(void *ctx, store_action_t act, const char *a1, const char *a2) {
    auth_ctx_t *a = ctx;
    a->calls++;
    /* the engine's own tables (a module's source) are nobody's to touch */
    if ((act == SACT_READ || act == SACT_INSERT || act == SACT_UPDATE || act == SACT_DELETE || act == SACT_SCHEMA) &&
        a1 && strncmp(a1, "_atrium_", 8) == 0) {
        deny(a, "no such table");
        return false;
    }
    switch (act) {
    case SACT_READ:
        /* pragma_x() table-valued functions are read as their eponymous
         * table at prepare time (the PRAGMA itself is asked at run time). */
        if (a1 && strncasecmp(a1, "pragma_", 7) == 0) a->facts |= SQL_FACT_PRAGMA;
        return true;
    case SACT_SELECT:
    case SACT_RECURSIVE: return true;
    case SACT_INSERT:
    case SACT_UPDATE:
    case SACT_DELETE:
        /* SQLite reports writes to sqlite_master while it loads or edits the
         * schema; DDL announces itself separately (SACT_SCHEMA). */
        if (a1 && (strcmp(a1, "sqlite_master") == 0 || strcmp(a1, "sqlite_temp_master") == 0)) return true;
        if (a->cls < SQL_WRITE) a->cls = SQL_WRITE;
        return true;
    case SACT_SCHEMA: a->cls = SQL_SCHEMA; return true;
    case SACT_TEMP_SCHEMA: deny(a, "TEMP objects are not allowed"); return false;
    case SACT_ATTACH: deny_verb(a, "ATTACH is not allowed", "ATTACH"); return false;
    case SACT_DETACH: deny_verb(a, "DETACH is not allowed", "DETACH"); return false;
    case SACT_TRANSACTION:
        /* a1: BEGIN, COMMIT (also for END) or ROLLBACK */
        deny_verb(a, "transaction statements are not allowed", a1 ? a1 : "BEGIN");
        return false;
    case SACT_SAVEPOINT:
        /* a1: BEGIN (SAVEPOINT x), RELEASE or ROLLBACK (ROLLBACK TO x) */
        deny_verb(a, "transaction statements are not allowed",
                  a1 && strcmp(a1, "BEGIN") == 0 ? "SAVEPOINT" : a1 ? a1 : "SAVEPOINT");
        return false;
    case SACT_FUNCTION:
        if (a2 && strcasecmp(a2, "load_extension") == 0) {
            deny(a, "load_extension is not allowed");
            return false;
        }
        if (a2 && volatile_function(a2)) a->facts |= SQL_FACT_VOLATILE;
        return true;
    case SACT_PRAGMA:
        a->facts |= SQL_FACT_PRAGMA;
        if (!a2) return true; /* a query (PRAGMA x, or pragma_x() in SELECT) */
        if (a1 && (strcasecmp(a1, "user_version") == 0 || strcasecmp(a1, "application_id") == 0)) {
            a->cls = SQL_SCHEMA;
            return true;
        }
        /* Arguments that only select what to read are fine (table_info(t)). */
        if (a1 && (strcasecmp(a1, "table_info") == 0 || strcasecmp(a1, "table_xinfo") == 0 ||
                   strcasecmp(a1, "index_list") == 0 || strcasecmp(a1, "index_info") == 0 ||
                   strcasecmp(a1, "index_xinfo") == 0 || strcasecmp(a1, "foreign_key_list") == 0 ||
                   strcasecmp(a1, "table_list") == 0 || strcasecmp(a1, "integrity_check") == 0 ||
                   strcasecmp(a1, "quick_check") == 0 || strcasecmp(a1, "foreign_key_check") == 0))
            return true;
        deny(a, "this PRAGMA is not allowed");
        return false;
    case SACT_OTHER: return true;
    }
    return false;
}

static size_t max_response_bytes = 64u << 20;

void sql_set_max_response_bytes(size_t n) { max_response_bytes = n; }
size_t sql_max_response_bytes(void) { return max_response_bytes; }

const char *sql_class_name(sql_class_t c) {
    return c == SQL_SCHEMA ? "schema" : c == SQL_WRITE ? "write" : "read";
}

static const char *skip_space_and_comments(const char *p, const char *end);

/* True if the statement text [p, end) begins with keyword (case-folded),
 * after white space and comments. Only used to name statements SQLite
 * prepared but told the authorizer nothing about. */
static bool first_word_is(const char *p, const char *end, const char *keyword) {
    p = skip_space_and_comments(p, end);
    size_t n = strlen(keyword);
    if ((size_t)(end - p) < n || strncasecmp(p, keyword, n) != 0) return false;
    return p + n == end || !(isalnum((unsigned char)p[n]) || p[n] == '_');
}

/* Prepares the next statement under the policy; *st NULL at the end. */
/* What the policy learnt of a statement while it was prepared. */
typedef struct {
    sql_class_t cls;
    unsigned facts;
    bool lifted; /* prepared from lifted text, its literals bound */
} stmt_info_t;

static int prepare_next(store_db_t *db, const char **p, const char *end, store_stmt_t **st, stmt_info_t *info,
                        err_t *e) {
    auth_ctx_t a = {.cls = SQL_READ};
    info->lifted = false;
    store_set_authorizer(db, authorize, &a);
    const char *tail = NULL;
    int rc = store_prepare_next(db, *p, (size_t)(end - *p), st, &tail);
    store_set_authorizer(db, NULL, NULL);
    if (rc < 0) {
        if (a.denied[0]) {
            err_set_sub(e, E_FORBIDDEN, ES_NOT_ALLOWED, "%s", a.denied);
            if (e) snprintf(e->detail, sizeof e->detail, "%s", a.verb);
            return -1;
        }
        return err_sql(e, rc, store_errmsg(db));
    }
    const char *start = *p;
    *p = tail ? tail : end;
    /* The class comes from the authorizer alone: sqlite3_stmt_readonly
     * calls table-valued pragma functions writers. Read connections are
     * query_only besides, so nothing misclassified can write there. */
    info->cls = a.cls;
    info->facts = a.facts;
    if (*st && a.calls == 0 && !store_stmt_readonly(*st)) {
        /* SQLite asks the authorizer nothing about VACUUM (whose INTO form
         * writes a file anywhere the server may) and REINDEX. Unasked and
         * not read-only: REINDEX only rebuilds indexes (a schema-class
         * statement); anything else is refused. */
        if (first_word_is(start, *p, "REINDEX")) {
            info->cls = SQL_SCHEMA;
            return 0;
        }
        store_finalize(*st);
        *st = NULL;
        bool vacuum = first_word_is(start, *p, "VACUUM");
        err_set_sub(e, E_FORBIDDEN, ES_NOT_ALLOWED, "%s",
                    vacuum ? "VACUUM is not allowed" : "this statement is not allowed");
        if (e && vacuum) snprintf(e->detail, sizeof e->detail, "VACUUM");
        return -1;
    }
    return 0;
}

/* Skips white space, ';' and comments. */
static const char *skip_space_and_comments(const char *p, const char *end) {
    while (p < end) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ';') {
            p++;
        } else if (c == '-' && p + 1 < end && p[1] == '-') {
            while (p < end && *p != '\n') p++;
        } else if (c == '/' && p + 1 < end && p[1] == '*') {
            p += 2;
            while (p + 1 < end && !(p[0] == '*' && p[1] == '/')) p++;
            if (p + 1 >= end) return end; /* an unterminated comment is a comment */
            p += 2;
        } else {
            return p;
        }
    }
    return end;
}

/* True if only white space, comments and ';' remain: then there is no
 * further statement, and no need to ask SQLite (a prepare costs µs). */
static bool tail_empty(const char *p, const char *end) { return skip_space_and_comments(p, end) == end; }


/* A read whose literals were lifted (see sql_lift): from the cache when
 * the lifted text ran before, else prepared under the policy and adopted
 * if it is a read with exactly the lifted parameters. 0 with *st bound
 * (*hit if it came from the cache), or -1: use the text as written. */
static int prepare_lifted(store_db_t *db, const char *sql, const char *end, store_stmt_t **st, stmt_info_t *info,
                          bool *hit) {
    sql_lifted_t l;
    buf_init(&l.text);
    int rc = -1;
    if (sql_lift(sql, (size_t)(end - sql), &l) == 0) goto out;
    int tag;
    *st = store_cache_get(db, l.text.data, l.text.len, &tag);
    if (*st) {
        info->cls = (sql_class_t)(tag & 0xf);
        info->facts = (unsigned)tag >> 4;
        *hit = true;
    } else {
        const char *lp = l.text.data, *lend = l.text.data + l.text.len;
        err_t ignored;
        if (prepare_next(db, &lp, lend, st, info, &ignored) < 0 || !*st) goto out;
        if (info->cls == SQL_READ && tail_empty(lp, lend) && store_param_count(*st) == l.n)
            store_cache_put(db, l.text.data, l.text.len, *st, (int)(info->cls | (info->facts << 4)));
    }
    if (info->cls != SQL_READ || store_param_count(*st) != l.n) {
        store_finalize(*st);
        *st = NULL;
        goto out;
    }
    buf_t scratch;
    buf_init(&scratch);
    sql_lift_bind(&l, *st, &scratch);
    buf_free(&scratch);
    info->lifted = true;
    rc = 0;
out:
    buf_free(&l.text);
    return rc;
}

/* The first statement of a script: from the connection's statement cache
 * when the very same text ran before as a single statement, else prepared
 * under the policy and, if it is the whole script, adopted by the cache.
 * counted: the lookup is a run (sql_run), not a look ahead (sql_inspect). */
static int prepare_first(store_db_t *db, const char *sql, const char **p, const char *end, store_stmt_t **st,
                         stmt_info_t *info, bool counted, err_t *e) {
    int tag;
    info->lifted = false;
    *st = store_cache_get(db, sql, (size_t)(end - sql), &tag);
    if (*st) {
        /* The cache keeps what the policy learnt: class in the low bits. */
        info->cls = (sql_class_t)(tag & 0xf);
        info->facts = (unsigned)tag >> 4;
        *p = end;
        if (counted) metrics_inc1(MET_SQL_STMT_CACHE, "hit");
        return 0;
    }
    bool hit = false;
    if (prepare_lifted(db, sql, end, st, info, &hit) == 0) {
        *p = end;
        if (counted) metrics_inc1(MET_SQL_STMT_CACHE, hit ? "lifted_hit" : "miss");
        return 0;
    }
    if (counted) metrics_inc1(MET_SQL_STMT_CACHE, "miss");
    if (prepare_next(db, p, end, st, info, e) < 0) return -1;
    if (*st && tail_empty(*p, end))
        store_cache_put(db, sql, (size_t)(end - sql), *st, (int)(info->cls | (info->facts << 4)));
    return 0;
}

int sql_inspect(store_db_t *db, const char *sql, size_t len, bool single, sql_class_t *cls, unsigned *facts,
                err_t *e) {
    const char *p = sql, *end = sql + len;
    sql_class_t max = SQL_READ;
    unsigned all = 0;
    bool any = false;
    for (;;) {
        store_stmt_t *st;
        stmt_info_t in;
        if ((any ? prepare_next(db, &p, end, &st, &in, e) : prepare_first(db, sql, &p, end, &st, &in, false, e)) < 0)
            return -1;
        if (!st) break;
        if (single && !tail_empty(p, end)) {
            store_finalize(st);
            return err_set_sub(e, E_BAD_INPUT, ES_MANY_STATEMENTS, SQL_MSG_ONE_STATEMENT);
        }
        any = true;
        if (in.cls > max) max = in.cls;
        all |= in.facts;
        store_finalize(st);
        if (tail_empty(p, end)) break; /* no need to ask SQLite to parse nothing */
    }
    if (!any) return err_set_sub(e, E_BAD_INPUT, ES_EMPTY_QUERY, "empty query");
    *cls = max;
    if (facts) *facts = all;
    return 0;
}

int sql_classify(store_db_t *db, const char *sql, size_t len, bool single, sql_class_t *cls, err_t *e) {
    return sql_inspect(db, sql, len, single, cls, NULL, e);
}

int sql_run(store_db_t *db, const char *sql, size_t len, const sql_opts_t *o, const sql_sink_t *sink, void *ctx,
            sql_result_t *res, err_t *e) {
    memset(res, 0, sizeof *res);
    const char *p = sql, *end = sql + len;
    int nstmt = 0, rc = 0;
    store_set_deadline(db, o->deadline_us);
    for (;;) {
        store_stmt_t *st;
        stmt_info_t in;
        if ((nstmt ? prepare_next(db, &p, end, &st, &in, e) : prepare_first(db, sql, &p, end, &st, &in, true, e)) < 0) {
            rc = -1;
            break;
        }
        if (!st) break;
        nstmt++;
        bool last = tail_empty(p, end);
        if (o->single_statement) {
            /* Anything but whitespace, ';' or comments after the first? */
            if (!last) {
                store_finalize(st);
                rc = err_set_sub(e, E_BAD_INPUT, ES_MANY_STATEMENTS, SQL_MSG_ONE_STATEMENT);
                break;
            }
        }
        sql_class_t c = in.cls;
        if (c > o->max_class) {
            store_finalize(st);
            rc = err_set(e, E_FORBIDDEN, "%s statement not allowed here", sql_class_name(c));
            e->sql_code = (int)c; /* which class was refused, for the dialect's wording */
            break;
        }
        if (c > res->cls) res->cls = c;
        res->facts |= in.facts;
        static const char *const kinds[] = {"read", "write", "schema"};
        metrics_inc1(MET_SQL_STATEMENTS, kinds[c]);
        for (int i = 1; o->bind && !in.lifted && i <= store_param_count(st); i++) {
            if (o->bind(o->bind_ctx, st, i, store_param_name(st, i), e) < 0) {
                rc = -1;
                break;
            }
        }
        if (rc < 0) {
            store_finalize(st);
            break;
        }
        /* Only the last statement answers. */
        /* The columns are read after the first step: a cached statement
         * that another connection's schema change made stale is prepared
         * again inside it, and only then has its new columns. */
        int ncols = 0;
        bool announced = false;
        if (last) {
            res->rows = 0;
            res->truncated = false;
        }
        int s;
        bool too_big = false;
        while ((s = store_step(st)) == STORE_ROW) {
            if (!last) continue;
            if (!announced) {
                announced = true;
                ncols = store_col_count(st);
                res->has_columns = ncols > 0;
                if (ncols > 0 && sink && sink->columns) sink->columns(ctx, st, ncols);
            }
            res->rows++;
            if (o->max_rows >= 0 && res->rows > o->max_rows) {
                res->truncated = true;
                if (c == SQL_READ) break; /* reads need not run on */
                continue;
            }
            if (sink && sink->row) sink->row(ctx, st, ncols);
            if (o->out && o->out->len > max_response_bytes) {
                too_big = true;
                break;
            }
        }
        if (last && !announced && s >= 0) {
            ncols = store_col_count(st);
            res->has_columns = ncols > 0;
            if (ncols > 0 && sink && sink->columns) sink->columns(ctx, st, ncols);
        }
        if (too_big) {
            rc = err_set(e, E_TOO_BIG, "the result is larger than the response limit (%zu bytes); "
                                       "select fewer rows or columns, or page through them", max_response_bytes);
            store_finalize(st);
            break;
        }
        if (s < 0) {
            res->step_failed = true;
            if ((-s & 0xff) == STORE_E_INTERRUPT) rc = err_set(e, E_TIMEOUT, "query interrupted: time limit");
            else rc = err_sql(e, s, store_errmsg(db));
            store_finalize(st);
            break;
        }
        if (c == SQL_WRITE) res->changes = store_changes(db);
        store_finalize(st);
        if (last) break;
    }
    store_set_deadline(db, 0);
    if (rc == 0 && nstmt == 0) rc = err_set_sub(e, E_BAD_INPUT, ES_EMPTY_QUERY, "empty query");
    return rc;
}

/* ---- SQL text ------------------------------------------------------------ */

/* SQL words an identifier is always quoted for (the list Datasette uses). */
static const char *const reserved[] = {
    "abort", "action", "add", "after", "all", "alter", "analyze", "and", "as", "asc", "attach", "autoincrement",
    "before", "begin", "between", "by", "cascade", "case", "cast", "check", "collate", "column", "commit",
    "conflict", "constraint", "create", "cross", "current_date", "current_time", "current_timestamp", "database",
    "default", "deferrable", "deferred", "delete", "desc", "detach", "distinct", "drop", "each", "else", "end",
    "escape", "except", "exclusive", "exists", "explain", "fail", "for", "foreign", "from", "full", "glob",
    "group", "having", "if", "ignore", "immediate", "in", "index", "indexed", "initially", "inner", "insert",
    "instead", "intersect", "into", "is", "isnull", "join", "key", "left", "like", "limit", "match", "natural",
    "no", "not", "notnull", "null", "of", "offset", "on", "or", "order", "outer", "plan", "pragma", "primary",
    "query", "raise", "recursive", "references", "regexp", "reindex", "release", "rename", "replace", "restrict",
    "right", "rollback", "row", "savepoint", "select", "set", "table", "temp", "temporary", "then", "to",
    "transaction", "trigger", "union", "unique", "update", "using", "vacuum", "values", "view", "virtual", "when",
    "where", "with", "without", NULL};

static int casecmp_ptr(const void *a, const void *b) {
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

void sql_ident(buf_t *b, const char *name) {
    bool plain = (name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_';
    for (const char *c = name; *c && plain; c++)
        plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (plain && bsearch(&name, reserved, sizeof reserved / sizeof reserved[0] - 1, sizeof reserved[0], casecmp_ptr))
        plain = false;
    if (plain) buf_puts(b, name);
    else sql_quote(b, name, '"');
}

void sql_quote(buf_t *b, const char *s, char q) {
    buf_putc(b, q);
    for (const char *c = s; *c; c++) {
        if (*c == q) buf_putc(b, q);
        buf_putc(b, *c);
    }
    buf_putc(b, q);
}

int sql_prepare_engine(store_db_t *c, const char *sql, size_t len, sql_class_t cls, store_stmt_t **out) {
    int tag;
    *out = store_cache_get(c, sql, len, &tag);
    if (*out) return 0;
    int rc = store_prepare(c, sql, out);
    if (rc < 0) return rc;
    store_cache_put(c, sql, len, *out, (int)cls);
    return 0;
}
