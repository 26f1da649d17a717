/* PLACEHOLDER: being written; replaced by its owner. */
#include <errno.h>
#include "cluster/topic_cfg.h"
bool sp_topic_cfg_known(const char *key) { (void)key; return false; }
int sp_topic_cfg_check(const char *key, const char *value, char *err, size_t errlen) { (void)key; (void)value; (void)err; (void)errlen; return -EINVAL; }
int sp_topic_cfg_resolve(struct sp_topic_cfg *out, const struct sp_config *broker, const struct sp_topic_cfg_kv *kv, size_t n, char *err, size_t errlen) { (void)out; (void)broker; (void)kv; (void)n; (void)err; (void)errlen; return -EINVAL; }
int sp_topic_cfg_describe(const char *key, const struct sp_config *broker, const struct sp_topic_cfg_kv *kv, size_t n, char *buf, size_t buflen, int *source) { (void)key; (void)broker; (void)kv; (void)n; (void)buf; (void)buflen; (void)source; return -ENOENT; }
size_t sp_topic_cfg_names(const char *const **names) { *names = 0; return 0; }
void sp_topic_cfg_plog_options(const struct sp_topic_cfg *c, struct sp_plog_options *o) { (void)c; (void)o; }
