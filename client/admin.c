/* PLACEHOLDER: client/admin.c (blocking admin calls; declared in client/spc.h's admin section). */
#include "client/spc.h"
