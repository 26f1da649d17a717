/* Configuration: defaults, types, ranges, unknown keys, properties files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "net/listener.h"
#include "tests/check.h"

static char tmp_path[256];

static const char *write_tmp(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/spindle-test-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    REQUIRE(fd >= 0);
    FILE *f = fdopen(fd, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
    return tmp_path;
}

static void test_defaults(void)
{
    struct sp_config *cfg = sp_config_new();
    REQUIRE(cfg != NULL);
    CHECK_EQ_INT(sp_config_int(cfg, SP_CFG_NUM_PARTITIONS), 1);
    CHECK_EQ_INT(sp_config_int(cfg, SP_CFG_LOG_SEGMENT_BYTES), 1073741824);
    CHECK(sp_config_bool(cfg, SP_CFG_AUTO_CREATE_TOPICS_ENABLE));
    CHECK_EQ_STR(sp_config_str(cfg, SP_CFG_LISTENERS), "PLAINTEXT://127.0.0.1:9092");
    CHECK(!sp_config_is_set(cfg, SP_CFG_NUM_PARTITIONS));
    /* Every key has a name that looks up to itself and a documentation line. */
    for (int i = 0; i < SP_CFG_COUNT_; i++) {
        const struct sp_config_def *d = sp_config_def((enum sp_config_id)i);
        CHECK_EQ_INT(sp_config_lookup(d->name), i);
        CHECK(d->doc[0] != '\0');
    }
    sp_config_free(cfg);
}

static void test_set_and_errors(void)
{
    struct sp_config *cfg = sp_config_new();
    char err[256];

    CHECK_EQ_INT(sp_config_set(cfg, "num.partitions", "12", err, sizeof(err)), 0);
    CHECK_EQ_INT(sp_config_int(cfg, SP_CFG_NUM_PARTITIONS), 12);
    CHECK(sp_config_is_set(cfg, SP_CFG_NUM_PARTITIONS));

    CHECK_EQ_INT(sp_config_set(cfg, "num.partitons", "3", err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "num.partitons") != NULL && strstr(err, "unknown") != NULL);

    CHECK_EQ_INT(sp_config_set(cfg, "num.partitions", "ten", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "num.partitions") != NULL && strstr(err, "not an integer") != NULL);

    CHECK_EQ_INT(sp_config_set(cfg, "num.partitions", "0", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "out of range") != NULL);
    /* A failed set leaves the previous value. */
    CHECK_EQ_INT(sp_config_int(cfg, SP_CFG_NUM_PARTITIONS), 12);

    CHECK_EQ_INT(sp_config_set(cfg, "auto.create.topics.enable", "FALSE", err, sizeof(err)), 0);
    CHECK(!sp_config_bool(cfg, SP_CFG_AUTO_CREATE_TOPICS_ENABLE));
    CHECK_EQ_INT(sp_config_set(cfg, "auto.create.topics.enable", "yes", err, sizeof(err)), -EINVAL);

    CHECK_EQ_INT(sp_config_set(cfg, "logger.level", "debug", err, sizeof(err)), 0);
    CHECK_EQ_INT(sp_config_set(cfg, "logger.level", "loud", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "logger.level") != NULL && strstr(err, "one of") != NULL);

    CHECK_EQ_INT(
        sp_config_set(cfg, "log.flush.interval.messages", "9223372036854775807", err, sizeof(err)),
        0);
    CHECK_EQ_INT(
        sp_config_set(cfg, "log.flush.interval.messages", "9223372036854775808", err, sizeof(err)),
        -EINVAL);

    CHECK_EQ_INT(sp_config_set_pair(cfg, " smp = 3 ", err, sizeof(err)), 0);
    CHECK_EQ_INT(sp_config_int(cfg, SP_CFG_SMP), 3);
    CHECK_EQ_INT(sp_config_set_pair(cfg, "smp", err, sizeof(err)), -EINVAL);
    sp_config_free(cfg);
}

