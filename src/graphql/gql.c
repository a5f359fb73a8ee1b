/* graphql: the lexer and parser (see gql.h). Written from the GraphQL
 * specification; error texts follow graphql-js 16's lexer and parser so
 * that clients see the messages they know. Errors unwind with longjmp to
 * gql_parse, which frees the arena: nothing is leaked on any path. */
#include "graphql/gql.h"

#include "graphql/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ------------------------------------------------------------------ */

typedef enum {
    T_SOF, T_EOF, T_BANG, T_DOLLAR, T_AMP, T_PAREN_L, T_PAREN_R, T_SPREAD, T_COLON, T_EQUALS, T_AT,
    T_BRACKET_L, T_BRACKET_R, T_BRACE_L, T_PIPE, T_BRACE_R, T_NAME, T_INT, T_FLOAT, T_STRING, T_BLOCK_STRING,
} tkind_t;

static const char *const kind_names[] = {"<SOF>", "<EOF>", "!", "$", "&", "(", ")", "...", ":", "=", "@", "[", "]",
                                         "{", "|", "}", "Name", "Int", "Float", "String", "BlockString"};

static bool is_punctuator(tkind_t k) { return k >= T_BANG && k <= T_BRACE_R; }

typedef struct {
    tkind_t kind;
    size_t start, end;
    gql_loc_t loc;
    const char *value; /* Name, Int, Float, String, BlockString: NUL-terminated (arena) */
    size_t len;
} token_t;

typedef struct {
    const char *src;
    size_t n;
    int line;
    size_t line_start; /* byte offset */
    token_t tok, prev;
    arena_t *arena;
    jmp_buf fail;
    char *msg;
    size_t msgn;
    gql_loc_t errloc;
    int depth;
    /* loc_at's memo: the column at col_pos on the line starting at
     * col_line, so one long line is not rescanned for every token */
    size_t col_line, col_pos;
    int col;
} parser_t;

