/* fuzz_ws: a WebSocket session of the SpacetimeDB face, then raw bytes as
 * its frames (masked or not, fragmented, control frames, close codes,
 * oversized lengths) and the JSON messages inside them. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char handshake[] =
    "GET /v1/database/fx/subscribe HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Protocol: v1.json.spacetimedb\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    size_t h = sizeof handshake - 1;
    uint8_t *buf = malloc(h + n);
    memcpy(buf, handshake, h);
    memcpy(buf + h, data, n);
    harness_roundtrip(harness_start(), buf, h + n);
    free(buf);
    return 0;
}
