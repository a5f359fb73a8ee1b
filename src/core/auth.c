/* auth: users, passwords, tokens, auth_check (see auth.h). */
#include "core/auth.h"

#include "core/team.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "util/thread.h"
#include "util/buf.h"
#include "util/ids.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define PW_OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEM crypto_pwhash_MEMLIMIT_INTERACTIVE

/* A hash nobody's password matches, verified against for unknown users so
 * that sign-in takes the same time whether or not the user exists. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void) {
    char pw[33];
    random_base32(pw, 32);
    if (crypto_pwhash_str(dummy_hash, pw, strlen(pw), PW_OPS, PW_MEM) != 0) dummy_hash[0] = 0;
}

static int hash_password(const char *pw, char out[crypto_pwhash_STRBYTES], err_t *e) {
    ASSERT_OFF_LOOP();
    if (crypto_pwhash_str(out, pw, strlen(pw), PW_OPS, PW_MEM) != 0)
        return err_set(e, E_INTERNAL, "out of memory hashing a password");
    return 0;
}

/* Verified tokens are cached per thread, so authenticated requests skip the
 * catalog. Any change to principals, grants or tokens in this process bumps
 * auth_epoch and so invalidates every cache; changes made by another process
 * (the `atrium user` CLI) are seen within CACHE_MAX_AGE_MS. */
#define CACHE_SLOTS 64
#define CACHE_MAX_AGE_MS 1000

typedef struct {
    uint8_t hash[32];
    uint64_t epoch; /* 0: empty */
    int64_t loaded_ms, expires_ms; /* expires_ms 0: never */
    actor_t actor;
} cache_entry_t;

static uint64_t auth_epoch = 1;
/* A pthread key rather than _Thread_local: its destructor frees each
 * thread's cache when the thread ends. */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void make_cache_key(void) { pthread_key_create(&cache_key, free); }

static cache_entry_t *thread_cache(void) {
    pthread_once(&cache_once, make_cache_key);
    cache_entry_t *t = pthread_getspecific(cache_key);
    if (!t) {
        t = xcalloc(CACHE_SLOTS, sizeof *t);
        pthread_setspecific(cache_key, t);
    }
    return t;
}

static void bump_epoch(void) { __atomic_add_fetch(&auth_epoch, 1, __ATOMIC_RELEASE); }

void auth_changed(void) { bump_epoch(); }

static void token_hash(const char *token, uint8_t out[32]) {
    crypto_hash_sha256(out, (const uint8_t *)token, strlen(token));
}

void auth_token_digest(const char *token, uint8_t out[32]) { token_hash(token, out); }

void auth_anonymous(actor_t *a) { memset(a, 0, sizeof *a); }

static int identity_secret(catalog_t *c, uint8_t key[32]);

