/*
 * tools/ctl_group.c: `spindlectl group list|describe|delete|reset-offsets`,
 * Kafka's kafka-consumer-groups.sh on the client core's admin calls.
 *
 *   list           ListGroups of every broker
 *   describe G     DescribeGroups (members, assignments), OffsetFetch
 *                  (committed), ListOffsets (log end): lag per partition
 *   delete G...    DeleteGroups
 *   reset-offsets  DescribeGroups (must be empty), Metadata, OffsetFetch and
 *                  ListOffsets: a plan, committed only with --execute
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/kerr.h"
#include "tools/ctl.h"

static const char group_help[] =
    "Usage: spindlectl group COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                    the consumer groups of the cluster\n"
    "  describe GROUP          members, assignments, committed offsets and lag\n"
    "  delete GROUP...         delete groups (they must have no members)\n"
    "  reset-offsets GROUP     move a group's committed offsets (dry run unless\n"
    "                          --execute)\n"
    "\n"
    "Examples:\n"
    "  spindlectl group list\n"
    "  spindlectl group describe billing\n"
    "  spindlectl group reset-offsets billing --topic orders --to-earliest --execute\n";

static const char list_help[] = "Usage: spindlectl group list [options]\n"
                                "\n"
                                "Lists every group the brokers know: its state, its protocol type\n"
                                "(\"consumer\" for Kafka consumers) and its coordinator.\n"
                                "\n"
                                "Example:\n"
                                "  spindlectl group list\n"
                                "  spindlectl group list --json\n";

static const char describe_help[] =
    "Usage: spindlectl group describe GROUP [options]\n"
    "\n"
    "Shows the group's state, its members (member id, client id, host,\n"
    "assigned partitions) and, for each partition it has committed offsets for\n"
    "or is assigned, the committed offset, the log end offset and the lag\n"
    "between them. A group that does not exist fails with GROUP_ID_NOT_FOUND.\n"
    "\n"
    "Options:\n"
    "      --members           only the members\n"
    "      --offsets           only the offsets\n"
    "\n"
    "Example:\n"
    "  spindlectl group describe billing\n"
    "  spindlectl group describe billing --json | jq '.total_lag'\n";

static const char delete_help[] = "Usage: spindlectl group delete GROUP... [options]\n"
                                  "\n"
                                  "Deletes the groups and their committed offsets. A group with\n"
                                  "members fails with NON_EMPTY_GROUP.\n"
                                  "\n"
                                  "Example:\n"
                                  "  spindlectl group delete billing old-billing\n";

static const char reset_help[] =
    "Usage: spindlectl group reset-offsets GROUP --topic TOPIC [options] TARGET\n"
    "\n"
    "Computes new committed offsets for GROUP on TOPIC's partitions and shows\n"
    "the plan; --execute commits it. The group must have no members (stop its\n"
    "consumers first). New offsets are kept within each partition's log.\n"
    "\n"
    "Target (one of):\n"
    "      --to-earliest        the oldest offset of each partition\n"
    "      --to-latest          the log end (skip everything there now)\n"
    "      --to-offset N        offset N\n"
    "      --to-datetime TIME   the first record at or after TIME (ms since the\n"
    "                           epoch, ISO 8601, or relative: -1h); the log end\n"
    "                           when there is none\n"
    "      --shift-by N         the committed offset plus N (may be negative);\n"
    "                           from the log end where nothing is committed\n"
    "\n"
    "Options:\n"
    "  -t, --topic TOPIC        the topic (repeat for several)\n"
    "  -p, --partition P        only partition P (repeat, or P1,P2; one topic)\n"
    "      --execute            commit the plan (default: dry run, nothing changes)\n"
    "\n"
    "Examples:\n"
    "  spindlectl group reset-offsets billing --topic orders --to-earliest\n"
    "  spindlectl group reset-offsets billing --topic orders --to-datetime -1h --execute\n"
    "  spindlectl group reset-offsets billing -t orders -p 0 --shift-by -10 --execute\n";

/* A parser's answer for "--help was printed: exit 0 without running". */
#define CTL_PARSE_DONE (-1)

#define GROUP_TOPICS_MAX 1024
#define GROUP_PARTS_MAX  65536

/* ---- helpers ------------------------------------------------------------------ */

