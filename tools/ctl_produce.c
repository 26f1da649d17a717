/*
 * tools/ctl_produce.c: `spindlectl produce TOPIC`: one record per input
 * line, from stdin or a file, through the client's batching producer.
 *
 * A line is split, in this order, into headers (--header-separator), key
 * (--key-separator) and value. Input is read with read(2) into one buffer
 * that records are cut from in place (the producer copies what it queues),
 * so there is no per-record allocation; while no full line is buffered the
 * client is polled, so what was typed is sent at once, not at the next line.
 *
 *   read(fd) ─> [ buffer: line\nline\npart ] ─> split ─> spc_produce
 *                    ^ consumed                              │
 *   summary <─ counters <─ delivery reports (spc_poll) <─────┘
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/gen/kerr.h"
#include "tools/ctl.h"

static const char produce_help[] =
    "Usage: spindlectl produce TOPIC [options]\n"
    "\n"
    "Produces one record per line of stdin (or --file) to TOPIC, then prints a\n"
    "summary: records, bytes, time, rate and errors. Exits 1 if any record\n"
    "failed. A line is cut in this order:\n"
    "\n"
    "  [HEADERS HEADER_SEP] [KEY KEY_SEP] VALUE\n"
    "\n"
    "HEADERS (with --header-separator) is a comma-separated list of NAME:VALUE\n"
    "pairs (a pair without ':' is a header with a null value); KEY (with\n"
    "--key-separator) is what comes before the first KEY_SEP, and a line\n"
    "without KEY_SEP gets a null key. Separators may be several characters.\n"
    "Every line is a record, empty lines too (an empty value).\n"
    "\n"
    "Options:\n"
    "  -f, --file PATH              read PATH instead of stdin ('-': stdin)\n"
    "  -k, --key-separator SEP      split each line into key and value at SEP\n"
    "  -H, --header-separator SEP   each line starts with headers, ended by SEP\n"
    "      --header NAME=VALUE      a header on every record (repeat for several)\n"
    "  -p, --partition N            produce to partition N (default: by key with\n"
    "                               Kafka's murmur2 partitioner, round robin when\n"
    "                               the key is null)\n"
    "      --acks all|1|0           acknowledgements to wait for (default all)\n"
    "  -z, --compression CODEC      none, gzip, snappy, lz4 or zstd (default none)\n"
    "      --idempotent             idempotent producer (needs --acks all)\n"
    "      --rate N                 at most N records per second\n"
    "      --linger DUR             batching delay (default 5ms)\n"
    "      --max-line BYTES         longest line accepted (default 1048576)\n"
    "  -v, --verbose                print the partition and offset of every record\n"
    "  -q, --quiet                  no summary\n"
    "\n"
    "The topic must exist (see `spindlectl topic create`). --timeout bounds\n"
    "each record's delivery and the wait for the brokers at the start.\n"
    "\n"
    "Example:\n"
    "  printf 'alice:hello\\nbob:hi\\n' | spindlectl produce greetings -k :\n"
    "  printf 'src:web|alice:hi\\n' | spindlectl produce greetings -H '|' -k :\n"
    "  seq 100000 | spindlectl produce numbers --rate 5000 -z zstd --idempotent\n";

#define PRODUCE_HEADERS_MAX  64
#define PRODUCE_ERRORS_SHOWN 5

/* Where a partition's records went. */
struct part_stat {
    int64_t first, last; /* offsets, -1: none yet */
    uint64_t count;
};

struct produce {
    struct ctl *ctl;
    const char *topic;
    struct spc_producer *producer;
    /* Options. */
    const char *key_sep, *header_sep;
    size_t key_sep_len, header_sep_len;
    struct spc_header fixed[PRODUCE_HEADERS_MAX]; /* --header */
    size_t fixed_count;
    int32_t partition;
    int64_t rate;
    size_t max_line;
    bool verbose, quiet;
    /* Input. */
    int fd;
    uint8_t *buf;
    size_t cap, start, end; /* unconsumed bytes: buf[start..end) */
    bool eof, discarding;
    /* Counters. */
    uint64_t lines, queued, delivered, failed, bytes;
    struct part_stat *parts;
    size_t parts_count;
    struct spc_error first_err;
    bool stop;
};

