/* tools/ctl_configs.c: being written (ctl-A). */
#include "tools/ctl.h"

int ctl_configs_main(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    ctl_errorf("configs: not built yet");
    return CTL_EXIT_ERROR;
}
