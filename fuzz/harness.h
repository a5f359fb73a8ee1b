/* harness: an Atrium server running inside the fuzzer's process (one event
 * loop, a temporary data directory, a public fixture database "fx"), and a
 * loopback round trip to it. Coverage of the server's threads counts too. */
#ifndef ATRIUM_FUZZ_HARNESS_H
#define ATRIUM_FUZZ_HARNESS_H
#include <stddef.h>
#include <stdint.h>

/* Starts the server once; returns its port. */
int harness_start(void);
/* Sends the bytes, half-closes, reads the whole answer (bounded), closes. */
void harness_roundtrip(int port, const uint8_t *data, size_t n);

#endif
