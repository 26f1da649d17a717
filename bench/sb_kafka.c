/*
 * bench/sb_kafka.c: spindle-bench's workloads on the client core
 * (client/spc.h): produce, consume, e2e, create-topics.
 *
 * One run, one thread, one state (W): the delivery reports of the producer
 * carry a cookie instead of a pointer, so that no record needs memory of
 * its own:
 *
 *   cookie = (send time - W.t0, in ns) << 20 | value size
 *
 * (44 bits of time: SB_DURATION_MAX; 20 bits of size: SB_SIZE_MAX.)
 *
 * Open loop (--rate R): record i is due at t0 + i / R. It is produced as
 * soon as the loop sees it due and its latency counts from the due time,
 * so a stall (a full buffer, a slow broker, this process descheduled)
 * shows up in the latencies of every record that should have gone out
 * during it: coordinated omission cannot hide it. Closed loop (no --rate):
 * records go out as fast as the producer's buffer takes them and latency
 * counts from the spc_produce() call.
 *
 * e2e: a second client consumes the topic from its end; each value starts
 * with SB_E2E_HEADER bytes (run nonce, due time, sequence), and the
 * consumer's latency is its receive time less the due time (one process,
 * one clock). Both clients are polled without sleeping, so neither waits
 * for the other.
 *
 * Sticky partitioning for records without keys, as Kafka's clients do
 * since KIP-480: the records go to one partition until a batch's worth
 * (--batch-bytes) went there, then to the next.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sb_common.h"
#include "client/spc.h"
#include "protocol/gen/kerr.h"

#define POOL_BYTES         (4u << 20)
#define PRODUCE_BURST      4096 /* records per loop turn before polling */
#define SETUP_TIMEOUT_MS   30000
#define DRAIN_TIMEOUT_NS   (60ll * 1000000000)
#define ERRORS_PRINTED     5
#define CREATE_BATCH       100 /* topics per CreateTopics request */
#define SPIN_BELOW_NS      2000000
#define LEADER_WAIT_ROUNDS 200

struct sb_work {
    const struct sb_opts *o;
    bool e2e;
    struct spc_client *pc, *cc;
    struct spc_producer *prod;
    struct spc_fetcher *fetch;
    int32_t partitions;
    int64_t t0, measure_ns, send_end_ns;
    /* Producing. */
    struct sb_rng rng;
    uint64_t nonce;
    uint8_t *pool;
    size_t pool_at;
    uint64_t seq;
    bool send_done, blocked;
    int32_t sticky;
    int64_t sticky_bytes;
    /* Counters: all records, and the measured ones (sent at or after measure_ns). */
    uint64_t sent, acked, failed, bytes_sent, bytes_acked;
    uint64_t consumed, bytes_consumed, foreign, fetch_errors;
    uint64_t m_msgs, m_bytes;
    int64_t m_last_ns;
    /* The current second. */
    int64_t iv_start;
    uint64_t iv_msgs, iv_bytes;
    struct sb_hist *ack, *e2e_lat, *iv;
    struct sb_series series;
    /* Consuming. */
    int64_t *start, *end;
    uint64_t expected, pass_consumed;
    uint32_t passes;
    int64_t last_record_ns;
    int64_t drain_deadline;
    /* The first fatal error (the run stops). */
    bool fatal;
    char error[320];
};

static struct sb_work W;
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void fail(const char *fmt, ...) SP_PRINTF(1, 2);

static void fail(const char *fmt, ...)
{
    if (W.fatal) {
        return;
    }
    W.fatal = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(W.error, sizeof(W.error), fmt, ap);
    va_end(ap);
    fprintf(stderr, "spindle-bench: %s\n", W.error);
}

/* ---- Setup ------------------------------------------------------------------ */

static int client_open(struct spc_client **out)
{
    struct spc_config cfg;
    spc_config_init(&cfg);
    cfg.bootstrap = W.o->brokers;
    cfg.client_id = "spindle-bench";
    cfg.connections = W.o->connections;
    cfg.max_inflight = W.o->inflight;
    struct spc_error err = {0};
    int rc = spc_client_new(&cfg, out, &err);
    if (rc < 0) {
        fail("client: %s", err.message[0] != '\0' ? err.message : strerror(-rc));
    }
    return rc;
}

