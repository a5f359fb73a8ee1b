/* bsatn: see bsatn.h. */
#include "util/bsatn.h"

#include <string.h>

#include "util/utf8.h"

/* ---- writing ---------------------------------------------------------------- */

static void put_le(buf_t *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    buf_append(b, t, (size_t)n);
}

void bw_u8(buf_t *b, uint8_t v) { buf_append(b, &v, 1); }
void bw_u16(buf_t *b, uint16_t v) { put_le(b, v, 2); }
void bw_u32(buf_t *b, uint32_t v) { put_le(b, v, 4); }
void bw_u64(buf_t *b, uint64_t v) { put_le(b, v, 8); }
void bw_bool(buf_t *b, bool v) { bw_u8(b, v ? 1 : 0); }

void bw_f32(buf_t *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    bw_u32(b, u);
}

void bw_f64(buf_t *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    bw_u64(b, u);
}

void bw_be(buf_t *b, const uint8_t *be, size_t n) {
    buf_reserve(b, n);
    for (size_t i = 0; i < n; i++) b->data[b->len + i] = (char)be[n - 1 - i];
    b->len += n;
    b->data[b->len] = 0;
}

void bw_u128_small(buf_t *b, uint64_t v) {
    bw_u64(b, v);
    bw_u64(b, 0);
}

void bw_str(buf_t *b, const char *s, size_t n) {
    bw_u32(b, (uint32_t)n);
    buf_append(b, s, n);
}

void bw_bytes(buf_t *b, const void *p, size_t n) {
    bw_u32(b, (uint32_t)n);
    buf_append(b, p, n);
}

size_t bw_hole_u32(buf_t *b) {
    size_t at = b->len;
    bw_u32(b, 0);
    return at;
}

void bw_patch_u32(buf_t *b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b->data[at + (size_t)i] = (char)(uint8_t)(v >> (8 * i));
}

/* ---- reading ----------------------------------------------------------------- */

/* n bytes, or NULL (and bad) if fewer are left. */
static const uint8_t *take(br_t *r, size_t n) {
    if (r->bad || n > r->n - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t get_le(br_t *r, int n) {
    const uint8_t *p = take(r, (size_t)n);
    uint64_t v = 0;
    for (int i = 0; p && i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t br_u8(br_t *r) { return (uint8_t)get_le(r, 1); }
uint16_t br_u16(br_t *r) { return (uint16_t)get_le(r, 2); }
uint32_t br_u32(br_t *r) { return (uint32_t)get_le(r, 4); }
uint64_t br_u64(br_t *r) { return get_le(r, 8); }

bool br_bool(br_t *r) {
    uint8_t v = br_u8(r);
    if (v > 1) r->bad = true;
    return v == 1;
}

float br_f32(br_t *r) {
    uint32_t u = br_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

double br_f64(br_t *r) {
    uint64_t u = br_u64(r);
    double f;
    memcpy(&f, &u, 8);
    return f;
}

void br_be(br_t *r, uint8_t *be, size_t n) {
    const uint8_t *p = take(r, n);
    for (size_t i = 0; i < n; i++) be[i] = p ? p[n - 1 - i] : 0;
}

const uint8_t *br_bytes(br_t *r, size_t *n) {
    uint32_t len = br_u32(r);
    const uint8_t *p = take(r, len);
    *n = p ? len : 0;
    return p;
}

const char *br_str(br_t *r, size_t *n) {
    const uint8_t *p = br_bytes(r, n);
    if (p && !utf8_valid((const char *)p, *n)) {
        r->bad = true;
        *n = 0;
        return NULL;
    }
    return (const char *)p;
}

uint32_t br_count(br_t *r, size_t min_item) {
    uint32_t c = br_u32(r);
    if (r->bad) return 0;
    if (min_item && c > (r->n - r->off) / min_item) {
        r->bad = true;
        return 0;
    }
    return c;
}
