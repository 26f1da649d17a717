/*
 * tools/ctl_util.c: spindlectl's shared pieces (tools/ctl.h): errors and
 * exit codes, the option loop with the global options, parsing of numbers,
 * durations and times, tables, the JSON writer.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/gen/kerr.h"
#include "protocol/kproto.h"
#include "tools/ctl.h"

/* ---- Memory ------------------------------------------------------------------ */

static _Noreturn void ctl_oom(size_t n)
{
    ctl_errorf("out of memory (%zu bytes)", n);
    exit(CTL_EXIT_ERROR);
}

void *ctl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        ctl_oom(n);
    }
    return p;
}

void *ctl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        ctl_oom(n);
    }
    return q;
}

char *ctl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ctl_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

/* ---- Errors ---------------------------------------------------------------- */

void ctl_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spindlectl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool ctl_transport_errno(int e)
{
    switch (e) {
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case EPIPE:
    case ENOTCONN:
    case EADDRNOTAVAIL:
        return true;
    default:
        return false;
    }
}

int ctl_exit_for(int rc, const struct spc_error *err)
{
    int code = (err && err->code != 0) ? err->code : rc;
    if (code < 0 && ctl_transport_errno(-code)) {
        return CTL_EXIT_UNREACHABLE;
    }
    if (code == 0 && rc < 0 && ctl_transport_errno(-rc)) {
        return CTL_EXIT_UNREACHABLE;
    }
    return CTL_EXIT_ERROR;
}

/* The bootstrap list, for messages about brokers that could not be reached. */
static const char *ctl_bootstrap;

/* Whether text names one of the bootstrap list's host:port entries. */
static bool ctl_names_a_broker(const char *text)
{
    const char *p = ctl_bootstrap;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        char addr[300];
        if (n > 0 && n < sizeof(addr)) {
            memcpy(addr, p, n);
            addr[n] = '\0';
            if (strstr(text, addr)) {
                return true;
            }
        }
        p += n + (p[n] == ',');
    }
    return false;
}

int ctl_fail(int rc, const struct spc_error *err)
{
    int exit_code = ctl_exit_for(rc, err);
    int code = (err && err->code != 0) ? err->code : rc;
    const char *msg = (err && err->message[0]) ? err->message : ctl_code_name(code);
    if (exit_code == CTL_EXIT_UNREACHABLE && ctl_bootstrap && !ctl_names_a_broker(msg)) {
        ctl_errorf("%s (brokers: %s)", msg, ctl_bootstrap);
    } else {
        ctl_errorf("%s", msg);
    }
    return exit_code;
}

int ctl_item_fail(const struct spc_error *err)
{
    if (err->code == 0) {
        return CTL_EXIT_OK;
    }
    if (err->code < 0) {
        return ctl_fail(err->code, err);
    }
    if (err->message[0]) {
        ctl_errorf("%s", err->message);
    } else {
        ctl_errorf("%s", ctl_code_name(err->code));
    }
    return CTL_EXIT_ERROR;
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "spindlectl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see: spindlectl %s --help)\n", cmd);
    va_end(ap);
    return CTL_EXIT_USAGE;
}

