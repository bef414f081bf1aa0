/* src/op/op_timeout.c - an op's own timeout (cx_op_options.timeout,
 * cx_op_with_timeout(), shields): a timer in the op's block, armed when
 * the op's sources start and disarmed when they stop, instead of a timeout
 * source: no allocation of its own, no source to start, stop and free (as
 * Go's context.WithTimeout keeps its timer in the context).  It behaves as
 * the timeout source it stands for: first among the op's sources, reason
 * TIMEOUT, message "timed out after N s", source name "timeout", counted
 * from the start of whoever runs it (the op, or the combined op it is lent
 * to). */

#include "op/op.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/list.h"

static cx_op *op_of(cx__timer *timer) {
  return cx__container_of(cx__container_of(timer, cx__op_timeout, timer), cx_op,
                          own_timeout);
}

/* Runs on the timer thread while the timeout is armed: the op (or the
 * combined op it is lent to) is running, and its exit disarms first, which
 * waits for this function to return.  lent_to is read without the op's
 * lock: it was set before the arm and is cleared after the disarm, and the
 * timer service's lock orders both with this call. */
static void fire(cx__timer *timer) {
  cx_op *op = op_of(timer);
  const cx_op *runner = op->lent_to != NULL ? op->lent_to : op;
  char msg[64];
  cx__format_timeout_message(op->own_timeout[0].duration, msg, sizeof msg);
  cx__token_cancel_from(runner->token, CX_REASON_TIMEOUT, msg, "timeout");
}

void cx__op_timeout_init(cx_op *op, int64_t duration) {
  op->has_own_timeout = true;
  op->own_timeout[0].duration = duration;
  cx__timer_init(&op->own_timeout[0].timer, fire);
}

/* The own timeout's deadline when run by @runner. */
static int64_t own_deadline(const cx_op *op, const cx_op *runner) {
  int64_t start = runner->host.start_mono;
  return cx__add_saturated(start != 0 ? start : cx__now_ns(),
                           op->own_timeout[0].duration);
}

/* The own timeout's timer (NULL: none). */
static cx__timer *own_timer(cx_op *op) {
  return op->has_own_timeout ? &op->own_timeout[0].timer : NULL;
}

/* Most ops have no source in the list: skip its calls. */
int cx__op_sources_start(cx_op *op, cx_op *runner) {
  cx__timer *own = own_timer(op);
  int rc;
  if (own != NULL && (rc = cx__timer_arm(own, own_deadline(op, runner))) != 0)
    return rc;
  if (cx__list_empty(&op->sources)) return 0;
  rc = cx__sources_start(&op->sources, &runner->host);
  if (rc != 0 && own != NULL) cx__timer_disarm(own);
  return rc;
}

void cx__op_sources_stop(cx_op *op) {
  cx__timer *own = own_timer(op);
  if (own != NULL) cx__timer_disarm(own);
  if (!cx__list_empty(&op->sources)) cx__sources_stop(&op->sources);
}

int64_t cx__op_sources_deadline(const cx_op *op, const cx_op *runner) {
  int64_t best = cx__list_empty(&op->sources)
                     ? CX__NO_DEADLINE
                     : cx__sources_deadline(&op->sources);
  if (op->has_own_timeout) {
    int64_t own = own_deadline(op, runner);
    if (own < best) best = own;
  }
  return best;
}
