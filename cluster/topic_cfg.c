/*
 * cluster/topic_cfg.c: the table of Kafka's topic configs, their checks and
 * their resolution (topic value, else the broker key it defaults to, else
 * Kafka's default).
 *
 *   key -> row { kind, default, range or allowed set, broker key, field }
 *
 * A value is parsed once into a struct tval by its row's kind; the check,
 * the resolution into struct sp_topic_cfg and the description all go
 * through that one parse, so the three can never disagree.
 */
#include "cluster/topic_cfg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "protocol/batch.h"
#include "storage/log.h"

enum tkind {
    TK_INT,       /* Java int */
    TK_LONG,      /* Java long */
    TK_BOOL,      /* true / false, any case */
    TK_DOUBLE,    /* min..max inclusive */
    TK_ENUM,      /* one of `allowed` (comma-separated), case-sensitive as Kafka */
    TK_LIST,      /* a non-empty comma list, each item one of `allowed` */
    TK_THROTTLED, /* "", "*", or partition:broker pairs */
    TK_VERSION,   /* a Kafka release such as 2.8 or 3.0-IV1 */
};

/* How a broker key's integer becomes the topic key's value. */
enum bconv {
    BC_NONE,      /* no broker key in core/config_keys.h: Kafka's default */
    BC_PLAIN,     /* the same number */
    BC_HOURS,     /* hours to milliseconds */
    BC_RETENTION, /* log.retention.ms, unless unset (-2): log.retention.hours */
    BC_NEVER,     /* -1 (off) is Kafka's Long.MAX_VALUE (never) */
};

/* The struct sp_topic_cfg member a row fills, by its kind's C type. */
#define NOFIELD SIZE_MAX, 0
#define F(m)    offsetof(struct sp_topic_cfg, m), sizeof(((struct sp_topic_cfg *)0)->m)

struct trow {
    const char *name;
    enum tkind kind;
    const char *def; /* Kafka's default, in text */
    double min;      /* INT, LONG, DOUBLE */
    double max;
    const char *allowed; /* ENUM, LIST */
    enum bconv bconv;
    int broker;        /* enum sp_config_id when bconv != BC_NONE */
    size_t field;      /* offset, or SIZE_MAX */
    size_t width;      /* its size */
    const char *extra; /* a value also allowed outside min..max, or NULL */
};

#define I32MAX 2147483647.0
#define I64MAX 9223372036854775807.0
#define LMAX   "9223372036854775807"