const char *ctl_code_name(int code)
{
    static const struct {
        int e;
        const char *name;
    } names[] = {
        {ETIMEDOUT, "ETIMEDOUT"},
        {ECONNREFUSED, "ECONNREFUSED"},
        {ECONNRESET, "ECONNRESET"},
        {EHOSTUNREACH, "EHOSTUNREACH"},
        {ENETUNREACH, "ENETUNREACH"},
        {ENOTSUP, "ENOTSUP"},
        {ENOENT, "ENOENT"},
        {EINVAL, "EINVAL"},
        {ECANCELED, "ECANCELED"},
        {ENOBUFS, "ENOBUFS"},
        {EPIPE, "EPIPE"},
        {EMSGSIZE, "EMSGSIZE"},
        {EBADMSG, "EBADMSG"},
        {ENOMEM, "ENOMEM"},
        {ENOSYS, "ENOSYS"},
        {EPROTO, "EPROTO"},
        {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    };
    if (code > 0) {
        return kerr_name((int16_t)code);
    }
    if (code == 0) {
        return "NONE";
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
        if (names[i].e == -code) {
            return names[i].name;
        }
    }
    return strerror(-code);
}

/* ---- Options ----------------------------------------------------------------- */

enum {
    CTL_G_BROKERS = 'b',
    CTL_G_HELP = 'h',
    CTL_G_JSON = 0x7f001,
    CTL_G_TIMEOUT = 0x7f002,
};

static const struct option ctl_global_opts[] = {
    {"brokers", required_argument, NULL, CTL_G_BROKERS},
    {"json", no_argument, NULL, CTL_G_JSON},
    {"timeout", required_argument, NULL, CTL_G_TIMEOUT},
    {"help", no_argument, NULL, CTL_G_HELP},
};

static const char ctl_global_help[] =
    "\nGlobal options (anywhere on the line):\n"
    "  -b, --brokers LIST   bootstrap brokers host:port[,...] (default $SPINDLE_BROKERS,\n"
    "                       else localhost:9092)\n"
    "      --json           JSON output\n"
    "      --timeout DUR    time budget of the command (e.g. 10s, 500ms; default 10s)\n"
    "  -h, --help           this help\n";

static void ctl_parser_merge(struct ctl_parser *p)
{
    size_t n = 0;
    for (const struct option *o = p->longopts; o && o->name; o++) {
        SP_ASSERT(n + SP_ARRAY_LEN(ctl_global_opts) + 1 < CTL_OPTS_MAX);
        p->merged[n++] = *o;
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(ctl_global_opts); i++) {
        p->merged[n++] = ctl_global_opts[i];
    }
    memset(&p->merged[n], 0, sizeof(p->merged[n]));
    const char *sub = p->shortopts ? p->shortopts : "";
    int len = snprintf(p->merged_short, sizeof(p->merged_short), ":%sb:h", sub);
    SP_ASSERT(len > 0 && (size_t)len < sizeof(p->merged_short));
    optind = 0; /* glibc: start a fresh scan (argv[0] is the subcommand) */
    opterr = 0;
    p->started = true;
}

static int ctl_global_opt(struct ctl *ctl, struct ctl_parser *p, int c)
{
    switch (c) {
    case CTL_G_BROKERS:
        if (!optarg[0]) {
            p->exit = ctl_usage_error(p->name, "--brokers: empty list");
            return CTL_OPT_STOP;
        }
        ctl->brokers = optarg;
        return 0;
    case CTL_G_JSON:
        ctl->json = true;
        return 0;
    case CTL_G_TIMEOUT: {
        int64_t ms = 0;
        int rc = ctl_opt_timeout_ms(p, optarg, &ms);
        if (rc != CTL_EXIT_OK) {
            p->exit = rc;
            return CTL_OPT_STOP;
        }
        ctl->timeout_ms = (int32_t)ms;
        return 0;
    }
    case CTL_G_HELP:
        fputs(p->help, stdout);
        fputs(ctl_global_help, stdout);
        p->exit = CTL_EXIT_OK;
        return CTL_OPT_STOP;
    default:
        return 1;
    }
}

int ctl_getopt(struct ctl *ctl, struct ctl_parser *p, int argc, char **argv)
{
    if (!p->started) {
        ctl_parser_merge(p);
    }
    for (;;) {
        int c = getopt_long(argc, argv, p->merged_short, p->merged, NULL);
        if (c == -1) {
            return CTL_OPT_END;
        }
        if (c == '?') {
            const char *what = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";
            if (optopt > 0 && optopt < 128 && (strlen(what) != 2 || what[1] != optopt)) {
                p->exit = ctl_usage_error(p->name, "unknown option -%c", optopt);
            } else {
                p->exit = ctl_usage_error(p->name, "unknown option %s", what);
            }
            return CTL_OPT_STOP;
        }
        if (c == ':') {
            const char *what = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";
            p->exit = ctl_usage_error(p->name, "option %s needs a value", what);
            return CTL_OPT_STOP;
        }
        int g = ctl_global_opt(ctl, p, c);
        if (g == CTL_OPT_STOP) {
            return CTL_OPT_STOP;
        }
        if (g == 1) {
            return c;
        }
    }
}

bool ctl_getopt_flag(struct ctl *ctl, struct ctl_parser *p, int argc, char **argv, int opt,
                     bool *flag)
{
    for (int c; (c = ctl_getopt(ctl, p, argc, argv)) != CTL_OPT_END;) {
        if (c == CTL_OPT_STOP) {
            return false;
        }
        if (flag != NULL && c == opt) {
            *flag = true;
        }
    }
    return true;
}

int ctl_operands(const struct ctl_parser *p, int argc, int min, int max)
{
    int n = argc - optind;
    if (n < min) {
        return ctl_usage_error(p->name, "missing operand");
    }
    if (n > max) {
        return ctl_usage_error(p->name, "too many operands");
    }
    return CTL_EXIT_OK;
}

static int ctl_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) {
        return -EINVAL;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int ctl_opt_i64(const struct ctl_parser *p, const char *opt, const char *arg, int64_t min,
                int64_t max, int64_t *out)
{
    int64_t v;
    if (ctl_parse_i64(arg, &v) != 0 || v < min || v > max) {
        return ctl_usage_error(p->name,
                               "%s: expected an integer from %" PRId64 " to %" PRId64 ", got '%s'",
                               opt, min, max, arg);
    }
    *out = v;
    return CTL_EXIT_OK;
}

int ctl_opt_i32(const struct ctl_parser *p, const char *opt, const char *arg, int32_t min,
                int32_t max, int32_t *out)
{
    int64_t v = 0;
    int rc = ctl_opt_i64(p, opt, arg, min, max, &v);
    if (rc == CTL_EXIT_OK) {
        *out = (int32_t)v;
    }
    return rc;
}

int ctl_opt_timeout_ms(const struct ctl_parser *p, const char *arg, int64_t *out_ms)
{
    int64_t ms;
    if (ctl_parse_duration_ms(arg, &ms) != 0 || ms <= 0 || ms > 24 * 3600 * 1000) {
        return ctl_usage_error(
            p->name, "--timeout: expected a duration such as 10s or 500ms, got '%s'", arg);
    }
    *out_ms = ms;
    return CTL_EXIT_OK;
}

int ctl_opt_time_ms(const struct ctl_parser *p, const char *opt, const char *arg, int64_t *out_ms)
{
    int64_t ms;
    if (ctl_parse_time_ms(arg, ctl_wall_ms(), &ms) != 0 || ms < 0) {
        return ctl_usage_error(p->name,
                               "%s: expected ms since the epoch, an ISO 8601 time or -1h, got '%s'",
                               opt, arg);
    }
    *out_ms = ms;
    return CTL_EXIT_OK;
}

int ctl_dispatch(struct ctl *ctl, const char *name, const char *help, const struct ctl_cmd *cmds,
                 size_t n, int argc, char **argv)
{
    if (argc < 2) {
        fputs(help, stderr);
        fputs(ctl_global_help, stderr);
        return CTL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        fputs(help, stdout);
        fputs(ctl_global_help, stdout);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cmds[i].name, sub) == 0) {
            return cmds[i].fn(ctl, argc - 1, argv + 1);
        }
    }
    return ctl_usage_error(name, "unknown subcommand '%s'", sub);
}

