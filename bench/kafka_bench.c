/*
 * bench/kafka_bench.c: first throughput figures for a Kafka broker, next
 * to the machine's loopback TCP limit. A stopgap until spindle-bench has
 * its own client core: the Kafka side uses librdkafka (a bench-only
 * dependency, never linked into the broker).
 *
 *   kafka_bench loopback [seconds]
 *       raw TCP over 127.0.0.1 between two processes, 1 MiB writes
 *   kafka_bench produce BOOTSTRAP TOPIC [messages] [size] [acks]
 *       librdkafka producer: linger 5 ms, 1 MiB batches, no compression
 *   kafka_bench consume BOOTSTRAP TOPIC PARTITIONS [messages]
 *       librdkafka consumer with assign() from the beginning (no group)
 *
 * Each prints one line: what ran, MB/s (10^6 bytes of payload per second)
 * and messages/s.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define LOOP_CHUNK (1u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int loopback(double seconds)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("loopback: listen");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) { /* the reader: discard everything */
        int fd = accept(lfd, NULL, NULL);
        char *buf = malloc(LOOP_CHUNK);
        while (fd >= 0 && buf != NULL && read(fd, buf, LOOP_CHUNK) > 0) {
        }
        _exit(0);
    }
    close(lfd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("loopback: connect");
        return 1;
    }
    char *buf = calloc(1, LOOP_CHUNK);
    uint64_t bytes = 0;
    double t0 = now_s(), t = t0;
    while (buf != NULL && t - t0 < seconds) {
        ssize_t n = write(fd, buf, LOOP_CHUNK);
        if (n <= 0) {
            perror("loopback: write");
            return 1;
        }
        bytes += (uint64_t)n;
        t = now_s();
    }
    close(fd);
    waitpid(pid, NULL, 0);
    free(buf);
    printf("loopback tcp: %.0f MB/s over %.1f s\n", (double)bytes / (t - t0) / 1e6, t - t0);
    return 0;
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s=%s: %s\n", k, v, err);
        exit(2);
    }
}

/*
 * Extra librdkafka settings from KAFKA_BENCH_CONF ("key=value,key=value"),
 * applied last: e.g. api.version.request=false,broker.version.fallback=0.9.0
 * measures an old client's message format (v0/v1, converted by the broker).
 */
static void conf_env(rd_kafka_conf_t *c)
{
    const char *env = getenv("KAFKA_BENCH_CONF");
    if (env == NULL || *env == '\0') {
        return;
    }
    char *copy = strdup(env);
    if (copy == NULL) {
        exit(2);
    }
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            fprintf(stderr, "KAFKA_BENCH_CONF: %s is not key=value\n", kv);
            exit(2);
        }
        *eq = '\0';
        conf_set(c, kv, eq + 1);
    }
    free(copy);
}

static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err) {
        if (failed++ < 5) {
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        }
    } else {
        delivered++;
    }
}

static int produce(const char *bootstrap, const char *topic, long count, int size, const char *acks)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    conf_set(c, "bootstrap.servers", bootstrap);
    conf_set(c, "linger.ms", "5");
    conf_set(c, "batch.size", "1000000");
    conf_set(c, "acks", acks);
    conf_set(c, "queue.buffering.max.kbytes", "1048576");
    conf_set(c, "queue.buffering.max.messages", "1000000");
    conf_env(c);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "producer: %s\n", err);
        return 2;
    }
    char *payload = malloc((size_t)size);
    memset(payload, 'x', (size_t)size);
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 120000);
    double dt = now_s() - t0;
    printf("produce acks=%s %d B x %ld: %.0f MB/s, %.0f msg/s (%ld delivered, %ld failed)\n", acks,
           size, count, (double)delivered * size / dt / 1e6, (double)delivered / dt, delivered,
           failed);
    rd_kafka_destroy(rk);
    free(payload);
    return failed == 0 && delivered == count ? 0 : 1;
}

static int consume(const char *bootstrap, const char *topic, int partitions, long count)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    conf_set(c, "bootstrap.servers", bootstrap);
    conf_set(c, "group.id", "kafka-bench"); /* required by librdkafka; no group APIs used */
    conf_set(c, "enable.auto.commit", "false");
    conf_set(c, "fetch.max.bytes", "52428800");
    conf_set(c, "max.partition.fetch.bytes", "4194304");
    conf_env(c);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "consumer: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++) {
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    long got = 0;
    uint64_t bytes = 0;
    double t0 = 0, last = now_s();
    while (got < count && now_s() - last < 10) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            continue;
        }
        if (m->err == 0) {
            if (got++ == 0) {
                t0 = now_s();
            }
            bytes += m->len;
            last = now_s();
        }
        rd_kafka_message_destroy(m);
    }
    double dt = last - t0;
    printf("consume %ld messages: %.0f MB/s, %.0f msg/s\n", got, dt > 0 ? bytes / dt / 1e6 : 0,
           dt > 0 ? got / dt : 0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == count ? 0 : 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "loopback") == 0) {
        return loopback(argc > 2 ? atof(argv[2]) : 5.0);
    }
    if (argc >= 4 && strcmp(argv[1], "produce") == 0) {
        return produce(argv[2], argv[3], argc > 4 ? atol(argv[4]) : 1000000,
                       argc > 5 ? atoi(argv[5]) : 1024, argc > 6 ? argv[6] : "1");
    }
    if (argc >= 5 && strcmp(argv[1], "consume") == 0) {
        return consume(argv[2], argv[3], atoi(argv[4]), argc > 5 ? atol(argv[5]) : 1000000);
    }
    fprintf(stderr, "usage: kafka_bench loopback [seconds]\n"
                    "       kafka_bench produce BOOTSTRAP TOPIC [messages] [size] [acks]\n"
                    "       kafka_bench consume BOOTSTRAP TOPIC PARTITIONS [messages]\n");
    return 2;
}
