/*
 * tools/ctl_configs.c: `spindlectl configs describe|set|delete` for topics
 * and brokers (DescribeConfigs, IncrementalAlterConfigs).
 *
 * The resource is named by two operands, `topic NAME` or `broker ID`
 * (`broker default`: the cluster-wide default broker configs).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl.h"

static const char configs_help[] =
    "Usage: spindlectl configs SUBCOMMAND (topic NAME | broker ID) [options]\n"
    "\n"
    "Subcommands:\n"
    "  describe RESOURCE [CONFIG...]     configs with their values and sources\n"
    "  set RESOURCE NAME=VALUE...        set configs\n"
    "  delete RESOURCE NAME...           delete configs (back to their defaults)\n"
    "\n"
    "RESOURCE is `topic NAME`, `broker ID` or `broker default` (the cluster-wide\n"
    "default of every broker).\n"
    "\n"
    "Example:\n"
    "  spindlectl configs describe topic greetings --changed\n"
    "  spindlectl configs set topic greetings retention.ms=86400000\n";

/* The resource operands at argv[optind], argv[optind + 1]; advances optind. */
static int parse_resource(const struct ctl_parser *p, int argc, char **argv, int8_t *type,
                          const char **name)
{
    if (argc - optind < 2) {
        return ctl_usage_error(p->name, "expected a resource: topic NAME or broker ID");
    }
    const char *kind = argv[optind], *id = argv[optind + 1];
    if (strcmp(kind, "topic") == 0 || strcmp(kind, "topics") == 0) {
        *type = SPC_RESOURCE_TOPIC;
        *name = id;
    } else if (strcmp(kind, "broker") == 0 || strcmp(kind, "brokers") == 0) {
        int32_t node;
        *type = SPC_RESOURCE_BROKER;
        if (strcmp(id, "default") == 0) {
            *name = "";
        } else if (ctl_opt_i32(p, "broker", id, 0, INT32_MAX, &node) != CTL_EXIT_OK) {
            return CTL_EXIT_USAGE;
        } else {
            *name = id;
        }
    } else {
        return ctl_usage_error(p->name, "unknown resource type '%s' (topic or broker)", kind);
    }
    optind += 2;
    return CTL_EXIT_OK;
}

static const char *resource_kind(int8_t type)
{
    return type == SPC_RESOURCE_TOPIC ? "topic" : "broker";
}

static const char *source_name(int8_t source)
{
    static const char *const names[] = {
        "UNKNOWN",       "TOPIC",   "DYNAMIC_BROKER",       "DYNAMIC_DEFAULT_BROKER",
        "STATIC_BROKER", "DEFAULT", "DYNAMIC_BROKER_LOGGER"};
    return source >= 0 && (size_t)source < SP_ARRAY_LEN(names) ? names[source] : "UNKNOWN";
}

/* Set on the resource itself (or on every broker), not a default or a static file value. */
static bool config_changed(int8_t type, const struct spc_config_value *v)
{
    if (v->source == 0) {
        return !v->is_default;
    }
    return type == SPC_RESOURCE_TOPIC ? v->source == 1 : (v->source == 2 || v->source == 3);
}

/* ---- describe -------------------------------------------------------------------- */

static const char describe_help[] =
    "Usage: spindlectl configs describe (topic NAME | broker ID) [CONFIG...] [options]\n"
    "\n"
    "Shows a topic's or a broker's configs (every one, or the CONFIGs named):\n"
    "name, value, and where the value comes from (TOPIC, DYNAMIC_BROKER,\n"
    "STATIC_BROKER, DEFAULT, ...). Sensitive values are not shown.\n"
    "\n"
    "Options:\n"
    "  -c, --changed    only configs set on the resource (not defaults)\n"
    "\n"
    "Example:\n"
    "  spindlectl configs describe topic greetings\n"
    "  spindlectl configs describe broker 1 log.retention.hours --json\n";

static void describe_print(struct ctl *ctl, int8_t type, const char *name,
                           const struct spc_config_value *v, size_t n, bool changed)
{
    if (ctl->json) {
        struct ctl_json j;
        ctl_json_begin(&j, ctl->out, true);
        ctl_json_object(&j);
        ctl_json_kstr(&j, "resource", resource_kind(type));
        ctl_json_kstr(&j, "name", name);
        ctl_json_key(&j, "configs");
        ctl_json_array(&j);
        for (size_t i = 0; i < n; i++) {
            if (changed && !config_changed(type, &v[i])) {
                continue;
            }
            ctl_json_object(&j);
            ctl_json_kstr(&j, "name", v[i].name);
            ctl_json_kstr(&j, "value", v[i].sensitive ? NULL : v[i].value);
            ctl_json_kstr(&j, "source", source_name(v[i].source));
            ctl_json_kbool(&j, "default", v[i].is_default);
            ctl_json_kbool(&j, "read_only", v[i].read_only);
            ctl_json_kbool(&j, "sensitive", v[i].sensitive);
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
        ctl_json_close(&j);
        ctl_json_end(&j);
        return;
    }
    struct ctl_table t;
    ctl_table_init(&t, 3, "NAME", "VALUE", "SOURCE");
    for (size_t i = 0; i < n; i++) {
        if (changed && !config_changed(type, &v[i])) {
            continue;
        }
        ctl_table_add(&t, "%s", v[i].name);
        ctl_table_add(&t, "%s",
                      v[i].sensitive ? "(sensitive)"
                      : v[i].value   ? v[i].value
                                     : "(null)");
        ctl_table_add(&t, "%s%s", source_name(v[i].source), v[i].read_only ? " (read-only)" : "");
    }
    ctl_table_print(&t, ctl->out);
    ctl_table_fini(&t);
}

static int configs_describe(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"changed", no_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "configs describe", .help = describe_help, .shortopts = "c", .longopts = opts};
    bool changed = false;
    if (!ctl_getopt_flag(ctl, &p, argc, argv, 'c', &changed)) {
        return p.exit;
    }
    int8_t type = 0;
    const char *name = NULL;
    int rc = parse_resource(&p, argc, argv, &type, &name);
    if (rc == CTL_EXIT_OK) {
        rc = ctl_connect(ctl);
    }
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    const char *const *names = (const char *const *)&argv[optind];
    size_t names_count = (size_t)(argc - optind);
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 64u << 20);
    struct spc_config_value *v = NULL;
    size_t n = 0;
    struct spc_error err = {0};
    int r = spc_admin_describe_configs(ctl->client, type, name, names_count ? names : NULL,
                                       names_count, ctl_remaining_ms(ctl), &a, &v, &n, &err);
    if (r < 0) {
        rc = ctl_fail(r, &err);
    } else {
        describe_print(ctl, type, name, v, n, changed);
    }
    sp_arena_destroy(&a);
    return rc;
}

