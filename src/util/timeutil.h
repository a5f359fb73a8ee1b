/* timeutil: clocks and time formats used across layers. */
#ifndef ATRIUM_UTIL_TIMEUTIL_H
#define ATRIUM_UTIL_TIMEUTIL_H
#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);   /* wall clock, ms since the Unix epoch */
uint64_t time_mono_us(void); /* monotonic, µs */
/* "2026-11-22T10:40:00.123Z"; out needs 25 bytes. */
void time_iso8601(int64_t ms, char out[25]);

#endif