static void test_file(void)
{
    struct sp_config *cfg = sp_config_new();
    char err[256];
    const char *path = write_tmp("# a comment\n"
                                 "! another\n"
                                 "\n"
                                 "num.partitions = 4\n"
                                 "log.dirs: /var/lib/a,\\\n"
                                 "    /var/lib/b\n"
                                 "  listeners=PLAINTEXT://127.0.0.1:0  \n");
    CHECK_EQ_INT(sp_config_load_file(cfg, path, err, sizeof(err)), 0);
    CHECK_EQ_INT(sp_config_int(cfg, SP_CFG_NUM_PARTITIONS), 4);
    CHECK_EQ_STR(sp_config_str(cfg, SP_CFG_LOG_DIRS), "/var/lib/a,/var/lib/b");
    CHECK_EQ_STR(sp_config_str(cfg, SP_CFG_LISTENERS), "PLAINTEXT://127.0.0.1:0");
    unlink(path);

    path = write_tmp("num.partitions=2\nbogus.key=1\n");
    CHECK_EQ_INT(sp_config_load_file(cfg, path, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, ":2:") != NULL && strstr(err, "bogus.key") != NULL);
    unlink(path);

    path = write_tmp("just words\n");
    CHECK_EQ_INT(sp_config_load_file(cfg, path, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, ":1:") != NULL);
    unlink(path);

    CHECK_EQ_INT(sp_config_load_file(cfg, "/nonexistent/spindle.properties", err, sizeof(err)),
                 -ENOENT);
    sp_config_free(cfg);
}

static int count_item(void *ctx, const char *item, size_t len)
{
    (void)item;
    (void)len;
    (*(int *)ctx)++;
    return 0;
}

static void test_lists_and_listeners(void)
{
    int n = 0;
    CHECK_EQ_INT(sp_config_list_each(" a, b ,,c ", count_item, &n), 0);
    CHECK_EQ_INT(n, 3);

    struct sp_listener_set set;
    char err[256];
    CHECK_EQ_INT(sp_listener_parse_list("PLAINTEXT://127.0.0.1:0", &set, err, sizeof(err)), 0);
    CHECK_EQ_INT(set.count, 1);
    CHECK_EQ_STR(set.addr[0].host, "127.0.0.1");
    CHECK_EQ_INT(set.addr[0].port, 0);
    CHECK_EQ_INT(sp_listener_parse_list("PLAINTEXT://[::1]:9092", &set, err, sizeof(err)), 0);
    CHECK_EQ_STR(set.addr[0].host, "::1");
    CHECK_EQ_INT(set.addr[0].port, 9092);
    CHECK_EQ_INT(sp_listener_parse_list("PLAINTEXT://:9092", &set, err, sizeof(err)), 0);
    CHECK_EQ_STR(set.addr[0].host, "");
    CHECK_EQ_INT(sp_listener_parse_list("PLAINTEXT://h:70000", &set, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "PLAINTEXT://h:70000") != NULL);
    CHECK_EQ_INT(sp_listener_parse_list("localhost:9092", &set, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(sp_listener_parse_list("FOO://h:1", &set, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(sp_listener_parse_list("PLAINTEXT://a:1,PLAINTEXT://b:2", &set, err, sizeof(err)),
                 -EINVAL);
    CHECK(strstr(err, "duplicate") != NULL);
    CHECK_EQ_INT(sp_listener_parse_list("", &set, err, sizeof(err)), -EINVAL);

    /* Port 0 binds and reports the port the kernel chose. */
    CHECK_EQ_INT(sp_listener_parse_list("PLAINTEXT://127.0.0.1:0", &set, err, sizeof(err)), 0);
    int fd = sp_listener_bind(&set.addr[0], 16);
    CHECK(fd >= 0);
    CHECK(set.addr[0].port != 0);
    char buf[128];
    sp_listener_format(&set.addr[0], buf, sizeof(buf));
    CHECK(strncmp(buf, "PLAINTEXT://127.0.0.1:", 22) == 0);
    if (fd >= 0) {
        close(fd);
    }
}

int main(void)
{
    test_defaults();
    test_set_and_errors();
    test_file();
    test_lists_and_listeners();
    return CHECK_DONE();
}
