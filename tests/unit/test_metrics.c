/* Unit tests for util/metrics: series by label values, the "_other"
 * overflow, histogram buckets, escaping, and counts from many threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/metrics.h"

static char *render(void) {
    buf_t b = BUF_INIT;
    metrics_render(&b);
    return buf_detach(&b);
}

static void series_are_found_by_their_values(void **st) {
    (void)st;
    const char *a[3] = {"d", "/x/:y", "200"}, *b[3] = {"d", "/x/:y", "404"};
    mseries_t *s1 = metrics_series(MET_HTTP_REQUESTS, a);
    assert_ptr_equal(s1, metrics_series(MET_HTTP_REQUESTS, a));
    assert_ptr_not_equal(s1, metrics_series(MET_HTTP_REQUESTS, b));
    metrics_add(s1, 2);
    metrics_add(s1, 3);
    assert_true(metrics_value(s1) == 5);
    char *out = render();
    assert_non_null(strstr(out, "atrium_http_requests_total{dialect=\"d\",route=\"/x/:y\",status=\"200\"} 5\n"));
    assert_non_null(strstr(out, "# TYPE atrium_http_requests_total counter\n"));
    free(out);
}

static void label_values_are_escaped(void **st) {
    (void)st;
    metrics_inc1(MET_AUTH_FAILURES, "a\"b\\c\nd");
    char *out = render();
    assert_non_null(strstr(out, "atrium_auth_failures_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"));
    free(out);
}

static void histograms_are_cumulative(void **st) {
    (void)st;
    metrics_observe0(MET_COMMIT_BATCH, 1);
    metrics_observe0(MET_COMMIT_BATCH, 3);
    metrics_observe0(MET_COMMIT_BATCH, 3);
    metrics_observe0(MET_COMMIT_BATCH, 1000);
    char *out = render();
    assert_non_null(strstr(out, "atrium_commit_batch_jobs_bucket{le=\"1\"} 1\n"));
    assert_non_null(strstr(out, "atrium_commit_batch_jobs_bucket{le=\"2\"} 1\n"));
    assert_non_null(strstr(out, "atrium_commit_batch_jobs_bucket{le=\"4\"} 3\n"));
    assert_non_null(strstr(out, "atrium_commit_batch_jobs_bucket{le=\"512\"} 3\n"));
    assert_non_null(strstr(out, "atrium_commit_batch_jobs_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(out, "atrium_commit_batch_jobs_sum 1007\n"));
    assert_non_null(strstr(out, "atrium_commit_batch_jobs_count 4\n"));
    free(out);
}

static void too_many_series_go_to_other(void **st) {
    (void)st;
    char v[32];
    for (int i = 0; i < 100; i++) { /* the family keeps 8 slots, half of them used at most */
        snprintf(v, sizeof v, "kind%d", i);
        metrics_inc1(MET_LUA_CALLS, v);
    }
    char *out = render();
    assert_non_null(strstr(out, "atrium_lua_calls_total{kind=\"kind0\"} 1\n"));
    assert_null(strstr(out, "kind=\"kind99\""));
    const char *o = strstr(out, "atrium_lua_calls_total{kind=\"_other\"} ");
    assert_non_null(o);
    assert_int_equal(atoi(o + strlen("atrium_lua_calls_total{kind=\"_other\"} ")), 96);
    free(out);
}

static void *bump(void *arg) {
    (void)arg;
    const char *v[2] = {"p", "in"};
    for (int i = 0; i < 100000; i++) {
        metrics_add(metrics_series(MET_WS_MESSAGES, v), 1);
        metrics_observe0(MET_FSYNC_DURATION, 0.001);
    }
    return NULL;
}

static void counts_from_many_threads_add_up(void **st) {
    (void)st;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, bump, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    const char *v[2] = {"p", "in"};
    assert_true(metrics_value(metrics_series(MET_WS_MESSAGES, v)) == 400000);
    assert_true(metrics_value(metrics_series(MET_FSYNC_DURATION, NULL)) == 400000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(series_are_found_by_their_values),
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(histograms_are_cumulative),
        cmocka_unit_test(too_many_series_go_to_other),
        cmocka_unit_test(counts_from_many_threads_add_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
