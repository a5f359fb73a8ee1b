/* err: the typed error every core function reports. Core says what went
 * wrong (kind + human text); each dialect decides status code and shape. */
#ifndef ATRIUM_CORE_ERR_H
#define ATRIUM_CORE_ERR_H

typedef enum {
    E_OK = 0,
    E_BAD_INPUT,       /* malformed or missing input */
    E_NO_TOKEN,        /* authentication needed, none given */
    E_BAD_TOKEN,       /* unknown or revoked token */
    E_EXPIRED_TOKEN,   /* a token past its expiry */
    E_BAD_CREDENTIALS, /* wrong user name or password */
    E_FORBIDDEN,       /* authenticated, but not allowed */
    E_NOT_FOUND,
    E_EXISTS,
    E_INVALID_NAME,  /* breaks the naming rule */
    E_INTERNAL_NAME, /* starts with '_' (reserved for the engine) */
    E_RESERVED_NAME, /* a route word */
    E_DEFAULT_USER,  /* the built-in admin cannot be removed */
    E_IN_USE,
    E_TIMEOUT,
    E_TOO_BIG, /* a result or value over the configured limit */
    E_SQL,      /* SQLite refused; sql_code holds the extended code */
    E_REDUCER,  /* a module's reducer failed, or tripped a sandbox limit: its text */
    E_INTERNAL, /* our fault or the machine's (I/O, corruption) */
} err_kind_t;

/* Finer reasons within a kind, for dialects whose wording depends on them
 * (so no dialect ever compares error texts). */
typedef enum {
    ES_NONE = 0,
    ES_EMPTY_QUERY,      /* E_BAD_INPUT: no statement at all */
    ES_MANY_STATEMENTS,  /* E_BAD_INPUT: more than one where one is allowed */
    ES_UNDECODABLE,      /* E_BAD_INPUT: a given value could not be bound */
    ES_OFF_LOOP,         /* E_TIMEOUT: the work must run off the event loop */
    ES_NOT_ALLOWED,      /* E_FORBIDDEN: a statement kind the SQL policy refuses;
                            detail names its verb when it is one of BEGIN, COMMIT,
                            ROLLBACK, SAVEPOINT, RELEASE, ATTACH, DETACH, VACUUM */
    ES_LIMIT,            /* E_REDUCER: a sandbox limit tripped, not the module's own error */
} err_sub_t;

typedef struct {
    err_kind_t kind;
    err_sub_t sub;
    int sql_code;
    char detail[16]; /* per sub-code (see there); else empty */
    char msg[512];
} err_t;

/* Fills e (if non-NULL) and returns -1, so callers can `return err_set(…)`. */
int err_set(err_t *e, err_kind_t kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int err_sql(err_t *e, int code, const char *msg);
/* err_set with a sub-code. */
int err_set_sub(err_t *e, err_kind_t kind, err_sub_t sub, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void err_clear(err_t *e);

#endif