int auth_init(catalog_t *c, const char *admin_password, char generated[33], err_t *e) {
    generated[0] = 0;
    pthread_once(&dummy_once, make_dummy);
    /* Made (and stored) now, so no request ever writes it on a loop. */
    uint8_t key[32];
    if (identity_secret(c, key) < 0) return err_set(e, E_INTERNAL, "cannot store the identity secret");
    sodium_memzero(key, sizeof key);
    int64_t id = auth_user_id(c, "admin");
    if (id) {
        if (admin_password && *admin_password) {
            char *hash = NULL;
            store_db_t *s = catalog_lock(c);
            store_stmt_t *st;
            if (store_cached(s, "SELECT pw_hash FROM principals WHERE id = ?", &st) == 0) {
                store_bind_int(st, 1, id);
                if (store_step(st) == STORE_ROW) hash = xstrdup(store_col_text(st, 0, NULL));
                store_reset(st);
            }
            catalog_unlock(c);
            if (!hash || crypto_pwhash_str_verify(hash, admin_password, strlen(admin_password)) != 0)
                fprintf(stderr, "atrium: warning: the admin password given does not match the stored one; "
                                "it only sets the password on first start (keeping the stored one)\n");
            free(hash);
        }
        return 0;
    }
    const char *pw = admin_password;
    if (!pw || !*pw) {
        random_base32(generated, 24);
        pw = generated;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (hash_password(pw, hash, e) < 0) return -1;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    char ident[IDENTITY_HEX_LEN + 1];
    identity_derive("user:admin", ident);
    int rc = store_cached(s,
                          "INSERT INTO principals(kind, name, pw_hash, is_admin, created_ms, identity)"
                          " VALUES ('user', 'admin', ?, 1, ?, ?)",
                          &st);
    if (rc == 0) {
        store_bind_text(st, 1, hash, strlen(hash));
        store_bind_int(st, 2, time_now_ms());
        store_bind_text(st, 3, ident, strlen(ident));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "creating admin: %s", store_errmsg(s));
    catalog_unlock(c);
    return rc < 0 ? -1 : 0;
}

/* The stored identity of a principal, derived from "user:<name>" and
 * stored the first time it is needed (lock held). */
static void identity_locked(store_db_t *s, int64_t id, char out[IDENTITY_HEX_LEN + 1]) {
    store_stmt_t *st;
    out[0] = 0;
    char name[300] = "";
    if (store_cached(s, "SELECT identity, name FROM principals WHERE id = ?", &st) < 0) return;
    store_bind_int(st, 1, id);
    if (store_step(st) == STORE_ROW) {
        snprintf(out, IDENTITY_HEX_LEN + 1, "%s", store_col_text(st, 0, NULL));
        snprintf(name, sizeof name, "user:%s", store_col_text(st, 1, NULL));
    }
    store_reset(st);
    if (out[0] || !name[0]) return;
    identity_derive(name, out);
    if (store_cached(s, "UPDATE principals SET identity = ? WHERE id = ?", &st) == 0) {
        store_bind_text(st, 1, out, strlen(out));
        store_bind_int(st, 2, id);
        store_step(st);
        store_reset(st);
    }
}

void auth_principal_identity(catalog_t *c, int64_t principal_id, char out[IDENTITY_HEX_LEN + 1]) {
    store_db_t *s = catalog_lock(c);
    identity_locked(s, principal_id, out);
    catalog_unlock(c);
}

void auth_principal_name(catalog_t *c, int64_t principal_id, char *out, size_t n) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    out[0] = 0;
    if (store_cached(s, "SELECT coalesce(name, '') FROM principals WHERE id = ?", &st) == 0) {
        store_bind_int(st, 1, principal_id);
        if (store_step(st) == STORE_ROW) snprintf(out, n, "%s", store_col_text(st, 0, NULL));
        store_reset(st);
    }
    catalog_unlock(c);
}

/* Anonymous identity tokens are "atr_" + base64url(seed[16] || mac[16]),
 * mac = BLAKE2b-128 keyed with the catalog's secret: verifiable without a
 * catalog row. The secret is made once and kept in system.db's settings. */
#define SEED_LEN 16
#define SEAL_LEN 16

static pthread_mutex_t secret_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t secret_key[32];
static const catalog_t *secret_of; /* which catalog the cached key is for */

static int identity_secret(catalog_t *c, uint8_t key[32]) {
    pthread_mutex_lock(&secret_lock);
    if (secret_of == c) {
        memcpy(key, secret_key, 32);
        pthread_mutex_unlock(&secret_lock);
        return 0;
    }
    int rc = -1;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    char hex[65] = "";
    if (store_cached(s, "SELECT value FROM settings WHERE key = 'identity_secret'", &st) == 0) {
        if (store_step(st) == STORE_ROW) snprintf(hex, sizeof hex, "%s", store_col_text(st, 0, NULL));
        store_reset(st);
    }
    if (strlen(hex) != 64) {
        uint8_t fresh[32];
        randombytes_buf(fresh, sizeof fresh);
        hex_encode(fresh, sizeof fresh, hex);
        if (store_cached(s, "INSERT OR REPLACE INTO settings(key, value) VALUES ('identity_secret', ?)", &st) == 0) {
            store_bind_text(st, 1, hex, 64);
            if (store_step(st) < 0) hex[0] = 0;
            store_reset(st);
        }
    }
    catalog_unlock(c);
    if (strlen(hex) == 64 && hex_decode(hex, 64, secret_key, 32) == 32) {
        secret_of = c;
        memcpy(key, secret_key, 32);
        rc = 0;
    }
    sodium_memzero(hex, sizeof hex);
    pthread_mutex_unlock(&secret_lock);
    return rc;
}

