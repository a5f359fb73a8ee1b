/* Unit tests for src/util: JSON writer, query strings and URL coding, ULID,
 * base64url, UTF-8 and the name rule. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/names.h"
#include "util/buf.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/csv.h"
#include "util/md5.h"
#include "util/multipart.h"
#include "util/url.h"
#include "util/thread.h"
#include "util/timeutil.h"
#include "util/utf8.h"

static char *esc(const char *s, size_t n, int flags) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, flags);
    jw_strn(&w, s, n);
    return buf_detach(&b);
}

static void json_escapes_controls_and_quotes(void **st) {
    (void)st;
    char *s = esc("a\"b\\c\n\r\t\b\f\x01\x1f", 13, 0);
    assert_string_equal(s, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u0000\""); /* NUL included */
    free(s);
}

/* The writer tests eight bytes at a time: every byte that needs escaping
 * must be caught at every position of a word and of the tail after it. */
static void json_escape_catches_every_position(void **st) {
    (void)st;
    const unsigned char specials[] = {'"', '\\', 0x00, 0x1f, 0x7f, 0x80, 0xe9, ' ', '~', '!', '#', '[', ']'};
    for (size_t len = 1; len <= 19; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof specials; k++) {
                char in[24];
                memset(in, 'a', len);
                in[at] = (char)specials[k];
                char *got = esc(in, len, 0);
                /* the same text escaped one byte at a time */
                buf_t want = BUF_INIT;
                buf_putc(&want, '"');
                for (size_t i = 0; i < len; i++) {
                    buf_t one = BUF_INIT;
                    json_escape(&one, in + i, 1, 0);
                    buf_append(&want, one.data ? one.data : "", one.len);
                    buf_free(&one);
                }
                buf_putc(&want, '"');
                assert_string_equal(got, want.data);
                free(got);
                buf_free(&want);
            }
        }
    }
}

static void json_passes_utf8_and_replaces_invalid(void **st) {
    (void)st;
    char *s = esc("é資😎", strlen("é資😎"), 0);
    assert_string_equal(s, "\"é資😎\"");
    free(s);
    /* lone continuation byte, truncated sequence, overlong '/', surrogate */
    const char bad[] = "a\x80z\xe6\x96x\xc0\xaf\xed\xa0\x80";
    s = esc(bad, sizeof bad - 1, 0);
    assert_string_equal(s, "\"a\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD"
                           "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    assert_true(utf8_valid(s, strlen(s)));
    free(s);
}

static void json_ascii_mode_uses_surrogates(void **st) {
    (void)st;
    char *s = esc("é😎", strlen("é😎"), JW_ASCII);
    assert_string_equal(s, "\"\\u00e9\\ud83d\\ude0e\"");
    free(s);
}

static void json_structure_and_separators(void **st) {
    (void)st;
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "a");
    jw_arr_begin(&w);
    jw_int(&w, 1);
    jw_null(&w);
    jw_bool(&w, true);
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_key(&w, "b");
    jw_str(&w, "x");
    jw_obj_end(&w);
    assert_string_equal(b.data, "{\"a\":[1,null,true,{}],\"b\":\"x\"}");
    buf_reset(&b);
    jw_init(&w, &b, JW_SPACED);
    jw_obj_begin(&w);
    jw_key(&w, "a");
    jw_int(&w, 1);
    jw_key(&w, "b");
    jw_arr_begin(&w);
    jw_int(&w, 2);
    jw_int(&w, 3);
    jw_arr_end(&w);
    jw_obj_end(&w);
    assert_string_equal(b.data, "{\"a\": 1, \"b\": [2, 3]}");
    buf_free(&b);
}

static void json_int64_exact(void **st) {
    (void)st;
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_arr_begin(&w);
    jw_int(&w, INT64_MAX);
    jw_int(&w, INT64_MIN);
    jw_int(&w, 0);
    jw_int(&w, -1);
    jw_arr_end(&w);
    assert_string_equal(b.data, "[9223372036854775807,-9223372036854775808,0,-1]");
    buf_free(&b);
}

