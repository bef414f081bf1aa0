/* src/registry/registry.h - what the registry's files share. */
#ifndef CX_REGISTRY_INTERNAL_H
#define CX_REGISTRY_INTERNAL_H

#include <cancelable/registry.h>

#include "op/events.h"
#include "op/op.h"

#endif /* CX_REGISTRY_INTERNAL_H */