static void produce_error(struct produce *pr, const struct spc_error *err)
{
    if (pr->failed == 0) {
        pr->first_err = *err;
    }
    pr->failed++;
    if (pr->failed <= PRODUCE_ERRORS_SHOWN) {
        ctl_errorf("%s", err->message[0] ? err->message : ctl_code_name(err->code));
    } else if (pr->failed == PRODUCE_ERRORS_SHOWN + 1) {
        ctl_errorf("more records failed (counted in the summary)");
    }
}

static void produce_delivered(void *opaque, const char *topic, int32_t partition, int64_t offset,
                              const struct spc_error *err)
{
    struct produce *pr = opaque;
    (void)topic;
    if (pr->stop) {
        return; /* reports of what spc_producer_free cancels, after the summary */
    }
    if (err && err->code != 0) {
        produce_error(pr, err);
        return;
    }
    pr->delivered++;
    if (partition >= 0 && (size_t)partition < pr->parts_count) {
        struct part_stat *ps = &pr->parts[partition];
        if (ps->first < 0 || (offset >= 0 && offset < ps->first)) {
            ps->first = offset;
        }
        ps->last = SP_MAX(ps->last, offset);
        ps->count++;
    }
    if (pr->verbose && !pr->ctl->json) {
        fprintf(pr->ctl->out, "partition %d offset %" PRId64 "\n", partition, offset);
    }
}

/* ---- Options --------------------------------------------------------------------- */

enum { OPT_HEADER = 0x100, OPT_ACKS, OPT_IDEMPOTENT, OPT_RATE, OPT_LINGER, OPT_MAX_LINE };

struct produce_opts {
    const char *file;
    struct spc_producer_config pc;
    char *header_args[PRODUCE_HEADERS_MAX];
};

static int produce_parse_acks(const struct ctl_parser *p, const char *arg, int16_t *acks)
{
    if (strcmp(arg, "all") == 0 || strcmp(arg, "-1") == 0) {
        *acks = -1;
    } else if (strcmp(arg, "1") == 0 || strcmp(arg, "leader") == 0) {
        *acks = 1;
    } else if (strcmp(arg, "0") == 0 || strcmp(arg, "none") == 0) {
        *acks = 0;
    } else {
        return ctl_usage_error(p->name, "--acks: expected all, 1 or 0, got '%s'", arg);
    }
    return CTL_EXIT_OK;
}

static int produce_option(struct produce *pr, struct produce_opts *o, const struct ctl_parser *p,
                          int c)
{
    int64_t v;
    int rc = CTL_EXIT_OK;
    switch (c) {
    case 'f':
        o->file = optarg;
        break;
    case 'k':
    case 'H':
        if (!optarg[0]) {
            return ctl_usage_error(p->name, "a separator cannot be empty");
        }
        if (c == 'k') {
            pr->key_sep = optarg;
            pr->key_sep_len = strlen(optarg);
        } else {
            pr->header_sep = optarg;
            pr->header_sep_len = strlen(optarg);
        }
        break;
    case OPT_HEADER: {
        const char *name, *value;
        if (pr->fixed_count == PRODUCE_HEADERS_MAX || ctl_split_kv(optarg, &name, &value) != 0) {
            return ctl_usage_error(p->name, "--header: expected NAME=VALUE (at most %d), got '%s'",
                                   PRODUCE_HEADERS_MAX, optarg);
        }
        pr->fixed[pr->fixed_count].key = sp_slice_make(name, strlen(name));
        pr->fixed[pr->fixed_count].value = sp_slice_make(value, strlen(value));
        pr->fixed_count++;
        break;
    }
    case 'p':
        rc = ctl_opt_i32(p, "--partition", optarg, 0, INT32_MAX, &pr->partition);
        break;
    case OPT_ACKS:
        rc = produce_parse_acks(p, optarg, &o->pc.acks);
        break;
    case 'z':
        if (sp_codec_parse(optarg, &o->pc.compression) != 0) {
            return ctl_usage_error(p->name,
                                   "--compression: expected none, gzip, snappy, lz4 or zstd, "
                                   "got '%s'",
                                   optarg);
        }
        break;
    case OPT_IDEMPOTENT:
        o->pc.idempotent = true;
        break;
    case OPT_RATE:
        rc = ctl_opt_i64(p, "--rate", optarg, 1, INT32_MAX, &pr->rate);
        break;
    case OPT_LINGER:
        if (ctl_parse_duration_ms(optarg, &v) != 0 || v > 60000) {
            return ctl_usage_error(p->name, "--linger: expected a duration such as 5ms, got '%s'",
                                   optarg);
        }
        o->pc.linger_ms = (int32_t)v;
        break;
    case OPT_MAX_LINE:
        rc = ctl_opt_i64(p, "--max-line", optarg, 1, 256 << 20, &v);
        pr->max_line = (size_t)v;
        break;
    case 'v':
        pr->verbose = true;
        break;
    case 'q':
        pr->quiet = true;
        break;
    default:
        break;
    }
    return rc;
}

