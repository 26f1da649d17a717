/*
 * tools/ctl_topic.c: `spindlectl topic create|list|describe|delete|
 * add-partitions|alter-config`.
 *
 * list and describe read a Metadata answer of their own (ctl_metadata: the
 * client's cache keeps neither every topic nor replica lists); describe adds
 * ListOffsets (earliest, latest), DescribeLogDirs (sizes) and
 * DescribeConfigs (the topic's own configs). The others are one admin call.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/kproto.h"
#include "tools/ctl.h"

static const char topic_help[] =
    "Usage: spindlectl topic SUBCOMMAND [options]\n"
    "\n"
    "Subcommands:\n"
    "  create NAME...            create topics\n"
    "  list [PATTERN...]         list topics (shell patterns)\n"
    "  describe NAME...          partitions, leaders, replicas, offsets, sizes, configs\n"
    "  delete NAME...            delete topics\n"
    "  add-partitions NAME       grow a topic's partition count\n"
    "  alter-config NAME         set or delete a topic's configs\n"
    "\n"
    "Example:\n"
    "  spindlectl topic create greetings --partitions 3\n"
    "  spindlectl topic describe greetings\n";

/* ---- Per-item results ---------------------------------------------------------- */

/*
 * Prints the outcome of an admin call over topics: a line per topic (text)
 * or [{"topic":..., "error":...}] (JSON), errors on stderr too. A result
 * whose code is `ok_code` counts as done, with `ok_note` as its text.
 */
static int report_items(struct ctl *ctl, const char *done, const char *const *names,
                        const struct spc_item_result *res, size_t n, int ok_code,
                        const char *ok_note)
{
    int rc = CTL_EXIT_OK;
    struct ctl_json j;
    if (ctl->json) {
        ctl_json_begin(&j, ctl->out, true);
        ctl_json_array(&j);
    }
    for (size_t i = 0; i < n; i++) {
        const struct spc_error *err = &res[i].err;
        bool ok = err->code == 0 || (ok_code != 0 && err->code == ok_code);
        if (ctl->json) {
            ctl_json_object(&j);
            ctl_json_kstr(&j, "topic", names[i]);
            ctl_json_kerror(&j, "error", ok ? NULL : err);
            if (ok && err->code != 0) {
                ctl_json_kstr(&j, "note", ok_note);
            }
            ctl_json_close(&j);
        } else if (ok && err->code == 0) {
            fprintf(ctl->out, "%s topic \"%s\"\n", done, names[i]);
        } else if (ok) {
            fprintf(ctl->out, "topic \"%s\" %s\n", names[i], ok_note);
        }
        if (!ok) {
            int e = ctl_item_fail(err);
            rc = SP_MAX(rc, e);
        }
    }
    if (ctl->json) {
        ctl_json_close(&j);
        ctl_json_end(&j);
    }
    return rc;
}

/* ---- create ---------------------------------------------------------------------- */

static const char create_help[] =
    "Usage: spindlectl topic create NAME... [options]\n"
    "\n"
    "Creates topics (CreateTopics, sent to the controller).\n"
    "\n"
    "Options:\n"
    "  -p, --partitions N          partitions (default: the broker's num.partitions)\n"
    "  -r, --replication-factor N  replicas (default: the broker's\n"
    "                              default.replication.factor)\n"
    "  -c, --config NAME=VALUE     a topic config (repeat for several)\n"
    "      --if-not-exists         a topic that exists already is not an error\n"
    "      --dry-run               validate only: the brokers create nothing\n"
    "\n"
    "Example:\n"
    "  spindlectl topic create orders -p 6 -c retention.ms=86400000 -c cleanup.policy=delete\n";

enum {
    OPT_IF_NOT_EXISTS = 0x100,
    OPT_IF_EXISTS,
    OPT_DRY_RUN,
    OPT_TOTAL,
    OPT_SET,
    OPT_DELETE,
    OPT_APPEND,
    OPT_SUBTRACT
};

