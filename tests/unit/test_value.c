/* Unit tests for src/core/value: copies, lookup equality, JSON styles out
 * (blobs, non-finite reals, int64 exactness) and JSON in (each blob
 * spelling, composites, bad base64), and binding round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "core/value.h"

static char *json_of(const store_value_t *v, value_blob_out_t b, value_nonfinite_t nf) {
    static char out[256];
    buf_t buf = BUF_INIT;
    jw_t w;
    jw_init(&w, &buf, 0);
    value_style_t s = {b, nf};
    value_write_json(&w, v, &s);
    snprintf(out, sizeof out, "%s", buf.data ? buf.data : "");
    buf_free(&buf);
    return out;
}

static void copy_and_free(void **st) {
    (void)st;
    char text[] = "héllo";
    store_value_t src = {.type = SV_TEXT, .p = text, .n = strlen(text)}, dst;
    value_copy(&dst, &src);
    text[0] = 'X';
    assert_string_equal(dst.p, "héllo");
    assert_int_equal(dst.n, strlen("héllo"));
    value_free(&dst);
    assert_int_equal(dst.type, SV_NULL);
    store_value_t empty = {.type = SV_BLOB, .p = "", .n = 0};
    value_copy(&dst, &empty);
    assert_int_equal(dst.n, 0);
    value_free(&dst);
    store_value_t i = {.type = SV_INT, .i = INT64_MIN};
    value_copy(&dst, &i);
    assert_true(dst.i == INT64_MIN);
}

static void same(void **st) {
    (void)st;
    store_value_t i7 = {.type = SV_INT, .i = 7}, t7 = value_text("7"), t8 = value_text("8"), n = {.type = SV_NULL},
                  r = {.type = SV_REAL, .d = 1.5}, tr = value_text("1.5"),
                  b = {.type = SV_BLOB, .p = "7", .n = 1};
    assert_true(value_same(&i7, &t7));
    assert_true(value_same(&t7, &i7));
    assert_false(value_same(&i7, &t8));
    assert_false(value_same(&n, &n));
    assert_true(value_same(&r, &tr));
    assert_true(value_same(&b, &t7)); /* bytes compare as bytes */
    char longtext[64];
    memset(longtext, '1', 40), longtext[40] = 0;
    store_value_t lt = value_text(longtext);
    assert_false(value_same(&i7, &lt));
}

static void json_out(void **st) {
    (void)st;
    store_value_t big = {.type = SV_INT, .i = INT64_MAX}, inf = {.type = SV_REAL, .d = INFINITY},
                  ninf = {.type = SV_REAL, .d = -INFINITY}, nan_ = {.type = SV_REAL, .d = NAN},
                  tenth = {.type = SV_REAL, .d = 0.1}, blob = {.type = SV_BLOB, .p = "\x00\xff", .n = 2},
                  null = {.type = SV_NULL}, text = {.type = SV_TEXT, .p = "a\"b", .n = 3};
    assert_string_equal(json_of(&big, VJ_BLOB_BASE64, VJ_NONFINITE_NULL), "9223372036854775807");
    assert_string_equal(json_of(&tenth, VJ_BLOB_BASE64, VJ_NONFINITE_NULL), "0.1");
    assert_string_equal(json_of(&inf, VJ_BLOB_BASE64, VJ_NONFINITE_NULL), "null");
    assert_string_equal(json_of(&inf, VJ_BLOB_BASE64, VJ_NONFINITE_BARE), "Infinity");
    assert_string_equal(json_of(&ninf, VJ_BLOB_BASE64, VJ_NONFINITE_STRING), "\"-Infinity\"");
    assert_string_equal(json_of(&nan_, VJ_BLOB_BASE64, VJ_NONFINITE_BARE), "null");
    assert_string_equal(json_of(&blob, VJ_BLOB_BASE64, VJ_NONFINITE_NULL), "\"AP8=\"");
    assert_string_equal(json_of(&blob, VJ_BLOB_TYPE_OBJECT, VJ_NONFINITE_NULL), "{\"type\":\"blob\"}");
    assert_string_equal(json_of(&blob, VJ_BLOB_BASE64_OBJECT, VJ_NONFINITE_NULL),
                        "{\"$base64\":true,\"encoded\":\"AP8=\"}");
    assert_string_equal(json_of(&null, VJ_BLOB_BASE64, VJ_NONFINITE_NULL), "null");
    assert_string_equal(json_of(&text, VJ_BLOB_BASE64, VJ_NONFINITE_NULL), "\"a\\\"b\"");
}

