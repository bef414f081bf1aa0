/* examples/run/method_naming.c - pattern: "@cancelable_method" (seed:
 * Decorators / Additional Decorators), issue #5.
 *
 * A "class" DataProcessor whose method process() runs each call in a fresh
 * op named "DataProcessor.process", with its own timeout:
 *
 *   class DataProcessor:
 *       @cancelable_method(timeout=30.0)
 *       async def process(self, data, cancelable): ...
 *
 * cx_run_method() builds the name from two strings; CX_METHOD_NAME() makes
 * the same name at compile time for cx_run().  The ops are registered, so
 * the registry's history lists them by that name.
 */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>

typedef struct DataProcessor {
  int processed;
} DataProcessor;

typedef struct process_call {
  DataProcessor *self;
  const char *data;
} process_call;

static int process_impl(cx_op *op, void *user_data) {
  process_call *c = user_data;
  printf("  %s: op '%s' processing '%s'\n", cx_op_name(op),
         cx_op_name(cx_current()), c->data);
  cx_report_progress(op, "Processing...", NULL);
  int rc = cx_sleep(op, 0.05); /* heavy_computation(data) */
  if (rc == 0) c->self->processed++;
  return rc;
}

/* The method: each call gets its own op named "DataProcessor.process". */
static int DataProcessor_process(DataProcessor *self, const char *data,
                                 double timeout) {
  cx_run_options opts = CX_RUN_OPTIONS_INIT;
  process_call c = {self, data};
  opts.timeout = timeout;
  opts.register_op = true;
  return cx_run_method("DataProcessor", "process", &opts, process_impl, &c,
                       NULL);
}

typedef struct Cache {
  int refreshed;
} Cache;

static int refresh_impl(cx_op *op, void *user_data) {
  Cache *cache = user_data;
  printf("  %s: refreshing\n", cx_op_name(op));
  cache->refreshed = 1;
  return 0;
}

/* The same with the name made at compile time. */
static int Cache_refresh(Cache *self) {
  cx_run_options opts = CX_RUN_OPTIONS_INIT;
  opts.name = CX_METHOD_NAME(Cache, refresh);
  opts.timeout = 30.0;
  opts.register_op = true;
  return cx_run(&opts, refresh_impl, self, NULL);
}

int main(void) {
  int ok = 1;
  DataProcessor processor = {0};
  Cache cache = {0};

  cx_registry_clear();
  ok &= DataProcessor_process(&processor, "batch-1", 30.0) == 0;
  ok &= DataProcessor_process(&processor, "batch-2", 30.0) == 0;
  /* A call whose own timeout is too short: only that call is cancelled. */
  int rc = DataProcessor_process(&processor, "batch-3", 0.01);
  printf("  batch-3 with a 0.01 s timeout: %s\n", cx_err_name(rc));
  ok &= rc == -ECANCELED;
  ok &= Cache_refresh(&cache) == 0;

  cx_op_filter f = CX_OP_FILTER_INIT;
  cx_op_list l = {0};
  f.name_pattern = "DataProcessor.*";
  if (cx_registry_history(&f, 0, &l) != 0) return 1;
  printf("registry history of DataProcessor.*: %zu ops\n", l.count);
  for (size_t i = 0; i < l.count; i++)
    printf("  %.8s  %-22s %s\n", cx_op_id(l.ops[i]), cx_op_name(l.ops[i]),
           cx_status_name(cx_op_status(l.ops[i])));
  ok &= l.count == 3;
  for (size_t i = 0; i < l.count; i++)
    ok &= strcmp(cx_op_name(l.ops[i]), "DataProcessor.process") == 0;
  cx_op_list_free(&l);
  f.name_pattern = NULL;
  f.name = "Cache.refresh";
  if (cx_registry_history(&f, 0, &l) != 0) return 1;
  ok &= l.count == 1;
  cx_op_list_free(&l);
  printf("processed %d, cache refreshed %d\n", processor.processed,
         cache.refreshed);
  ok &= processor.processed == 2 && cache.refreshed == 1;

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
