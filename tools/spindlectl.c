/* PLACEHOLDER: tools/spindlectl.c; written on the client core (client/spc.h). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "spindlectl: not built yet\n");
    return 1;
}
