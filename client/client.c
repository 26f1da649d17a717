/* PLACEHOLDER: client/client.c (connections, requests, metadata, poll; see client/spc.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/spc.h"

void spc_config_init(struct spc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

int spc_client_new(const struct spc_config *cfg, struct spc_client **out, struct spc_error *err)
{
    (void)cfg;
    *out = NULL;
    spc_error_set(err, -ENOSYS, "-", "the client core is not built yet");
    return -ENOSYS;
}

void spc_client_free(struct spc_client *c)
{
    (void)c;
}

int spc_poll(struct spc_client *c, int timeout_ms)
{
    (void)c;
    (void)timeout_ms;
    return -ENOSYS;
}

int spc_wait(struct spc_client *c, const bool *done, int timeout_ms)
{
    (void)c;
    (void)done;
    (void)timeout_ms;
    return -ENOSYS;
}

int64_t spc_now_ms(const struct spc_client *c)
{
    (void)c;
    return 0;
}

bool spc_retriable(int16_t kafka_error)
{
    (void)kafka_error;
    return false;
}

void spc_error_set(struct spc_error *err, int code, const char *broker, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    err->code = code;
    int n = snprintf(err->message, sizeof(err->message), "%s: ", broker);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof(err->message)) {
        vsnprintf(err->message + n, sizeof(err->message) - (size_t)n, fmt, ap);
    }
    va_end(ap);
}

int spc_send(struct spc_client *c, struct spc_call *call)
{
    (void)c;
    (void)call;
    return -ENOSYS;
}

void spc_call_release(struct spc_call *call)
{
    (void)call;
}

int spc_call_sync(struct spc_client *c, struct spc_call *call, struct spc_error *err)
{
    (void)c;
    (void)call;
    (void)err;
    return -ENOSYS;
}

int16_t spc_api_version(struct spc_client *c, int32_t node, int16_t api_key)
{
    (void)c;
    (void)node;
    (void)api_key;
    return -1;
}

int spc_broker_api_range(struct spc_client *c, int32_t node, int16_t api_key, int16_t *min,
                         int16_t *max, int timeout_ms, struct spc_error *err)
{
    (void)c;
    (void)node;
    (void)api_key;
    (void)min;
    (void)max;
    (void)timeout_ms;
    (void)err;
    return -ENOSYS;
}

int spc_metadata_refresh(struct spc_client *c, const char *const *topics, size_t n,
                         bool allow_auto_create, void (*done)(void *ctx, int rc), void *ctx)
{
    (void)c;
    (void)topics;
    (void)n;
    (void)allow_auto_create;
    (void)done;
    (void)ctx;
    return -ENOSYS;
}

int spc_metadata_sync(struct spc_client *c, const char *const *topics, size_t n,
                      bool allow_auto_create, struct spc_error *err)
{
    (void)c;
    (void)topics;
    (void)n;
    (void)allow_auto_create;
    (void)err;
    return -ENOSYS;
}

const struct spc_topic *spc_topic_get(struct spc_client *c, const char *name)
{
    (void)c;
    (void)name;
    return NULL;
}

int32_t spc_leader(struct spc_client *c, const char *topic, int32_t partition)
{
    (void)c;
    (void)topic;
    (void)partition;
    return -1;
}

const struct spc_broker *spc_brokers(struct spc_client *c, size_t *count)
{
    (void)c;
    *count = 0;
    return NULL;
}

const char *spc_cluster_id(struct spc_client *c)
{
    (void)c;
    return "";
}

int32_t spc_controller_id(struct spc_client *c)
{
    (void)c;
    return -1;
}

void spc_metadata_stale(struct spc_client *c, const char *topic)
{
    (void)c;
    (void)topic;
}
