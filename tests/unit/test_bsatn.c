/* Unit tests for util/bsatn (every primitive's round trip, the reader's
 * bounds) and the SpacetimeDB dialect's typed layer on top: every module
 * type's value in BSATN, reducer arguments both ways, client-message
 * decoding, and spec §5's byte-level example produced exactly. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/stdb/stdb_sats.h"
#include "api/stdb/stdb_wire.h"
#include "util/bsatn.h"

static void primitives_round_trip(void **st) {
    (void)st;
    buf_t b = BUF_INIT;
    bw_u8(&b, 0xab);
    bw_u16(&b, 0xbeef);
    bw_u32(&b, 0xdeadbeef);
    bw_u64(&b, UINT64_C(0x0123456789abcdef));
    bw_i8(&b, -2);
    bw_i16(&b, -300);
    bw_i32(&b, -70000);
    bw_i64(&b, INT64_MIN);
    bw_bool(&b, true);
    bw_f32(&b, 1.5f);
    bw_f64(&b, -0.25);
    uint8_t be[32];
    for (int i = 0; i < 32; i++) be[i] = (uint8_t)i;
    bw_be(&b, be, 32);
    bw_be(&b, be, 16);
    bw_cstr(&b, "héllo");
    bw_bytes(&b, "\0\1\2", 3);
    size_t hole = bw_hole_u32(&b);
    bw_patch_u32(&b, hole, 77);

    br_t r;
    br_init(&r, b.data, b.len);
    assert_int_equal(br_u8(&r), 0xab);
    assert_int_equal(br_u16(&r), 0xbeef);
    assert_int_equal(br_u32(&r), 0xdeadbeef);
    assert_true(br_u64(&r) == UINT64_C(0x0123456789abcdef));
    assert_int_equal((int8_t)br_u8(&r), -2);
    assert_int_equal((int16_t)br_u16(&r), -300);
    assert_int_equal((int32_t)br_u32(&r), -70000);
    assert_true((int64_t)br_u64(&r) == INT64_MIN);
    assert_true(br_bool(&r));
    assert_true(br_f32(&r) == 1.5f);
    assert_true(br_f64(&r) == -0.25);
    uint8_t back[32];
    br_be(&r, back, 32);
    assert_memory_equal(back, be, 32);
    br_be(&r, back, 16);
    assert_memory_equal(back, be, 16);
    size_t n;
    const char *s = br_str(&r, &n);
    assert_int_equal(n, strlen("héllo"));
    assert_memory_equal(s, "héllo", n);
    const uint8_t *p = br_bytes(&r, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\0\1\2", 3);
    assert_int_equal(br_u32(&r), 77);
    assert_true(br_done(&r));
    buf_free(&b);
}

static void little_endian_and_big_numbers_reversed(void **st) {
    (void)st;
    buf_t b = BUF_INIT;
    bw_u32(&b, 0x01020304);
    assert_memory_equal(b.data, "\x04\x03\x02\x01", 4);
    buf_reset(&b);
    const uint8_t be[16] = {0xc2, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0xff};
    bw_be(&b, be, 16);
    assert_int_equal((uint8_t)b.data[0], 0xff);
    assert_int_equal((uint8_t)b.data[15], 0xc2);
    buf_reset(&b);
    bw_u128_small(&b, 5);
    assert_int_equal(b.len, 16);
    assert_int_equal(b.data[0], 5);
    buf_free(&b);
}

static void reader_never_reads_past_the_end(void **st) {
    (void)st;
    /* a string claiming 4 GiB, an array claiming 2^32 items, a bad bool,
     * invalid UTF-8: each marks the reader bad and yields zeros */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    br_t r;
    br_init(&r, huge, sizeof huge);
    size_t n = 99;
    assert_null(br_bytes(&r, &n));
    assert_int_equal(n, 0);
    assert_true(r.bad);
    assert_int_equal(br_u32(&r), 0);
    assert_false(br_done(&r));

    br_init(&r, huge, sizeof huge);
    assert_int_equal(br_count(&r, 1), 0);
    assert_true(r.bad);

    const uint8_t two[] = {2};
    br_init(&r, two, 1);
    br_bool(&r);
    assert_true(r.bad);

    const uint8_t bad_utf8[] = {2, 0, 0, 0, 0xc3, 0x28};
    br_init(&r, bad_utf8, sizeof bad_utf8);
    assert_null(br_str(&r, &n));
    assert_true(r.bad);

    br_init(&r, "", 0);
    assert_int_equal(br_u64(&r), 0);
    uint8_t be[32];
    br_be(&r, be, 32);
    for (int i = 0; i < 32; i++) assert_int_equal(be[i], 0);
    assert_true(r.bad);
}