static void json_doubles_round_trip(void **st) {
    (void)st;
    struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"}, {100.0, "100.0"}, {1e16, "1e+16"}, {1e-5, "1e-05"}, {0.0001, "0.0001"},
        {-2.5, "-2.5"}, {1.0 / 3, "0.3333333333333333"}, {123456789012345.0, "123456789012345.0"},
        {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"}, {0.0, "0.0"}, {-0.0, "-0.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[32];
        json_format_double(cases[i].v, out);
        assert_string_equal(out, cases[i].text);
        assert_true(strtod(out, NULL) == cases[i].v);
    }
    /* Random doubles always read back exactly. */
    for (int i = 0; i < 20000; i++) {
        uint64_t bits;
        randombytes_buf(&bits, sizeof bits);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d)) continue;
        char out[32];
        json_format_double(d, out);
        assert_true(strtod(out, NULL) == d);
    }
    /* Decimal-looking values (the fast path) are the shortest that read
     * back: one significant digit fewer never does. */
    for (int i = 0; i < 20000; i++) {
        uint32_t r = randombytes_random();
        double d = (double)(int32_t)r / (double)(1u << (r % 7)) / (double)(1 + r % 997);
        if (i % 2) d = (double)(int32_t)r / (double)(i % 9 == 0 ? 1 : i % 9 == 1 ? 10 : i % 9 == 2 ? 100 : 1000);
        char out[32];
        json_format_double(d, out);
        assert_true(strtod(out, NULL) == d);
        int sig = 0, zeros = 0;
        bool lead = true;
        for (const char *c = out; *c && *c != 'e'; c++) {
            if (*c < '0' || *c > '9') continue;
            if (lead && *c == '0') continue;
            lead = false;
            if (*c == '0') zeros++;
            else sig += zeros + 1, zeros = 0;
        }
        if (sig > 1) {
            char shorter[40];
            snprintf(shorter, sizeof shorter, "%.*e", sig - 2, d);
            assert_false(strtod(shorter, NULL) == d);
        }
    }
    assert_true(json_format_double(79.2, (char[32]){0}) == 4);
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_arr_begin(&w);
    jw_double(&w, INFINITY);
    jw_double(&w, NAN);
    jw_arr_end(&w);
    assert_string_equal(b.data, "[null,null]");
    buf_free(&b);
}

static void qs_keeps_repeats_in_order(void **st) {
    (void)st;
    qs_t q;
    const char *s = "a=1&b=&a=2&c&d=x+y%20z&e=%zz&&f=%C3%A9";
    qs_parse(&q, s, strlen(s));
    assert_int_equal(q.n, 7);
    assert_string_equal(q.pairs[0].key, "a");
    assert_string_equal(q.pairs[0].value, "1");
    assert_string_equal(q.pairs[1].key, "b");
    assert_string_equal(q.pairs[1].value, "");
    assert_string_equal(q.pairs[2].value, "2");
    assert_string_equal(q.pairs[3].key, "c");
    assert_string_equal(q.pairs[3].value, "");
    assert_string_equal(q.pairs[4].value, "x y z");
    assert_string_equal(q.pairs[5].value, "%zz");
    assert_string_equal(q.pairs[6].value, "é");
    assert_string_equal(qs_get(&q, "a"), "1");
    assert_null(qs_get(&q, "zz"));
    qs_free(&q);
}

static void percent_decoding_is_strict_for_segments(void **st) {
    (void)st;
    buf_t b = BUF_INIT;
    assert_int_equal(url_decode_segment("a%20b%C3%A9", 11, &b), 0);
    assert_string_equal(b.data, "a bé");
    buf_reset(&b);
    assert_int_equal(url_decode_segment("a%2", 3, &b), -1);
    buf_reset(&b);
    assert_int_equal(url_decode_segment("%zz", 3, &b), -1);
    buf_reset(&b);
    assert_int_equal(url_decode_segment("%FF", 3, &b), -1); /* not UTF-8 */
    buf_reset(&b);
    assert_int_equal(url_decode_segment("a%00", 4, &b), -1);
    buf_free(&b);
}

