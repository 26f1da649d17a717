/* tools/ctl_topic.c: being written (ctl-A). */
#include "tools/ctl.h"

int ctl_topic_main(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    ctl_errorf("topic: not built yet");
    return CTL_EXIT_ERROR;
}
