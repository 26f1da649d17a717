/*
 * tests/cluster/test_topic_cfg.c: topic configs, their checks, and
 * resolution topic > broker > Kafka's default.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cluster/topic_cfg.h"
#include "core/config.h"
#include "protocol/batch.h"
#include "storage/log.h"
#include "tests/check.h"

static void test_known(void)
{
    const char *const *names;
    size_t n = sp_topic_cfg_names(&names);
    CHECK(n >= 31);
    for (size_t i = 0; i < n; i++) {
        CHECK(sp_topic_cfg_known(names[i]));
        if (i > 0) {
            CHECK(strcmp(names[i - 1], names[i]) < 0); /* sorted, no duplicates */
        }
    }
    static const char *const documented[] = {"cleanup.policy",
                                             "compression.type",
                                             "delete.retention.ms",
                                             "file.delete.delay.ms",
                                             "flush.messages",
                                             "flush.ms",
                                             "follower.replication.throttled.replicas",
                                             "index.interval.bytes",
                                             "leader.replication.throttled.replicas",
                                             "local.retention.bytes",
                                             "local.retention.ms",
                                             "max.compaction.lag.ms",
                                             "max.message.bytes",
                                             "message.downconversion.enable",
                                             "message.format.version",
                                             "message.timestamp.after.max.ms",
                                             "message.timestamp.before.max.ms",
                                             "message.timestamp.difference.max.ms",
                                             "message.timestamp.type",
                                             "min.cleanable.dirty.ratio",
                                             "min.compaction.lag.ms",
                                             "min.insync.replicas",
                                             "preallocate",
                                             "remote.storage.enable",
                                             "retention.bytes",
                                             "retention.ms",
                                             "segment.bytes",
                                             "segment.index.bytes",
                                             "segment.jitter.ms",
                                             "segment.ms",
                                             "unclean.leader.election.enable"};
    for (size_t i = 0; i < SP_ARRAY_LEN(documented); i++) {
        CHECK(sp_topic_cfg_known(documented[i]));
        char buf[64];
        int src = -1;
        CHECK_EQ_INT(sp_topic_cfg_describe(documented[i], NULL, NULL, 0, buf, sizeof(buf), &src),
                     0);
        CHECK_EQ_INT(src, 2);
    }
    CHECK(!sp_topic_cfg_known("retention.hours"));
    CHECK(!sp_topic_cfg_known("log.retention.ms"));
    CHECK(!sp_topic_cfg_known(""));
    CHECK(!sp_topic_cfg_known(NULL));
    char err[256];
    CHECK_EQ_INT(sp_topic_cfg_check("no.such.key", "1", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "no.such.key") != NULL);
    char buf[32];
    CHECK_EQ_INT(sp_topic_cfg_describe("no.such.key", NULL, NULL, 0, buf, sizeof(buf), NULL),
                 -ENOENT);
}

/* A bad value is refused, and the message names the key and the value. */
static void bad(const char *key, const char *value)
{
    char err[256] = "";
    int rc = sp_topic_cfg_check(key, value, err, sizeof(err));
    if (rc != -EINVAL) {
        fprintf(stderr, "accepted %s=%s\n", key, value);
    }
    CHECK_EQ_INT(rc, -EINVAL);
    CHECK(strstr(err, key) != NULL);
    CHECK(strstr(err, value) != NULL || value[0] == ' ');
}

static void good(const char *key, const char *value)
{
    char err[256] = "";
    int rc = sp_topic_cfg_check(key, value, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "refused %s=%s: %s\n", key, value, err);
    }
    CHECK_EQ_INT(rc, 0);
}