static int from(const char *json, value_blob_in_t style, store_value_t *v, buf_t *scratch) {
    json_error_t je;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
    assert_non_null(j);
    err_t e = {0};
    int rc = value_from_json(j, style, v, scratch, &e);
    if (rc < 0) assert_int_equal(e.sub, ES_UNDECODABLE);
    /* text values point into j: copy before it goes */
    if (rc == VALUE_SCALAR && v->type == SV_TEXT) {
        buf_reset(scratch);
        buf_append(scratch, v->p, v->n);
        v->p = scratch->data;
    }
    json_decref(j);
    return rc;
}

static void json_in(void **st) {
    (void)st;
    buf_t s = BUF_INIT;
    store_value_t v;
    assert_int_equal(from("\"x\"", VJ_IN_PLAIN, &v, &s), VALUE_SCALAR);
    assert_int_equal(v.type, SV_TEXT);
    assert_int_equal(from("9223372036854775807", VJ_IN_PLAIN, &v, &s), VALUE_SCALAR);
    assert_true(v.type == SV_INT && v.i == INT64_MAX);
    assert_int_equal(from("true", VJ_IN_PLAIN, &v, &s), VALUE_SCALAR);
    assert_true(v.type == SV_INT && v.i == 1);
    assert_int_equal(from("2.5", VJ_IN_PLAIN, &v, &s), VALUE_SCALAR);
    assert_true(v.type == SV_REAL && v.d == 2.5);
    assert_int_equal(from("null", VJ_IN_PLAIN, &v, &s), VALUE_SCALAR);
    assert_int_equal(v.type, SV_NULL);
    assert_int_equal(from("[1,2]", VJ_IN_PLAIN, &v, &s), VALUE_COMPOSITE);
    /* each dialect's blob spelling, and only its own */
    assert_int_equal(from("{\"$base64\": true, \"encoded\": \"AP8=\"}", VJ_IN_DATASETTE, &v, &s), VALUE_SCALAR);
    assert_true(v.type == SV_BLOB && v.n == 2 && memcmp(v.p, "\x00\xff", 2) == 0);
    assert_int_equal(from("{\"$base64\": true, \"encoded\": \"AP8=\"}", VJ_IN_TYPEDB, &v, &s), VALUE_COMPOSITE);
    assert_int_equal(from("{\"encoding\": \"base64\", \"value\": \"AP8=\"}", VJ_IN_TYPEDB, &v, &s), VALUE_SCALAR);
    assert_true(v.type == SV_BLOB && v.n == 2);
    assert_int_equal(from("{\"$base64\": true, \"encoded\": \"**\"}", VJ_IN_DATASETTE, &v, &s), -1);
    assert_int_equal(from("{\"encoding\": \"base64\", \"value\": 5}", VJ_IN_TYPEDB, &v, &s), -1);
    assert_int_equal(from("{\"$raw\": 5}", VJ_IN_DATASETTE, &v, &s), VALUE_SCALAR);
    assert_true(v.type == SV_INT && v.i == 5);
    assert_int_equal(from("{\"$raw\": [5]}", VJ_IN_DATASETTE, &v, &s), VALUE_COMPOSITE);
    buf_free(&s);
}

static void bind_round_trip(void **st) {
    (void)st;
    store_db_t *db;
    char msg[256];
    assert_int_equal(store_open(":memory:", STORE_CREATE, &db, msg, sizeof msg), 0);
    store_value_t in[] = {{.type = SV_INT, .i = INT64_MIN}, {.type = SV_REAL, .d = -0.5},
                          {.type = SV_TEXT, .p = "t\0x", .n = 3}, {.type = SV_BLOB, .p = "\x01\x00", .n = 2},
                          {.type = SV_NULL}};
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) {
        store_stmt_t *q;
        assert_int_equal(store_prepare(db, "select ?", &q), 0);
        value_bind(q, 1, &in[k]);
        assert_int_equal(store_step(q), STORE_ROW);
        store_value_t out;
        store_col_value(q, 0, &out);
        assert_int_equal(out.type, in[k].type);
        if (in[k].type == SV_TEXT || in[k].type == SV_BLOB) {
            assert_int_equal(out.n, in[k].n);
            assert_memory_equal(out.p, in[k].p, in[k].n);
        } else if (in[k].type == SV_INT) {
            assert_true(out.i == in[k].i);
        } else if (in[k].type == SV_REAL) {
            assert_true(out.d == in[k].d);
        }
        store_finalize(q);
    }
    store_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_and_free), cmocka_unit_test(same), cmocka_unit_test(json_out),
        cmocka_unit_test(json_in), cmocka_unit_test(bind_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
