/*
 * tools/ctl_consume.c: `spindlectl consume TOPIC`: records to stdout, from
 * the beginning, the end, an offset or a point in time, of one partition or
 * all, or as a member of a consumer group (client/group.c); N records or
 * follow until Ctrl-C.
 *
 *   options ─> Metadata (partitions) ─> start offsets (ListOffsets for a
 *   time or a negative offset) ─> fetcher (or group member) ─> poll loop ─>
 *   on_message: print (plain / JSON line / --format), flush, count
 *
 * Output is flushed after every record so pipes see records as they come.
 * SIGINT and SIGTERM stop the loop cleanly: a group member commits what was
 * printed and leaves the group.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl.h"

static const char consume_help[] =
    "Usage: spindlectl consume TOPIC [options]\n"
    "\n"
    "Prints the records of TOPIC, one per line, as they come (follows the\n"
    "topic until Ctrl-C, -n records, or --timeout without records).\n"
    "\n"
    "Where to start (one of; default --from-end):\n"
    "      --from-beginning     the oldest record of each partition\n"
    "      --from-end           only records produced from now on\n"
    "  -o, --offset N           offset N of each partition; a negative N starts\n"
    "                           N records before the end\n"
    "      --from-time TIME     the first record at or after TIME: ms since the\n"
    "                           epoch, ISO 8601 (2024-05-01T12:30:00Z), or relative\n"
    "                           (-1h, -30m)\n"
    "\n"
    "What to read:\n"
    "  -p, --partition P        only partition P (repeat, or P1,P2)\n"
    "  -g, --group GROUP        consume as a member of consumer group GROUP:\n"
    "                           partitions are shared with its other members and\n"
    "                           the group's committed offsets are the start\n"
    "                           (else --from-beginning / --from-end); what was\n"
    "                           printed is committed (every 5s and at the end)\n"
    "  -n, --count N            exit after N records\n"
    "  -e, --exit-at-end        exit once every partition's end is reached\n"
    "      --timeout DUR        exit after DUR without a record (also the time\n"
    "                           allowed to reach the brokers; a group member\n"
    "                           counts from when it has its partitions)\n"
    "\n"
    "Output (default: the value of each record, then a newline):\n"
    "      --json               one JSON object per line: topic, partition,\n"
    "                           offset, timestamp, timestamp_type, key, value,\n"
    "                           headers ([{\"key\",\"value\"}]); key and value are\n"
    "                           strings or null, and when they are not valid\n"
    "                           UTF-8, key_base64 / value_base64 carry the bytes\n"
    "  -f, --format FMT         each record as FMT, where\n"
    "                             %k key       %s value       %h headers (k=v,...)\n"
    "                             %K key size  %S value size  %t topic\n"
    "                             %p partition %o offset      %T timestamp (ms)\n"
    "                             %% a percent sign   \\n newline   \\t tab   \\\\ backslash\n"
    "                           (no newline is added: end FMT with \\n)\n"
    "\n"
    "Examples:\n"
    "  spindlectl consume greetings --from-beginning -n 10\n"
    "  spindlectl consume greetings -p 0 --offset 42 --json\n"
    "  spindlectl consume greetings --from-time 2024-05-01T00:00:00Z -e\n"
    "  spindlectl consume greetings -f '%p:%o %k=%s\\n' --from-beginning\n"
    "  spindlectl consume greetings -g billing --from-beginning\n";

enum start_kind { START_END, START_BEGINNING, START_OFFSET, START_TIME };

enum { OPT_FROM_BEGINNING = 0x200, OPT_FROM_END, OPT_FROM_TIME, OPT_TIMEOUT };

/* A parser's answer for "--help was printed: exit 0 without running". */
#define CTL_PARSE_DONE (-1)

#define CONSUME_PARTS_MAX   65536
#define CONSUME_POLL_MS     200
#define CONSUME_JOIN_MAX_MS 70000 /* with --timeout: a group member without partitions gives up */
#define CONSUME_CLOSE_MS    5000  /* the last commit and LeaveGroup after a stop */

