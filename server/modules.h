/*
 * server/modules.h — the registration list (modules.c).
 */
#ifndef FL_SERVER_MODULES_H
#define FL_SERVER_MODULES_H

#include "server/core/module.h"

/* NULL-ended, in start order. */
extern const fl_module_t *const fl_modules[];

#endif
