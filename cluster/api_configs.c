/*
 * cluster/api_configs.c: DescribeConfigs, AlterConfigs and
 * IncrementalAlterConfigs.
 *
 * Topics (resource type 2) have every config Kafka documents
 * (cluster/topic_cfg.h): described from this shard's image, altered
 * through the controller (cluster/controller.h, sp_ctl_alter_configs),
 * which stores ConfigRecords in the metadata log and has the owning
 * shards apply them to the open logs before it answers.
 *
 * The broker (type 4, named by this node's id) has the keys of
 * core/config_keys.h. They are read once at start and none can change
 * while the broker runs, so every one is read-only and an alteration of
 * one is refused the way Kafka refuses a config that is not dynamic.
 * The cluster-wide default resource (type 4, name "") has no dynamic
 * defaults to describe; broker loggers (type 8) have none either.
 *
 *   request resource --local checks--> error now
 *                    \--topic------> controller (validated on shard 0) --> done --> answer
 */
#include <errno.h>
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/dispatch_impl.h"
#include "cluster/image.h"
#include "core/config.h"

/* ConfigResource types. */
#define RES_TOPIC         2
#define RES_BROKER        4
#define RES_BROKER_LOGGER 8

/* ConfigSource, as DescribeConfigs v1+ numbers it. */
#define SRC_TOPIC         1
#define SRC_STATIC_BROKER 4
#define SRC_DEFAULT       5

/* ConfigType (v3+). */
#define TYPE_BOOLEAN 1
#define TYPE_STRING  2
#define TYPE_INT     3
#define TYPE_LONG    5
#define TYPE_DOUBLE  6
#define TYPE_LIST    7

#define MSG_LEN_MAX 256

static int8_t source_of(int src)
{
    return src == SP_TOPIC_CFG_SRC_TOPIC    ? SRC_TOPIC
           : src == SP_TOPIC_CFG_SRC_BROKER ? SRC_STATIC_BROKER
                                            : SRC_DEFAULT;
}

/*
 * Checks a broker resource's name: "" (cluster-wide defaults, *is_default)
 * or this node's id. 0, or KERR_INVALID_REQUEST with Kafka's message.
 */
static int16_t broker_name_check(struct sp_str name, bool *is_default, char *msg, size_t msglen)
{
    *is_default = name.ptr == NULL || name.len == 0;
    if (*is_default) {
        return 0;
    }
    char buf[32];
    char *end = NULL;
    long long id = -1;
    if ((size_t)name.len < sizeof(buf)) {
        memcpy(buf, name.ptr, (size_t)name.len);
        buf[name.len] = '\0';
        id = strtoll(buf, &end, 10);
    }
    if (end == NULL || *end != '\0' || end == buf) {
        snprintf(msg, msglen, "Broker id must be an integer, but it is: %.*s",
                 (int)SP_MIN(name.len, 100), name.ptr);
        return KERR_INVALID_REQUEST;
    }
    if (id != sp_image_node_id()) {
        snprintf(msg, msglen, "Unexpected broker id, expected %d or empty string, but received %s",
                 sp_image_node_id(), buf);
        return KERR_INVALID_REQUEST;
    }
    return 0;
}

/* ---- DescribeConfigs ------------------------------------------------------------ */

typedef struct kproto_describe_configs_response_describe_configs_result dc_result;
typedef struct kproto_describe_configs_response_describe_configs_resource_result dc_entry;
typedef struct kproto_describe_configs_response_describe_configs_synonym dc_synonym;
typedef struct kproto_describe_configs_request_describe_configs_resource dc_resource;

/* Whether the request asks for key: a null or empty key list asks for every one. */
static bool key_wanted(const dc_resource *rr, const char *key)
{
    if (rr->ConfigurationKeys_count <= 0) {
        return true;
    }
    for (int32_t i = 0; i < rr->ConfigurationKeys_count; i++) {
        if (sp_str_eq(rr->ConfigurationKeys[i], sp_str_make(key))) {
            return true;
        }
    }
    return false;
}