static void test_check(void)
{
    /* Numbers: syntax, range, int overflow. */
    good("retention.ms", "-1");
    good("retention.ms", " 1000 ");
    bad("retention.ms", "-5");
    bad("retention.ms", "abc");
    bad("retention.ms", "");
    bad("retention.ms", "12x");
    bad("retention.ms", "99999999999999999999");
    good("retention.bytes", "-1");
    good("max.message.bytes", "2147483647");
    bad("max.message.bytes", "2147483648");
    bad("max.message.bytes", "-1");
    bad("segment.bytes", "13");
    good("segment.bytes", "1048576");
    bad("segment.ms", "0");
    bad("min.insync.replicas", "0");
    bad("flush.messages", "0");
    good("flush.ms", "0");
    good("local.retention.ms", "-2");
    bad("local.retention.ms", "-3");
    good("compression.gzip.level", "-1");
    good("compression.gzip.level", "9");
    bad("compression.gzip.level", "0");
    /* Doubles. */
    good("min.cleanable.dirty.ratio", "0.25");
    good("min.cleanable.dirty.ratio", "1");
    bad("min.cleanable.dirty.ratio", "1.5");
    bad("min.cleanable.dirty.ratio", "nan");
    bad("min.cleanable.dirty.ratio", "x");
    /* Booleans. */
    good("preallocate", "true");
    good("preallocate", "FALSE");
    bad("preallocate", "yes");
    bad("unclean.leader.election.enable", "1");
    /* Enumerations. */
    static const char *const codecs[] = {"producer", "uncompressed", "gzip",
                                         "snappy",   "lz4",          "zstd"};
    for (size_t i = 0; i < SP_ARRAY_LEN(codecs); i++) {
        good("compression.type", codecs[i]);
    }
    bad("compression.type", "brotli");
    bad("compression.type", "none");
    good("message.timestamp.type", "LogAppendTime");
    bad("message.timestamp.type", "logappendtime");
    /* Lists. */
    good("cleanup.policy", "delete");
    good("cleanup.policy", "compact");
    good("cleanup.policy", "compact,delete");
    good("cleanup.policy", "delete, compact");
    bad("cleanup.policy", "remove");
    bad("cleanup.policy", "delete,");
    bad("cleanup.policy", "delete,,compact");
    bad("cleanup.policy", "delete,remove");
    good("leader.replication.throttled.replicas", "");
    good("leader.replication.throttled.replicas", "*");
    good("follower.replication.throttled.replicas", "0:1, 1:2");
    bad("follower.replication.throttled.replicas", "0:x");
    bad("follower.replication.throttled.replicas", "0:1,");
    good("message.format.version", "2.8");
    good("message.format.version", "0.10.0");
    good("message.format.version", "3.0-IV1");
    bad("message.format.version", "three");
    /* NULL: back to the default, always fine for a known key. */
    CHECK_EQ_INT(sp_topic_cfg_check("retention.ms", NULL, NULL, 0), 0);
    char err[128];
    CHECK_EQ_INT(sp_topic_cfg_check("retention.ms", "-5", err, sizeof(err)), -EINVAL);
    CHECK_EQ_STR(err, "retention.ms: \"-5\" is not >= -1");
}

static struct sp_config *broker_with(const char *const *pairs, size_t n)
{
    struct sp_config *cfg = sp_config_new();
    REQUIRE(cfg != NULL);
    char err[256];
    for (size_t i = 0; i < n; i++) {
        int rc = sp_config_set_pair(cfg, pairs[i], err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "%s: %s\n", pairs[i], err);
        }
        REQUIRE(rc == 0);
    }
    return cfg;
}

