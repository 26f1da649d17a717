/*
 * tools/ctl.h: what spindlectl's subcommands share (internal to tools/).
 *
 * spindlectl.c parses the global options and hands the rest of argv to a
 * subcommand's entry point:
 *
 *   main ─> global options (--brokers, --json, --timeout) ─> ctl_<cmd>_main
 *        ─> its own subcommand (ctl_dispatch) ─> ctl_getopt loop ─> operands
 *        ─> ctl_connect ─> spc_* calls ─> a table / JSON on ctl->out
 *
 * Global options are accepted anywhere on the line: ctl_getopt handles them
 * in every subcommand's loop. Entry points take argv with argv[0] the
 * command's own name ("topic", "create") and return the process exit code.
 *
 * Output: tables (ctl_table) and text go to ctl->out; with --json one JSON
 * document (ctl_json, pretty) instead, or one compact JSON value per line
 * for streams (consume). Errors go to stderr as `spindlectl: <message>`.
 *
 * Memory: the few allocations here are the CLI's own (ctl_xmalloc exits
 * with a message when the heap is exhausted); the process is short-lived.
 */
#ifndef SP_TOOLS_CTL_H
#define SP_TOOLS_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/spc.h"
#include "core/sp.h"

/* Exit codes scripts can rely on (also in `spindlectl --help`). */
enum ctl_exit {
    CTL_EXIT_OK = 0,          /* done */
    CTL_EXIT_ERROR = 1,       /* the brokers answered with an error (e.g. TOPIC_ALREADY_EXISTS),
                                 or a record failed, or output could not be written */
    CTL_EXIT_USAGE = 2,       /* bad command line: unknown option, missing operand, bad value */
    CTL_EXIT_UNREACHABLE = 3, /* no broker could be reached, or no answer within --timeout */
};

#define CTL_DEFAULT_BROKERS    "localhost:9092"
#define CTL_DEFAULT_TIMEOUT_MS 10000

struct ctl {
    const char *brokers;       /* --brokers, else $SPINDLE_BROKERS, else localhost:9092 */
    int32_t timeout_ms;        /* --timeout: the whole command's time budget */
    bool json;                 /* --json */
    FILE *out;                 /* stdout */
    struct spc_client *client; /* NULL until ctl_connect */
    int64_t start_ms;          /* monotonic, when the command started */
};

/* ---- Errors ---------------------------------------------------------------- */

/* Prints `spindlectl: <message>` on stderr. */
void ctl_errorf(const char *fmt, ...) SP_PRINTF(1, 2);
/* The exit code for a failed spc_* call: CTL_EXIT_UNREACHABLE for transport
 * errors and timeouts, else CTL_EXIT_ERROR. */
int ctl_exit_for(int rc, const struct spc_error *err);
/* Reports a failed spc_* call (err->message, else strerror(-rc)) and returns
 * ctl_exit_for(rc, err). */
int ctl_fail(int rc, const struct spc_error *err);
/* Reports a per-item error (code != 0) and returns CTL_EXIT_ERROR, or 0. */
int ctl_item_fail(const struct spc_error *err);
/* Reports `spindlectl <cmd>: <message>` plus a hint to see --help; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) SP_PRINTF(2, 3);
/* Short name of an spc_error code: a Kafka error's name, "TIMED_OUT", strerror. */
const char *ctl_code_name(int code);

/* ---- Options ----------------------------------------------------------------- */

#define CTL_OPT_END  (-1) /* options done: operands are argv[optind..argc) */
#define CTL_OPT_STOP (-2) /* return p->exit: --help was printed (0) or a usage error (2) */

#define CTL_OPTS_MAX 48

/*
 * A getopt_long loop over one subcommand's options plus the global ones
 * (-b/--brokers, --json, --timeout, -h/--help), which it handles itself.
 * Options and operands may come in any order.
 *
 *   struct ctl_parser p = {.name = "topic create", .help = HELP,
 *                          .shortopts = "p:r:", .longopts = opts};
 *   for (int c; (c = ctl_getopt(ctl, &p, argc, argv)) != CTL_OPT_END;) {
 *       switch (c) {
 *       case CTL_OPT_STOP: return p.exit;
 *       case 'p': ...
 *       }
 *   }
 *   operands: argv[optind], ...
 */
struct ctl_parser {
    /* In. */
    const char *name;              /* "topic create", for messages */
    const char *help;              /* printed by --help (ends with a newline) */
    const char *shortopts;         /* the subcommand's short options, getopt syntax, or NULL */
    const struct option *longopts; /* its long options ({0}-terminated), or NULL */
    /* Out. */
    int exit; /* with CTL_OPT_STOP */
    /* ctl_util.c's. */
    bool started;
    struct option merged[CTL_OPTS_MAX];
    char merged_short[96];
};

