/* PLACEHOLDER: tests/client/check_core.c; see tests/client/meson.build. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "check_core: not written yet\n");
    return 77;
}