static int topic_create(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"replication-factor", required_argument, NULL, 'r'},
        {"replicas", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"if-not-exists", no_argument, NULL, OPT_IF_NOT_EXISTS},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"validate-only", no_argument, NULL, OPT_DRY_RUN},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "topic create", .help = create_help, .shortopts = "p:r:c:", .longopts = opts};
    int32_t partitions = -1, replication = -1;
    bool if_not_exists = false, dry_run = false;
    struct spc_kv *configs = ctl_xmalloc((size_t)argc * sizeof(*configs));
    size_t configs_count = 0;
    int rc = CTL_EXIT_OK;
    bool stop = false;
    for (int c;
         !stop && rc == CTL_EXIT_OK && (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
        switch (c) {
        case CTL_OPT_STOP:
            rc = p.exit;
            stop = true;
            break;
        case 'p':
            rc = ctl_opt_i32(&p, "--partitions", optarg, 1, 1000000, &partitions);
            break;
        case 'r': {
            int32_t r = 0;
            rc = ctl_opt_i32(&p, "--replication-factor", optarg, 1, INT16_MAX, &r);
            replication = (int16_t)r;
            break;
        }
        case 'c':
            if (ctl_split_kv(optarg, &configs[configs_count].name, &configs[configs_count].value) !=
                0) {
                rc = ctl_usage_error(p.name, "--config: expected NAME=VALUE, got '%s'", optarg);
                break;
            }
            configs_count++;
            break;
        case OPT_IF_NOT_EXISTS:
            if_not_exists = true;
            break;
        case OPT_DRY_RUN:
            dry_run = true;
            break;
        default:
            break;
        }
    }
    if (rc == CTL_EXIT_OK && !stop) {
        rc = ctl_operands(&p, argc, 1, 1000);
    }
    if (rc == CTL_EXIT_OK && !stop) {
        rc = ctl_connect(ctl);
    }
    if (rc != CTL_EXIT_OK || stop) {
        free(configs);
        return rc;
    }
    size_t n = (size_t)(argc - optind);
    const char *const *names = (const char *const *)&argv[optind];
    struct spc_new_topic *topics = ctl_xmalloc(n * sizeof(*topics));
    struct spc_item_result *res = ctl_xmalloc(n * sizeof(*res));
    memset(res, 0, n * sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        topics[i] = (struct spc_new_topic){
            .name = names[i],
            .partitions = partitions,
            .replication = (int16_t)replication,
            .configs = configs,
            .configs_count = configs_count,
        };
    }
    struct spc_error err = {0};
    int r =
        spc_admin_create_topics(ctl->client, topics, n, dry_run, ctl_remaining_ms(ctl), res, &err);
    if (r < 0) {
        rc = ctl_fail(r, &err);
    } else {
        rc = report_items(ctl, dry_run ? "(dry run) would create" : "created", names, res, n,
                          if_not_exists ? KERR_TOPIC_ALREADY_EXISTS : 0, "exists already");
    }
    free(res);
    free(topics);
    free(configs);
    return rc;
}

/* ---- delete ---------------------------------------------------------------------- */

static const char delete_help[] =
    "Usage: spindlectl topic delete NAME... [options]\n"
    "\n"
    "Deletes topics and their records (DeleteTopics, sent to the controller).\n"
    "\n"
    "Options:\n"
    "      --if-exists     a topic that does not exist is not an error\n"
    "\n"
    "Example:\n"
    "  spindlectl topic delete orders\n";

static int topic_delete(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"if-exists", no_argument, NULL, OPT_IF_EXISTS},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {.name = "topic delete", .help = delete_help, .longopts = opts};
    bool if_exists = false;
    if (!ctl_getopt_flag(ctl, &p, argc, argv, OPT_IF_EXISTS, &if_exists)) {
        return p.exit;
    }
    int rc = ctl_operands(&p, argc, 1, 1000);
    if (rc == CTL_EXIT_OK) {
        rc = ctl_connect(ctl);
    }
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t n = (size_t)(argc - optind);
    const char *const *names = (const char *const *)&argv[optind];
    struct spc_item_result *res = ctl_xmalloc(n * sizeof(*res));
    memset(res, 0, n * sizeof(*res));
    struct spc_error err = {0};
    int r = spc_admin_delete_topics(ctl->client, names, n, ctl_remaining_ms(ctl), res, &err);
    if (r < 0) {
        rc = ctl_fail(r, &err);
    } else {
        rc = report_items(ctl, "deleted", names, res, n,
                          if_exists ? KERR_UNKNOWN_TOPIC_OR_PARTITION : 0, "does not exist");
    }
    free(res);
    return rc;
}

