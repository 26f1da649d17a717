/*
 * core/config.h: broker configuration, a properties file with Kafka's key
 * names plus command-line overrides.
 *
 * Every key is a row of core/config_keys.h with its type, default, range and
 * documentation. A `struct sp_config` holds one value per key; it is built
 * on the main thread before shards start and read-only afterwards, so any
 * shard may read it without locks.
 *
 * Errors: an unknown key or a bad value fails with -ENOENT or -EINVAL and a
 * message naming the key and the reason in the caller's buffer.
 */
#ifndef SP_CORE_CONFIG_H
#define SP_CORE_CONFIG_H

#include <stdio.h>

#include "core/sp.h"

enum sp_config_type {
    SP_CONFIG_INT,
    SP_CONFIG_BOOL,
    SP_CONFIG_DOUBLE,
    SP_CONFIG_STRING,
    SP_CONFIG_LIST,
};

enum sp_config_id {
#define SP_CONFIG_KEY(id, name, type, def, min, max, allowed, doc) SP_CFG_##id,
#include "core/config_keys.h"
#undef SP_CONFIG_KEY
    SP_CFG_COUNT_
};

struct sp_config_def {
    const char *name;
    enum sp_config_type type;
    const char *default_value;
    double min; /* INT and DOUBLE only */
    double max;
    const char *allowed; /* STRING: comma-separated set, or "" */
    const char *doc;
};

#define SP_CONFIG_VALUE_MAX 4096 /* longest value accepted, bytes */

struct sp_config;

/* The table, SP_CFG_COUNT_ rows indexed by enum sp_config_id. */
const struct sp_config_def *sp_config_def(enum sp_config_id id);
/* The id of a key name, or -1. */
int sp_config_lookup(const char *name);
const char *sp_config_type_name(enum sp_config_type type);

/* A configuration holding every default. Returned owned; NULL on ENOMEM. */
struct sp_config *sp_config_new(void);
void sp_config_free(struct sp_config *cfg);

/* Sets one key from its text form, validating it. 0, -ENOENT or -EINVAL. */
int sp_config_set(struct sp_config *cfg, const char *key, const char *value, char *err,
                  size_t errlen);
/* Applies "key=value" (a --set argument). */
int sp_config_set_pair(struct sp_config *cfg, const char *pair, char *err, size_t errlen);
/* Reads a properties file: key=value or key: value, # and ! comments, \ continuations. */
int sp_config_load_file(struct sp_config *cfg, const char *path, char *err, size_t errlen);

int64_t sp_config_int(const struct sp_config *cfg, enum sp_config_id id);
bool sp_config_bool(const struct sp_config *cfg, enum sp_config_id id);
double sp_config_double(const struct sp_config *cfg, enum sp_config_id id);
/* STRING and LIST values as text (a LIST is comma-separated). Borrowed from cfg. */
const char *sp_config_str(const struct sp_config *cfg, enum sp_config_id id);
/* Whether the value came from the file or the command line rather than the default. */
bool sp_config_is_set(const struct sp_config *cfg, enum sp_config_id id);

/*
 * Splits a LIST value: calls cb(ctx, item, len) for each trimmed, non-empty
 * item; stops and returns the first nonzero result.
 */
int sp_config_list_each(const char *list, int (*cb)(void *ctx, const char *item, size_t len),
                        void *ctx);

/* Writes the documentation of every key (for --help-config). */
void sp_config_print_docs(FILE *out);

#endif /* SP_CORE_CONFIG_H */
