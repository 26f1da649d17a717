/*
 * tools/ctl_cluster.c: `spindlectl cluster info`: the brokers Metadata
 * names, the controller, the cluster id, and each broker's API versions
 * (its ApiVersions range per API key, and the version this client uses).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/kproto.h"
#include "tools/ctl.h"

static const char cluster_help[] = "Usage: spindlectl cluster info [options]\n"
                                   "\n"
                                   "Commands:\n"
                                   "  info    brokers, controller, cluster id and API versions\n"
                                   "\n"
                                   "Example:\n"
                                   "  spindlectl cluster info --brokers localhost:9092\n";

static const char info_help[] =
    "Usage: spindlectl cluster info [options]\n"
    "\n"
    "Shows the cluster id, the controller, the brokers (node, host, port, rack)\n"
    "and the API versions of a broker: the range it advertises for each API\n"
    "and the version spindlectl uses with it. A broker that cannot be reached\n"
    "is shown as such; the command fails (exit 3) only when none answers.\n"
    "\n"
    "Options:\n"
    "  -a, --all-brokers    the API versions of every broker (default: the\n"
    "                       controller's, else the first broker's)\n"
    "\n"
    "Example:\n"
    "  spindlectl cluster info\n"
    "  spindlectl cluster info --json | jq '.brokers[].node'\n";

/* One broker's ApiVersions, as asked through the client. */
struct broker_apis {
    int16_t key[128], min[128], max[128], used[128];
    size_t count;
    struct spc_error err; /* code != 0: unreachable */
};

static void broker_apis_get(struct ctl *ctl, int32_t node, struct broker_apis *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < kproto_apis_count && out->count < SP_ARRAY_LEN(out->key); i++) {
        int16_t key = kproto_apis[i].key, min, max;
        struct spc_error err = {0};
        int rc =
            spc_broker_api_range(ctl->client, node, key, &min, &max, ctl_remaining_ms(ctl), &err);
        if (rc == -ENOTSUP) {
            continue;
        }
        if (rc < 0) {
            out->err = err;
            if (out->err.code == 0) {
                out->err.code = rc;
            }
            return;
        }
        out->key[out->count] = key;
        out->min[out->count] = min;
        out->max[out->count] = max;
        out->used[out->count] = spc_api_version(ctl->client, node, key);
        out->count++;
    }
}

static const char *api_name(int16_t key)
{
    const struct kproto_api *api = kproto_api_get(key);
    return api ? api->name : "?";
}