static void tilde_round_trip(void **st) {
    (void)st;
    buf_t b = BUF_INIT, d = BUF_INIT;
    const char *s = "a b/c.d,e~fé-_";
    tilde_encode(&b, s, strlen(s));
    assert_string_equal(b.data, "a+b~2Fc~2Ed~2Ce~7Ef~C3~A9-_");
    assert_int_equal(tilde_decode(b.data, b.len, &d), 0);
    assert_string_equal(d.data, s);
    buf_reset(&d);
    assert_int_equal(tilde_decode("~4", 2, &d), -1);
    buf_free(&b);
    buf_free(&d);
}

static void ulid_shape_and_time(void **st) {
    (void)st;
    char a[ULID_LEN + 1], b[ULID_LEN + 1];
    ulid_make(1469918176385ull, a);
    assert_int_equal(strlen(a), 26);
    assert_true(ulid_valid(a));
    assert_int_equal(ulid_time(a), 1469918176385ll);
    assert_memory_equal(a, "01aryz6s41", 10); /* the ULID spec's example timestamp */
    ulid_new(a);
    ulid_new(b);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 26; i++) assert_true(strchr("0123456789abcdefghjkmnpqrstvwxyz", a[i]) != NULL);
    assert_false(ulid_valid("8zzzzzzzzzzzzzzzzzzzzzzzzz"));
    assert_false(ulid_valid("01ARYWY6S1"));
    assert_false(ulid_valid("01arywy6s1uuuuuuuuuuuuuuuu"));
}

static void base64url_round_trip(void **st) {
    (void)st;
    const uint8_t raw[] = {0xfb, 0xff, 0x00, 0x3e, 0x3f, 0x7f};
    buf_t b = BUF_INIT;
    b64url_encode(&b, raw, sizeof raw);
    assert_string_equal(b.data, "-_8APj9_");
    uint8_t out[16];
    assert_int_equal(b64url_decode(b.data, b.len, out, sizeof out), (int)sizeof raw);
    assert_memory_equal(out, raw, sizeof raw);
    assert_int_equal(b64url_decode("a+b/", 4, out, sizeof out), -1);
    assert_int_equal(b64url_decode("ab!c", 4, out, sizeof out), -1);
    buf_reset(&b);
    b64_encode(&b, (const uint8_t *)"ab", 2);
    assert_string_equal(b.data, "YWI=");
    buf_reset(&b);
    b64url_encode(&b, (const uint8_t *)"", 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void uuid_shape(void **st) {
    (void)st;
    char u[UUID_LEN + 1];
    uuid4_new(u);
    assert_true(uuid_valid(u));
    assert_int_equal(u[14], '4');
    assert_false(uuid_valid("not-a-uuid"));
}

static void names_follow_the_rule(void **st) {
    (void)st;
    const char *good[] = {"alice", "ALICE", "An0ther-database_with-1onG-Name", "資料庫", "and·even‿a·smile", "_x", NULL};
    const char *bad[] = {"", " ", ".", "!", "...", "·‿·", "😎", "my😎database", "1db", "a b", "-a", NULL};
    for (int i = 0; good[i]; i++) assert_true(name_valid(good[i], strlen(good[i])));
    for (int i = 0; bad[i]; i++) assert_false(name_valid(bad[i], strlen(bad[i])));
    char long_name[300];
    memset(long_name, 'a', 256);
    long_name[256] = 0;
    assert_false(name_valid(long_name, 256));
    assert_true(name_valid(long_name, 255));
    err_t e;
    assert_int_equal(name_check_db("_internal", &e), -1);
    assert_int_equal(e.kind, E_INTERNAL_NAME);
    assert_int_equal(name_check_db("api", &e), -1);
    assert_int_equal(e.kind, E_RESERVED_NAME);
    assert_int_equal(name_check_db("fine", &e), 0);
}

static void sanitized_stems_are_valid(void **st) {
    (void)st;
    const char *in[] = {"my data", "1999", "_hidden", "v1", "ok-name", "a.b", ""};
    const char *want[] = {"my_data", "db_1999", "db_hidden", "v1_db", "ok-name", "a_b", "db"};
    for (int i = 0; i < 7; i++) {
        buf_t b = BUF_INIT;
        name_sanitize(in[i], &b);
        assert_string_equal(b.data, want[i]);
        err_t e;
        assert_int_equal(name_check_db(b.data, &e), 0);
        buf_free(&b);
    }
}

static void md5_known_digests(void **st) {
    (void)st;
    char h[33];
    md5_hex("", 0, h);
    assert_string_equal(h, "d41d8cd98f00b204e9800998ecf8427e");
    md5_hex("abc", 3, h);
    assert_string_equal(h, "900150983cd24fb0d6963f7d28e17f72");
    const char *l = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
    md5_hex(l, strlen(l), h);
    assert_string_equal(h, "57edf4a22be3c955ac49da2e2107b67a");
}

static void form_encoding_like_urlencode(void **st) {
    (void)st;
    buf_t b = BUF_INIT;
    const char *s = "a b,c~d.e_f-g/\xc3\xa9";
    url_encode_form(&b, s, strlen(s));
    assert_string_equal(b.data, "a+b%2Cc~d.e_f-g%2F%C3%A9");
    buf_free(&b);
}

static void *mark_and_report(void *arg) {
    thread_mark_loop();
    *(bool *)arg = thread_is_loop();
    thread_assert_on_loop("test"); /* a loop: returns */
    return NULL;
}

/* A loop thread is marked for itself only; off-loop checks pass elsewhere. */
static void thread_roles_are_per_thread(void **st) {
    (void)st;
    assert_false(thread_is_loop());
    bool there = false;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, mark_and_report, &there), 0);
    pthread_join(t, NULL);
    assert_true(there);
    assert_false(thread_is_loop());
    thread_assert_off_loop("test"); /* not a loop: returns */
}

