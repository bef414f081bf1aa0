/* examples/run/injection.c - patterns: "Parameter Injection" (seed:
 * Decorators), "@with_current_operation" (Additional Decorators) and "Get
 * current context with current_operation()", issue #5.
 *
 * 1. By parameter: cx_run() passes the op to the function (the reference's
 *    injected `cancelable` parameter).
 * 2. By lookup: a function with a clean signature finds the op with
 *    cx_current() (the reference's current_operation(), inject_param=None).
 * 3. cx_with_current(): hands the current op to a helper without creating
 *    one (@with_current_operation); outside any op the helper gets NULL.
 *
 * With GCC or Clang, 2 and 3 use the expression forms of run.h (issue 17
 * item 13): CX_RUN_TIMEOUT(parent, seconds, call) runs one call in a
 * fresh op with a timeout, with no wrapper function, and
 * CX_WITH_TIMEOUT(op, parent, seconds, &rc) { ... } puts a block in one;
 * the #else branches are the portable function forms of the same.
 */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>

/* 1. The op arrives as a parameter. */
static int my_function(cx_op *cancelable, void *user_data) {
  const char *arg = user_data;
  cx_report_progress(cancelable, "Working...", NULL);
  printf("by parameter: '%s' got op '%s' for %s\n", "my_function",
         cx_op_name(cancelable), arg);
  return cx_check(cancelable);
}

/* 2. No op parameter: look it up. */
static int nested_function(const char *arg) {
  cx_op *ctx = cx_current();
  if (ctx == NULL) {
    printf("by lookup: no current operation\n");
    return -ESRCH;
  }
  cx_report_progress(ctx, "Working in nested function", NULL);
  printf("by lookup: Operation: %s (%s)\n", cx_op_name(ctx), arg);
  return 0;
}

#if !defined(__GNUC__) && !defined(__clang__)
/* The wrapper the portable form needs (cx_run() takes a cx_run_fn). */
static int clean_signature(cx_op *unused, void *user_data) {
  (void)unused;
  return nested_function(user_data);
}
#endif

/* 3. A helper that wants the current op, if any. */
static int helper_function(cx_op *operation, void *user_data) {
  char *out = user_data;
  if (operation != NULL) {
    cx_report_progress(operation, "Processing data", NULL);
    snprintf(out, 64, "%s", cx_op_name(operation));
  } else {
    snprintf(out, 64, "(none)");
  }
  printf("with_current: helper got %s\n", out);
  return 0;
}

int main(void) {
  int ok = 1;
  cx_run_options opts = CX_RUN_OPTIONS_INIT;
  cx_op *op = NULL;

  opts.timeout = 30.0;
  opts.name = "my_op";
  ok &= cx_run(&opts, my_function, "arg1", &op) == 0;
  ok &= cx_op_status(op) == CX_STATUS_COMPLETED;
  cx_op_unref(op);

#if defined(__GNUC__) || defined(__clang__)
  ok &= CX_RUN_TIMEOUT(NULL, 30.0, nested_function("arg2")) == 0;
#else
  ok &= cx_run(&opts, clean_signature, "arg2", NULL) == 0;
#endif
  /* Outside any op the lookup finds nothing. */
  ok &= nested_function("outside") == -ESRCH;

  char got[64];
  ok &= cx_with_current(helper_function, got) == 0;
  ok &= strcmp(got, "(none)") == 0;
  int rc = -1;
#if defined(__GNUC__) || defined(__clang__)
  CX_WITH_TIMEOUT(outer, NULL, 30.0, &rc) { /* the op is named "outer" */
    rc = cx_with_current(helper_function, got);
    ok &= strcmp(got, "outer") == 0;
    /* cx_with_current created nothing: "outer" is still current. */
    ok &= cx_current() == outer;
  } /* exited with rc and released here, however the block is left */
#else
  cx_op *outer = NULL;
  if (cx_op_with_timeout(&outer, NULL, 30.0, "outer") != 0 ||
      cx_op_enter(outer) != 0)
    return 1;
  rc = cx_with_current(helper_function, got);
  ok &= strcmp(got, "outer") == 0;
  ok &= cx_current() == outer;
  cx_op_exit(outer, rc);
  cx_op_unref(outer);
#endif
  ok &= rc == 0 && cx_current() == NULL;

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
