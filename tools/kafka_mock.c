/*
 * tools/kafka_mock.c: librdkafka's mock cluster in a process of its own, the
 * reference peer that the client core's tests, spindlectl's tests and
 * spindle-bench run against next to Spindle.
 *
 *   kafka-mock [--brokers N] [--topic NAME:PARTITIONS[:RF]]...
 *
 * Prints "bootstrap HOST:PORT,..." on stdout once it listens, then reads
 * commands on stdin, one per line, and answers each with "ok" or
 * "error: ...":
 *
 *   topic NAME PARTITIONS [RF]      create a topic
 *   leader TOPIC PARTITION BROKER   move a partition's leadership
 *   down BROKER | up BROKER         take a broker's listener down or up
 *   rtt BROKER MS                   delay a broker's responses
 *   errors APIKEY ERR [ERR...]      the next requests of APIKEY fail with
 *                                   these Kafka error codes, in order
 *   topic-error TOPIC ERR           metadata answers ERR for the topic
 *
 * It exits when stdin closes, or on SIGINT / SIGTERM.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS 64

static void answer(rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        printf("ok\n");
    } else {
        printf("error: %s\n", rd_kafka_err2name(err));
    }
    fflush(stdout);
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *spec)
{
    char name[256];
    int partitions = 1, rf = 1;
    if (sscanf(spec, "%255[^:]:%d:%d", name, &partitions, &rf) < 2 || partitions < 1 || rf < 1) {
        fprintf(stderr, "kafka-mock: bad topic \"%s\" (NAME:PARTITIONS[:RF])\n", spec);
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, rf);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka-mock: topic %s: %s\n", name, rd_kafka_err2name(err));
        return -1;
    }
    return 0;
}

/* Runs one command line; "error: ..." for what it cannot parse. */
static void command(rd_kafka_mock_cluster_t *mc, char *line)
{
    char *argv[MAX_ERRORS + 3];
    int argc = 0;
    for (char *tok = strtok(line, " \t\r\n");
         tok != NULL && argc < (int)(sizeof(argv) / sizeof(*argv)); tok = strtok(NULL, " \t\r\n")) {
        argv[argc++] = tok;
    }
    if (argc == 0) {
        return;
    }
    const char *cmd = argv[0];
    if (strcmp(cmd, "topic") == 0 && (argc == 3 || argc == 4)) {
        answer(
            rd_kafka_mock_topic_create(mc, argv[1], atoi(argv[2]), argc == 4 ? atoi(argv[3]) : 1));
    } else if (strcmp(cmd, "leader") == 0 && argc == 4) {
        answer(rd_kafka_mock_partition_set_leader(mc, argv[1], atoi(argv[2]), atoi(argv[3])));
    } else if (strcmp(cmd, "down") == 0 && argc == 2) {
        answer(rd_kafka_mock_broker_set_down(mc, atoi(argv[1])));
    } else if (strcmp(cmd, "up") == 0 && argc == 2) {
        answer(rd_kafka_mock_broker_set_up(mc, atoi(argv[1])));
    } else if (strcmp(cmd, "rtt") == 0 && argc == 3) {
        answer(rd_kafka_mock_broker_set_rtt(mc, atoi(argv[1]), atoi(argv[2])));
    } else if (strcmp(cmd, "errors") == 0 && argc >= 3) {
        rd_kafka_resp_err_t errs[MAX_ERRORS];
        size_t n = 0;
        for (int i = 2; i < argc && n < MAX_ERRORS; i++) {
            errs[n++] = (rd_kafka_resp_err_t)atoi(argv[i]);
        }
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)atoi(argv[1]), n, errs);
        answer(RD_KAFKA_RESP_ERR_NO_ERROR);
    } else if (strcmp(cmd, "topic-error") == 0 && argc == 3) {
        rd_kafka_mock_topic_set_error(mc, argv[1], (rd_kafka_resp_err_t)atoi(argv[2]));
        answer(RD_KAFKA_RESP_ERR_NO_ERROR);
    } else {
        printf("error: unknown command or arguments: %s\n", cmd);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    int brokers = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            brokers = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            i++; /* created below, once the cluster exists */
        } else {
            fprintf(stderr, "usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS[:RF]]...\n");
            return 2;
        }
    }
    if (brokers < 1 || brokers > 64) {
        fprintf(stderr, "kafka-mock: --brokers must be 1..64\n");
        return 2;
    }

    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "kafka-mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "kafka-mock: no mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--topic") == 0) {
            rc = create_topic(mc, argv[++i]);
        } else if (strcmp(argv[i], "--brokers") == 0) {
            i++;
        }
    }
    if (rc == 0) {
        /* The cluster runs on librdkafka's own threads; this one only
         * reads commands. SIGINT and SIGTERM keep their default action. */
        signal(SIGPIPE, SIG_IGN);
        printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);
        char line[4096];
        while (fgets(line, sizeof(line), stdin) != NULL) {
            command(mc, line);
        }
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return rc == 0 ? 0 : 1;
}