static void iso8601_parses_what_it_prints(void **st) {
    (void)st;
    int64_t ms;
    char out[25];
    assert_int_equal(time_parse_iso8601("2023-06-21T09:44:42Z", &ms), 0);
    assert_int_equal(ms, 1687340682000LL);
    time_iso8601(1687340682123LL, out);
    assert_int_equal(time_parse_iso8601(out, &ms), 0);
    assert_int_equal(ms, 1687340682123LL);
    assert_int_equal(time_parse_iso8601("2023-06-21", &ms), 0);
    assert_int_equal(ms, 1687305600000LL);
    assert_int_equal(time_parse_iso8601("2023-06-21T11:44:42+02:00", &ms), 0);
    assert_int_equal(ms, 1687340682000LL);
    assert_int_equal(time_parse_iso8601("2023-06-21T09:44:42.5Z", &ms), 0);
    assert_int_equal(ms, 1687340682500LL);
    const char *bad[] = {"", "tomorrow", "2023-6-21", "2023-02-30", "2023-06-21T25:00:00Z", "2023-06-21T09:44:42Zjunk",
                         "2023-06-21T09:44:42.Z", "2023-13-01"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(time_parse_iso8601(bad[i], &ms), -1);
}

static void csv_reader_reads_rfc4180(void **st) {
    (void)st;
    static const char text[] = "\xEF\xBB\xBF" "a,\"b,c\",\"say \"\"hi\"\"\"\r\n1,,\"\"\n\"two\nlines\",x\n";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
    csv_reader_t r;
    csv_reader_init(&r, f);
    char err[128];
    assert_int_equal(csv_read(&r, err, sizeof err), 1);
    assert_int_equal(r.nfields, 3);
    assert_string_equal(csv_get(&r, 0), "a");
    assert_string_equal(csv_get(&r, 1), "b,c");
    assert_string_equal(csv_get(&r, 2), "say \"hi\"");
    assert_int_equal(csv_read(&r, err, sizeof err), 1);
    assert_int_equal(r.nfields, 3);
    assert_string_equal(csv_get(&r, 1), "");
    assert_false(r.quoted[1]);
    assert_true(r.quoted[2]);
    assert_int_equal(csv_read(&r, err, sizeof err), 1);
    assert_string_equal(csv_get(&r, 0), "two\nlines");
    assert_int_equal(csv_read(&r, err, sizeof err), 0);
    csv_reader_free(&r);
    fclose(f);
    /* a first byte of 0xEF that starts no BOM is text (U+F000 here) */
    static const char ef[] = "\xEF\x80\x80,x\n";
    f = fmemopen((void *)ef, sizeof ef - 1, "r");
    csv_reader_init(&r, f);
    assert_int_equal(csv_read(&r, err, sizeof err), 1);
    assert_string_equal(csv_get(&r, 0), "\xEF\x80\x80");
    csv_reader_free(&r);
    fclose(f);
    static const char nul[] = "a,b\0c\n";
    f = fmemopen((void *)nul, sizeof nul - 1, "r");
    csv_reader_init(&r, f);
    assert_int_equal(csv_read(&r, err, sizeof err), -1);
    csv_reader_free(&r);
    fclose(f);
    static const char bad[] = "a,\"open\n";
    f = fmemopen((void *)bad, sizeof bad - 1, "r");
    csv_reader_init(&r, f);
    assert_int_equal(csv_read(&r, err, sizeof err), -1);
    csv_reader_free(&r);
    fclose(f);
}

static int mp_begin(void *ctx, const mp_part_t *p) {
    buf_printf(ctx, "<%s|%s|%s>", p->name, p->filename, p->content_type);
    return 0;
}
static int mp_data(void *ctx, const char *p, size_t n) {
    buf_append(ctx, p, n);
    return 0;
}
static int mp_end(void *ctx) {
    buf_puts(ctx, "</>");
    return 0;
}

static void multipart_reads_parts_across_chunks(void **st) {
    (void)st;
    char boundary[MP_BOUNDARY_MAX + 1];
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"q-1\"", boundary), 0);
    assert_string_equal(boundary, "q-1");
    assert_int_equal(multipart_boundary("application/json", boundary), -1);
    buf_t body = BUF_INIT;
    buf_puts(&body, "--q-1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.csv\"\r\n"
                    "Content-Type: text/csv\r\n\r\n");
    for (int i = 0; i < 40000; i++) buf_puts(&body, "x,\r\n-"); /* 200 KB, near-boundaries everywhere */
    buf_puts(&body, "\r\n--q-1\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbooks\r\n--q-1--\r\n");
    FILE *f = fmemopen(body.data, body.len, "r");
    buf_t out = BUF_INIT;
    mp_callbacks_t cb = {mp_begin, mp_data, mp_end};
    char err[128];
    assert_int_equal(multipart_read(f, "q-1", &cb, &out, err, sizeof err), 0);
    fclose(f);
    assert_true(strncmp(out.data, "<file|a b.csv|text/csv>x,\r\n-", 28) == 0);
    assert_int_equal(out.len, strlen("<file|a b.csv|text/csv>") + 40000 * 5 + strlen("</><name||>books</>"));
    assert_true(memcmp(out.data + out.len - 19, "</><name||>books</>", 19) == 0);
    buf_free(&out);
    buf_free(&body);
}

