/*
 * tests/protocol/test_librdkafka_reads.c: batches built and compressed by
 * Spindle (sp_batch_build_compressed) are read correctly by librdkafka.
 *
 * librdkafka's mock cluster stores the record batches of a Produce request
 * as they arrive (it only sets the base offset, outside the CRC) and serves
 * them in Fetch responses. This test sends Spindle-built batches, encoded
 * in a Produce v3 request by Spindle's own codec, with every codec, then
 * reads the partition with a librdkafka consumer (check.crcs=true) and
 * requires exactly the records it built: offsets, timestamps, keys and
 * values (null, empty, binary), headers (null and empty values). A batch of
 * 300 records makes snappy's xerial framing span several blocks. A batch
 * mislabelled with another codec and one with a bad CRC must make librdkafka
 * report errors and deliver nothing: the check can fail.
 *
 * Exits 77 (skipped) when librdkafka or its mock cluster is unavailable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "protocol/compress.h"
#include "protocol/kproto.h"

#include "tests/check.h"

#define TOPIC     "spindle"
#define BAD_TOPIC "spindle-bad"
#define MAX_RECS  2048
#define BIG_COUNT 300

struct expect {
    int64_t offset;
    struct sp_record_in in;
};

static struct expect expected[MAX_RECS];
static int n_expected;
static int64_t next_offset;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    REQUIRE(p != NULL);
    return p;
}

/*
 * Memory the expectations point into lives until the end of the test;
 * it is recorded here and freed at exit so leak checkers stay quiet.
 */
#define KEPT_MAX 4096
static void *kept[KEPT_MAX];
static int n_kept;

static void *keep_alloc(size_t n)
{
    REQUIRE(n_kept < KEPT_MAX);
    kept[n_kept] = xmalloc(n);
    return kept[n_kept++];
}

static void free_kept(void)
{
    while (n_kept > 0) {
        free(kept[--n_kept]);
    }
}

static struct sp_slice text(const char *s)
{
    size_t n = strlen(s);
    char *p = keep_alloc(n + 1);
    memcpy(p, s, n + 1);
    return sp_slice_make(p, n);
}

static const struct sp_slice null_slice;

/* ---- talking to the mock ---- */

static int connect_to(const char *bootstrap)
{
    char host[256];
    snprintf(host, sizeof(host), "%s", bootstrap);
    char *colon = strrchr(host, ':');
    REQUIRE(colon != NULL);
    *colon = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    REQUIRE(getaddrinfo(host, colon + 1, &hints, &res) == 0);
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    REQUIRE(fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0);
    freeaddrinfo(res);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        REQUIRE(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static void read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        REQUIRE(r > 0);
        p += r;
        n -= (size_t)r;
    }
}

/* Produces one batch (acks=1) with Spindle's ProduceRequest v3 encoder and
 * returns the base offset the mock assigned. */
