/* Unit tests for core/rcache: hits only at the version kept, a new version
 * retires the entry, least-recently-used eviction within the byte budget,
 * oversized answers refused, the cache off at 0 bytes. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/rcache.h"

static int setup(void **st) {
    (void)st;
    if (sodium_init() < 0) return -1;
    rcache_init(64 * 1024);
    rcache_clear();
    return 0;
}

static void hit_only_at_its_version(void **st) {
    (void)st;
    buf_t b = BUF_INIT;
    rcache_put("k1", 2, 7, "answer", 6);
    assert_true(rcache_get("k1", 2, 7, &b));
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "answer", 6);
    buf_reset(&b);
    assert_false(rcache_get("k2", 2, 7, &b));
    /* the database moved on: a miss, and the entry is gone for good */
    assert_false(rcache_get("k1", 2, 8, &b));
    assert_false(rcache_get("k1", 2, 7, &b));
    /* keys are bytes: NULs included */
    rcache_put("a\0b", 3, 1, "x", 1);
    assert_false(rcache_get("a\0c", 3, 1, &b));
    assert_true(rcache_get("a\0b", 3, 1, &b));
    buf_free(&b);
}

static void evicts_least_recently_used_within_budget(void **st) {
    (void)st;
    char val[4000];
    memset(val, 'v', sizeof val);
    char key[16];
    for (int i = 0; i < 40; i++) { /* 40 × ~4 KB into 64 KB */
        snprintf(key, sizeof key, "key%d", i);
        rcache_put(key, strlen(key), 1, val, sizeof val);
        if (i == 5) {
            /* touch key0 so it stays among the newest */
            buf_t b = BUF_INIT;
            assert_true(rcache_get("key0", 4, 1, &b));
            buf_free(&b);
        }
        rcache_stats_t s;
        rcache_stats(&s);
        assert_true(s.bytes <= s.max_bytes);
    }
    rcache_stats_t s;
    rcache_stats(&s);
    assert_true(s.evictions > 0);
    assert_true(s.entries < 40 && s.entries > 5);
    buf_t b = BUF_INIT;
    assert_false(rcache_get("key1", 4, 1, &b)); /* old, untouched: evicted */
    assert_true(rcache_get("key39", 5, 1, &b)); /* newest: kept */
    buf_free(&b);
}

static void refuses_answers_past_an_eighth(void **st) {
    (void)st;
    static char big[10000];
    rcache_put("big", 3, 1, big, sizeof big);
    buf_t b = BUF_INIT;
    assert_false(rcache_get("big", 3, 1, &b));
    rcache_put("small", 5, 1, big, 100);
    assert_true(rcache_get("small", 5, 1, &b));
    buf_free(&b);
}

static void off_at_zero(void **st) {
    (void)st;
    rcache_init(0);
    assert_false(rcache_enabled());
    rcache_put("k", 1, 1, "v", 1);
    buf_t b = BUF_INIT;
    assert_false(rcache_get("k", 1, 1, &b));
    rcache_init(64 * 1024);
    assert_true(rcache_enabled());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(hit_only_at_its_version, setup),
        cmocka_unit_test_setup(evicts_least_recently_used_within_budget, setup),
        cmocka_unit_test_setup(refuses_answers_past_an_eighth, setup),
        cmocka_unit_test_setup(off_at_zero, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