/* ---- list ------------------------------------------------------------------------ */

static const char list_help[] =
    "Usage: spindlectl topic list [PATTERN...] [options]\n"
    "\n"
    "Lists topics with their partition count and replication factor, sorted by\n"
    "name; with PATTERNs (shell globs) only the topics that match one.\n"
    "\n"
    "Options:\n"
    "  -i, --internal     include internal topics (__consumer_offsets, ...)\n"
    "\n"
    "Example:\n"
    "  spindlectl topic list\n"
    "  spindlectl topic list 'orders-*' --json\n";

/* A topic id as Kafka prints it, or NULL when the broker sent none (Metadata < v10). */
static const char *topic_id(const struct sp_uuid *id, char *buf, size_t cap)
{
    return kproto_uuid_is_zero(id) ? NULL : ctl_fmt_uuid(id->b, buf, cap);
}

static int cmp_topic(const void *a, const void *b)
{
    const struct kproto_metadata_response_metadata_response_topic *x = a, *y = b;
    int n = memcmp(x->Name.ptr, y->Name.ptr, (size_t)SP_MIN(x->Name.len, y->Name.len));
    return n ? n : (x->Name.len > y->Name.len) - (x->Name.len < y->Name.len);
}

static bool topic_matches(const char *name, char **patterns, int count)
{
    if (count == 0) {
        return true;
    }
    for (int i = 0; i < count; i++) {
        if (fnmatch(patterns[i], name, 0) == 0) {
            return true;
        }
    }
    return false;
}

static int topic_list(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"internal", no_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "topic list", .help = list_help, .shortopts = "i", .longopts = opts};
    bool internal = false;
    if (!ctl_getopt_flag(ctl, &p, argc, argv, 'i', &internal)) {
        return p.exit;
    }
    struct spc_call call;
    const struct kproto_metadata_response *md;
    int rc = ctl_metadata(ctl, NULL, 0, &call, &md);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    struct kproto_metadata_response_metadata_response_topic *topics = md->Topics;
    size_t n = md->Topics_count > 0 ? (size_t)md->Topics_count : 0;
    qsort(topics, n, sizeof(*topics), cmp_topic);
    struct ctl_table t;
    struct ctl_json j;
    if (ctl->json) {
        ctl_json_begin(&j, ctl->out, true);
        ctl_json_array(&j);
    } else {
        ctl_table_init(&t, 3, "NAME", "PARTITIONS", "REPLICAS");
    }
    for (size_t i = 0; i < n; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)topics[i].Name.len, topics[i].Name.ptr);
        if ((topics[i].IsInternal && !internal) ||
            !topic_matches(name, &argv[optind], argc - optind)) {
            continue;
        }
        int32_t rf =
            topics[i].Partitions_count > 0 ? topics[i].Partitions[0].ReplicaNodes_count : 0;
        if (ctl->json) {
            char id[32];
            ctl_json_object(&j);
            ctl_json_kstr(&j, "topic", name);
            ctl_json_kstr(&j, "id", topic_id(&topics[i].TopicId, id, sizeof(id)));
            ctl_json_kint(&j, "partitions", topics[i].Partitions_count);
            ctl_json_kint(&j, "replicas", rf);
            ctl_json_kbool(&j, "internal", topics[i].IsInternal);
            ctl_json_close(&j);
        } else {
            ctl_table_add(&t, "%s%s", name, topics[i].IsInternal ? " (internal)" : "");
            ctl_table_add(&t, "%d", topics[i].Partitions_count);
            ctl_table_add(&t, "%d", rf);
        }
    }
    if (ctl->json) {
        ctl_json_close(&j);
        ctl_json_end(&j);
    } else {
        ctl_table_print(&t, ctl->out);
        ctl_table_fini(&t);
    }
    spc_call_release(&call);
    return CTL_EXIT_OK;
}

/* ---- describe -------------------------------------------------------------------- */

