/*
 * bench/spindle_bench.c: spindle-bench, the bundled perf harness.
 *
 *   spindle-bench produce|consume|e2e --brokers HOST:PORT --topic T [options]
 *   spindle-bench create-topics --brokers HOST:PORT --topic PREFIX --topics N --partitions P
 *   spindle-bench limits tcp [--size S] [--connections C] [--peer-cpu LIST]
 *   spindle-bench limits disk --dir D [--buffered]
 *
 * Workloads run on the client core (client/spc.h) against any
 * Kafka-compatible broker; the limits measure the machine with the same
 * pinning and sizes so that a broker's figures can be given as ratios.
 * bench/run-scenarios.py runs the scenarios of RESULTS.md with it.
 * `spindle-bench --help` lists every option.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sb_common.h"

static const char usage[] =
    "usage: spindle-bench MODE [options]\n"
    "\n"
    "modes:\n"
    "  produce        records to a topic; produce-ack latency from the delivery reports\n"
    "  consume        records from a topic (from the beginning, until its end at the start)\n"
    "  e2e            a producer and a consumer in one process; each value carries its send\n"
    "                 time (CLOCK_MONOTONIC), the consumer measures end-to-end latency\n"
    "  create-topics  --topics N topics PREFIX-0..N-1 of --partitions each (one: the topic)\n"
    "  limits tcp     raw loopback TCP blast to a forked peer, and a ping-pong round trip\n"
    "  limits disk    sequential O_DIRECT writes and append+fdatasync latency in --dir\n"
    "\n"
    "workload options:\n"
    "  --brokers HOST:PORT[,..]  bootstrap (required for workloads)\n"
    "  --topic T                 topic (default spindle-bench)\n"
    "  --size N|uniform:MIN:MAX  value size in bytes (default 1024; e2e needs >= 24)\n"
    "  --count N                 records to send (or consume)\n"
    "  --duration S              seconds to send after the warm-up (default 10 without --count)\n"
    "  --warmup S                seconds sent first and not measured (default 0)\n"
    "  --rate R                  records/s, open loop: each record has an intended send time\n"
    "                            and latency counts from it (default: as fast as possible)\n"
    "  --partitions P            create the topic with P partitions if it does not exist\n"
    "  --connections C           connections per broker (client `connections`, default 1)\n"
    "  --inflight N              requests in flight per connection and partition (default 5)\n"
    "  --acks all|-1|0|1         (default all)\n"
    "  --compression none|gzip|snappy|lz4|zstd\n"
    "  --batch-bytes N           a partition's batch is sent when this full (default 1 MiB)\n"
    "  --linger-ms N             (default 5)\n"
    "  --buffer-bytes N          the producer's buffer (default the library's, 64 MiB); in a\n"
    "                            closed loop, ack latency is mostly the time records wait here\n"
    "  --keyed                   keys k00000000.. (murmur2 partitioner); --keys N distinct\n"
    "  --payload random|text     value bytes (text compresses; default random)\n"
    "  --from beginning|end      where consume starts (default beginning)\n"
    "  --loop                    consume: start over at the end until --duration is over\n"
    "  --idle S                  consume: stop after S seconds without records (default 10)\n"
    "  --fetch-max-wait-ms N, --fetch-max-bytes N, --partition-max-bytes N\n"
    "\n"
    "limits options:\n"
    "  --peer-cpu LIST           CPUs of the forked TCP peer\n"
    "  --tcp-write-bytes N       bytes per write(2), messages packed (default 1 MiB)\n"
    "  --dir D                   directory on the filesystem to measure (limits disk)\n"
    "  --buffered                no O_DIRECT (tmpfs)\n"
    "  --disk-bytes N            sequential bytes (default 1 GiB; capped by --duration, 30 s)\n"
    "  --disk-block N, --disk-qd N   write size and writes in flight (256 KiB, 4)\n"
    "  --sync-bytes N, --sync-count N  append size and count of the fdatasync test (4096, 2000)\n"
    "\n"
    "common options:\n"
    "  --cpu LIST                pin this process (sched_setaffinity), e.g. 1 or 2-3\n"
    "  --json                    results as one JSON object on stdout\n"
    "  --quiet                   no progress line each second on stderr\n"
    "  sizes take K, M, G suffixes (powers of 1024)\n";

enum {
    OPT_BROKERS = 256,
    OPT_TOPIC,
    OPT_SIZE,
    OPT_COUNT,
    OPT_DURATION,
    OPT_WARMUP,
    OPT_RATE,
    OPT_PARTITIONS,
    OPT_CONNECTIONS,
    OPT_INFLIGHT,
    OPT_ACKS,
    OPT_COMPRESSION,
    OPT_BATCH_BYTES,
    OPT_LINGER_MS,
    OPT_BUFFER_BYTES,
    OPT_KEYED,
    OPT_KEYS,
    OPT_PAYLOAD,
    OPT_FROM,
    OPT_LOOP,
    OPT_IDLE,
    OPT_FETCH_MAX_WAIT,
    OPT_FETCH_MAX_BYTES,
    OPT_PARTITION_MAX_BYTES,
    OPT_TOPICS,
    OPT_PEER_CPU,
    OPT_TCP_WRITE_BYTES,
    OPT_DIR,
    OPT_BUFFERED,
    OPT_DISK_BYTES,
    OPT_DISK_BLOCK,
    OPT_DISK_QD,
    OPT_SYNC_BYTES,
    OPT_SYNC_COUNT,
    OPT_CPU,
    OPT_JSON,
    OPT_QUIET,
    OPT_HELP,
};

static const struct option long_opts[] = {
    {"brokers", required_argument, NULL, OPT_BROKERS},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"size", required_argument, NULL, OPT_SIZE},
    {"count", required_argument, NULL, OPT_COUNT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"rate", required_argument, NULL, OPT_RATE},
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"inflight", required_argument, NULL, OPT_INFLIGHT},
    {"acks", required_argument, NULL, OPT_ACKS},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"batch-bytes", required_argument, NULL, OPT_BATCH_BYTES},
    {"linger-ms", required_argument, NULL, OPT_LINGER_MS},
    {"buffer-bytes", required_argument, NULL, OPT_BUFFER_BYTES},
    {"keyed", no_argument, NULL, OPT_KEYED},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"from", required_argument, NULL, OPT_FROM},
    {"loop", no_argument, NULL, OPT_LOOP},
    {"idle", required_argument, NULL, OPT_IDLE},
    {"fetch-max-wait-ms", required_argument, NULL, OPT_FETCH_MAX_WAIT},
    {"fetch-max-bytes", required_argument, NULL, OPT_FETCH_MAX_BYTES},
    {"partition-max-bytes", required_argument, NULL, OPT_PARTITION_MAX_BYTES},
    {"topics", required_argument, NULL, OPT_TOPICS},
    {"peer-cpu", required_argument, NULL, OPT_PEER_CPU},
    {"tcp-write-bytes", required_argument, NULL, OPT_TCP_WRITE_BYTES},
    {"dir", required_argument, NULL, OPT_DIR},
    {"buffered", no_argument, NULL, OPT_BUFFERED},
    {"disk-bytes", required_argument, NULL, OPT_DISK_BYTES},
    {"disk-block", required_argument, NULL, OPT_DISK_BLOCK},
    {"disk-qd", required_argument, NULL, OPT_DISK_QD},
    {"sync-bytes", required_argument, NULL, OPT_SYNC_BYTES},
    {"sync-count", required_argument, NULL, OPT_SYNC_COUNT},
    {"cpu", required_argument, NULL, OPT_CPU},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int bad(const char *opt, const char *arg)
{
    fprintf(stderr, "spindle-bench: bad value for --%s: \"%s\" (see --help)\n", opt, arg);
    return -EINVAL;
}

/* A non-negative integer with an optional K/M/G suffix, at most max. */
static int parse_u64(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (end == arg || errno != 0 || arg[0] == '-') {
        return bad(opt, arg);
    }
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k') {
        shift = 10;
    } else if (*end == 'M' || *end == 'm') {
        shift = 20;
    } else if (*end == 'G' || *end == 'g') {
        shift = 30;
    }
    end += shift != 0 ? 1 : 0;
    if (*end != '\0' || v > (max >> shift)) {
        return bad(opt, arg);
    }
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_i32(const char *opt, const char *arg, int32_t min, int32_t max, int32_t *out)
{
    uint64_t v = 0;
    if (parse_u64(opt, arg, (uint64_t)max, &v) < 0 || (int64_t)v < min) {
        return bad(opt, arg);
    }
    *out = (int32_t)v;
    return 0;
}

