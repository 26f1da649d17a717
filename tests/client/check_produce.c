/* PLACEHOLDER: tests/client/check_produce.c; see tests/client/meson.build. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "check_produce: not written yet\n");
    return 77;
}
