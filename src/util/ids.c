/* ids: ULID, UUID, hex and base64 (see ids.h). */
#include "util/ids.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

void ulid_make(uint64_t ms, char out[ULID_LEN + 1]) {
    uint8_t b[16];
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(ms >> (8 * (5 - i)));
    randombytes_buf(b + 6, 10);
    /* 128 bits -> 26 base32 chars, most significant first (the first char
     * carries only 3 bits). */
    int bit = -2; /* 130 bits of output: pad two zero bits on the left */
    for (int i = 0; i < ULID_LEN; i++) {
        int v = 0;
        for (int k = 0; k < 5; k++, bit++) {
            v <<= 1;
            if (bit >= 0) v |= (b[bit / 8] >> (7 - bit % 8)) & 1;
        }
        out[i] = crockford[v];
    }
    out[ULID_LEN] = 0;
}

void ulid_new(char out[ULID_LEN + 1]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ulid_make((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, out);
}

static int crock_val(char c) {
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    const char *p = c ? strchr(crockford, c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

int64_t ulid_time(const char *s) {
    if (!ulid_valid(s)) return -1;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) v = (v << 5) | (uint64_t)crock_val(s[i]);
    return (int64_t)v;
}

bool ulid_valid(const char *s) {
    if (strlen(s) != ULID_LEN) return false;
    for (int i = 0; i < ULID_LEN; i++)
        if (crock_val(s[i]) < 0) return false;
    return crock_val(s[0]) <= 7;
}

void uuid4_new(char out[UUID_LEN + 1]) {
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
    char h[33];
    hex_encode(b, 16, h);
    memcpy(out, h, 8);
    out[8] = '-';
    memcpy(out + 9, h + 8, 4);
    out[13] = '-';
    memcpy(out + 14, h + 12, 4);
    out[18] = '-';
    memcpy(out + 19, h + 16, 4);
    out[23] = '-';
    memcpy(out + 24, h + 20, 12);
    out[36] = 0;
}

bool uuid_valid(const char *s) {
    if (strlen(s) != UUID_LEN) return false;
    for (int i = 0; i < UUID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

void hex_encode(const uint8_t *in, size_t n, char *out) {
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = 0;
}

int hex_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
    size_t len;
    if (n % 2 || n / 2 > cap) return -1;
    if (sodium_hex2bin(out, cap, s, n, NULL, &len, NULL) != 0 || len != n / 2) return -1;
    return (int)len;
}

static void b64(buf_t *out, const uint8_t *in, size_t n, int variant) {
    size_t need = sodium_base64_encoded_len(n, variant);
    buf_reserve(out, need);
    sodium_bin2base64(out->data + out->len, need, in, n, variant);
    out->len += strlen(out->data + out->len);
}

void b64url_encode(buf_t *out, const uint8_t *in, size_t n) {
    b64(out, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void b64_encode(buf_t *out, const uint8_t *in, size_t n) { b64(out, in, n, sodium_base64_VARIANT_ORIGINAL); }

int b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
    size_t len;
    const char *end;
    if (sodium_base642bin(out, cap, s, n, NULL, &len, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    if (end != s + n) return -1;
    return (int)len;
}

int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
    size_t len;
    const char *end;
    if (sodium_base642bin(out, cap, s, n, NULL, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0) return -1;
    if (end != s + n) return -1;
    return (int)len;
}

void random_base32(char *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = crockford[randombytes_uniform(32)];
    out[n] = 0;
}
