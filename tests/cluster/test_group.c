/*
 * tests/cluster/test_group.c: a group's __consumer_offsets partition (Java's
 * String.hashCode rule, as Kafka places groups) and the records' bytes,
 * which must be exactly Kafka's so that either broker could read the other's
 * log: key version, key, value version, value.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cluster/group.h"
#include "protocol/gen/kproto_types.h"
#include "tests/check.h"

static void test_partition(void)
{
    /* Reference values from Java: "s".hashCode(), Utils.abs, % 50. */
    CHECK_EQ_INT(sp_group_partition("hello", 5, 50), 22);
    CHECK_EQ_INT(sp_group_partition("my-group", 8, 50), 12); /* a negative hash */
    CHECK_EQ_INT(sp_group_partition("console-consumer-12345", 22, 50), 6);
    /* Its hash is Integer.MIN_VALUE, which Kafka's abs maps to 0. */
    CHECK_EQ_INT(sp_group_partition("polygenelubricants", 18, 50), 0);
    CHECK_EQ_INT(sp_group_partition("", 0, 50), 0);
    CHECK_EQ_INT(sp_group_partition("hello", 5, 1), 0);
}

static const uint8_t commit_key[] = {
    0, 1,           /* key version 1 */
    0, 2, 'g', '1', /* group */
    0, 1, 't',      /* topic */
    0, 0, 0,   7,   /* partition */
};

static const uint8_t commit_value_v3[] = {
    0, 3,                             /* value version 3 */
    0, 0, 0,   0,   0, 0, 0x01, 0x00, /* offset 256 */
    0, 0, 0,   5,                     /* leader epoch */
    0, 2, 'm', 'd',                   /* metadata */
    0, 0, 0,   0,   0, 0, 0x03, 0xe8, /* commit timestamp 1000 */
};

static void test_offset_commit_record(void)
{
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 1 << 20);
    struct kproto_offset_commit_key key = {
        .group = sp_str_make("g1"), .topic = sp_str_make("t"), .partition = 7};
    struct kproto_offset_commit_value val;
    kproto_offset_commit_value_init(&val);
    val.offset = 256;
    val.leaderEpoch = 5;
    val.metadata = sp_str_make("md");
    val.commitTimestamp = 1000;
    struct sp_group_rec r;
    CHECK_EQ_INT(sp_group_rec_encode(&a, SP_GROUP_KEY_OFFSET_COMMIT, &key, 3, &val, &r), 0);
    CHECK_EQ_INT(r.key.len, sizeof(commit_key));
    CHECK(r.key.len == sizeof(commit_key) && memcmp(r.key.ptr, commit_key, r.key.len) == 0);
    CHECK_EQ_INT(r.value.len, sizeof(commit_value_v3));
    CHECK(r.value.len == sizeof(commit_value_v3) &&
          memcmp(r.value.ptr, commit_value_v3, r.value.len) == 0);

    /* A tombstone: the same key, no value. */
    CHECK_EQ_INT(sp_group_rec_encode(&a, SP_GROUP_KEY_OFFSET_COMMIT, &key, 0, NULL, &r), 0);
    CHECK(r.value.ptr == NULL);
    CHECK(r.key.len == sizeof(commit_key) && memcmp(r.key.ptr, commit_key, r.key.len) == 0);

    /* GroupMetadataKey: version 2 and the group alone. */
    struct kproto_group_metadata_key gk = {.group = sp_str_make("g1")};
    static const uint8_t gm_key[] = {0, 2, 0, 2, 'g', '1'};
    CHECK_EQ_INT(sp_group_rec_encode(&a, SP_GROUP_KEY_GROUP_METADATA, &gk, 0, NULL, &r), 0);
    CHECK(r.key.len == sizeof(gm_key) && memcmp(r.key.ptr, gm_key, r.key.len) == 0);

    /* Unknown key versions are refused. */
    CHECK_EQ_INT(sp_group_rec_encode(&a, 9, &gk, 0, NULL, &r), -EINVAL);
    CHECK_EQ_INT(sp_group_rec_encode(&a, -1, &gk, 0, NULL, &r), -EINVAL);
    sp_arena_destroy(&a);
}

int main(void)
{
    test_partition();
    test_offset_commit_record();
    return CHECK_DONE();
}