/* ---- Parsing helpers --------------------------------------------------------- */

int ctl_parse_duration_ms(const char *s, int64_t *out_ms)
{
    if (!s || !isdigit((unsigned char)*s)) {
        return -EINVAL;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0) {
        return -EINVAL;
    }
    double mul;
    if (*end == '\0' || strcmp(end, "s") == 0) {
        mul = 1000;
    } else if (strcmp(end, "ms") == 0) {
        mul = 1;
    } else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) {
        mul = 60e3;
    } else if (strcmp(end, "h") == 0) {
        mul = 3600e3;
    } else if (strcmp(end, "d") == 0) {
        mul = 86400e3;
    } else {
        return -EINVAL;
    }
    double ms = v * mul;
    if (ms > 1e15) {
        return -EINVAL;
    }
    *out_ms = (int64_t)(ms + 0.5);
    return 0;
}

/* Reads exactly n digits at *p into *v. */
static bool ctl_digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return false;
        }
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static bool ctl_parse_clock(const char **pp, struct tm *tm, int *msec)
{
    const char *p = *pp;
    if (!ctl_digits(&p, 2, &tm->tm_hour) || *p++ != ':' || !ctl_digits(&p, 2, &tm->tm_min)) {
        return false;
    }
    if (*p == ':') {
        p++;
        if (!ctl_digits(&p, 2, &tm->tm_sec)) {
            return false;
        }
        if (*p == '.' || *p == ',') {
            p++;
            int scale = 100;
            if (!isdigit((unsigned char)*p)) {
                return false;
            }
            for (; isdigit((unsigned char)*p); p++) {
                *msec += (*p - '0') * scale;
                scale /= 10;
            }
        }
    }
    *pp = p;
    return tm->tm_hour < 24 && tm->tm_min < 60 && tm->tm_sec < 61;
}

