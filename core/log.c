/* core/log.c: timestamped single-line log records. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

enum sp_log_level sp_log_level_current = SP_LOG_INFO;

static _Thread_local int log_shard = -1;
static int log_fd = STDERR_FILENO;

#define LOG_LINE_MAX 2048

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};
static const char *const level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"};

void sp_log_set_level(enum sp_log_level level)
{
    sp_log_level_current = level;
}

int sp_log_parse_level(const char *name, enum sp_log_level *out)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum sp_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *sp_log_level_name(enum sp_log_level level)
{
    if ((unsigned)level >= SP_ARRAY_LEN(level_names)) {
        return "?";
    }
    return level_names[level];
}

void sp_log_set_shard(int shard)
{
    log_shard = shard;
}

int sp_log_shard(void)
{
    return log_shard;
}

void sp_log_set_fd(int fd)
{
    log_fd = fd;
}

void sp_log_write(enum sp_log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    int k;
    if (log_shard >= 0) {
        k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s [shard %d] ", ts.tv_nsec / 1000000L,
                     level_tags[level], log_shard);
    } else {
        k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s [main] ", ts.tv_nsec / 1000000L,
                     level_tags[level]);
    }
    n += (size_t)k;

    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0) {
        k = 0;
    }
    n += SP_MIN((size_t)k, sizeof(line) - n - 2);
    /* One record is one line: fold any newline inside the message. */
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\n') {
            line[i] = ' ';
        }
    }
    line[n++] = '\n';

    ssize_t w;
    do {
        w = write(log_fd, line, n);
    } while (w < 0 && errno == EINTR);
}