static bool topic_ready(struct spc_client *c, const char *name)
{
    const struct spc_topic *t = spc_topic_get(c, name);
    if (t == NULL || t->error != 0 || t->partitions_count < 1) {
        return false;
    }
    for (int32_t i = 0; i < t->partitions_count; i++) {
        if (t->partitions[i].leader < 0) {
            return false;
        }
    }
    return true;
}

/* Creates the topic (CreateTopics; auto-creation where the broker lacks it). */
static void topic_create(struct spc_client *c, const char *name, int32_t partitions)
{
    struct spc_new_topic nt = {name, partitions > 0 ? partitions : -1, -1, NULL, 0};
    struct spc_item_result res = {0};
    struct spc_error err = {0};
    int rc = spc_admin_create_topics(c, &nt, 1, false, SETUP_TIMEOUT_MS, &res, &err);
    if (rc < 0 || (res.err.code != 0 && res.err.code != KERR_TOPIC_ALREADY_EXISTS)) {
        fprintf(stderr, "spindle-bench: create %s: %s; trying auto-creation\n", name,
                rc < 0 ? err.message : res.err.message);
    }
}

/* Waits until the topic exists with a leader for every partition; its partition count. */
static int32_t topic_prepare(struct spc_client *c, bool create)
{
    const char *names[1] = {W.o->topic};
    struct spc_error err = {0};
    int rc = spc_metadata_sync(c, names, 1, false, &err);
    if (rc < 0) {
        fail("metadata: %s", err.message);
        return rc;
    }
    const struct spc_topic *t = spc_topic_get(c, W.o->topic);
    bool exists = t != NULL && t->error == 0 && t->partitions_count > 0;
    if (create && !exists) {
        topic_create(c, W.o->topic, W.o->partitions);
    } else if (create && W.o->partitions > t->partitions_count) {
        struct spc_item_result res = {0};
        rc = spc_admin_create_partitions(c, W.o->topic, W.o->partitions, false, SETUP_TIMEOUT_MS,
                                         &res, &err);
        if (rc < 0 || res.err.code != 0) {
            fprintf(stderr, "spindle-bench: grow %s to %d partitions: %s\n", W.o->topic,
                    W.o->partitions, rc < 0 ? err.message : res.err.message);
        }
    }
    for (int i = 0; i < LEADER_WAIT_ROUNDS && !interrupted; i++) {
        rc = spc_metadata_sync(c, names, 1, create, &err);
        if (rc == 0 && topic_ready(c, W.o->topic)) {
            t = spc_topic_get(c, W.o->topic);
            if (W.o->partitions > 0 && t->partitions_count != W.o->partitions) {
                fprintf(stderr, "spindle-bench: %s has %d partitions (asked for %d)\n", W.o->topic,
                        t->partitions_count, W.o->partitions);
            }
            return t->partitions_count;
        }
        spc_poll(c, 100);
    }
    fail("topic %s has no leaders (does it exist?)", W.o->topic);
    return -ENOENT;
}

/* Start and end offsets of every partition (ListOffsets). */
static int offsets_load(struct spc_client *c)
{
    int32_t n = W.partitions;
    int32_t *ids = calloc((size_t)n, sizeof(*ids));
    struct spc_offset *out = calloc((size_t)n, sizeof(*out));
    W.start = calloc((size_t)n, sizeof(*W.start));
    W.end = calloc((size_t)n, sizeof(*W.end));
    int rc = ids != NULL && out != NULL && W.start != NULL && W.end != NULL ? 0 : -ENOMEM;
    for (int32_t i = 0; i < n && rc == 0; i++) {
        ids[i] = i;
    }
    struct spc_error err = {0};
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        int64_t ts = pass == 0 ? SPC_TS_EARLIEST : SPC_TS_LATEST;
        rc = spc_admin_list_offsets(c, W.o->topic, ids, (size_t)n, ts, SETUP_TIMEOUT_MS, out, &err);
        for (int32_t i = 0; i < n && rc == 0; i++) {
            if (out[i].err.code != 0) {
                snprintf(err.message, sizeof(err.message), "%s", out[i].err.message);
                rc = -EIO;
            }
            (pass == 0 ? W.start : W.end)[i] = out[i].offset;
        }
    }
    if (rc < 0) {
        fail("list offsets: %s", err.message[0] != '\0' ? err.message : strerror(-rc));
    }
    for (int32_t i = 0; i < n && rc == 0; i++) {
        W.expected += (uint64_t)(W.end[i] > W.start[i] ? W.end[i] - W.start[i] : 0);
    }
    free(ids);
    free(out);
    return rc;
}

