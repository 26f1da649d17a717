/*
 * storage/format.c: segment names, batch peeking and scanning, index
 * entries, and the small metadata files. See storage/format.h.
 */
#include "storage/format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sp.h"
#include "protocol/crc32c.h"

int sp_seg_name(char *out, size_t cap, int64_t base_offset, const char *ext)
{
    SP_ASSERT(base_offset >= 0);
    int n = snprintf(out, cap, "%020" PRId64 "%s", base_offset, ext);
    SP_ASSERT(n > 0 && (size_t)n < cap);
    return n;
}

int sp_seg_name_parse(const char *name, int64_t *base_offset, const char **ext)
{
    int64_t v = 0;
    for (int i = 0; i < SP_SEG_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return -EINVAL;
        }
        if (v > (INT64_MAX - 9) / 10) {
            return -EINVAL;
        }
        v = v * 10 + (name[i] - '0');
    }
    if (name[SP_SEG_NAME_DIGITS] != '.') {
        return -EINVAL;
    }
    *base_offset = v;
    *ext = name + SP_SEG_NAME_DIGITS;
    return 0;
}

int sp_seg_batch_peek(const uint8_t *buf, size_t len, struct sp_seg_batch *out)
{
    if (len < SP_BATCH_OFF_MAGIC + 1) {
        /* Zeros are recognisable early: a zero length is never a batch. */
        if (len >= SP_BATCH_OFF_LENGTH + 4 && sp_be32_get(buf + SP_BATCH_OFF_LENGTH) == 0) {
            return -EBADMSG;
        }
        return 0;
    }
    uint32_t blen = sp_be32_get(buf + SP_BATCH_OFF_LENGTH);
    if (blen < SP_BATCH_HDR_BYTES - SP_BATCH_LOG_OVERHEAD ||
        blen > SP_BATCH_BYTES_MAX - SP_BATCH_LOG_OVERHEAD || buf[SP_BATCH_OFF_MAGIC] != 2) {
        return -EBADMSG;
    }
    if (len < SP_BATCH_HDR_BYTES) {
        return 0;
    }
    int64_t base = (int64_t)sp_be64_get(buf + SP_BATCH_OFF_BASE_OFFSET);
    int32_t delta = (int32_t)sp_be32_get(buf + SP_BATCH_OFF_LAST_DELTA);
    if (base < 0 || delta < 0 || base > INT64_MAX - delta) {
        return -EBADMSG;
    }
    out->base_offset = base;
    out->last_offset = base + delta;
    out->max_timestamp = (int64_t)sp_be64_get(buf + SP_BATCH_OFF_MAX_TS);
    out->leader_epoch = (int32_t)sp_be32_get(buf + SP_BATCH_OFF_EPOCH);
    out->size = blen + SP_BATCH_LOG_OVERHEAD;
    return 1;
}

bool sp_seg_batch_crc_ok(const uint8_t *buf, const struct sp_seg_batch *b)
{
    const size_t from = SP_BATCH_OFF_CRC + 4;
    uint32_t want = sp_be32_get(buf + SP_BATCH_OFF_CRC);
    return sp_crc32c(0, buf + from, b->size - from) == want;
}

void sp_seg_scan(const uint8_t *buf, size_t len, uint64_t pos, struct sp_seg_scan *st,
                 sp_seg_scan_fn fn, void *ctx)
{
    size_t at = 0;
    st->need_more = false;
    while (!st->corrupt) {
        struct sp_seg_batch b;
        int r = sp_seg_batch_peek(buf + at, len - at, &b);
        if (r == 0 || (r == 1 && b.size > len - at)) {
            st->need_more = true;
            return;
        }
        if (r < 0 || !sp_seg_batch_crc_ok(buf + at, &b) ||
            (st->next_offset != INT64_MIN && b.base_offset != st->next_offset &&
             !(st->gaps_ok && b.base_offset > st->next_offset))) {
            st->corrupt = true;
            return;
        }
        if (fn) {
            fn(ctx, &b, pos + at);
        }
        at += b.size;
        st->valid_bytes += b.size;
        st->next_offset = b.last_offset + 1;
        st->max_timestamp = SP_MAX(st->max_timestamp, b.max_timestamp);
        st->batches++;
    }
}

void sp_index_entry_put(uint8_t *p, const struct sp_index_entry *e)
{
    sp_be32_put(p, e->rel_offset);
    sp_be32_put(p + 4, e->position);
}

void sp_index_entry_get(const uint8_t *p, struct sp_index_entry *e)
{
    e->rel_offset = sp_be32_get(p);
    e->position = sp_be32_get(p + 4);
}

void sp_tindex_entry_put(uint8_t *p, const struct sp_tindex_entry *e)
{
    sp_be64_put(p, (uint64_t)e->timestamp);
    sp_be32_put(p + 8, e->rel_offset);
}

void sp_tindex_entry_get(const uint8_t *p, struct sp_tindex_entry *e)
{
    e->timestamp = (int64_t)sp_be64_get(p);
    e->rel_offset = sp_be32_get(p + 8);
}

