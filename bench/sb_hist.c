/*
 * bench/sb_hist.c: log-linear latency histograms, per-second series, the
 * clock, message sizes and CPU pinning for spindle-bench.
 *
 * Buckets of a histogram (SUB = 128 per power of two):
 *
 *   index 0..255                 value = index (exact)
 *   index 256 + (e-1)*128 + k    values [(128+k) << e, (129+k) << e), e >= 1
 *
 * so every bucket above 255 is 1/128 .. 1/256 of its value wide.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/sb_common.h"

int64_t sb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64*: fast, and good enough for sizes, keys and payload bytes. */
uint64_t sb_rand(struct sb_rng *r)
{
    uint64_t x = r->s != 0 ? r->s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint32_t sb_size_draw(const struct sb_size *spec, struct sb_rng *r)
{
    if (spec->kind == SB_SIZE_FIXED || spec->max <= spec->min) {
        return spec->min;
    }
    return spec->min + (uint32_t)(sb_rand(r) % (uint64_t)(spec->max - spec->min + 1));
}

int sb_size_parse(const char *s, struct sb_size *out)
{
    char *end = NULL;
    if (strncmp(s, "uniform:", 8) == 0) {
        unsigned long lo = strtoul(s + 8, &end, 10);
        if (end == NULL || *end != ':') {
            return -EINVAL;
        }
        unsigned long hi = strtoul(end + 1, &end, 10);
        if (*end != '\0' || lo > hi || hi > SB_SIZE_MAX) {
            return -EINVAL;
        }
        *out = (struct sb_size){SB_SIZE_UNIFORM, (uint32_t)lo, (uint32_t)hi};
        return 0;
    }
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || v > SB_SIZE_MAX) {
        return -EINVAL;
    }
    *out = (struct sb_size){SB_SIZE_FIXED, (uint32_t)v, (uint32_t)v};
    return 0;
}

double sb_size_mean(const struct sb_size *spec)
{
    return ((double)spec->min + (double)spec->max) / 2.0;
}

/* ---- Histograms ------------------------------------------------------------ */

static uint32_t hist_index(uint64_t v)
{
    if (v >= (1ull << SB_HIST_BITS)) {
        v = (1ull << SB_HIST_BITS) - 1;
    }
    if (v < SB_HIST_LINEAR) {
        return (uint32_t)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - 7u;
    uint64_t top = v >> e; /* 128..255 */
    return SB_HIST_LINEAR + (e - 1u) * SB_HIST_SUB + (uint32_t)(top - SB_HIST_SUB);
}

/* The highest value that falls in bucket i. */
static uint64_t hist_highest(uint32_t i)
{
    if (i < SB_HIST_LINEAR) {
        return i;
    }
    uint32_t e = (i - SB_HIST_LINEAR) / SB_HIST_SUB + 1u;
    uint64_t top = (i - SB_HIST_LINEAR) % SB_HIST_SUB + SB_HIST_SUB;
    return ((top + 1u) << e) - 1u;
}

void sb_hist_reset(struct sb_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void sb_hist_record(struct sb_hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v < h->min) {
        h->min = v;
    }
    if (v > h->max) {
        h->max = v;
    }
}

void sb_hist_merge(struct sb_hist *into, const struct sb_hist *from)
{
    for (uint32_t i = 0; i < SB_HIST_BUCKETS; i++) {
        into->counts[i] += from->counts[i];
    }
    into->total += from->total;
    into->sum += from->sum;
    into->min = SP_MIN(into->min, from->min);
    into->max = SP_MAX(into->max, from->max);
}

uint64_t sb_hist_percentile(const struct sb_hist *h, double p)
{
    if (h->total == 0) {
        return 0;
    }
    if (p >= 100.0) {
        return h->max;
    }
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total);
    if (rank < 1) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (uint32_t i = 0; i < SB_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_highest(i);
            return SP_MAX(SP_MIN(v, h->max), h->min);
        }
    }
    return h->max;
}

double sb_hist_mean(const struct sb_hist *h)
{
    return h->total != 0 ? h->sum / (double)h->total : 0.0;
}

static void fmt_ns(char *buf, size_t len, uint64_t ns)
{
    if (ns < 1000000) {
        snprintf(buf, len, "%.0fus", (double)ns / 1e3);
    } else if (ns < 10000000000ull) {
        snprintf(buf, len, "%.2fms", (double)ns / 1e6);
    } else {
        snprintf(buf, len, "%.1fs", (double)ns / 1e9);
    }
}

void sb_hist_summary(const struct sb_hist *h, char *buf, size_t len)
{
    char a[32], b[32], c[32], d[32];
    fmt_ns(a, sizeof(a), sb_hist_percentile(h, 50));
    fmt_ns(b, sizeof(b), sb_hist_percentile(h, 99));
    fmt_ns(c, sizeof(c), sb_hist_percentile(h, 99.9));
    fmt_ns(d, sizeof(d), h->max);
    snprintf(buf, len, "p50 %s p99 %s p99.9 %s max %s", a, b, c, d);
}

/* ---- Series ------------------------------------------------------------------ */

int sb_series_init(struct sb_series *s, size_t cap)
{
    s->points = calloc(cap, sizeof(*s->points));
    s->count = 0;
    s->cap = s->points != NULL ? cap : 0;
    return s->points != NULL ? 0 : -ENOMEM;
}

void sb_series_fini(struct sb_series *s)
{
    free(s->points);
    s->points = NULL;
    s->count = s->cap = 0;
}

void sb_series_add(struct sb_series *s, const struct sb_point *p)
{
    if (s->count < s->cap) {
        s->points[s->count++] = *p;
    }
}

/* ---- CPUs -------------------------------------------------------------------- */

static int cpus_parse(const char *list, cpu_set_t *set)
{
    CPU_ZERO(set);
    const char *s = list;
    while (*s != '\0') {
        char *end = NULL;
        long lo = strtol(s, &end, 10);
        long hi = lo;
        if (end == s || lo < 0 || lo >= CPU_SETSIZE) {
            return -EINVAL;
        }
        if (*end == '-') {
            s = end + 1;
            hi = strtol(s, &end, 10);
            if (end == s || hi < lo || hi >= CPU_SETSIZE) {
                return -EINVAL;
            }
        }
        for (long c = lo; c <= hi; c++) {
            CPU_SET((int)c, set);
        }
        if (*end == ',') {
            end++;
        } else if (*end != '\0') {
            return -EINVAL;
        }
        s = end;
    }
    return CPU_COUNT(set) > 0 ? 0 : -EINVAL;
}

int sb_pin(int pid, const char *list)
{
    cpu_set_t set;
    int rc = cpus_parse(list, &set);
    if (rc < 0) {
        return rc;
    }
    return sched_setaffinity(pid, sizeof(set), &set) == 0 ? 0 : -errno;
}

void sb_cpus_string(char *buf, size_t len)
{
    cpu_set_t set;
    size_t at = 0;
    buf[0] = '\0';
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return;
    }
    for (int c = 0; c < CPU_SETSIZE && at + 8 < len; c++) {
        if (CPU_ISSET(c, &set)) {
            at += (size_t)snprintf(buf + at, len - at, "%s%d", at == 0 ? "" : ",", c);
        }
    }
}
