/* tools/ctl_produce.c: being written (ctl-A). */
#include "tools/ctl.h"

int ctl_produce_main(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    ctl_errorf("produce: not built yet");
    return CTL_EXIT_ERROR;
}
