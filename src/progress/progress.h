/* src/progress/progress.h - what the progress files share: the op's
 * internals and its lifecycle events. */
#ifndef CX_PROGRESS_INTERNAL_H
#define CX_PROGRESS_INTERNAL_H

#include <cancelable/progress.h>

#include "op/events.h"
#include "op/op.h"
#include "runtime/clock.h"

#endif /* CX_PROGRESS_INTERNAL_H */
