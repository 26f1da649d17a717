/* core/assert.c: where a broken invariant ends the process. */
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/sp.h"

_Noreturn void sp_assert_fail(const char *expr, const char *file, int line)
{
    /* Straight to stderr: the logger may be the thing that is broken. */
    fprintf(stderr, "spindle: assertion failed: %s at %s:%d (shard %d)\n", expr, file, line,
            sp_log_shard());
    fflush(stderr);
    abort();
}