/* "Z", "+02:00", "-0530", "" (UTC): the zone's offset east of UTC in minutes. */
static bool ctl_parse_zone(const char *p, int *east_min)
{
    *east_min = 0;
    if (*p == '\0' || strcmp(p, "Z") == 0 || strcmp(p, "z") == 0) {
        return true;
    }
    if (*p != '+' && *p != '-') {
        return false;
    }
    int sign = *p++ == '-' ? -1 : 1;
    int hh, mm = 0;
    if (!ctl_digits(&p, 2, &hh)) {
        return false;
    }
    if (*p == ':') {
        p++;
    }
    if (*p && !ctl_digits(&p, 2, &mm)) {
        return false;
    }
    if (*p != '\0' || hh > 23 || mm > 59) {
        return false;
    }
    *east_min = sign * (hh * 60 + mm);
    return true;
}

static int ctl_parse_iso(const char *s, int64_t *out_ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = s;
    int y, mo, d, msec = 0, east = 0;
    if (!ctl_digits(&p, 4, &y) || *p++ != '-' || !ctl_digits(&p, 2, &mo) || *p++ != '-' ||
        !ctl_digits(&p, 2, &d)) {
        return -EINVAL;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31) {
        return -EINVAL;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!ctl_parse_clock(&p, &tm, &msec)) {
            return -EINVAL;
        }
    }
    if (!ctl_parse_zone(p, &east)) {
        return -EINVAL;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && y != 1969) {
        return -EINVAL;
    }
    *out_ms = (int64_t)t * 1000 + msec - (int64_t)east * 60000;
    return 0;
}

int ctl_parse_time_ms(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (!s || !*s) {
        return -EINVAL;
    }
    if (*s == '-' || *s == '+') {
        int64_t d;
        const char *rest = s + 1;
        size_t len = strlen(rest);
        /* A bare "-5" is ambiguous (seconds? an offset?): a unit is required. */
        if (len == 0 || isdigit((unsigned char)rest[len - 1])) {
            return -EINVAL;
        }
        if (ctl_parse_duration_ms(rest, &d) != 0) {
            return -EINVAL;
        }
        *out_ms = *s == '-' ? now_ms - d : now_ms + d;
        return 0;
    }
    bool digits_only = true;
    for (const char *p = s; *p; p++) {
        digits_only = digits_only && isdigit((unsigned char)*p);
    }
    if (digits_only) {
        return ctl_parse_i64(s, out_ms);
    }
    return ctl_parse_iso(s, out_ms);
}

int64_t ctl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ctl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_split_kv(char *s, const char **name, const char **value)
{
    char *eq = strchr(s, '=');
    if (!eq || eq == s) {
        return -EINVAL;
    }
    *eq = '\0';
    *name = s;
    *value = eq + 1;
    return 0;
}

/* ---- Connection -------------------------------------------------------------- */

int ctl_connect(struct ctl *ctl)
{
    if (ctl->client) {
        return CTL_EXIT_OK;
    }
    ctl_bootstrap = ctl->brokers;
    struct spc_config cfg;
    spc_config_init(&cfg);
    cfg.bootstrap = ctl->brokers;
    cfg.client_id = "spindlectl";
    cfg.request_timeout_ms = ctl->timeout_ms;
    cfg.connect_timeout_ms = ctl->timeout_ms;
    struct spc_error err = {0};
    int rc = spc_client_new(&cfg, &ctl->client, &err);
    if (rc < 0) {
        ctl->client = NULL;
        if (!err.message[0]) {
            snprintf(err.message, sizeof(err.message), "brokers \"%s\": %s", ctl->brokers,
                     ctl_code_name(rc));
        }
        return ctl_fail(rc, &err);
    }
    return CTL_EXIT_OK;
}

int32_t ctl_remaining_ms(const struct ctl *ctl)
{
    int64_t left = ctl->timeout_ms - (ctl_mono_ms() - ctl->start_ms);
    return left < 1 ? 1 : (int32_t)left;
}

