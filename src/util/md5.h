/* md5: RFC 1321 digest. Not for security: Datasette derives a database's
 * display colour from md5(name), and we must match it. */
#ifndef ATRIUM_UTIL_MD5_H
#define ATRIUM_UTIL_MD5_H
#include <stddef.h>
#include <stdint.h>

void md5(const void *data, size_t n, uint8_t out[16]);
/* Lower-case hex digest, NUL-terminated. */
void md5_hex(const void *data, size_t n, char out[33]);

#endif
