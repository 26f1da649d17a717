/* core/config.c: the key table, validation, and the properties file reader. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"

static const struct sp_config_def config_defs[SP_CFG_COUNT_] = {
#define SP_CONFIG_KEY(id, name, type, def, min, max, allowed, doc) \
    [SP_CFG_##id] = {name, SP_CONFIG_##type, def, (double)(min), (double)(max), allowed, doc},
#include "core/config_keys.h"
#undef SP_CONFIG_KEY
};

/*
 * One parsed value per key. Text is kept for every type (STRING and LIST
 * are read as text; the others keep it for messages), numbers are parsed
 * once at set time so readers never parse.
 */
struct config_value {
    char *text;
    int64_t i;
    double d;
    bool b;
    bool set;
};

struct sp_config {
    struct config_value v[SP_CFG_COUNT_];
};

/* Longest line in a properties file, continuations joined. */
#define CONFIG_LINE_MAX (SP_CONFIG_VALUE_MAX + 256)

const struct sp_config_def *sp_config_def(enum sp_config_id id)
{
    SP_ASSERT((unsigned)id < SP_CFG_COUNT_);
    return &config_defs[id];
}

int sp_config_lookup(const char *name)
{
    for (int i = 0; i < SP_CFG_COUNT_; i++) {
        if (strcmp(config_defs[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *sp_config_type_name(enum sp_config_type type)
{
    switch (type) {
    case SP_CONFIG_INT:
        return "int";
    case SP_CONFIG_BOOL:
        return "boolean";
    case SP_CONFIG_DOUBLE:
        return "double";
    case SP_CONFIG_STRING:
        return "string";
    case SP_CONFIG_LIST:
        return "list";
    }
    return "?";
}

static void config_err(char *err, size_t errlen, const char *fmt, ...) SP_PRINTF(3, 4);

static void config_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Whether `value` is one of the comma-separated words in `allowed`. */
static bool config_allowed(const char *allowed, const char *value)
{
    size_t vlen = strlen(value);
    const char *p = allowed;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == vlen && strncasecmp(p, value, len) == 0) {
            return true;
        }
        p += len + (end ? 1 : 0);
    }
    return false;
}

/* Parses `text` as the key's type into `out`. 0 or -EINVAL with a reason. */
static int config_parse(const struct sp_config_def *def, const char *text, struct config_value *out,
                        char *err, size_t errlen)
{
    char *end = NULL;

    switch (def->type) {
    case SP_CONFIG_INT: {
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno == ERANGE) {
            config_err(err, errlen, "%s: '%s' is not an integer", def->name, text);
            return -EINVAL;
        }
        /* The bounds are exact for every limit in the table (powers near 2^63 excepted). */
        if ((double)n < def->min || (double)n > def->max) {
            config_err(err, errlen, "%s: %lld is out of range [%.0f, %.0f]", def->name, n, def->min,
                       def->max);
            return -EINVAL;
        }
        out->i = n;
        return 0;
    }
    case SP_CONFIG_BOOL:
        if (strcasecmp(text, "true") == 0) {
            out->b = true;
        } else if (strcasecmp(text, "false") == 0) {
            out->b = false;
        } else {
            config_err(err, errlen, "%s: '%s' is not true or false", def->name, text);
            return -EINVAL;
        }
        return 0;
    case SP_CONFIG_DOUBLE: {
        errno = 0;
        double d = strtod(text, &end);
        if (*text == '\0' || *end != '\0' || errno == ERANGE || isnan(d)) {
            config_err(err, errlen, "%s: '%s' is not a number", def->name, text);
            return -EINVAL;
        }
        if (d < def->min || d > def->max) {
            config_err(err, errlen, "%s: %g is out of range [%g, %g]", def->name, d, def->min,
                       def->max);
            return -EINVAL;
        }
        out->d = d;
        return 0;
    }
    case SP_CONFIG_STRING:
        if (def->allowed[0] != '\0' && !config_allowed(def->allowed, text)) {
            config_err(err, errlen, "%s: '%s' is not one of %s", def->name, text, def->allowed);
            return -EINVAL;
        }
        return 0;
    case SP_CONFIG_LIST:
        return 0;
    }
    return -EINVAL;
}

static int config_store(struct sp_config *cfg, int id, const char *text, bool set, char *err,
                        size_t errlen)
{
    const struct sp_config_def *def = &config_defs[id];
    struct config_value v = {0};

    if (strlen(text) > SP_CONFIG_VALUE_MAX) {
        config_err(err, errlen, "%s: value longer than %d bytes", def->name, SP_CONFIG_VALUE_MAX);
        return -EINVAL;
    }
    int rc = config_parse(def, text, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    v.text = strdup(text);
    if (v.text == NULL) {
        config_err(err, errlen, "%s: out of memory", def->name);
        return -ENOMEM;
    }
    v.set = set;
    free(cfg->v[id].text);
    cfg->v[id] = v;
    return 0;
}

struct sp_config *sp_config_new(void)
{
    struct sp_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        return NULL;
    }
    for (int i = 0; i < SP_CFG_COUNT_; i++) {
        char err[256];
        int rc = config_store(cfg, i, config_defs[i].default_value, false, err, sizeof(err));
        if (rc == -ENOMEM) {
            sp_config_free(cfg);
            return NULL;
        }
        /* A default that fails its own validation is a bug in the table. */
        SP_ASSERT(rc == 0);
    }
    return cfg;
}

void sp_config_free(struct sp_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (int i = 0; i < SP_CFG_COUNT_; i++) {
        free(cfg->v[i].text);
    }
    free(cfg);
}

int sp_config_set(struct sp_config *cfg, const char *key, const char *value, char *err,
                  size_t errlen)
{
    int id = sp_config_lookup(key);
    if (id < 0) {
        config_err(err, errlen, "%s: unknown configuration key", key);
        return -ENOENT;
    }
    return config_store(cfg, id, value, true, err, errlen);
}

static char *config_trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/* Splits "key=value" or "key: value" in place; the separator is the first '=' or ':'. */
static int config_split(char *line, char **key, char **value)
{
    char *sep = strpbrk(line, "=:");
    if (sep == NULL) {
        return -EINVAL;
    }
    *sep = '\0';
    *key = config_trim(line);
    *value = config_trim(sep + 1);
    return **key == '\0' ? -EINVAL : 0;
}

int sp_config_set_pair(struct sp_config *cfg, const char *pair, char *err, size_t errlen)
{
    char buf[CONFIG_LINE_MAX];
    size_t len = strlen(pair);
    if (len >= sizeof(buf)) {
        config_err(err, errlen, "override longer than %zu bytes", sizeof(buf) - 1);
        return -EINVAL;
    }
    memcpy(buf, pair, len + 1);
    char *key, *value;
    if (strchr(buf, '=') == NULL || config_split(buf, &key, &value) < 0) {
        config_err(err, errlen, "'%s': expected key=value", pair);
        return -EINVAL;
    }
    return sp_config_set(cfg, key, value, err, errlen);
}

/*
 * Reads one logical line: physical lines ending in an odd number of
 * backslashes continue on the next one, whose leading spaces are dropped.
 * Returns 1 for a line, 0 at EOF, -EINVAL when too long.
 */
static int config_read_line(FILE *f, char *buf, size_t cap, int *lineno)
{
    size_t n = 0;
    bool any = false;
    bool continued = false;
    char phys[CONFIG_LINE_MAX];

    while (fgets(phys, sizeof(phys), f) != NULL) {
        any = true;
        (*lineno)++;
        size_t plen = strlen(phys);
        if (plen == sizeof(phys) - 1 && phys[plen - 1] != '\n') {
            return -EINVAL;
        }
        while (plen > 0 && (phys[plen - 1] == '\n' || phys[plen - 1] == '\r')) {
            phys[--plen] = '\0';
        }
        char *p = phys;
        if (continued) {
            while (isspace((unsigned char)*p)) {
                p++;
                plen--;
            }
        }
        size_t slashes = 0;
        while (slashes < plen && p[plen - 1 - slashes] == '\\') {
            slashes++;
        }
        continued = (slashes % 2) == 1;
        if (continued) {
            plen--;
        }
        if (n + plen + 1 > cap) {
            return -EINVAL;
        }
        memcpy(buf + n, p, plen);
        n += plen;
        buf[n] = '\0';
        if (!continued) {
            return 1;
        }
    }
    return any ? 1 : 0;
}

int sp_config_load_file(struct sp_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        config_err(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char line[CONFIG_LINE_MAX];
    int lineno = 0;
    int rc = 0;
    for (;;) {
        int start = lineno + 1;
        int r = config_read_line(f, line, sizeof(line), &lineno);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            config_err(err, errlen, "%s:%d: line too long", path, start);
            rc = -EINVAL;
            break;
        }
        char *s = config_trim(line);
        if (*s == '\0' || *s == '#' || *s == '!') {
            continue;
        }
        char *key, *value;
        if (config_split(s, &key, &value) < 0) {
            config_err(err, errlen, "%s:%d: expected key=value", path, start);
            rc = -EINVAL;
            break;
        }
        char why[512];
        rc = sp_config_set(cfg, key, value, why, sizeof(why));
        if (rc < 0) {
            config_err(err, errlen, "%s:%d: %s", path, start, why);
            break;
        }
    }
    fclose(f);
    return rc;
}

int64_t sp_config_int(const struct sp_config *cfg, enum sp_config_id id)
{
    SP_ASSERT((unsigned)id < SP_CFG_COUNT_ && config_defs[id].type == SP_CONFIG_INT);
    return cfg->v[id].i;
}

bool sp_config_bool(const struct sp_config *cfg, enum sp_config_id id)
{
    SP_ASSERT((unsigned)id < SP_CFG_COUNT_ && config_defs[id].type == SP_CONFIG_BOOL);
    return cfg->v[id].b;
}

double sp_config_double(const struct sp_config *cfg, enum sp_config_id id)
{
    SP_ASSERT((unsigned)id < SP_CFG_COUNT_ && config_defs[id].type == SP_CONFIG_DOUBLE);
    return cfg->v[id].d;
}

const char *sp_config_str(const struct sp_config *cfg, enum sp_config_id id)
{
    SP_ASSERT((unsigned)id < SP_CFG_COUNT_);
    return cfg->v[id].text;
}

bool sp_config_is_set(const struct sp_config *cfg, enum sp_config_id id)
{
    SP_ASSERT((unsigned)id < SP_CFG_COUNT_);
    return cfg->v[id].set;
}

int sp_config_list_each(const char *list, int (*cb)(void *ctx, const char *item, size_t len),
                        void *ctx)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *item = p;
        size_t ilen = len;
        while (ilen > 0 && isspace((unsigned char)*item)) {
            item++;
            ilen--;
        }
        while (ilen > 0 && isspace((unsigned char)item[ilen - 1])) {
            ilen--;
        }
        if (ilen > 0) {
            int rc = cb(ctx, item, ilen);
            if (rc != 0) {
                return rc;
            }
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return 0;
}

void sp_config_print_docs(FILE *out)
{
    for (int i = 0; i < SP_CFG_COUNT_; i++) {
        const struct sp_config_def *d = &config_defs[i];
        fprintf(out, "%s (%s, default \"%s\"", d->name, sp_config_type_name(d->type),
                d->default_value);
        if (d->type == SP_CONFIG_INT || d->type == SP_CONFIG_DOUBLE) {
            fprintf(out, ", range [%.17g, %.17g]", d->min, d->max);
        }
        if (d->allowed[0] != '\0') {
            fprintf(out, ", one of %s", d->allowed);
        }
        fprintf(out, ")\n    %s\n", d->doc);
    }
}