int main(void) {
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_escapes_controls_and_quotes),
        cmocka_unit_test(json_escape_catches_every_position),
        cmocka_unit_test(json_passes_utf8_and_replaces_invalid),
        cmocka_unit_test(json_ascii_mode_uses_surrogates),
        cmocka_unit_test(json_structure_and_separators),
        cmocka_unit_test(json_int64_exact),
        cmocka_unit_test(json_doubles_round_trip),
        cmocka_unit_test(qs_keeps_repeats_in_order),
        cmocka_unit_test(percent_decoding_is_strict_for_segments),
        cmocka_unit_test(tilde_round_trip),
        cmocka_unit_test(ulid_shape_and_time),
        cmocka_unit_test(base64url_round_trip),
        cmocka_unit_test(uuid_shape),
        cmocka_unit_test(names_follow_the_rule),
        cmocka_unit_test(sanitized_stems_are_valid),
        cmocka_unit_test(md5_known_digests),
        cmocka_unit_test(form_encoding_like_urlencode),
        cmocka_unit_test(thread_roles_are_per_thread),
        cmocka_unit_test(iso8601_parses_what_it_prints),
        cmocka_unit_test(csv_reader_reads_rfc4180),
        cmocka_unit_test(multipart_reads_parts_across_chunks),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