/* 0 to go on, else *done and the exit code (--help: 0). */
static int produce_parse(struct ctl *ctl, struct produce *pr, struct produce_opts *o, int argc,
                         char **argv, bool *done)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"key-separator", required_argument, NULL, 'k'},
        {"header-separator", required_argument, NULL, 'H'},
        {"header", required_argument, NULL, OPT_HEADER},
        {"partition", required_argument, NULL, 'p'},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"compression", required_argument, NULL, 'z'},
        {"idempotent", no_argument, NULL, OPT_IDEMPOTENT},
        {"rate", required_argument, NULL, OPT_RATE},
        {"linger", required_argument, NULL, OPT_LINGER},
        {"max-line", required_argument, NULL, OPT_MAX_LINE},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_parser p = {
        .name = "produce", .help = produce_help, .shortopts = "f:k:H:p:z:vq", .longopts = opts};
    for (int c; (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
        if (c == CTL_OPT_STOP) {
            *done = true;
            return p.exit;
        }
        int rc = produce_option(pr, o, &p, c);
        if (rc != CTL_EXIT_OK) {
            return rc;
        }
    }
    int rc = ctl_operands(&p, argc, 1, 1);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (o->pc.idempotent && o->pc.acks != -1) {
        return ctl_usage_error(p.name, "--idempotent needs --acks all");
    }
    pr->topic = argv[optind];
    return CTL_EXIT_OK;
}

/* ---- Input ----------------------------------------------------------------------- */

/*
 * The next line (without its '\n') into *line, *len: 1; 0 at the end of the
 * input; -errno on a read error. A line longer than max_line is reported,
 * counted as failed and skipped. While no full line is buffered, the client
 * is polled so that queued records go out and reports come back.
 */
