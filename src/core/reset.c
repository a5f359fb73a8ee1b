/* reset: password reset keys (see reset.h). */
#include "core/reset.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "util/buf.h"
#include "util/ids.h"
#include "util/thread.h"
#include "util/timeutil.h"

static bool email_ok(const char *s) {
    const char *at = strchr(s, '@');
    size_t n = strlen(s);
    return n >= 3 && n <= 254 && at && at != s && at[1] && !strchr(at + 1, '@') && !strpbrk(s, " \t\r\n");
}

int reset_set_email(catalog_t *c, const char *user, const char *email, err_t *e) {
    ASSERT_OFF_LOOP();
    if (email && !email_ok(email)) return err_set(e, E_BAD_INPUT, "\"%s\" is not an e-mail address", email);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE principals SET email = ? WHERE kind = 'user' AND name = ?", &st);
    if (rc == 0) {
        if (email) store_bind_text(st, 1, email, strlen(email));
        else store_bind_null(st, 1);
        store_bind_text(st, 2, user, strlen(user));
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    if (rc < 0) {
        bool taken = strstr(store_errmsg(s), "UNIQUE") != NULL;
        if (taken) err_set(e, E_EXISTS, "The e-mail address is already in use");
        else err_set(e, E_INTERNAL, "storing the e-mail address: %s", store_errmsg(s));
    }
    catalog_unlock(c);
    return rc;
}

int reset_issue(catalog_t *c, const char *email, char key[RESET_KEY_LEN + 1], int64_t *expires_ms, err_t *e) {
    ASSERT_OFF_LOOP();
    uint8_t raw[24], h[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(key, RESET_KEY_LEN + 1, raw, sizeof raw);
    crypto_hash_sha256(h, (const uint8_t *)key, strlen(key));
    *expires_ms = time_now_ms() + RESET_TTL_MS;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int64_t uid = 0;
    if (store_cached(s, "SELECT id FROM principals WHERE kind = 'user' AND email = ?", &st) == 0) {
        store_bind_text(st, 1, email, strlen(email));
        if (store_step(st) == STORE_ROW) uid = store_col_int(st, 0);
        store_reset(st);
    }
    int rc = uid ? 0 : err_set(e, E_NOT_FOUND, "No user has the e-mail address \"%s\"", email);
    if (rc == 0 && (rc = store_cached(s, "INSERT INTO reset_keys(hash, user_id, expires_ms) VALUES (?, ?, ?)", &st)) == 0) {
        store_bind_blob(st, 1, h, sizeof h);
        store_bind_int(st, 2, uid);
        store_bind_int(st, 3, *expires_ms);
        if (store_step(st) < 0) rc = err_set(e, E_INTERNAL, "storing the key: %s", store_errmsg(s));
        store_reset(st);
    }
    /* spent and expired keys are forgotten on the way */
    if (rc == 0 && store_cached(s, "DELETE FROM reset_keys WHERE expires_ms < ?", &st) == 0) {
        store_bind_int(st, 1, time_now_ms());
        store_step(st);
        store_reset(st);
    }
    catalog_unlock(c);
    if (rc < 0) sodium_memzero(key, RESET_KEY_LEN + 1);
    return rc;
}

int reset_submit(catalog_t *c, const char *key, const char *password, err_t *e) {
    ASSERT_OFF_LOOP();
    uint8_t h[32];
    crypto_hash_sha256(h, (const uint8_t *)key, strlen(key));
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    char name[256] = "";
    /* the key is spent whatever happens next: single use */
    if (store_cached(s, "DELETE FROM reset_keys WHERE hash = ? AND expires_ms >= ?"
                        " RETURNING (SELECT name FROM principals WHERE id = user_id)", &st) == 0) {
        store_bind_blob(st, 1, h, sizeof h);
        store_bind_int(st, 2, time_now_ms());
        if (store_step(st) == STORE_ROW) snprintf(name, sizeof name, "%s", store_col_text(st, 0, NULL));
        store_reset(st);
    }
    catalog_unlock(c);
    if (!name[0]) return err_set(e, E_BAD_INPUT, "Invalid or expired reset key");
    return auth_user_set_password(c, name, password, e);
}