static void seal(const uint8_t key[32], const uint8_t seed[SEED_LEN], uint8_t mac[SEAL_LEN]) {
    crypto_generichash(mac, SEAL_LEN, seed, SEED_LEN, key, 32);
}

static void seed_identity(const uint8_t seed[SEED_LEN], char out[IDENTITY_HEX_LEN + 1]) {
    char sub[5 + 2 * SEED_LEN + 1] = "anon:";
    hex_encode(seed, SEED_LEN, sub + 5);
    identity_derive(sub, out);
}

int auth_identity_create(catalog_t *c, char identity[IDENTITY_HEX_LEN + 1], char token[TOKEN_MAX_LEN], err_t *e) {
    uint8_t key[32], raw[SEED_LEN + SEAL_LEN];
    if (identity_secret(c, key) < 0) return err_set(e, E_INTERNAL, "cannot read the catalog's identity secret");
    randombytes_buf(raw, SEED_LEN);
    seal(key, raw, raw + SEED_LEN);
    sodium_memzero(key, sizeof key);
    seed_identity(raw, identity);
    buf_t t = BUF_INIT;
    buf_puts(&t, "atr_");
    b64url_encode(&t, raw, sizeof raw);
    snprintf(token, TOKEN_MAX_LEN, "%s", t.data);
    buf_free(&t);
    return 0;
}

/* If token is a sealed anonymous identity token, its identity. */
static bool sealed_identity(catalog_t *c, const char *token, char identity[IDENTITY_HEX_LEN + 1]) {
    if (strncmp(token, "atr_", 4) != 0) return false;
    uint8_t raw[SEED_LEN + SEAL_LEN + 4], key[32], mac[SEAL_LEN];
    if (b64url_decode(token + 4, strlen(token + 4), raw, sizeof raw) != SEED_LEN + SEAL_LEN) return false;
    if (identity_secret(c, key) < 0) return false;
    seal(key, raw, mac);
    sodium_memzero(key, sizeof key);
    if (sodium_memcmp(mac, raw + SEED_LEN, SEAL_LEN) != 0) return false;
    seed_identity(raw, identity);
    return true;
}

static int64_t principal_by_identity_locked(store_db_t *s, const char *identity) {
    store_stmt_t *st;
    int64_t id = 0;
    if (store_cached(s, "SELECT id FROM principals WHERE identity = ?", &st) == 0) {
        store_bind_text(st, 1, identity, strlen(identity));
        if (store_step(st) == STORE_ROW) id = store_col_int(st, 0);
        store_reset(st);
    }
    return id;
}

int auth_identity_persist(catalog_t *c, actor_t *a, err_t *e) {
    ASSERT_OFF_LOOP();
    if (!a->ephemeral) return 0;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s,
                          "INSERT INTO principals(kind, identity, created_ms) VALUES ('identity', ?, ?)"
                          " ON CONFLICT(identity) DO NOTHING",
                          &st);
    if (rc == 0) {
        store_bind_text(st, 1, a->identity, strlen(a->identity));
        store_bind_int(st, 2, time_now_ms());
        rc = store_step(st);
        store_reset(st);
    }
    int64_t id = rc < 0 ? 0 : principal_by_identity_locked(s, a->identity);
    if (!id) err_set(e, E_INTERNAL, "storing identity: %s", store_errmsg(s));
    catalog_unlock(c);
    if (!id) return -1;
    a->principal_id = id;
    a->ephemeral = false;
    bump_epoch();
    return 0;
}

