/* src/op/op_sources.c - the sources an op runs from its enter to its exit:
 * attaching them, ops made with one source, and combined ops. */
#include "op/op.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/sync.h"
#include "sources/condition.h"
#include "sources/sources.h"

int cx_op_add_source(cx_op *op, cx_source *src) {
  cx__stripe *s;
  int rc = 0;
  if (op == NULL || src == NULL || src->owned) return -EINVAL;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  if (atomic_load(&op->status) != CX_STATUS_PENDING || op->lent_to != NULL)
    rc = -EBUSY;
  else
    cx__sources_append(&op->sources, src);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Creates an op named @name, child of @parent (nullable), and attaches
 * @src; frees @src on failure. */
static int op_with_source(cx_op **out, cx_op *parent, cx_source *src,
                          const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int rc;
  o.parent = parent;
  o.name = name;
  rc = cx_op_create(out, &o);
  if (rc == 0) rc = cx_op_add_source(*out, src);
  if (rc != 0) {
    cx_op_unref(*out);
    *out = NULL;
    cx_source_free(src);
  }
  return rc;
}

int cx_op_with_signal(cx_op **out, cx_op *parent, const int *signals,
                      size_t count, const char *name) {
  cx_source *src;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  rc = cx_source_signal(&src, signals, count);
  return rc != 0 ? rc : op_with_source(out, parent, src, name);
}

int cx_op_with_condition(cx_op **out, cx_op *parent, cx_predicate_fn predicate,
                         void *user_data, void (*destroy)(void *),
                         double interval, const char *name) {
  cx_source *src;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  /* Without a destroy notify first, so that a failure below leaves the user
   * data with the caller, as documented. */
  rc = cx_source_condition(&src, predicate, user_data, NULL, interval, name);
  if (rc != 0) return rc;
  rc = op_with_source(out, parent, src, name);
  if (rc == 0) cx__condition_adopt_destroy(src, destroy);
  return rc;
}

/* ---- combined ops: the inputs' sources run for the combined op */

/* Keeps references to the inputs of the new combined op @op. */
static int keep_inputs(cx_op *op, cx_op *const *ops, size_t count) {
  cx__op_inputs *in;
  if (count > (SIZE_MAX - sizeof *in) / sizeof in->ops[0]) return -ENOMEM;
  in = cx__malloc(sizeof *in + count * sizeof in->ops[0]);
  if (in == NULL) return -ENOMEM;
  in->count = count;
  for (size_t i = 0; i < count; i++) in->ops[i] = cx_op_ref(ops[i]);
  op->inputs = in;
  return 0;
}

void cx__op_free_inputs(cx_op *op) {
  cx__op_inputs *in = op->inputs;
  if (in == NULL) return;
  for (size_t i = 0; i < in->count; i++) cx_op_unref(in->ops[i]);
  cx__free(in);
  op->inputs = NULL;
}

/* How many inputs @op combines (0: not a combined op). */
static size_t input_count(const cx_op *op) {
  return op->inputs != NULL ? op->inputs->count : 0;
}

/* Whether @in is lent to @to (under @in's lock). */
static bool lent_to(const cx_op *in, const cx_op *to) {
  cx__stripe *s = cx__stripe_for(in);
  bool mine;
  pthread_mutex_lock(&s->mu);
  mine = in->lent_to == to;
  pthread_mutex_unlock(&s->mu);
  return mine;
}

/* Sets who @in is lent to: @to when @claim (only if it is PENDING and
 * free; returns whether it was), NULL otherwise. */
static bool set_lent(cx_op *in, const cx_op *to, bool claim) {
  cx__stripe *s = cx__stripe_for(in);
  bool done = !claim;
  pthread_mutex_lock(&s->mu);
  if (!claim) {
    in->lent_to = NULL;
  } else if (atomic_load(&in->status) == CX_STATUS_PENDING &&
             in->lent_to == NULL) {
    in->lent_to = to;
    done = true;
  }
  pthread_mutex_unlock(&s->mu);
  return done;
}

/* Lends the PENDING, free input @in to @to: its sources start for @to's
 * host, then its own inputs'.  0 or a start error (what was lent stays
 * lent: the caller gives it all back).  An input entered or lent
 * elsewhere is left alone: its sources cancel it, and so @to through the
 * link. */
static int lend(cx_op *in, cx_op *to) {
  int rc;
  if (!set_lent(in, to, true)) return 0;
  rc = cx__op_sources_start(in, to);
  if (rc != 0) {
    set_lent(in, to, false);
    return rc;
  }
  for (size_t i = 0; rc == 0 && i < input_count(in); i++)
    rc = lend(in->inputs->ops[i], to);
  return rc;
}

/* Stops the sources of @in lent to @to (and of its inputs) and frees it. */
static void give_back(cx_op *in, const cx_op *to) {
  if (!lent_to(in, to)) return;
  for (size_t i = 0; i < input_count(in); i++)
    give_back(in->inputs->ops[i], to);
  cx__op_sources_stop(in);
  set_lent(in, to, false);
}

int cx__op_lend_inputs(cx_op *op) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < input_count(op); i++)
    rc = lend(op->inputs->ops[i], op);
  if (rc != 0) cx__op_return_inputs(op);
  return rc;
}

void cx__op_return_inputs(cx_op *op) {
  for (size_t i = 0; i < input_count(op); i++)
    give_back(op->inputs->ops[i], op);
}

/* The earliest deadline of the sources of @in lent to @to. */
static int64_t lent_deadline(const cx_op *in, const cx_op *to) {
  int64_t best;
  if (!lent_to(in, to)) return CX__NO_DEADLINE;
  best = cx__op_sources_deadline(in, to);
  for (size_t i = 0; i < input_count(in); i++) {
    int64_t d = lent_deadline(in->inputs->ops[i], to);
    if (d < best) best = d;
  }
  return best;
}

int64_t cx__op_inputs_deadline(const cx_op *op) {
  int64_t best = CX__NO_DEADLINE;
  for (size_t i = 0; i < input_count(op); i++) {
    int64_t d = lent_deadline(op->inputs->ops[i], op);
    if (d < best) best = d;
  }
  return best;
}

int cx_op_combine(cx_op **out, cx_op *parent, cx_op *const *ops, size_t count,
                  const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (ops == NULL || count == 0) return -EINVAL;
  for (size_t i = 0; i < count; i++)
    if (ops[i] == NULL) return -EINVAL;
  o.parent = parent;
  o.name = name != NULL ? name : "combined";
  rc = cx_op_create(out, &o);
  if (rc == 0) rc = keep_inputs(*out, ops, count);
  for (size_t i = 0; rc == 0 && i < count; i++)
    rc = cx_token_link((*out)->token, ops[i]->token, CX_LINK_PRESERVE_REASON);
  if (rc != 0) {
    cx_op_unref(*out);
    *out = NULL;
  }
  return rc;
}
