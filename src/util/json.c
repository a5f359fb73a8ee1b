/* json: streaming writer (see json.h). */
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"
#include "util/utf8.h"

void jw_init(jw_t *w, buf_t *out, int flags) {
    w->out = out;
    w->flags = flags;
    w->depth = 0;
    w->after_key = false;
    w->has_items = 0;
}

/* Writes the separator a new value needs at the current position. */
static void sep(jw_t *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0) return;
    uint64_t bit = 1ull << (w->depth - 1);
    if (w->has_items & bit) {
        if (w->flags & JW_SPACED) buf_append(w->out, ", ", 2);
        else buf_putc(w->out, ',');
    }
    w->has_items |= bit;
}

static void open(jw_t *w, char c) {
    sep(w);
    buf_putc(w->out, c);
    if (w->depth < JW_MAX_DEPTH) w->depth++;
    w->has_items &= ~(1ull << (w->depth - 1));
}

static void close_(jw_t *w, char c) {
    buf_putc(w->out, c);
    if (w->depth > 0) w->depth--;
}

void jw_obj_begin(jw_t *w) { open(w, '{'); }
void jw_obj_end(jw_t *w) { close_(w, '}'); }
void jw_arr_begin(jw_t *w) { open(w, '['); }
void jw_arr_end(jw_t *w) { close_(w, ']'); }

void jw_keyn(jw_t *w, const char *k, size_t n) {
    sep(w);
    buf_putc(w->out, '"');
    json_escape(w->out, k, n, w->flags);
    if (w->flags & JW_SPACED) buf_append(w->out, "\": ", 3);
    else buf_append(w->out, "\":", 2);
    w->after_key = true;
}

void jw_key(jw_t *w, const char *k) { jw_keyn(w, k, strlen(k)); }

void jw_key_render(const jw_t *w, buf_t *b, const char *k, size_t n) {
    buf_putc(b, '"');
    json_escape(b, k, n, w->flags);
    if (w->flags & JW_SPACED) buf_append(b, "\": ", 3);
    else buf_append(b, "\":", 2);
}

void jw_key_pre(jw_t *w, const char *rendered, size_t n) {
    sep(w);
    buf_append(w->out, rendered, n);
    w->after_key = true;
}

void jw_strn(jw_t *w, const char *s, size_t n) {
    sep(w);
    buf_putc(w->out, '"');
    json_escape(w->out, s, n, w->flags);
    buf_putc(w->out, '"');
}

void jw_str(jw_t *w, const char *s) {
    if (!s) jw_null(w);
    else jw_strn(w, s, strlen(s));
}

/* Decimal digits of v (no printf: this runs for every integer cell). */
static size_t fmt_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    out[n] = 0;
    return n;
}

static size_t fmt_i64(char *out, int64_t v) {
    if (v >= 0) return fmt_u64(out, (uint64_t)v);
    out[0] = '-';
    return 1 + fmt_u64(out + 1, -(uint64_t)v);
}

void jw_int(jw_t *w, int64_t v) {
    char tmp[24];
    sep(w);
    buf_append(w->out, tmp, fmt_i64(tmp, v));
}

void jw_double(jw_t *w, double v) {
    sep(w);
    if (!isfinite(v)) {
        buf_append(w->out, "null", 4);
        return;
    }
    char tmp[32];
    size_t n = json_format_double(v, tmp);
    buf_append(w->out, tmp, n);
}

void jw_bool(jw_t *w, bool v) {
    sep(w);
    if (v) buf_append(w->out, "true", 4);
    else buf_append(w->out, "false", 5);
}

void jw_null(jw_t *w) {
    sep(w);
    buf_append(w->out, "null", 4);
}

void jw_time_ms(jw_t *w, int64_t ms) {
    if (!ms) {
        jw_null(w);
        return;
    }
    char iso[32];
    time_iso8601(ms, iso);
    jw_str(w, iso);
}

void jw_raw(jw_t *w, const char *json, size_t n) {
    sep(w);
    buf_append(w->out, json, n);
}

static const char hexd[] = "0123456789abcdef";

static void put_u(buf_t *out, unsigned v) {
    char e[6] = {'\\', 'u', hexd[(v >> 12) & 15], hexd[(v >> 8) & 15], hexd[(v >> 4) & 15], hexd[v & 15]};
    buf_append(out, e, 6);
}

/* Whether the 8 bytes at p are all printable ASCII other than '"' and
 * '\\' (no escaping), tested a word at a time: a byte-wise test costs
 * five compares a byte on every string of every row. The "has a byte
 * below n" trick is exact as a whole-word test for n <= 0x80. */
static inline bool plain8(const unsigned char *p) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t bad = x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);
    return (bad & highs) == 0;
}