static const char describe_help[] =
    "Usage: spindlectl topic describe NAME... [options]\n"
    "\n"
    "Shows a topic's id, partitions (leader, leader epoch, replicas, in-sync\n"
    "replicas, earliest and latest offsets, size on disk) and the configs set\n"
    "on the topic itself (non-default). With --json: one object, or an array\n"
    "when several topics are named.\n"
    "\n"
    "Options:\n"
    "  -a, --all-configs    every config, with its source, not only the topic's own\n"
    "\n"
    "Example:\n"
    "  spindlectl topic describe greetings\n"
    "  spindlectl topic describe greetings --json | jq '.partitions[].latest'\n";

static const char *config_source_name(int8_t source)
{
    static const char *const names[] = {
        "UNKNOWN",       "TOPIC",   "DYNAMIC_BROKER",       "DYNAMIC_DEFAULT_BROKER",
        "STATIC_BROKER", "DEFAULT", "DYNAMIC_BROKER_LOGGER"};
    return source >= 0 && (size_t)source < SP_ARRAY_LEN(names) ? names[source] : "UNKNOWN";
}

/* Whether a topic's config is its own: set on the topic, not inherited. */
static bool config_is_own(const struct spc_config_value *v)
{
    return v->source == 1 || (v->source == 0 && !v->is_default);
}

/* What describe gathers for one topic besides its metadata. */
struct topic_extra {
    int32_t *ids;
    struct spc_offset *earliest, *latest;
    int64_t *sizes;
    bool sizes_known;
    bool configs_known; /* the broker answered DescribeConfigs */
    struct spc_config_value *configs;
    size_t configs_count;
};

/* Asks the brokers; partial answers are kept. Returns 0 or an exit code (reported). */
static int describe_gather(struct ctl *ctl, const char *name,
                           const struct kproto_metadata_response_metadata_response_topic *t,
                           struct sp_arena *a, struct topic_extra *x)
{
    size_t n = t->Partitions_count > 0 ? (size_t)t->Partitions_count : 0;
    memset(x, 0, sizeof(*x));
    x->ids = ctl_xmalloc((n ? n : 1) * sizeof(*x->ids));
    x->earliest = calloc(n ? n : 1, sizeof(*x->earliest));
    x->latest = calloc(n ? n : 1, sizeof(*x->latest));
    x->sizes = ctl_xmalloc((n ? n : 1) * sizeof(*x->sizes));
    if (!x->earliest || !x->latest) {
        ctl_errorf("out of memory");
        exit(CTL_EXIT_ERROR);
    }
    for (size_t i = 0; i < n; i++) {
        x->ids[i] = t->Partitions[i].PartitionIndex;
        x->sizes[i] = -1;
        x->earliest[i].offset = x->latest[i].offset = -1;
    }
    struct spc_error err = {0};
    int rc = spc_admin_list_offsets(ctl->client, name, x->ids, n, SPC_TS_EARLIEST,
                                    ctl_remaining_ms(ctl), x->earliest, &err);
    if (rc == 0) {
        rc = spc_admin_list_offsets(ctl->client, name, x->ids, n, SPC_TS_LATEST,
                                    ctl_remaining_ms(ctl), x->latest, &err);
    }
    if (rc < 0) {
        return ctl_fail(rc, &err);
    }
    rc = spc_admin_partition_sizes(ctl->client, name, x->ids, n, ctl_remaining_ms(ctl), x->sizes,
                                   &err);
    if (rc < 0 && rc != -ENOTSUP) {
        return ctl_fail(rc, &err);
    }
    x->sizes_known = rc == 0;
    rc = spc_admin_describe_configs(ctl->client, SPC_RESOURCE_TOPIC, name, NULL, 0,
                                    ctl_remaining_ms(ctl), a, &x->configs, &x->configs_count, &err);
    if (rc < 0 && rc != -ENOTSUP) {
        return ctl_fail(rc, &err);
    }
    x->configs_known = rc == 0;
    if (rc < 0) {
        x->configs = NULL;
        x->configs_count = 0;
    }
    return CTL_EXIT_OK;
}

static void topic_extra_free(struct topic_extra *x)
{
    free(x->ids);
    free(x->earliest);
    free(x->latest);
    free(x->sizes);
}

static void json_nodes(struct ctl_json *j, const char *key, const int32_t *nodes, int32_t n)
{
    ctl_json_key(j, key);
    ctl_json_array(j);
    for (int32_t i = 0; i < n; i++) {
        ctl_json_int(j, nodes[i]);
    }
    ctl_json_close(j);
}

