/*
 * tests/protocol/test_vectors.c: frames captured from real clients and
 * librdkafka's mock cluster (tests/protocol/vectors/README.md). Every
 * request and response decodes completely and re-encodes to the same
 * bytes; the records in Produce requests and Fetch responses decode to what
 * the clients sent, for every codec.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/compress.h"
#include "protocol/kproto.h"

#include "tests/check.h"

static int frames, produce_records, fetch_records, fetch_matched;
static bool seen_codec[SP_CODEC_COUNT];

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    REQUIRE(buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The records every "<client>-produce-<codec>" run sends, in order (possibly
 * split over several Produce requests): keys k1, k2 and empty or null;
 * values <codec>-one/two/three; header trace=abc on each. */
static const char *const produce_keys[] = {"k1", "k2", ""};
static const char *const produce_words[] = {"one", "two", "three"};
static int dir_produced; /* records seen so far in this folder's Produce requests */

static bool slice_is(struct sp_slice s, const char *str)
{
    return s.len == strlen(str) && (s.len == 0 || memcmp(s.ptr, str, s.len) == 0);
}

static void check_produced_record(const char *path, const struct sp_record *r, const char *codec)
{
    if (dir_produced >= 3) {
        fprintf(stderr, "%s: more than three records produced\n", path);
        check_failures_++;
        return;
    }
    char want[64];
    snprintf(want, sizeof(want), "%s-%s", codec, produce_words[dir_produced]);
    CHECK(slice_is(r->key, produce_keys[dir_produced]));
    CHECK(slice_is(r->value, want));
    CHECK_EQ_INT(r->headers_count, 1);
    size_t pos = 0;
    struct sp_record_header hd;
    CHECK_EQ_INT(sp_record_headers_next(r, &pos, &hd), 1);
    CHECK(slice_is(hd.key, "trace") && slice_is(hd.value, "abc"));
    CHECK_EQ_INT(sp_record_headers_next(r, &pos, &hd), 0);
    dir_produced++;
}

/* A fetched value "<codec>-<word>" was written by a produce run with that
 * codec; its batch must still carry it (the mock stores batches as sent). */
static void check_fetched_record(const struct sp_record *r, enum sp_codec codec)
{
    const char *dash = r->value.ptr ? memchr(r->value.ptr, '-', r->value.len) : NULL;
    if (dash == NULL) {
        return;
    }
    char name[16];
    size_t n = (size_t)(dash - (const char *)r->value.ptr);
    if (n >= sizeof(name)) {
        return;
    }
    memcpy(name, r->value.ptr, n);
    name[n] = 0;
    enum sp_codec c;
    if (sp_codec_parse(name, &c) == 0) {
        CHECK_EQ_STR(sp_codec_name(codec), name);
        fetch_matched++;
    }
}

/* Checks every batch in a records field; returns the record count. For a
 * Produce request of a "-produce-<codec>" run, codec_expected names it. */
static int check_records(const char *path, struct sp_slice recs, struct sp_arena *a,
                         const char *codec_expected, bool fetched)
{
    int count = 0;
    size_t off = 0;
    while (off < recs.len) {
        struct sp_batch_header h;
        int rc = sp_batch_validate(recs.ptr + off, recs.len - off, &h);
        if (rc != 0) {
            fprintf(stderr, "%s: batch at %zu: %d\n", path, off, rc);
            check_failures_++;
            return count;
        }
        seen_codec[sp_batch_codec(&h)] = true;
        if (codec_expected != NULL) {
            CHECK_EQ_STR(sp_codec_name(sp_batch_codec(&h)), codec_expected);
        }
        struct sp_slice body;
        CHECK_EQ_INT(sp_batch_records_decompress(recs.ptr + off, &h, a, 1 << 20, &body), 0);
        struct sp_record_iter it;
        struct sp_record r;
        sp_record_iter_init(&it, &h, body);
        while ((rc = sp_record_iter_next(&it, &r)) == 1) {
            if (codec_expected != NULL) {
                check_produced_record(path, &r, codec_expected);
            }
            if (fetched) {
                check_fetched_record(&r, sp_batch_codec(&h));
            }
            count++;
        }
        CHECK_EQ_INT(rc, 0);
        off += (size_t)h.batch_length + SP_BATCH_LOG_OVERHEAD;
    }
    return count;
}

static const char *produce_codec(const char *dir)
{
    const char *p = strstr(dir, "-produce-");
    return p != NULL ? p + strlen("-produce-") : NULL;
}

static void check_produce(const char *path, const char *dir,
                          const struct kproto_produce_request *req, struct sp_arena *a)
{
    const char *codec = produce_codec(dir);
    for (int32_t t = 0; t < req->TopicData_count; t++) {
        for (int32_t p = 0; p < req->TopicData[t].PartitionData_count; p++) {
            struct sp_slice recs = req->TopicData[t].PartitionData[p].Records;
            produce_records += check_records(path, recs, a, codec, false);
        }
    }
}

