/* fuzz_json: request bodies. Whatever jansson accepts (the bodies every
 * dialect parses) is written back through Atrium's streaming JSON writer
 * (jw_json),
 * in each of its modes, and must parse again to an equal value. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"

static int depth(json_t *j) {
    int d = 0;
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) json_object_foreach(j, k, v) { int x = depth(v); d = x > d ? x : d; }
    if (json_is_array(j)) json_array_foreach(j, i, v) { int x = depth(v); d = x > d ? x : d; }
    return d + (json_is_object(j) || json_is_array(j));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    json_t *j = json_loadb((const char *)data, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!j) return 0;
    if (depth(j) < JW_MAX_DEPTH) {
        for (int flags = 0; flags < 4; flags++) {
            buf_t b = BUF_INIT;
            jw_t w;
            jw_init(&w, &b, flags);
            jw_json(&w, j);
            json_error_t je;
            json_t *back = json_loadb(b.data ? b.data : "", b.len, JSON_DECODE_ANY, &je);
            if (!back) abort();
            /* Reals are written shortest-repr; equal when they read back the same. */
            if (!json_equal(j, back)) {
                char *x = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT), *y = json_dumps(back, JSON_ENCODE_ANY | JSON_COMPACT);
                bool same = x && y && strcmp(x, y) == 0;
                free(x);
                free(y);
                if (!same) abort();
            }
            json_decref(back);
            buf_free(&b);
        }
    }
    json_decref(j);
    return 0;
}