static void describe_json(struct ctl_json *j, const char *name,
                          const struct kproto_metadata_response_metadata_response_topic *t,
                          const struct topic_extra *x, bool all_configs)
{
    char id[32];
    ctl_json_object(j);
    ctl_json_kstr(j, "topic", name);
    ctl_json_kstr(j, "id", topic_id(&t->TopicId, id, sizeof(id)));
    ctl_json_kbool(j, "internal", t->IsInternal);
    ctl_json_key(j, "partitions");
    ctl_json_array(j);
    for (int32_t i = 0; i < t->Partitions_count; i++) {
        const struct kproto_metadata_response_metadata_response_partition *p = &t->Partitions[i];
        ctl_json_object(j);
        ctl_json_kint(j, "partition", p->PartitionIndex);
        ctl_json_kint(j, "leader", p->LeaderId);
        ctl_json_kint(j, "leader_epoch", p->LeaderEpoch);
        json_nodes(j, "replicas", p->ReplicaNodes, p->ReplicaNodes_count);
        json_nodes(j, "isr", p->IsrNodes, p->IsrNodes_count);
        json_nodes(j, "offline", p->OfflineReplicas, p->OfflineReplicas_count);
        ctl_json_kint(j, "earliest", x->earliest[i].offset);
        ctl_json_kint(j, "latest", x->latest[i].offset);
        ctl_json_key(j, "size");
        if (x->sizes_known && x->sizes[i] >= 0) {
            ctl_json_int(j, x->sizes[i]);
        } else {
            ctl_json_null(j);
        }
        struct spc_error perr = {0};
        if (p->ErrorCode != 0) {
            perr.code = p->ErrorCode;
            snprintf(perr.message, sizeof(perr.message), "partition %d: %s", p->PartitionIndex,
                     kerr_name(p->ErrorCode));
        } else if (x->earliest[i].err.code != 0) {
            perr = x->earliest[i].err;
        } else if (x->latest[i].err.code != 0) {
            perr = x->latest[i].err;
        }
        ctl_json_kerror(j, "error", &perr);
        ctl_json_close(j);
    }
    ctl_json_close(j);
    ctl_json_key(j, "configs");
    if (!x->configs_known) {
        ctl_json_null(j);
    } else {
        ctl_json_object(j);
        for (size_t i = 0; i < x->configs_count; i++) {
            if (all_configs || config_is_own(&x->configs[i])) {
                ctl_json_kstr(j, x->configs[i].name, x->configs[i].value);
            }
        }
        ctl_json_close(j);
    }
    ctl_json_close(j);
}

static void join_nodes(char *buf, size_t cap, const int32_t *nodes, int32_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < n && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%d", i ? "," : "", nodes[i]);
        if (w < 0) {
            break;
        }
        o += (size_t)w;
    }
    if (n == 0) {
        snprintf(buf, cap, "-");
    }
}

static void offset_cell(struct ctl_table *tb, const struct spc_offset *o)
{
    if (o->err.code != 0) {
        ctl_table_add(tb, "%s", ctl_code_name(o->err.code));
    } else if (o->offset < 0) {
        ctl_table_add(tb, "-");
    } else {
        ctl_table_add(tb, "%lld", (long long)o->offset);
    }
}

