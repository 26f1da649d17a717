/*
 * bench/sb_common.h: what spindle-bench's files share.
 *
 *   spindle_bench.c  options, CPU pinning, dispatch to a mode
 *   sb_hist.c        log-linear latency histograms and per-second series
 *   sb_json.c        the JSON writer of --json and the report helpers
 *   sb_limits.c      the machine's limits: loopback TCP, the disk
 *   sb_kafka.c       produce / consume / e2e / create-topics on the client
 *                    core (client/spc.h)
 *
 * Everything runs on one thread (the limits fork a peer process). Times are
 * CLOCK_MONOTONIC nanoseconds; latencies are recorded in nanoseconds and
 * reported in microseconds.
 */
#ifndef SP_BENCH_SB_COMMON_H
#define SP_BENCH_SB_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/sp.h"

/* ---- Options ------------------------------------------------------------- */

enum sb_size_kind { SB_SIZE_FIXED, SB_SIZE_UNIFORM };

/* A message size: fixed, or uniform in [min, max]. */
struct sb_size {
    enum sb_size_kind kind;
    uint32_t min, max;
};

#define SB_SIZE_MAX      1000000u /* a value's largest size (fits the delivery cookie) */
#define SB_E2E_HEADER    24u      /* magic, send time, sequence at the front of a value */
#define SB_TOPICS_MAX    100000
#define SB_DURATION_MAX  14400.0 /* seconds: the delivery cookie holds 2^44 ns */
#define SB_SERIES_POINTS 20000   /* one point per second, at most */

struct sb_opts {
    const char *mode; /* "produce", "consume", "e2e", "limits-tcp", "limits-disk", ... */
    const char *brokers;
    const char *topic;
    struct sb_size size;
    uint64_t count;     /* 0: by duration */
    double duration_s;  /* 0: by count (or, consuming, until the end) */
    double warmup_s;    /* not measured */
    double rate;        /* records/s, 0: as fast as possible (closed loop) */
    int32_t partitions; /* 0: as the topic has (or the broker's default) */
    uint32_t connections;
    uint32_t inflight;
    int16_t acks;
    const char *compression;
    int32_t batch_bytes;
    int32_t linger_ms;
    uint64_t buffer_bytes; /* the producer's buffer, 0: the library's default */
    bool keyed;
    uint32_t keys; /* distinct keys when keyed */
    bool text_payload;
    bool json;
    bool quiet; /* no progress lines */
    const char *cpus;
    const char *peer_cpus;
    /* consume */
    bool from_end;
    bool loop; /* consume the topic again from the beginning until the duration is over */
    int32_t fetch_max_wait_ms;
    int32_t fetch_max_bytes;
    int32_t fetch_partition_max_bytes;
    double idle_s; /* consuming without a known end: stop after this long without records */
    /* create-topics */
    int32_t topics;
    /* limits */
    const char *dir;
    bool buffered;
    uint64_t disk_bytes;
    uint32_t disk_block;
    uint32_t disk_qd;
    uint32_t sync_count;
    uint32_t sync_bytes;
    uint32_t tcp_write_bytes;
};

/* ---- Clock and randomness ------------------------------------------------ */

int64_t sb_now_ns(void);

struct sb_rng {
    uint64_t s;
};
uint64_t sb_rand(struct sb_rng *r);
/* A size drawn from spec. */
uint32_t sb_size_draw(const struct sb_size *spec, struct sb_rng *r);
/* "1024", "uniform:100:2000"; 0 or -EINVAL. */
int sb_size_parse(const char *s, struct sb_size *out);
/* The mean of spec. */
double sb_size_mean(const struct sb_size *spec);

/* ---- Histograms ---------------------------------------------------------- */

/*
 * Log-linear buckets (HdrHistogram's idea): values below 256 have a bucket
 * each; above, every power of two is split into 128 buckets, so a value is
 * known to within 1/128 (better than 2 significant digits). Values up to
 * 2^46 ns (19 hours); larger ones count as 2^46 - 1. About 40 KiB each.
 */