/* clang-format off */
static const struct trow rows[] = {
    {"cleanup.policy", TK_LIST, "delete", 0, 0, "compact,delete", BC_NONE, -1, NOFIELD, NULL},
    {"compression.gzip.level", TK_INT, "-1", 1, 9, NULL, BC_NONE, -1, NOFIELD, "-1"},
    {"compression.lz4.level", TK_INT, "9", 1, 17, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"compression.type", TK_ENUM, "producer", 0, 0,
     "uncompressed,zstd,lz4,snappy,gzip,producer", BC_NONE, -1, NOFIELD, NULL},
    {"compression.zstd.level", TK_INT, "3", -131072, 22, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"delete.retention.ms", TK_LONG, "86400000", 0, I64MAX, NULL, BC_NONE, -1,
     F(delete_retention_ms), NULL},
    {"file.delete.delay.ms", TK_LONG, "60000", 0, I64MAX, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"flush.messages", TK_LONG, LMAX, 1, I64MAX, NULL, BC_PLAIN,
     SP_CFG_LOG_FLUSH_INTERVAL_MESSAGES, F(flush_messages), NULL},
    {"flush.ms", TK_LONG, LMAX, 0, I64MAX, NULL, BC_NEVER, SP_CFG_LOG_FLUSH_INTERVAL_MS,
     F(flush_ms), NULL},
    {"follower.replication.throttled.replicas", TK_THROTTLED, "", 0, 0, NULL, BC_NONE, -1,
     NOFIELD, NULL},
    {"index.interval.bytes", TK_INT, "4096", 0, I32MAX, NULL, BC_PLAIN,
     SP_CFG_LOG_INDEX_INTERVAL_BYTES, F(index_interval_bytes), NULL},
    {"leader.replication.throttled.replicas", TK_THROTTLED, "", 0, 0, NULL, BC_NONE, -1,
     NOFIELD, NULL},
    {"local.retention.bytes", TK_LONG, "-2", -2, I64MAX, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"local.retention.ms", TK_LONG, "-2", -2, I64MAX, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"max.compaction.lag.ms", TK_LONG, LMAX, 1, I64MAX, NULL, BC_NONE, -1,
     F(max_compaction_lag_ms), NULL},
    {"max.message.bytes", TK_INT, "1048588", 0, I32MAX, NULL, BC_PLAIN, SP_CFG_MESSAGE_MAX_BYTES,
     F(max_message_bytes), NULL},
    {"message.downconversion.enable", TK_BOOL, "true", 0, 0, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"message.format.version", TK_VERSION, "3.0-IV1", 0, 0, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"message.timestamp.after.max.ms", TK_LONG, LMAX, 0, I64MAX, NULL, BC_NONE, -1,
     F(timestamp_after_max_ms), NULL},
    {"message.timestamp.before.max.ms", TK_LONG, LMAX, 0, I64MAX, NULL, BC_NONE, -1,
     F(timestamp_before_max_ms), NULL},
    {"message.timestamp.difference.max.ms", TK_LONG, LMAX, 0, I64MAX, NULL, BC_NONE, -1,
     NOFIELD, NULL},
    {"message.timestamp.type", TK_ENUM, "CreateTime", 0, 0, "CreateTime,LogAppendTime", BC_NONE,
     -1, NOFIELD, NULL},
    {"min.cleanable.dirty.ratio", TK_DOUBLE, "0.5", 0, 1, NULL, BC_NONE, -1,
     F(min_cleanable_dirty_ratio), NULL},
    {"min.compaction.lag.ms", TK_LONG, "0", 0, I64MAX, NULL, BC_NONE, -1,
     F(min_compaction_lag_ms), NULL},
    {"min.insync.replicas", TK_INT, "1", 1, I32MAX, NULL, BC_NONE, -1, F(min_insync_replicas),
     NULL},
    {"preallocate", TK_BOOL, "false", 0, 0, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"remote.storage.enable", TK_BOOL, "false", 0, 0, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"retention.bytes", TK_LONG, "-1", -I64MAX - 1, I64MAX, NULL, BC_PLAIN,
     SP_CFG_LOG_RETENTION_BYTES, F(retention_bytes), NULL},
    {"retention.ms", TK_LONG, "604800000", -1, I64MAX, NULL, BC_RETENTION,
     SP_CFG_LOG_RETENTION_MS, F(retention_ms), NULL},
    {"segment.bytes", TK_INT, "1073741824", 14, I32MAX, NULL, BC_PLAIN, SP_CFG_LOG_SEGMENT_BYTES,
     F(segment_bytes), NULL},
    {"segment.index.bytes", TK_INT, "10485760", 4, I32MAX, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"segment.jitter.ms", TK_LONG, "0", 0, I64MAX, NULL, BC_NONE, -1, NOFIELD, NULL},
    {"segment.ms", TK_LONG, "604800000", 1, I64MAX, NULL, BC_HOURS, SP_CFG_LOG_ROLL_HOURS,
     F(segment_ms), NULL},
    {"unclean.leader.election.enable", TK_BOOL, "false", 0, 0, NULL, BC_NONE, -1, NOFIELD, NULL},
};
/* clang-format on */

#define NROWS SP_ARRAY_LEN(rows)

static const char *row_names[NROWS];
static pthread_once_t row_names_once = PTHREAD_ONCE_INIT;

/* One parsed value. `s` is borrowed from the text it was parsed from. */
struct tval {
    int64_t i;
    double d;
    bool b;
    const char *s;
    size_t slen;
};

static const struct trow *row_find(const char *key)
{
    if (key == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < NROWS; i++) {
        if (strcmp(rows[i].name, key) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

bool sp_topic_cfg_known(const char *key)
{
    return row_find(key) != NULL;
}

static void row_names_fill(void)
{
    for (size_t i = 0; i < NROWS; i++) {
        row_names[i] = rows[i].name;
    }
}

size_t sp_topic_cfg_names(const char *const **names)
{
    pthread_once(&row_names_once, row_names_fill);
    *names = row_names;
    return NROWS;
}

/* ---- Parsing ------------------------------------------------------------- */

/* The value without surrounding blanks, as Kafka trims it. */
static void trim(const char *v, const char **s, size_t *len)
{
    size_t n = strlen(v);
    while (n > 0 && isspace((unsigned char)*v)) {
        v++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)v[n - 1])) {
        n--;
    }
    *s = v;
    *len = n;
}

/* Whether s[0..len) is `word`, exactly or ignoring case. */
static bool word_eq(const char *s, size_t len, const char *word, bool nocase)
{
    if (strlen(word) != len) {
        return false;
    }
    return nocase ? strncasecmp(s, word, len) == 0 : strncmp(s, word, len) == 0;
}

/* Whether s[0..len) is an item of the comma-separated `set`. */
static bool in_set(const char *s, size_t len, const char *set)
{
    const char *p = set;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == len && strncmp(p, s, len) == 0) {
            return true;
        }
        p += n + (comma ? 1 : 0);
    }
    return false;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != 0 || !(isdigit((unsigned char)buf[0]) || buf[0] == '-')) {
        return false;
    }
    *out = v;
    return true;
}