/* ---- set / delete ---------------------------------------------------------------- */

static const char set_help[] =
    "Usage: spindlectl configs set (topic NAME | broker ID) NAME=VALUE... [options]\n"
    "\n"
    "Sets configs of a topic or a broker (IncrementalAlterConfigs); configs not\n"
    "named keep their values.\n"
    "\n"
    "Options:\n"
    "      --dry-run    validate only\n"
    "\n"
    "Example:\n"
    "  spindlectl configs set topic greetings retention.ms=86400000 cleanup.policy=compact\n"
    "  spindlectl configs set broker 1 log.retention.ms=604800000\n";

static const char delete_help[] =
    "Usage: spindlectl configs delete (topic NAME | broker ID) NAME... [options]\n"
    "\n"
    "Deletes configs of a topic or a broker, which go back to their defaults.\n"
    "\n"
    "Options:\n"
    "      --dry-run    validate only\n"
    "\n"
    "Example:\n"
    "  spindlectl configs delete topic greetings retention.ms\n";

enum { OPT_DRY_RUN = 0x100 };

static int configs_alter(struct ctl *ctl, int argc, char **argv, bool set)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"validate-only", no_argument, NULL, OPT_DRY_RUN},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {.name = set ? "configs set" : "configs delete",
                           .help = set ? set_help : delete_help,
                           .longopts = opts};
    bool dry_run = false;
    if (!ctl_getopt_flag(ctl, &p, argc, argv, OPT_DRY_RUN, &dry_run)) {
        return p.exit;
    }
    int8_t type = 0;
    const char *name = NULL;
    int rc = parse_resource(&p, argc, argv, &type, &name);
    if (rc == CTL_EXIT_OK) {
        rc = ctl_operands(&p, argc, 1, 10000);
    }
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t n = (size_t)(argc - optind);
    struct spc_config_change *changes = ctl_xmalloc(n * sizeof(*changes));
    for (size_t i = 0; i < n && rc == CTL_EXIT_OK; i++) {
        char *arg = argv[optind + (int)i];
        changes[i].op = set ? SPC_CONFIG_SET : SPC_CONFIG_DELETE;
        changes[i].name = arg;
        changes[i].value = NULL;
        if (set && ctl_split_kv(arg, &changes[i].name, &changes[i].value) != 0) {
            rc = ctl_usage_error(p.name, "expected NAME=VALUE, got '%s'", arg);
        }
        if (!set && strchr(arg, '=')) {
            rc = ctl_usage_error(p.name, "expected a config NAME, got '%s'", arg);
        }
    }
    if (rc == CTL_EXIT_OK) {
        rc = ctl_connect(ctl);
    }
    struct spc_item_result res = {0};
    struct spc_error err = {0};
    if (rc == CTL_EXIT_OK) {
        int r = spc_admin_alter_configs(ctl->client, type, name, changes, n, dry_run,
                                        ctl_remaining_ms(ctl), &res, &err);
        rc = r < 0 ? ctl_fail(r, &err) : ctl_item_fail(&res.err);
        if (r == 0 && ctl->json) {
            struct ctl_json j;
            ctl_json_begin(&j, ctl->out, true);
            ctl_json_object(&j);
            ctl_json_kstr(&j, "resource", resource_kind(type));
            ctl_json_kstr(&j, "name", name);
            ctl_json_kbool(&j, "dry_run", dry_run);
            ctl_json_kerror(&j, "error", &res.err);
            ctl_json_close(&j);
            ctl_json_end(&j);
        } else if (r == 0 && res.err.code == 0) {
            fprintf(ctl->out, "%s%s %zu config%s of %s \"%s\"\n", dry_run ? "(dry run) " : "",
                    set ? "set" : "deleted", n, n == 1 ? "" : "s", resource_kind(type),
                    name[0] ? name : "default");
        }
    }
    free(changes);
    return rc;
}

static int configs_set(struct ctl *ctl, int argc, char **argv)
{
    return configs_alter(ctl, argc, argv, true);
}

static int configs_delete(struct ctl *ctl, int argc, char **argv)
{
    return configs_alter(ctl, argc, argv, false);
}

int ctl_configs_main(struct ctl *ctl, int argc, char **argv)
{
    static const struct ctl_cmd cmds[] = {
        {"describe", configs_describe},
        {"set", configs_set},
        {"delete", configs_delete},
    };
    return ctl_dispatch(ctl, "configs", configs_help, cmds, SP_ARRAY_LEN(cmds), argc, argv);
}
