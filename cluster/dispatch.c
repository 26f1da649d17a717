/* cluster/dispatch.c: decoding, routing and answering requests (cluster/dispatch.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dispatch_impl.h"
#include "core/log.h"
#include "core/rx.h"

#define DREQ_ARENA_FIRST_BYTES 2048
#define DREQ_ARENA_BASE_BYTES  (16u << 20) /* plus 8 per frame byte: decoded arrays */
#define DREQ_RESP_INITIAL      256

const struct sp_api_handler sp_api_handlers[] = {
    {KPROTO_API_KEY_PRODUCE, 0, 11, sp_api_produce},
    {KPROTO_API_KEY_FETCH, 0, 17, sp_api_fetch},
    {KPROTO_API_KEY_LIST_OFFSETS, 0, 10, sp_api_list_offsets},
    {KPROTO_API_KEY_METADATA, 0, 12, sp_api_metadata},
    {KPROTO_API_KEY_OFFSET_COMMIT, 0, 9, sp_api_offset_commit},
    {KPROTO_API_KEY_OFFSET_FETCH, 0, 9, sp_api_offset_fetch},
    {KPROTO_API_KEY_FIND_COORDINATOR, 0, 6, sp_api_find_coordinator},
    {KPROTO_API_KEY_JOIN_GROUP, 0, 9, sp_api_join_group},
    {KPROTO_API_KEY_HEARTBEAT, 0, 4, sp_api_heartbeat},
    {KPROTO_API_KEY_LEAVE_GROUP, 0, 5, sp_api_leave_group},
    {KPROTO_API_KEY_SYNC_GROUP, 0, 5, sp_api_sync_group},
    {KPROTO_API_KEY_DESCRIBE_GROUPS, 0, 5, sp_api_describe_groups},
    {KPROTO_API_KEY_LIST_GROUPS, 0, 5, sp_api_list_groups},
    {KPROTO_API_KEY_API_VERSIONS, 0, 4, sp_api_versions},
    {KPROTO_API_KEY_CREATE_TOPICS, 0, 7, sp_api_create_topics},
    {KPROTO_API_KEY_DELETE_TOPICS, 0, 6, sp_api_delete_topics},
    {KPROTO_API_KEY_DELETE_RECORDS, 0, 2, sp_api_delete_records},
    {KPROTO_API_KEY_INIT_PRODUCER_ID, 0, 5, sp_api_init_producer_id},
    {KPROTO_API_KEY_OFFSET_FOR_LEADER_EPOCH, 0, 4, sp_api_offset_for_leader_epoch},
    {KPROTO_API_KEY_DESCRIBE_CONFIGS, 0, 4, sp_api_describe_configs},
    {KPROTO_API_KEY_ALTER_CONFIGS, 0, 2, sp_api_alter_configs},
    {KPROTO_API_KEY_DESCRIBE_LOG_DIRS, 0, 4, sp_api_describe_log_dirs},
    {KPROTO_API_KEY_CREATE_PARTITIONS, 0, 3, sp_api_create_partitions},
    {KPROTO_API_KEY_DELETE_GROUPS, 0, 2, sp_api_delete_groups},
    {KPROTO_API_KEY_ELECT_LEADERS, 0, 2, sp_api_elect_leaders},
    {KPROTO_API_KEY_INCREMENTAL_ALTER_CONFIGS, 0, 1, sp_api_incremental_alter_configs},
    {KPROTO_API_KEY_OFFSET_DELETE, 0, 0, sp_api_offset_delete},
    {KPROTO_API_KEY_DESCRIBE_CLUSTER, 0, 1, sp_api_describe_cluster},
    {KPROTO_API_KEY_DESCRIBE_PRODUCERS, 0, 0, sp_api_describe_producers},
    {KPROTO_API_KEY_CONSUMER_GROUP_HEARTBEAT, 0, 0, sp_api_consumer_group_heartbeat},
    {KPROTO_API_KEY_CONSUMER_GROUP_DESCRIBE, 0, 0, sp_api_consumer_group_describe},
    {KPROTO_API_KEY_DESCRIBE_TOPIC_PARTITIONS, 0, 0, sp_api_describe_topic_partitions},
};
const int sp_api_handlers_count = (int)SP_ARRAY_LEN(sp_api_handlers);

static const struct sp_dispatch_params *dparams;

/* One request's memory: the response, and the arena it and the decoded request live in. */
struct dreq {
    struct sp_net_resp resp;
    struct sp_api_call call;
    struct kproto_request_header hdr;
    const struct kproto_api *api;
    struct sp_net_req *req;
    struct sp_arena arena;
    uint8_t first[DREQ_ARENA_FIRST_BYTES];
};

int sp_dispatch_init(const struct sp_dispatch_params *params)
{
    for (int i = 0; i < sp_api_handlers_count; i++) {
        const struct sp_api_handler *h = &sp_api_handlers[i];
        const struct kproto_api *api = kproto_api_get(h->key);
        if (api == NULL || h->min_version < api->min_version || h->max_version > api->stable_max) {
            sp_log_error("handler for ApiKey %d claims versions %d..%d beyond the specs", h->key,
                         h->min_version, h->max_version);
            return -EINVAL;
        }
        if (i > 0 && sp_api_handlers[i - 1].key >= h->key) {
            sp_log_error("handler table not ordered by key at %d", h->key);
            return -EINVAL;
        }
    }
    dparams = params;
    return 0;
}

static const struct sp_api_handler *handler_find(int16_t key)
{
    for (int i = 0; i < sp_api_handlers_count; i++) {
        if (sp_api_handlers[i].key == key) {
            return &sp_api_handlers[i];
        }
    }
    return NULL;
}