static bool digits(const char **p, const char *end)
{
    const char *start = *p;
    while (*p < end && isdigit((unsigned char)**p)) {
        (*p)++;
    }
    return *p > start;
}

/* "2.8", "0.10.0", "3.0-IV1". */
static bool version_ok(const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    if (!digits(&p, end) || p == end || *p != '.') {
        return false;
    }
    p++;
    if (!digits(&p, end)) {
        return false;
    }
    if (p < end && *p == '.') {
        p++;
        if (!digits(&p, end)) {
            return false;
        }
    }
    if (p < end && end - p > 3 && strncmp(p, "-IV", 3) == 0) {
        p += 3;
        if (!digits(&p, end)) {
            return false;
        }
    }
    return p == end;
}

/* "" or "*" or "0:101,1:102": partition:broker pairs. */
static bool throttled_ok(const char *s, size_t len)
{
    if (len == 0 || (len == 1 && s[0] == '*')) {
        return true;
    }
    const char *p = s, *end = s + len;
    while (p <= end) {
        while (p < end && isspace((unsigned char)*p)) {
            p++;
        }
        if (!digits(&p, end) || p == end || *p != ':') {
            return false;
        }
        p++;
        if (!digits(&p, end)) {
            return false;
        }
        while (p < end && isspace((unsigned char)*p)) {
            p++;
        }
        if (p == end) {
            return true;
        }
        if (*p != ',') {
            return false;
        }
        p++;
    }
    return false;
}

/* Each item of a comma list is in `set`, and there is at least one. */
static bool list_ok(const char *s, size_t len, const char *set)
{
    size_t items = 0;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *a = p, *b = stop;
        while (a < b && isspace((unsigned char)*a)) {
            a++;
        }
        while (b > a && isspace((unsigned char)b[-1])) {
            b--;
        }
        if (b == a || !in_set(a, (size_t)(b - a), set)) {
            return false;
        }
        items++;
        p = comma ? comma + 1 : end;
        if (comma && p == end) {
            return false; /* a trailing comma leaves an empty item */
        }
    }
    return items > 0;
}

static bool list_has(const char *s, size_t len, const char *item)
{
    size_t n = strlen(item);
    const char *p = s, *end = s + len;
    while (p < end) {
        while (p < end && (isspace((unsigned char)*p) || *p == ',')) {
            p++;
        }
        const char *q = p;
        while (q < end && *q != ',' && !isspace((unsigned char)*q)) {
            q++;
        }
        if ((size_t)(q - p) == n && strncmp(p, item, n) == 0) {
            return true;
        }
        p = q;
    }
    return false;
}

static void range_text(const struct trow *r, char *buf, size_t len)
{
    if (r->kind == TK_DOUBLE) {
        snprintf(buf, len, "between %g and %g", r->min, r->max);
    } else if (r->extra) {
        snprintf(buf, len, "%s or between %.0f and %.0f", r->extra, r->min, r->max);
    } else if (r->max >= (r->kind == TK_INT ? I32MAX : I64MAX)) {
        snprintf(buf, len, ">= %.0f", r->min);
    } else {
        snprintf(buf, len, "between %.0f and %.0f", r->min, r->max);
    }
}

/*
 * Parses `value` for row r into *v. 0, or -EINVAL with "key: "value" is not
 * <rule>" in err.
 */
