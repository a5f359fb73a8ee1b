/* common: shared request helpers (see common.h). */
#include "api/common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/url.h"

bearer_t api_bearer(const http_req_t *r, const char **tok) {
    const char *h = http_header(r, "authorization");
    *tok = NULL;
    if (!h) return BEARER_NONE;
    while (*h == ' ' || *h == '\t') h++;
    if (strncasecmp(h, "bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return BEARER_MALFORMED;
    h += 7;
    while (*h == ' ' || *h == '\t') h++;
    if (!*h) return BEARER_MALFORMED;
    *tok = h;
    return BEARER_OK;
}

json_t *api_json_object(const http_req_t *r, char *err, size_t errlen) {
    json_error_t je;
    json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "%s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "expected a JSON object");
        return NULL;
    }
    return j;
}

int api_capture(const http_req_t *r, int i, buf_t *out) {
    buf_reset(out);
    if (i >= r->ncap) return -1;
    return url_decode_segment(r->cap[i], r->cap_len[i], out);
}