/* Loads name, identity, admin flag and grants of a principal into a (lock held). */
static int load_principal(store_db_t *s, int64_t id, actor_t *a) {
    store_stmt_t *st;
    if (store_cached(s, "SELECT coalesce(name, ''), is_admin FROM principals WHERE id = ?", &st) < 0) return -1;
    store_bind_int(st, 1, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        snprintf(a->name, sizeof a->name, "%s", store_col_text(st, 0, NULL));
        a->is_admin = store_col_int(st, 1) != 0;
        a->principal_id = id;
    }
    store_reset(st);
    if (rc != STORE_ROW) return -1;
    identity_locked(s, id, a->identity);
    a->ngrants = 0;
    if (store_cached(s, "SELECT db, actions FROM grants WHERE principal_id = ? ORDER BY db", &st) < 0) return -1;
    store_bind_int(st, 1, id);
    while (store_step(st) == STORE_ROW && a->ngrants < AUTH_MAX_GRANTS) {
        grant_t *g = &a->grants[a->ngrants++];
        snprintf(g->db, sizeof g->db, "%s", store_col_text(st, 0, NULL));
        g->actions = (unsigned)store_col_int(st, 1);
    }
    store_reset(st);
    a->nteams = 0;
    if (store_cached(s, "SELECT team_id, roles FROM team_members WHERE user_id = ? ORDER BY team_id", &st) < 0)
        return -1;
    store_bind_int(st, 1, id);
    while (store_step(st) == STORE_ROW && a->nteams < AUTH_MAX_TEAMS) {
        a->teams[a->nteams].id = store_col_int(st, 0);
        a->teams[a->nteams++].roles = (unsigned)store_col_int(st, 1);
    }
    store_reset(st);
    return 0;
}

int auth_verify_token(catalog_t *c, const char *token, actor_t *a, err_t *e) {
    auth_anonymous(a);
    size_t tl = strlen(token);
    if (tl == 0 || tl >= TOKEN_MAX_LEN) return err_set(e, E_BAD_TOKEN, "Invalid token supplied.");
    uint8_t h[32];
    token_hash(token, h);
    int64_t now = time_now_ms();
    uint64_t epoch = __atomic_load_n(&auth_epoch, __ATOMIC_ACQUIRE);
    cache_entry_t *slot = &thread_cache()[h[0] % CACHE_SLOTS];
    if (slot->epoch == epoch && memcmp(slot->hash, h, 32) == 0 && now - slot->loaded_ms < CACHE_MAX_AGE_MS &&
        (slot->expires_ms == 0 || slot->expires_ms > now)) {
        *a = slot->actor;
        return 0;
    }
    char sealed[IDENTITY_HEX_LEN + 1];
    bool is_sealed = sealed_identity(c, token, sealed);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int64_t pid = 0, expires = 0;
    bool ok = false, expired = false;
    if (is_sealed) {
        /* An anonymous identity: stored only once it needed to be. */
        pid = principal_by_identity_locked(s, sealed);
        ok = true;
        if (!pid) {
            a->ephemeral = true;
            memcpy(a->identity, sealed, sizeof sealed);
        }
    } else if (store_cached(s, "SELECT principal_id, expires_ms FROM tokens WHERE hash = ?", &st) == 0) {
        store_bind_blob(st, 1, h, 32);
        if (store_step(st) == STORE_ROW) {
            pid = store_col_int(st, 0);
            expires = store_col_type(st, 1) == SV_NULL ? 0 : store_col_int(st, 1);
            ok = expires == 0 || expires > now;
            expired = !ok;
        }
        store_reset(st);
    }
    if (ok && pid && load_principal(s, pid, a) < 0) ok = false;
    a->token_expires_ms = expires;
    if (ok && !is_sealed && store_cached(s, "SELECT db, actions FROM token_scopes WHERE token_hash = ?", &st) == 0) {
        store_bind_blob(st, 1, h, 32);
        while (store_step(st) == STORE_ROW && a->nscopes < AUTH_MAX_GRANTS) {
            grant_t *g = &a->scopes[a->nscopes++];
            snprintf(g->db, sizeof g->db, "%s", store_col_text(st, 0, NULL));
            g->actions = (unsigned)store_col_int(st, 1);
            a->scoped = true;
        }
        store_reset(st);
    }
    catalog_unlock(c);
    if (!ok) {
        auth_anonymous(a);
        if (expired) return err_set(e, E_EXPIRED_TOKEN, "Token has expired");
        return err_set(e, E_BAD_TOKEN, "Invalid token supplied.");
    }
    memcpy(slot->hash, h, 32);
    slot->epoch = epoch;
    slot->loaded_ms = now;
    slot->expires_ms = expires;
    slot->actor = *a;
    return 0;
}