static void info_json(struct ctl *ctl, const struct spc_broker *brokers, size_t n,
                      struct broker_apis *apis, const bool *asked)
{
    struct ctl_json j;
    ctl_json_begin(&j, ctl->out, true);
    ctl_json_object(&j);
    ctl_json_kstr(&j, "cluster_id", spc_cluster_id(ctl->client));
    ctl_json_kint(&j, "controller", spc_controller_id(ctl->client));
    ctl_json_key(&j, "brokers");
    ctl_json_array(&j);
    for (size_t i = 0; i < n; i++) {
        ctl_json_object(&j);
        ctl_json_kint(&j, "node", brokers[i].node);
        ctl_json_kstr(&j, "host", brokers[i].host);
        ctl_json_kint(&j, "port", brokers[i].port);
        ctl_json_kstr(&j, "rack", brokers[i].rack[0] ? brokers[i].rack : NULL);
        ctl_json_kbool(&j, "controller", brokers[i].node == spc_controller_id(ctl->client));
        if (asked[i]) {
            ctl_json_kerror(&j, "error", &apis[i].err);
            ctl_json_key(&j, "api_versions");
            ctl_json_array(&j);
            for (size_t k = 0; k < apis[i].count; k++) {
                ctl_json_object(&j);
                ctl_json_kint(&j, "key", apis[i].key[k]);
                ctl_json_kstr(&j, "name", api_name(apis[i].key[k]));
                ctl_json_kint(&j, "min", apis[i].min[k]);
                ctl_json_kint(&j, "max", apis[i].max[k]);
                ctl_json_kint(&j, "used", apis[i].used[k]);
                ctl_json_close(&j);
            }
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
    }
    ctl_json_close(&j);
    ctl_json_close(&j);
    ctl_json_end(&j);
}

static void info_text(struct ctl *ctl, const struct spc_broker *brokers, size_t n,
                      struct broker_apis *apis, const bool *asked)
{
    FILE *out = ctl->out;
    const char *id = spc_cluster_id(ctl->client);
    int32_t controller = spc_controller_id(ctl->client);
    ctl_kv(out, 10, "Cluster id", "%s", id[0] ? id : "-");
    if (controller >= 0) {
        ctl_kv(out, 10, "Controller", "%d", controller);
    } else {
        ctl_kv(out, 10, "Controller", "-");
    }
    fprintf(out, "\nBROKERS\n");
    struct ctl_table t;
    ctl_table_init(&t, 5, "NODE", "HOST", "PORT", "RACK", "STATUS");
    for (size_t i = 0; i < n; i++) {
        ctl_table_add(&t, "%d%s", brokers[i].node, brokers[i].node == controller ? "*" : "");
        ctl_table_add(&t, "%s", brokers[i].host);
        ctl_table_add(&t, "%d", brokers[i].port);
        ctl_table_add(&t, "%s", brokers[i].rack[0] ? brokers[i].rack : "-");
        if (!asked[i]) {
            ctl_table_add(&t, "-");
        } else if (apis[i].err.code != 0) {
            ctl_table_add(&t, "unreachable: %s", ctl_code_name(apis[i].err.code));
        } else {
            ctl_table_add(&t, "ok");
        }
    }
    ctl_table_print(&t, out);
    ctl_table_fini(&t);
    for (size_t i = 0; i < n; i++) {
        if (!asked[i] || apis[i].err.code != 0) {
            continue;
        }
        fprintf(out, "\nAPI VERSIONS OF BROKER %d (%s:%d)\n", brokers[i].node, brokers[i].host,
                brokers[i].port);
        ctl_table_init(&t, 5, "KEY", "API", "MIN", "MAX", "USED");
        for (size_t k = 0; k < apis[i].count; k++) {
            ctl_table_add(&t, "%d", apis[i].key[k]);
            ctl_table_add(&t, "%s", api_name(apis[i].key[k]));
            ctl_table_add(&t, "%d", apis[i].min[k]);
            ctl_table_add(&t, "%d", apis[i].max[k]);
            if (apis[i].used[k] >= 0) {
                ctl_table_add(&t, "%d", apis[i].used[k]);
            } else {
                ctl_table_add(&t, "-");
            }
        }
        ctl_table_print(&t, out);
        ctl_table_fini(&t);
    }
}

static int cluster_info(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all-brokers", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "cluster info", .help = info_help, .shortopts = "a", .longopts = opts};
    bool all = false;
    if (!ctl_getopt_flag(ctl, &p, argc, argv, 'a', &all)) {
        return p.exit;
    }
    int rc = ctl_operands(&p, argc, 0, 0);
    if (rc == CTL_EXIT_OK) {
        rc = ctl_connect(ctl);
    }
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    struct spc_error err = {0};
    /* Every topic would be the whole cluster's metadata: ask for none. */
    static const char *const none[1] = {NULL};
    rc = spc_metadata_sync(ctl->client, none, 0, false, &err);
    if (rc < 0) {
        return ctl_fail(rc, &err);
    }
    size_t n = 0;
    const struct spc_broker *view = spc_brokers(ctl->client, &n);
    /* The cached view is valid until the next poll: keep a copy. */
    struct spc_broker *brokers = ctl_xmalloc((n ? n : 1) * sizeof(*brokers));
    if (n) {
        memcpy(brokers, view, n * sizeof(*brokers));
    }
    int32_t controller = spc_controller_id(ctl->client);
    struct broker_apis *apis = ctl_xmalloc((n ? n : 1) * sizeof(*apis));
    bool *asked = calloc(n ? n : 1, sizeof(*asked));
    if (!asked) {
        ctl_errorf("out of memory");
        exit(CTL_EXIT_ERROR);
    }
    bool want_all = all || ctl->json;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        bool pick = want_all || brokers[i].node == controller;
        if (!pick) {
            continue;
        }
        asked[i] = true;
        broker_apis_get(ctl, brokers[i].node, &apis[i]);
        ok += apis[i].err.code == 0;
    }
    /* No controller named (or it is down): the first broker that answers. */
    for (size_t i = 0; i < n && ok == 0 && !want_all; i++) {
        if (!asked[i]) {
            asked[i] = true;
            broker_apis_get(ctl, brokers[i].node, &apis[i]);
            ok += apis[i].err.code == 0;
        }
    }
    if (ctl->json) {
        info_json(ctl, brokers, n, apis, asked);
    } else {
        info_text(ctl, brokers, n, apis, asked);
    }
    rc = CTL_EXIT_OK;
    if (ok == 0 && n > 0) {
        for (size_t i = 0; i < n; i++) {
            if (asked[i]) {
                rc = ctl_fail(apis[i].err.code, &apis[i].err);
                break;
            }
        }
    }
    free(asked);
    free(apis);
    free(brokers);
    return rc;
}

int ctl_cluster_main(struct ctl *ctl, int argc, char **argv)
{
    static const struct ctl_cmd cmds[] = {
        {"info", cluster_info},
    };
    return ctl_dispatch(ctl, "cluster", cluster_help, cmds, SP_ARRAY_LEN(cmds), argc, argv);
}