/* UTF-16 code units from the line's start to byte offset pos. */
static gql_loc_t loc_at(parser_t *p, int line, size_t line_start, size_t pos) {
    int col = 1;
    size_t i = line_start;
    if (p->col && p->col_line == line_start && p->col_pos <= pos) {
        i = p->col_pos;
        col = p->col;
    }
    while (i < pos && i < p->n) {
        unsigned char c = (unsigned char)p->src[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        col += len == 4 ? 2 : 1;
        i += len;
    }
    p->col_line = line_start;
    p->col_pos = i;
    p->col = col;
    return (gql_loc_t){line, col};
}

/* Decodes the code point at pos: its length, or 0 (and *cp U+FFFD) for
 * bytes that are not UTF-8 (or a surrogate). */
static size_t decode_at(const parser_t *p, size_t pos, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)p->src + pos;
    size_t left = p->n - pos;
    *cp = 0xfffd;
    if (!left) return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!len || len > left || s[0] > 0xf4) return 0;
    uint32_t v = s[0] & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static void fail_at(parser_t *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void fail_at(parser_t *p, size_t pos, const char *fmt, ...) {
    char body[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    snprintf(p->msg, p->msgn, "Syntax Error: %s", body);
    /* the line of pos: count from the lexer's current line */
    int line = p->line;
    size_t ls = p->line_start;
    for (size_t i = ls; i < pos && i < p->n; i++)
        if (p->src[i] == '\n' || (p->src[i] == '\r' && !(i + 1 < p->n && p->src[i + 1] == '\n'))) line++, ls = i + 1;
    p->errloc = loc_at(p, line, ls, pos);
    longjmp(p->fail, 1);
}

/* graphql-js' printCodePointAt: "x", '"', U+1234 or <EOF>. */
static void print_code_point(const parser_t *p, size_t pos, char out[16]) {
    if (pos >= p->n) {
        snprintf(out, 16, "<EOF>");
        return;
    }
    uint32_t cp;
    decode_at(p, pos, &cp);
    if (cp >= 0x20 && cp <= 0x7e) snprintf(out, 16, cp == '"' ? "'\"'" : "\"%c\"", (char)cp);
    else snprintf(out, 16, "U+%04X", (unsigned)cp);
}

static char *copy(parser_t *p, const char *s, size_t n) {
    char *c = arena_alloc(p->arena, n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

static bool is_name_start(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static int at(const parser_t *p, size_t i) { return i < p->n ? (unsigned char)p->src[i] : -1; }

static int hex_digit(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void put_utf8(vec_t *out, arena_t *a, uint32_t cp) {
    char b[4];
    int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1) b[0] = (char)cp;
    else if (n == 2) b[0] = (char)(0xc0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3f));
    else if (n == 3) b[0] = (char)(0xe0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[2] = (char)(0x80 | (cp & 0x3f));
    else
        b[0] = (char)(0xf0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f));
    for (int i = 0; i < n; i++) *(char *)vec_push(a, out) = b[i];
}

static void put_bytes(vec_t *out, arena_t *a, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) *(char *)vec_push(a, out) = s[i];
}

/* The raw text of an escape for an error: up to n code points from pos. */
static void escape_text(const parser_t *p, size_t pos, int n, char *out, size_t outn) {
    size_t end = pos;
    for (int i = 0; i < n && end < p->n; i++) {
        uint32_t cp;
        size_t len = decode_at(p, end, &cp);
        end += len ? len : 1;
    }
    snprintf(out, outn, "%.*s", (int)(end - pos), p->src + pos);
}

static size_t read_escape(parser_t *p, size_t pos, vec_t *out) {
    int c = at(p, pos + 1);
    char raw[64];
    if (c == 'u' && at(p, pos + 2) == '{') { /* \u{…}: 1 to 6 hex digits */
        uint32_t point = 0;
        size_t size = 3;
        while (size < 12) {
            int d = at(p, pos + size++);
            if (d == '}') {
                if (size < 5 || (point >= 0xd800 && point <= 0xdfff) || point > 0x10ffff) break;
                put_utf8(out, p->arena, point);
                return size;
            }
            int h = hex_digit(d);
            if (h < 0 || point > 0x10ffff) break;
            point = (point << 4) | (uint32_t)h;
        }
        escape_text(p, pos, (int)size, raw, sizeof raw);
        fail_at(p, pos, "Invalid Unicode escape sequence: \"%s\".", raw);
    }
    if (c == 'u') { /* \uXXXX, a surrogate pair as two */
        int h[4];
        uint32_t code = 0;
        bool ok = true;
        for (int i = 0; i < 4; i++) {
            h[i] = hex_digit(at(p, pos + 2 + (size_t)i));
            ok = ok && h[i] >= 0;
            code = (code << 4) | (uint32_t)(h[i] < 0 ? 0 : h[i]);
        }
        if (ok && !(code >= 0xd800 && code <= 0xdfff)) {
            put_utf8(out, p->arena, code);
            return 6;
        }
        if (ok && code <= 0xdbff && at(p, pos + 6) == '\\' && at(p, pos + 7) == 'u') {
            uint32_t lo = 0;
            bool lok = true;
            for (int i = 0; i < 4; i++) {
                int d = hex_digit(at(p, pos + 8 + (size_t)i));
                lok = lok && d >= 0;
                lo = (lo << 4) | (uint32_t)(d < 0 ? 0 : d);
            }
            if (lok && lo >= 0xdc00 && lo <= 0xdfff) {
                put_utf8(out, p->arena, 0x10000 + ((code - 0xd800) << 10) + (lo - 0xdc00));
                return 12;
            }
        }
        escape_text(p, pos, 6, raw, sizeof raw);
        fail_at(p, pos, "Invalid Unicode escape sequence: \"%s\".", raw);
    }
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = c > 0 ? strchr(from, c) : NULL;
    if (k && *k) {
        *(char *)vec_push(p->arena, out) = to[k - from];
        return 2;
    }
    escape_text(p, pos, 2, raw, sizeof raw);
    fail_at(p, pos, "Invalid character escape sequence: \"%s\".", raw);
}

static void read_string(parser_t *p, size_t start, token_t *t) {
    vec_t v = {.size = 1};
    size_t pos = start + 1;
    while (pos < p->n) {
        int c = at(p, pos);
        if (c == '"') {
            *(char *)vec_push(p->arena, &v) = 0;
            t->kind = T_STRING;
            t->end = pos + 1;
            t->value = v.items;
            t->len = v.n - 1;
            return;
        }
        if (c == '\\') {
            pos += read_escape(p, pos, &v);
            continue;
        }
        if (c == '\n' || c == '\r') break;
        uint32_t cp;
        size_t len = decode_at(p, pos, &cp);
        if (!len) fail_at(p, pos, "Invalid character within String: U+FFFD.");
        put_bytes(&v, p->arena, p->src + pos, len);
        pos += len;
    }
    fail_at(p, pos, "Unterminated string.");
}

/* A block string's lines: the common indentation of all but the first
 * removed, then blank lines at either end dropped (the spec's
 * BlockStringValue). */
static void read_block_string(parser_t *p, size_t start, token_t *t) {
    vec_t lines = {.size = sizeof(vec_t)};
    vec_t *cur = vec_push(p->arena, &lines);
    cur->size = 1;
    size_t pos = start + 3, line_start = p->line_start;
    int line = p->line;
    while (pos < p->n) {
        int c = at(p, pos);
        if (c == '"' && at(p, pos + 1) == '"' && at(p, pos + 2) == '"') {
            size_t nl = lines.n, common = SIZE_MAX, first = SIZE_MAX, last = 0;
            vec_t *ls = lines.items;
            bool any = false;
            for (size_t i = 0; i < nl; i++) {
                size_t ind = 0;
                const char *s = ls[i].items;
                while (ind < ls[i].n && (s[ind] == ' ' || s[ind] == '\t')) ind++;
                if (ind == ls[i].n) continue;
                if (!any) first = i;
                any = true;
                last = i;
                if (i && ind < common) common = ind;
            }
            vec_t out = {.size = 1};
            if (any) {
                for (size_t i = first; i <= last; i++) {
                    if (i > first) *(char *)vec_push(p->arena, &out) = '\n';
                    size_t skip = i == 0 ? 0 : (common < ls[i].n ? common : ls[i].n);
                    if (ls[i].n > skip) put_bytes(&out, p->arena, (const char *)ls[i].items + skip, ls[i].n - skip);
                }
            }
            *(char *)vec_push(p->arena, &out) = 0;
            t->kind = T_BLOCK_STRING;
            t->end = pos + 3;
            t->value = out.items;
            t->len = out.n - 1;
            p->line = line;
            p->line_start = line_start;
            return;
        }
        if (c == '\\' && at(p, pos + 1) == '"' && at(p, pos + 2) == '"' && at(p, pos + 3) == '"') {
            put_bytes(cur, p->arena, "\"\"\"", 3);
            pos += 4;
            continue;
        }
        if (c == '\n' || c == '\r') {
            pos += c == '\r' && at(p, pos + 1) == '\n' ? 2 : 1;
            cur = vec_push(p->arena, &lines);
            cur->size = 1;
            line++;
            line_start = pos;
            continue;
        }
        uint32_t cp;
        size_t len = decode_at(p, pos, &cp);
        if (!len) fail_at(p, pos, "Invalid character within String: U+FFFD.");
        put_bytes(cur, p->arena, p->src + pos, len);
        pos += len;
    }
    fail_at(p, pos, "Unterminated string.");
}

static size_t read_digits(parser_t *p, size_t pos) {
    char cp[16];
    if (!is_digit(at(p, pos))) {
        print_code_point(p, pos, cp);
        fail_at(p, pos, "Invalid number, expected digit but got: %s.", cp);
    }
    while (is_digit(at(p, pos))) pos++;
    return pos;
}

static void read_number(parser_t *p, size_t start, token_t *t) {
    size_t pos = start;
    bool is_float = false;
    char cp[16];
    if (at(p, pos) == '-') pos++;
    if (at(p, pos) == '0') {
        pos++;
        if (is_digit(at(p, pos))) {
            print_code_point(p, pos, cp);
            fail_at(p, pos, "Invalid number, unexpected digit after 0: %s.", cp);
        }
    } else {
        pos = read_digits(p, pos);
    }
    if (at(p, pos) == '.') {
        is_float = true;
        pos = read_digits(p, pos + 1);
    }
    if (at(p, pos) == 'e' || at(p, pos) == 'E') {
        is_float = true;
        pos++;
        if (at(p, pos) == '+' || at(p, pos) == '-') pos++;
        pos = read_digits(p, pos);
    }
    if (at(p, pos) == '.' || is_name_start(at(p, pos))) {
        print_code_point(p, pos, cp);
        fail_at(p, pos, "Invalid number, expected digit but got: %s.", cp);
    }
    t->kind = is_float ? T_FLOAT : T_INT;
    t->end = pos;
    t->value = copy(p, p->src + start, pos - start);
    t->len = pos - start;
}

/* The next token after the current one. */
static void advance(parser_t *p) {
    p->prev = p->tok;
    size_t pos = p->tok.kind == T_SOF ? 0 : p->tok.end;
    token_t t = {0};
    for (;;) {
        int c = at(p, pos);
        if (c < 0) {
            t.kind = T_EOF;
            t.start = t.end = p->n;
            t.loc = loc_at(p, p->line, p->line_start, p->n);
            break;
        }
        if (c == ' ' || c == '\t' || c == ',') {
            pos++;
            continue;
        }
        if (c == 0xef && at(p, pos + 1) == 0xbb && at(p, pos + 2) == 0xbf) { /* BOM */
            pos += 3;
            continue;
        }
        if (c == '\n' || c == '\r') {
            pos += c == '\r' && at(p, pos + 1) == '\n' ? 2 : 1;
            p->line++;
            p->line_start = pos;
            continue;
        }
        if (c == '#') {
            while (pos < p->n && at(p, pos) != '\n' && at(p, pos) != '\r') pos++;
            continue;
        }
        t.start = pos;
        t.loc = loc_at(p, p->line, p->line_start, pos);
        static const char punct[] = "!$&():=@[]{|}";
        static const tkind_t pkinds[] = {T_BANG,  T_DOLLAR,    T_AMP,       T_PAREN_L, T_PAREN_R, T_COLON, T_EQUALS,
                                         T_AT,    T_BRACKET_L, T_BRACKET_R, T_BRACE_L, T_PIPE,    T_BRACE_R};
        const char *k = strchr(punct, c);
        if (k && *k) {
            t.kind = pkinds[k - punct];
            t.end = pos + 1;
        } else if (c == '.' && at(p, pos + 1) == '.' && at(p, pos + 2) == '.') {
            t.kind = T_SPREAD;
            t.end = pos + 3;
        } else if (c == '"') {
            if (at(p, pos + 1) == '"' && at(p, pos + 2) == '"') read_block_string(p, pos, &t);
            else read_string(p, pos, &t);
        } else if (is_digit(c) || c == '-') {
            read_number(p, pos, &t);
        } else if (is_name_start(c)) {
            size_t e = pos + 1;
            while (is_name_start(at(p, e)) || is_digit(at(p, e))) e++;
            t.kind = T_NAME;
            t.end = e;
            t.value = copy(p, p->src + pos, e - pos);
            t.len = e - pos;
        } else if (c == '\'') {
            fail_at(p, pos, "Unexpected single quote character ('), did you mean to use a double quote (\")?");
        } else {
            uint32_t cp;
            size_t len = decode_at(p, pos, &cp);
            char s[16];
            print_code_point(p, pos, s);
            if (len) fail_at(p, pos, "Unexpected character: %s.", s);
            fail_at(p, pos, "Invalid character: U+FFFD.");
        }
        break;
    }
    p->tok = t;
}

/* ---- the parser ---------------------------------------------------------------- */

static void token_desc(const token_t *t, char *out, size_t n) {
    if (is_punctuator(t->kind)) snprintf(out, n, "\"%s\"", kind_names[t->kind]);
    else if (t->value) snprintf(out, n, "%s \"%.200s\"", kind_names[t->kind], t->value);
    else snprintf(out, n, "%s", kind_names[t->kind]);
}

static void unexpected(parser_t *p, const token_t *t) __attribute__((noreturn));
static void unexpected(parser_t *p, const token_t *t) {
    char d[256];
    token_desc(t, d, sizeof d);
    fail_at(p, t->start, "Unexpected %s.", d);
}

static bool peek(const parser_t *p, tkind_t k) { return p->tok.kind == k; }

static void expect(parser_t *p, tkind_t k) {
    if (p->tok.kind == k) {
        advance(p);
        return;
    }
    char d[256];
    token_desc(&p->tok, d, sizeof d);
    if (is_punctuator(k)) fail_at(p, p->tok.start, "Expected \"%s\", found %s.", kind_names[k], d);
    fail_at(p, p->tok.start, "Expected %s, found %s.", kind_names[k], d);
}

static bool expect_optional(parser_t *p, tkind_t k) {
    if (p->tok.kind != k) return false;
    advance(p);
    return true;
}

static bool is_keyword(const parser_t *p, const char *kw) {
    return p->tok.kind == T_NAME && strcmp(p->tok.value, kw) == 0;
}

static void expect_keyword(parser_t *p, const char *kw) {
    if (is_keyword(p, kw)) {
        advance(p);
        return;
    }
    char d[256];
    token_desc(&p->tok, d, sizeof d);
    fail_at(p, p->tok.start, "Expected \"%s\", found %s.", kw, d);
}

static void enter(parser_t *p) {
    if (++p->depth > GQL_MAX_DEPTH) {
        snprintf(p->msg, p->msgn, "Query is nested too deeply");
        p->errloc = p->tok.loc;
        longjmp(p->fail, 1);
    }
}

static const char *parse_name(parser_t *p) {
    const char *v = p->tok.value;
    expect(p, T_NAME);
    return v;
}

static gql_value_t *parse_value(parser_t *p, bool is_const);

static const char *parse_variable_name(parser_t *p) {
    expect(p, T_DOLLAR);
    return parse_name(p);
}

static gql_value_t *parse_value(parser_t *p, bool is_const) {
    enter(p);
    gql_value_t *v = arena_alloc(p->arena, sizeof *v);
    v->loc = p->tok.loc;
    token_t t = p->tok;
    switch (t.kind) {
    case T_BRACKET_L: {
        advance(p);
        vec_t items = {.size = sizeof(gql_value_t *)};
        while (!expect_optional(p, T_BRACKET_R)) *(gql_value_t **)vec_push(p->arena, &items) = parse_value(p, is_const);
        v->kind = GV_LIST;
        v->items = items.items;
        v->n = items.n;
        break;
    }
    case T_BRACE_L: {
        advance(p);
        vec_t fields = {.size = sizeof(gql_objfield_t)};
        while (!expect_optional(p, T_BRACE_R)) {
            gql_objfield_t *f = vec_push(p->arena, &fields);
            f->loc = p->tok.loc;
            f->name = parse_name(p);
            expect(p, T_COLON);
            f->value = parse_value(p, is_const);
        }
        v->kind = GV_OBJECT;
        v->fields = fields.items;
        v->n = fields.n;
        break;
    }
    case T_INT:
    case T_FLOAT:
        advance(p);
        v->kind = t.kind == T_INT ? GV_INT : GV_FLOAT;
        v->s = t.value;
        v->len = t.len;
        break;
    case T_STRING:
    case T_BLOCK_STRING:
        advance(p);
        v->kind = GV_STRING;
        v->s = t.value;
        v->len = t.len;
        v->block = t.kind == T_BLOCK_STRING;
        break;
    case T_NAME:
        advance(p);
        if (strcmp(t.value, "true") == 0 || strcmp(t.value, "false") == 0) {
            v->kind = GV_BOOLEAN;
            v->b = t.value[0] == 't';
        } else if (strcmp(t.value, "null") == 0) {
            v->kind = GV_NULL;
        } else {
            v->kind = GV_ENUM;
            v->s = t.value;
            v->len = t.len;
        }
        break;
    case T_DOLLAR:
        if (is_const) {
            advance(p);
            if (p->tok.kind == T_NAME)
                fail_at(p, t.start, "Unexpected variable \"$%.200s\" in constant value.", p->tok.value);
            unexpected(p, &t);
        }
        v->kind = GV_VARIABLE;
        v->s = parse_variable_name(p);
        v->len = strlen(v->s);
        break;
    default: unexpected(p, &p->tok);
    }
    p->depth--;
    return v;
}

static void parse_arguments(parser_t *p, bool is_const, gql_arg_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!expect_optional(p, T_PAREN_L)) return;
    vec_t args = {.size = sizeof(gql_arg_t)};
    do {
        gql_arg_t *a = vec_push(p->arena, &args);
        a->loc = p->tok.loc;
        a->name = parse_name(p);
        expect(p, T_COLON);
        a->value = parse_value(p, is_const);
    } while (!expect_optional(p, T_PAREN_R));
    *out = args.items;
    *n = args.n;
}

static void parse_directives(parser_t *p, bool is_const, gql_directive_t **out, size_t *n) {
    vec_t dirs = {.size = sizeof(gql_directive_t)};
    while (peek(p, T_AT)) {
        gql_directive_t *d = vec_push(p->arena, &dirs);
        d->loc = p->tok.loc;
        advance(p);
        d->name = parse_name(p);
        parse_arguments(p, is_const, &d->args, &d->nargs);
    }
    *out = dirs.items;
    *n = dirs.n;
}

static gql_type_t *parse_type(parser_t *p) {
    enter(p);
    gql_type_t *t = arena_alloc(p->arena, sizeof *t);
    t->loc = p->tok.loc;
    if (expect_optional(p, T_BRACKET_L)) {
        t->kind = GT_LIST;
        t->of = parse_type(p);
        expect(p, T_BRACKET_R);
    } else {
        t->kind = GT_NAMED;
        t->name = parse_name(p);
    }
    if (peek(p, T_BANG)) {
        gql_type_t *nn = arena_alloc(p->arena, sizeof *nn);
        nn->loc = t->loc;
        nn->kind = GT_NON_NULL;
        nn->of = t;
        advance(p);
        t = nn;
    }
    p->depth--;
    return t;
}

static gql_selset_t *parse_selection_set(parser_t *p);

static void parse_selection(parser_t *p, gql_selection_t *s) {
    s->loc = p->tok.loc;
    if (expect_optional(p, T_SPREAD)) {
        bool has_cond = is_keyword(p, "on");
        if (has_cond) advance(p);
        if (!has_cond && peek(p, T_NAME)) {
            s->kind = GS_FRAGMENT_SPREAD;
            s->name_loc = p->tok.loc;
            s->name = parse_name(p);
            parse_directives(p, false, &s->dirs, &s->ndirs);
            return;
        }
        s->kind = GS_INLINE_FRAGMENT;
        if (has_cond) s->type_cond = parse_name(p);
        parse_directives(p, false, &s->dirs, &s->ndirs);
        s->sel = parse_selection_set(p);
        return;
    }
    s->kind = GS_FIELD;
    const char *first = parse_name(p);
    if (expect_optional(p, T_COLON)) {
        s->alias = first;
        s->name = parse_name(p);
    } else {
        s->name = first;
    }
    parse_arguments(p, false, &s->args, &s->nargs);
    parse_directives(p, false, &s->dirs, &s->ndirs);
    if (peek(p, T_BRACE_L)) s->sel = parse_selection_set(p);
}

static gql_selset_t *parse_selection_set(parser_t *p) {
    enter(p);
    gql_selset_t *set = arena_alloc(p->arena, sizeof *set);
    set->loc = p->tok.loc;
    expect(p, T_BRACE_L);
    vec_t items = {.size = sizeof(gql_selection_t)};
    do parse_selection(p, vec_push(p->arena, &items));
    while (!expect_optional(p, T_BRACE_R));
    set->items = items.items;
    set->n = items.n;
    p->depth--;
    return set;
}

static void parse_operation(parser_t *p, gql_def_t *d) {
    d->loc = p->tok.loc;
    if (peek(p, T_BRACE_L)) {
        d->op = GO_QUERY;
        d->sel = parse_selection_set(p);
        return;
    }
    if (is_keyword(p, "query")) d->op = GO_QUERY;
    else if (is_keyword(p, "mutation")) d->op = GO_MUTATION;
    else if (is_keyword(p, "subscription")) d->op = GO_SUBSCRIPTION;
    else unexpected(p, &p->tok);
    advance(p);
    if (peek(p, T_NAME)) d->name_loc = p->tok.loc, d->name = parse_name(p);
    if (expect_optional(p, T_PAREN_L)) {
        vec_t vars = {.size = sizeof(gql_vardef_t)};
        do {
            gql_vardef_t *v = vec_push(p->arena, &vars);
            v->loc = p->tok.loc;
            v->name = parse_variable_name(p);
            expect(p, T_COLON);
            v->type = parse_type(p);
            if (expect_optional(p, T_EQUALS)) v->def = parse_value(p, true);
            parse_directives(p, true, &v->dirs, &v->ndirs);
        } while (!expect_optional(p, T_PAREN_R));
        d->vars = vars.items;
        d->nvars = vars.n;
    }
    parse_directives(p, false, &d->dirs, &d->ndirs);
    d->sel = parse_selection_set(p);
}

static void parse_fragment(parser_t *p, gql_def_t *d) {
    d->fragment = true;
    d->loc = p->tok.loc;
    expect_keyword(p, "fragment");
    if (is_keyword(p, "on")) unexpected(p, &p->tok);
    d->name_loc = p->tok.loc;
    d->name = parse_name(p);
    expect_keyword(p, "on");
    d->type_cond = parse_name(p);
    parse_directives(p, false, &d->dirs, &d->ndirs);
    d->sel = parse_selection_set(p);
}

static bool type_system_keyword(const char *v) {
    static const char *const kws[] = {"schema", "scalar", "type", "interface", "union", "enum", "input", "directive",
                                      NULL};
    for (int i = 0; kws[i]; i++)
        if (strcmp(v, kws[i]) == 0) return true;
    return false;
}

static void parse_definition(parser_t *p, gql_def_t *d) {
    if (peek(p, T_BRACE_L)) {
        parse_operation(p, d);
        return;
    }
    token_t kw = p->tok;
    size_t desc_start = kw.start;
    bool described = kw.kind == T_STRING || kw.kind == T_BLOCK_STRING;
    if (described) {
        advance(p);
        kw = p->tok;
    }
    if (kw.kind == T_NAME) {
        if (type_system_keyword(kw.value) || strcmp(kw.value, "extend") == 0) {
            /* A schema's own language: an executable document has none.
             * Named as graphql-js' ExecutableDefinitions rule names it. */
            gql_loc_t at = kw.loc;
            bool schema = strcmp(kw.value, "schema") == 0;
            if (!schema && strcmp(kw.value, "extend") == 0) {
                advance(p);
                schema = is_keyword(p, "schema");
            }
            if (!schema) {
                advance(p);
                if (peek(p, T_AT)) advance(p);
            }
            if (schema) snprintf(p->msg, p->msgn, "The schema definition is not executable.");
            else
                snprintf(p->msg, p->msgn, "The \"%.200s\" definition is not executable.",
                         peek(p, T_NAME) ? p->tok.value : "");
            p->errloc = at;
            longjmp(p->fail, 1);
        }
        if (described)
            fail_at(p, desc_start, "Unexpected description, descriptions are supported only on type definitions.");
        if (strcmp(kw.value, "query") == 0 || strcmp(kw.value, "mutation") == 0 ||
            strcmp(kw.value, "subscription") == 0) {
            parse_operation(p, d);
            return;
        }
        if (strcmp(kw.value, "fragment") == 0) {
            parse_fragment(p, d);
            return;
        }
    }
    unexpected(p, &kw);
}

int gql_parse(const char *src, size_t n, gql_doc_t **out, char *msg, size_t msgn, gql_loc_t *loc) {
    parser_t *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->src = src;
    p->n = n;
    p->line = 1;
    p->msg = msg;
    p->msgn = msgn;
    p->arena = calloc(1, sizeof *p->arena);
    if (!p->arena) abort();
    if (setjmp(p->fail)) {
        if (loc) *loc = p->errloc;
        arena_free(p->arena);
        free(p);
        return -1;
    }
    p->tok.kind = T_SOF;
    advance(p);
    gql_doc_t *d = arena_alloc(p->arena, sizeof *d);
    vec_t defs = {.size = sizeof(gql_def_t)};
    /* at least one definition: an empty document is "Unexpected <EOF>." */
    do parse_definition(p, vec_push(p->arena, &defs));
    while (!expect_optional(p, T_EOF));
    d->defs = defs.items;
    d->ndefs = defs.n;
    d->arena = p->arena;
    free(p);
    *out = d;
    return 0;
}

void gql_doc_free(gql_doc_t *d) {
    if (d) arena_free(d->arena);
}