static int produce_next_line(struct produce *pr, const uint8_t **line, size_t *len)
{
    for (;;) {
        uint8_t *from = pr->buf + pr->start;
        uint8_t *nl = memchr(from, '\n', pr->end - pr->start);
        if (nl) {
            size_t n = (size_t)(nl - from);
            pr->start += n + 1;
            if (pr->discarding) {
                pr->discarding = false;
                continue;
            }
            *line = from;
            *len = n;
            return 1;
        }
        if (pr->eof) {
            size_t n = pr->end - pr->start;
            pr->start = pr->end;
            if (n == 0 || pr->discarding) {
                return 0;
            }
            *line = from;
            *len = n;
            return 1;
        }
        /* Make room: move the partial line to the front. */
        if (pr->start > 0) {
            memmove(pr->buf, pr->buf + pr->start, pr->end - pr->start);
            pr->end -= pr->start;
            pr->start = 0;
        }
        if (pr->end == pr->cap) {
            if (!pr->discarding) {
                struct spc_error err = {.code = -EMSGSIZE};
                snprintf(err.message, sizeof(err.message),
                         "line %" PRIu64 ": longer than --max-line (%zu bytes): skipped",
                         pr->lines + 1, pr->max_line);
                pr->lines++;
                produce_error(pr, &err);
            }
            pr->discarding = true;
            pr->end = 0;
        }
        /* Nothing buffered to send: keep the client busy until input comes. */
        struct pollfd pfd = {.fd = pr->fd, .events = POLLIN};
        while (spc_producer_pending(pr->producer) > 0 && poll(&pfd, 1, 0) == 0) {
            spc_poll(pr->ctl->client, 20);
        }
        fflush(pr->ctl->out); /* -v's lines, before read may block */
        ssize_t r = read(pr->fd, pr->buf + pr->end, pr->cap - pr->end);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            pr->eof = true;
        }
        pr->end += (size_t)r;
    }
}

/* Finds sep in [p, p + n): its offset, or -1. */
static ptrdiff_t find_sep(const uint8_t *p, size_t n, const char *sep, size_t sep_len)
{
    const uint8_t *at = memmem(p, n, sep, sep_len);
    return at ? at - p : -1;
}

/* Parses "name:value,name:value" into hdrs after the fixed ones; returns the count. */
static size_t parse_headers(const struct produce *pr, const uint8_t *p, size_t n,
                            struct spc_header *hdrs)
{
    size_t count = pr->fixed_count;
    memcpy(hdrs, pr->fixed, count * sizeof(*hdrs));
    while (n > 0 && count < PRODUCE_HEADERS_MAX) {
        const uint8_t *comma = memchr(p, ',', n);
        size_t item = comma ? (size_t)(comma - p) : n;
        if (item > 0) {
            const uint8_t *colon = memchr(p, ':', item);
            if (colon) {
                hdrs[count].key = sp_slice_make(p, (size_t)(colon - p));
                hdrs[count].value = sp_slice_make(colon + 1, item - (size_t)(colon - p) - 1);
            } else {
                hdrs[count].key = sp_slice_make(p, item);
                hdrs[count].value = sp_slice_make(NULL, 0);
            }
            count++;
        }
        if (!comma) {
            break;
        }
        p += item + 1;
        n -= item + 1;
    }
    return count;
}

/* Queues one line as a record: 0, or -errno after reporting (the run stops). */
static int produce_line(struct produce *pr, const uint8_t *p, size_t n)
{
    struct spc_header hdrs[PRODUCE_HEADERS_MAX];
    struct spc_record r = {.timestamp_ms = -1, .headers = hdrs};
    r.headers_count = pr->fixed_count;
    memcpy(hdrs, pr->fixed, pr->fixed_count * sizeof(*hdrs));
    if (pr->header_sep) {
        ptrdiff_t at = find_sep(p, n, pr->header_sep, pr->header_sep_len);
        if (at >= 0) {
            r.headers_count = parse_headers(pr, p, (size_t)at, hdrs);
            p += (size_t)at + pr->header_sep_len;
            n -= (size_t)at + pr->header_sep_len;
        }
    }
    r.key = sp_slice_make(NULL, 0);
    if (pr->key_sep) {
        ptrdiff_t at = find_sep(p, n, pr->key_sep, pr->key_sep_len);
        if (at >= 0) {
            r.key = sp_slice_make(p, (size_t)at);
            p += (size_t)at + pr->key_sep_len;
            n -= (size_t)at + pr->key_sep_len;
        }
    }
    /* An empty value is an empty record, not a null one (sp_slice ptr must be set). */
    r.value = sp_slice_make(n ? p : (const uint8_t *)"", n);
    for (;;) {
        struct spc_error err = {0};
        int rc =
            spc_produce(pr->producer, pr->topic, pr->partition, &r, produce_delivered, pr, &err);
        if (rc == 0) {
            pr->queued++;
            pr->bytes += n + r.key.len;
            return 0;
        }
        if (rc != -ENOBUFS) {
            if (err.code == 0) {
                spc_error_set(&err, rc, "-", "topic \"%s\"", pr->topic);
            }
            produce_error(pr, &err);
            return rc;
        }
        spc_poll(pr->ctl->client, 10);
    }
}