int ctl_getopt(struct ctl *ctl, struct ctl_parser *p, int argc, char **argv);
/*
 * The whole ctl_getopt loop of a subcommand whose only option is a flag:
 * *flag is set when the option whose getopt value is opt is given (flag
 * NULL: a subcommand with no options of its own). false: return p->exit
 * (--help was printed, or a usage error).
 */
bool ctl_getopt_flag(struct ctl *ctl, struct ctl_parser *p, int argc, char **argv, int opt,
                     bool *flag);
/* Checks the number of operands left (argv[optind..argc)); usage error else. */
int ctl_operands(const struct ctl_parser *p, int argc, int min, int max);

/* Parses an integer in [min, max]: 0 or CTL_EXIT_USAGE (reported, naming opt). */
int ctl_opt_i64(const struct ctl_parser *p, const char *opt, const char *arg, int64_t min,
                int64_t max, int64_t *out);
int ctl_opt_i32(const struct ctl_parser *p, const char *opt, const char *arg, int32_t min,
                int32_t max, int32_t *out);
/* Parses a --timeout duration, over 0 and at most a day: 0 or CTL_EXIT_USAGE (reported). */
int ctl_opt_timeout_ms(const struct ctl_parser *p, const char *arg, int64_t *out_ms);
/* Parses a point in time (ctl_parse_time_ms, not before the epoch): 0 or CTL_EXIT_USAGE. */
int ctl_opt_time_ms(const struct ctl_parser *p, const char *opt, const char *arg, int64_t *out_ms);

/* A subcommand table for commands that have subcommands ("topic create"). */
struct ctl_cmd {
    const char *name;
    int (*fn)(struct ctl *ctl, int argc, char **argv);
};

/*
 * Runs argv[1] of cmds with argv shifted by one. No subcommand: help and
 * CTL_EXIT_USAGE; -h/--help/help: help and 0; unknown: usage error.
 */
int ctl_dispatch(struct ctl *ctl, const char *name, const char *help, const struct ctl_cmd *cmds,
                 size_t n, int argc, char **argv);

/* ---- Parsing helpers --------------------------------------------------------- */

/* "500ms", "10s", "2m", "1h"; a bare number is seconds. 0 or -EINVAL. */
int ctl_parse_duration_ms(const char *s, int64_t *out_ms);
/*
 * A point in time as ms since the epoch: an integer (ms since the epoch),
 * an ISO 8601 date and time ("2024-05-01", "2024-05-01T12:30:00",
 * "2024-05-01 12:30:00.250Z", "...+02:00"; no zone means UTC), or a time
 * relative to now_ms ("-1h", "-30m", "-10s", "+5m"). 0 or -EINVAL.
 */
int ctl_parse_time_ms(const char *s, int64_t now_ms, int64_t *out_ms);
/* Wall-clock now, ms since the epoch. */
int64_t ctl_wall_ms(void);
/* Monotonic now, ms. */
int64_t ctl_mono_ms(void);

/* Splits "name=value" at its first '=' (in place): 0, or -EINVAL when there
 * is no '=' or the name is empty. */
int ctl_split_kv(char *s, const char **name, const char **value);

/* ---- Connection -------------------------------------------------------------- */

/* Creates ctl->client for ctl->brokers (no I/O yet). 0 or an exit code (reported). */
int ctl_connect(struct ctl *ctl);
/* What is left of --timeout for the next call (at least 1 ms). */
int32_t ctl_remaining_ms(const struct ctl *ctl);

/*
 * A Metadata request of ctl's own, for what the client's cache does not keep
 * (the list of every topic, replica and ISR lists): topics NULL, 0 asks for
 * every topic. *out lives in call->arena: spc_call_release(call) after use.
 * 0, or an exit code (reported) when no broker answered.
 */
struct kproto_metadata_response;
int ctl_metadata(struct ctl *ctl, const char *const *topics, size_t n, struct spc_call *call,
                 const struct kproto_metadata_response **out);
/* A topic id as Kafka prints it (base64url, 22 characters; buf of at least 23). */
const char *ctl_fmt_uuid(const uint8_t id[16], char *buf, size_t cap);

/* ---- Tables ------------------------------------------------------------------ */

