/* fuzz/fuzz_cli.c - the options of `cancelable run` (tools/cancelable/
 * cli.c), parsed by cli_parse_run(): the input's NUL-separated fields are
 * the arguments after "run".  The parser never exits or runs anything (it
 * returns 1 for --help and 2 for --version, and only prints); it returns
 * 0, 1, 2, -EINVAL or -ENOMEM; what it accepts is consistent (a command,
 * positive finite interval, a stop signal (0 for none), every --when
 * expression round-trips through its canonical form); and
 * cli_free_run() frees everything whatever happened.  Run it with
 * -close_fd_mask=3: the usage and the errors go to stdout and stderr. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_common.h"

#define MAX_ARGS 64

/* A tree's canonical form parses back to a tree with the same form. */
static void check_when(const expr_node *tree) {
  char *canon = expr_format(tree), *canon2;
  expr_node *again = NULL;
  expr_error err;
  FUZZ_CHECK(canon != NULL);
  FUZZ_CHECK(expr_parse(canon, &again, &err) == 0);
  canon2 = expr_format(again);
  FUZZ_CHECK(canon2 != NULL && strcmp(canon, canon2) == 0);
  free(canon);
  free(canon2);
  expr_free(again);
}

/* What cli_parse_run() accepted. */
static void check_options(const run_options *o) {
  FUZZ_CHECK(o->argv != NULL && o->argv[0] != NULL);
  FUZZ_CHECK(o->timeout >= 0 && !isnan(o->timeout));
  FUZZ_CHECK(o->interval > 0 && isfinite(o->interval));
  FUZZ_CHECK(o->grace >= 0 && !isnan(o->grace));
  FUZZ_CHECK(o->stop_signal >= 0 && o->stop_signal <= SIGRTMAX);
  for (size_t i = 0; i < o->nwhens; i++) check_when(o->whens[i]);
  for (size_t i = 0; i < o->nleaves; i++) {
    const expr_leaf *l = &o->leaves[i];
    if (l->kind == LEAF_FILE || l->kind == LEAF_COND)
      FUZZ_CHECK(l->text != NULL && l->text[0] != '\0');
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_fields f;
  char *argv[MAX_ARGS + 2];
  run_options o;
  int argc = 1, rc;
  fuzz_split(&f, data, size, MAX_ARGS);
  argv[0] = (char *)"run";
  for (size_t i = 0; i < f.count; i++) argv[argc++] = f.field[i];
  argv[argc] = NULL;
  rc = cli_parse_run(argc, argv, &o);
  FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2 || rc == -EINVAL || rc == -ENOMEM);
  if (rc == 0) check_options(&o);
  cli_free_run(&o);
  fuzz_fields_free(&f);
  return 0;
}
