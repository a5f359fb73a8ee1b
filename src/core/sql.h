/* sql: running user SQL safely, the same way for every dialect. Each
 * statement is classified while it is prepared (through the authorizer):
 * read < write < schema. Always refused: ATTACH/DETACH, transaction and
 * savepoint statements (the engine owns transactions), TEMP objects
 * (connections are pooled), load_extension, and PRAGMAs that set anything
 * but user_version/application_id. Rows go to a sink the dialect supplies,
 * so each renders its own shape while they stream. */
#ifndef ATRIUM_CORE_SQL_H
#define ATRIUM_CORE_SQL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"
#include "util/buf.h"

typedef enum { SQL_READ = 0, SQL_WRITE = 1, SQL_SCHEMA = 2 } sql_class_t;

typedef struct {
    /* Once per answering statement, before its rows. */
    void (*columns)(void *ctx, store_stmt_t *st, int ncols);
    /* Once per delivered row; read the values with store_col_*. */
    void (*row)(void *ctx, store_stmt_t *st, int ncols);
} sql_sink_t;

/* Binds a statement's parameters (name as SQLite reports it, e.g. ":id");
 * returns -1 with e set to refuse. May be NULL (parameters stay NULL). */
typedef int (*sql_binder_fn)(void *ctx, store_stmt_t *st, int idx, const char *name, err_t *e);

typedef struct {
    sql_class_t max_class;  /* statements above it fail with E_FORBIDDEN */
    bool single_statement;  /* more than one statement: E_BAD_INPUT */
    uint64_t deadline_us;   /* monotonic; 0: none. Passing it: E_TIMEOUT */
    int64_t max_rows;       /* rows delivered at most; < 0: no cap */
    sql_binder_fn bind;
    void *bind_ctx;
    /* Where the sink writes the answer: past sql_max_response_bytes() the
     * run stops with E_TOO_BIG, so no answer grows without bound. NULL:
     * the caller streams or bounds it otherwise. */
    const buf_t *out;
} sql_opts_t;

typedef struct {
    sql_class_t cls;  /* highest class among the statements run */
    int64_t rows;     /* rows the answering statement produced (all of them) */
    bool truncated;   /* rows > max_rows */
    int64_t changes;  /* rows changed by the last DML statement */
    bool has_columns; /* the answering statement returns columns */
    bool step_failed; /* the error came while executing, not while preparing */
    unsigned facts;   /* SQL_FACT_* of the statements run */
} sql_result_t;

/* Facts about statements, as the authorizer saw them while preparing —
 * never read from the SQL text. */
enum {
    SQL_FACT_PRAGMA = 1, /* a PRAGMA, or a pragma table-valued function */
    /* a call of a function whose answer can change while the database does
     * not (random(), changes(), the date and time functions, which may read
     * the clock): its results are not to be reused */
    SQL_FACT_VOLATILE = 2,
};

/* Classifies the whole script without running it (prepare only). With
 * single, a second statement is E_BAD_INPUT (see sql_opts_t). */
int sql_classify(store_db_t *db, const char *sql, size_t len, bool single, sql_class_t *cls, err_t *e);
/* The same, also OR-ing every statement's SQL_FACT_* into *facts. */
int sql_inspect(store_db_t *db, const char *sql, size_t len, bool single, sql_class_t *cls, unsigned *facts,
                err_t *e);

#define SQL_MSG_ONE_STATEMENT "Only one statement per request is supported"
/* Runs every statement in order; the LAST one's rows go to the sink (earlier
 * ones run to completion). Read-class statements stop stepping once the cap
 * is known to be exceeded; writes always run to the end. On error nothing
 * is undone here: callers run writes inside a savepoint. */
int sql_run(store_db_t *db, const char *sql, size_t len, const sql_opts_t *o, const sql_sink_t *sink, void *ctx,
            sql_result_t *res, err_t *e);

const char *sql_class_name(sql_class_t c);

/* Prepares SQL the engine built itself (never user text: core/rows, the
 * Lua db handles) through the connection's statement cache, so the shapes
 * it repeats are parsed once; cls is what the statement is, kept for user
 * SQL of the very same text. Give it back with store_finalize. */
int sql_prepare_engine(store_db_t *c, const char *sql, size_t len, sql_class_t cls, store_stmt_t **out);

/* Literal lifting: reads that differ only in their literals share one
 * prepared statement. "SELECT * FROM users WHERE id = 42" is prepared as
 * "SELECT * FROM users WHERE id = ?1" and 42 bound, so a client that writes
 * its values into the SQL text still hits the statement cache. Lifted:
 * decimal integers that fit 64 bits and '…' strings standing in WHERE,
 * HAVING, ON or LIMIT/OFFSET; never in a result list (a literal names its
 * column there), ORDER/GROUP BY (an integer is a column number), FROM
 * (table-valued function arguments), nor anything inside parentheses
 * opened there. Only single statements that begin with SELECT or WITH and
 * have no parameters of their own; sql_run uses the lifted text only when
 * it prepares as a read with exactly those parameters, and otherwise the
 * text as written (so errors always speak of what the client sent). */
#define SQL_LIFT_MAX 32
enum { SQL_LIT_INT = 1, SQL_LIT_TEXT = 2 };
typedef struct {
    int kind;      /* SQL_LIT_* */
    const char *s; /* TEXT: the characters between the quotes, in the caller's text */
    size_t len;
    int64_t i; /* INT */
    bool doubled; /* TEXT: has '' to undo */
    size_t at, tok; /* the literal's token in the caller's text: offset, length */
} sql_literal_t;
typedef struct {
    buf_t text; /* the lifted statement, literals as ?1..?n */
    int n;
    sql_literal_t lit[SQL_LIFT_MAX];
} sql_lifted_t;
/* Fills out (its text buffer initialised by the caller) and returns the
 * number of literals lifted; 0 if the text is not lifted. Pure. */
int sql_lift(const char *sql, size_t len, sql_lifted_t *out);
/* Binds the literals to a statement prepared from out->text. */
void sql_lift_bind(const sql_lifted_t *l, store_stmt_t *st, buf_t *scratch);

/* The largest answer built in memory (--max-response-bytes); set once at
 * start, before any thread runs SQL. */
void sql_set_max_response_bytes(size_t n);
size_t sql_max_response_bytes(void);

/* An identifier as written into generated SQL: bare when plain ASCII
 * ([A-Za-z_][A-Za-z0-9_]*) and not an SQL word, else double-quoted. Any
 * name is safe through it. */
void sql_ident(buf_t *b, const char *name);
/* s between q quotes, inner q doubled ("a""b", 'it''s'). */
void sql_quote(buf_t *b, const char *s, char q);

#endif