struct consume {
    struct ctl *ctl;
    const char *topic;
    enum start_kind start;
    int64_t offset;  /* START_OFFSET */
    int64_t time_ms; /* START_TIME */
    int32_t *parts;  /* -p, or every partition */
    size_t parts_n;
    const char *group;
    int64_t count; /* -n, 0: no limit */
    bool exit_at_end;
    int64_t idle_ms; /* --timeout, 0: none */
    const char *format;
    /* While running. */
    struct spc_group *member;
    int64_t printed;
    int64_t last_record_ms;
    bool failed; /* a partition reported an error */
    bool write_failed;
    char last_error[256];
};

static volatile sig_atomic_t consume_stop;

static void consume_on_signal(int sig)
{
    (void)sig;
    consume_stop = 1;
}

/* ---- output ------------------------------------------------------------------ */

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (len == 0 || i + len > n) {
            return false;
        }
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

/* s as base64 in a new buffer (the caller frees it). */
static char *base64_of(const uint8_t *s, size_t n, size_t *out_len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = ctl_xmalloc((n + 2) / 3 * 4 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        v |= i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0;
        v |= i + 2 < n ? (uint32_t)s[i + 2] : 0;
        out[k++] = tab[(v >> 18) & 63];
        out[k++] = tab[(v >> 12) & 63];
        out[k++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[k++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[k] = '\0';
    *out_len = k;
    return out;
}

/* "key": a string or null; "<key>_base64" too when the bytes are not UTF-8. */
static void json_bytes(struct ctl_json *j, const char *key, struct sp_slice s)
{
    ctl_json_key(j, key);
    if (s.ptr == NULL) {
        ctl_json_null(j);
        return;
    }
    ctl_json_strn(j, s.ptr, s.len);
    if (!utf8_valid(s.ptr, s.len)) {
        char k[64];
        snprintf(k, sizeof(k), "%s_base64", key);
        size_t len;
        char *b64 = base64_of(s.ptr, s.len, &len);
        ctl_json_key(j, k);
        ctl_json_strn(j, b64, len);
        free(b64);
    }
}

static void print_json(struct consume *cs, const struct spc_message *m)
{
    struct ctl_json j;
    ctl_json_begin(&j, cs->ctl->out, false);
    ctl_json_object(&j);
    ctl_json_kstr(&j, "topic", m->topic);
    ctl_json_kint(&j, "partition", m->partition);
    ctl_json_kint(&j, "offset", m->offset);
    ctl_json_kint(&j, "timestamp", m->timestamp);
    ctl_json_kstr(&j, "timestamp_type", m->log_append_time ? "log_append" : "create");
    json_bytes(&j, "key", m->key);
    json_bytes(&j, "value", m->value);
    ctl_json_key(&j, "headers");
    ctl_json_array(&j);
    for (size_t i = 0; i < m->headers_count; i++) {
        ctl_json_object(&j);
        json_bytes(&j, "key", m->headers[i].key);
        json_bytes(&j, "value", m->headers[i].value);
        ctl_json_close(&j);
    }
    ctl_json_close(&j);
    ctl_json_close(&j);
    ctl_json_end(&j);
}

static void put_slice(FILE *out, struct sp_slice s)
{
    if (s.ptr != NULL && s.len > 0) {
        fwrite(s.ptr, 1, s.len, out);
    }
}

static void print_format(struct consume *cs, const struct spc_message *m)
{
    FILE *out = cs->ctl->out;
    for (const char *p = cs->format; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            fputc(*p == 'n'   ? '\n'
                  : *p == 't' ? '\t'
                  : *p == 'r' ? '\r'
                  : *p == '0' ? '\0'
                              : *p,
                  out);
            continue;
        }
        if (*p != '%' || p[1] == '\0') {
            fputc(*p, out);
            continue;
        }
        p++;
        switch (*p) {
        case 'k':
            put_slice(out, m->key);
            break;
        case 's':
            put_slice(out, m->value);
            break;
        case 'K':
            fprintf(out, "%lld", m->key.ptr != NULL ? (long long)m->key.len : -1LL);
            break;
        case 'S':
            fprintf(out, "%lld", m->value.ptr != NULL ? (long long)m->value.len : -1LL);
            break;
        case 'h':
            for (size_t i = 0; i < m->headers_count; i++) {
                if (i > 0) {
                    fputc(',', out);
                }
                put_slice(out, m->headers[i].key);
                fputc('=', out);
                put_slice(out, m->headers[i].value);
            }
            break;
        case 't':
            fputs(m->topic, out);
            break;
        case 'p':
            fprintf(out, "%d", (int)m->partition);
            break;
        case 'o':
            fprintf(out, "%lld", (long long)m->offset);
            break;
        case 'T':
            fprintf(out, "%lld", (long long)m->timestamp);
            break;
        case '%':
            fputc('%', out);
            break;
        default: /* checked when parsing */
            fputc('%', out);
            fputc(*p, out);
            break;
        }
    }
}

/* An unknown %x in FMT is a usage error, caught before anything is read. */
static int format_check(const struct ctl_parser *p, const char *fmt)
{
    for (const char *s = fmt; *s != '\0'; s++) {
        if (*s == '\\' && s[1] != '\0') {
            s++;
        } else if (*s == '%') {
            if (s[1] == '\0' || strchr("ksKShtpoT%", s[1]) == NULL) {
                return ctl_usage_error(p->name, "--format: unknown directive %%%c (see --help)",
                                       s[1] != '\0' ? s[1] : ' ');
            }
            s++;
        }
    }
    return 0;
}

static void on_message(void *ctx, const struct spc_message *m, const struct spc_error *err)
{
    struct consume *cs = ctx;
    if (m == NULL) {
        if (err != NULL && err->code != 0 && strcmp(err->message, cs->last_error) != 0) {
            ctl_errorf("%s", err->message[0] ? err->message : ctl_code_name(err->code));
            snprintf(cs->last_error, sizeof(cs->last_error), "%s", err->message);
            cs->failed = true;
        }
        return;
    }
    if ((cs->count > 0 && cs->printed >= cs->count) || consume_stop || cs->write_failed) {
        return; /* the rest of a batch past -n: neither printed nor committed */
    }
    FILE *out = cs->ctl->out;
    if (cs->format != NULL) {
        print_format(cs, m);
    } else if (cs->ctl->json) {
        print_json(cs, m);
    } else {
        put_slice(out, m->value);
        fputc('\n', out);
    }
    if (fflush(out) != 0 || ferror(out)) {
        cs->write_failed = true;
        return;
    }
    cs->printed++;
    cs->last_record_ms = ctl_mono_ms();
    if (cs->member != NULL) {
        (void)spc_group_store_offset(cs->member, m->topic, m->partition, m->offset + 1);
    }
}

/* ---- setup -------------------------------------------------------------------- */

/* -p "1,2" or repeated -p. */
static int parts_add(struct consume *cs, const struct ctl_parser *p, const char *arg)
{
    char *copy = ctl_xstrdup(arg);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        int32_t v;
        rc = ctl_opt_i32(p, "--partition", tok, 0, INT32_MAX, &v);
        if (rc == 0) {
            if (cs->parts_n >= CONSUME_PARTS_MAX) {
                rc = ctl_usage_error(p->name, "--partition: too many partitions");
                break;
            }
            cs->parts = ctl_xrealloc(cs->parts, (cs->parts_n + 1) * sizeof(*cs->parts));
            cs->parts[cs->parts_n++] = v;
        }
    }
    free(copy);
    return rc;
}

static int consume_parse(struct consume *cs, struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
        {"from-end", no_argument, NULL, OPT_FROM_END},
        {"offset", required_argument, NULL, 'o'},
        {"from-time", required_argument, NULL, OPT_FROM_TIME},
        {"partition", required_argument, NULL, 'p'},
        {"group", required_argument, NULL, 'g'},
        {"count", required_argument, NULL, 'n'},
        {"exit-at-end", no_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "consume", .help = consume_help, .shortopts = "o:p:g:n:ef:", .longopts = opts};
    int starts = 0;
    /* A --timeout before the command counts as consume's own. */
    if (ctl->timeout_ms != CTL_DEFAULT_TIMEOUT_MS) {
        cs->idle_ms = ctl->timeout_ms;
    }
    for (int c; (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
        int rc = 0;
        int64_t ms;
        switch (c) {
        case CTL_OPT_STOP:
            return p.exit == 0 ? CTL_PARSE_DONE : p.exit;
        case OPT_FROM_BEGINNING:
            cs->start = START_BEGINNING;
            starts++;
            break;
        case OPT_FROM_END:
            cs->start = START_END;
            starts++;
            break;
        case 'o':
            cs->start = START_OFFSET;
            starts++;
            rc = ctl_opt_i64(&p, "--offset", optarg, INT64_MIN + 1, INT64_MAX, &cs->offset);
            break;
        case OPT_FROM_TIME:
            cs->start = START_TIME;
            starts++;
            rc = ctl_opt_time_ms(&p, "--from-time", optarg, &cs->time_ms);
            break;
        case 'p':
            rc = parts_add(cs, &p, optarg);
            break;
        case 'g':
            if (optarg[0] == '\0') {
                rc = ctl_usage_error(p.name, "--group: empty group id");
            }
            cs->group = optarg;
            break;
        case 'n':
            rc = ctl_opt_i64(&p, "--count", optarg, 1, INT64_MAX, &cs->count);
            break;
        case 'e':
            cs->exit_at_end = true;
            break;
        case OPT_TIMEOUT:
            rc = ctl_opt_timeout_ms(&p, optarg, &ms);
            if (rc == 0) {
                cs->idle_ms = ms;
                ctl->timeout_ms = (int32_t)ms;
            }
            break;
        case 'f':
            cs->format = optarg;
            rc = format_check(&p, optarg);
            break;
        default:
            rc = ctl_usage_error(p.name, "unexpected option");
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
    cs->topic = argv[optind];
    if (starts > 1) {
        return ctl_usage_error(p.name, "choose one of --from-beginning, --from-end, --offset, "
                                       "--from-time");
    }
    if (cs->group != NULL &&
        (cs->parts_n > 0 || cs->start == START_OFFSET || cs->start == START_TIME)) {
        return ctl_usage_error(p.name, "--group takes its partitions and offsets from the group: "
                                       "--partition, --offset and --from-time do not apply");
    }
    if (cs->group != NULL && cs->exit_at_end) {
        return ctl_usage_error(p.name, "--exit-at-end does not apply to --group (use -n or "
                                       "--timeout)");
    }
    if (cs->format != NULL && ctl->json) {
        return ctl_usage_error(p.name, "--format and --json exclude each other");
    }
    return 0;
}

/* The topic's partitions (all, or -p's, checked). 0 or an exit code (reported). */
static int consume_partitions(struct consume *cs)
{
    struct ctl *ctl = cs->ctl;
    struct spc_error err = {0};
    int rc = spc_metadata_sync(ctl->client, &cs->topic, 1, false, &err);
    if (rc < 0) {
        return ctl_fail(rc, &err);
    }
    const struct spc_topic *t = spc_topic_get(ctl->client, cs->topic);
    if (t == NULL || t->error != 0) {
        int16_t code = t != NULL ? t->error : 3 /* UNKNOWN_TOPIC_OR_PARTITION */;
        ctl_errorf("topic \"%s\": %s", cs->topic, ctl_code_name(code));
        return CTL_EXIT_ERROR;
    }
    for (size_t i = 0; i < cs->parts_n; i++) {
        if (cs->parts[i] >= t->partitions_count) {
            ctl_errorf("topic \"%s\": no partition %d (it has %d)", cs->topic, (int)cs->parts[i],
                       (int)t->partitions_count);
            return CTL_EXIT_ERROR;
        }
    }
    if (cs->parts_n == 0 && cs->group == NULL) {
        cs->parts_n = (size_t)t->partitions_count;
        cs->parts = ctl_xmalloc((cs->parts_n + 1) * sizeof(*cs->parts));
        for (size_t i = 0; i < cs->parts_n; i++) {
            cs->parts[i] = (int32_t)i;
        }
    }
    return 0;
}

/* ListOffsets of every partition at ts; 0 or an exit code (reported). */
static int list_offsets(struct consume *cs, int64_t ts, struct spc_offset *out)
{
    struct spc_error err = {0};
    int rc = spc_admin_list_offsets(cs->ctl->client, cs->topic, cs->parts, cs->parts_n, ts,
                                    ctl_remaining_ms(cs->ctl), out, &err);
    if (rc < 0) {
        return ctl_fail(rc, &err);
    }
    for (size_t i = 0; i < cs->parts_n; i++) {
        if (out[i].err.code != 0) {
            return ctl_item_fail(&out[i].err);
        }
    }
    return 0;
}

/* Where each partition starts: starts[i] for parts[i]. 0 or an exit code. */
static int consume_starts(struct consume *cs, int64_t *starts)
{
    for (size_t i = 0; i < cs->parts_n; i++) {
        starts[i] = cs->start == START_BEGINNING ? SPC_OFFSET_BEGINNING : SPC_OFFSET_END;
    }
    if (cs->start == START_OFFSET && cs->offset >= 0) {
        for (size_t i = 0; i < cs->parts_n; i++) {
            starts[i] = cs->offset;
        }
        return 0;
    }
    if (cs->start != START_TIME && cs->start != START_OFFSET) {
        return 0;
    }
    struct spc_offset *at = ctl_xmalloc(cs->parts_n * sizeof(*at));
    struct spc_offset *first = ctl_xmalloc(cs->parts_n * sizeof(*first));
    int rc;
    if (cs->start == START_TIME) {
        /* No record at or after the time: the partition starts at its end. */
        rc = list_offsets(cs, cs->time_ms, at);
        for (size_t i = 0; rc == 0 && i < cs->parts_n; i++) {
            starts[i] = at[i].offset >= 0 ? at[i].offset : SPC_OFFSET_END;
        }
    } else {
        /* -N: N records before the end, not before the start. */
        rc = list_offsets(cs, SPC_TS_LATEST, at);
        if (rc == 0) {
            rc = list_offsets(cs, SPC_TS_EARLIEST, first);
        }
        for (size_t i = 0; rc == 0 && i < cs->parts_n; i++) {
            int64_t want = at[i].offset + cs->offset;
            starts[i] = SP_MAX(want, SP_MAX(first[i].offset, 0));
        }
    }
    free(at);
    free(first);
    return rc;
}

/* -e: every partition's position has reached the high watermark it last saw. */
static bool at_end(const struct consume *cs, const struct spc_fetcher *f)
{
    for (size_t i = 0; i < cs->parts_n; i++) {
        int64_t hw = spc_fetcher_high_watermark(f, cs->topic, cs->parts[i]);
        int64_t pos = spc_fetcher_position(f, cs->topic, cs->parts[i]);
        if (hw < 0 || pos < hw) {
            return false;
        }
    }
    return true;
}

/* ---- the loop ------------------------------------------------------------------- */

static int consume_loop(struct consume *cs, struct spc_fetcher *f)
{
    cs->last_record_ms = ctl_mono_ms();
    int64_t unstable_since_ms = cs->last_record_ms;
    while (!consume_stop) {
        if (cs->count > 0 && cs->printed >= cs->count) {
            break;
        }
        if (cs->write_failed) {
            ctl_errorf("writing the output failed");
            return CTL_EXIT_ERROR;
        }
        int64_t now = ctl_mono_ms();
        if (cs->member != NULL && !spc_group_stable(cs->member)) {
            /* A member's idle time counts once it has its partitions ... */
            if (cs->idle_ms > 0 && now - unstable_since_ms > CONSUME_JOIN_MAX_MS) {
                ctl_errorf("group \"%s\": no partitions after %d s (the group did not settle)",
                           cs->group, CONSUME_JOIN_MAX_MS / 1000);
                return CTL_EXIT_UNREACHABLE;
            }
            cs->last_record_ms = now;
        } else {
            unstable_since_ms = now; /* ... and a rebalance gets its own time again. */
        }
        if (cs->idle_ms > 0 && now - cs->last_record_ms >= cs->idle_ms) {
            break;
        }
        if (cs->exit_at_end && at_end(cs, f)) {
            break;
        }
        int rc = cs->member != NULL ? spc_group_poll(cs->member, CONSUME_POLL_MS)
                                    : spc_poll(cs->ctl->client, CONSUME_POLL_MS);
        if (rc < 0 && rc != -EINTR && rc != -ETIMEDOUT) {
            struct spc_error err = {0};
            return ctl_fail(rc, &err);
        }
        struct spc_error gerr = {0};
        if (cs->member != NULL && spc_group_error(cs->member, &gerr) < 0) {
            return ctl_fail(gerr.code < 0 ? gerr.code : -EPROTO, &gerr);
        }
    }
    return cs->failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

static int consume_run(struct consume *cs)
{
    struct ctl *ctl = cs->ctl;
    int rc = ctl_connect(ctl);
    if (rc == 0) {
        rc = consume_partitions(cs);
    }
    if (rc != 0) {
        return rc;
    }
    int64_t *starts = NULL;
    if (cs->group == NULL) {
        starts = ctl_xmalloc((cs->parts_n + 1) * sizeof(*starts));
        rc = consume_starts(cs, starts);
        if (rc != 0) {
            free(starts);
            return rc;
        }
    }
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    struct spc_fetcher *f = NULL;
    struct spc_error err = {0};
    int e = spc_fetcher_new(ctl->client, &fc, on_message, cs, &f, &err);
    for (size_t i = 0; e == 0 && cs->group == NULL && i < cs->parts_n; i++) {
        e = spc_fetcher_assign(f, cs->topic, cs->parts[i], starts[i]);
        if (e < 0) {
            spc_error_set(&err, e, "-", "topic \"%s\" partition %d: %s", cs->topic,
                          (int)cs->parts[i], ctl_code_name(e));
        }
    }
    free(starts);
    if (e == 0 && cs->group != NULL) {
        struct spc_group_config gc;
        spc_group_config_init(&gc);
        gc.group_id = cs->group;
        gc.reset_offset = cs->start == START_BEGINNING ? SPC_OFFSET_BEGINNING : SPC_OFFSET_END;
        e = spc_group_new(ctl->client, &gc, f, &cs->topic, 1, &cs->member, &err);
    }
    rc = e < 0 ? ctl_fail(e, &err) : consume_loop(cs, f);
    if (cs->member != NULL) {
        struct spc_error cerr = {0};
        int c = spc_group_commit(cs->member, CONSUME_CLOSE_MS, &cerr);
        if (c < 0 && rc == CTL_EXIT_OK) {
            rc = ctl_fail(c, &cerr);
        }
        spc_group_free(cs->member, CONSUME_CLOSE_MS);
        cs->member = NULL;
    }
    if (f != NULL) {
        spc_fetcher_free(f);
    }
    return rc;
}

int ctl_consume_main(struct ctl *ctl, int argc, char **argv)
{
    struct consume cs = {.ctl = ctl, .start = START_END};
    int rc = consume_parse(&cs, ctl, argc, argv);
    if (rc == CTL_PARSE_DONE) {
        rc = CTL_EXIT_OK; /* --help */
    } else if (rc == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = consume_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = consume_run(&cs);
    }
    free(cs.parts);
    return rc;
}
