/* names: the name rule (see names.h). */
#include "core/names.h"

#include <string.h>

#include "util/utf8.h"

static const char *route_words[] = {"v1",     "api",          "dbs",           "fns", "readonly",
                                     "health", "verify-email", "password-reset", "static", NULL};

bool name_valid(const char *s, size_t n) {
    if (n == 0 || n > NAME_MAX_BYTES) return false;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    bool first = true;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (!k) return false;
        if (first) {
            if (cp != '_' && !uni_xid_start(cp)) return false;
            first = false;
        } else if (cp != '-' && !uni_xid_continue(cp)) {
            return false;
        }
        i += k;
    }
    return true;
}

bool name_is_route_word(const char *s) {
    for (int i = 0; route_words[i]; i++)
        if (strcmp(s, route_words[i]) == 0) return true;
    return false;
}

int name_check_db(const char *s, err_t *e) {
    size_t n = strlen(s);
    if (!name_valid(s, n)) return err_set(e, E_INVALID_NAME, "'%s' is not a valid database name", s);
    if (s[0] == '_') return err_set(e, E_INTERNAL_NAME, "names starting with '_' are internal");
    if (name_is_route_word(s)) return err_set(e, E_RESERVED_NAME, "'%s' is a reserved word", s);
    return 0;
}

void name_sanitize(const char *stem, buf_t *out) {
    size_t start = out->len;
    const unsigned char *p = (const unsigned char *)stem;
    size_t n = strlen(stem), i = 0;
    while (i < n && out->len - start < NAME_MAX_BYTES - 4) {
        uint32_t cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        bool ok = k && (cp == '-' || uni_xid_continue(cp));
        if (ok) buf_append(out, p + i, k);
        else buf_putc(out, '_');
        i += k ? k : 1;
    }
    uint32_t cp0 = 0;
    if (out->len > start) utf8_decode((unsigned char *)out->data + start, out->len - start, &cp0);
    if (out->len == start || !uni_xid_start(cp0)) {
        /* Prefix a letter: a leading digit is invalid and '_' would be internal. */
        buf_t t = BUF_INIT;
        buf_puts(&t, "db");
        if (out->len > start && out->data[start] != '_') buf_putc(&t, '_');
        buf_append(&t, out->data + start, out->len - start);
        out->len = start;
        buf_append(out, t.data, t.len);
        buf_free(&t);
    }
    if (name_is_route_word(out->data + start)) buf_puts(out, "_db");
}