static int producer_open(void)
{
    const struct sb_opts *o = W.o;
    struct spc_producer_config pc;
    spc_producer_config_init(&pc);
    pc.acks = o->acks;
    pc.linger_ms = o->linger_ms;
    pc.batch_bytes = o->batch_bytes;
    pc.max_inflight = o->inflight;
    if (o->buffer_bytes != 0) {
        pc.buffer_bytes = (size_t)o->buffer_bytes;
    }
    if (sp_codec_parse(o->compression, &pc.compression) < 0) {
        fail("unknown compression %s", o->compression);
        return -EINVAL;
    }
    struct spc_error err = {0};
    int rc = spc_producer_new(W.pc, &pc, &W.prod, &err);
    if (rc < 0) {
        fail("producer: %s", err.message);
        return rc;
    }
    W.pool = malloc(POOL_BYTES + SB_SIZE_MAX);
    if (W.pool == NULL) {
        fail("%s", "out of memory");
        return -ENOMEM;
    }
    static const char text[] = "abcdefghijklmno ";
    for (size_t i = 0; i < POOL_BYTES + SB_SIZE_MAX; i++) {
        uint64_t r = sb_rand(&W.rng);
        W.pool[i] = o->text_payload ? (uint8_t)text[r & 15] : (uint8_t)(r >> 24);
    }
    W.nonce = sb_rand(&W.rng);
    return 0;
}

static void on_message(void *ctx, const struct spc_message *m, const struct spc_error *err);

static int fetcher_open(struct spc_client *c)
{
    const struct sb_opts *o = W.o;
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    fc.max_wait_ms = o->fetch_max_wait_ms;
    fc.max_bytes = o->fetch_max_bytes;
    fc.partition_max_bytes = o->fetch_partition_max_bytes;
    struct spc_error err = {0};
    int rc = spc_fetcher_new(c, &fc, on_message, NULL, &W.fetch, &err);
    if (rc < 0) {
        fail("fetcher: %s", err.message);
    }
    return rc;
}