/* Waits, polling the client, until the --rate schedule allows the next record. */
static void produce_pace(struct produce *pr, int64_t start_ms)
{
    if (pr->rate <= 0) {
        return;
    }
    int64_t due = start_ms + (int64_t)(pr->queued * 1000 / (uint64_t)pr->rate);
    for (int64_t now = ctl_mono_ms(); now < due; now = ctl_mono_ms()) {
        spc_poll(pr->ctl->client, (int)SP_MIN(due - now, 100));
    }
}

static int produce_run(struct produce *pr, int64_t start_ms)
{
    for (;;) {
        const uint8_t *line = NULL;
        size_t len = 0;
        int rc = produce_next_line(pr, &line, &len);
        if (rc < 0) {
            ctl_errorf("reading the input: %s", strerror(-rc));
            return CTL_EXIT_ERROR;
        }
        if (rc == 0) {
            return CTL_EXIT_OK;
        }
        pr->lines++;
        produce_pace(pr, start_ms);
        if (produce_line(pr, line, len) < 0) {
            return CTL_EXIT_ERROR;
        }
        spc_poll(pr->ctl->client, 0);
    }
}

static void produce_summary(struct produce *pr, int64_t ms)
{
    double s = (double)ms / 1000.0;
    double rate = s > 0 ? (double)pr->delivered / s : 0;
    double bps = s > 0 ? (double)pr->bytes / s : 0;
    if (pr->ctl->json) {
        struct ctl_json j;
        ctl_json_begin(&j, pr->ctl->out, true);
        ctl_json_object(&j);
        ctl_json_kstr(&j, "topic", pr->topic);
        ctl_json_kint(&j, "records", (int64_t)pr->delivered);
        ctl_json_kint(&j, "bytes", (int64_t)pr->bytes);
        ctl_json_kint(&j, "errors", (int64_t)pr->failed);
        ctl_json_key(&j, "seconds");
        ctl_json_double(&j, s);
        ctl_json_key(&j, "records_per_second");
        ctl_json_double(&j, rate);
        ctl_json_key(&j, "bytes_per_second");
        ctl_json_double(&j, bps);
        ctl_json_key(&j, "partitions");
        ctl_json_array(&j);
        for (size_t i = 0; i < pr->parts_count; i++) {
            const struct part_stat *ps = &pr->parts[i];
            if (ps->count == 0) {
                continue;
            }
            ctl_json_object(&j);
            ctl_json_kint(&j, "partition", (int64_t)i);
            ctl_json_kint(&j, "records", (int64_t)ps->count);
            ctl_json_kint(&j, "first_offset", ps->first);
            ctl_json_kint(&j, "last_offset", ps->last);
            ctl_json_close(&j);
        }
        ctl_json_close(&j);
        ctl_json_kerror(&j, "first_error", &pr->first_err);
        ctl_json_close(&j);
        ctl_json_end(&j);
        return;
    }
    if (pr->quiet) {
        return;
    }
    char b1[32], b2[32];
    fprintf(pr->ctl->out,
            "produced %" PRIu64 " records (%s) to \"%s\" in %.3f s: %.0f records/s, %s/s; "
            "%" PRIu64 " errors\n",
            pr->delivered, ctl_fmt_bytes((int64_t)pr->bytes, b1, sizeof(b1)), pr->topic, s, rate,
            ctl_fmt_bytes((int64_t)bps, b2, sizeof(b2)), pr->failed);
}

/* Metadata for the topic first: a down broker or a missing topic fails here,
 * within --timeout, before any input is read. */