static int describe_topic_synonyms(struct sp_api_call *call, const struct sp_topic *t,
                                   const char *key, dc_entry *e)
{
    struct sp_topic_cfg_synonym syn[SP_TOPIC_CFG_SYNONYMS_MAX];
    size_t n = sp_topic_cfg_synonyms(key, sp_image_broker_config(), t->configs, t->configs_count,
                                     syn, SP_ARRAY_LEN(syn));
    dc_synonym *s = sp_arena_calloc(call->arena, n + 1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        s[i].Name = sp_str_make(syn[i].name); /* static or the broker's, for the run */
        s[i].Value = sp_str_dup(call->arena, syn[i].value);
        s[i].Source = source_of(syn[i].source);
        if (s[i].Value.ptr == NULL) {
            return -ENOMEM;
        }
    }
    e->Synonyms = s;
    e->Synonyms_count = (int32_t)n;
    return 0;
}

static int describe_topic(struct sp_api_call *call, const dc_resource *rr, dc_result *r)
{
    const struct kproto_describe_configs_request *req = call->body;
    char msg[MSG_LEN_MAX];
    int16_t err = sp_ctl_topic_name_check(rr->ResourceName, msg, sizeof(msg));
    const struct sp_topic *t =
        err == 0 ? sp_image_topic(rr->ResourceName.ptr, (size_t)rr->ResourceName.len) : NULL;
    if (err == 0 && t == NULL) {
        err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        snprintf(msg, sizeof(msg), "The topic '%.*s' does not exist.", (int)rr->ResourceName.len,
                 rr->ResourceName.ptr);
    }
    if (err != 0) {
        r->ErrorCode = err;
        r->ErrorMessage = sp_str_dup(call->arena, msg);
        return 0;
    }
    /* The longest value is an explicit one or a short built-in one. */
    size_t buflen = 64;
    for (size_t i = 0; i < t->configs_count; i++) {
        buflen = SP_MAX(buflen, strlen(t->configs[i].value) + 1);
    }
    char *buf = sp_arena_alloc(call->arena, buflen);
    const char *const *names;
    size_t n = sp_topic_cfg_names(&names);
    dc_entry *e = sp_arena_calloc(call->arena, n + 1, sizeof(*e));
    if (buf == NULL || e == NULL) {
        return -ENOMEM;
    }
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int src = SP_TOPIC_CFG_SRC_DEFAULT;
        if (!key_wanted(rr, names[i]) ||
            sp_topic_cfg_describe(names[i], sp_image_broker_config(), t->configs, t->configs_count,
                                  buf, buflen, &src) < 0) {
            continue;
        }
        dc_entry *c = &e[k++];
        c->Name = sp_str_make(names[i]);
        c->Value = sp_str_dup(call->arena, buf);
        c->ReadOnly = false;
        c->ConfigSource = source_of(src);
        c->IsDefault = call->version == 0 && c->ConfigSource == SRC_DEFAULT; /* v0 only */
        c->IsSensitive = false;
        c->ConfigType = sp_topic_cfg_type(names[i]);
        c->Documentation =
            req->IncludeDocumentation ? sp_str_make(sp_topic_cfg_doc(names[i])) : sp_str_make(NULL);
        if (c->Value.ptr == NULL) {
            return -ENOMEM;
        }
        if (req->IncludeSynonyms && describe_topic_synonyms(call, t, names[i], c) < 0) {
            return -ENOMEM;
        }
    }
    r->Configs = e;
    r->Configs_count = k;
    return 0;
}

static int8_t broker_type(const struct sp_config_def *d)
{
    switch (d->type) {
    case SP_CONFIG_INT:
        return d->max > 2147483647.0 ? TYPE_LONG : TYPE_INT;
    case SP_CONFIG_BOOL:
        return TYPE_BOOLEAN;
    case SP_CONFIG_DOUBLE:
        return TYPE_DOUBLE;
    case SP_CONFIG_STRING:
        return TYPE_STRING;
    case SP_CONFIG_LIST:
        return TYPE_LIST;
    }
    return 0;
}

