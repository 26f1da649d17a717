/*
 * protocol/kproto.h: Kafka's messages as C structs, their codecs, and the
 * table of API keys. The public header of the protocol module's codecs.
 *
 * Every message of the Kafka specs (requests, responses, headers, the
 * Raft/controller RPCs, embedded data schemas, KRaft metadata records and
 * the coordinators' record keys and values) has, generated into
 * protocol/gen/ by tools/kproto_gen.py:
 *
 *   struct kproto_<message>                    Kafka's field names
 *   void kproto_<message>_init(struct *m)      every field to its default
 *   int  kproto_<message>_decode(struct sp_rd *rd, struct sp_arena *a,
 *                                int16_t version, struct *m)
 *   int  kproto_<message>_encode(struct sp_wr *wr, int16_t version,
 *                                const struct *m)
 *
 * decode reads one message from rd (borrowed) and returns 0, -EBADMSG for
 * malformed input (rd->err), -ENOMEM when the arena (borrowed) is full, or
 * -ENOTSUP for a version outside validVersions. Arrays are allocated from
 * the arena; strings, bytes and records point into the input, which must
 * outlive m. Trailing bytes after the message are left in rd. On error the
 * contents of m are unspecified (but safe to discard: nothing to free).
 *
 * encode appends the message to wr and returns 0 or wr->err: -EINVAL when
 * a field that the version cannot carry holds a non-default value and is
 * not ignorable, or a null is given where the version has no null;
 * -ENOMEM. Start from _init() so absent fields hold their defaults.
 *
 * Nothing here is tied to a shard; the tables are constant.
 */
#ifndef SP_PROTOCOL_KPROTO_H
#define SP_PROTOCOL_KPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/arena.h"
#include "protocol/wire.h"
#include "protocol/gen/kerr.h"
#include "protocol/gen/kproto_types.h"

enum kproto_kind {
    KPROTO_KIND_REQUEST,
    KPROTO_KIND_RESPONSE,
    KPROTO_KIND_HEADER,
    KPROTO_KIND_DATA,     /* embedded schemas: consumer protocol, Raft control records, ... */
    KPROTO_KIND_METADATA, /* KRaft metadata log records (api_key is the record type) */
};

/* Listener kinds an API is served on (the specs' "listeners"). */
#define KPROTO_LISTENER_ZK_BROKER  0x1
#define KPROTO_LISTENER_BROKER     0x2
#define KPROTO_LISTENER_CONTROLLER 0x4

/* One generated message. Function pointers take the struct as void *. */
struct kproto_message {
    const char *name;
    enum kproto_kind kind;
    int16_t api_key; /* -1 for data schemas without one */
    int16_t min_version;
    int16_t max_version;
    int16_t flexible_min; /* first flexible version, -1 if none */
    size_t size;          /* sizeof the struct */
    bool has_sensitive;   /* has fields that must never be logged */
    void (*init)(void *m);
    int (*decode)(struct sp_rd *rd, struct sp_arena *a, int16_t version, void *m);
    int (*encode)(struct sp_wr *wr, int16_t version, const void *m);
};

/* One API key: its request and response and what the specs say of it. */
struct kproto_api {
    int16_t key;
    const char *name; /* "Produce", "Fetch", ... */
    int16_t min_version;
    int16_t max_version;    /* highest version the specs define */
    int16_t flexible_min;   /* first flexible version, -1 if none */
    int16_t stable_max;     /* highest version not marked latestVersionUnstable, or
                               min_version - 1 if none is stable */
    int16_t deprecated_max; /* versions up to this are deprecated, -1 if none */
    uint8_t listeners;      /* KPROTO_LISTENER_* */
    const struct kproto_message *request;
    const struct kproto_message *response;
};

extern const struct kproto_message kproto_messages[];
extern const size_t kproto_messages_count;
extern const struct kproto_api kproto_apis[];
extern const size_t kproto_apis_count;

/* The API with this key, or NULL. */
const struct kproto_api *kproto_api_get(int16_t key);

/* The message called name (e.g. "ProduceRequest", "VotersRecord"), or NULL. */
const struct kproto_message *kproto_message_find(const char *name);

static inline bool kproto_api_is_flexible(const struct kproto_api *api, int16_t version)
{
    return api->flexible_min >= 0 && version >= api->flexible_min;
}

static inline bool kproto_uuid_is_zero(const struct sp_uuid *u)
{
    static const struct sp_uuid zero;
    return memcmp(u->b, zero.b, sizeof(zero.b)) == 0;
}

/* ---- headers ---- */