static void dreq_free(struct dreq *d)
{
    sp_arena_destroy(&d->arena);
    sp_mem_free(sp_rx_mem(), d, sizeof(*d));
}

static void dreq_sent(struct sp_net_resp *resp)
{
    struct dreq *d = sp_container_of(resp, struct dreq, resp);
    dreq_free(d);
}

static void dreq_close(struct sp_net_req *req, struct dreq *d)
{
    dreq_free(d);
    sp_net_req_done(req, NULL, true);
}

static int16_t clamp_version(int16_t v, const struct sp_api_handler *h)
{
    return v < h->min_version ? h->min_version : v > h->max_version ? h->max_version : v;
}

void sp_api_on_finish(struct sp_api_call *call, struct sp_api_cleanup *c)
{
    c->next = call->cleanups;
    call->cleanups = c;
}

static void run_cleanups(struct dreq *d)
{
    while (d->call.cleanups != NULL) {
        struct sp_api_cleanup *c = d->call.cleanups;
        d->call.cleanups = c->next;
        c->fn(c);
    }
}

/* Encodes and queues the response (or none, or closes), and lets the request go. */
static void dreq_finish(struct dreq *d, int rc)
{
    SP_ASSERT(rc != SP_API_PENDING);
    struct sp_net_req *req = d->req;
    if (rc == SP_API_NO_RESPONSE) {
        run_cleanups(d);
        dreq_free(d);
        sp_net_req_done(req, NULL, false);
        return;
    }
    struct sp_wr wr;
    sp_wr_init(&wr, &d->arena, DREQ_RESP_INITIAL);
    if (rc == 0) {
        rc = kproto_response_frame_write(&wr, d->api, d->call.version, d->hdr.CorrelationId,
                                         d->call.resp);
    }
    run_cleanups(d);
    if (rc != 0) {
        if (rc == -EPROTO) {
            sp_log_info("%s v%d with acks=0 failed: closing the connection", d->api->name,
                        d->call.version);
        } else {
            sp_log_warn("cannot answer %s v%d: %s: closing the connection", d->api->name,
                        d->call.version, strerror(-rc));
        }
        dreq_close(req, d);
        return;
    }
    d->resp.iov[0].iov_base = wr.buf;
    d->resp.iov[0].iov_len = wr.len;
    d->resp.iovcnt = 1;
    d->resp.sent = dreq_sent;
    sp_net_req_done(req, &d->resp, false);
}

void sp_api_done(struct sp_api_call *call, int rc)
{
    dreq_finish(sp_container_of(call, struct dreq, call), rc);
}

void sp_dispatch_request(void *ctx, struct sp_net_req *req)
{
    struct dreq *d = sp_mem_alloc(sp_rx_mem(), sizeof(*d));
    if (d == NULL) {
        sp_log_warn("shard memory budget exhausted: closing the connection of a request");
        sp_net_req_done(req, NULL, true);
        return;
    }
    sp_arena_init(&d->arena, d->first, sizeof(d->first),
                  DREQ_ARENA_BASE_BYTES + 8 * (size_t)req->frame.len);
    sp_arena_set_budget(&d->arena, sp_rx_mem());
    d->req = req;

    /* An unknown key cannot even be framed as a header: say which it was. */
    int16_t key = req->frame.len >= 2 ? (int16_t)sp_load_be16(req->frame.ptr) : -1;
    const struct kproto_api *api = kproto_api_get(key);
    const struct sp_api_handler *h = handler_find(key);
    if (api == NULL || h == NULL) {
        sp_log_warn("request with %s ApiKey %d (%s): closing the connection",
                    api == NULL ? "unknown" : "unserved", key, api != NULL ? api->name : "?");
        dreq_close(req, d);
        return;
    }
    d->api = api;
    struct sp_rd rd;
    sp_rd_init(&rd, req->frame.ptr, req->frame.len);
    if (kproto_request_header_read(&rd, &d->arena, &d->hdr) != 0) {
        sp_log_warn("malformed %s request header: closing the connection", api->name);
        dreq_close(req, d);
        return;
    }
    int16_t version = d->hdr.RequestApiVersion;
    struct sp_api_call *call = &d->call;
    *call = (struct sp_api_call){.params = dparams,
                                 .listener = req->listener,
                                 .version = version,
                                 .arena = &d->arena,
                                 .header = &d->hdr,
                                 .conn = req->conn};
    bool supported = version >= h->min_version && version <= h->max_version;
    if (!supported) {
        call->error = KERR_UNSUPPORTED_VERSION;
        /* ApiVersions answers at v0, which every client reads (KIP-511). */
        call->version = key == KPROTO_API_KEY_API_VERSIONS ? 0 : clamp_version(version, h);
        sp_log_debug("%s v%d unsupported: answering v%d with UNSUPPORTED_VERSION", api->name,
                     version, call->version);
    }
    /* Unsupported versions are read as the closest one, for what can be echoed back. */
    void *body = sp_arena_alloc(&d->arena, api->request->size);
    if (body != NULL && api->request->decode(&rd, &d->arena, call->version, body) == 0) {
        call->body = body;
    } else if (supported) {
        sp_log_warn("malformed %s v%d request: closing the connection", api->name, version);
        dreq_close(req, d);
        return;
    }
    call->resp = sp_arena_alloc(&d->arena, api->response->size);
    if (call->resp == NULL) {
        dreq_finish(d, -ENOMEM);
        return;
    }
    api->response->init(call->resp);
    int rc = h->fn(call);
    if (rc != SP_API_PENDING) {
        dreq_finish(d, rc);
    }
}
