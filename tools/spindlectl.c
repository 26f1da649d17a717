/*
 * tools/spindlectl.c: the command line for Spindle and any Kafka-compatible
 * broker (issue 12): topics, produce, consume, groups, configs, the cluster.
 *
 * main parses the global options that come before the command, then hands
 * argv from the command on to its entry point (tools/ctl.h); every
 * subcommand accepts the global options too, anywhere on the line.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl.h"

static const char help[] =
    "Usage: spindlectl [global options] COMMAND [SUBCOMMAND] [options] [operands]\n"
    "\n"
    "The command line for Spindle and any Kafka-compatible broker.\n"
    "\n"
    "Commands:\n"
    "  cluster info                     brokers, controller, cluster id, API versions\n"
    "  topic create|list|describe|delete|add-partitions|alter-config\n"
    "  produce TOPIC                    records from stdin or a file, one per line\n"
    "  consume TOPIC                    records to stdout\n"
    "  group list|describe|delete|reset-offsets\n"
    "  configs describe|set|delete      configs of topics and brokers\n"
    "\n"
    "Each command and subcommand has --help, with an example.\n"
    "\n"
    "Global options (anywhere on the line):\n"
    "  -b, --brokers LIST   bootstrap brokers host:port[,...] (default $SPINDLE_BROKERS,\n"
    "                       else localhost:9092)\n"
    "      --json           JSON output instead of tables\n"
    "      --timeout DUR    time budget of the command (e.g. 10s, 500ms; default 10s):\n"
    "                       a broker that does not answer fails the command by then\n"
    "  -h, --help           this help\n"
    "\n"
    "Environment:\n"
    "  SPINDLE_BROKERS      the default for --brokers\n"
    "\n"
    "Exit codes:\n"
    "  0  done\n"
    "  1  the brokers answered with an error (e.g. TOPIC_ALREADY_EXISTS), or a record\n"
    "     could not be produced\n"
    "  2  usage error (unknown option, missing operand, bad value)\n"
    "  3  no broker could be reached, or none answered within --timeout\n"
    "\n"
    "Example:\n"
    "  spindlectl -b localhost:9092 topic create greetings -p 3\n"
    "  echo 'alice:hello' | spindlectl produce greetings --key-separator :\n"
    "  spindlectl consume greetings --from-beginning -n 1\n";

static const struct ctl_cmd commands[] = {
    {"cluster", ctl_cluster_main}, {"topic", ctl_topic_main},     {"topics", ctl_topic_main},
    {"produce", ctl_produce_main}, {"consume", ctl_consume_main}, {"group", ctl_group_main},
    {"groups", ctl_group_main},    {"configs", ctl_configs_main}, {"config", ctl_configs_main},
};

enum { OPT_JSON = 0x100, OPT_TIMEOUT };

/* Global options before the command. Returns -1 to go on, else an exit code. */
static int parse_globals(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "+:b:h", opts, NULL)) != -1;) {
        int64_t ms;
        switch (c) {
        case 'b':
            ctl->brokers = optarg;
            break;
        case OPT_JSON:
            ctl->json = true;
            break;
        case OPT_TIMEOUT:
            if (ctl_parse_duration_ms(optarg, &ms) != 0 || ms <= 0 || ms > 24 * 3600 * 1000) {
                ctl_errorf("--timeout: expected a duration such as 10s or 500ms, got '%s'", optarg);
                return CTL_EXIT_USAGE;
            }
            ctl->timeout_ms = (int32_t)ms;
            break;
        case 'h':
            fputs(help, stdout);
            return CTL_EXIT_OK;
        case ':':
            ctl_errorf("option %s needs a value (see: spindlectl --help)", argv[optind - 1]);
            return CTL_EXIT_USAGE;
        default:
            ctl_errorf("unknown option %s (see: spindlectl --help)", argv[optind - 1]);
            return CTL_EXIT_USAGE;
        }
    }
    return -1;
}

static int run_command(struct ctl *ctl, int argc, char **argv)
{
    const char *name = argv[0];
    if (strcmp(name, "help") == 0) {
        if (argc < 2) {
            fputs(help, stdout);
            return CTL_EXIT_OK;
        }
        /* "help topic create" runs "topic create --help". */
        char **args = ctl_xmalloc(((size_t)argc + 1) * sizeof(*args));
        for (int i = 1; i < argc; i++) {
            args[i - 1] = argv[i];
        }
        args[argc - 1] = "--help";
        args[argc] = NULL;
        int rc = run_command(ctl, argc, args);
        free(args);
        return rc;
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return commands[i].fn(ctl, argc, argv);
        }
    }
    ctl_errorf("unknown command '%s' (see: spindlectl --help)", name);
    return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {
        .brokers = CTL_DEFAULT_BROKERS,
        .timeout_ms = CTL_DEFAULT_TIMEOUT_MS,
        .out = stdout,
    };
    const char *env = getenv("SPINDLE_BROKERS");
    if (env && env[0]) {
        ctl.brokers = env;
    }
    int rc = parse_globals(&ctl, argc, argv);
    if (rc >= 0) {
        return rc;
    }
    if (optind >= argc) {
        fputs(help, stderr);
        return CTL_EXIT_USAGE;
    }
    /* A reader that goes away (`| head`) ends the output, not with a crash report. */
    signal(SIGPIPE, SIG_DFL);
    ctl.start_ms = ctl_mono_ms();
    rc = run_command(&ctl, argc - optind, argv + optind);
    if (ctl.client) {
        spc_client_free(ctl.client);
    }
    if (fflush(ctl.out) != 0 || ferror(ctl.out)) {
        ctl_errorf("writing the output failed");
        if (rc == CTL_EXIT_OK) {
            rc = CTL_EXIT_ERROR;
        }
    }
    return rc;
}