/* Assigns every partition at its start offset (from_end: its end). */
static int fetcher_assign(bool from_end)
{
    for (int32_t p = 0; p < W.partitions; p++) {
        int rc = spc_fetcher_assign(W.fetch, W.o->topic, p, from_end ? W.end[p] : W.start[p]);
        if (rc < 0) {
            fail("assign: %s", strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* ---- Accounting --------------------------------------------------------------- */

static void count_measured(uint64_t bytes, int64_t now)
{
    W.m_msgs++;
    W.m_bytes += bytes;
    W.m_last_ns = now;
}

static void on_delivery(void *opaque, const char *topic, int32_t partition, int64_t offset,
                        const struct spc_error *err)
{
    (void)topic;
    (void)partition;
    (void)offset;
    uint64_t cookie = (uint64_t)(uintptr_t)opaque;
    uint32_t size = (uint32_t)(cookie & 0xFFFFFu);
    int64_t sent = W.t0 + (int64_t)(cookie >> 20);
    if (err != NULL && err->code != 0) {
        if (W.failed++ < ERRORS_PRINTED) {
            fprintf(stderr, "spindle-bench: delivery failed: %s\n", err->message);
        }
        return;
    }
    W.acked++;
    W.bytes_acked += size;
    int64_t now = sb_now_ns();
    uint64_t lat = (uint64_t)(now > sent ? now - sent : 0);
    if (!W.e2e) {
        W.iv_msgs++;
        W.iv_bytes += size;
        sb_hist_record(W.iv, lat);
    }
    if (sent < W.measure_ns) {
        return;
    }
    sb_hist_record(W.ack, lat);
    if (!W.e2e) {
        count_measured(size, now);
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void on_message(void *ctx, const struct spc_message *m, const struct spc_error *err)
{
    (void)ctx;
    if (m == NULL) {
        if (W.fetch_errors++ < ERRORS_PRINTED) {
            fprintf(stderr, "spindle-bench: fetch: %s\n", err != NULL ? err->message : "?");
        }
        return;
    }
    int64_t now = sb_now_ns();
    uint64_t bytes = m->value.len + m->key.len;
    W.consumed++;
    W.pass_consumed++;
    W.bytes_consumed += bytes;
    W.last_record_ns = now;
    if (!W.e2e) {
        W.iv_msgs++;
        W.iv_bytes += bytes;
        if (now >= W.measure_ns) {
            count_measured(bytes, now);
        }
        return;
    }
    if (m->value.ptr == NULL || m->value.len < SB_E2E_HEADER || get_u64(m->value.ptr) != W.nonce) {
        W.foreign++;
        return;
    }
    int64_t sent = (int64_t)get_u64(m->value.ptr + 8);
    uint64_t lat = (uint64_t)(now > sent ? now - sent : 0);
    W.iv_msgs++;
    W.iv_bytes += bytes;
    sb_hist_record(W.iv, lat);
    if (sent >= W.measure_ns) {
        sb_hist_record(W.e2e_lat, lat);
        count_measured(bytes, now);
    }
}

/* Closes the current second: a series point and the progress line. */
static void tick(int64_t now)
{
    if (now - W.iv_start < 1000000000) {
        return;
    }
    struct sb_point p = {
        .t_s = (double)(now - W.t0) / 1e9,
        .msgs = W.iv_msgs,
        .bytes = W.iv_bytes,
        .interval_s = (double)(now - W.iv_start) / 1e9,
        .p50_ns = sb_hist_percentile(W.iv, 50),
        .p99_ns = sb_hist_percentile(W.iv, 99),
        .max_ns = W.iv->max,
    };
    sb_series_add(&W.series, &p);
    if (!W.o->quiet) {
        char s[160];
        sb_hist_summary(W.iv, s, sizeof(s));
        fprintf(stderr,
                "[%6.1fs]%s %9.0f msg/s %8.1f MB/s  %s  sent %llu acked %llu consumed %llu\n",
                p.t_s, now < W.measure_ns ? " warmup" : "", (double)p.msgs / p.interval_s,
                (double)p.bytes / p.interval_s / 1e6, p.msgs != 0 && W.iv->total != 0 ? s : "",
                (unsigned long long)W.sent, (unsigned long long)W.acked,
                (unsigned long long)W.consumed);
    }
    W.iv_start = now;
    W.iv_msgs = W.iv_bytes = 0;
    sb_hist_reset(W.iv);
}

/* ---- Producing -------------------------------------------------------------------- */

/* When record seq is due: on the rate's schedule, or now in a closed loop. */
static int64_t due_time(uint64_t seq, int64_t now)
{
    return W.o->rate > 0 ? W.t0 + (int64_t)((double)seq * 1e9 / W.o->rate) : now;
}

/*
 * Fills in record W.seq (value, key, partition). Its size and key come from
 * its sequence number, so a record refused with -ENOBUFS is the same record
 * when it is tried again.
 */
static void next_record(int64_t due, struct spc_record *r, int32_t *partition, char *key,
                        size_t key_cap)
{
    const struct sb_opts *o = W.o;
    struct sb_rng rng = {W.seq * 0x9e3779b97f4a7c15ull + 1};
    uint32_t size = sb_size_draw(&o->size, &rng);
    uint8_t *v = W.pool + W.pool_at;
    W.pool_at = (W.pool_at + 4096 + (W.seq & 63)) % POOL_BYTES;
    if (size >= SB_E2E_HEADER) {
        uint64_t hdr[3] = {W.nonce, (uint64_t)due, W.seq};
        memcpy(v, hdr, sizeof(hdr));
    }
    *r = (struct spc_record){.value = sp_slice_make(v, size), .timestamp_ms = -1};
    if (o->keyed) {
        int n = snprintf(key, key_cap, "k%08u", (unsigned)(sb_rand(&rng) % o->keys));
        r->key = sp_slice_make(key, (size_t)n);
        *partition = -1;
        return;
    }
    if (W.sticky_bytes >= o->batch_bytes) {
        W.sticky = (W.sticky + 1) % W.partitions;
        W.sticky_bytes = 0;
    }
    W.sticky_bytes += size;
    *partition = W.sticky;
}

/* Produces the records that are due, until the buffer is full or a burst is done. */
static void produce_due(int64_t now)
{
    const struct sb_opts *o = W.o;
    W.blocked = false;
    for (int i = 0; i < PRODUCE_BURST; i++) {
        int64_t due = due_time(W.seq, now);
        if ((o->count != 0 && W.seq >= o->count) || interrupted ||
            (W.send_end_ns != 0 && due >= W.send_end_ns)) {
            W.send_done = true;
            return;
        }
        if (due > now) {
            return;
        }
        struct spc_record r;
        int32_t partition = 0;
        char key[32];
        next_record(due, &r, &partition, key, sizeof(key));
        uint64_t cookie = ((uint64_t)(due - W.t0) << 20) | r.value.len;
        struct spc_error err = {0};
        int rc = spc_produce(W.prod, o->topic, partition, &r, on_delivery,
                             (void *)(uintptr_t)cookie, &err);
        if (rc == -ENOBUFS) {
            W.blocked = true;
            return;
        }
        if (rc < 0) {
            fail("produce: %s", err.message[0] != '\0' ? err.message : strerror(-rc));
            return;
        }
        W.seq++;
        W.sent++;
        W.bytes_sent += r.value.len;
        now = o->rate > 0 ? now : sb_now_ns();
    }
}

static int poll_client(struct spc_client *c, int timeout_ms)
{
    int rc = spc_poll(c, timeout_ms);
    if (rc < 0 && rc != -EINTR && rc != -ETIMEDOUT && rc != -ETIME && rc != -EAGAIN) {
        fail("poll: %s", strerror(-rc));
    }
    return rc;
}

/* How long the producer's loop may sleep in spc_poll. */
static int produce_wait_ms(int64_t now)
{
    if (W.e2e) {
        return 0;
    }
    if (W.send_done || W.blocked) {
        return 10;
    }
    if (W.o->rate <= 0) {
        return 0;
    }
    int64_t due = due_time(W.seq, now);
    if (due - now < SPIN_BELOW_NS) {
        return 0;
    }
    return (int)SP_MIN((due - now) / 1000000 - 1, 10);
}

static bool drained(void)
{
    bool produced = spc_producer_pending(W.prod) == 0 && W.acked + W.failed >= W.sent;
    if (!W.e2e) {
        return produced;
    }
    /* Every acknowledged record of this run came back (records not of this run do not count). */
    return produced && W.consumed - W.foreign >= W.acked;
}

static void produce_run(void)
{
    while (!W.fatal) {
        int64_t now = sb_now_ns();
        if (!W.send_done) {
            produce_due(now);
        }
        if (W.send_done) {
            if (drained()) {
                break;
            }
            if (interrupted) {
                fail("%s", "interrupted while waiting for the last records");
                break;
            }
            if (W.drain_deadline == 0) {
                W.drain_deadline = now + DRAIN_TIMEOUT_NS;
            } else if (now > W.drain_deadline) {
                fail("%s", W.e2e ? "not every record came back within 60 s"
                                 : "not every record was acknowledged within 60 s");
                break;
            }
        }
        poll_client(W.pc, produce_wait_ms(now));
        if (W.cc != NULL) {
            poll_client(W.cc, 0);
        }
        tick(sb_now_ns());
    }
}

/* ---- Reporting ---------------------------------------------------------------------- */

static bool run_ok(void)
{
    if (W.fatal || W.failed != 0) {
        return false;
    }
    if (W.prod != NULL && W.acked != W.sent) {
        return false;
    }
    return !W.e2e || W.consumed - W.foreign == W.acked;
}

static void report(const char *mode)
{
    const struct sb_opts *o = W.o;
    int64_t end = W.m_last_ns;
    if (W.send_end_ns != 0 && !W.e2e && W.prod == NULL) {
        end = SP_MIN(end, W.send_end_ns); /* consume --loop ends with the duration */
    }
    double secs = end > W.measure_ns ? (double)(end - W.measure_ns) / 1e9 : 0;
    double mbps = secs > 0 ? (double)W.m_bytes / secs / 1e6 : 0;
    double msgs = secs > 0 ? (double)W.m_msgs / secs : 0;
    double elapsed = (double)(sb_now_ns() - W.t0) / 1e9;
    bool ok = run_ok();
    if (!o->json) {
        char a[160] = "", e[160] = "";
        sb_hist_summary(W.ack, a, sizeof(a));
        sb_hist_summary(W.e2e_lat, e, sizeof(e));
        printf("%s %s: %.1f MB/s, %.0f msg/s over %.1f s (%llu measured records); sent %llu, "
               "acked %llu, failed %llu, consumed %llu%s\n",
               mode, o->topic, mbps, msgs, secs, (unsigned long long)W.m_msgs,
               (unsigned long long)W.sent, (unsigned long long)W.acked,
               (unsigned long long)W.failed, (unsigned long long)W.consumed, ok ? "" : " (NOT OK)");
        if (W.ack->total != 0) {
            printf("  produce ack latency: %s\n", a);
        }
        if (W.e2e_lat->total != 0) {
            printf("  end-to-end latency:  %s\n", e);
        }
        return;
    }
    struct sb_json j;
    sb_json_begin(&j, stdout);
    sb_json_str(&j, "tool", "spindle-bench");
    sb_json_str(&j, "mode", mode);
    sb_json_config(&j, o);
    sb_json_cpus(&j, "cpus");
    sb_json_int(&j, "topic_partitions", W.partitions);
    sb_json_num(&j, "elapsed_s", elapsed);
    sb_json_num(&j, "measured_s", secs);
    sb_json_obj(&j, "records");
    sb_json_int(&j, "sent", (int64_t)W.sent);
    sb_json_int(&j, "acked", (int64_t)W.acked);
    sb_json_int(&j, "failed", (int64_t)W.failed);
    sb_json_int(&j, "consumed", (int64_t)W.consumed);
    sb_json_int(&j, "foreign", (int64_t)W.foreign);
    sb_json_int(&j, "expected", (int64_t)W.expected);
    sb_json_int(&j, "measured", (int64_t)W.m_msgs);
    sb_json_int(&j, "passes", W.passes);
    sb_json_obj_end(&j);
    sb_json_obj(&j, "bytes");
    sb_json_int(&j, "sent", (int64_t)W.bytes_sent);
    sb_json_int(&j, "acked", (int64_t)W.bytes_acked);
    sb_json_int(&j, "consumed", (int64_t)W.bytes_consumed);
    sb_json_int(&j, "measured", (int64_t)W.m_bytes);
    sb_json_obj_end(&j);
    sb_json_obj(&j, "throughput");
    sb_json_num(&j, "mb_per_s", mbps);
    sb_json_num(&j, "msgs_per_s", msgs);
    sb_json_obj_end(&j);
    sb_json_obj(&j, "latency");
    sb_json_hist(&j, "produce_ack", W.ack);
    sb_json_hist(&j, "end_to_end", W.e2e_lat);
    sb_json_obj_end(&j);
    sb_json_series(&j, "series", &W.series);
    sb_json_bool(&j, "ok", ok);
    sb_json_str(&j, "error", W.fatal ? W.error : NULL);
    sb_json_end(&j);
}

/* ---- Modes ---------------------------------------------------------------------------- */

static int work_init(const struct sb_opts *o, bool e2e)
{
    memset(&W, 0, sizeof(W));
    W.o = o;
    W.e2e = e2e;
    W.rng.s = (uint64_t)sb_now_ns() | 1;
    W.ack = malloc(sizeof(*W.ack));
    W.e2e_lat = malloc(sizeof(*W.e2e_lat));
    W.iv = malloc(sizeof(*W.iv));
    size_t points = (size_t)(o->warmup_s + o->duration_s) + 600;
    if (W.ack == NULL || W.e2e_lat == NULL || W.iv == NULL ||
        sb_series_init(&W.series, SP_MIN(points, (size_t)SB_SERIES_POINTS)) < 0) {
        fprintf(stderr, "spindle-bench: out of memory\n");
        return -ENOMEM;
    }
    sb_hist_reset(W.ack);
    sb_hist_reset(W.e2e_lat);
    sb_hist_reset(W.iv);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    return 0;
}

static void work_fini(void)
{
    if (W.prod != NULL) {
        spc_producer_free(W.prod);
    }
    if (W.fetch != NULL) {
        spc_fetcher_free(W.fetch);
    }
    if (W.cc != NULL) {
        spc_client_free(W.cc);
    }
    if (W.pc != NULL) {
        spc_client_free(W.pc);
    }
    free(W.ack);
    free(W.e2e_lat);
    free(W.iv);
    free(W.pool);
    free(W.start);
    free(W.end);
    sb_series_fini(&W.series);
}

/* The clock starts: warm-up, then the measured part. */
static void clock_start(void)
{
    const struct sb_opts *o = W.o;
    W.t0 = sb_now_ns();
    W.iv_start = W.t0;
    W.measure_ns = W.t0 + (int64_t)(o->warmup_s * 1e9);
    W.m_last_ns = W.measure_ns;
    double duration = o->duration_s;
    if (duration <= 0 && o->count == 0 && strcmp(o->mode, "consume") != 0) {
        duration = 10.0;
    }
    W.send_end_ns = duration > 0 ? W.measure_ns + (int64_t)(duration * 1e9) : 0;
}

static int produce_common(const struct sb_opts *o, bool e2e)
{
    if (work_init(o, e2e) < 0) {
        return 1;
    }
    if (e2e && o->size.min < SB_E2E_HEADER) {
        fprintf(stderr, "spindle-bench e2e: --size must be at least %u\n", SB_E2E_HEADER);
        work_fini();
        return 2;
    }
    int rc = client_open(&W.pc);
    if (rc == 0) {
        W.partitions = topic_prepare(W.pc, true);
        rc = W.partitions > 0 ? 0 : -ENOENT;
    }
    if (rc == 0 && e2e) {
        rc = client_open(&W.cc);
        rc = rc == 0 ? topic_prepare(W.cc, false) : rc;
        rc = rc > 0 ? offsets_load(W.cc) : (rc < 0 ? rc : -ENOENT);
        rc = rc == 0 ? fetcher_open(W.cc) : rc;
        rc = rc == 0 ? fetcher_assign(true) : rc;
    }
    rc = rc == 0 ? producer_open() : rc;
    if (rc == 0) {
        W.sticky = (int32_t)(sb_rand(&W.rng) % (uint64_t)W.partitions);
        clock_start();
        produce_run();
    }
    report(e2e ? "e2e" : "produce");
    bool ok = run_ok();
    work_fini();
    return ok ? 0 : 1;
}

int sb_produce(const struct sb_opts *o)
{
    return produce_common(o, false);
}

int sb_e2e(const struct sb_opts *o)
{
    return produce_common(o, true);
}

/* Whether the consumer is done: count, duration, the end of the topic, or idle. */
static bool consume_over(int64_t now)
{
    const struct sb_opts *o = W.o;
    if (interrupted || (o->count != 0 && W.consumed >= o->count)) {
        return true;
    }
    if (W.send_end_ns != 0 && now >= W.send_end_ns) {
        return true;
    }
    if (W.pass_consumed >= W.expected && o->count == 0 && !o->from_end) {
        if (!o->loop || W.send_end_ns == 0) {
            return true;
        }
        for (int32_t p = 0; p < W.partitions; p++) {
            spc_fetcher_unassign(W.fetch, o->topic, p);
        }
        W.passes++;
        W.pass_consumed = 0;
        return fetcher_assign(false) < 0;
    }
    int64_t last = W.last_record_ns != 0 ? W.last_record_ns : W.t0;
    if (now - last > (int64_t)(o->idle_s * 1e9)) {
        fprintf(stderr, "spindle-bench: no records for %.0f s; stopping\n", o->idle_s);
        return true;
    }
    return false;
}

int sb_consume(const struct sb_opts *o)
{
    if (work_init(o, false) < 0) {
        return 1;
    }
    int rc = client_open(&W.pc);
    if (rc == 0) {
        W.partitions = topic_prepare(W.pc, false);
        rc = W.partitions > 0 ? 0 : -ENOENT;
    }
    rc = rc == 0 ? offsets_load(W.pc) : rc;
    rc = rc == 0 ? fetcher_open(W.pc) : rc;
    rc = rc == 0 ? fetcher_assign(o->from_end) : rc;
    if (rc == 0) {
        W.passes = 1;
        clock_start();
        while (!W.fatal && !consume_over(sb_now_ns())) {
            poll_client(W.pc, 10);
            tick(sb_now_ns());
        }
    }
    report("consume");
    bool ok = run_ok() && W.consumed > 0;
    work_fini();
    return ok ? 0 : 1;
}

/* --topics topics of --partitions each, CREATE_BATCH per request. */
int sb_create_topics(const struct sb_opts *o)
{
    int32_t n = o->topics;
    if (work_init(o, false) < 0 || client_open(&W.pc) < 0) {
        if (o->json) {
            struct sb_json j;
            sb_json_begin(&j, stdout);
            sb_json_str(&j, "tool", "spindle-bench");
            sb_json_str(&j, "mode", "create-topics");
            sb_json_bool(&j, "ok", false);
            sb_json_str(&j, "error", W.error);
            sb_json_end(&j);
        }
        work_fini();
        return 1;
    }
    struct spc_new_topic *nt = calloc(CREATE_BATCH, sizeof(*nt));
    struct spc_item_result *res = calloc(CREATE_BATCH, sizeof(*res));
    char(*names)[256] = calloc(CREATE_BATCH, sizeof(*names));
    int64_t t0 = sb_now_ns();
    int32_t created = 0, existed = 0, failed = 0;
    for (int32_t at = 0; nt != NULL && res != NULL && names != NULL && at < n; at += CREATE_BATCH) {
        int32_t k = SP_MIN(CREATE_BATCH, n - at);
        for (int32_t i = 0; i < k; i++) {
            if (n == 1) {
                snprintf(names[i], sizeof(names[i]), "%s", o->topic);
            } else {
                snprintf(names[i], sizeof(names[i]), "%s-%d", o->topic, at + i);
            }
            nt[i] = (struct spc_new_topic){names[i], o->partitions > 0 ? o->partitions : -1, -1,
                                           NULL, 0};
        }
        struct spc_error err = {0};
        int rc = spc_admin_create_topics(W.pc, nt, (size_t)k, false, 120000, res, &err);
        for (int32_t i = 0; i < k; i++) {
            int code = rc < 0 ? rc : res[i].err.code;
            created += code == 0;
            existed += code == KERR_TOPIC_ALREADY_EXISTS;
            if (code != 0 && code != KERR_TOPIC_ALREADY_EXISTS && failed++ < ERRORS_PRINTED) {
                fprintf(stderr, "spindle-bench: create %s: %s\n", names[i],
                        rc < 0 ? err.message : res[i].err.message);
            }
        }
    }
    double secs = (double)(sb_now_ns() - t0) / 1e9;
    if (o->json) {
        struct sb_json j;
        sb_json_begin(&j, stdout);
        sb_json_str(&j, "tool", "spindle-bench");
        sb_json_str(&j, "mode", "create-topics");
        sb_json_int(&j, "topics", n);
        sb_json_int(&j, "partitions_each", o->partitions);
        sb_json_int(&j, "created", created);
        sb_json_int(&j, "existed", existed);
        sb_json_int(&j, "failed", failed);
        sb_json_num(&j, "seconds", secs);
        sb_json_bool(&j, "ok", failed == 0 && created + existed == n);
        sb_json_end(&j);
    } else {
        printf("create-topics: %d created, %d existed, %d failed in %.2f s\n", created, existed,
               failed, secs);
    }
    free(nt);
    free(res);
    free(names);
    work_fini();
    return failed == 0 && created + existed == n ? 0 : 1;
}