#define SB_HIST_LINEAR  256u
#define SB_HIST_SUB     128u
#define SB_HIST_BITS    46u
#define SB_HIST_BUCKETS (SB_HIST_LINEAR + (SB_HIST_BITS - 8u) * SB_HIST_SUB)

struct sb_hist {
    uint64_t counts[SB_HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max;
    double sum;
};

void sb_hist_reset(struct sb_hist *h);
void sb_hist_record(struct sb_hist *h, uint64_t v);
void sb_hist_merge(struct sb_hist *into, const struct sb_hist *from);
/* The value at or below which p percent of the values lie (p in 0..100; 0 without values). */
uint64_t sb_hist_percentile(const struct sb_hist *h, double p);
double sb_hist_mean(const struct sb_hist *h);

/* One second of a run. */
struct sb_point {
    double t_s; /* end of the interval, seconds since the start */
    uint64_t msgs, bytes;
    double interval_s;
    uint64_t p50_ns, p99_ns, max_ns; /* of the interval's latencies (0: none) */
};

struct sb_series {
    struct sb_point *points;
    size_t count, cap;
};

int sb_series_init(struct sb_series *s, size_t cap);
void sb_series_fini(struct sb_series *s);
/* Appends (dropped silently once full). */
void sb_series_add(struct sb_series *s, const struct sb_point *p);

/* ---- JSON ---------------------------------------------------------------- */

/* A small streaming writer: keys are NULL inside arrays. */
struct sb_json {
    FILE *f;
    int depth;
    bool first[32];
};

void sb_json_begin(struct sb_json *j, FILE *f);
void sb_json_end(struct sb_json *j);
void sb_json_obj(struct sb_json *j, const char *key);
void sb_json_obj_end(struct sb_json *j);
void sb_json_arr(struct sb_json *j, const char *key);
void sb_json_arr_end(struct sb_json *j);
void sb_json_str(struct sb_json *j, const char *key, const char *value);
void sb_json_int(struct sb_json *j, const char *key, int64_t value);
void sb_json_num(struct sb_json *j, const char *key, double value);
void sb_json_bool(struct sb_json *j, const char *key, bool value);
void sb_json_null(struct sb_json *j, const char *key);

/* {"count", "min_us", "mean_us", "p50_us", ..., "max_us"} of h. */
void sb_json_hist(struct sb_json *j, const char *key, const struct sb_hist *h);
/* [{"t", "msgs", "bytes", "mb_per_s", "msgs_per_s", "p50_us", "p99_us", "max_us"}...] */
void sb_json_series(struct sb_json *j, const char *key, const struct sb_series *s);
/* The CPUs this process may run on, as a JSON array. */
void sb_json_cpus(struct sb_json *j, const char *key);
/* The workload's options, as "config". */
void sb_json_config(struct sb_json *j, const struct sb_opts *o);

/* "p50 1.23 ms p99 ..." of h into buf. */
void sb_hist_summary(const struct sb_hist *h, char *buf, size_t len);

/* ---- CPUs ---------------------------------------------------------------- */

/* Pins this process (pid 0) or pid to the CPUs of list ("1", "0,2-3"): 0 or -errno. */
int sb_pin(int pid, const char *list);
/* The CPUs this process may run on, as "1,3" (for the report). */
void sb_cpus_string(char *buf, size_t len);

/* ---- Modes --------------------------------------------------------------- */

int sb_limits_tcp(const struct sb_opts *o);
int sb_limits_disk(const struct sb_opts *o);
int sb_produce(const struct sb_opts *o);
int sb_consume(const struct sb_opts *o);
int sb_e2e(const struct sb_opts *o);
int sb_create_topics(const struct sb_opts *o);

#endif /* SP_BENCH_SB_COMMON_H */
