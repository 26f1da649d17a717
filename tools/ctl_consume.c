/* PLACEHOLDER: tools/ctl_consume.c (ctl-B's): `spindlectl consume TOPIC`, on tools/ctl.h. */
#include "tools/ctl.h"

int ctl_consume_main(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    ctl_errorf("consume: not built yet");
    return CTL_EXIT_ERROR;
}
