/* version.c - the linked library's version. */
#include "nn/version.h"

unsigned nn_version_number(void) { return NN_VERSION_NUMBER; }

const char *nn_version(void) { return NN_VERSION_STRING; }
