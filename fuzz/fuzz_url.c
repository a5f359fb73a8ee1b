/* fuzz_url: query strings, form and path percent-decoding, tilde coding.
 * Properties: no crash; a decoded path segment is valid UTF-8 without NUL;
 * tilde decoding undoes tilde encoding. */
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/url.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *s = (const char *)data;
    qs_t q;
    qs_parse(&q, s, n);
    for (size_t i = 0; i < q.n; i++)
        if (!q.pairs[i].key || !q.pairs[i].value) abort();
    qs_free(&q);
    buf_t b = BUF_INIT, t = BUF_INIT;
    if (url_decode_segment(s, n, &b) == 0) {
        if (memchr(b.data, 0, b.len) || !utf8_valid(b.data, b.len)) abort();
    }
    buf_reset(&b);
    url_decode_form(s, n, &b);
    buf_reset(&b);
    /* ~00 never decodes to NUL (a raw NUL cannot arrive in a URL). */
    if (tilde_decode(s, n, &b) == 0 && !memchr(s, 0, n) && memchr(b.data ? b.data : "", 0, b.len)) abort();
    buf_reset(&b);
    tilde_encode(&b, s, n);
    if (tilde_decode(b.data ? b.data : "", b.len, &t) == 0) {
        /* Only inputs without NUL round-trip (NUL is refused on the way back). */
        if (t.len != n || (n && memcmp(t.data, s, n) != 0)) abort();
    } else if (!memchr(s, 0, n)) {
        abort();
    }
    buf_free(&b);
    buf_free(&t);
    return 0;
}