/* Stores a new token; expires_ms 0: never. A scoped token keeps at least
 * one scope row (a zero-action one if nothing is left), so that it never
 * reads back as unrestricted. */
static int issue(catalog_t *c, int64_t principal_id, const char *kind, const char *prefix, int64_t expires_ms,
                 const scope_t *scopes, int nscopes, bool scoped, char token[TOKEN_MAX_LEN], err_t *e) {
    ASSERT_OFF_LOOP();
    static const scope_t none = {"*", 0};
    if (scoped && nscopes == 0) {
        scopes = &none;
        nscopes = 1;
    }
    uint8_t secret[32], h[32];
    randombytes_buf(secret, sizeof secret);
    buf_t t = BUF_INIT;
    buf_puts(&t, prefix ? prefix : "atr_");
    b64url_encode(&t, secret, sizeof secret);
    snprintf(token, TOKEN_MAX_LEN, "%s", t.data);
    buf_free(&t);
    token_hash(token, h);
    int64_t now = time_now_ms();
    store_db_t *s = catalog_lock(c);
    store_exec(s, "SAVEPOINT token_issue");
    store_stmt_t *st;
    int rc = store_cached(s,
                          "INSERT INTO tokens(hash, principal_id, kind, created_ms, expires_ms)"
                          " VALUES (?, ?, ?, ?, ?)",
                          &st);
    if (rc == 0) {
        store_bind_blob(st, 1, h, 32);
        store_bind_int(st, 2, principal_id);
        store_bind_text(st, 3, kind, strlen(kind));
        store_bind_int(st, 4, now);
        if (expires_ms > 0) store_bind_int(st, 5, expires_ms);
        rc = store_step(st);
        store_reset(st);
    }
    for (int i = 0; rc >= 0 && i < nscopes; i++) {
        rc = store_cached(s, "INSERT INTO token_scopes(token_hash, db, actions) VALUES (?, ?, ?)", &st);
        if (rc < 0) break;
        store_bind_blob(st, 1, h, 32);
        store_bind_text(st, 2, scopes[i].db, strlen(scopes[i].db));
        store_bind_int(st, 3, scopes[i].actions);
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) {
        err_set(e, E_INTERNAL, "issuing token: %s", store_errmsg(s));
        store_exec(s, "ROLLBACK TO token_issue");
    }
    store_exec(s, "RELEASE token_issue");
    catalog_unlock(c);
    if (rc < 0) token[0] = 0;
    return rc < 0 ? -1 : 0;
}

/* The expiry of a token living ttl_s seconds from now (0: never). */
static int expiry_after(int64_t ttl_s, int64_t *expires_ms, err_t *e) {
    if (ttl_s > AUTH_MAX_TTL_S)
        return err_set(e, E_BAD_INPUT, "token lifetime too long (at most %lld seconds)", (long long)AUTH_MAX_TTL_S);
    *expires_ms = ttl_s > 0 ? time_now_ms() + ttl_s * 1000 : 0;
    return 0;
}

int auth_token_issue(catalog_t *c, int64_t principal_id, const char *kind, const char *prefix, int64_t ttl_s,
                     const scope_t *scopes, int nscopes, char token[TOKEN_MAX_LEN], err_t *e) {
    token[0] = 0;
    int64_t expires = 0;
    if (expiry_after(ttl_s, &expires, e) < 0) return -1;
    return issue(c, principal_id, kind, prefix, expires, scopes, nscopes, nscopes > 0, token, e);
}

/* Adds (db, actions) to out unless it grants nothing. */
static void add_scope(scope_t *out, int *n, const char *db, unsigned actions) {
    if (!actions || *n >= AUTH_MAX_GRANTS) return;
    for (int i = 0; i < *n; i++)
        if (strcmp(out[i].db, db) == 0) {
            out[i].actions |= actions;
            return;
        }
    out[(*n)++] = (scope_t){db, actions};
}