static int row_parse(const struct trow *r, const char *value, struct tval *v, char *err,
                     size_t errlen)
{
    const char *s;
    size_t len;
    trim(value, &s, &len);
    memset(v, 0, sizeof(*v));
    v->s = s;
    v->slen = len;
    char rule[128];
    bool ok = false;
    switch (r->kind) {
    case TK_INT:
    case TK_LONG:
        if (!parse_i64(s, len, &v->i)) {
            snprintf(rule, sizeof(rule), "%s", r->kind == TK_INT ? "an int" : "a long");
            break;
        }
        if (r->extra && word_eq(s, len, r->extra, false)) {
            ok = true;
            break;
        }
        ok = (double)v->i >= r->min && (double)v->i <= r->max;
        if (r->kind == TK_INT) {
            ok = ok && v->i >= INT32_MIN && v->i <= INT32_MAX;
        }
        range_text(r, rule, sizeof(rule));
        break;
    case TK_BOOL:
        ok = word_eq(s, len, "true", true) || word_eq(s, len, "false", true);
        v->b = word_eq(s, len, "true", true);
        snprintf(rule, sizeof(rule), "true or false");
        break;
    case TK_DOUBLE: {
        char buf[64];
        char *end = NULL;
        if (len > 0 && len < sizeof(buf)) {
            memcpy(buf, s, len);
            buf[len] = 0;
            v->d = strtod(buf, &end);
            ok = *end == 0 && isfinite(v->d) && v->d >= r->min && v->d <= r->max;
        }
        range_text(r, rule, sizeof(rule));
        break;
    }
    case TK_ENUM:
        ok = in_set(s, len, r->allowed);
        snprintf(rule, sizeof(rule), "one of %s", r->allowed);
        break;
    case TK_LIST:
        ok = list_ok(s, len, r->allowed);
        snprintf(rule, sizeof(rule), "a list of %s", r->allowed);
        break;
    case TK_THROTTLED:
        ok = throttled_ok(s, len);
        snprintf(rule, sizeof(rule), "empty, * or partition:broker pairs");
        break;
    case TK_VERSION:
        ok = version_ok(s, len);
        snprintf(rule, sizeof(rule), "a Kafka version such as 3.0-IV1");
        break;
    }
    if (ok) {
        return 0;
    }
    if (err && errlen) {
        snprintf(err, errlen, "%s: \"%.*s\" is not %s", r->name, (int)SP_MIN(len, 200), s, rule);
    }
    return -EINVAL;
}

int sp_topic_cfg_check(const char *key, const char *value, char *err, size_t errlen)
{
    const struct trow *r = row_find(key);
    if (r == NULL) {
        if (err && errlen) {
            snprintf(err, errlen, "%.200s: unknown topic config", key ? key : "(null)");
        }
        return -EINVAL;
    }
    if (value == NULL) {
        return 0;
    }
    struct tval v;
    return row_parse(r, value, &v, err, errlen);
}

/* ---- Resolution ---------------------------------------------------------- */

/* The last explicit, non-NULL value of r's key in kv, or NULL. */
static const char *topic_value(const struct trow *r, const struct sp_topic_cfg_kv *kv, size_t n)
{
    const char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (kv[i].key && strcmp(kv[i].key, r->name) == 0) {
            found = kv[i].value;
        }
    }
    return found;
}

/* The broker's setting for r, when the broker's config sets the key it defaults to. */
static bool broker_value(const struct trow *r, const struct sp_config *broker, int64_t *out)
{
    if (broker == NULL || r->bconv == BC_NONE) {
        return false;
    }
    enum sp_config_id id = (enum sp_config_id)r->broker;
    if (r->bconv == BC_RETENTION) {
        int64_t ms = sp_config_int(broker, SP_CFG_LOG_RETENTION_MS);
        if (sp_config_is_set(broker, SP_CFG_LOG_RETENTION_MS) && ms != -2) {
            *out = ms;
            return true;
        }
        if (!sp_config_is_set(broker, SP_CFG_LOG_RETENTION_HOURS)) {
            return false;
        }
        int64_t h = sp_config_int(broker, SP_CFG_LOG_RETENTION_HOURS);
        *out = h < 0 ? -1 : h * 3600 * 1000;
        return true;
    }
    if (!sp_config_is_set(broker, id)) {
        return false;
    }
    int64_t v = sp_config_int(broker, id);
    if (r->bconv == BC_HOURS) {
        v = v * 3600 * 1000;
    } else if (r->bconv == BC_NEVER && v < 0) {
        v = INT64_MAX;
    }
    *out = v;
    return true;
}

/*
 * The value of r in force: parsed into *v, its text form into num (when it
 * came from the broker, whose value is a number), and its source.
 */
static int row_value(const struct trow *r, const struct sp_config *broker,
                     const struct sp_topic_cfg_kv *kv, size_t n, struct tval *v, char *num,
                     size_t numlen, int *source, char *err, size_t errlen)
{
    const char *tv = topic_value(r, kv, n);
    if (tv != NULL) {
        *source = 0;
        return row_parse(r, tv, v, err, errlen);
    }
    int64_t b;
    if (broker_value(r, broker, &b)) {
        *source = 1;
        snprintf(num, numlen, "%" PRId64, b);
        memset(v, 0, sizeof(*v));
        v->i = b;
        v->s = num;
        v->slen = strlen(num);
        return 0;
    }
    *source = 2;
    int rc = row_parse(r, r->def, v, err, errlen);
    SP_ASSERT(rc == 0); /* the table's own defaults are valid */
    return 0;
}