int ctl_metadata(struct ctl *ctl, const char *const *topics, size_t n, struct spc_call *call,
                 const struct kproto_metadata_response **out)
{
    int rc = ctl_connect(ctl);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    struct kproto_metadata_request req;
    kproto_metadata_request_init(&req);
    struct kproto_metadata_request_metadata_request_topic *list = NULL;
    if (topics) {
        list = ctl_xmalloc((n ? n : 1) * sizeof(*list));
        memset(list, 0, (n ? n : 1) * sizeof(*list));
        for (size_t i = 0; i < n; i++) {
            list[i].Name.ptr = topics[i];
            list[i].Name.len = (int32_t)strlen(topics[i]);
        }
        req.Topics = list;
        req.Topics_count = (int32_t)n;
    } else {
        req.Topics = NULL;
        req.Topics_count = -1;
    }
    /* Asking about a topic must not create it: v4+ carry the flag. Before
     * v4 the field does not exist (the encoder refuses a non-default value),
     * and such brokers decide by themselves, as they did for their clients. */
    req.AllowAutoTopicCreation = false;
    struct spc_error err = {0};
    for (int attempt = 0; attempt < 2; attempt++) {
        memset(call, 0, sizeof(*call));
        call->api_key = KPROTO_API_KEY_METADATA;
        call->min_version = 1; /* v0 cannot ask for "every topic" as null */
        call->max_version = req.AllowAutoTopicCreation ? 3 : 12;
        call->node = SPC_ANY_BROKER;
        call->request = &req;
        call->retry_transport = true;
        call->timeout_ms = ctl_remaining_ms(ctl);
        memset(&err, 0, sizeof(err));
        rc = spc_call_sync(ctl->client, call, &err);
        if (rc != -EINVAL || req.AllowAutoTopicCreation) {
            break;
        }
        spc_call_release(call);
        req.AllowAutoTopicCreation = true;
    }
    free(list);
    if (rc < 0) {
        return ctl_fail(rc, &err);
    }
    *out = call->response;
    return CTL_EXIT_OK;
}

const char *ctl_fmt_uuid(const uint8_t id[16], char *buf, size_t cap)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    SP_ASSERT(cap >= 23);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < 16; i++) {
        acc = (acc << 8) | id[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            buf[o++] = b64[(acc >> bits) & 63];
        }
    }
    buf[o++] = b64[(acc << (6 - bits)) & 63];
    buf[o] = '\0';
    return buf;
}

/* ---- Tables ------------------------------------------------------------------ */

static void ctl_table_push(struct ctl_table *t, char *cell)
{
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cells = ctl_xrealloc(t->cells, t->cap * sizeof(*t->cells));
    }
    t->cells[t->count++] = cell;
}

void ctl_table_init(struct ctl_table *t, size_t cols, ...)
{
    SP_ASSERT(cols > 0);
    memset(t, 0, sizeof(*t));
    t->cols = cols;
    va_list ap;
    va_start(ap, cols);
    for (size_t i = 0; i < cols; i++) {
        ctl_table_push(t, ctl_xstrdup(va_arg(ap, const char *)));
    }
    va_end(ap);
}

void ctl_table_add(struct ctl_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cell = NULL;
    int n = vasprintf(&cell, fmt, ap);
    va_end(ap);
    if (n < 0) {
        ctl_oom(0);
    }
    ctl_table_push(t, cell);
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t ctl_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) {
        w += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return w;
}

void ctl_table_print(const struct ctl_table *t, FILE *out)
{
    size_t widths[64] = {0};
    SP_ASSERT(t->cols <= SP_ARRAY_LEN(widths));
    for (size_t i = 0; i < t->count; i++) {
        size_t w = ctl_width(t->cells[i]);
        widths[i % t->cols] = SP_MAX(widths[i % t->cols], w);
    }
    for (size_t i = 0; i < t->count; i++) {
        size_t col = i % t->cols;
        fputs(t->cells[i], out);
        bool last = col == t->cols - 1 || i == t->count - 1;
        if (last) {
            fputc('\n', out);
        } else {
            fprintf(out, "%*s", (int)(widths[col] - ctl_width(t->cells[i]) + 2), "");
        }
    }
}

void ctl_table_fini(struct ctl_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

void ctl_kv(FILE *out, int width, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "%s:%*s", key, (int)(width - (int)ctl_width(key) + 1), "");
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    va_end(ap);
}