int auth_token_derive(catalog_t *c, actor_t *parent, const char *kind, const char *prefix, int64_t ttl_s,
                      const scope_t *scopes, int nscopes, char token[TOKEN_MAX_LEN], err_t *e) {
    token[0] = 0;
    int64_t expires = 0;
    if (expiry_after(ttl_s, &expires, e) < 0) return -1;
    if (!parent->principal_id && !parent->ephemeral) return err_set(e, E_NO_TOKEN, "sign in first");
    if (auth_identity_persist(c, parent, e) < 0) return -1;
    if (parent->token_expires_ms && (!expires || expires > parent->token_expires_ms))
        expires = parent->token_expires_ms;
    scope_t out[AUTH_MAX_GRANTS];
    int n = 0;
    bool scoped = nscopes > 0 || parent->scoped;
    if (!parent->scoped) {
        for (int i = 0; i < nscopes; i++) add_scope(out, &n, scopes[i].db, scopes[i].actions);
    } else if (nscopes == 0) {
        for (int i = 0; i < parent->nscopes; i++) add_scope(out, &n, parent->scopes[i].db, parent->scopes[i].actions);
    } else {
        /* The intersection: what both the request and the parent allow. */
        for (int i = 0; i < nscopes; i++)
            for (int k = 0; k < parent->nscopes; k++) {
                const grant_t *p = &parent->scopes[k];
                unsigned both = scopes[i].actions & p->actions;
                if (strcmp(p->db, "*") == 0 || strcmp(p->db, scopes[i].db) == 0) add_scope(out, &n, scopes[i].db, both);
                else if (strcmp(scopes[i].db, "*") == 0) add_scope(out, &n, p->db, both);
            }
    }
    return issue(c, parent->principal_id, kind, prefix, expires, out, n, scoped, token, e);
}

int auth_token_revoke(catalog_t *c, const char *token) {
    ASSERT_OFF_LOOP();
    uint8_t h[32];
    token_hash(token, h);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "DELETE FROM tokens WHERE hash = ?", &st);
    if (rc == 0) {
        store_bind_blob(st, 1, h, 32);
        rc = store_step(st);
        store_reset(st);
    }
    catalog_unlock(c);
    bump_epoch();
    return rc < 0 ? -1 : 0;
}

int auth_signin(catalog_t *c, const char *user, const char *password, int64_t ttl_s, char token[TOKEN_MAX_LEN],
                err_t *e) {
    ASSERT_OFF_LOOP();
    pthread_once(&dummy_once, make_dummy);
    char *hash = NULL;
    int64_t id = 0;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT id, pw_hash FROM principals WHERE kind = 'user' AND name = ?", &st) == 0) {
        store_bind_text(st, 1, user, strlen(user));
        if (store_step(st) == STORE_ROW && store_col_type(st, 1) == SV_TEXT) {
            id = store_col_int(st, 0);
            hash = xstrdup(store_col_text(st, 1, NULL));
        }
        store_reset(st);
    }
    catalog_unlock(c);
    /* Verify outside the lock: it takes tens of milliseconds by design. */
    bool ok = crypto_pwhash_str_verify(hash ? hash : dummy_hash, password, strlen(password)) == 0 && hash;
    free(hash);
    if (!ok) {
        metrics_inc1(MET_AUTH_FAILURES, "bad_password");
        return err_set(e, E_BAD_CREDENTIALS, "Invalid credential supplied.");
    }
    return auth_token_issue(c, id, "signin", "atr_", ttl_s, NULL, 0, token, e);
}

int64_t auth_user_id(catalog_t *c, const char *name) {
    int64_t id = 0;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT id FROM principals WHERE kind = 'user' AND name = ?", &st) == 0) {
        store_bind_text(st, 1, name, strlen(name));
        if (store_step(st) == STORE_ROW) id = store_col_int(st, 0);
        store_reset(st);
    }
    catalog_unlock(c);
    return id;
}

bool auth_user_is_admin(catalog_t *c, int64_t id) {
    bool admin = false;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT is_admin FROM principals WHERE id = ?", &st) == 0) {
        store_bind_int(st, 1, id);
        if (store_step(st) == STORE_ROW) admin = store_col_int(st, 0) != 0;
        store_reset(st);
    }
    catalog_unlock(c);
    return admin;
}

