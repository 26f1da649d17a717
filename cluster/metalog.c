/* PLACEHOLDER: being written; replaced by its owner. */
#include <errno.h>
#include "cluster/metalog.h"
int sp_metalog_load(const char *log_dir, const struct sp_config *cfg, sp_metalog_record_fn fn, void *ctx, int64_t *end_offset, int32_t *epoch) { (void)log_dir; (void)cfg; (void)fn; (void)ctx; *end_offset = 0; *epoch = 0; return 0; }
int sp_metalog_open(struct sp_storage *st, const char *log_dir, struct sp_metalog **out) { (void)st; (void)log_dir; *out = 0; return -ENOSYS; }
void sp_metalog_close(struct sp_metalog *ml) { (void)ml; }
int sp_metalog_append(struct sp_metalog *ml, struct sp_metalog_append *a, const struct sp_metalog_record *r, size_t n) { (void)ml; (void)a; (void)r; (void)n; return -ENOSYS; }
void sp_metalog_set_snapshot_source(struct sp_metalog *ml, sp_metalog_state_fn fn, void *ctx) { (void)ml; (void)fn; (void)ctx; }
