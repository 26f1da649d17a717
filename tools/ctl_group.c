/* PLACEHOLDER: tools/ctl_group.c (ctl-B's): `spindlectl group list|describe|delete|reset-offsets`,
 * on tools/ctl.h. */
#include "tools/ctl.h"

int ctl_group_main(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    ctl_errorf("group: not built yet");
    return CTL_EXIT_ERROR;
}