/* Every key of core/config_keys.h the request asks for, as this broker runs with it. */
static int describe_broker_keys(struct sp_api_call *call, const dc_resource *rr, dc_result *r)
{
    const struct kproto_describe_configs_request *req = call->body;
    const struct sp_config *cfg = sp_image_broker_config();
    dc_entry *e = sp_arena_calloc(call->arena, SP_CFG_COUNT_ + 1, sizeof(*e));
    dc_synonym *syn = sp_arena_calloc(call->arena, 2 * SP_CFG_COUNT_ + 1, sizeof(*syn));
    if (e == NULL || syn == NULL) {
        return -ENOMEM;
    }
    int32_t k = 0;
    for (int id = 0; id < SP_CFG_COUNT_; id++) {
        const struct sp_config_def *d = sp_config_def((enum sp_config_id)id);
        if (!key_wanted(rr, d->name)) {
            continue;
        }
        bool set = cfg != NULL && sp_config_is_set(cfg, (enum sp_config_id)id);
        dc_entry *c = &e[k++];
        c->Name = sp_str_make(d->name);
        c->Value =
            sp_str_make(cfg != NULL ? sp_config_str(cfg, (enum sp_config_id)id) : d->default_value);
        c->ReadOnly = true; /* read once at start */
        c->ConfigSource = set ? SRC_STATIC_BROKER : SRC_DEFAULT;
        c->IsDefault = call->version == 0 && !set; /* v0 only */
        c->IsSensitive = false;
        c->ConfigType = broker_type(d);
        c->Documentation = req->IncludeDocumentation ? sp_str_make(d->doc) : sp_str_make(NULL);
        if (req->IncludeSynonyms) {
            /* The key itself: where it was set, then its default. */
            dc_synonym *s = &syn[2 * id];
            int32_t m = 0;
            if (set) {
                s[m++] = (dc_synonym){c->Name, c->Value, SRC_STATIC_BROKER};
            }
            s[m++] = (dc_synonym){c->Name, sp_str_make(d->default_value), SRC_DEFAULT};
            c->Synonyms = s;
            c->Synonyms_count = m;
        }
    }
    r->Configs = e;
    r->Configs_count = k;
    return 0;
}

static int describe_broker(struct sp_api_call *call, const dc_resource *rr, dc_result *r)
{
    char msg[MSG_LEN_MAX];
    bool is_default;
    int16_t err = broker_name_check(rr->ResourceName, &is_default, msg, sizeof(msg));
    if (err != 0) {
        r->ErrorCode = err;
        r->ErrorMessage = sp_str_dup(call->arena, msg);
        return 0;
    }
    if (is_default || rr->ResourceType == RES_BROKER_LOGGER) {
        /* No dynamic cluster-wide defaults, no loggers to set: an empty list. */
        r->Configs_count = 0;
        return 0;
    }
    return describe_broker_keys(call, rr, r);
}

int sp_api_describe_configs(struct sp_api_call *call)
{
    const struct kproto_describe_configs_request *req = call->body;
    struct kproto_describe_configs_response *resp = call->resp;
    int32_t n = req != NULL ? SP_MAX(req->Resources_count, 0) : 0;
    dc_result *res = sp_arena_calloc(call->arena, (size_t)n + 1, sizeof(*res));
    if (res == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        const dc_resource *rr = &req->Resources[i];
        dc_result *r = &res[i];
        r->ResourceType = rr->ResourceType;
        r->ResourceName = rr->ResourceName;
        r->ErrorMessage = sp_str_make(NULL);
        r->Configs_count = 0;
        int rc = 0;
        if (call->error != 0) {
            r->ErrorCode = call->error;
        } else if (rr->ResourceType == RES_TOPIC) {
            rc = describe_topic(call, rr, r);
        } else if (rr->ResourceType == RES_BROKER || rr->ResourceType == RES_BROKER_LOGGER) {
            rc = describe_broker(call, rr, r);
        } else {
            char msg[64];
            snprintf(msg, sizeof(msg), "Unsupported resource type: %d", rr->ResourceType);
            r->ErrorCode = KERR_INVALID_REQUEST;
            r->ErrorMessage = sp_str_dup(call->arena, msg);
        }
        if (rc < 0) {
            return rc;
        }
    }
    resp->Results = res;
    resp->Results_count = n;
    return 0;
}

/* ---- AlterConfigs and IncrementalAlterConfigs ----------------------------------- */

/*
 * Both requests, read into one shape: each resource with its operations
 * (AlterConfigs' are all SETs that replace the topic's explicit set).
 * all[] holds every request resource's result in request order; the
 * topics that pass the local checks go to the controller as pass[],
 * pass[k] being all[map[k]].
 */
struct alter_call {
    struct sp_api_call *call;
    struct sp_ctl_alter_configs op;
    int32_t n;
    int8_t *type;                       /* [n] */
    struct sp_ctl_config_resource *all; /* [n] */
    int32_t *map;
    bool incremental;
};

static void alter_fail(struct sp_ctl_config_resource *r, int16_t code, const char *fmt, ...)
    SP_PRINTF(3, 4);

