/*
 * protocol/kproto.c: request/response headers and frames over the generated
 * codecs.
 */
#include "protocol/kproto.h"

#include <errno.h>
#include <string.h>

const struct kproto_message *kproto_message_find(const char *name)
{
    for (size_t i = 0; i < kproto_messages_count; i++) {
        if (strcmp(kproto_messages[i].name, name) == 0) {
            return &kproto_messages[i];
        }
    }
    return NULL;
}

int kproto_request_header_version(int16_t api_key, int16_t api_version)
{
    const struct kproto_api *api = kproto_api_get(api_key);
    if (api == NULL) {
        return -1;
    }
    if (api_key == KPROTO_API_KEY_CONTROLLED_SHUTDOWN && api_version == 0) {
        return 0;
    }
    return kproto_api_is_flexible(api, api_version) ? 2 : 1;
}

int kproto_response_header_version(int16_t api_key, int16_t api_version)
{
    const struct kproto_api *api = kproto_api_get(api_key);
    if (api == NULL) {
        return -1;
    }
    if (api_key == KPROTO_API_KEY_API_VERSIONS) {
        return 0;
    }
    return kproto_api_is_flexible(api, api_version) ? 1 : 0;
}

int kproto_request_header_read(struct sp_rd *rd, struct sp_arena *a,
                               struct kproto_request_header *h)
{
    if (sp_rd_left(rd) < 4) {
        sp_rd_fail(rd, -EBADMSG);
        return rd->err;
    }
    int16_t key = (int16_t)sp_load_be16(rd->p);
    int16_t version = (int16_t)sp_load_be16(rd->p + 2);
    int hv = kproto_request_header_version(key, version);
    if (hv < 0) {
        sp_rd_fail(rd, -EBADMSG);
        return rd->err;
    }
    return kproto_request_header_decode(rd, a, (int16_t)hv, h);
}

int kproto_request_header_write(struct sp_wr *wr, const struct kproto_request_header *h)
{
    int hv = kproto_request_header_version(h->RequestApiKey, h->RequestApiVersion);
    if (hv < 0) {
        sp_wr_fail(wr, -EINVAL);
        return wr->err;
    }
    return kproto_request_header_encode(wr, (int16_t)hv, h);
}

int kproto_response_header_write(struct sp_wr *wr, int16_t api_key, int16_t api_version,
                                 int32_t correlation_id)
{
    int hv = kproto_response_header_version(api_key, api_version);
    if (hv < 0) {
        sp_wr_fail(wr, -EINVAL);
        return wr->err;
    }
    struct kproto_response_header h;
    kproto_response_header_init(&h);
    h.CorrelationId = correlation_id;
    return kproto_response_header_encode(wr, (int16_t)hv, &h);
}

int kproto_response_header_read(struct sp_rd *rd, struct sp_arena *a, int16_t api_key,
                                int16_t api_version, struct kproto_response_header *h)
{
    int hv = kproto_response_header_version(api_key, api_version);
    if (hv < 0) {
        sp_rd_fail(rd, -EINVAL);
        return rd->err;
    }
    return kproto_response_header_decode(rd, a, (int16_t)hv, h);
}

int kproto_request_decode(const uint8_t *buf, size_t len, struct sp_arena *a,
                          struct kproto_request *req)
{
    struct sp_rd rd;
    sp_rd_init(&rd, buf, len);
    req->api = NULL;
    req->body = NULL;
    int rc = kproto_request_header_read(&rd, a, &req->header);
    if (rc != 0) {
        return rc;
    }
    req->api = kproto_api_get(req->header.RequestApiKey);
    int16_t version = req->header.RequestApiVersion;
    if (version < req->api->min_version || version > req->api->max_version) {
        return -ENOTSUP;
    }
    const struct kproto_message *m = req->api->request;
    req->body = sp_arena_alloc(a, m->size);
    if (req->body == NULL) {
        return -ENOMEM;
    }
    return m->decode(&rd, a, version, req->body);
}

static int frame_finish(struct sp_wr *wr, size_t start)
{
    if (wr->err != 0) {
        return wr->err;
    }
    size_t size = wr->len - start - 4;
    if (size > INT32_MAX) {
        sp_wr_fail(wr, -EMSGSIZE);
        return wr->err;
    }
    sp_wr_patch_i32(wr, start, (int32_t)size);
    return 0;
}

int kproto_response_frame_write(struct sp_wr *wr, const struct kproto_api *api, int16_t version,
                                int32_t correlation_id, const void *body)
{
    size_t start = wr->len;
    sp_wr_i32(wr, 0);
    kproto_response_header_write(wr, api->key, version, correlation_id);
    api->response->encode(wr, version, body);
    return frame_finish(wr, start);
}

int kproto_request_frame_write(struct sp_wr *wr, const struct kproto_request_header *h,
                               const void *body)
{
    const struct kproto_api *api = kproto_api_get(h->RequestApiKey);
    if (api == NULL) {
        sp_wr_fail(wr, -EINVAL);
        return wr->err;
    }
    size_t start = wr->len;
    sp_wr_i32(wr, 0);
    kproto_request_header_write(wr, h);
    api->request->encode(wr, h->RequestApiVersion, body);
    return frame_finish(wr, start);
}