/* Every module type: a stored value → BSATN → the expected bytes. */
static void module_types_in_bsatn(void **st) {
    (void)st;
    static const char id_hex[] = "c200000000000000000000000000000000000000000000000000000000000001";
    static const char conn_hex[] = "000102030405060708090a0b0c0d0e0f";
    struct {
        ltype_t t;
        store_value_t v;
        const char *bytes;
        size_t n;
    } cases[] = {
        {LT_BOOL, {.type = SV_INT, .i = 1}, "\x01", 1},
        {LT_I8, {.type = SV_INT, .i = -1}, "\xff", 1},
        {LT_U8, {.type = SV_INT, .i = 200}, "\xc8", 1},
        {LT_I16, {.type = SV_INT, .i = -2}, "\xfe\xff", 2},
        {LT_U16, {.type = SV_INT, .i = 513}, "\x01\x02", 2},
        {LT_I32, {.type = SV_INT, .i = 1}, "\x01\0\0\0", 4},
        {LT_U32, {.type = SV_INT, .i = 4294967295LL}, "\xff\xff\xff\xff", 4},
        {LT_I64, {.type = SV_INT, .i = -1}, "\xff\xff\xff\xff\xff\xff\xff\xff", 8},
        {LT_U64, {.type = SV_INT, .i = 256}, "\0\1\0\0\0\0\0\0", 8},
        {LT_F32, {.type = SV_REAL, .d = 1.0}, "\0\0\x80\x3f", 4},
        {LT_F64, {.type = SV_REAL, .d = 2.0}, "\0\0\0\0\0\0\0\x40", 8},
        {LT_STRING, {.type = SV_TEXT, .p = "hi", .n = 2}, "\2\0\0\0hi", 6},
        {LT_BYTES, {.type = SV_BLOB, .p = "\0\1", .n = 2}, "\2\0\0\0\0\1", 6},
        {LT_TIMESTAMP, {.type = SV_INT, .i = 1}, "\1\0\0\0\0\0\0\0", 8},
        {LT_STRING, {.type = SV_INT, .i = 42}, "\2\0\0\0" "42", 6}, /* cast */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf_t b = BUF_INIT;
        stdb_bsatn_value(&b, (scol_t){cases[i].t, false}, &cases[i].v);
        assert_int_equal(b.len, cases[i].n);
        assert_memory_equal(b.data, cases[i].bytes, cases[i].n);
        buf_free(&b);
    }
    /* identity: u256 little-endian, i.e. the hex's bytes reversed */
    buf_t b = BUF_INIT;
    store_value_t v = {.type = SV_TEXT, .p = id_hex, .n = 64};
    stdb_bsatn_value(&b, (scol_t){LT_IDENTITY, false}, &v);
    assert_int_equal(b.len, 32);
    assert_int_equal((uint8_t)b.data[0], 0x01);
    assert_int_equal((uint8_t)b.data[31], 0xc2);
    buf_reset(&b);
    v = (store_value_t){.type = SV_TEXT, .p = conn_hex, .n = 32};
    stdb_bsatn_value(&b, (scol_t){LT_CONNECTION_ID, false}, &v);
    assert_int_equal(b.len, 16);
    assert_int_equal((uint8_t)b.data[0], 0x0f);
    assert_int_equal((uint8_t)b.data[15], 0x00);
    /* Option: some = 0, none = 1 */
    buf_reset(&b);
    v = (store_value_t){.type = SV_NULL};
    stdb_bsatn_value(&b, (scol_t){LT_STRING, true}, &v);
    v = (store_value_t){.type = SV_TEXT, .p = "x", .n = 1};
    stdb_bsatn_value(&b, (scol_t){LT_STRING, true}, &v);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "\x01\x00\x01\0\0\0x", 7);
    buf_free(&b);
}