static void row_store(const struct trow *r, const struct tval *v, struct sp_topic_cfg *out)
{
    if (r->width != 0) {
        char *p = (char *)out + r->field;
        if (r->kind == TK_INT && r->width == sizeof(int32_t)) {
            int32_t x = (int32_t)v->i;
            memcpy(p, &x, sizeof(x));
        } else if (r->kind == TK_INT || r->kind == TK_LONG) {
            SP_ASSERT(r->width == sizeof(int64_t));
            memcpy(p, &v->i, sizeof(v->i));
        } else if (r->kind == TK_BOOL) {
            SP_ASSERT(r->width == sizeof(bool));
            memcpy(p, &v->b, sizeof(v->b));
        } else {
            SP_ASSERT(r->kind == TK_DOUBLE && r->width == sizeof(double));
            memcpy(p, &v->d, sizeof(v->d));
        }
        return;
    }
    if (strcmp(r->name, "cleanup.policy") == 0) {
        out->cleanup_delete = list_has(v->s, v->slen, "delete");
        out->cleanup_compact = list_has(v->s, v->slen, "compact");
    } else if (strcmp(r->name, "compression.type") == 0) {
        static const char *const codecs[] = {"uncompressed", "gzip", "snappy", "lz4", "zstd"};
        out->compression = SP_TOPIC_COMPRESSION_PRODUCER;
        for (size_t i = 0; i < SP_ARRAY_LEN(codecs); i++) {
            if (word_eq(v->s, v->slen, codecs[i], false)) {
                out->compression = (int8_t)i;
            }
        }
    } else if (strcmp(r->name, "message.timestamp.type") == 0) {
        out->timestamp_log_append = word_eq(v->s, v->slen, "LogAppendTime", false);
    }
}

static_assert(SP_CODEC_GZIP == 1 && SP_CODEC_SNAPPY == 2 && SP_CODEC_LZ4 == 3 && SP_CODEC_ZSTD == 4,
              "compression.type maps codec names by position");

int sp_topic_cfg_resolve(struct sp_topic_cfg *out, const struct sp_config *broker,
                         const struct sp_topic_cfg_kv *kv, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sp_topic_cfg_check(kv[i].key, kv[i].value, err, errlen);
        if (rc < 0) {
            return rc;
        }
    }
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < NROWS; i++) {
        struct tval v;
        char num[32];
        int source;
        int rc = row_value(&rows[i], broker, kv, n, &v, num, sizeof(num), &source, err, errlen);
        if (rc < 0) {
            return rc;
        }
        row_store(&rows[i], &v, out);
    }
    return 0;
}

int sp_topic_cfg_describe(const char *key, const struct sp_config *broker,
                          const struct sp_topic_cfg_kv *kv, size_t n, char *buf, size_t buflen,
                          int *source)
{
    const struct trow *r = row_find(key);
    if (r == NULL) {
        return -ENOENT;
    }
    struct tval v;
    char num[32];
    int src = 2;
    int rc = row_value(r, broker, kv, n, &v, num, sizeof(num), &src, NULL, 0);
    if (rc < 0) {
        /* A stored value that no longer parses is described as stored. */
        const char *tv = topic_value(r, kv, n);
        trim(tv ? tv : "", &v.s, &v.slen);
        v.i = 0;
    }
    if (source) {
        *source = src;
    }
    if (buflen == 0) {
        return 0;
    }
    if (rc == 0 && (r->kind == TK_INT || r->kind == TK_LONG)) {
        snprintf(buf, buflen, "%" PRId64, v.i);
    } else if (rc == 0 && r->kind == TK_BOOL) {
        snprintf(buf, buflen, "%s", v.b ? "true" : "false");
    } else {
        snprintf(buf, buflen, "%.*s", (int)v.slen, v.s);
    }
    return 0;
}

void sp_topic_cfg_plog_options(const struct sp_topic_cfg *c, struct sp_plog_options *o)
{
    sp_plog_options_init(o, NULL);
    o->segment_bytes = c->segment_bytes;
    o->segment_ms = c->segment_ms;
    o->retention_ms = c->cleanup_delete ? c->retention_ms : -1;
    o->retention_bytes = c->cleanup_delete ? c->retention_bytes : -1;
    o->index_interval_bytes = c->index_interval_bytes;
    /* Kafka's "never" is the shard's own schedule (log.flush.interval.*). */
    o->flush_messages = c->flush_messages == INT64_MAX ? 0 : c->flush_messages;
    o->flush_ms = c->flush_ms == INT64_MAX ? -1 : c->flush_ms;
    o->compact = c->cleanup_compact;
    o->min_cleanable_dirty_ratio = c->min_cleanable_dirty_ratio;
    o->min_compaction_lag_ms = c->min_compaction_lag_ms;
    o->max_compaction_lag_ms = c->max_compaction_lag_ms;
    o->delete_retention_ms = c->delete_retention_ms;
    /* As Kafka does, a compacted log rolls by max.compaction.lag.ms too, so no record waits
     * in the active segment (never cleaned) for longer than that. */
    if (c->cleanup_compact && c->max_compaction_lag_ms > 0) {
        o->segment_ms = o->segment_ms < 0 ? c->max_compaction_lag_ms
                                          : SP_MIN(o->segment_ms, c->max_compaction_lag_ms);
    }
}

