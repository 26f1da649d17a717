/*
 * tests/fuzz/make_seeds.c: writes the seed corpora under a folder given on
 * the command line: request/ (one request payload per API key and version,
 * every field populated), message/ (every message at its lowest and highest
 * version, behind the two selector bytes fuzz_message reads) and batch/.
 * Run by hand when the generator changes; the output is committed:
 *
 *   build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "protocol/batch.h"
#include "protocol/compress.h"
#include "protocol/gen/kproto_test.h"
#include "protocol/kproto.h"

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t message_index(const struct kproto_message *m)
{
    return (size_t)(m - kproto_messages);
}

static void seed_requests(const char *dir)
{
    for (size_t i = 0; i < kproto_apis_count; i++) {
        const struct kproto_api *api = &kproto_apis[i];
        for (int16_t v = api->min_version; v <= api->max_version; v++) {
            struct sp_arena a;
            sp_arena_init(&a, NULL, 0, 16 << 20);
            struct kproto_fill fl;
            kproto_fill_init(&fl, &a, (uint64_t)(api->key * 100 + v));
            void *body = sp_arena_alloc(&a, api->request->size);
            kproto_test_fill[message_index(api->request)](&fl, v, body);
            struct kproto_request_header h;
            kproto_request_header_init(&h);
            h.RequestApiKey = api->key;
            h.RequestApiVersion = v;
            h.CorrelationId = 7;
            h.ClientId = sp_str_make("seed");
            struct sp_wr w;
            sp_wr_init(&w, NULL, 0);
            if (kproto_request_frame_write(&w, &h, body) != 0) {
                fprintf(stderr, "%s v%d: encode failed\n", api->name, v);
                exit(1);
            }
            char name[128];
            snprintf(name, sizeof(name), "%s-v%d", api->name, v);
            write_file(dir, name, w.buf + 4, w.len - 4);
            sp_wr_free(&w);
            sp_arena_destroy(&a);
        }
    }
}

static void seed_messages(const char *dir)
{
    for (size_t i = 0; i < kproto_messages_count && i < 256; i++) {
        const struct kproto_message *m = &kproto_messages[i];
        int16_t versions[2] = {m->min_version, m->max_version};
        for (int k = 0; k < 2; k++) {
            int16_t v = versions[k];
            struct sp_arena a;
            sp_arena_init(&a, NULL, 0, 16 << 20);
            struct kproto_fill fl;
            kproto_fill_init(&fl, &a, i * 7 + (size_t)k);
            void *s = sp_arena_alloc(&a, m->size);
            kproto_test_fill[i](&fl, v, s);
            struct sp_wr w;
            sp_wr_init(&w, NULL, 0);
            uint8_t sel[2] = {(uint8_t)i, (uint8_t)(v - m->min_version)};
            sp_wr_raw(&w, sel, 2);
            if (m->encode(&w, v, s) != 0) {
                fprintf(stderr, "%s v%d: encode failed\n", m->name, v);
                exit(1);
            }
            char name[128];
            snprintf(name, sizeof(name), "%s-v%d", m->name, v);
            write_file(dir, name, w.buf, w.len);
            sp_wr_free(&w);
            sp_arena_destroy(&a);
        }
    }
}

static void seed_batches(const char *dir)
{
    static uint8_t buf[4096];
    struct sp_record_header hdr = {sp_slice_make("h", 1), sp_slice_make("hv", 2)};
    struct sp_record_in recs[3] = {
        {.key = sp_slice_make("key", 3), .value = sp_slice_make("value", 5), .timestamp = 1000},
        {.key = {NULL, 0},
         .value = sp_slice_make("v2", 2),
         .timestamp = 1001,
         .headers = &hdr,
         .headers_count = 1},
        {.key = sp_slice_make("k3", 2), .value = {NULL, 0}, .timestamp = 999},
    };
    struct sp_batch_params p = {0, -1, 0, 42, 1, 0};
    for (int n = 1; n <= 3; n++) {
        int len = sp_batch_build(buf, sizeof(buf), &p, recs, (size_t)n);
        if (len < 0) {
            exit(1);
        }
        char name[64];
        snprintf(name, sizeof(name), "plain-%d", n);
        write_file(dir, name, buf, (size_t)len);
    }
}

static void seed_decompress(const char *dir, const char *batch_dir)
{
    static uint8_t in[2048], z[4096], buf[4096];
    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)("spindle records "[i % 16] + (i / 300));
    }
    for (int c = SP_CODEC_GZIP; c <= SP_CODEC_ZSTD; c++) {
        long n = sp_compress((enum sp_codec)c, 0, in, sizeof(in), z + 1, sizeof(z) - 1);
        if (n < 0) {
            exit(1);
        }
        z[0] = (uint8_t)(c - 1);
        char name[64];
        snprintf(name, sizeof(name), "%s", sp_codec_name((enum sp_codec)c));
        write_file(dir, name, z, (size_t)n + 1);
        /* And a compressed batch of that codec for fuzz_batch. */
        struct sp_record_in recs[2] = {
            {.key = sp_slice_make("k", 1), .value = sp_slice_make(in, 300), .timestamp = 5},
            {.key = {NULL, 0}, .value = sp_slice_make(in + 300, 200), .timestamp = 6},
        };
        struct sp_batch_params p = {0, -1, (int16_t)c, -1, -1, -1};
        struct sp_arena a;
        sp_arena_init(&a, NULL, 0, 1 << 20);
        int len = sp_batch_build_compressed(buf, sizeof(buf), &p, recs, 2, &a);
        sp_arena_destroy(&a);
        if (len < 0) {
            exit(1);
        }
        snprintf(name, sizeof(name), "%s-2", sp_codec_name((enum sp_codec)c));
        write_file(batch_dir, name, buf, (size_t)len);
    }
}

static void make_dir(const char *root, const char *sub, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", root, sub);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        perror(out);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_ROOT\n", argv[0]);
        return 2;
    }
    char dir[4096];
    make_dir(argv[1], "request", dir, sizeof(dir));
    seed_requests(dir);
    make_dir(argv[1], "message", dir, sizeof(dir));
    seed_messages(dir);
    make_dir(argv[1], "batch", dir, sizeof(dir));
    seed_batches(dir);
    char batch_dir[4096];
    snprintf(batch_dir, sizeof(batch_dir), "%s", dir);
    make_dir(argv[1], "decompress", dir, sizeof(dir));
    seed_decompress(dir, batch_dir);
    return 0;
}
