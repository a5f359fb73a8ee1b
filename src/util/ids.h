/* ids: identifiers and their text forms: ULID (lower-case Crockford base32,
 * as Airsequel shows them), UUIDv4, hex, base64 and base64url. Randomness
 * comes from libsodium's CSPRNG; callers must have run sodium_init(). */
#ifndef ATRIUM_UTIL_IDS_H
#define ATRIUM_UTIL_IDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define ULID_LEN 26
#define UUID_LEN 36

/* 48-bit millisecond time + 80 random bits, 26 chars + NUL. */
void ulid_make(uint64_t ms, char out[ULID_LEN + 1]);
void ulid_new(char out[ULID_LEN + 1]);
/* Recovers the timestamp; -1 if s is not a well-formed ULID. */
int64_t ulid_time(const char *s);
bool ulid_valid(const char *s);

void uuid4_new(char out[UUID_LEN + 1]);
/* Lower-case 8-4-4-4-12 hex form (any version). */
bool uuid_valid(const char *s);

void hex_encode(const uint8_t *in, size_t n, char *out /* 2n+1 */);
/* Returns the decoded length, or -1 on odd length / bad digit / overflow. */
int hex_decode(const char *s, size_t n, uint8_t *out, size_t cap);

/* base64url without padding, and standard base64 with padding. */
void b64url_encode(buf_t *out, const uint8_t *in, size_t n);
void b64_encode(buf_t *out, const uint8_t *in, size_t n);
/* Returns decoded length or -1. Accepts unpadded input only. */
int b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap);
/* Standard base64 with padding; decoded length or -1. */
int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap);

/* Random characters from a 32-letter alphabet (for readonly ids). */
void random_base32(char *out, size_t n);

#endif