static int64_t produce(int fd, const char *topic, const uint8_t *batch, size_t len)
{
    static int32_t corr;
    struct kproto_request_header h = {
        .RequestApiKey = 0,
        .RequestApiVersion = 3,
        .CorrelationId = ++corr,
        .ClientId = sp_str_make("spindle-test"),
    };
    struct kproto_produce_request_partition_produce_data pd = {
        .Index = 0,
        .Records = sp_slice_make(batch, len),
    };
    struct kproto_produce_request_topic_produce_data td = {
        .Name = sp_str_make(topic),
        .PartitionData = &pd,
        .PartitionData_count = 1,
    };
    struct kproto_produce_request req;
    kproto_produce_request_init(&req);
    req.Acks = 1;
    req.TimeoutMs = 5000;
    req.TopicData = &td;
    req.TopicData_count = 1;

    struct sp_wr w;
    sp_wr_init(&w, NULL, 0);
    kproto_request_header_write(&w, &h);
    kproto_produce_request_encode(&w, 3, &req);
    REQUIRE(w.err == 0);
    uint32_t size = htonl((uint32_t)w.len);
    write_all(fd, (const uint8_t *)&size, 4);
    write_all(fd, w.buf, w.len);
    sp_wr_free(&w);

    read_all(fd, (uint8_t *)&size, 4);
    size = ntohl(size);
    REQUIRE(size < (1u << 20));
    uint8_t *buf = xmalloc(size);
    read_all(fd, buf, size);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 1 << 20);
    struct sp_rd rd;
    sp_rd_init(&rd, buf, size);
    struct kproto_response_header rh;
    struct kproto_produce_response resp;
    REQUIRE(kproto_response_header_read(&rd, &a, 0, 3, &rh) == 0);
    REQUIRE(kproto_produce_response_decode(&rd, &a, 3, &resp) == 0);
    CHECK_EQ_INT(rh.CorrelationId, corr);
    REQUIRE(resp.Responses_count == 1 && resp.Responses[0].PartitionResponses_count == 1);
    const struct kproto_produce_response_partition_produce_response *pr =
        &resp.Responses[0].PartitionResponses[0];
    CHECK_EQ_INT(pr->ErrorCode, 0);
    int64_t base = pr->BaseOffset;
    sp_arena_destroy(&a);
    free(buf);
    return base;
}

/* ---- the batches ---- */

/* Builds a batch of recs with codec, checks it with Spindle's own reader,
 * and returns it (heap) in *out. */
static size_t build(enum sp_codec codec, int64_t base_offset, const struct sp_record_in *recs,
                    size_t n, uint8_t **out)
{
    struct sp_batch_params p = {
        .base_offset = base_offset,
        .partition_leader_epoch = 0,
        .attributes = (int16_t)codec,
        .producer_id = SP_NO_PRODUCER_ID,
        .producer_epoch = SP_NO_PRODUCER_EPOCH,
        .base_sequence = SP_NO_SEQUENCE,
    };
    size_t cap = sp_batch_build_bound(recs, n) + sp_compress_bound(codec, 1 << 20) + 1024;
    uint8_t *buf = xmalloc(cap);
    struct sp_arena scratch;
    sp_arena_init(&scratch, NULL, 0, 64 << 20);
    int len = sp_batch_build_compressed(buf, cap, &p, recs, n, &scratch);
    sp_arena_destroy(&scratch);
    REQUIRE(len > 0);
    struct sp_batch_header h;
    REQUIRE(sp_batch_validate_produce(buf, (size_t)len, &h) == 0);
    CHECK_EQ_INT(sp_batch_codec(&h), codec);
    *out = buf;
    return (size_t)len;
}

static void produce_expected(int fd, enum sp_codec codec, const struct sp_record_in *recs, size_t n)
{
    uint8_t *batch;
    size_t len = build(codec, next_offset, recs, n, &batch);
    int64_t base = produce(fd, TOPIC, batch, len);
    CHECK_EQ_INT(base, next_offset);
    REQUIRE(n_expected + (int)n <= MAX_RECS);
    for (size_t i = 0; i < n; i++) {
        expected[n_expected].offset = base + (int64_t)i;
        expected[n_expected].in = recs[i];
        n_expected++;
    }
    next_offset = base + (int64_t)n;
    free(batch);
}

/* Records with the awkward cases: null and empty keys and values, binary
 * bytes, headers with null and empty values, irregular timestamps. */