/* ---- Description: types, documentation, synonyms ------------------------------ */

/*
 * What DescribeConfigs says about each key beyond its value: the broker
 * keys Kafka names as its synonyms (most specific first) and a short
 * description. Same order as rows[], checked once.
 */
#define SYN_NAMES_MAX 3

struct tmeta {
    const char *name;
    const char *synonyms[SYN_NAMES_MAX]; /* broker keys, NULL-terminated when fewer */
    const char *doc;
};

/* clang-format off */
static const struct tmeta metas[] = {
    {"cleanup.policy", {"log.cleanup.policy"},
     "What happens to old segments: delete removes them by age or size, compact keeps the "
     "latest record of each key; both may be listed."},
    {"compression.gzip.level", {"compression.gzip.level"},
     "Compression level used when the topic stores gzip batches."},
    {"compression.lz4.level", {"compression.lz4.level"},
     "Compression level used when the topic stores lz4 batches."},
    {"compression.type", {"compression.type"},
     "Codec batches are stored with; producer keeps whatever codec the producer used."},
    {"compression.zstd.level", {"compression.zstd.level"},
     "Compression level used when the topic stores zstd batches."},
    {"delete.retention.ms", {"log.cleaner.delete.retention.ms"},
     "How long a tombstone stays readable in a compacted topic after compaction reached it."},
    {"file.delete.delay.ms", {"log.segment.delete.delay.ms"},
     "Grace period between a segment leaving the log and its file being removed."},
    {"flush.messages", {"log.flush.interval.messages"},
     "Records appended between forced flushes to disk."},
    {"flush.ms", {"log.flush.interval.ms"},
     "Longest time appended data may stay unflushed before a forced flush."},
    {"follower.replication.throttled.replicas", {NULL},
     "Replicas whose follower-side replication is throttled: partition:broker pairs or *."},
    {"index.interval.bytes", {"log.index.interval.bytes"},
     "Bytes of log between two entries of the sparse offset index."},
    {"leader.replication.throttled.replicas", {NULL},
     "Replicas whose leader-side replication is throttled: partition:broker pairs or *."},
    {"local.retention.bytes", {"log.local.retention.bytes"},
     "With tiered storage, the bytes kept on local disk; -2 follows retention.bytes."},
    {"local.retention.ms", {"log.local.retention.ms"},
     "With tiered storage, how long segments are kept on local disk; -2 follows retention.ms."},
    {"max.compaction.lag.ms", {"log.cleaner.max.compaction.lag.ms"},
     "Longest time a record may stay uncompacted."},
    {"max.message.bytes", {"message.max.bytes"},
     "Largest record batch the topic accepts."},
    {"message.downconversion.enable", {"log.message.downconversion.enable"},
     "Whether fetches by old clients may have batches converted to an older format."},
    {"message.format.version", {"log.message.format.version"},
     "Record format version kept for compatibility; brokers of 3.0 and later always write v2."},
    {"message.timestamp.after.max.ms", {"log.message.timestamp.after.max.ms"},
     "How far in the future a CreateTime timestamp may be before the batch is refused."},
    {"message.timestamp.before.max.ms", {"log.message.timestamp.before.max.ms"},
     "How far in the past a CreateTime timestamp may be before the batch is refused."},
    {"message.timestamp.difference.max.ms", {"log.message.timestamp.difference.max.ms"},
     "Older form of the before/after timestamp bounds."},
    {"message.timestamp.type", {"log.message.timestamp.type"},
     "Whether record timestamps are the producer's (CreateTime) or the broker's append time "
     "(LogAppendTime)."},
    {"min.cleanable.dirty.ratio", {"log.cleaner.min.cleanable.ratio"},
     "Share of a compacted log not yet compacted that makes it worth compacting."},
    {"min.compaction.lag.ms", {"log.cleaner.min.compaction.lag.ms"},
     "Shortest time a record stays uncompacted."},
    {"min.insync.replicas", {"min.insync.replicas"},
     "Replicas that must have a write before acks=all succeeds."},
    {"preallocate", {"log.preallocate"},
     "Whether segment files are allocated at full size when created."},
    {"remote.storage.enable", {NULL},
     "Whether the topic uses tiered storage."},
    {"retention.bytes", {"log.retention.bytes"},
     "Size a partition may grow to before its oldest segments are deleted; -1 means no limit."},
    {"retention.ms", {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
     "How long a segment is kept after its newest record; -1 means forever."},
    {"segment.bytes", {"log.segment.bytes"},
     "Size at which the active segment is closed and a new one started."},
    {"segment.index.bytes", {"log.index.size.max.bytes"},
     "Size of the offset and time index files of a segment."},
    {"segment.jitter.ms", {"log.roll.jitter.ms", "log.roll.jitter.hours"},
     "Random amount taken off segment.ms so that segments do not all roll at once."},
    {"segment.ms", {"log.roll.ms", "log.roll.hours"},
     "Age at which the active segment is closed even when not full, so retention can act on it."},
    {"unclean.leader.election.enable", {"unclean.leader.election.enable"},
     "Whether a replica that is not in sync may become leader, at the cost of lost records."},
};
/* clang-format on */

static_assert(SP_ARRAY_LEN(metas) == NROWS, "one description per topic config");

static const struct tmeta *meta_of(const struct trow *r)
{
    const struct tmeta *m = &metas[r - rows];
    SP_ASSERT(strcmp(m->name, r->name) == 0);
    return m;
}

int8_t sp_topic_cfg_type(const char *key)
{
    const struct trow *r = row_find(key);
    if (r == NULL) {
        return 0;
    }
    switch (r->kind) {
    case TK_INT:
        return SP_TOPIC_CFG_TYPE_INT;
    case TK_LONG:
        return SP_TOPIC_CFG_TYPE_LONG;
    case TK_BOOL:
        return SP_TOPIC_CFG_TYPE_BOOLEAN;
    case TK_DOUBLE:
        return SP_TOPIC_CFG_TYPE_DOUBLE;
    case TK_LIST:
    case TK_THROTTLED:
        return SP_TOPIC_CFG_TYPE_LIST;
    case TK_ENUM:
    case TK_VERSION:
        return SP_TOPIC_CFG_TYPE_STRING;
    }
    return 0;
}

bool sp_topic_cfg_is_list(const char *key)
{
    return sp_topic_cfg_type(key) == SP_TOPIC_CFG_TYPE_LIST;
}

const char *sp_topic_cfg_doc(const char *key)
{
    const struct trow *r = row_find(key);
    return r != NULL ? meta_of(r)->doc : NULL;
}

/* Calls fn for each broker synonym name of m, in order. */
static void synonym_names(const struct tmeta *m, void (*fn)(void *ctx, const char *name), void *ctx)
{
    for (size_t i = 0; i < SYN_NAMES_MAX && m->synonyms[i] != NULL; i++) {
        fn(ctx, m->synonyms[i]);
    }
}

struct syn_walk {
    const struct sp_config *broker;
    struct sp_topic_cfg_synonym *out;
    size_t max, count;
    int pass;         /* SP_TOPIC_CFG_SRC_BROKER, then SP_TOPIC_CFG_SRC_DEFAULT */
    bool spindle_key; /* some synonym is a key Spindle's broker has */
};

static void syn_push(struct syn_walk *w, const char *name, const char *value, int source)
{
    if (w->count < w->max) {
        w->out[w->count] = (struct sp_topic_cfg_synonym){name, value, source};
    }
    w->count++;
}

static void syn_visit(void *ctx, const char *name)
{
    struct syn_walk *w = ctx;
    int id = sp_config_lookup(name);
    if (id < 0) {
        return;
    }
    w->spindle_key = true;
    const struct sp_config_def *def = sp_config_def((enum sp_config_id)id);
    /* log.retention.ms at -2 is Kafka's "not set": it gives no value of its own. */
    bool unset_ms = id == SP_CFG_LOG_RETENTION_MS;
    if (w->pass == SP_TOPIC_CFG_SRC_BROKER) {
        if (w->broker != NULL && sp_config_is_set(w->broker, (enum sp_config_id)id) &&
            !(unset_ms && sp_config_int(w->broker, SP_CFG_LOG_RETENTION_MS) == -2)) {
            syn_push(w, def->name, sp_config_str(w->broker, (enum sp_config_id)id),
                     SP_TOPIC_CFG_SRC_BROKER);
        }
    } else if (!unset_ms) {
        syn_push(w, def->name, def->default_value, SP_TOPIC_CFG_SRC_DEFAULT);
    }
}

size_t sp_topic_cfg_synonyms(const char *key, const struct sp_config *broker,
                             const struct sp_topic_cfg_kv *kv, size_t n,
                             struct sp_topic_cfg_synonym *out, size_t max)
{
    const struct trow *r = row_find(key);
    if (r == NULL) {
        return 0;
    }
    const struct tmeta *m = meta_of(r);
    struct syn_walk w = {.broker = broker, .out = out, .max = max};
    const char *tv = topic_value(r, kv, n);
    if (tv != NULL) {
        syn_push(&w, r->name, tv, SP_TOPIC_CFG_SRC_TOPIC);
    }
    /* Only keys the resolution reads give a broker value; others are Kafka's names alone. */
    if (r->bconv != BC_NONE) {
        w.pass = SP_TOPIC_CFG_SRC_BROKER;
        synonym_names(m, syn_visit, &w);
    }
    w.pass = SP_TOPIC_CFG_SRC_DEFAULT;
    size_t before = w.count;
    if (r->bconv != BC_NONE) {
        synonym_names(m, syn_visit, &w);
    }
    if (w.count == before && m->synonyms[0] != NULL) {
        /* No broker key of Spindle's stands for it: Kafka's first name, with the default. */
        syn_push(&w, m->synonyms[0], r->def, SP_TOPIC_CFG_SRC_DEFAULT);
    }
    return SP_MIN(w.count, max);
}

/* ---- IncrementalAlterConfigs' operations --------------------------------------- */

/* Whether item[0..len) is one of the items of the comma list list[0..listlen), compared trimmed. */
static bool list_contains_n(const char *list, size_t listlen, const char *item, size_t len)
{
    const char *p = list, *end = list + listlen;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *a = p, *b = comma ? comma : end;
        while (a < b && isspace((unsigned char)*a)) {
            a++;
        }
        while (b > a && isspace((unsigned char)b[-1])) {
            b--;
        }
        if ((size_t)(b - a) == len && memcmp(a, item, len) == 0) {
            return true;
        }
        p = comma ? comma + 1 : end;
    }
    return false;
}

