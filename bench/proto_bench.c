/*
 * bench/proto_bench.c: protocol micro-benchmarks: CRC-32C, decode and
 * validation of a 1 MiB Produce request, and each codec's compress and
 * decompress throughput. Prints one line per figure, "name value unit".
 *
 *   build/bench/proto_bench [seconds-per-figure]   (default 1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/batch.h"
#include "protocol/compress.h"
#include "protocol/crc32c.h"
#include "protocol/kproto.h"

static double seconds_per_figure = 1.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs fn until the time is up; returns bytes per second. */
static double measure(size_t bytes_per_call, void (*fn)(void *), void *arg)
{
    fn(arg); /* warm up */
    long calls = 0;
    double start = now_s(), t;
    do {
        for (int i = 0; i < 8; i++) {
            fn(arg);
        }
        calls += 8;
        t = now_s() - start;
    } while (t < seconds_per_figure);
    return (double)bytes_per_call * (double)calls / t;
}

static void report(const char *name, double bytes_per_s)
{
    printf("%-28s %8.2f GB/s\n", name, bytes_per_s / 1e9);
}

/* ---- CRC ---- */

struct buf {
    uint8_t *p;
    size_t len;
    volatile uint32_t sink;
};

static void crc_hw(void *arg)
{
    struct buf *b = arg;
    b->sink = sp_crc32c(0, b->p, b->len);
}

static void crc_sw(void *arg)
{
    struct buf *b = arg;
    b->sink = sp_crc32c_portable(0, b->p, b->len);
}

/* ---- Produce request ---- */

enum { PARTITIONS = 16, RECORDS_PER_BATCH = 64, VALUE_BYTES = 1000 };

struct produce {
    struct sp_wr frame; /* the request payload after the size */
    volatile long sink;
};

static void produce_build(struct produce *p, uint8_t *values)
{
    static uint8_t batches[PARTITIONS][RECORDS_PER_BATCH * (VALUE_BYTES + 64) + 128];
    struct kproto_produce_request_partition_produce_data parts[PARTITIONS];
    struct kproto_produce_request_topic_produce_data topic;
    struct sp_record_in recs[RECORDS_PER_BATCH];
    for (int i = 0; i < RECORDS_PER_BATCH; i++) {
        recs[i] = (struct sp_record_in){.key = sp_slice_make("key", 3),
                                        .value = sp_slice_make(values + i, VALUE_BYTES),
                                        .timestamp = 1700000000000 + i};
    }
    for (int i = 0; i < PARTITIONS; i++) {
        struct sp_batch_params bp = {0, -1, 0, 1000, 0, i * RECORDS_PER_BATCH};
        int n = sp_batch_build(batches[i], sizeof(batches[i]), &bp, recs, RECORDS_PER_BATCH);
        SP_ASSERT(n > 0);
        memset(&parts[i], 0, sizeof(parts[i]));
        parts[i].Index = i;
        parts[i].Records = sp_slice_make(batches[i], (size_t)n);
    }
    memset(&topic, 0, sizeof(topic));
    topic.Name = sp_str_make("bench-topic");
    topic.PartitionData = parts;
    topic.PartitionData_count = PARTITIONS;
    struct kproto_produce_request req;
    kproto_produce_request_init(&req);
    req.Acks = -1;
    req.TimeoutMs = 30000;
    req.TopicData = &topic;
    req.TopicData_count = 1;
    struct kproto_request_header h;
    kproto_request_header_init(&h);
    h.RequestApiKey = 0;
    h.RequestApiVersion = 9;
    h.CorrelationId = 1;
    h.ClientId = sp_str_make("bench");
    sp_wr_init(&p->frame, NULL, 1 << 20);
    SP_ASSERT(kproto_request_frame_write(&p->frame, &h, &req) == 0);
}