void json_escape(buf_t *out, const char *s, size_t n, int flags) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    buf_reserve(out, n + 2);
    while (p < end) {
        /* Copy the longest run that needs no escaping in one go. */
        const unsigned char *run = p;
        while (end - p >= 8 && plain8(p)) p += 8;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (p > run) buf_append(out, run, (size_t)(p - run));
        if (p >= end) break;
        unsigned c = *p;
        if (c < 0x80) {
            switch (c) {
            case '"': buf_append(out, "\\\"", 2); break;
            case '\\': buf_append(out, "\\\\", 2); break;
            case '\n': buf_append(out, "\\n", 2); break;
            case '\r': buf_append(out, "\\r", 2); break;
            case '\t': buf_append(out, "\\t", 2); break;
            case '\b': buf_append(out, "\\b", 2); break;
            case '\f': buf_append(out, "\\f", 2); break;
            default: put_u(out, c);
            }
            p++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode(p, (size_t)(end - p), &cp);
        if (!k) {
            /* Invalid byte: substitute U+FFFD and resynchronise on the next byte. */
            if (flags & JW_ASCII) put_u(out, 0xFFFD);
            else buf_append(out, "\xEF\xBF\xBD", 3);
            p++;
            continue;
        }
        if (flags & JW_ASCII) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                put_u(out, 0xD800 | (v >> 10));
                put_u(out, 0xDC00 | (v & 0x3FF));
            } else {
                put_u(out, cp);
            }
        } else {
            buf_append(out, p, k);
        }
        p += k;
    }
}

size_t json_format_double(double v, char out[32]) {
    if (v == 0) {
        if (signbit(v)) return (size_t)snprintf(out, 32, "-0.0");
        return (size_t)snprintf(out, 32, "0.0");
    }
    /* Fast path for values with few decimals (prices, scores): the
     * smallest k with v == m / 10^k. Division and strtod both round
     * correctly, so "m with k decimals" reads back as v, and no shorter
     * digit string can (it would have fewer decimals, a smaller k). */
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    double a = fabs(v);
    if (a >= 1e-4 && a < 1e15) {
        for (int k = 0; k <= 8; k++) {
            double sc = v * p10[k];
            if (fabs(sc) >= 9007199254740992.0) break;
            long long m = llround(sc);
            if ((double)m / p10[k] != v) continue;
            char ds[24];
            int n = (int)fmt_u64(ds, m < 0 ? -(uint64_t)m : (uint64_t)m);
            char *o = out;
            if (m < 0) *o++ = '-';
            if (k == 0) {
                memcpy(o, ds, (size_t)n);
                o += n;
                memcpy(o, ".0", 2);
                o += 2;
            } else if (n > k) {
                memcpy(o, ds, (size_t)(n - k));
                o += n - k;
                *o++ = '.';
                memcpy(o, ds + n - k, (size_t)k);
                o += k;
            } else {
                *o++ = '0', *o++ = '.';
                for (int i = n; i < k; i++) *o++ = '0';
                memcpy(o, ds, (size_t)n);
                o += n;
            }
            *o = 0;
            return (size_t)(o - out);
        }
    }
    /* Fewest significant digits that read back exactly; round-tripping is
     * monotone in the digit count, so a binary search finds it. */
    char sci[40];
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(sci, sizeof sci, "%.*e", mid - 1, v);
        if (strtod(sci, NULL) == v) hi = mid;
        else lo = mid + 1;
    }
    snprintf(sci, sizeof sci, "%.*e", lo - 1, v);
    /* sci = [-]d[.ddd]e[+-]XX: split into sign, digits and exponent. */
    const char *p = sci;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[20];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            *o++ = '0', *o++ = '.';
            for (int i = -1; i > exp; i--) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        } else {
            for (int i = 0; i <= exp; i++) *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > exp + 1)
                for (int i = exp + 1; i < nd; i++) *o++ = digits[i];
            else
                *o++ = '0';
        }
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        o += snprintf(o, 8, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    *o = 0;
    return (size_t)(o - out);
}

void jw_json(jw_t *w, const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        jw_obj_begin(w);
        json_object_foreach((json_t *)j, k, v) {
            jw_key(w, k);
            jw_json(w, v);
        }
        jw_obj_end(w);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        jw_arr_begin(w);
        json_array_foreach(j, i, v) jw_json(w, v);
        jw_arr_end(w);
        break;
    }
    case JSON_STRING: jw_strn(w, json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: jw_int(w, json_integer_value(j)); break;
    case JSON_REAL: jw_double(w, json_real_value(j)); break;
    case JSON_TRUE: jw_bool(w, true); break;
    case JSON_FALSE: jw_bool(w, false); break;
    case JSON_NULL: jw_null(w); break;
    }
}
