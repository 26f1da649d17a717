/*
 * tools/vectors/mock_broker.c: librdkafka's mock cluster as a stand-alone
 * broker for capturing protocol vectors (see capture.sh). Prints its
 * bootstrap address on stdout and runs until stdin closes.
 *
 *   cc -o mock_broker mock_broker.c -lrdkafka
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>

int main(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "mock_broker: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (mc == NULL) {
        fprintf(stderr, "mock_broker: no mock cluster\n");
        return 1;
    }
    rd_kafka_mock_topic_create(mc, "vec", 1, 1);
    /* KafkaJS's own topic: it cannot read the snappy, lz4 and zstd batches
     * the other clients leave in "vec". */
    rd_kafka_mock_topic_create(mc, "vec-js", 1, 1);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (getchar() != EOF) {
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
