/* url: percent, form and tilde coding; query strings (see url.h). */
#include "util/url.h"

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int url_decode_segment(const char *s, size_t n, buf_t *out) {
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == 0) return -1;
        buf_putc(out, c);
    }
    if (!utf8_valid(out->data ? out->data + start : "", out->len - start)) return -1;
    if (!out->data) buf_reserve(out, 0), out->data[0] = 0;
    return 0;
}

void url_decode_form(const char *s, size_t n, buf_t *out) {
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') c = ' ';
        else if (c == '%' && i + 2 < n) {
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h >= 0 && l >= 0) {
                c = (char)(h * 16 + l);
                i += 2;
            }
        }
        buf_putc(out, c);
    }
}

void url_encode(buf_t *out, const char *s, size_t n, const char *keep) {
    static const char hx[] = "0123456789ABCDEF";
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c && keep && strchr(keep, c))) {
            buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hx[c >> 4], hx[c & 15]};
            buf_append(out, e, 3);
        }
    }
}

void url_encode_form(buf_t *out, const char *s, size_t n) {
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
            c == '-' || c == '~') {
            buf_putc(out, (char)c);
        } else if (c == ' ') {
            buf_putc(out, '+');
        } else {
            char e[3] = {'%', hx[c >> 4], hx[c & 15]};
            buf_append(out, e, 3);
        }
    }
}

void qs_parse(qs_t *q, const char *s, size_t n) {
    q->pairs = NULL;
    q->n = 0;
    size_t cap = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&') j++;
        if (j > i) {
            size_t eq = i;
            while (eq < j && s[eq] != '=') eq++;
            buf_t k = BUF_INIT, v = BUF_INIT;
            url_decode_form(s + i, eq - i, &k);
            if (eq < j) url_decode_form(s + eq + 1, j - eq - 1, &v);
            if (q->n == cap) {
                cap = cap ? cap * 2 : 8;
                q->pairs = xrealloc(q->pairs, cap * sizeof *q->pairs);
            }
            q->pairs[q->n].key = buf_detach(&k);
            q->pairs[q->n].value = buf_detach(&v);
            q->n++;
        }
        i = j + 1;
    }
}

void qs_free(qs_t *q) {
    for (size_t i = 0; i < q->n; i++) {
        free(q->pairs[i].key);
        free(q->pairs[i].value);
    }
    free(q->pairs);
    q->pairs = NULL;
    q->n = 0;
}

const char *qs_get(const qs_t *q, const char *key) {
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->pairs[i].key, key) == 0) return q->pairs[i].value;
    return NULL;
}

void tilde_encode(buf_t *out, const char *s, size_t n) {
    static const char hx[] = "0123456789ABCDEF";
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
            c == '-') {
            buf_putc(out, (char)c);
        } else if (c == ' ') {
            buf_putc(out, '+');
        } else {
            char e[3] = {'~', hx[c >> 4], hx[c & 15]};
            buf_append(out, e, 3);
        }
    }
}

int tilde_decode(const char *s, size_t n, buf_t *out) {
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') c = ' ';
        else if (c == '~') {
            if (i + 2 >= n) return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (char)(h * 16 + l);
            if (c == 0) return -1; /* no name holds NUL: it would cut C strings short */
            i += 2;
        }
        buf_putc(out, c);
    }
    return 0;
}