static bool list_contains(const char *list, const char *item, size_t len)
{
    return list_contains_n(list, strlen(list), item, len);
}

/* A comma list being written into out[0..cap). */
struct listw {
    char *out;
    size_t len, cap;
};

/*
 * Adds the items of `from` (trimmed, empty ones dropped) to w, each unless
 * `skip` (a comma list, may be NULL) has it, or, with only_new, w has it
 * already. Returns false when w runs out of room.
 */
static bool listw_items(struct listw *w, const char *from, const char *skip, bool only_new)
{
    const char *p = from;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *a = p, *b = p + n;
        while (a < b && isspace((unsigned char)*a)) {
            a++;
        }
        while (b > a && isspace((unsigned char)b[-1])) {
            b--;
        }
        size_t ilen = (size_t)(b - a);
        bool drop = ilen == 0 || (skip != NULL && list_contains(skip, a, ilen)) ||
                    (only_new && list_contains_n(w->out, w->len, a, ilen));
        if (!drop) {
            if (w->len + ilen + 2 > w->cap) {
                return false;
            }
            if (w->len > 0) {
                w->out[w->len++] = ',';
            }
            memcpy(w->out + w->len, a, ilen);
            w->len += ilen;
            w->out[w->len] = '\0';
        }
        p += n + (comma ? 1 : 0);
    }
    return true;
}

