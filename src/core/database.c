/* database: per-database operations (see database.h). */
#include "core/database.h"

#include "store/store.h"

int database_schema_text(const db_t *d, bool tables_only, buf_t *out, err_t *e) {
    store_db_t *s;
    char msg[256];
    int rc = store_open(d->path, STORE_READONLY, &s, msg, sizeof msg);
    if (rc < 0) return err_set(e, E_INTERNAL, "opening %s: %s", d->name, msg);
    rc = store_schema_text(s, tables_only, out);
    if (rc < 0) err_sql(e, rc, store_errmsg(s));
    store_close(s);
    return rc < 0 ? -1 : 0;
}
