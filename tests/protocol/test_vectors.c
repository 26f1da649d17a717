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

static int frames, produce_records, fetch_records;
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

/* Checks every batch in a records field; returns the record count. */
static int check_records(const char *path, struct sp_slice recs, struct sp_arena *a,
                         const char *codec_expected)
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
            /* kcat's values are "<codec>-one" etc. and carry trace=abc. */
            if (codec_expected != NULL) {
                size_t cl = strlen(codec_expected);
                CHECK(r.value.len > cl && memcmp(r.value.ptr, codec_expected, cl) == 0);
                size_t pos = 0;
                struct sp_record_header hd;
                CHECK_EQ_INT(sp_record_headers_next(&r, &pos, &hd), 1);
                CHECK(hd.key.len == 5 && memcmp(hd.key.ptr, "trace", 5) == 0);
                CHECK(hd.value.len == 3 && memcmp(hd.value.ptr, "abc", 3) == 0);
                if (count == 0) {
                    CHECK(r.key.len == 2 && memcmp(r.key.ptr, "k1", 2) == 0);
                }
            }
            count++;
        }
        CHECK_EQ_INT(rc, 0);
        off += (size_t)h.batch_length + SP_BATCH_LOG_OVERHEAD;
    }
    return count;
}

static void check_produce(const char *path, const char *dir,
                          const struct kproto_produce_request *req, struct sp_arena *a)
{
    const char *codec = NULL;
    const char *dash = strrchr(dir, '-');
    if (strncmp(dir, "kcat-produce-", 13) == 0 && dash != NULL) {
        codec = dash + 1;
    }
    for (int32_t t = 0; t < req->TopicData_count; t++) {
        for (int32_t p = 0; p < req->TopicData[t].PartitionData_count; p++) {
            struct sp_slice recs = req->TopicData[t].PartitionData[p].Records;
            int n = check_records(path, recs, a, codec);
            if (codec != NULL) {
                CHECK_EQ_INT(n, 3);
            }
            produce_records += n;
        }
    }
}

static void check_fetch(const char *path, const struct kproto_fetch_response *resp,
                        struct sp_arena *a)
{
    for (int32_t t = 0; t < resp->Responses_count; t++) {
        for (int32_t p = 0; p < resp->Responses[t].Partitions_count; p++) {
            fetch_records += check_records(path, resp->Responses[t].Partitions[p].Records, a, NULL);
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

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    DIR *top = opendir(argv[1]);
    REQUIRE(top != NULL);
    struct dirent *e;
    while ((e = readdir(top)) != NULL) {
        if (e->d_name[0] == '.' || strchr(e->d_name, '.') != NULL) {
            continue;
        }
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", argv[1], e->d_name);
        DIR *d = opendir(dir);
        if (d == NULL) {
            continue;
        }
        struct dirent *f;
        while ((f = readdir(d)) != NULL) {
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s", dir, f->d_name);
            check_frame(e->d_name, path, f->d_name);
        }
        closedir(d);
    }
    closedir(top);
    printf("%d frames, %d produced records, %d fetched records\n", frames, produce_records,
           fetch_records);
    CHECK(frames > 50);
    CHECK(produce_records >= 15);
    CHECK(fetch_records >= 15);
    for (int c = 0; c < SP_CODEC_COUNT; c++) {
        CHECK(seen_codec[c]);
    }
    return CHECK_DONE();
}
