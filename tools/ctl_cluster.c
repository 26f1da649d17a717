/* tools/ctl_cluster.c: being written (ctl-A). */
#include "tools/ctl.h"

int ctl_cluster_main(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    ctl_errorf("cluster: not built yet");
    return CTL_EXIT_ERROR;
}
