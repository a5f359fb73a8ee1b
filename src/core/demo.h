/* demo: writes the small demo database `make run` serves. */
#ifndef ATRIUM_CORE_DEMO_H
#define ATRIUM_CORE_DEMO_H
#include "core/err.h"

int demo_create(const char *path, err_t *e);

#endif
