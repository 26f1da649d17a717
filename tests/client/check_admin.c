/* PLACEHOLDER: tests/client/check_admin.c; see tests/client/meson.build. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "check_admin: not written yet\n");
    return 77;
}
