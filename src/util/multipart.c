/* multipart: streaming multipart/form-data (see multipart.h). */
#include "util/multipart.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CAP (128 * 1024)
#define HEADERS_MAX (16 * 1024)

typedef struct {
    FILE *f;
    char *b;
    size_t pos, len;
    bool eof;
} rd_t;

/* Moves the unread bytes to the front and reads more; false at the end. */
static bool fill(rd_t *r) {
    if (r->pos) {
        memmove(r->b, r->b + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->eof || r->len == CAP) return false;
    size_t k = fread(r->b + r->len, 1, CAP - r->len, r->f);
    r->len += k;
    if (k == 0) r->eof = true;
    return k > 0;
}

static bool ensure(rd_t *r, size_t n) {
    while (r->len - r->pos < n)
        if (!fill(r)) return false;
    return true;
}

int multipart_boundary(const char *ct, char out[MP_BOUNDARY_MAX + 1]) {
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0) return -1;
    for (const char *p = ct + 19; (p = strchr(p, ';'));) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, "boundary=", 9) != 0) continue;
        p += 9;
        size_t n = 0;
        if (*p == '"') {
            p++;
            while (p[n] && p[n] != '"') n++;
        } else {
            while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t') n++;
        }
        if (n == 0 || n > MP_BOUNDARY_MAX) return -1;
        memcpy(out, p, n);
        out[n] = 0;
        return 0;
    }
    return -1;
}

/* A parameter of a header value (name="…" or name=token) into out. */
static void param(const char *v, size_t vlen, const char *key, char *out, size_t outlen) {
    size_t klen = strlen(key);
    out[0] = 0;
    for (size_t i = 0; i + klen + 1 <= vlen; i++) {
        bool start = i == 0 || v[i - 1] == ';' || v[i - 1] == ' ' || v[i - 1] == '\t';
        if (!start || strncasecmp(v + i, key, klen) != 0 || v[i + klen] != '=') continue;
        size_t j = i + klen + 1, n = 0;
        if (j < vlen && v[j] == '"') {
            for (j++; j < vlen && v[j] != '"'; j++) {
                if (v[j] == '\\' && j + 1 < vlen) j++;
                if (n + 1 < outlen) out[n++] = v[j];
            }
        } else {
            for (; j < vlen && v[j] != ';' && v[j] != ' ' && v[j] != '\t'; j++)
                if (n + 1 < outlen) out[n++] = v[j];
        }
        out[n] = 0;
        return;
    }
}

static int parse_headers(const char *h, size_t n, mp_part_t *part, char *err, size_t errlen) {
    memset(part, 0, sizeof *part);
    bool disposition = false;
    for (size_t i = 0; i < n;) {
        const char *line = h + i, *eol = memmem(line, n - i, "\r\n", 2);
        size_t len = eol ? (size_t)(eol - line) : n - i;
        i += len + 2;
        const char *colon = memchr(line, ':', len);
        if (!colon) continue;
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = len - nlen - 1;
        while (vlen && (*v == ' ' || *v == '\t')) v++, vlen--;
        if (nlen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
            if (vlen < 9 || strncasecmp(v, "form-data", 9) != 0) continue;
            disposition = true;
            param(v, vlen, "name", part->name, sizeof part->name);
            param(v, vlen, "filename", part->filename, sizeof part->filename);
        } else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
            size_t k = vlen < sizeof part->content_type ? vlen : sizeof part->content_type - 1;
            memcpy(part->content_type, v, k);
            part->content_type[k] = 0;
        }
    }
    if (!disposition) {
        snprintf(err, errlen, "a part has no Content-Disposition: form-data header");
        return -1;
    }
    return 0;
}

int multipart_read(FILE *f, const char *boundary, const mp_callbacks_t *cb, void *ctx, char *err, size_t errlen) {
    char delim[MP_BOUNDARY_MAX + 8];
    int dlen = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    if (!*boundary || dlen <= 0 || (size_t)dlen >= sizeof delim) {
        snprintf(err, errlen, "bad multipart boundary");
        return -1;
    }
    rd_t r = {.f = f, .b = malloc(CAP)};
    int rc = -1;
    if (!r.b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* The first delimiter: at the very start, or after a preamble line. */
    if (ensure(&r, (size_t)dlen - 2) && memcmp(r.b, delim + 2, (size_t)dlen - 2) == 0) {
        r.pos = (size_t)dlen - 2;
    } else {
        for (;;) {
            char *at = memmem(r.b + r.pos, r.len - r.pos, delim, (size_t)dlen);
            if (at) {
                r.pos = (size_t)(at - r.b) + (size_t)dlen;
                break;
            }
            if (r.len - r.pos > (size_t)dlen) r.pos = r.len - (size_t)dlen;
            if (!fill(&r)) {
                snprintf(err, errlen, "no multipart boundary in the body");
                goto out;
            }
        }
    }
    for (;;) {
        if (!ensure(&r, 2)) {
            snprintf(err, errlen, "the multipart body ends without its closing boundary");
            goto out;
        }
        if (memcmp(r.b + r.pos, "--", 2) == 0) break; /* the closing delimiter */
        while (r.len - r.pos >= 1 && (r.b[r.pos] == ' ' || r.b[r.pos] == '\t')) r.pos++;
        if (!ensure(&r, 2) || memcmp(r.b + r.pos, "\r\n", 2) != 0) {
            snprintf(err, errlen, "malformed multipart delimiter line");
            goto out;
        }
        r.pos += 2;
        /* headers, up to the blank line (a part may have none: CRLF alone) */
        char *hend;
        size_t hlen;
        for (;;) {
            if (r.len - r.pos >= 2 && memcmp(r.b + r.pos, "\r\n", 2) == 0) {
                hend = r.b + r.pos;
                hlen = 0;
                r.pos += 2;
                break;
            }
            hend = memmem(r.b + r.pos, r.len - r.pos, "\r\n\r\n", 4);
            if (hend) {
                hlen = (size_t)(hend - (r.b + r.pos));
                break;
            }
            if (r.len - r.pos > HEADERS_MAX || !fill(&r)) {
                snprintf(err, errlen, "multipart part headers too long or unterminated");
                goto out;
            }
        }
        mp_part_t part;
        if (parse_headers(r.b + r.pos, hlen, &part, err, errlen) < 0) goto out;
        if (hlen) r.pos += hlen + 4;
        if (cb->begin(ctx, &part) < 0) goto out;
        /* content, up to the next delimiter; the last dlen-1 bytes wait until
         * it is clear they are not its start */
        for (;;) {
            char *at = memmem(r.b + r.pos, r.len - r.pos, delim, (size_t)dlen);
            if (at) {
                if (cb->data(ctx, r.b + r.pos, (size_t)(at - (r.b + r.pos))) < 0) goto out;
                r.pos = (size_t)(at - r.b) + (size_t)dlen;
                break;
            }
            if (r.len - r.pos >= (size_t)dlen) {
                size_t safe = r.len - r.pos - (size_t)dlen + 1;
                if (cb->data(ctx, r.b + r.pos, safe) < 0) goto out;
                r.pos += safe;
            }
            if (!fill(&r)) {
                snprintf(err, errlen, "a multipart part ends without its boundary");
                goto out;
            }
        }
        if (cb->end(ctx) < 0) goto out;
    }
    rc = 0;
out:
    free(r.b);
    return rc;
}