static void produce_small(int fd, enum sp_codec codec, int64_t ts)
{
    static struct sp_record_header h_trace[1], h_odd[3];
    h_trace[0] = (struct sp_record_header){text("trace"), text("abc")};
    h_odd[0] = (struct sp_record_header){text("null"), null_slice};
    h_odd[1] = (struct sp_record_header){text("empty"), text("")};
    uint8_t *bin = keep_alloc(256);
    for (int i = 0; i < 256; i++) {
        bin[i] = (uint8_t)i;
    }
    h_odd[2] = (struct sp_record_header){text("bin"), sp_slice_make(bin, 256)};
    char *big = keep_alloc(5000);
    for (int i = 0; i < 5000; i++) {
        big[i] = (char)('a' + (i * 7 + i / 13) % 26);
    }
    char k0[32], v0[32];
    snprintf(k0, sizeof(k0), "k0-%s", sp_codec_name(codec));
    snprintf(v0, sizeof(v0), "%s-plain", sp_codec_name(codec));
    struct sp_record_in *r = keep_alloc(4 * sizeof(*r));
    r[0] = (struct sp_record_in){text(k0), text(v0), ts, h_trace, 1};
    r[1] = (struct sp_record_in){null_slice, text("null key"), ts + 5, NULL, 0};
    r[2] = (struct sp_record_in){text(""), null_slice, ts + 3, h_odd, 3};
    r[3] = (struct sp_record_in){sp_slice_make(bin, 256), sp_slice_make(big, 5000), ts + 1000,
                                 h_odd + 1, 2};
    produce_expected(fd, codec, r, 4);
}

/* BIG_COUNT records of ~200 bytes: more than one 32 KiB xerial block. */
static void produce_big(int fd, enum sp_codec codec, int64_t ts)
{
    struct sp_record_in *r = keep_alloc(BIG_COUNT * sizeof(*r));
    uint32_t x = 2463534242u + (uint32_t)codec;
    for (int i = 0; i < BIG_COUNT; i++) {
        char k[32], v[256];
        snprintf(k, sizeof(k), "key-%d", i);
        int n = snprintf(v, sizeof(v), "%s value %d:", sp_codec_name(codec), i);
        while (n < 200) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v[n++] = (char)('0' + x % 40);
        }
        v[n] = 0;
        r[i] = (struct sp_record_in){text(k), text(v), ts + i, NULL, 0};
    }
    produce_expected(fd, codec, r, BIG_COUNT);
}

/* ---- reading with librdkafka ---- */

static bool same(const void *got, size_t got_len, struct sp_slice want)
{
    if (want.ptr == NULL) {
        return got == NULL;
    }
    return got != NULL && got_len == want.len && memcmp(got, want.ptr, want.len) == 0;
}