int sp_topic_cfg_apply_op(const char *key, int op, const char *cur, const char *value, char *out,
                          size_t outlen, char *err, size_t errlen)
{
    const struct trow *r = row_find(key);
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (r == NULL) {
        snprintf(err, errlen, "%.200s: unknown topic config", key ? key : "(null)");
        return -EINVAL;
    }
    if (op == SP_TOPIC_CFG_OP_DELETE) {
        return 1;
    }
    if (op < SP_TOPIC_CFG_OP_SET || op > SP_TOPIC_CFG_OP_SUBTRACT) {
        snprintf(err, errlen, "%s: unknown operation %d", key, op);
        return -EINVAL;
    }
    if (value == NULL) {
        snprintf(err, errlen, "%s: a null value is only allowed with DELETE", key);
        return -EINVAL;
    }
    if (op != SP_TOPIC_CFG_OP_SET && !sp_topic_cfg_is_list(key)) {
        snprintf(err, errlen, "%s: cannot %s, the config is not a list", key,
                 op == SP_TOPIC_CFG_OP_APPEND ? "APPEND to it" : "SUBTRACT from it");
        return -EINVAL;
    }
    if (outlen == 0) {
        return -ENOSPC;
    }
    out[0] = '\0';
    struct listw w = {out, 0, outlen};
    const char *base = cur != NULL ? cur : r->def;
    if (op == SP_TOPIC_CFG_OP_SET) {
        if (strlen(value) + 1 > outlen) {
            return -ENOSPC;
        }
        memcpy(out, value, strlen(value) + 1);
    } else if (op == SP_TOPIC_CFG_OP_APPEND) {
        if (!listw_items(&w, base, NULL, true) || !listw_items(&w, value, NULL, true)) {
            return -ENOSPC;
        }
    } else if (!listw_items(&w, base, value, false)) {
        return -ENOSPC;
    }
    return sp_topic_cfg_check(key, out, err, errlen);
}