static mreducer_t every_param(void) {
    static char *names[] = {"b", "i8", "u16", "i32", "u64", "f", "s", "raw", "who", "conn", "at", "maybe"};
    static ltype_t types[] = {LT_BOOL, LT_I8, LT_U16, LT_I32, LT_U64, LT_F64, LT_STRING, LT_BYTES,
                              LT_IDENTITY, LT_CONNECTION_ID, LT_TIMESTAMP, LT_I64};
    static bool optional[] = {false, false, false, false, false, false, false, false, false, false, false, true};
    return (mreducer_t){"r", 0, 12, names, types, optional};
}

static void reducer_args_both_ways(void **st) {
    (void)st;
    mreducer_t r = every_param();
    json_error_t je;
    json_t *args = json_loads("[true, -3, 65535, -5, 9007199254740993, 0.5, \"s\", \"00ff\", "
                              "\"c200000000000000000000000000000000000000000000000000000000000001\", "
                              "\"000102030405060708090a0b0c0d0e0f\", 1700000000000000, null]",
                              0, &je);
    assert_non_null(args);
    buf_t b = BUF_INIT;
    assert_true(stdb_args_to_bsatn(&r, args, &b));
    assert_int_equal(b.len, 1 + 1 + 2 + 4 + 8 + 8 + 5 + 6 + 32 + 16 + 8 + 1);
    char why[200];
    json_t *back = stdb_args_from_bsatn(&r, (const uint8_t *)b.data, b.len, why, sizeof why);
    assert_non_null(back);
    assert_true(json_equal(back, args));
    /* by name, with the optional one given */
    json_t *named = json_pack("{s:b,s:i,s:i,s:i,s:I,s:f,s:s,s:s,s:s,s:s,s:I,s:{s:i}}", "b", 1, "i8", 1, "u16", 2,
                              "i32", 3, "u64", (json_int_t)4, "f", 1.0, "s", "x", "raw", "", "who",
                              "c200000000000000000000000000000000000000000000000000000000000001", "conn",
                              "0x000102030405060708090a0b0c0d0e0f", "at", (json_int_t)5, "maybe", "some", 6);
    buf_reset(&b);
    assert_true(stdb_args_to_bsatn(&r, named, &b));
    json_t *again = stdb_args_from_bsatn(&r, (const uint8_t *)b.data, b.len, why, sizeof why);
    assert_non_null(again);
    assert_int_equal(json_integer_value(json_array_get(again, 11)), 6);
    /* too short, too long, a bad bool, u64 past i64: refused */
    assert_null(stdb_args_from_bsatn(&r, (const uint8_t *)b.data, b.len - 1, why, sizeof why));
    buf_t longer = BUF_INIT;
    buf_append(&longer, b.data, b.len);
    bw_u8(&longer, 0);
    assert_null(stdb_args_from_bsatn(&r, (const uint8_t *)longer.data, longer.len, why, sizeof why));
    longer.data[0] = 2;
    assert_null(stdb_args_from_bsatn(&r, (const uint8_t *)longer.data, longer.len - 1, why, sizeof why));
    /* JSON that does not fit */
    json_t *wrong = json_loads("[1]", 0, &je);
    buf_reset(&b);
    assert_false(stdb_args_to_bsatn(&r, wrong, &b));
    json_decref(wrong);
    buf_free(&longer);
    buf_free(&b);
    json_decref(args);
    json_decref(back);
    json_decref(named);
    json_decref(again);
}