static void describe_text(struct ctl *ctl, const char *name,
                          const struct kproto_metadata_response_metadata_response_topic *t,
                          const struct topic_extra *x, bool all_configs)
{
    FILE *out = ctl->out;
    char buf[256];
    int32_t rf = t->Partitions_count > 0 ? t->Partitions[0].ReplicaNodes_count : 0;
    ctl_kv(out, 11, "Topic", "%s", name);
    const char *id = topic_id(&t->TopicId, buf, sizeof(buf));
    ctl_kv(out, 11, "Id", "%s", id ? id : "-");
    ctl_kv(out, 11, "Partitions", "%d", t->Partitions_count);
    ctl_kv(out, 11, "Replicas", "%d", rf);
    ctl_kv(out, 11, "Internal", "%s", t->IsInternal ? "yes" : "no");
    if (x->sizes_known) {
        int64_t total = 0;
        for (int32_t i = 0; i < t->Partitions_count; i++) {
            total += x->sizes[i] > 0 ? x->sizes[i] : 0;
        }
        ctl_kv(out, 11, "Size", "%s", ctl_fmt_bytes(total, buf, sizeof(buf)));
    }
    fputc('\n', out);
    struct ctl_table tb;
    ctl_table_init(&tb, 8, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "EARLIEST", "LATEST",
                   "SIZE");
    for (int32_t i = 0; i < t->Partitions_count; i++) {
        const struct kproto_metadata_response_metadata_response_partition *p = &t->Partitions[i];
        ctl_table_add(&tb, "%d", p->PartitionIndex);
        if (p->ErrorCode != 0) {
            ctl_table_add(&tb, "%s", kerr_name(p->ErrorCode));
        } else if (p->LeaderId < 0) {
            ctl_table_add(&tb, "none");
        } else {
            ctl_table_add(&tb, "%d", p->LeaderId);
        }
        ctl_table_add(&tb, "%d", p->LeaderEpoch);
        join_nodes(buf, sizeof(buf), p->ReplicaNodes, p->ReplicaNodes_count);
        ctl_table_add(&tb, "%s", buf);
        join_nodes(buf, sizeof(buf), p->IsrNodes, p->IsrNodes_count);
        ctl_table_add(&tb, "%s", buf);
        offset_cell(&tb, &x->earliest[i]);
        offset_cell(&tb, &x->latest[i]);
        ctl_table_add(&tb, "%s",
                      ctl_fmt_bytes(x->sizes_known ? x->sizes[i] : -1, buf, sizeof(buf)));
    }
    ctl_table_print(&tb, out);
    ctl_table_fini(&tb);
    fputc('\n', out);
    if (!x->configs_known) {
        fprintf(out, "CONFIGS: not known (the broker does not answer DescribeConfigs)\n");
        return;
    }
    size_t shown = 0;
    ctl_table_init(&tb, all_configs ? 3 : 2, "NAME", "VALUE", "SOURCE");
    for (size_t i = 0; i < x->configs_count; i++) {
        const struct spc_config_value *v = &x->configs[i];
        if (!all_configs && !config_is_own(v)) {
            continue;
        }
        ctl_table_add(&tb, "%s", v->name);
        ctl_table_add(&tb, "%s", v->sensitive ? "(sensitive)" : v->value ? v->value : "(null)");
        if (all_configs) {
            ctl_table_add(&tb, "%s", config_source_name(v->source));
        }
        shown++;
    }
    fprintf(out, all_configs ? "CONFIGS\n" : "CONFIGS (set on the topic)\n");
    if (shown) {
        ctl_table_print(&tb, out);
    } else {
        fprintf(out, "none\n");
    }
    ctl_table_fini(&tb);
}

static int topic_describe(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all-configs", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "topic describe", .help = describe_help, .shortopts = "a", .longopts = opts};
    bool all_configs = false;
    if (!ctl_getopt_flag(ctl, &p, argc, argv, 'a', &all_configs)) {
        return p.exit;
    }
    int rc = ctl_operands(&p, argc, 1, 1000);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t n = (size_t)(argc - optind);
    const char *const *names = (const char *const *)&argv[optind];
    struct spc_call call;
    const struct kproto_metadata_response *md;
    rc = ctl_metadata(ctl, names, n, &call, &md);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    struct ctl_json j;
    if (ctl->json) {
        ctl_json_begin(&j, ctl->out, true);
        if (n > 1) {
            ctl_json_array(&j);
        }
    }
    int worst = CTL_EXIT_OK;
    size_t printed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct kproto_metadata_response_metadata_response_topic *t = NULL;
        for (int32_t k = 0; k < md->Topics_count; k++) {
            const struct sp_str *s = &md->Topics[k].Name;
            if ((size_t)s->len == strlen(names[i]) && memcmp(s->ptr, names[i], s->len) == 0) {
                t = &md->Topics[k];
            }
        }
        int16_t code = t ? t->ErrorCode : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        if (code != 0) {
            struct spc_error err = {0};
            spc_error_set(&err, code, call.broker, "topic \"%s\"", names[i]);
            worst = SP_MAX(worst, ctl_item_fail(&err));
            continue;
        }
        struct sp_arena a;
        sp_arena_init(&a, NULL, 0, 64u << 20);
        struct topic_extra x;
        rc = describe_gather(ctl, names[i], t, &a, &x);
        if (rc == CTL_EXIT_OK) {
            if (ctl->json) {
                describe_json(&j, names[i], t, &x, all_configs);
            } else {
                if (printed++) {
                    fputc('\n', ctl->out);
                }
                describe_text(ctl, names[i], t, &x, all_configs);
            }
        }
        worst = SP_MAX(worst, rc);
        topic_extra_free(&x);
        sp_arena_destroy(&a);
    }
    if (ctl->json) {
        if (n > 1) {
            ctl_json_close(&j);
            ctl_json_end(&j);
        } else if (worst == CTL_EXIT_OK) {
            ctl_json_end(&j);
        }
    }
    spc_call_release(&call);
    return worst;
}