static void produce_decode_validate(void *arg)
{
    struct produce *p = arg;
    static uint8_t first[64 * 1024];
    struct sp_arena a;
    sp_arena_init(&a, first, sizeof(first), 1 << 20);
    struct kproto_request r;
    int rc = kproto_request_decode(p->frame.buf + 4, p->frame.len - 4, &a, &r);
    SP_ASSERT(rc == 0);
    const struct kproto_produce_request *req = r.body;
    long records = 0;
    for (int32_t t = 0; t < req->TopicData_count; t++) {
        const struct kproto_produce_request_topic_produce_data *td = &req->TopicData[t];
        for (int32_t i = 0; i < td->PartitionData_count; i++) {
            struct sp_slice recs = td->PartitionData[i].Records;
            struct sp_batch_header bh;
            size_t off = 0;
            while (off < recs.len) {
                SP_ASSERT(sp_batch_validate_produce(recs.ptr + off, recs.len - off, &bh) == 0);
                records += bh.records_count;
                off += (size_t)bh.batch_length + SP_BATCH_LOG_OVERHEAD;
            }
        }
    }
    p->sink = records;
    sp_arena_destroy(&a);
}

/* ---- codecs ---- */

struct codec_run {
    enum sp_codec codec;
    const uint8_t *in;
    size_t in_len;
    uint8_t *z;
    size_t z_cap;
    long z_len;
    uint8_t *out;
};

static void codec_compress(void *arg)
{
    struct codec_run *c = arg;
    c->z_len = sp_compress(c->codec, 0, c->in, c->in_len, c->z, c->z_cap);
    SP_ASSERT(c->z_len > 0);
}

static void codec_decompress(void *arg)
{
    struct codec_run *c = arg;
    long n = sp_decompress(c->codec, c->z, (size_t)c->z_len, c->out, c->in_len);
    SP_ASSERT(n == (long)c->in_len);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        seconds_per_figure = atof(argv[1]);
    }
    size_t mib = 1 << 20;
    uint8_t *data = malloc(mib + 4096);
    SP_ASSERT(data != NULL);
    /* Record-like bytes: JSON-ish text with varying numbers. */
    size_t pos = 0;
    for (unsigned i = 0; pos < mib + 4000; i++) {
        pos += (size_t)snprintf((char *)data + pos, mib + 4096 - pos,
                                "{\"id\":%u,\"user\":\"u%u\",\"amount\":%u.%02u,\"ok\":true}\n", i,
                                i * 7919 % 10007, i * 31 % 977, i % 100);
    }

    printf("crc32c implementation: %s\n", sp_crc32c_impl_name());
    struct buf b = {data, mib, 0};
    report("crc32c 1MiB", measure(mib, crc_hw, &b));
    report("crc32c-portable 1MiB", measure(mib, crc_sw, &b));

    struct produce p;
    produce_build(&p, data);
    printf("produce request: %zu bytes, %d partitions x %d records\n", p.frame.len, PARTITIONS,
           RECORDS_PER_BATCH);
    report("produce decode+validate", measure(p.frame.len, produce_decode_validate, &p));
    sp_wr_free(&p.frame);

    for (int c = SP_CODEC_GZIP; c <= SP_CODEC_ZSTD; c++) {
        struct codec_run r = {(enum sp_codec)c, data, mib, NULL, 0, 0, NULL};
        r.z_cap = sp_compress_bound(r.codec, mib);
        r.z = malloc(r.z_cap);
        r.out = malloc(mib);
        SP_ASSERT(r.z && r.out);
        char name[64];
        snprintf(name, sizeof(name), "%s compress", sp_codec_name(r.codec));
        report(name, measure(mib, codec_compress, &r));
        printf("%-28s %8.2f\n", "  ratio", (double)mib / (double)r.z_len);
        snprintf(name, sizeof(name), "%s decompress", sp_codec_name(r.codec));
        report(name, measure(mib, codec_decompress, &r));
        free(r.z);
        free(r.out);
    }
    free(data);
    return 0;
}