static int parse_u32(const char *opt, const char *arg, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (parse_u64(opt, arg, max, &v) < 0 || v < min) {
        return bad(opt, arg);
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_seconds(const char *opt, const char *arg, double *out)
{
    char *end = NULL;
    double v = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(v >= 0) || v > SB_DURATION_MAX) {
        return bad(opt, arg);
    }
    *out = v;
    return 0;
}

static void opts_init(struct sb_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->topic = "spindle-bench";
    o->size = (struct sb_size){SB_SIZE_FIXED, 1024, 1024};
    o->connections = 1;
    o->inflight = 5;
    o->acks = -1;
    o->compression = "none";
    o->batch_bytes = 1 << 20;
    o->linger_ms = 5;
    o->keys = 1000000;
    o->fetch_max_wait_ms = 500;
    o->fetch_max_bytes = 50 << 20;
    o->fetch_partition_max_bytes = 1 << 20;
    o->idle_s = 10.0;
    o->topics = 1;
    o->disk_bytes = 1ull << 30;
    o->disk_block = 256u << 10;
    o->disk_qd = 4;
    o->sync_bytes = 4096;
    o->sync_count = 2000;
    o->tcp_write_bytes = 1u << 20;
}

static int parse_acks(const char *arg, int16_t *out)
{
    if (strcmp(arg, "all") == 0 || strcmp(arg, "-1") == 0) {
        *out = -1;
    } else if (strcmp(arg, "0") == 0 || strcmp(arg, "1") == 0) {
        *out = (int16_t)(arg[0] - '0');
    } else {
        return bad("acks", arg);
    }
    return 0;
}

/* The options that take a number; one place so that parse_opt stays short. */
static int parse_number(int c, const char *arg, struct sb_opts *o)
{
    switch (c) {
    case OPT_COUNT:
        return parse_u64("count", arg, UINT64_MAX >> 1, &o->count);
    case OPT_DURATION:
        return parse_seconds("duration", arg, &o->duration_s);
    case OPT_WARMUP:
        return parse_seconds("warmup", arg, &o->warmup_s);
    case OPT_IDLE:
        return parse_seconds("idle", arg, &o->idle_s);
    case OPT_PARTITIONS:
        return parse_i32("partitions", arg, 1, 1000000, &o->partitions);
    case OPT_CONNECTIONS:
        return parse_u32("connections", arg, 1, 256, &o->connections);
    case OPT_INFLIGHT:
        return parse_u32("inflight", arg, 1, 1024, &o->inflight);
    case OPT_BATCH_BYTES:
        return parse_i32("batch-bytes", arg, 1, 1 << 30, &o->batch_bytes);
    case OPT_LINGER_MS:
        return parse_i32("linger-ms", arg, 0, 60000, &o->linger_ms);
    case OPT_BUFFER_BYTES:
        return parse_u64("buffer-bytes", arg, 1ull << 36, &o->buffer_bytes);
    case OPT_KEYS:
        return parse_u32("keys", arg, 1, 100000000, &o->keys);
    case OPT_FETCH_MAX_WAIT:
        return parse_i32("fetch-max-wait-ms", arg, 0, 60000, &o->fetch_max_wait_ms);
    case OPT_FETCH_MAX_BYTES:
        return parse_i32("fetch-max-bytes", arg, 1, 1 << 30, &o->fetch_max_bytes);
    case OPT_PARTITION_MAX_BYTES:
        return parse_i32("partition-max-bytes", arg, 1, 1 << 30, &o->fetch_partition_max_bytes);
    case OPT_TOPICS:
        return parse_i32("topics", arg, 1, SB_TOPICS_MAX, &o->topics);
    case OPT_TCP_WRITE_BYTES:
        return parse_u32("tcp-write-bytes", arg, 0, 64u << 20, &o->tcp_write_bytes);
    case OPT_DISK_BYTES:
        return parse_u64("disk-bytes", arg, 1ull << 40, &o->disk_bytes);
    case OPT_DISK_BLOCK:
        return parse_u32("disk-block", arg, 4096, 64u << 20, &o->disk_block);
    case OPT_DISK_QD:
        return parse_u32("disk-qd", arg, 1, 64, &o->disk_qd);
    case OPT_SYNC_BYTES:
        return parse_u32("sync-bytes", arg, 1, 16u << 20, &o->sync_bytes);
    case OPT_SYNC_COUNT:
        return parse_u32("sync-count", arg, 1, 10000000, &o->sync_count);
    default:
        return 1; /* not a number option */
    }
}

static int parse_opt(int c, const char *arg, struct sb_opts *o)
{
    int rc = parse_number(c, arg, o);
    if (rc <= 0) {
        return rc;
    }
    switch (c) {
    case OPT_BROKERS:
        o->brokers = arg;
        return 0;
    case OPT_TOPIC:
        o->topic = arg;
        return 0;
    case OPT_SIZE:
        return sb_size_parse(arg, &o->size) == 0 ? 0 : bad("size", arg);
    case OPT_RATE: {
        char *end = NULL;
        o->rate = strtod(arg, &end);
        return end != arg && *end == '\0' && o->rate >= 0 && o->rate <= 1e9 ? 0 : bad("rate", arg);
    }
    case OPT_ACKS:
        return parse_acks(arg, &o->acks);
    case OPT_COMPRESSION:
        o->compression = arg;
        return 0;
    case OPT_KEYED:
        o->keyed = true;
        return 0;
    case OPT_PAYLOAD:
        o->text_payload = strcmp(arg, "text") == 0;
        return o->text_payload || strcmp(arg, "random") == 0 ? 0 : bad("payload", arg);
    case OPT_FROM:
        o->from_end = strcmp(arg, "end") == 0;
        return o->from_end || strcmp(arg, "beginning") == 0 ? 0 : bad("from", arg);
    case OPT_LOOP:
        o->loop = true;
        return 0;
    case OPT_PEER_CPU:
        o->peer_cpus = arg;
        return 0;
    case OPT_DIR:
        o->dir = arg;
        return 0;
    case OPT_BUFFERED:
        o->buffered = true;
        return 0;
    case OPT_CPU:
        o->cpus = arg;
        return 0;
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    default:
        return -EINVAL;
    }
}

/* The mode from the leading words: "produce", "limits tcp", ... NULL when unknown. */
static const char *parse_mode(int argc, char **argv, int *used)
{
    static const char *const modes[] = {"produce", "consume", "e2e", "create-topics"};
    *used = 1;
    if (argc < 2) {
        return NULL;
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(modes); i++) {
        if (strcmp(argv[1], modes[i]) == 0) {
            return modes[i];
        }
    }
    if (strcmp(argv[1], "limits") == 0 && argc >= 3) {
        *used = 2;
        if (strcmp(argv[2], "tcp") == 0) {
            return "limits-tcp";
        }
        if (strcmp(argv[2], "disk") == 0) {
            return "limits-disk";
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct sb_opts o;
    opts_init(&o);
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    int used = 1;
    o.mode = parse_mode(argc, argv, &used);
    if (o.mode == NULL) {
        fputs(usage, stderr);
        return 2;
    }
    optind = used + 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == 'h' || c == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (c == '?' || parse_opt(c, optarg, &o) < 0) {
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spindle-bench: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (o.cpus != NULL) {
        int rc = sb_pin(0, o.cpus);
        if (rc < 0) {
            fprintf(stderr, "spindle-bench: --cpu %s: %s\n", o.cpus, strerror(-rc));
            return 2;
        }
    }
    char cpus[256];
    sb_cpus_string(cpus, sizeof(cpus));
    if (!o.quiet) {
        fprintf(stderr, "spindle-bench %s: on CPUs %s\n", o.mode, cpus);
    }
    if (strcmp(o.mode, "limits-tcp") == 0) {
        return sb_limits_tcp(&o);
    }
    if (strcmp(o.mode, "limits-disk") == 0) {
        return sb_limits_disk(&o);
    }
    if (o.brokers == NULL) {
        fprintf(stderr, "spindle-bench %s: --brokers is required\n", o.mode);
        return 2;
    }
    if (strcmp(o.mode, "produce") == 0) {
        return sb_produce(&o);
    }
    if (strcmp(o.mode, "consume") == 0) {
        return sb_consume(&o);
    }
    if (strcmp(o.mode, "e2e") == 0) {
        return sb_e2e(&o);
    }
    return sb_create_topics(&o);
}