static void alter_fail(struct sp_ctl_config_resource *r, int16_t code, const char *fmt, ...)
{
    if (r->error != 0) {
        return; /* the first reason stands */
    }
    r->error = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

static int cmp_resource(const void *a, const void *b, void *arg)
{
    const struct alter_call *ac = arg;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (ac->type[i] != ac->type[j]) {
        return ac->type[i] < ac->type[j] ? -1 : 1;
    }
    struct sp_str x = ac->all[i].name, y = ac->all[j].name;
    int32_t n = SP_MIN(x.len, y.len);
    int c = n > 0 ? memcmp(x.ptr, y.ptr, (size_t)n) : 0;
    return c != 0 ? c : (x.len > y.len) - (x.len < y.len);
}

/*
 * Same type and name twice in one request: INVALID_REQUEST for each, as
 * Kafka answers. Sorted, so a large request costs n log n. 0 or -ENOMEM.
 */
static int alter_mark_duplicates(struct alter_call *ac)
{
    int32_t *idx = sp_arena_alloc(ac->call->arena, ((size_t)ac->n + 1) * sizeof(*idx));
    if (idx == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ac->n; i++) {
        idx[i] = i;
    }
    qsort_r(idx, (size_t)ac->n, sizeof(*idx), cmp_resource, ac);
    for (int32_t k = 1; k < ac->n; k++) {
        if (cmp_resource(&idx[k - 1], &idx[k], ac) == 0) {
            alter_fail(&ac->all[idx[k - 1]], KERR_INVALID_REQUEST,
                       "Each resource must appear at most once.");
            alter_fail(&ac->all[idx[k]], KERR_INVALID_REQUEST,
                       "Each resource must appear at most once.");
        }
    }
    return 0;
}

static int cmp_op_key(const void *a, const void *b)
{
    const struct sp_ctl_config_op *x = *(const struct sp_ctl_config_op *const *)a;
    const struct sp_ctl_config_op *y = *(const struct sp_ctl_config_op *const *)b;
    return strcmp(x->key, y->key);
}

/* Whether two of r's operations name the same key (sorted: n log n). 0, 1, or -ENOMEM. */
static int ops_have_duplicates(struct sp_arena *a, const struct sp_ctl_config_resource *r)
{
    if (r->ops_count < 2) {
        return 0;
    }
    const struct sp_ctl_config_op **sorted = sp_arena_alloc(a, r->ops_count * sizeof(*sorted));
    if (sorted == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < r->ops_count; i++) {
        sorted[i] = &r->ops[i];
    }
    qsort(sorted, r->ops_count, sizeof(*sorted), cmp_op_key);
    for (size_t i = 1; i < r->ops_count; i++) {
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The checks that need no image: names, null values, duplicate keys, operations. 0 or -ENOMEM. */
static int alter_check_ops(struct sp_arena *a, struct sp_ctl_config_resource *r)
{
    for (size_t i = 0; i < r->ops_count; i++) {
        if (r->ops[i].key == NULL) {
            alter_fail(r, KERR_INVALID_REQUEST, "A config name is null.");
            return 0;
        }
    }
    int dup = ops_have_duplicates(a, r);
    if (dup != 0) {
        alter_fail(r, KERR_INVALID_REQUEST, "Error due to duplicate config keys");
        return dup < 0 ? dup : 0;
    }
    for (size_t i = 0; i < r->ops_count; i++) {
        const struct sp_ctl_config_op *o = &r->ops[i];
        if (o->op < SP_TOPIC_CFG_OP_SET || o->op > SP_TOPIC_CFG_OP_SUBTRACT) {
            alter_fail(r, KERR_INVALID_REQUEST, "Unknown operation type %d for config %.200s",
                       o->op, o->key);
            return 0;
        }
        if (o->value == NULL && o->op != SP_TOPIC_CFG_OP_DELETE) {
            alter_fail(r, KERR_INVALID_REQUEST, "Null value not supported for : %.200s", o->key);
            return 0;
        }
    }
    return 0;
}

/*
 * A broker resource: none of its keys can change while the broker runs.
 * Unknown keys are INVALID_CONFIG, known ones get Kafka's answer for a
 * config that is not dynamic.
 */
static void alter_check_broker(struct sp_ctl_config_resource *r, int8_t type)
{
    bool is_default;
    int16_t err = broker_name_check(r->name, &is_default, r->message, sizeof(r->message));
    if (err != 0) {
        r->error = err;
        return;
    }
    if (type == RES_BROKER_LOGGER) {
        if (r->ops_count > 0) {
            alter_fail(r, KERR_INVALID_REQUEST,
                       "Broker loggers cannot be changed at run time: the log level is the "
                       "logger.level config, read at start.");
        }
        return;
    }
    char list[200];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < r->ops_count; i++) {
        if (sp_config_lookup(r->ops[i].key) < 0) {
            alter_fail(r, KERR_INVALID_CONFIG, "%.200s: unknown broker config", r->ops[i].key);
            return;
        }
        int w =
            snprintf(list + len, sizeof(list) - len, "%s%s", len > 0 ? ", " : "", r->ops[i].key);
        len = w < 0 ? len : SP_MIN(len + (size_t)w, sizeof(list) - 1);
    }
    if (r->ops_count > 0) {
        alter_fail(r, KERR_INVALID_REQUEST, "Cannot update these configs dynamically: Set(%s)",
                   list);
    }
}

static int alter_respond(struct alter_call *ac)
{
    struct sp_api_call *call = ac->call;
    typedef struct kproto_alter_configs_response_alter_configs_resource_response rr_t;
    typedef struct kproto_incremental_alter_configs_response_alter_configs_resource_response ir_t;
    static_assert(sizeof(rr_t) == sizeof(ir_t), "the two responses share a shape");
    rr_t *res = sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*res));
    if (res == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ac->n; i++) {
        const struct sp_ctl_config_resource *r = &ac->all[i];
        res[i].ErrorCode = call->error != 0 ? call->error : r->error;
        res[i].ErrorMessage = res[i].ErrorCode != 0 && call->error == 0 && r->message[0] != '\0'
                                  ? sp_str_dup(call->arena, r->message)
                                  : sp_str_make(NULL);
        res[i].ResourceType = ac->type[i];
        res[i].ResourceName = r->name;
    }
    if (ac->incremental) {
        struct kproto_incremental_alter_configs_response *resp = call->resp;
        ir_t *ir = sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*ir));
        if (ir == NULL) {
            return -ENOMEM;
        }
        for (int32_t i = 0; i < ac->n; i++) {
            ir[i] = (ir_t){res[i].ErrorCode, res[i].ErrorMessage, res[i].ResourceType,
                           res[i].ResourceName};
        }
        resp->Responses = ir;
        resp->Responses_count = ac->n;
    } else {
        struct kproto_alter_configs_response *resp = call->resp;
        resp->Responses = res;
        resp->Responses_count = ac->n;
    }
    return 0;
}