static void test_defaults(void)
{
    struct sp_topic_cfg c;
    char err[256];
    REQUIRE(sp_topic_cfg_resolve(&c, NULL, NULL, 0, err, sizeof(err)) == 0);
    CHECK(c.cleanup_delete);
    CHECK(!c.cleanup_compact);
    CHECK_EQ_INT(c.compression, SP_TOPIC_COMPRESSION_PRODUCER);
    CHECK(!c.timestamp_log_append);
    CHECK_EQ_INT(c.max_message_bytes, 1048588);
    CHECK_EQ_INT(c.min_insync_replicas, 1);
    CHECK_EQ_INT(c.index_interval_bytes, 4096);
    CHECK_EQ_INT(c.retention_ms, 604800000);
    CHECK_EQ_INT(c.retention_bytes, -1);
    CHECK_EQ_INT(c.segment_bytes, 1073741824);
    CHECK_EQ_INT(c.segment_ms, 604800000);
    CHECK_EQ_INT(c.flush_messages, INT64_MAX);
    CHECK_EQ_INT(c.flush_ms, INT64_MAX);
    CHECK_EQ_INT(c.timestamp_before_max_ms, INT64_MAX);
    CHECK_EQ_INT(c.timestamp_after_max_ms, INT64_MAX);
    CHECK_EQ_INT(c.delete_retention_ms, 86400000);
    CHECK_EQ_INT(c.min_compaction_lag_ms, 0);
    CHECK_EQ_INT(c.max_compaction_lag_ms, INT64_MAX);
    CHECK(c.min_cleanable_dirty_ratio == 0.5);

    /* A broker config holding only its defaults resolves the same. */
    struct sp_config *cfg = broker_with(NULL, 0);
    struct sp_topic_cfg d;
    REQUIRE(sp_topic_cfg_resolve(&d, cfg, NULL, 0, err, sizeof(err)) == 0);
    CHECK(memcmp(&c, &d, sizeof(c)) == 0);
    sp_config_free(cfg);

    /* The storage options: Kafka's "never" flushes become the shard's schedule. */
    struct sp_plog_options o;
    sp_topic_cfg_plog_options(&c, &o);
    CHECK_EQ_INT(o.segment_bytes, 1073741824);
    CHECK_EQ_INT(o.segment_ms, 604800000);
    CHECK_EQ_INT(o.retention_ms, 604800000);
    CHECK_EQ_INT(o.retention_bytes, -1);
    CHECK_EQ_INT(o.index_interval_bytes, 4096);
    CHECK_EQ_INT(o.flush_messages, 0);
    CHECK_EQ_INT(o.flush_ms, -1);
    CHECK(!o.hw_external);
}