static void client_messages_decode_and_refuse(void **st) {
    (void)st;
    cmsg_t m;
    char why[128];
    /* v2 Subscribe{request_id 3, query_set_id 9, ["SELECT * FROM t"]} */
    buf_t b = BUF_INIT;
    bw_u8(&b, 0);
    bw_u32(&b, 3);
    bw_u32(&b, 9);
    bw_u32(&b, 1);
    bw_cstr(&b, "SELECT * FROM t");
    assert_true(stdb_cmsg_bsatn(WP_V2, (const uint8_t *)b.data, b.len, &m, why, sizeof why));
    assert_int_equal(m.kind, CM_SUB_MULTI);
    assert_int_equal(m.request_id, 3);
    assert_int_equal(m.set_id, 9);
    assert_int_equal(m.nq, 1);
    assert_string_equal(m.queries[0], "SELECT * FROM t");
    stdb_cmsg_free(&m);
    /* every proper prefix is refused */
    for (size_t n = 0; n < b.len; n++)
        assert_false(stdb_cmsg_bsatn(WP_V2, (const uint8_t *)b.data, n, &m, why, sizeof why));
    /* and a trailing byte */
    bw_u8(&b, 0);
    assert_false(stdb_cmsg_bsatn(WP_V2, (const uint8_t *)b.data, b.len, &m, why, sizeof why));
    assert_string_equal(why, "bytes after the end of a message");
    /* v1 CallReducer{reducer, args, request_id, flags} */
    buf_reset(&b);
    bw_u8(&b, 0);
    bw_cstr(&b, "add");
    bw_bytes(&b, "\x07\0\0\0", 4);
    bw_u32(&b, 11);
    bw_u8(&b, 1);
    assert_true(stdb_cmsg_bsatn(WP_V1, (const uint8_t *)b.data, b.len, &m, why, sizeof why));
    assert_int_equal(m.kind, CM_CALL);
    assert_string_equal(m.reducer, "add");
    assert_true(m.args_binary);
    assert_int_equal(m.args_len, 4);
    assert_int_equal(m.request_id, 11);
    assert_int_equal(m.flags, 1);
    stdb_cmsg_free(&m);
    /* unknown tags */
    const uint8_t t9 = 9;
    assert_false(stdb_cmsg_bsatn(WP_V1, &t9, 1, &m, why, sizeof why));
    assert_false(stdb_cmsg_bsatn(WP_V2, &t9, 1, &m, why, sizeof why));
    /* JSON */
    const char *js = "{\"SubscribeSingle\":{\"query\":\"SELECT * FROM t\",\"request_id\":2,\"query_id\":{\"id\":5}}}";
    assert_true(stdb_cmsg_json(js, strlen(js), &m, why, sizeof why));
    assert_int_equal(m.kind, CM_SUB_SINGLE);
    assert_int_equal(m.set_id, 5);
    stdb_cmsg_free(&m);
    assert_false(stdb_cmsg_json("{\"Nope\":{}}", 11, &m, why, sizeof why));
    buf_free(&b);
}

/* spec §5: a v2 SubscribeApplied carrying "Alice", byte for byte. */
static void spec_example_exactly(void **st) {
    (void)st;
    static const char *const names[] = {"name"};
    static const char *const decltypes[] = {"TEXT"};
    static const bool notnull[] = {true};
    store_value_t alice = {.type = SV_TEXT, .p = "Alice", .n = 5};
    subs_rows_t rows = {"person", 4096, 1, names, decltypes, notnull, 1, &alice};
    wsess_t s = {.proto = WP_V2, .identity = "", .token = ""};
    buf_t b = BUF_INIT;
    wire_applied(&b, &s, R_MULTI, 0, 0, &rows, 1, 12, false);
    static const uint8_t want[] = {0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x06, 0, 0, 0,
                                   'p',  'e',  'r', 's', 'o', 'n', 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0x09, 0, 0, 0, 0x05, 0, 0, 0, 'A', 'l', 'i', 'c', 'e'};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(primitives_round_trip),
        cmocka_unit_test(little_endian_and_big_numbers_reversed),
        cmocka_unit_test(reader_never_reads_past_the_end),
        cmocka_unit_test(module_types_in_bsatn),
        cmocka_unit_test(reducer_args_both_ways),
        cmocka_unit_test(client_messages_decode_and_refuse),
        cmocka_unit_test(spec_example_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
