/* bsatn: SpacetimeDB's binary encoding of SATS values (spec/spacetimedb.md
 * §5): little-endian fixed-width integers up to 256 bits, bool as one byte,
 * floats as their IEEE bits, strings and byte arrays as a u32 length and
 * the bytes, arrays as a u32 count and the items, products as their fields
 * in order, sums as a u8 tag and the payload (Option: some = 0, none = 1).
 *
 * The writer appends to a buf_t. The reader is a cursor over borrowed bytes
 * that checks every length against what is left: the first short read (or
 * an impossible length) sets `bad`, after which every read yields zeros
 * and empty strings, so a decoder can read a whole message and check once.
 * Pure; any thread. */
#ifndef ATRIUM_UTIL_BSATN_H
#define ATRIUM_UTIL_BSATN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* ---- writing ---------------------------------------------------------------- */

void bw_u8(buf_t *b, uint8_t v);
void bw_u16(buf_t *b, uint16_t v);
void bw_u32(buf_t *b, uint32_t v);
void bw_u64(buf_t *b, uint64_t v);
static inline void bw_i8(buf_t *b, int8_t v) { bw_u8(b, (uint8_t)v); }
static inline void bw_i16(buf_t *b, int16_t v) { bw_u16(b, (uint16_t)v); }
static inline void bw_i32(buf_t *b, int32_t v) { bw_u32(b, (uint32_t)v); }
static inline void bw_i64(buf_t *b, int64_t v) { bw_u64(b, (uint64_t)v); }
void bw_bool(buf_t *b, bool v);
void bw_f32(buf_t *b, float v);
void bw_f64(buf_t *b, double v);
/* n little-endian bytes from a big-endian number (u128: n = 16 from 16
 * bytes; u256: 32): the bytes reversed. */
void bw_be(buf_t *b, const uint8_t *be, size_t n);
/* u128 / u256 of a small value (zero-extended). */
void bw_u128_small(buf_t *b, uint64_t v);
void bw_str(buf_t *b, const char *s, size_t n);
static inline void bw_cstr(buf_t *b, const char *s) { bw_str(b, s, strlen(s)); }
void bw_bytes(buf_t *b, const void *p, size_t n);
/* A u32 length or count whose value is known later: returns where it is;
 * bw_patch_u32 fills it in. */
size_t bw_hole_u32(buf_t *b);
void bw_patch_u32(buf_t *b, size_t at, uint32_t v);

/* ---- reading ----------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, off;
    bool bad;
} br_t;

static inline void br_init(br_t *r, const void *p, size_t n) {
    r->p = p;
    r->n = n;
    r->off = 0;
    r->bad = false;
}
static inline size_t br_left(const br_t *r) { return r->bad ? 0 : r->n - r->off; }
/* True when every byte was read and nothing went wrong. */
static inline bool br_done(const br_t *r) { return !r->bad && r->off == r->n; }

uint8_t br_u8(br_t *r);
uint16_t br_u16(br_t *r);
uint32_t br_u32(br_t *r);
uint64_t br_u64(br_t *r);
bool br_bool(br_t *r); /* 0 or 1; anything else is bad */
float br_f32(br_t *r);
double br_f64(br_t *r);
/* n little-endian bytes as a big-endian number into be. */
void br_be(br_t *r, uint8_t *be, size_t n);
/* A string or byte array: a pointer into the input (not NUL-terminated)
 * and its length; NULL and 0 when bad. */
const uint8_t *br_bytes(br_t *r, size_t *n);
/* A string that must be valid UTF-8 (bad otherwise). */
const char *br_str(br_t *r, size_t *n);
/* An array count, checked against the bytes left assuming each item takes
 * at least min_item bytes (so a huge count cannot make anyone allocate). */
uint32_t br_count(br_t *r, size_t min_item);
/* Marks the reader bad (a decoder found a value it cannot accept). */
static inline void br_fail(br_t *r) { r->bad = true; }

#endif