int auth_user_create(catalog_t *c, const char *name, const char *password, err_t *e) {
    if (!name_valid(name, strlen(name))) return err_set(e, E_INVALID_NAME, "Invalid credential supplied.");
    if (!*password) return err_set(e, E_BAD_INPUT, "Incomplete user detail.");
    if (auth_user_id(c, name)) return err_set(e, E_EXISTS, "User already exists.");
    char hash[crypto_pwhash_STRBYTES];
    if (hash_password(password, hash, e) < 0) return -1;
    store_db_t *s = catalog_lock(c);
    store_exec(s, "SAVEPOINT user_create");
    store_stmt_t *st;
    /* The identity is stored now, so verifying a token never writes it. */
    buf_t sub = BUF_INIT;
    buf_printf(&sub, "user:%s", name);
    char ident[IDENTITY_HEX_LEN + 1];
    identity_derive(sub.data, ident);
    buf_free(&sub);
    int rc = store_cached(
        s, "INSERT INTO principals(kind, name, pw_hash, created_ms, identity) VALUES ('user', ?, ?, ?, ?)", &st);
    if (rc == 0) {
        store_bind_text(st, 1, name, strlen(name));
        store_bind_text(st, 2, hash, strlen(hash));
        store_bind_int(st, 3, time_now_ms());
        store_bind_text(st, 4, ident, strlen(ident));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc >= 0) {
        /* Every user may create databases (and owns what it creates); it
         * holds no rights on anyone else's (spec/typedb.md §2). */
        int64_t id = store_last_rowid(s);
        rc = store_cached(s, "INSERT INTO grants(principal_id, db, actions) VALUES (?, '" AUTH_INSTANCE "', ?)", &st);
        if (rc == 0) {
            store_bind_int(st, 1, id);
            store_bind_int(st, 2, ACT_SCHEMA);
            rc = store_step(st);
            store_reset(st);
        }
    }
    if (rc < 0) {
        /* A concurrent create of the same name loses the UNIQUE race here. */
        bool dup = (-rc & 0xff) == 19; /* SQLITE_CONSTRAINT */
        if (dup) err_set(e, E_EXISTS, "User already exists.");
        else err_set(e, E_INTERNAL, "creating user: %s", store_errmsg(s));
        store_exec(s, "ROLLBACK TO user_create");
    }
    store_exec(s, "RELEASE user_create");
    catalog_unlock(c);
    bump_epoch();
    return rc < 0 ? -1 : 0;
}

/* Revokes a user's sessions and derived tokens; the API tokens of their
 * personal team belong to the team's applications and stay. */
static int revoke_all_locked(store_db_t *s, int64_t id) {
    store_stmt_t *st;
    int rc = store_cached(s, "DELETE FROM tokens WHERE principal_id = ? AND kind != 'api'", &st);
    if (rc < 0) return rc;
    store_bind_int(st, 1, id);
    rc = store_step(st);
    store_reset(st);
    return rc;
}

int auth_user_set_password(catalog_t *c, const char *name, const char *password, err_t *e) {
    if (!*password) return err_set(e, E_BAD_INPUT, "User detail not provided.");
    int64_t id = auth_user_id(c, name);
    if (!id) return err_set(e, E_NOT_FOUND, "User not found.");
    char hash[crypto_pwhash_STRBYTES];
    if (hash_password(password, hash, e) < 0) return -1;
    store_db_t *s = catalog_lock(c);
    store_exec(s, "SAVEPOINT user_pw");
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE principals SET pw_hash = ? WHERE id = ?", &st);
    if (rc == 0) {
        store_bind_text(st, 1, hash, strlen(hash));
        store_bind_int(st, 2, id);
        rc = store_step(st);
        store_reset(st);
    }
    if (rc >= 0) rc = revoke_all_locked(s, id);
    if (rc < 0) {
        err_set(e, E_INTERNAL, "changing password: %s", store_errmsg(s));
        store_exec(s, "ROLLBACK TO user_pw");
    }
    store_exec(s, "RELEASE user_pw");
    catalog_unlock(c);
    bump_epoch();
    return rc < 0 ? -1 : 0;
}