static void test_resolve_order(void)
{
    static const char *const pairs[] = {
        "log.retention.hours=2", "log.segment.bytes=65536",   "message.max.bytes=5000",
        "log.roll.hours=1",      "log.flush.interval.ms=250", "log.index.interval.bytes=1024",
    };
    struct sp_config *cfg = broker_with(pairs, SP_ARRAY_LEN(pairs));
    struct sp_topic_cfg_kv kv[] = {
        {"segment.bytes", "1048576"},
        {"compression.type", "zstd"},
        {"cleanup.policy", "compact"},
        {"message.timestamp.type", "LogAppendTime"},
        {"flush.messages", "10"},
        {"max.message.bytes", "100"},
        {"max.message.bytes", "7000"}, /* the later one wins */
        {"retention.bytes", "123"},
        {"retention.bytes", NULL}, /* back to the default */
        {"min.cleanable.dirty.ratio", "0.75"},
    };
    size_t n = SP_ARRAY_LEN(kv);
    struct sp_topic_cfg c;
    char err[256];
    REQUIRE(sp_topic_cfg_resolve(&c, cfg, kv, n, err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.segment_bytes, 1048576);     /* topic */
    CHECK_EQ_INT(c.compression, SP_CODEC_ZSTD); /* topic */
    CHECK(c.cleanup_compact && !c.cleanup_delete);
    CHECK(c.timestamp_log_append);
    CHECK_EQ_INT(c.flush_messages, 10);
    CHECK_EQ_INT(c.max_message_bytes, 7000);
    CHECK_EQ_INT(c.retention_bytes, -1);        /* default */
    CHECK_EQ_INT(c.retention_ms, 2 * 3600000);  /* broker, from hours */
    CHECK_EQ_INT(c.segment_ms, 3600000);        /* broker, log.roll.hours */
    CHECK_EQ_INT(c.flush_ms, 250);              /* broker */
    CHECK_EQ_INT(c.index_interval_bytes, 1024); /* broker */
    CHECK(c.min_cleanable_dirty_ratio == 0.75);

    struct sp_plog_options o;
    sp_topic_cfg_plog_options(&c, &o);
    CHECK_EQ_INT(o.segment_bytes, 1048576);
    CHECK_EQ_INT(o.flush_messages, 10);
    CHECK_EQ_INT(o.flush_ms, 250);
    CHECK_EQ_INT(o.retention_ms, -1); /* compact only: retention deletes nothing */

    /* Describe: value and source. */
    char buf[64];
    int src = -1;
    CHECK_EQ_INT(sp_topic_cfg_describe("segment.bytes", cfg, kv, n, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "1048576");
    CHECK_EQ_INT(src, 0);
    CHECK_EQ_INT(sp_topic_cfg_describe("retention.ms", cfg, kv, n, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "7200000");
    CHECK_EQ_INT(src, 1);
    CHECK_EQ_INT(sp_topic_cfg_describe("retention.bytes", cfg, kv, n, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "-1");
    CHECK_EQ_INT(src, 2);
    CHECK_EQ_INT(sp_topic_cfg_describe("compression.type", cfg, kv, n, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "zstd");
    CHECK_EQ_INT(src, 0);
    CHECK_EQ_INT(sp_topic_cfg_describe("compression.type", cfg, NULL, 0, buf, sizeof(buf), &src),
                 0);
    CHECK_EQ_STR(buf, "producer");
    CHECK_EQ_INT(src, 2);
    CHECK_EQ_INT(sp_topic_cfg_describe("cleanup.policy", NULL, NULL, 0, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "delete");
    CHECK_EQ_INT(sp_topic_cfg_describe("max.message.bytes", cfg, NULL, 0, buf, sizeof(buf), &src),
                 0);
    CHECK_EQ_STR(buf, "5000");
    CHECK_EQ_INT(src, 1);
    CHECK_EQ_INT(sp_topic_cfg_describe("flush.ms", NULL, NULL, 0, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "9223372036854775807");
    CHECK_EQ_INT(sp_topic_cfg_describe("preallocate", cfg, NULL, 0, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "false");
    CHECK_EQ_INT(src, 2);
    CHECK_EQ_INT(
        sp_topic_cfg_describe("min.cleanable.dirty.ratio", cfg, kv, n, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "0.75");
    sp_config_free(cfg);

    /* log.retention.ms beats log.retention.hours; -1 means forever. */
    static const char *const ms_pairs[] = {"log.retention.hours=2", "log.retention.ms=5000"};
    cfg = broker_with(ms_pairs, 2);
    REQUIRE(sp_topic_cfg_resolve(&c, cfg, NULL, 0, err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.retention_ms, 5000);
    sp_config_free(cfg);
    static const char *const forever[] = {"log.retention.hours=-1"};
    cfg = broker_with(forever, 1);
    REQUIRE(sp_topic_cfg_resolve(&c, cfg, NULL, 0, err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.retention_ms, -1);
    /* ...and the topic's value beats both. */
    struct sp_topic_cfg_kv one = {"retention.ms", "60000"};
    REQUIRE(sp_topic_cfg_resolve(&c, cfg, &one, 1, err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.retention_ms, 60000);
    sp_config_free(cfg);
}

static void test_resolve_errors(void)
{
    struct sp_topic_cfg c;
    char err[256];
    struct sp_topic_cfg_kv unknown[] = {{"retention.ms", "1"}, {"bogus.key", "1"}};
    CHECK_EQ_INT(sp_topic_cfg_resolve(&c, NULL, unknown, 2, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "bogus.key") != NULL);
    struct sp_topic_cfg_kv badv[] = {
        {"compression.type", "zstd"}, {"segment.ms", "-7"}, {"retention.ms", "x"}};
    CHECK_EQ_INT(sp_topic_cfg_resolve(&c, NULL, badv, 3, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "segment.ms") != NULL && strstr(err, "-7") != NULL); /* the first bad one */
    /* Describe shows a stored value it cannot parse as stored, from the topic. */
    char buf[32];
    int src = -1;
    CHECK_EQ_INT(sp_topic_cfg_describe("segment.ms", NULL, badv, 3, buf, sizeof(buf), &src), 0);
    CHECK_EQ_STR(buf, "-7");
    CHECK_EQ_INT(src, 0);
    /* A value longer than the error buffer does not overflow it. */
    char longv[600];
    memset(longv, '9', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = 0;
    char small[16];
    CHECK_EQ_INT(sp_topic_cfg_check("retention.ms", longv, small, sizeof(small)), -EINVAL);
    CHECK(strlen(small) < sizeof(small));
}

int main(void)
{
    test_known();
    test_check();
    test_defaults();
    test_resolve_order();
    test_resolve_errors();
    return CHECK_DONE();
}
