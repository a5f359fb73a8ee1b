/* err: typed errors (see err.h). */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

static int vset(err_t *e, err_kind_t kind, err_sub_t sub, const char *fmt, va_list ap) {
    if (!e) return -1;
    e->kind = kind;
    e->sub = sub;
    e->sql_code = 0;
    e->detail[0] = 0;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int err_set(err_t *e, err_kind_t kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e, kind, ES_NONE, fmt, ap);
    va_end(ap);
    return -1;
}

int err_set_sub(err_t *e, err_kind_t kind, err_sub_t sub, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e, kind, sub, fmt, ap);
    va_end(ap);
    return -1;
}

int err_sql(err_t *e, int code, const char *msg) {
    if (code < 0) code = -code;
    err_set(e, E_SQL, "%s", msg ? msg : "SQL error");
    if (e) e->sql_code = code;
    return -1;
}

void err_clear(err_t *e) {
    e->kind = E_OK;
    e->sub = ES_NONE;
    e->sql_code = 0;
    e->detail[0] = 0;
    e->msg[0] = 0;
}