const char *ctl_fmt_bytes(int64_t bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    if (bytes < 1024) {
        snprintf(buf, cap, "%" PRId64 " B", bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < SP_ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

const char *ctl_fmt_time(int64_t ms, char *buf, size_t cap)
{
    if (ms < 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "%" PRId64, ms);
        return buf;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

/* ---- JSON -------------------------------------------------------------------- */

void ctl_json_begin(struct ctl_json *j, FILE *out, bool pretty)
{
    memset(j, 0, sizeof(*j));
    j->out = out;
    j->pretty = pretty;
}

void ctl_json_end(struct ctl_json *j)
{
    SP_ASSERT(j->depth == 0);
    fputc('\n', j->out);
}

static void ctl_json_newline(struct ctl_json *j)
{
    if (j->pretty) {
        fputc('\n', j->out);
        for (int i = 0; i < j->depth; i++) {
            fputs("  ", j->out);
        }
    }
}

/* Separators before a value or a key. */
static void ctl_json_prefix(struct ctl_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth == 0) {
        return;
    }
    if (j->has_items[j->depth - 1]) {
        fputc(',', j->out);
    }
    j->has_items[j->depth - 1] = true;
    ctl_json_newline(j);
}

static void ctl_json_open(struct ctl_json *j, char open, char close)
{
    ctl_json_prefix(j);
    SP_ASSERT(j->depth < CTL_JSON_DEPTH_MAX);
    fputc(open, j->out);
    j->has_items[j->depth] = false;
    j->closer[j->depth] = close;
    j->depth++;
}

void ctl_json_object(struct ctl_json *j)
{
    ctl_json_open(j, '{', '}');
}

void ctl_json_array(struct ctl_json *j)
{
    ctl_json_open(j, '[', ']');
}

void ctl_json_close(struct ctl_json *j)
{
    SP_ASSERT(j->depth > 0 && !j->after_key);
    j->depth--;
    if (j->has_items[j->depth]) {
        ctl_json_newline(j);
    }
    fputc(j->closer[j->depth], j->out);
}

void ctl_json_key(struct ctl_json *j, const char *key)
{
    SP_ASSERT(j->depth > 0 && j->closer[j->depth - 1] == '}' && !j->after_key);
    ctl_json_prefix(j);
    fputc('"', j->out);
    ctl_json_escape(j->out, key, strlen(key));
    fputs(j->pretty ? "\": " : "\":", j->out);
    j->after_key = true;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t ctl_utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

void ctl_json_escape(FILE *out, const void *p, size_t len)
{
    const uint8_t *s = p;
    size_t run = 0; /* bytes at s[i - run .. i) to write as they are */
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t u = ctl_utf8_len(s + i, len - i);
            if (u) {
                run += u;
                i += u;
                continue;
            }
        }
        fwrite(s + i - run, 1, run, out);
        run = 0;
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        default:
            if (c < 0x20) {
                fprintf(out, "\\u%04x", c);
            } else {
                fputs("\\ufffd", out); /* not valid UTF-8 */
            }
            break;
        }
        i++;
    }
    fwrite(s + i - run, 1, run, out);
}

void ctl_json_strn(struct ctl_json *j, const void *p, size_t len)
{
    ctl_json_prefix(j);
    fputc('"', j->out);
    ctl_json_escape(j->out, p, len);
    fputc('"', j->out);
}

void ctl_json_str(struct ctl_json *j, const char *s)
{
    if (!s) {
        ctl_json_null(j);
        return;
    }
    ctl_json_strn(j, s, strlen(s));
}

void ctl_json_int(struct ctl_json *j, int64_t v)
{
    ctl_json_prefix(j);
    fprintf(j->out, "%" PRId64, v);
}

void ctl_json_double(struct ctl_json *j, double v)
{
    if (v != v || v > 1e300 || v < -1e300) {
        ctl_json_null(j);
        return;
    }
    ctl_json_prefix(j);
    fprintf(j->out, "%.6g", v);
}

void ctl_json_bool(struct ctl_json *j, bool v)
{
    ctl_json_prefix(j);
    fputs(v ? "true" : "false", j->out);
}

void ctl_json_null(struct ctl_json *j)
{
    ctl_json_prefix(j);
    fputs("null", j->out);
}

void ctl_json_kstr(struct ctl_json *j, const char *key, const char *s)
{
    ctl_json_key(j, key);
    ctl_json_str(j, s);
}

void ctl_json_kint(struct ctl_json *j, const char *key, int64_t v)
{
    ctl_json_key(j, key);
    ctl_json_int(j, v);
}

void ctl_json_kbool(struct ctl_json *j, const char *key, bool v)
{
    ctl_json_key(j, key);
    ctl_json_bool(j, v);
}

void ctl_json_kerror(struct ctl_json *j, const char *key, const struct spc_error *err)
{
    ctl_json_key(j, key);
    if (!err || err->code == 0) {
        ctl_json_null(j);
        return;
    }
    ctl_json_object(j);
    ctl_json_kint(j, "code", err->code);
    ctl_json_kstr(j, "name", ctl_code_name(err->code));
    ctl_json_kstr(j, "message", err->message);
    ctl_json_close(j);
}