static void check_fetch(const char *path, const struct kproto_fetch_response *resp,
                        struct sp_arena *a)
{
    for (int32_t t = 0; t < resp->Responses_count; t++) {
        for (int32_t p = 0; p < resp->Responses[t].Partitions_count; p++) {
            fetch_records +=
                check_records(path, resp->Responses[t].Partitions[p].Records, a, NULL, true);
        }
    }
}

static void check_frame(const char *dir, const char *path, const char *name)
{
    int seq, key, ver;
    char kind[8];
    if (sscanf(name, "%d-%7[a-z]-%d-v%d.bin", &seq, kind, &key, &ver) != 4) {
        return;
    }
    size_t len;
    uint8_t *buf = read_all(path, &len);
    const struct kproto_api *api = kproto_api_get((int16_t)key);
    REQUIRE(api != NULL);
    bool is_req = strcmp(kind, "req") == 0;
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 16 << 20);
    struct sp_rd rd;
    sp_rd_init(&rd, buf, len);
    struct sp_wr w;
    sp_wr_init(&w, NULL, 0);
    const struct kproto_message *m = is_req ? api->request : api->response;
    void *body = sp_arena_alloc(&a, m->size);
    int rc;
    int16_t v = (int16_t)ver;
    if (is_req) {
        struct kproto_request_header h;
        rc = kproto_request_header_read(&rd, &a, &h);
        if (rc == 0) {
            kproto_request_header_write(&w, &h);
        }
    } else {
        struct kproto_response_header h;
        rc = kproto_response_header_read(&rd, &a, (int16_t)key, v, &h);
        /* An ApiVersions version the broker does not support is answered
         * with UNSUPPORTED_VERSION and a short body (Kafka: v0; librdkafka's
         * mock: its own shape), after which the client retries lower. Only
         * the error code is checked. */
        if (key == KPROTO_API_KEY_API_VERSIONS && len >= 6 && buf[4] == 0 && buf[5] == 35) {
            frames++;
            sp_wr_free(&w);
            sp_arena_destroy(&a);
            free(buf);
            return;
        }
        if (rc == 0) {
            kproto_response_header_write(&w, (int16_t)key, (int16_t)ver, h.CorrelationId);
        }
    }
    if (rc == 0) {
        rc = m->decode(&rd, &a, v, body);
    }
    if (rc != 0 || sp_rd_left(&rd) != 0) {
        fprintf(stderr, "%s: decode %d, %zu of %zu bytes left\n", path, rc, sp_rd_left(&rd), len);
        check_failures_++;
    } else {
        m->encode(&w, v, body);
        if (w.err != 0 || w.len != len || memcmp(w.buf, buf, len) != 0) {
            fprintf(stderr, "%s: re-encoding differs (%d, %zu vs %zu bytes)\n", path, w.err, w.len,
                    len);
            check_failures_++;
        }
        if (is_req && key == 0) {
            check_produce(path, dir, body, &a);
        }
        if (!is_req && key == 1) {
            check_fetch(path, body, &a);
        }
    }
    frames++;
    sp_wr_free(&w);
    sp_arena_destroy(&a);
    free(buf);
}

static int frame_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    DIR *top = opendir(argv[1]);
    REQUIRE(top != NULL);
    struct dirent *e;
    int dirs = 0;
    while ((e = readdir(top)) != NULL) {
        if (e->d_name[0] == '.' || strchr(e->d_name, '.') != NULL) {
            continue;
        }
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", argv[1], e->d_name);
        /* In frame order, so that a run's records are checked in order. */
        struct dirent **names;
        int n = scandir(dir, &names, NULL, frame_order);
        if (n < 0) {
            continue;
        }
        dirs++;
        dir_produced = 0;
        for (int i = 0; i < n; i++) {
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            check_frame(e->d_name, path, names[i]->d_name);
            free(names[i]);
        }
        free(names);
        if (produce_codec(e->d_name) != NULL && dir_produced != 3) {
            fprintf(stderr, "%s: %d records produced, want 3\n", dir, dir_produced);
            check_failures_++;
        }
    }
    closedir(top);
    printf("%d folders, %d frames, %d produced records, %d fetched records (%d checked against "
           "their codec)\n",
           dirs, frames, produce_records, fetch_records, fetch_matched);
    /* kcat, confluent-kafka-python (5 codecs each) and KafkaJS (2) produce
     * three records per run; each client's consume run reads its topic. */
    CHECK(frames >= 200);
    CHECK(produce_records >= 37);
    CHECK(fetch_records >= 36);
    CHECK(fetch_matched >= 36);
    for (int c = 0; c < SP_CODEC_COUNT; c++) {
        CHECK(seen_codec[c]);
    }
    return CHECK_DONE();
}
