/* common: request helpers every dialect uses the same way (bearer tokens,
 * JSON bodies, path captures). Not a dialect: it renders nothing. */
#ifndef ATRIUM_API_COMMON_H
#define ATRIUM_API_COMMON_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/http.h"
#include "store/store.h"
#include "util/buf.h"

typedef enum { BEARER_NONE, BEARER_OK, BEARER_MALFORMED } bearer_t;

/* Finds "Authorization: Bearer <t>". BEARER_MALFORMED: another scheme or an
 * empty token. On BEARER_OK *tok points into the header (NUL-terminated). */
bearer_t api_bearer(const http_req_t *r, const char **tok);
/* Parses the body as a JSON object; NULL with a message in err otherwise. */
json_t *api_json_object(const http_req_t *r, char *err, size_t errlen);
/* Strictly percent-decodes capture i into out (reset first); -1 if invalid. */
int api_capture(const http_req_t *r, int i, buf_t *out);

/* The result column names of st, a repeated name suffixed with sep and its
 * count ("x", "x:2" for sep ":"). Free with api_names_free. */
char **api_column_names(store_stmt_t *st, int n, const char *sep);
void api_names_free(char **names, int n);

/* Runs a read query: first on the event loop with a budget of
 * API_LOOP_BUDGET_US, so point queries skip the thread hand-off; if it runs
 * out of that budget, it is reset and run again on the thread pool with the
 * rest of its limit (reads are idempotent). run returns 1 when it stopped at
 * the deadline, else 0 (success or another error); done must answer r. */
#define API_LOOP_BUDGET_US 2000
typedef int (*api_read_fn)(void *ctx, uint64_t deadline_us);
void api_read(http_req_t *r, uint64_t limit_us, api_read_fn run, void (*reset)(void *ctx), http_done_fn done,
              void *ctx);

#endif