/*
 * Aligned columns, headers first, two spaces apart (the last column is not
 * padded). Cells are added row-major with printf formats.
 *
 *   struct ctl_table t;
 *   ctl_table_init(&t, 2, "PARTITION", "LEADER");
 *   ctl_table_add(&t, "%d", 0); ctl_table_add(&t, "%d", 1);
 *   ctl_table_print(&t, ctl->out);
 *   ctl_table_fini(&t);
 */
struct ctl_table {
    size_t cols;
    char **cells; /* row-major, the headers first (owned) */
    size_t count, cap;
};

void ctl_table_init(struct ctl_table *t, size_t cols, ...);
void ctl_table_add(struct ctl_table *t, const char *fmt, ...) SP_PRINTF(2, 3);
void ctl_table_print(const struct ctl_table *t, FILE *out);
void ctl_table_fini(struct ctl_table *t);

/* "key:  value" lines, the keys padded to width. */
void ctl_kv(FILE *out, int width, const char *key, const char *fmt, ...) SP_PRINTF(4, 5);

/* 1536 -> "1.5 KiB" (buf of at least 32). */
const char *ctl_fmt_bytes(int64_t bytes, char *buf, size_t cap);
/* ms since the epoch -> "2024-05-01T12:30:00.250Z" (buf of at least 32); "-" when < 0. */
const char *ctl_fmt_time(int64_t ms, char *buf, size_t cap);

/* ---- JSON -------------------------------------------------------------------- */

#define CTL_JSON_DEPTH_MAX 32

/*
 * A streaming JSON writer: strings are escaped (quotes, backslashes,
 * control characters) and always valid UTF-8 (an invalid byte becomes
 * U+FFFD). pretty: two-space indents; else one compact line (JSON lines).
 * ctl_json_end writes the final newline.
 *
 *   struct ctl_json j;
 *   ctl_json_begin(&j, ctl->out, true);
 *   ctl_json_object(&j);
 *   ctl_json_kstr(&j, "topic", name);
 *   ctl_json_key(&j, "partitions"); ctl_json_array(&j); ... ctl_json_close(&j);
 *   ctl_json_close(&j);
 *   ctl_json_end(&j);
 */
struct ctl_json {
    FILE *out;
    bool pretty;
    int depth;
    bool after_key;
    bool has_items[CTL_JSON_DEPTH_MAX];
    char closer[CTL_JSON_DEPTH_MAX];
};

void ctl_json_begin(struct ctl_json *j, FILE *out, bool pretty);
void ctl_json_end(struct ctl_json *j);
void ctl_json_object(struct ctl_json *j);
void ctl_json_array(struct ctl_json *j);
void ctl_json_close(struct ctl_json *j); /* the innermost object or array */
void ctl_json_key(struct ctl_json *j, const char *key);
void ctl_json_str(struct ctl_json *j, const char *s); /* NULL: null */
void ctl_json_strn(struct ctl_json *j, const void *p, size_t len);
void ctl_json_int(struct ctl_json *j, int64_t v);
void ctl_json_double(struct ctl_json *j, double v);
void ctl_json_bool(struct ctl_json *j, bool v);
void ctl_json_null(struct ctl_json *j);
/* key + value in one call. */
void ctl_json_kstr(struct ctl_json *j, const char *key, const char *s);
void ctl_json_kint(struct ctl_json *j, const char *key, int64_t v);
void ctl_json_kbool(struct ctl_json *j, const char *key, bool v);
/* An spc_error as null (code 0) or {"code": N, "name": "...", "message": "..."}. */
void ctl_json_kerror(struct ctl_json *j, const char *key, const struct spc_error *err);
/* Writes s (len bytes) as the inside of a JSON string, without quotes. */
void ctl_json_escape(FILE *out, const void *s, size_t len);

/* ---- Memory ------------------------------------------------------------------ */

/* malloc / realloc / strdup that exit(1) with a message on failure. */
void *ctl_xmalloc(size_t n);
void *ctl_xrealloc(void *p, size_t n);
char *ctl_xstrdup(const char *s);

/* ---- Entry points -------------------------------------------------------------- */

int ctl_cluster_main(struct ctl *ctl, int argc, char **argv); /* ctl_cluster.c */
int ctl_topic_main(struct ctl *ctl, int argc, char **argv);   /* ctl_topic.c */
int ctl_produce_main(struct ctl *ctl, int argc, char **argv); /* ctl_produce.c */
int ctl_consume_main(struct ctl *ctl, int argc, char **argv); /* ctl_consume.c */
int ctl_group_main(struct ctl *ctl, int argc, char **argv);   /* ctl_group.c */
int ctl_configs_main(struct ctl *ctl, int argc, char **argv); /* ctl_configs.c */

#endif /* SP_TOOLS_CTL_H */