int auth_user_delete(catalog_t *c, const char *name, err_t *e) {
    ASSERT_OFF_LOOP();
    if (strcmp(name, "admin") == 0) return err_set(e, E_DEFAULT_USER, "Default user cannot be deleted.");
    int64_t id = auth_user_id(c, name);
    if (!id) return err_set(e, E_NOT_FOUND, "User not found.");
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    /* Tokens and grants go with the principal (ON DELETE CASCADE). */
    int rc = store_cached(s, "DELETE FROM principals WHERE id = ?", &st);
    if (rc == 0) {
        store_bind_int(st, 1, id);
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "deleting user: %s", store_errmsg(s));
    catalog_unlock(c);
    bump_epoch();
    return rc < 0 ? -1 : 0;
}

size_t auth_user_list(catalog_t *c, char ***names) {
    size_t n = 0, cap = 16;
    char **out = xmalloc(cap * sizeof *out);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT name FROM principals WHERE kind = 'user' ORDER BY name", &st) == 0) {
        while (store_step(st) == STORE_ROW) {
            if (n == cap) out = xrealloc(out, (cap *= 2) * sizeof *out);
            out[n++] = xstrdup(store_col_text(st, 0, NULL));
        }
        store_reset(st);
    }
    catalog_unlock(c);
    *names = out;
    return n;
}

/* A grant's db is a database id, "*" (the instance and every database) or
 * AUTH_INSTANCE (the instance alone: e.g. creating databases, which does
 * not give rights on anyone else's). */
static bool grants_allow(const grant_t *g, int n, const db_t *db, unsigned action) {
    for (int i = 0; i < n; i++) {
        bool match = strcmp(g[i].db, "*") == 0 || (db ? strcmp(g[i].db, db->id) == 0
                                                      : strcmp(g[i].db, AUTH_INSTANCE) == 0);
        unsigned have = g[i].actions | (g[i].actions & ACT_WRITE ? (unsigned)ACT_INSERT : 0u);
        if (match && (have & action) == action) return true;
    }
    return false;
}

unsigned auth_action_for(sql_class_t cls) {
    return cls == SQL_SCHEMA ? ACT_SCHEMA : cls == SQL_WRITE ? ACT_WRITE : ACT_READ;
}

bool auth_check(const actor_t *a, const db_t *db, unsigned action) {
    /* a locked schema changes for no one, on any door, until its owner unlocks it */
    if (db && (action & ACT_SCHEMA) && db_schema_locked(db)) return false;
    /* What anyone may do, a restricted token may do too. */
    if (db && db_public(db) && action == ACT_READ) return true;
    if (a->scoped && !grants_allow(a->scopes, a->nscopes, db, action)) return false;
    if (a->is_admin) return true;
    if (!a->principal_id) return false;
    if (db) {
        /* the owner: a user (or the team a team's API token speaks for), or a team of the user's */
        int64_t owner = db_owner(db);
        if (owner && owner == a->principal_id) return true;
        for (int i = 0; owner && i < a->nteams; i++) {
            unsigned have = team_role_actions(a->teams[i].roles);
            have |= have & ACT_WRITE ? (unsigned)ACT_INSERT : 0u;
            if (a->teams[i].id == owner && (have & action) == action) return true;
        }
    }
    return grants_allow(a->grants, a->ngrants, db, action);
}

unsigned auth_team_roles(const actor_t *a, int64_t team_id, bool personal) {
    if (a->scoped || !a->principal_id) return 0;
    if (a->is_admin) return ROLE_ALL;
    if (personal) return a->principal_id == team_id ? (unsigned)ROLE_ADMIN : 0u;
    for (int i = 0; i < a->nteams; i++)
        if (a->teams[i].id == team_id) return a->teams[i].roles;
    return 0;
}

bool auth_check_user(const actor_t *a, const char *name) {
    if (auth_check(a, NULL, ACT_ADMIN)) return true;
    return a->principal_id && !a->scoped && a->name[0] && strcmp(a->name, name) == 0;
}