static int cstr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Describes group into d; a group that does not exist is GROUP_ID_NOT_FOUND. */
static int describe(struct ctl *ctl, const char *group, struct sp_arena *a,
                    struct spc_group_description *d)
{
    struct spc_error err = {0};
    int rc = spc_admin_describe_group(ctl->client, group, ctl_remaining_ms(ctl), a, d, &err);
    if (rc < 0) {
        return ctl_fail(rc, &err);
    }
    if (d->err.code == 0 && d->state != NULL && strcmp(d->state, "Dead") == 0) {
        /* Kafka answers Dead (no error) for a group it does not know. */
        d->err.code = KERR_GROUP_ID_NOT_FOUND;
        snprintf(d->err.message, sizeof(d->err.message), "group \"%s\": GROUP_ID_NOT_FOUND", group);
    }
    if (d->err.code != 0) {
        if (strstr(d->err.message, "group \"") == NULL) {
            ctl_errorf("group \"%s\": %s", group, ctl_code_name(d->err.code));
            return CTL_EXIT_ERROR;
        }
        return ctl_item_fail(&d->err);
    }
    return 0;
}

/* ---- list ------------------------------------------------------------------------ */

static int listing_cmp(const void *a, const void *b)
{
    return strcmp(((const struct spc_group_listing *)a)->group_id,
                  ((const struct spc_group_listing *)b)->group_id);
}

static int group_list(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_parser p = {.name = "group list", .help = list_help};
    if (!ctl_getopt_flag(ctl, &p, argc, argv, 0, NULL)) {
        return p.exit;
    }
    int rc = ctl_operands(&p, argc, 0, 0);
    if (rc == 0) {
        rc = ctl_connect(ctl);
    }
    if (rc != 0) {
        return rc;
    }
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 256u << 20);
    struct spc_group_listing *v = NULL;
    size_t n = 0;
    struct spc_error err = {0};
    int e = spc_admin_list_groups(ctl->client, ctl_remaining_ms(ctl), &a, &v, &n, &err);
    if (e < 0) {
        sp_arena_destroy(&a);
        return ctl_fail(e, &err);
    }
    if (n > 0) {
        qsort(v, n, sizeof(*v), listing_cmp);
    }
    if (ctl->json) {
        struct ctl_json j;
        ctl_json_begin(&j, ctl->out, true);
        ctl_json_object(&j);
        ctl_json_key(&j, "groups");
        ctl_json_array(&j);
        for (size_t i = 0; i < n; i++) {
            ctl_json_object(&j);
            ctl_json_kstr(&j, "group", v[i].group_id);
            ctl_json_kstr(&j, "state", v[i].state);
            ctl_json_kstr(&j, "protocol_type", v[i].protocol_type);
            ctl_json_kint(&j, "coordinator", v[i].coordinator);
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
        ctl_json_close(&j);
        ctl_json_end(&j);
    } else {
        struct ctl_table t;
        ctl_table_init(&t, 4, "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR");
        for (size_t i = 0; i < n; i++) {
            ctl_table_add(&t, "%s", v[i].group_id);
            ctl_table_add(&t, "%s", v[i].state && v[i].state[0] ? v[i].state : "-");
            ctl_table_add(&t, "%s",
                          v[i].protocol_type && v[i].protocol_type[0] ? v[i].protocol_type : "-");
            ctl_table_add(&t, "%d", (int)v[i].coordinator);
        }
        ctl_table_print(&t, ctl->out);
        ctl_table_fini(&t);
    }
    sp_arena_destroy(&a);
    return CTL_EXIT_OK;
}

/* ---- describe ---------------------------------------------------------------------- */

/* One partition row of describe. */
struct lag_row {
    const char *topic;
    int32_t partition;
    int64_t committed;  /* -1: none */
    int64_t log_end;    /* -1: unknown */
    const char *member; /* the member it is assigned to, or NULL */
    const char *client_id, *host;
};

static int lag_row_cmp(const void *a, const void *b)
{
    const struct lag_row *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c != 0 ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

struct lag_rows {
    struct lag_row *v;
    size_t n, cap;
};

static struct lag_row *rows_get(struct lag_rows *r, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < r->n; i++) { /* rows are few (a group's partitions) */
        if (r->v[i].partition == partition && strcmp(r->v[i].topic, topic) == 0) {
            return &r->v[i];
        }
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = ctl_xrealloc(r->v, r->cap * sizeof(*r->v));
    }
    struct lag_row *row = &r->v[r->n++];
    *row = (struct lag_row){.topic = topic, .partition = partition, .committed = -1, .log_end = -1};
    return row;
}