long sp_index_validate(const uint8_t *buf, size_t len, uint64_t seg_bytes)
{
    if (len % SP_INDEX_ENTRY_BYTES != 0) {
        return -EBADMSG;
    }
    long n = 0;
    struct sp_index_entry prev = {0, 0};
    for (size_t at = 0; at < len; at += SP_INDEX_ENTRY_BYTES, n++) {
        struct sp_index_entry e;
        sp_index_entry_get(buf + at, &e);
        if (n > 0 && e.rel_offset == 0 && e.position == 0) {
            /* A zeroed tail (preallocated, or never written): the entries end here. */
            break;
        }
        if (n > 0 && (e.rel_offset <= prev.rel_offset || e.position <= prev.position)) {
            return -EBADMSG;
        }
        if (e.position >= seg_bytes) {
            return -EBADMSG;
        }
        prev = e;
    }
    return n;
}

long sp_tindex_validate(const uint8_t *buf, size_t len)
{
    if (len % SP_TINDEX_ENTRY_BYTES != 0) {
        return -EBADMSG;
    }
    long n = 0;
    struct sp_tindex_entry prev = {0, 0};
    for (size_t at = 0; at < len; at += SP_TINDEX_ENTRY_BYTES, n++) {
        struct sp_tindex_entry e;
        sp_tindex_entry_get(buf + at, &e);
        if (n > 0 && e.timestamp == 0 && e.rel_offset == 0) {
            break;
        }
        if (n > 0 && (e.timestamp <= prev.timestamp || e.rel_offset < prev.rel_offset)) {
            return -EBADMSG;
        }
        prev = e;
    }
    return n;
}

long sp_index_floor(const struct sp_index_entry *e, size_t n, uint32_t rel)
{
    long lo = 0, hi = (long)n - 1, ans = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (e[mid].rel_offset <= rel) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

long sp_tindex_floor(const struct sp_tindex_entry *e, size_t n, int64_t ts)
{
    long lo = 0, hi = (long)n - 1, ans = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (e[mid].timestamp < ts) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

int sp_epoch_ckpt_format(char *out, size_t cap, const struct sp_epoch_entry *e, size_t n)
{
    size_t at = 0;
    int w = snprintf(out, cap, "0\n%zu\n", n);
    if (w < 0 || (size_t)w >= cap) {
        return -ENOSPC;
    }
    at = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(out + at, cap - at, "%" PRId32 " %" PRId64 "\n", e[i].epoch,
                     e[i].start_offset);
        if (w < 0 || (size_t)w >= cap - at) {
            return -ENOSPC;
        }
        at += (size_t)w;
    }
    return (int)at;
}

/* Reads a decimal integer (optionally negative) ending at `stop`; advances *p. */
static int parse_i64(const char **p, const char *end, char stop, int64_t *out)
{
    const char *s = *p;
    bool neg = false;
    if (s < end && *s == '-') {
        neg = true;
        s++;
    }
    int64_t v = 0;
    const char *digits = s;
    while (s < end && *s >= '0' && *s <= '9') {
        if (v > (INT64_MAX - 9) / 10) {
            return -EBADMSG;
        }
        v = v * 10 + (*s - '0');
        s++;
    }
    if (s == digits || s >= end || *s != stop) {
        return -EBADMSG;
    }
    *out = neg ? -v : v;
    *p = s + 1;
    return 0;
}

int sp_epoch_ckpt_parse(const char *buf, size_t len, struct sp_epoch_entry *e, size_t cap)
{
    const char *p = buf, *end = buf + len;
    int64_t version, n;
    if (parse_i64(&p, end, '\n', &version) < 0 || version != 0 ||
        parse_i64(&p, end, '\n', &n) < 0 || n < 0 || (uint64_t)n > cap) {
        return -EBADMSG;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t epoch, off;
        if (parse_i64(&p, end, ' ', &epoch) < 0 || parse_i64(&p, end, '\n', &off) < 0 ||
            epoch < 0 || epoch > INT32_MAX || off < 0) {
            return -EBADMSG;
        }
        if (i > 0 && (epoch <= e[i - 1].epoch || off < e[i - 1].start_offset)) {
            return -EBADMSG;
        }
        e[i].epoch = (int32_t)epoch;
        e[i].start_offset = off;
    }
    return (int)n;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sp_partmeta_format(char *out, size_t cap, const uint8_t topic_id[16])
{
    char enc[23];
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i < 16; i++) {
        acc = (acc << 8) | topic_id[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            enc[k++] = b64url[(acc >> bits) & 63];
        }
    }
    enc[k++] = b64url[(acc << (6 - bits)) & 63];
    enc[k] = 0;
    int w = snprintf(out, cap, "version: 0\ntopic_id: %s\n", enc);
    return (w < 0 || (size_t)w >= cap) ? -ENOSPC : w;
}

int sp_partmeta_parse(const char *buf, size_t len, uint8_t topic_id[16])
{
    static const char head[] = "version: 0\ntopic_id: ";
    size_t hl = sizeof(head) - 1;
    if (len < hl + 22 || memcmp(buf, head, hl) != 0) {
        return -EBADMSG;
    }
    uint32_t acc = 0;
    int bits = 0, k = 0;
    for (size_t i = 0; i < 22; i++) {
        const char *c = memchr(b64url, buf[hl + i], 64);
        if (c == NULL || buf[hl + i] == 0) {
            return -EBADMSG;
        }
        acc = (acc << 6) | (uint32_t)(c - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k < 16) {
                topic_id[k++] = (uint8_t)(acc >> bits);
            }
        }
    }
    return k == 16 ? 0 : -EBADMSG;
}
