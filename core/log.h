/*
 * core/log.h: one line per event, on stderr.
 *
 *   2026-11-21T16:10:00.123Z INFO  [shard 0] listening on 127.0.0.1:9092
 *
 * Any thread may log. A shard thread names itself once with
 * sp_log_set_shard(); other threads log as "[main]". Lines are written with a
 * single write(2) each, so lines from different shards never interleave.
 * Logging is for events, not for the per-record hot path.
 */
#ifndef SP_CORE_LOG_H
#define SP_CORE_LOG_H

#include "core/sp.h"

enum sp_log_level {
    SP_LOG_ERROR = 0,
    SP_LOG_WARN = 1,
    SP_LOG_INFO = 2,
    SP_LOG_DEBUG = 3,
    SP_LOG_TRACE = 4,
};

/* The current threshold; lines above it are not formatted at all. */
extern enum sp_log_level sp_log_level_current;

void sp_log_set_level(enum sp_log_level level);
/* Parses "error", "warn", "info", "debug", "trace". Returns 0 or -EINVAL. */
int sp_log_parse_level(const char *name, enum sp_log_level *out);
const char *sp_log_level_name(enum sp_log_level level);
/* Names the calling thread's shard in its log lines; -1 means not a shard. */
void sp_log_set_shard(int shard);
int sp_log_shard(void);
/* Sends log lines to fd instead of stderr (tests). */
void sp_log_set_fd(int fd);

void sp_log_write(enum sp_log_level level, const char *fmt, ...) SP_PRINTF(2, 3);

#define sp_log_at(level, ...)                   \
    do {                                        \
        if ((level) <= sp_log_level_current) {  \
            sp_log_write((level), __VA_ARGS__); \
        }                                       \
    } while (0)

#define sp_log_error(...) sp_log_at(SP_LOG_ERROR, __VA_ARGS__)
#define sp_log_warn(...)  sp_log_at(SP_LOG_WARN, __VA_ARGS__)
#define sp_log_info(...)  sp_log_at(SP_LOG_INFO, __VA_ARGS__)
#define sp_log_debug(...) sp_log_at(SP_LOG_DEBUG, __VA_ARGS__)
#define sp_log_trace(...) sp_log_at(SP_LOG_TRACE, __VA_ARGS__)

#endif /* SP_CORE_LOG_H */
