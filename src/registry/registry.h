/* src/registry/registry.h - hooks of the registry into the op life cycle. */
#ifndef CX_REGISTRY_INTERNAL_H
#define CX_REGISTRY_INTERNAL_H

#include "core/core.h"

/* Whether an op with this option registers (the option or the default). */
bool cx__registry_wants(bool asked);
/* Adds a just-entered op to the live table. */
void cx__registry_enter(cx_op *op);
/* Moves an op that just exited to the history and counts it. */
void cx__registry_exit(cx_op *op);

#endif /* CX_REGISTRY_INTERNAL_H */
