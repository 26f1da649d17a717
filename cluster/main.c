/*
 * cluster/main.c: the `spindle` broker process.
 *
 * Reads the configuration (defaults, then --config FILE, then --set and
 * --smp overrides in the order given), prepares the data directories, binds
 * the listeners, prints the readiness line on stdout and runs until SIGTERM
 * or SIGINT. The first signal stops accepting, drains and flushes within
 * shutdown.drain.ms and exits 0; a second signal exits at once.
 *
 * Before the shards start, the metadata log (cluster/metalog.h) is loaded
 * from the first log dir; each shard replays it into its own image, opens
 * the logs of the partitions placed on it, and shard 0 opens the metadata
 * log for appending and starts the controller (cluster/shard.h), all
 * before the shard accepts connections: the readiness line means every
 * log is open.
 *
 * The listeners are bound here first, to resolve port 0; then every shard
 * (core/rx.h) binds its own SO_REUSEPORT socket to the same port and serves
 * its connections (net/conn.h, cluster/dispatch.h), and these first sockets
 * are closed so that no connection waits on a socket nobody accepts from.
 * The readiness line follows.
 *
 * The readiness line is the one line this process writes on stdout, so
 * tests and scripts can wait for it instead of sleeping:
 *
 *   spindle ready listeners=PLAINTEXT://127.0.0.1:40123 node.id=1
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/dispatch.h"
#include "cluster/image.h"
#include "cluster/meta_props.h"
#include "cluster/metalog.h"
#include "cluster/part.h"
#include "cluster/shard.h"
#include "core/config.h"
#include "core/io.h"
#include "core/log.h"
#include "core/rx.h"
#include "net/conn.h"
#include "net/listener.h"

#define SPINDLE_EXIT_USAGE 2
#define LISTEN_BACKLOG     1024

static const char usage_text[] =
    "Usage: spindle [OPTIONS]\n"
    "\n"
    "Spindle: a Kafka-wire-compatible streaming broker.\n"
    "\n"
    "Options:\n"
    "  --config FILE     read a properties file with Kafka's key names\n"
    "  --set KEY=VALUE   override one key (repeatable; applied after --config)\n"
    "  --smp N           number of shards (same as --set smp=N)\n"
    "  --help-config     list every configuration key with its type and default\n"
    "  --version         print the version and exit\n"
    "  --help            print this help and exit\n";

struct cli {
    const char *config_path;
    const char **overrides; /* "key=value", in the order given */
    int override_count;
};

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "spindle: %s '%s'\nTry 'spindle --help'.\n", what, arg);
}

/*
 * Parses argv. Returns -1 to go on, or an exit status: 0 after --help or
 * --version, SPINDLE_EXIT_USAGE on a usage error.
 */
static int cli_parse(int argc, char **argv, struct cli *cli)
{
    static char smp_pair[32];

    cli->overrides = calloc((size_t)argc, sizeof(*cli->overrides));
    if (cli->overrides == NULL) {
        fprintf(stderr, "spindle: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("spindle %s\n", SPINDLE_VERSION);
            return 0;
        }
        if (strcmp(a, "--help-config") == 0) {
            sp_config_print_docs(stdout);
            return 0;
        }
        if (strcmp(a, "--config") == 0 || strcmp(a, "--set") == 0 || strcmp(a, "--smp") == 0) {
            if (next == NULL) {
                usage_error("needs a value:", a);
                return SPINDLE_EXIT_USAGE;
            }
            i++;
            if (strcmp(a, "--config") == 0) {
                cli->config_path = next;
            } else if (strcmp(a, "--set") == 0) {
                cli->overrides[cli->override_count++] = next;
            } else {
                snprintf(smp_pair, sizeof(smp_pair), "smp=%.20s", next);
                cli->overrides[cli->override_count++] = smp_pair;
            }
            continue;
        }
        usage_error("unknown argument", a);
        return SPINDLE_EXIT_USAGE;
    }
    return -1;
}