static int produce_check_topic(struct produce *pr)
{
    struct ctl *ctl = pr->ctl;
    struct spc_error err = {0};
    int rc = spc_metadata_sync(ctl->client, &pr->topic, 1, false, &err);
    if (rc < 0) {
        return ctl_fail(rc, &err);
    }
    const struct spc_topic *t = spc_topic_get(ctl->client, pr->topic);
    int16_t code = t ? t->error : KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (code != 0) {
        spc_error_set(&err, code, ctl->brokers, "topic \"%s\"", pr->topic);
        return ctl_item_fail(&err);
    }
    if (pr->partition >= t->partitions_count) {
        spc_error_set(&err, KERR_UNKNOWN_TOPIC_OR_PARTITION, ctl->brokers,
                      "topic \"%s\" has %d partitions, no partition %d", pr->topic,
                      t->partitions_count, pr->partition);
        return ctl_item_fail(&err);
    }
    pr->parts_count = (size_t)t->partitions_count;
    pr->parts = ctl_xmalloc((pr->parts_count ? pr->parts_count : 1) * sizeof(*pr->parts));
    for (size_t i = 0; i < pr->parts_count; i++) {
        pr->parts[i] = (struct part_stat){.first = -1, .last = -1};
    }
    return CTL_EXIT_OK;
}

static int produce_open(struct produce *pr, const char *file)
{
    pr->fd = STDIN_FILENO;
    if (file && strcmp(file, "-") != 0) {
        pr->fd = open(file, O_RDONLY | O_CLOEXEC);
        if (pr->fd < 0) {
            ctl_errorf("%s: %s", file, strerror(errno));
            return CTL_EXIT_USAGE;
        }
    }
    pr->cap = pr->max_line + 1;
    pr->buf = ctl_xmalloc(SP_MAX(pr->cap, (size_t)65536));
    pr->cap = SP_MAX(pr->cap, (size_t)65536);
    return CTL_EXIT_OK;
}

int ctl_produce_main(struct ctl *ctl, int argc, char **argv)
{
    struct produce pr = {.ctl = ctl, .partition = -1, .max_line = 1u << 20, .fd = -1};
    struct produce_opts o = {0};
    spc_producer_config_init(&o.pc);
    bool done = false;
    int rc = produce_parse(ctl, &pr, &o, argc, argv, &done);
    if (done) {
        return rc;
    }
    if (rc == CTL_EXIT_OK) {
        rc = produce_open(&pr, o.file);
    }
    if (rc == CTL_EXIT_OK) {
        rc = ctl_connect(ctl);
    }
    if (rc == CTL_EXIT_OK) {
        rc = produce_check_topic(&pr);
    }
    struct spc_error err = {0};
    if (rc == CTL_EXIT_OK) {
        o.pc.delivery_timeout_ms = ctl->timeout_ms + o.pc.linger_ms;
        int r = spc_producer_new(ctl->client, &o.pc, &pr.producer, &err);
        if (r < 0) {
            rc = ctl_fail(r, &err);
        }
    }
    if (rc == CTL_EXIT_OK) {
        int64_t start = ctl_mono_ms();
        rc = produce_run(&pr, start);
        int r = spc_producer_flush(pr.producer, o.pc.delivery_timeout_ms + ctl->timeout_ms);
        uint64_t left = spc_producer_pending(pr.producer);
        if (r < 0 && left > 0) {
            spc_error_set(&err, -ETIMEDOUT, ctl->brokers,
                          "topic \"%s\": %" PRIu64 " records not acknowledged in time", pr.topic,
                          left);
            produce_error(&pr, &err);
            pr.failed += left - 1;
        }
        produce_summary(&pr, ctl_mono_ms() - start);
        if (pr.failed > 0) {
            rc = SP_MAX(rc, ctl_exit_for(pr.first_err.code, &pr.first_err));
        }
    }
    pr.stop = true;
    if (pr.producer) {
        spc_producer_free(pr.producer);
    }
    if (pr.fd > STDIN_FILENO) {
        close(pr.fd);
    }
    free(pr.buf);
    free(pr.parts);
    return rc;
}