/* Fills log_end of every row: one ListOffsets per topic (rows sorted by topic). */
static int rows_log_end(struct ctl *ctl, struct lag_rows *r)
{
    for (size_t i = 0; i < r->n;) {
        size_t j = i;
        while (j < r->n && strcmp(r->v[j].topic, r->v[i].topic) == 0) {
            j++;
        }
        size_t n = j - i;
        int32_t *parts = ctl_xmalloc(n * sizeof(*parts));
        struct spc_offset *out = ctl_xmalloc(n * sizeof(*out));
        for (size_t k = 0; k < n; k++) {
            parts[k] = r->v[i + k].partition;
        }
        struct spc_error err = {0};
        int rc = spc_admin_list_offsets(ctl->client, r->v[i].topic, parts, n, SPC_TS_LATEST,
                                        ctl_remaining_ms(ctl), out, &err);
        for (size_t k = 0; rc == 0 && k < n; k++) {
            r->v[i + k].log_end = out[k].err.code == 0 ? out[k].offset : -1;
        }
        free(parts);
        free(out);
        if (rc < 0) {
            return ctl_fail(rc, &err);
        }
        i = j;
    }
    return 0;
}

static void describe_json(struct ctl *ctl, const struct spc_group_description *d,
                          const struct lag_rows *r, bool members, bool offsets)
{
    struct ctl_json j;
    ctl_json_begin(&j, ctl->out, true);
    ctl_json_object(&j);
    ctl_json_kstr(&j, "group", d->group_id);
    ctl_json_kstr(&j, "state", d->state);
    ctl_json_kstr(&j, "protocol_type", d->protocol_type);
    ctl_json_kstr(&j, "protocol", d->protocol);
    ctl_json_kint(&j, "coordinator", d->coordinator);
    if (members) {
        ctl_json_key(&j, "members");
        ctl_json_array(&j);
        for (size_t i = 0; i < d->members_count; i++) {
            const struct spc_group_member *m = &d->members[i];
            ctl_json_object(&j);
            ctl_json_kstr(&j, "member_id", m->member_id);
            ctl_json_kstr(&j, "group_instance_id", m->group_instance_id);
            ctl_json_kstr(&j, "client_id", m->client_id);
            ctl_json_kstr(&j, "client_host", m->client_host);
            ctl_json_key(&j, "assignment");
            ctl_json_array(&j);
            for (size_t k = 0; k < m->assignment_count; k++) {
                ctl_json_object(&j);
                ctl_json_kstr(&j, "topic", m->assignment[k].topic);
                ctl_json_key(&j, "partitions");
                ctl_json_array(&j);
                for (size_t q = 0; q < m->assignment[k].count; q++) {
                    ctl_json_int(&j, m->assignment[k].partitions[q]);
                }
                ctl_json_close(&j);
                ctl_json_close(&j);
            }
            ctl_json_close(&j);
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
    }
    if (offsets) {
        int64_t total = 0;
        ctl_json_key(&j, "offsets");
        ctl_json_array(&j);
        for (size_t i = 0; i < r->n; i++) {
            const struct lag_row *row = &r->v[i];
            ctl_json_object(&j);
            ctl_json_kstr(&j, "topic", row->topic);
            ctl_json_kint(&j, "partition", row->partition);
            ctl_json_key(&j, "committed");
            row->committed >= 0 ? ctl_json_int(&j, row->committed) : ctl_json_null(&j);
            ctl_json_key(&j, "log_end");
            row->log_end >= 0 ? ctl_json_int(&j, row->log_end) : ctl_json_null(&j);
            ctl_json_key(&j, "lag");
            if (row->committed >= 0 && row->log_end >= 0) {
                int64_t lag = SP_MAX(row->log_end - row->committed, 0);
                total += lag;
                ctl_json_int(&j, lag);
            } else {
                ctl_json_null(&j);
            }
            ctl_json_kstr(&j, "member_id", row->member);
            ctl_json_kstr(&j, "client_id", row->client_id);
            ctl_json_kstr(&j, "client_host", row->host);
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
        ctl_json_kint(&j, "total_lag", total);
    }
    ctl_json_close(&j);
    ctl_json_end(&j);
}

static void describe_text(struct ctl *ctl, const struct spc_group_description *d,
                          const struct lag_rows *r, bool members, bool offsets)
{
    FILE *out = ctl->out;
    ctl_kv(out, 12, "group", "%s", d->group_id);
    ctl_kv(out, 12, "state", "%s", d->state && d->state[0] ? d->state : "-");
    ctl_kv(out, 12, "protocol", "%s%s%s",
           d->protocol_type && d->protocol_type[0] ? d->protocol_type : "-",
           d->protocol && d->protocol[0] ? " / " : "", d->protocol ? d->protocol : "");
    ctl_kv(out, 12, "coordinator", "%d", (int)d->coordinator);
    ctl_kv(out, 12, "members", "%zu", d->members_count);
    if (members && d->members_count > 0) {
        fputc('\n', out);
        struct ctl_table t;
        ctl_table_init(&t, 5, "MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT");
        for (size_t i = 0; i < d->members_count; i++) {
            const struct spc_group_member *m = &d->members[i];
            ctl_table_add(&t, "%s", m->member_id);
            ctl_table_add(&t, "%s", m->group_instance_id ? m->group_instance_id : "-");
            ctl_table_add(&t, "%s", m->client_id && m->client_id[0] ? m->client_id : "-");
            ctl_table_add(&t, "%s", m->client_host && m->client_host[0] ? m->client_host : "-");
            /* "orders:0,1 payments:2" */
            size_t cap = 64, len = 0;
            char *s = ctl_xmalloc(cap);
            s[0] = '\0';
            for (size_t k = 0; k < m->assignment_count; k++) {
                const struct spc_topic_partitions *a = &m->assignment[k];
                for (size_t q = 0; q <= a->count; q++) {
                    char piece[300];
                    int n = q == 0 ? snprintf(piece, sizeof(piece), "%s%s:", k ? " " : "", a->topic)
                                   : snprintf(piece, sizeof(piece), "%s%d", q > 1 ? "," : "",
                                              (int)a->partitions[q - 1]);
                    if (n < 0) {
                        continue;
                    }
                    while (len + (size_t)n + 1 > cap) {
                        cap *= 2;
                        s = ctl_xrealloc(s, cap);
                    }
                    memcpy(s + len, piece, (size_t)n + 1);
                    len += (size_t)n;
                }
            }
            ctl_table_add(&t, "%s", len ? s : "-");
            free(s);
        }
        ctl_table_print(&t, out);
        ctl_table_fini(&t);
    }
    if (offsets) {
        fputc('\n', out);
        int64_t total = 0;
        struct ctl_table t;
        ctl_table_init(&t, 6, "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID");
        for (size_t i = 0; i < r->n; i++) {
            const struct lag_row *row = &r->v[i];
            ctl_table_add(&t, "%s", row->topic);
            ctl_table_add(&t, "%d", (int)row->partition);
            if (row->committed >= 0) {
                ctl_table_add(&t, "%lld", (long long)row->committed);
            } else {
                ctl_table_add(&t, "-");
            }
            if (row->log_end >= 0) {
                ctl_table_add(&t, "%lld", (long long)row->log_end);
            } else {
                ctl_table_add(&t, "-");
            }
            if (row->committed >= 0 && row->log_end >= 0) {
                int64_t lag = SP_MAX(row->log_end - row->committed, 0);
                total += lag;
                ctl_table_add(&t, "%lld", (long long)lag);
            } else {
                ctl_table_add(&t, "-");
            }
            ctl_table_add(&t, "%s", row->member ? row->member : "-");
        }
        ctl_table_print(&t, out);
        ctl_table_fini(&t);
        fprintf(out, "\ntotal lag: %lld\n", (long long)total);
    }
}

static int group_describe(struct ctl *ctl, int argc, char **argv)
{
    enum { OPT_MEMBERS = 0x200, OPT_OFFSETS };
    static const struct option opts[] = {
        {"members", no_argument, NULL, OPT_MEMBERS},
        {"offsets", no_argument, NULL, OPT_OFFSETS},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {.name = "group describe", .help = describe_help, .longopts = opts};
    bool only_members = false, only_offsets = false;
    for (int c; (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
        if (c == CTL_OPT_STOP) {
            return p.exit;
        }
        only_members = only_members || c == OPT_MEMBERS;
        only_offsets = only_offsets || c == OPT_OFFSETS;
    }
    bool members = only_members || !only_offsets, offsets = only_offsets || !only_members;
    int rc = ctl_operands(&p, argc, 1, 1);
    if (rc == 0) {
        rc = ctl_connect(ctl);
    }
    if (rc != 0) {
        return rc;
    }
    const char *group = argv[optind];
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 256u << 20);
    struct spc_group_description d;
    memset(&d, 0, sizeof(d));
    struct lag_rows r = {0};
    rc = describe(ctl, group, &a, &d);
    if (rc == 0 && offsets) {
        struct spc_group_offset *co = NULL;
        size_t n = 0;
        struct spc_error err = {0};
        int e = spc_admin_fetch_offsets(ctl->client, group, NULL, 0, ctl_remaining_ms(ctl), &a, &co,
                                        &n, &err);
        if (e < 0) {
            rc = ctl_fail(e, &err);
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (co[i].err.code == 0 && co[i].offset >= 0) {
                rows_get(&r, co[i].topic, co[i].partition)->committed = co[i].offset;
            }
        }
        for (size_t i = 0; rc == 0 && i < d.members_count; i++) {
            const struct spc_group_member *m = &d.members[i];
            for (size_t k = 0; k < m->assignment_count; k++) {
                for (size_t q = 0; q < m->assignment[k].count; q++) {
                    struct lag_row *row =
                        rows_get(&r, m->assignment[k].topic, m->assignment[k].partitions[q]);
                    row->member = m->member_id;
                    row->client_id = m->client_id;
                    row->host = m->client_host;
                }
            }
        }
        if (rc == 0 && r.n > 0) {
            qsort(r.v, r.n, sizeof(*r.v), lag_row_cmp);
            rc = rows_log_end(ctl, &r);
        }
    }
    if (rc == 0) {
        if (ctl->json) {
            describe_json(ctl, &d, &r, members, offsets);
        } else {
            describe_text(ctl, &d, &r, members, offsets);
        }
    }
    free(r.v);
    sp_arena_destroy(&a);
    return rc;
}

/* ---- delete ---------------------------------------------------------------------- */

static int group_delete(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_parser p = {.name = "group delete", .help = delete_help};
    if (!ctl_getopt_flag(ctl, &p, argc, argv, 0, NULL)) {
        return p.exit;
    }
    int rc = ctl_operands(&p, argc, 1, GROUP_TOPICS_MAX);
    if (rc == 0) {
        rc = ctl_connect(ctl);
    }
    if (rc != 0) {
        return rc;
    }
    size_t n = (size_t)(argc - optind);
    const char *const *groups = (const char *const *)&argv[optind];
    struct spc_item_result *res = ctl_xmalloc(n * sizeof(*res));
    memset(res, 0, n * sizeof(*res));
    struct spc_error err = {0};
    int e = spc_admin_delete_groups(ctl->client, groups, n, ctl_remaining_ms(ctl), res, &err);
    if (e < 0) {
        free(res);
        return ctl_fail(e, &err);
    }
    if (ctl->json) {
        struct ctl_json j;
        ctl_json_begin(&j, ctl->out, true);
        ctl_json_object(&j);
        ctl_json_key(&j, "groups");
        ctl_json_array(&j);
        for (size_t i = 0; i < n; i++) {
            ctl_json_object(&j);
            ctl_json_kstr(&j, "group", groups[i]);
            ctl_json_kbool(&j, "deleted", res[i].err.code == 0);
            ctl_json_kerror(&j, "error", &res[i].err);
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
        ctl_json_close(&j);
        ctl_json_end(&j);
    }
    for (size_t i = 0; i < n; i++) {
        if (res[i].err.code == 0) {
            if (!ctl->json) {
                fprintf(ctl->out, "deleted group \"%s\"\n", groups[i]);
            }
        } else if (strstr(res[i].err.message, "group \"") != NULL) {
            rc = ctl_item_fail(&res[i].err);
        } else {
            ctl_errorf("group \"%s\": %s", groups[i], ctl_code_name(res[i].err.code));
            rc = CTL_EXIT_ERROR;
        }
    }
    free(res);
    return rc;
}

/* ---- reset-offsets ------------------------------------------------------------------ */

enum reset_to { TO_NONE, TO_EARLIEST, TO_LATEST, TO_OFFSET, TO_DATETIME, TO_SHIFT };

struct reset {
    const char *group;
    const char **topics;
    size_t topics_n;
    int32_t *parts; /* -p, or NULL: all */
    size_t parts_n;
    enum reset_to to;
    int64_t value; /* TO_OFFSET, TO_DATETIME (ms), TO_SHIFT */
    bool execute;
};

/* One partition of the plan. */
struct reset_row {
    const char *topic;
    int32_t partition;
    int64_t current; /* -1: none committed */
    int64_t target;
    struct spc_error err;
};

static int reset_parse(struct ctl *ctl, struct reset *rs, int argc, char **argv)
{
    enum {
        OPT_EARLIEST = 0x200,
        OPT_LATEST,
        OPT_TO_OFFSET,
        OPT_DATETIME,
        OPT_SHIFT,
        OPT_EXECUTE,
        OPT_DRY_RUN,
    };
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"to-earliest", no_argument, NULL, OPT_EARLIEST},
        {"to-latest", no_argument, NULL, OPT_LATEST},
        {"to-offset", required_argument, NULL, OPT_TO_OFFSET},
        {"to-datetime", required_argument, NULL, OPT_DATETIME},
        {"shift-by", required_argument, NULL, OPT_SHIFT},
        {"execute", no_argument, NULL, OPT_EXECUTE},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "group reset-offsets", .help = reset_help, .shortopts = "t:p:", .longopts = opts};
    int targets = 0;
    for (int c; (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
        int rc = 0;
        switch (c) {
        case CTL_OPT_STOP:
            return p.exit == 0 ? CTL_PARSE_DONE : p.exit;
        case 't':
            if (rs->topics_n >= GROUP_TOPICS_MAX || optarg[0] == '\0') {
                return ctl_usage_error(p.name, "--topic: an empty name or too many topics");
            }
            rs->topics = ctl_xrealloc(rs->topics, (rs->topics_n + 1) * sizeof(*rs->topics));
            rs->topics[rs->topics_n++] = optarg;
            break;
        case 'p': {
            char *copy = ctl_xstrdup(optarg);
            for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
                 tok = strtok_r(NULL, ",", &save)) {
                int32_t v;
                rc = ctl_opt_i32(&p, "--partition", tok, 0, INT32_MAX, &v);
                if (rc == 0 && rs->parts_n < GROUP_PARTS_MAX) {
                    rs->parts = ctl_xrealloc(rs->parts, (rs->parts_n + 1) * sizeof(*rs->parts));
                    rs->parts[rs->parts_n++] = v;
                }
            }
            free(copy);
            break;
        }
        case OPT_EARLIEST:
            rs->to = TO_EARLIEST;
            targets++;
            break;
        case OPT_LATEST:
            rs->to = TO_LATEST;
            targets++;
            break;
        case OPT_TO_OFFSET:
            rs->to = TO_OFFSET;
            targets++;
            rc = ctl_opt_i64(&p, "--to-offset", optarg, 0, INT64_MAX, &rs->value);
            break;
        case OPT_DATETIME:
            rs->to = TO_DATETIME;
            targets++;
            rc = ctl_opt_time_ms(&p, "--to-datetime", optarg, &rs->value);
            break;
        case OPT_SHIFT:
            rs->to = TO_SHIFT;
            targets++;
            rc = ctl_opt_i64(&p, "--shift-by", optarg, INT64_MIN / 2, INT64_MAX / 2, &rs->value);
            break;
        case OPT_EXECUTE:
            rs->execute = true;
            break;
        case OPT_DRY_RUN:
            rs->execute = false;
            break;
        default:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    int rc = ctl_operands(&p, argc, 1, 1);
    if (rc != 0) {
        return rc;
    }
    rs->group = argv[optind];
    if (rs->topics_n == 0) {
        return ctl_usage_error(p.name, "--topic is required");
    }
    if (targets != 1) {
        return ctl_usage_error(p.name, "choose one of --to-earliest, --to-latest, --to-offset, "
                                       "--to-datetime, --shift-by");
    }
    if (rs->parts_n > 0 && rs->topics_n > 1) {
        return ctl_usage_error(p.name, "--partition needs exactly one --topic");
    }
    qsort(rs->topics, rs->topics_n, sizeof(*rs->topics), cstr_cmp);
    return 0;
}

/* ListOffsets of parts at ts into out (per-partition errors left in out). 0 or an exit code. */
static int offsets_at(struct ctl *ctl, const char *topic, const int32_t *parts, size_t n,
                      int64_t ts, struct spc_offset *out)
{
    struct spc_error err = {0};
    int rc =
        spc_admin_list_offsets(ctl->client, topic, parts, n, ts, ctl_remaining_ms(ctl), out, &err);
    return rc < 0 ? ctl_fail(rc, &err) : 0;
}

/* The plan for one topic, appended to rows. */
static int reset_topic(struct ctl *ctl, const struct reset *rs, const char *topic,
                       const struct spc_group_offset *co, size_t co_n, struct reset_row **rows,
                       size_t *rows_n)
{
    struct spc_error err = {0};
    int e = spc_metadata_sync(ctl->client, &topic, 1, false, &err);
    if (e < 0) {
        return ctl_fail(e, &err);
    }
    const struct spc_topic *t = spc_topic_get(ctl->client, topic);
    if (t == NULL || t->error != 0) {
        ctl_errorf("topic \"%s\": %s", topic, ctl_code_name(t != NULL ? t->error : 3));
        return CTL_EXIT_ERROR;
    }
    size_t n = rs->parts_n > 0 ? rs->parts_n : (size_t)t->partitions_count;
    int32_t *parts = ctl_xmalloc((n + 1) * sizeof(*parts));
    for (size_t i = 0; i < n; i++) {
        parts[i] = rs->parts_n > 0 ? rs->parts[i] : (int32_t)i;
        if (parts[i] >= t->partitions_count) {
            ctl_errorf("topic \"%s\": no partition %d (it has %d)", topic, (int)parts[i],
                       (int)t->partitions_count);
            free(parts);
            return CTL_EXIT_ERROR;
        }
    }
    struct spc_offset *first = ctl_xmalloc((n + 1) * sizeof(*first));
    struct spc_offset *end = ctl_xmalloc((n + 1) * sizeof(*end));
    struct spc_offset *at = ctl_xmalloc((n + 1) * sizeof(*at));
    int rc = offsets_at(ctl, topic, parts, n, SPC_TS_EARLIEST, first);
    if (rc == 0) {
        rc = offsets_at(ctl, topic, parts, n, SPC_TS_LATEST, end);
    }
    if (rc == 0 && rs->to == TO_DATETIME) {
        rc = offsets_at(ctl, topic, parts, n, rs->value, at);
    }
    *rows = ctl_xrealloc(*rows, (*rows_n + n) * sizeof(**rows));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct reset_row *row = &(*rows)[(*rows_n)++];
        memset(row, 0, sizeof(*row));
        row->topic = topic;
        row->partition = parts[i];
        row->current = -1;
        for (size_t k = 0; k < co_n; k++) {
            if (co[k].partition == parts[i] && strcmp(co[k].topic, topic) == 0 &&
                co[k].err.code == 0) {
                row->current = co[k].offset;
            }
        }
        const struct spc_error *perr = first[i].err.code ? &first[i].err : &end[i].err;
        if (perr->code == 0 && rs->to == TO_DATETIME) {
            perr = &at[i].err;
        }
        if (perr->code != 0) {
            row->err = *perr;
            row->target = -1;
            continue;
        }
        int64_t lo = first[i].offset, hi = end[i].offset, target = hi;
        switch (rs->to) {
        case TO_EARLIEST:
            target = lo;
            break;
        case TO_LATEST:
            target = hi;
            break;
        case TO_OFFSET:
            target = rs->value;
            break;
        case TO_DATETIME:
            target = at[i].offset >= 0 ? at[i].offset : hi;
            break;
        case TO_SHIFT:
            target = (row->current >= 0 ? row->current : hi) + rs->value;
            break;
        case TO_NONE:
            break;
        }
        row->target = SP_MIN(SP_MAX(target, lo), hi);
    }
    free(parts);
    free(first);
    free(end);
    free(at);
    return rc;
}

static void reset_print(struct ctl *ctl, const struct reset *rs, const struct reset_row *rows,
                        size_t n)
{
    if (ctl->json) {
        struct ctl_json j;
        ctl_json_begin(&j, ctl->out, true);
        ctl_json_object(&j);
        ctl_json_kstr(&j, "group", rs->group);
        ctl_json_kbool(&j, "executed", rs->execute);
        ctl_json_key(&j, "partitions");
        ctl_json_array(&j);
        for (size_t i = 0; i < n; i++) {
            ctl_json_object(&j);
            ctl_json_kstr(&j, "topic", rows[i].topic);
            ctl_json_kint(&j, "partition", rows[i].partition);
            ctl_json_key(&j, "current");
            rows[i].current >= 0 ? ctl_json_int(&j, rows[i].current) : ctl_json_null(&j);
            ctl_json_key(&j, "new");
            rows[i].target >= 0 ? ctl_json_int(&j, rows[i].target) : ctl_json_null(&j);
            ctl_json_kerror(&j, "error", &rows[i].err);
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
        ctl_json_close(&j);
        ctl_json_end(&j);
        return;
    }
    struct ctl_table t;
    ctl_table_init(&t, 5, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET");
    for (size_t i = 0; i < n; i++) {
        ctl_table_add(&t, "%s", rs->group);
        ctl_table_add(&t, "%s", rows[i].topic);
        ctl_table_add(&t, "%d", (int)rows[i].partition);
        if (rows[i].current >= 0) {
            ctl_table_add(&t, "%lld", (long long)rows[i].current);
        } else {
            ctl_table_add(&t, "-");
        }
        if (rows[i].err.code != 0) {
            ctl_table_add(&t, "error: %s", ctl_code_name(rows[i].err.code));
        } else {
            ctl_table_add(&t, "%lld", (long long)rows[i].target);
        }
    }
    ctl_table_print(&t, ctl->out);
    ctl_table_fini(&t);
    if (!rs->execute) {
        fputs("\ndry run: nothing changed (add --execute to commit these offsets)\n", ctl->out);
    }
}

/* Commits the plan's rows; per-partition errors land in rows[i].err. */
static int reset_execute(struct ctl *ctl, const struct reset *rs, struct reset_row *rows, size_t n)
{
    struct spc_group_offset *o = ctl_xmalloc((n + 1) * sizeof(*o));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].err.code == 0) {
            memset(&o[k], 0, sizeof(o[k]));
            o[k].topic = rows[i].topic;
            o[k].partition = rows[i].partition;
            o[k].offset = rows[i].target;
            o[k].metadata = "";
            k++;
        }
    }
    struct spc_error err = {0};
    int rc =
        k > 0 ? spc_admin_commit_offsets(ctl->client, rs->group, o, k, ctl_remaining_ms(ctl), &err)
              : 0;
    if (rc < 0) {
        free(o);
        return ctl_fail(rc, &err);
    }
    for (size_t i = 0, q = 0; i < n && q < k; i++) {
        if (rows[i].err.code == 0) {
            rows[i].err = o[q++].err;
        }
    }
    free(o);
    return 0;
}

static int group_reset(struct ctl *ctl, int argc, char **argv)
{
    struct reset rs = {0};
    int rc = reset_parse(ctl, &rs, argc, argv);
    if (rc == CTL_PARSE_DONE) {
        free(rs.topics);
        free(rs.parts);
        return CTL_EXIT_OK; /* --help */
    }
    if (rc == 0) {
        rc = ctl_connect(ctl);
    }
    struct sp_arena a;
    sp_arena_init(&a, NULL, 0, 256u << 20);
    struct spc_group_description d;
    memset(&d, 0, sizeof(d));
    struct spc_error err = {0};
    if (rc == 0) {
        int e =
            spc_admin_describe_group(ctl->client, rs.group, ctl_remaining_ms(ctl), &a, &d, &err);
        if (e < 0) {
            rc = ctl_fail(e, &err);
        } else if (d.err.code != 0 && d.err.code != KERR_GROUP_ID_NOT_FOUND) {
            rc = ctl_item_fail(&d.err);
        } else if (d.err.code == 0 && (d.members_count > 0 ||
                                       (d.state && d.state[0] && strcmp(d.state, "Empty") != 0 &&
                                        strcmp(d.state, "Dead") != 0))) {
            ctl_errorf("group \"%s\": NON_EMPTY_GROUP: the group is %s with %zu member(s); offsets "
                       "can be reset only when it has none (stop its consumers first)",
                       rs.group, d.state && d.state[0] ? d.state : "active", d.members_count);
            rc = CTL_EXIT_ERROR;
        }
    }
    struct spc_group_offset *co = NULL;
    size_t co_n = 0;
    if (rc == 0) {
        int e = spc_admin_fetch_offsets(ctl->client, rs.group, rs.topics, rs.topics_n,
                                        ctl_remaining_ms(ctl), &a, &co, &co_n, &err);
        if (e < 0) {
            rc = ctl_fail(e, &err);
        }
    }
    struct reset_row *rows = NULL;
    size_t rows_n = 0;
    for (size_t i = 0; rc == 0 && i < rs.topics_n; i++) {
        rc = reset_topic(ctl, &rs, rs.topics[i], co, co_n, &rows, &rows_n);
    }
    if (rc == 0 && rs.execute) {
        rc = reset_execute(ctl, &rs, rows, rows_n);
    }
    if (rc == 0) {
        reset_print(ctl, &rs, rows, rows_n);
        for (size_t i = 0; i < rows_n; i++) {
            if (rows[i].err.code != 0) {
                ctl_errorf("group \"%s\": topic \"%s\" partition %d: %s", rs.group, rows[i].topic,
                           (int)rows[i].partition, ctl_code_name(rows[i].err.code));
                rc = CTL_EXIT_ERROR;
            }
        }
    }
    free(rows);
    free(rs.topics);
    free(rs.parts);
    sp_arena_destroy(&a);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int ctl_group_main(struct ctl *ctl, int argc, char **argv)
{
    static const struct ctl_cmd cmds[] = {
        {"list", group_list},           {"ls", group_list},
        {"describe", group_describe},   {"delete", group_delete},
        {"reset-offsets", group_reset},
    };
    return ctl_dispatch(ctl, "group", group_help, cmds, SP_ARRAY_LEN(cmds), argc, argv);
}