static int config_build(const struct cli *cli, struct sp_config *cfg)
{
    char err[512];
    if (cli->config_path != NULL && sp_config_load_file(cfg, cli->config_path, err, sizeof(err))) {
        fprintf(stderr, "spindle: configuration error: %s\n", err);
        return -EINVAL;
    }
    for (int i = 0; i < cli->override_count; i++) {
        if (sp_config_set_pair(cfg, cli->overrides[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "spindle: configuration error: %s\n", err);
            return -EINVAL;
        }
    }
    return 0;
}

/* mkdir -p for one log.dirs entry. */
static int make_dirs(const char *path, size_t len)
{
    char buf[4096];
    if (len == 0 || len >= sizeof(buf)) {
        return -ENAMETOOLONG;
    }
    memcpy(buf, path, len);
    buf[len] = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

static int prepare_log_dir(void *ctx, const char *item, size_t len)
{
    int rc = make_dirs(item, len);
    if (rc < 0) {
        sp_log_error("log.dirs: cannot create '%.*s': %s", (int)len, item, strerror(-rc));
        return rc;
    }
    sp_log_info("log dir %.*s ready", (int)len, item);
    return 0;
}

struct broker {
    struct sp_config *cfg;
    struct sp_meta_props meta;
    struct sp_listener_set listeners;
    struct sp_listener_set advertised; /* per bound listener: what clients are told */
    int listen_fd[SP_LISTENERS_MAX];
    struct sp_net_params net;
    struct sp_dispatch_params dispatch;
    char log_dir[4096]; /* the first of log.dirs: the metadata log and every partition */
    struct sp_image_records records; /* the metadata log as loaded, for the shards' init */
    struct sp_shard_params shard;
};

/* Reads or writes meta.properties in every log dir: which cluster and node this is. */
static int broker_identify(struct broker *b)
{
    char err[1024];
    int32_t node_id = (int32_t)sp_config_int(b->cfg, SP_CFG_NODE_ID);
    if (sp_meta_props_ensure(sp_config_str(b->cfg, SP_CFG_LOG_DIRS), node_id, &b->meta, err,
                             sizeof(err)) < 0) {
        sp_log_error("meta.properties: %s", err);
        return -EINVAL;
    }
    sp_log_info("node %d of cluster %s", b->meta.node_id, b->meta.cluster_id);
    return 0;
}

static int broker_listen(struct broker *b)
{
    char err[512];
    if (sp_listener_parse_list(sp_config_str(b->cfg, SP_CFG_LISTENERS), &b->listeners, err,
                               sizeof(err)) < 0) {
        sp_log_error("listeners: %s", err);
        return -EINVAL;
    }
    for (int i = 0; i < b->listeners.count; i++) {
        struct sp_listener_addr *a = &b->listeners.addr[i];
        char name[SP_LISTENER_HOST_MAX + 96];
        sp_listener_format(a, name, sizeof(name));
        int fd = sp_listener_bind(a, LISTEN_BACKLOG);
        if (fd < 0) {
            sp_log_error("listener %s: cannot listen: %s", name, strerror(-fd));
            return fd;
        }
        b->listen_fd[i] = fd;
        sp_listener_format(a, name, sizeof(name));
        sp_log_info("listening on %s", name);
    }
    return 0;
}

static void broker_print_ready(const struct broker *b)
{
    printf("spindle ready listeners=");
    for (int i = 0; i < b->listeners.count; i++) {
        char name[SP_LISTENER_HOST_MAX + 96];
        sp_listener_format(&b->listeners.addr[i], name, sizeof(name));
        printf("%s%s", i ? "," : "", name);
    }
    printf(" node.id=%lld\n", (long long)sp_config_int(b->cfg, SP_CFG_NODE_ID));
    fflush(stdout);
}

static void broker_close(struct broker *b)
{
    for (int i = 0; i < b->listeners.count; i++) {
        if (b->listen_fd[i] >= 0) {
            close(b->listen_fd[i]);
            b->listen_fd[i] = -1;
        }
    }
}

/*
 * What clients are told for each bound listener: the advertised.listeners
 * entry of the same name where there is one, with the bound host and port
 * filling what it leaves empty or 0; this machine's name for a listener on
 * every address.
 */
static int broker_advertise(struct broker *b)
{
    struct sp_listener_set adv = {0};
    const char *list = sp_config_str(b->cfg, SP_CFG_ADVERTISED_LISTENERS);
    char err[512];
    if (list[0] != '\0' && sp_listener_parse_list(list, &adv, err, sizeof(err)) < 0) {
        sp_log_error("advertised.listeners: %s", err);
        return -EINVAL;
    }
    b->advertised = b->listeners;
    for (int i = 0; i < b->listeners.count; i++) {
        struct sp_listener_addr *a = &b->advertised.addr[i];
        for (int j = 0; j < adv.count; j++) {
            if (strcmp(adv.addr[j].name, a->name) == 0) {
                if (adv.addr[j].host[0] != '\0') {
                    memcpy(a->host, adv.addr[j].host, sizeof(a->host));
                }
                if (adv.addr[j].port != 0) {
                    a->port = adv.addr[j].port;
                }
            }
        }
        if (a->host[0] == '\0' && gethostname(a->host, sizeof(a->host) - 1) < 0) {
            snprintf(a->host, sizeof(a->host), "localhost");
        }
    }
    return 0;
}

static int first_log_dir(void *ctx, const char *item, size_t len)
{
    struct broker *b = ctx;
    if (b->log_dir[0] == '\0') {
        snprintf(b->log_dir, sizeof(b->log_dir), "%.*s", (int)len, item);
    }
    return 0;
}

static int load_record(void *ctx, int64_t offset, const struct sp_metalog_record *r)
{
    return sp_image_records_add(ctx, offset, r);
}

/*
 * Reads the metadata log before any shard starts: the records are copied,
 * and every shard replays them into its own image during its init.
 */
static int broker_load_metadata(struct broker *b)
{
    (void)sp_config_list_each(sp_config_str(b->cfg, SP_CFG_LOG_DIRS), first_log_dir, b);
    if (b->log_dir[0] == '\0') {
        sp_log_error("log.dirs is empty");
        return -EINVAL;
    }
    sp_image_setup(b->cfg, b->meta.node_id);
    sp_part_cleanup_deleted(b->log_dir);
    int64_t end_offset = 0;
    int32_t epoch = 0;
    int rc = sp_metalog_load(b->log_dir, b->cfg, load_record, &b->records, &end_offset, &epoch);
    if (rc < 0) {
        sp_log_error("cannot load the metadata log: %s", strerror(-rc));
        return rc;
    }
    sp_log_info("metadata log loaded: %zu records up to offset %lld, epoch %d", b->records.count,
                (long long)end_offset, epoch);
    b->shard =
        (struct sp_shard_params){.cfg = b->cfg, .log_dir = b->log_dir, .records = &b->records};
    return 0;
}

/* Every log this shard owns is open before it accepts a connection. */
static int shard_init(void *ctx)
{
    struct broker *b = ctx;
    sp_log_debug("shard %d of %u running", sp_rx_shard_id(), sp_rx_shard_count());
    int rc = sp_shard_start(&b->shard);
    if (rc < 0) {
        return rc;
    }
    return sp_net_shard_start(&b->net);
}

static void shard_stopping(void *ctx)
{
    (void)ctx;
    sp_net_shard_stop();
}

static void shard_fini(void *ctx)
{
    (void)ctx;
    sp_net_shard_fini();
    sp_shard_fini();
}

static int broker_start_shards(struct broker *b)
{
    b->dispatch.node_id = b->meta.node_id;
    b->dispatch.cluster_id = b->meta.cluster_id;
    b->dispatch.advertised = &b->advertised;
    if (sp_dispatch_init(&b->dispatch) < 0) {
        return -EINVAL;
    }
    b->net.listeners = &b->listeners;
    b->net.request_max_bytes = (uint32_t)sp_config_int(b->cfg, SP_CFG_SOCKET_REQUEST_MAX_BYTES);
    b->net.max_connections = sp_config_int(b->cfg, SP_CFG_MAX_CONNECTIONS);
    b->net.idle_ms = sp_config_int(b->cfg, SP_CFG_CONNECTIONS_MAX_IDLE_MS);
    b->net.handler.request = sp_dispatch_request;
    b->net.handler.ctx = b;

    struct sp_rx_params p = {0};
    struct sp_rx_hooks hooks = {
        .init = shard_init, .stopping = shard_stopping, .fini = shard_fini, .ctx = b};
    p.shards = (uint32_t)sp_config_int(b->cfg, SP_CFG_SMP);
    p.drain_ms = (uint32_t)sp_config_int(b->cfg, SP_CFG_SHUTDOWN_DRAIN_MS);
    if (sp_io_parse_kernel_cap(sp_config_str(b->cfg, SP_CFG_IO_URING_FEATURES), &p.io.kernel_cap) <
        0) {
        sp_log_error("io_uring.features: '%s' is not auto or a kernel version such as 6.1",
                     sp_config_str(b->cfg, SP_CFG_IO_URING_FEATURES));
        return -EINVAL;
    }
    int rc = sp_rx_start(&p, &hooks);
    /* The shards have replayed it: the copy is no longer needed. */
    sp_image_records_free(&b->records);
    if (rc < 0) {
        sp_log_error("cannot start the shards: %s", strerror(-rc));
        return rc;
    }
    /* Every shard now accepts on its own socket: the first ones would only hold connections. */
    broker_close(b);
    return 0;
}

/*
 * Waits for SIGTERM or SIGINT (blocked in every thread, so only this wait
 * sees them). Returns the signal number.
 */
static int wait_signal(const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig > 0) {
            return sig;
        }
        if (errno != EINTR) {
            sp_log_error("sigwaitinfo: %s", strerror(errno));
            return SIGTERM;
        }
    }
}