#define KPROTO_API_KEY_PRODUCE                   0
#define KPROTO_API_KEY_FETCH                     1
#define KPROTO_API_KEY_LIST_OFFSETS              2
#define KPROTO_API_KEY_METADATA                  3
#define KPROTO_API_KEY_CONTROLLED_SHUTDOWN       7
#define KPROTO_API_KEY_OFFSET_COMMIT             8
#define KPROTO_API_KEY_OFFSET_FETCH              9
#define KPROTO_API_KEY_FIND_COORDINATOR          10
#define KPROTO_API_KEY_JOIN_GROUP                11
#define KPROTO_API_KEY_HEARTBEAT                 12
#define KPROTO_API_KEY_LEAVE_GROUP               13
#define KPROTO_API_KEY_SYNC_GROUP                14
#define KPROTO_API_KEY_DESCRIBE_GROUPS           15
#define KPROTO_API_KEY_LIST_GROUPS               16
#define KPROTO_API_KEY_API_VERSIONS              18
#define KPROTO_API_KEY_CREATE_TOPICS             19
#define KPROTO_API_KEY_DELETE_TOPICS             20
#define KPROTO_API_KEY_DELETE_RECORDS            21
#define KPROTO_API_KEY_INIT_PRODUCER_ID          22
#define KPROTO_API_KEY_OFFSET_FOR_LEADER_EPOCH   23
#define KPROTO_API_KEY_DESCRIBE_CONFIGS          32
#define KPROTO_API_KEY_ALTER_CONFIGS             33
#define KPROTO_API_KEY_DESCRIBE_LOG_DIRS         35
#define KPROTO_API_KEY_CREATE_PARTITIONS         37
#define KPROTO_API_KEY_DELETE_GROUPS             42
#define KPROTO_API_KEY_ELECT_LEADERS             43
#define KPROTO_API_KEY_INCREMENTAL_ALTER_CONFIGS 44
#define KPROTO_API_KEY_OFFSET_DELETE             47
#define KPROTO_API_KEY_DESCRIBE_CLUSTER          60
#define KPROTO_API_KEY_DESCRIBE_PRODUCERS        61
#define KPROTO_API_KEY_CONSUMER_GROUP_HEARTBEAT  68
#define KPROTO_API_KEY_CONSUMER_GROUP_DESCRIBE   69
#define KPROTO_API_KEY_DESCRIBE_TOPIC_PARTITIONS 75

/* Request header version (0, 1 or 2) for a request of this key and version:
 * 2 for flexible versions (including versions above the highest known, as
 * flexible versions never end), 1 otherwise, 0 for ControlledShutdown v0.
 * -1 for an unknown key. */
int kproto_request_header_version(int16_t api_key, int16_t api_version);

/* Response header version: 1 for flexible versions, 0 otherwise, and always
 * 0 for ApiVersions (a client must read it before it knows our versions).
 * -1 for an unknown key. */
int kproto_response_header_version(int16_t api_key, int16_t api_version);

/* Decodes the request header at rd (the frame after its 4-byte size) with
 * the header version its key and version imply. Returns 0, -EBADMSG
 * (malformed, or an unknown API key: Kafka closes such connections), or
 * -ENOMEM. The client id is borrowed from the input. A version outside the
 * API's range is not an error here: the caller answers UNSUPPORTED_VERSION. */
int kproto_request_header_read(struct sp_rd *rd, struct sp_arena *a,
                               struct kproto_request_header *h);

/* Writes a request header (v0-v2 as implied by h's key and version). */
int kproto_request_header_write(struct sp_wr *wr, const struct kproto_request_header *h);

/* Writes a response header for a response to (api_key, api_version). */
int kproto_response_header_write(struct sp_wr *wr, int16_t api_key, int16_t api_version,
                                 int32_t correlation_id);

/* Reads a response header for a response to (api_key, api_version). */
int kproto_response_header_read(struct sp_rd *rd, struct sp_arena *a, int16_t api_key,
                                int16_t api_version, struct kproto_response_header *h);

/* A whole request frame's payload (after the 4-byte size) decoded. */
struct kproto_request {
    struct kproto_request_header header;
    const struct kproto_api *api; /* NULL: unknown key (header decode failed) */
    void *body;                   /* struct kproto_<api>_request, in the arena */
};

/* Decodes header and body of a request payload (buf, borrowed, must outlive
 * req). Returns 0; -ENOTSUP when the version is outside the API's range
 * (req->header and req->api are valid, so the caller can answer
 * UNSUPPORTED_VERSION); -EBADMSG; -ENOMEM. */
int kproto_request_decode(const uint8_t *buf, size_t len, struct sp_arena *a,
                          struct kproto_request *req);

/* Appends a response frame: int32 size, response header, body. body is the
 * struct kproto_<api>_response. Returns 0 or a negative errno. */
int kproto_response_frame_write(struct sp_wr *wr, const struct kproto_api *api, int16_t version,
                                int32_t correlation_id, const void *body);

/* Appends a request frame: int32 size, request header, body. */
int kproto_request_frame_write(struct sp_wr *wr, const struct kproto_request_header *h,
                               const void *body);

#endif /* SP_PROTOCOL_KPROTO_H */
