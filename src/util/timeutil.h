/* timeutil: clocks and time formats used across layers. */
#ifndef ATRIUM_UTIL_TIMEUTIL_H
#define ATRIUM_UTIL_TIMEUTIL_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);   /* wall clock, ms since the Unix epoch */
int64_t time_now_us(void);   /* wall clock, µs since the Unix epoch */
uint64_t time_mono_us(void); /* monotonic, µs */
/* Condition variables whose timed waits use time_mono_us's clock, and the
 * deadline to hand them. */
void time_cond_init_mono(pthread_cond_t *cv);
void time_mono_timespec(uint64_t mono_us, struct timespec *ts);
/* "2026-11-22T10:40:00.123Z"; out needs 25 bytes. */
void time_iso8601(int64_t ms, char out[25]);
/* Parses an ISO-8601 UTC time: "YYYY-MM-DD", optionally "THH:MM[:SS[.fff]]"
 * and "Z" or "±HH:MM". 0 and *ms, or -1 if it is not one. */
int time_parse_iso8601(const char *s, int64_t *ms);

#endif