/* ---- add-partitions ---------------------------------------------------------- */

static const char add_partitions_help[] =
    "Usage: spindlectl topic add-partitions NAME (-n N | --total N) [options]\n"
    "\n"
    "Grows a topic (CreatePartitions). Keys map to other partitions afterwards.\n"
    "\n"
    "Options:\n"
    "  -n, --num N       add N partitions\n"
    "      --total N     grow to N partitions in all\n"
    "      --dry-run     validate only\n"
    "\n"
    "Example:\n"
    "  spindlectl topic add-partitions orders -n 3\n";

static int topic_add_partitions(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"num", required_argument, NULL, 'n'},
        {"total", required_argument, NULL, OPT_TOTAL},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"validate-only", no_argument, NULL, OPT_DRY_RUN},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {.name = "topic add-partitions",
                           .help = add_partitions_help,
                           .shortopts = "n:",
                           .longopts = opts};
    int32_t add = -1, total = -1;
    bool dry_run = false;
    int rc = CTL_EXIT_OK;
    bool stop = false;
    for (int c;
         !stop && rc == CTL_EXIT_OK && (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
        if (c == CTL_OPT_STOP) {
            rc = p.exit;
            stop = true;
        } else if (c == 'n') {
            rc = ctl_opt_i32(&p, "--num", optarg, 1, 1000000, &add);
        } else if (c == OPT_TOTAL) {
            rc = ctl_opt_i32(&p, "--total", optarg, 1, 1000000, &total);
        } else if (c == OPT_DRY_RUN) {
            dry_run = true;
        }
    }
    if (stop) {
        return rc;
    }
    if (rc == CTL_EXIT_OK) {
        rc = ctl_operands(&p, argc, 1, 1);
    }
    if (rc == CTL_EXIT_OK && (add < 0) == (total < 0)) {
        rc = ctl_usage_error(p.name, "give one of --num and --total");
    }
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    const char *name = argv[optind];
    struct spc_call call;
    const struct kproto_metadata_response *md;
    rc = ctl_metadata(ctl, &name, 1, &call, &md);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    int16_t code =
        md->Topics_count == 1 ? md->Topics[0].ErrorCode : KERR_UNKNOWN_TOPIC_OR_PARTITION;
    int32_t before = code == 0 ? md->Topics[0].Partitions_count : 0;
    struct spc_error err = {0};
    if (code != 0) {
        spc_error_set(&err, code, call.broker, "topic \"%s\"", name);
        spc_call_release(&call);
        return ctl_item_fail(&err);
    }
    spc_call_release(&call);
    if (total < 0) {
        total = before + add;
    }
    struct spc_item_result res = {0};
    int r = spc_admin_create_partitions(ctl->client, name, total, dry_run, ctl_remaining_ms(ctl),
                                        &res, &err);
    if (r < 0) {
        return ctl_fail(r, &err);
    }
    if (ctl->json) {
        struct ctl_json j;
        ctl_json_begin(&j, ctl->out, true);
        ctl_json_object(&j);
        ctl_json_kstr(&j, "topic", name);
        ctl_json_kint(&j, "before", before);
        ctl_json_kint(&j, "after", res.err.code == 0 ? total : before);
        ctl_json_kbool(&j, "dry_run", dry_run);
        ctl_json_kerror(&j, "error", &res.err);
        ctl_json_close(&j);
        ctl_json_end(&j);
    } else if (res.err.code == 0) {
        fprintf(ctl->out, "%stopic \"%s\": %d -> %d partitions\n", dry_run ? "(dry run) " : "",
                name, before, total);
    }
    return ctl_item_fail(&res.err);
}