static void alter_done(struct sp_ctl_alter_configs *op)
{
    struct alter_call *ac = op->priv;
    for (int32_t k = 0; k < op->count; k++) {
        ac->all[ac->map[k]] = op->resources[k];
    }
    sp_api_done(ac->call, alter_respond(ac));
}

/* Runs the local checks and sends what passes to the controller. */
static int alter_start(struct alter_call *ac, bool validate_only)
{
    struct sp_api_call *call = ac->call;
    if (call->error != 0) {
        return alter_respond(ac);
    }
    if (alter_mark_duplicates(ac) < 0) {
        return -ENOMEM;
    }
    struct sp_ctl_config_resource *pass =
        sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*pass));
    ac->map = sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*ac->map));
    if (pass == NULL || ac->map == NULL) {
        return -ENOMEM;
    }
    int32_t m = 0;
    for (int32_t i = 0; i < ac->n; i++) {
        struct sp_ctl_config_resource *r = &ac->all[i];
        if (alter_check_ops(call->arena, r) < 0) {
            return -ENOMEM;
        }
        if (r->error != 0) {
            continue;
        }
        if (ac->type[i] == RES_BROKER || ac->type[i] == RES_BROKER_LOGGER) {
            alter_check_broker(r, ac->type[i]);
            continue;
        }
        if (ac->type[i] != RES_TOPIC) {
            alter_fail(r, KERR_INVALID_REQUEST, "Unsupported resource type: %d", ac->type[i]);
            continue;
        }
        r->error = sp_ctl_topic_name_check(r->name, r->message, sizeof(r->message));
        if (r->error == 0) {
            pass[m] = *r;
            ac->map[m++] = i;
        }
    }
    if (m == 0) {
        return alter_respond(ac);
    }
    ac->op = (struct sp_ctl_alter_configs){.resources = pass,
                                           .count = m,
                                           .validate_only = validate_only,
                                           .done = alter_done,
                                           .priv = ac};
    sp_ctl_alter_configs(&ac->op);
    return SP_API_PENDING;
}

