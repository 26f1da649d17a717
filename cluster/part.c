/* PLACEHOLDER: being written; replaced by its owner. */
#include "cluster/part.h"
struct sp_part *sp_part_get(const uint8_t topic_id[16], int32_t index) { (void)topic_id; (void)index; return 0; }
void sp_part_ref(struct sp_part *p) { p->refs++; }
void sp_part_unref(struct sp_part *p) { p->refs--; }
uint32_t sp_part_count(void) { return 0; }