static void check_message(const rd_kafka_message_t *m, const struct expect *e)
{
    CHECK_EQ_INT(m->offset, e->offset);
    CHECK(same(m->key, m->key_len, e->in.key));
    CHECK(same(m->payload, m->len, e->in.value));
    rd_kafka_timestamp_type_t tt;
    CHECK_EQ_INT(rd_kafka_message_timestamp(m, &tt), e->in.timestamp);
    CHECK_EQ_INT(tt, RD_KAFKA_TIMESTAMP_CREATE_TIME);
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t err = rd_kafka_message_headers(m, &hdrs);
    if (e->in.headers_count == 0) {
        CHECK(err == RD_KAFKA_RESP_ERR__NOENT || rd_kafka_header_cnt(hdrs) == 0);
        return;
    }
    REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_EQ_INT(rd_kafka_header_cnt(hdrs), e->in.headers_count);
    for (int32_t i = 0; i < e->in.headers_count && (size_t)i < rd_kafka_header_cnt(hdrs); i++) {
        const char *name;
        const void *val;
        size_t len;
        CHECK_EQ_INT(rd_kafka_header_get_all(hdrs, (size_t)i, &name, &val, &len), 0);
        CHECK(same(name, strlen(name), e->in.headers[i].key));
        CHECK(same(val, len, e->in.headers[i].value));
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Consumes topic's partition 0 from the start until its end; returns the
 * records read and counts consumer errors in *errors. With exp, each record
 * must equal the next expected one. */
static int consume(const char *bootstrap, const char *topic, const struct expect *exp, int n_exp,
                   int *errors)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", bootstrap}, {"group.id", "spindle-test"},    {"check.crcs", "true"},
        {"enable.partition.eof", "true"}, {"enable.auto.commit", "false"}, {"log_level", "2"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        REQUIRE(rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) == RD_KAFKA_CONF_OK);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    REQUIRE(rk != NULL);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    REQUIRE(rd_kafka_assign(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    int got = 0;
    *errors = 0;
    double deadline = now_s() + 15;
    bool eof = false;
    while (!eof && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof = true;
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (exp != NULL || *errors == 0) {
                fprintf(stderr, "%s: consumer error at offset %lld: %s\n", topic,
                        (long long)m->offset, rd_kafka_message_errstr(m));
            }
            (*errors)++;
            /* librdkafka retries a batch it cannot read: a few will do. */
            if (*errors >= 3) {
                eof = true;
            }
        } else {
            if (exp != NULL) {
                if (got < n_exp) {
                    check_message(m, &exp[got]);
                } else {
                    fprintf(stderr, "%s: unexpected record at offset %lld\n", topic,
                            (long long)m->offset);
                    check_failures_++;
                }
            }
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    if (!eof) {
        fprintf(stderr, "%s: no end of partition within 15 s (%d records)\n", topic, got);
        check_failures_++;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

int main(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", err, sizeof(err));
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (mrk == NULL) {
        printf("skip: librdkafka: %s\n", err);
        return 77;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    if (mc == NULL) {
        printf("skip: librdkafka has no mock cluster\n");
        rd_kafka_destroy(mrk);
        return 77;
    }
    REQUIRE(rd_kafka_mock_topic_create(mc, TOPIC, 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(rd_kafka_mock_topic_create(mc, BAD_TOPIC, 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    int fd = connect_to(bootstrap);

    int64_t ts = 1700000000000;
    for (int c = 0; c < SP_CODEC_COUNT; c++) {
        produce_small(fd, (enum sp_codec)c, ts + c * 100000);
        produce_big(fd, (enum sp_codec)c, ts + c * 100000 + 2000);
    }

    /* Negative controls: a zstd batch relabelled as lz4 (CRC recomputed,
     * so only decompression can notice) and one with a bad CRC. */
    for (int variant = 0; variant < 2; variant++) {
        struct sp_record_in r = {text("k"), text("corrupt me please, corrupt me"), ts, NULL, 0};
        uint8_t *batch;
        size_t len = build(SP_CODEC_ZSTD, 0, &r, 1, &batch);
        if (variant == 0) {
            batch[SP_BATCH_ATTRIBUTES_OFFSET + 1] =
                (uint8_t)((batch[SP_BATCH_ATTRIBUTES_OFFSET + 1] & ~SP_BATCH_ATTR_CODEC_MASK) |
                          SP_CODEC_LZ4);
            sp_batch_update_crc(batch, len);
        } else {
            batch[len - 1] ^= 0x55;
        }
        produce(fd, BAD_TOPIC, batch, len);
        free(batch);
    }
    close(fd);

    double t0 = now_s();
    int errors;
    int got = consume(bootstrap, TOPIC, expected, n_expected, &errors);
    printf("librdkafka %s read %d of %d records Spindle built (%d batches, every codec), %d "
           "errors, %.1f s\n",
           rd_kafka_version_str(), got, n_expected, 2 * SP_CODEC_COUNT, errors, now_s() - t0);
    t0 = now_s();
    CHECK_EQ_INT(got, n_expected);
    CHECK_EQ_INT(errors, 0);

    int bad_got = consume(bootstrap, BAD_TOPIC, NULL, 0, &errors);
    printf("corrupted batches: %d records delivered, %d errors (want 0 and >= 1), %.1f s\n",
           bad_got, errors, now_s() - t0);
    CHECK_EQ_INT(bad_got, 0);
    CHECK(errors >= 1);

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    free_kept();
    return CHECK_DONE();
}
