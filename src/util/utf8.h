/* utf8: decoding one code point at a time, strictly (no overlongs, no
 * surrogates, nothing above U+10FFFF), plus Unicode identifier classes
 * (XID_Start / XID_Continue from a generated table, see tools/gen_xid.py). */
#ifndef ATRIUM_UTIL_UTF8_H
#define ATRIUM_UTIL_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s (n bytes available). Returns its length (1..4)
 * and stores the code point, or returns 0 for an invalid sequence. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
bool utf8_valid(const char *s, size_t n);
/* Encodes cp into out (4 bytes room); returns the length. */
size_t utf8_encode(uint32_t cp, char *out);

bool uni_xid_start(uint32_t cp);
bool uni_xid_continue(uint32_t cp);

#endif
