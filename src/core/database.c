/* database: per-database operations (see database.h). */
#include "core/database.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "util/thread.h"

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

int database_backup_file(const char *src, const char *dst, database_progress_fn progress, void *ctx, err_t *e) {
    ASSERT_OFF_LOOP();
    struct stat st;
    if (stat(src, &st) < 0) return err_set(e, E_NOT_FOUND, "%s: %s", src, strerror(errno));
    if (lstat(dst, &st) == 0) return err_set(e, E_EXISTS, "%s already exists", dst);
    store_db_t *from = NULL, *to = NULL;
    char msg[256];
    if (store_open(src, STORE_READONLY, &from, msg, sizeof msg) < 0) return err_set(e, E_BAD_INPUT, "%s: %s", src, msg);
    int rc = store_quick_check(from, msg, sizeof msg);
    if (rc < 0) {
        store_close(from);
        return err_set(e, E_BAD_INPUT, "%s is not a healthy SQLite database: %s", src, msg);
    }
    rc = store_open(dst, STORE_CREATE, &to, msg, sizeof msg);
    /* at least one step per call so progress sees the total */
    if (rc == 0) rc = store_backup(to, from, progress, ctx, msg, sizeof msg);
    store_close(to);
    store_close(from);
    if (rc < 0) {
        unlink(dst);
        return err_set(e, E_INTERNAL, "backing up %s: %s", src, msg);
    }
    return 0;
}
