/* tools/cancelable/cli.h - the options of `cancelable run`. */
#ifndef CANCELABLE_TOOL_CLI_H
#define CANCELABLE_TOOL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "expr.h"
#include "serve.h"

/* --cgroup: run the command in a cgroup v2 of its own (cgroup.h). */
typedef enum run_cgroup {
  RUN_CGROUP_NO = 0, /* not asked for: the process group and subreaper */
  RUN_CGROUP_YES,    /* --cgroup: without a writable cgroup v2, exit 125 */
  RUN_CGROUP_AUTO    /* --cgroup=auto: without one, as without --cgroup */
} run_cgroup;

typedef struct run_options {
  double timeout;              /* --timeout seconds; 0: none */
  const char *timeout_message; /* (nullable) --timeout-message */
  expr_leaf *leaves; /* (owned) sources from --on-signal, --until-file,
                        --until, --max-memory, --max-cpu, --max-disk */
  size_t nleaves;
  expr_node **whens; /* (owned) --when expressions */
  size_t nwhens;
  bool no_signals;    /* --on-signal=none */
  bool signals_given; /* --on-signal was given */
  double interval;    /* --interval, default CX_CONDITION_INTERVAL_DEFAULT */
  double sustain;     /* --sustain seconds for resource thresholds; 0 */
  int stop_signal;    /* --stop-signal, default SIGTERM; 0: none (only
                         SIGCONT, then SIGKILL after the grace) */
  double grace;       /* --grace / --kill-after, default 10 s */
  bool foreground;
  run_cgroup cgroup; /* --cgroup[=auto] */
  bool preserve_status;
  bool progress;
  bool verbose;
  bool report_json;
  const char *name;         /* (nullable) --name */
  const char *id;           /* (nullable) --id */
  const char *report_file;  /* (nullable) --report-file */
  bool serve;               /* --serve[=ADDR] or --serve-cancel */
  bool serve_cancel;        /* --serve-cancel: the page may cancel */
  serve_address serve_addr; /* where --serve listens */
  const char *nats;         /* (nullable) --nats URL */
  char **argv;              /* the command (points into the tool's argv) */
} run_options;

/* cli_parse_run: parse `run`'s arguments (@argv[0] is "run").
 * Returns: 0 to run; 1 when --help was printed, 2 when --version was
 *   asked for (exit 0 after printing it);
 *   -EINVAL after printing an error that names the offending token
 *   (exit 125); -ENOMEM. */
int cli_parse_run(int argc, char **argv, run_options *o);

/* cli_free_run: free what cli_parse_run() allocated. */
void cli_free_run(run_options *o);

/* cli_run_usage: the --help text. */
void cli_run_usage(FILE *f);

/* cli_print_expr_error: print a parse error of @text with a caret under
 * the offending column. */
void cli_print_expr_error(const char *prog, const char *option,
                          const char *text, const expr_error *err);

#endif /* CANCELABLE_TOOL_CLI_H */
