/* examples/tree/hierarchy.c - pattern: "Hierarchical Operations" (issue #4).
 *
 *   async with Cancelable(name="parent") as parent:
 *       await parent_setup()
 *       async with Cancelable(name="child_1", parent=parent) as child1:
 *           await child1_work()
 *       async with Cancelable(name="child_2", parent=parent) as child2:
 *           await child2_work()
 *
 * Here the parent has a 0.8 s timeout: child_1 is quick and completes,
 * child_2 is slow (5 s), so the parent's timeout cascades to it: child_2
 * ends CANCELLED with reason "parent" and a message naming the parent.
 */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>

static cx_op *child_of(cx_op *parent, const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  o.name = name;
  o.parent = parent;
  if (cx_op_create(&op, &o) != 0) return NULL;
  return op;
}

/* Work made of cancellation points: @steps sleeps of 10 ms. */
static int work(int steps) {
  for (int i = 0; i < steps; i++) {
    int rc = cx_sleep(NULL, 0.01);
    if (rc != 0) return rc;
  }
  return 0;
}

static int print_child(cx_op *child, void *user_data) {
  (void)user_data;
  printf("  live child: %s (%s)\n", cx_op_name(child),
         cx_status_name(cx_op_status(child)));
  return 0;
}

static void report(cx_op *op) {
  const char *m = cx_op_cancel_message(op);
  printf("%s: %s, reason %s%s%s\n", cx_op_name(op),
         cx_status_name(cx_op_status(op)),
         cx_reason_name(cx_op_cancel_reason(op)), m ? ": " : "", m ? m : "");
}

int main(void) {
  cx_op *parent = NULL, *child1, *child2;
  int ok = 1;
  if (cx_op_with_timeout(&parent, NULL, 0.8, "parent") != 0) return 1;
  cx_op_enter(parent);
  work(1); /* parent_setup() */

  child1 = child_of(parent, "child_1");
  child2 = child_of(parent, "child_2");
  if (child1 == NULL || child2 == NULL) return 1;
  printf("parent has %zu children\n", cx_op_child_count(parent));
  cx_op_visit_children(parent, print_child, NULL);
  ok &= strcmp(cx_op_parent_id(child1), cx_op_id(parent)) == 0;

  cx_op_enter(child1);
  cx_op_exit(child1, work(5)); /* child1_work(): 50 ms */
  report(child1);

  cx_op_enter(child2);
  int rc = work(500); /* child2_work(): 5 s, cut by the parent's timeout */
  cx_op_exit(child2, rc);
  report(child2);

  cx_op_exit(parent, cx_check(NULL));
  report(parent);
  printf("parent has %zu children\n", cx_op_child_count(parent));

  ok &= cx_op_status(child1) == CX_STATUS_COMPLETED;
  ok &= cx_op_status(child2) == CX_STATUS_CANCELLED &&
        cx_op_cancel_reason(child2) == CX_REASON_PARENT &&
        strstr(cx_op_cancel_message(child2), "'parent'") != NULL;
  ok &= cx_op_status(parent) == CX_STATUS_CANCELLED &&
        cx_op_cancel_reason(parent) == CX_REASON_TIMEOUT;
  ok &= cx_op_child_count(parent) == 0;
  cx_op_unref(child2);
  cx_op_unref(child1);
  cx_op_unref(parent);
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
