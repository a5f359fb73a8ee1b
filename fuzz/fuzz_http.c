/* fuzz_http: raw bytes to the HTTP/1.1 transport: request line and
 * absolute-form targets (fill_target), headers and their limits, chunked
 * and sized bodies, pipelining, then routing into every dialect. */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    harness_roundtrip(harness_start(), data, n);
    return 0;
}