static struct alter_call *alter_call_new(struct sp_api_call *call, int32_t n, bool incremental)
{
    struct alter_call *ac = sp_arena_calloc(call->arena, 1, sizeof(*ac));
    if (ac == NULL) {
        return NULL;
    }
    ac->call = call;
    ac->n = SP_MAX(n, 0);
    ac->incremental = incremental;
    ac->type = sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*ac->type));
    ac->all = sp_arena_calloc(call->arena, (size_t)ac->n + 1, sizeof(*ac->all));
    return ac->type != NULL && ac->all != NULL ? ac : NULL;
}

/*
 * Sets resource i of ac (its type, name and count ops, replacing the
 * resource's settings unless ac is incremental) and returns its ops to
 * fill, zeroed in the call's arena; NULL when the arena is full.
 */
static struct sp_ctl_config_op *alter_resource(struct alter_call *ac, int32_t i, int8_t type,
                                               struct sp_str name, int32_t count)
{
    size_t k = (size_t)SP_MAX(count, 0);
    struct sp_ctl_config_op *ops = sp_arena_calloc(ac->call->arena, k + 1, sizeof(*ops));
    if (ops == NULL) {
        return NULL;
    }
    ac->type[i] = type;
    ac->all[i] = (struct sp_ctl_config_resource){
        .name = name, .ops = ops, .ops_count = k, .replace = !ac->incremental};
    return ops;
}

/* Fills one op, its key and value copied as C strings into a. 0 or -ENOMEM. */
static int alter_op(struct sp_arena *a, struct sp_ctl_config_op *op, struct sp_str key,
                    struct sp_str value, int8_t operation)
{
    op->key = sp_str_cstr(a, key);
    op->value = sp_str_cstr(a, value);
    op->op = operation;
    if ((op->key == NULL && key.ptr != NULL) || (op->value == NULL && value.ptr != NULL)) {
        return -ENOMEM;
    }
    return 0;
}

int sp_api_alter_configs(struct sp_api_call *call)
{
    const struct kproto_alter_configs_request *req = call->body;
    struct alter_call *ac = alter_call_new(call, req != NULL ? req->Resources_count : 0, false);
    if (ac == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ac->n; i++) {
        const struct kproto_alter_configs_request_alter_configs_resource *rr = &req->Resources[i];
        struct sp_ctl_config_op *ops =
            alter_resource(ac, i, rr->ResourceType, rr->ResourceName, rr->Configs_count);
        if (ops == NULL) {
            return -ENOMEM;
        }
        for (int32_t j = 0; j < rr->Configs_count; j++) {
            if (alter_op(call->arena, &ops[j], rr->Configs[j].Name, rr->Configs[j].Value,
                         SP_TOPIC_CFG_OP_SET) < 0) {
                return -ENOMEM;
            }
        }
        for (int32_t j = 0; j < rr->Configs_count && rr->ResourceType == RES_TOPIC; j++) {
            if (ops[j].key != NULL && ops[j].value == NULL) {
                alter_fail(&ac->all[i], KERR_INVALID_REQUEST,
                           "Null value not supported for topic configs: %.200s", ops[j].key);
            }
        }
    }
    return alter_start(ac, req != NULL && req->ValidateOnly);
}

int sp_api_incremental_alter_configs(struct sp_api_call *call)
{
    const struct kproto_incremental_alter_configs_request *req = call->body;
    struct alter_call *ac = alter_call_new(call, req != NULL ? req->Resources_count : 0, true);
    if (ac == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = 0; i < ac->n; i++) {
        const struct kproto_incremental_alter_configs_request_alter_configs_resource *rr =
            &req->Resources[i];
        struct sp_ctl_config_op *ops =
            alter_resource(ac, i, rr->ResourceType, rr->ResourceName, rr->Configs_count);
        if (ops == NULL) {
            return -ENOMEM;
        }
        for (int32_t j = 0; j < rr->Configs_count; j++) {
            if (alter_op(call->arena, &ops[j], rr->Configs[j].Name, rr->Configs[j].Value,
                         rr->Configs[j].ConfigOperation) < 0) {
                return -ENOMEM;
            }
        }
    }
    return alter_start(ac, req != NULL && req->ValidateOnly);
}