/* ---- alter-config ---------------------------------------------------------------- */

static const char alter_config_help[] =
    "Usage: spindlectl topic alter-config NAME [--set NAME=VALUE]... [--delete NAME]...\n"
    "\n"
    "Changes a topic's configs (IncrementalAlterConfigs): --set sets a value,\n"
    "--delete goes back to the default, --append and --subtract add to or\n"
    "remove from a list config (cleanup.policy, ...). Same as\n"
    "`spindlectl configs set topic NAME ...`.\n"
    "\n"
    "Options:\n"
    "  -s, --set NAME=VALUE\n"
    "  -d, --delete NAME\n"
    "      --append NAME=VALUE\n"
    "      --subtract NAME=VALUE\n"
    "      --dry-run            validate only\n"
    "\n"
    "Example:\n"
    "  spindlectl topic alter-config orders --set retention.ms=3600000 --delete segment.bytes\n";

static int topic_alter_config(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'},
        {"delete", required_argument, NULL, 'd'},
        {"append", required_argument, NULL, OPT_APPEND},
        {"subtract", required_argument, NULL, OPT_SUBTRACT},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"validate-only", no_argument, NULL, OPT_DRY_RUN},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {.name = "topic alter-config",
                           .help = alter_config_help,
                           .shortopts = "s:d:",
                           .longopts = opts};
    struct spc_config_change *changes = ctl_xmalloc((size_t)argc * sizeof(*changes));
    size_t n = 0;
    bool dry_run = false;
    int rc = CTL_EXIT_OK;
    bool stop = false;
    for (int c;
         !stop && rc == CTL_EXIT_OK && (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
        struct spc_config_change *ch = &changes[n];
        switch (c) {
        case CTL_OPT_STOP:
            rc = p.exit;
            stop = true;
            break;
        case 's':
        case OPT_APPEND:
        case OPT_SUBTRACT:
            if (ctl_split_kv(optarg, &ch->name, &ch->value) != 0) {
                rc = ctl_usage_error(p.name, "expected NAME=VALUE, got '%s'", optarg);
                break;
            }
            ch->op = c == 's'          ? SPC_CONFIG_SET
                     : c == OPT_APPEND ? SPC_CONFIG_APPEND
                                       : SPC_CONFIG_SUBTRACT;
            n++;
            break;
        case 'd':
            ch->name = optarg;
            ch->value = NULL;
            ch->op = SPC_CONFIG_DELETE;
            n++;
            break;
        case OPT_DRY_RUN:
            dry_run = true;
            break;
        default:
            break;
        }
    }
    if (stop) {
        free(changes);
        return rc;
    }
    if (rc == CTL_EXIT_OK) {
        rc = ctl_operands(&p, argc, 1, 1);
    }
    if (rc == CTL_EXIT_OK && n == 0) {
        rc = ctl_usage_error(p.name, "nothing to change: give --set or --delete");
    }
    if (rc == CTL_EXIT_OK) {
        rc = ctl_connect(ctl);
    }
    if (rc == CTL_EXIT_OK) {
        const char *name = argv[optind];
        struct spc_item_result res = {0};
        struct spc_error err = {0};
        int r = spc_admin_alter_configs(ctl->client, SPC_RESOURCE_TOPIC, name, changes, n, dry_run,
                                        ctl_remaining_ms(ctl), &res, &err);
        if (r < 0) {
            rc = ctl_fail(r, &err);
        } else {
            rc = report_items(ctl,
                              dry_run ? "(dry run) would alter configs of" : "altered configs of",
                              &name, &res, 1, 0, NULL);
        }
    }
    free(changes);
    return rc;
}

int ctl_topic_main(struct ctl *ctl, int argc, char **argv)
{
    static const struct ctl_cmd cmds[] = {
        {"create", topic_create},
        {"list", topic_list},
        {"ls", topic_list},
        {"describe", topic_describe},
        {"delete", topic_delete},
        {"add-partitions", topic_add_partitions},
        {"alter-config", topic_alter_config},
    };
    return ctl_dispatch(ctl, "topic", topic_help, cmds, SP_ARRAY_LEN(cmds), argc, argv);
}
