/* PLACEHOLDER: bench/spindle_bench.c; written on the client core (client/spc.h). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "spindle_bench: not built yet\n");
    return 1;
}