static int join_result;

/* Waits for the shards to drain, then tells main with SIGUSR1. */
static void *join_thread(void *arg)
{
    (void)arg;
    join_result = sp_rx_join();
    kill(getpid(), SIGUSR1);
    return NULL;
}

/*
 * Stops accepting, lets the shards drain and flush (bounded by
 * shutdown.drain.ms), and returns the exit status. A second stop signal
 * meanwhile exits at once.
 */
static int broker_shutdown(struct broker *b, const sigset_t *set)
{
    broker_close(b);
    sp_rx_stop();
    pthread_t joiner;
    if (pthread_create(&joiner, NULL, join_thread, NULL) != 0) {
        return sp_rx_join() == 0 ? 0 : 1;
    }
    for (;;) {
        int sig = wait_signal(set);
        if (sig == SIGUSR1) {
            break;
        }
        sp_log_warn("second signal (%s): exiting at once", strsignal(sig));
        _exit(1);
    }
    pthread_join(joiner, NULL);
    if (join_result < 0) {
        sp_log_warn("drain did not finish within shutdown.drain.ms");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    int status = cli_parse(argc, argv, &cli);
    if (status >= 0) {
        free(cli.overrides);
        return status;
    }

    struct broker b = {0};
    sp_image_records_init(&b.records);
    for (int i = 0; i < SP_LISTENERS_MAX; i++) {
        b.listen_fd[i] = -1;
    }
    b.cfg = sp_config_new();
    if (b.cfg == NULL || config_build(&cli, b.cfg) < 0) {
        sp_config_free(b.cfg);
        free(cli.overrides);
        return 1;
    }
    free(cli.overrides);

    enum sp_log_level level = SP_LOG_INFO;
    (void)sp_log_parse_level(sp_config_str(b.cfg, SP_CFG_LOGGER_LEVEL), &level);
    sp_log_set_level(level);

    /* Block the stop signals before any thread starts so that only main waits for them. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    sp_log_info("spindle %s starting, node.id=%lld", SPINDLE_VERSION,
                (long long)sp_config_int(b.cfg, SP_CFG_NODE_ID));
    if (sp_config_list_each(sp_config_str(b.cfg, SP_CFG_LOG_DIRS), prepare_log_dir, NULL) != 0 ||
        broker_identify(&b) < 0 || broker_load_metadata(&b) < 0 || broker_listen(&b) < 0 ||
        broker_advertise(&b) < 0 || broker_start_shards(&b) < 0) {
        broker_close(&b);
        sp_image_records_free(&b.records);
        sp_config_free(b.cfg);
        return 1;
    }
    broker_print_ready(&b);

    int sig;
    do {
        sig = wait_signal(&stop_set);
    } while (sig == SIGUSR1);
    sp_log_info("%s: stopping", strsignal(sig));
    status = broker_shutdown(&b, &stop_set);
    if (status == 0) {
        sp_log_info("stopped cleanly");
    }
    sp_config_free(b.cfg);
    return status;
}
