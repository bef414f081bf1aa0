/* tools/cancelable/run_cmd.c - `cancelable run`: builds the operation from
 * the options (timeout, signals, conditions, resources, expressions),
 * supervises the command, and maps the outcome to an exit status and a
 * JSON report. */
#include <cancelable.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus.h"
#include "cgroup.h"
#include "cli.h"
#include "gnu_compat.h"
#include "report.h"
#include "serve.h"
#include "sigfwd.h"
#include "supervise.h"
#include "tool.h"
#include "triggers.h"

#define PROG "cancelable run"

/* Signals the tool forwards to the command unless they cancel it. */
static const int forwardable[] = {SIGHUP,  SIGINT,  SIGQUIT,
                                  SIGTERM, SIGUSR1, SIGUSR2};

/* Everything one run owns. */
typedef struct run_state {
  run_options *o;
  cx_op *op;
  source_set *sources;
  progress_state progress;
  supervise_result result;
  FILE *report;
  serve_server *server; /* (nullable) --serve */
  bus *bus;             /* (nullable) --nats */
  cgroup cg;            /* --cgroup: the command's (path NULL: none) */
  bool watched[NSIG];   /* signals some signal source watches */
  int died_of;          /* the command died of this signal, which the tool had
                           received and passed on: the tool dies of it too */
} run_state;

static void watch_leaf(run_state *s, const expr_leaf *l) {
  for (size_t i = 0; l->kind == LEAF_SIGNAL && i < l->nsignals; i++)
    if (l->signals[i] > 0 && l->signals[i] < NSIG)
      s->watched[l->signals[i]] = true;
}

static void watch_tree(run_state *s, const expr_node *n) {
  if (n->kind == EXPR_LEAF) watch_leaf(s, &n->leaf);
  for (size_t i = 0; i < n->count; i++) watch_tree(s, n->children[i]);
}

static int add_source(run_state *s, cx_source *src) {
  int rc = cx_op_add_source(s->op, src);
  if (rc != 0) cx_source_free(src);
  return rc;
}

/* Attaches a source for each option and --when expression. */
static int add_sources(run_state *s) {
  run_options *o = s->o;
  char err[200];
  cx_source *src;
  int rc = 0;
  if (o->timeout > 0 && !isinf(o->timeout))
    rc = o->timeout_message != NULL
             ? cx_op_add_timeout_cause(s->op, o->timeout, o->timeout_message)
             : cx_op_add_timeout(s->op, o->timeout);
  if (rc == 0 && !o->signals_given) {
    expr_leaf def;
    rc = expr_leaf_parse(LEAF_SIGNAL, NULL, &def, NULL);
    if (rc == 0) rc = source_set_leaf(s->sources, &def, &src, err, sizeof err);
    if (rc == 0) rc = add_source(s, src);
    watch_leaf(s, &def);
  }
  for (size_t i = 0; rc == 0 && i < o->nleaves; i++) {
    rc = source_set_leaf(s->sources, &o->leaves[i], &src, err, sizeof err);
    if (rc == 0) rc = add_source(s, src);
    watch_leaf(s, &o->leaves[i]);
  }
  for (size_t i = 0; rc == 0 && i < o->nwhens; i++) {
    rc = source_set_build(s->sources, o->whens[i], &src, err, sizeof err);
    if (rc == 0) rc = add_source(s, src);
    watch_tree(s, o->whens[i]);
  }
  if (rc != 0) fprintf(stderr, PROG ": %s\n", err);
  return rc;
}

/* Catches the forwardable signals that no source watches, and ALRM, the
 * time is up (supervise_config.alarm_signal), unless a source watches it. */
static int catch_forwarded(run_state *s) {
  int sigs[sizeof forwardable / sizeof forwardable[0] + 1];
  size_t n = 0;
  for (size_t i = 0; i < sizeof forwardable / sizeof forwardable[0]; i++)
    if (!s->watched[forwardable[i]]) sigs[n++] = forwardable[i];
  if (!s->watched[SIGALRM]) sigs[n++] = SIGALRM;
  return sigfwd_catch(sigs, n);
}

static int create_op(run_state *s) {
  cx_op_options opts = CX_OP_OPTIONS_INIT;
  char *copy = strdup(s->o->argv[0]);
  int rc;
  if (copy == NULL) return -ENOMEM;
  opts.name = s->o->name != NULL ? s->o->name : basename(copy);
  opts.id = s->o->id;
  opts.register_op = s->o->serve || s->bus != NULL; /* shown, cancellable */
  rc = s->bus != NULL ? bus_create_op(s->bus, &opts, &s->op)
                      : cx_op_create(&s->op, &opts);
  free(copy);
  if (rc != 0 && s->o->id != NULL)
    fprintf(stderr,
            PROG ": cannot create the operation: %s (check --id '%s')\n",
            cx_strerror(rc), s->o->id);
  else if (rc != 0)
    fprintf(stderr, PROG ": cannot create the operation: %s\n",
            cx_strerror(rc));
  return rc;
}

/* What cancelled the op, from its reason (and, for conditions, whether a
 * resource threshold was the first to trigger). */
static const char *cancel_kind(run_state *s) {
  const char *msg = cx_op_cancel_message(s->op);
  switch (cx_op_cancel_reason(s->op)) {
    case CX_REASON_TIMEOUT:
      return "timeout";
    case CX_REASON_SIGNAL:
      return "signal";
    case CX_REASON_MANUAL:
      return "manual"; /* the --serve-cancel page, `cancelable cancel` */
    case CX_REASON_PARENT:
      return "parent"; /* a remote parent (--nats) */
    case CX_REASON_CONDITION:
      if (source_set_resource_fired(s->sources) && msg != NULL &&
          strstr(msg, "% threshold") != NULL)
        return "resource";
      return "condition";
    default:
      return "other";
  }
}

static int command_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_TOOL_ERROR;
}

static int kind_status(const char *kind) {
  if (strcmp(kind, "timeout") == 0) return EXIT_TIMEDOUT;
  if (strcmp(kind, "signal") == 0) return EXIT_CANCEL_SIGNAL;
  if (strcmp(kind, "condition") == 0) return EXIT_CANCEL_CONDITION;
  if (strcmp(kind, "resource") == 0) return EXIT_CANCEL_RESOURCE;
  return EXIT_CANCEL_OTHER;
}

/* The signal the command died of when the tool dies of it too, or 0: as
 * GNU timeout when nothing cancelled the run (a Ctrl-C that reached both
 * may be seen by the tool after the command's death), and when a signal
 * cancelled it and the command died of that one or of another the tool
 * passed on (not when the stop signal of another source killed it).  A
 * shell then sees a death by that signal: one Ctrl-C ends its loop. */
static int died_of(run_state *s, const char *kind) {
  const supervise_result *r = &s->result;
  int sig;
  if (!r->ran || r->exec_failed || !WIFSIGNALED(r->status)) return 0;
  sig = WTERMSIG(r->status);
  if (kind == NULL) return sig;
  if (strcmp(kind, "signal") != 0) return 0;
  return sigismember(&r->passed_on, sig) ||
                 supervise_cancel_signal(s->op) == sig
             ? sig
             : 0;
}

/* The tool's exit status for the outcome. */
static int exit_status(run_state *s, const char *kind) {
  const supervise_result *r = &s->result;
  if (r->exec_failed)
    return r->error == ENOENT ? EXIT_ENOENT : EXIT_CANNOT_INVOKE;
  if (!r->ran) return EXIT_TOOL_ERROR;
  if (s->o->preserve_status) return command_status(r->status);
  if (r->error != 0) return EXIT_TOOL_ERROR;
  if (s->died_of != 0) return command_status(r->status);
  if (kind != NULL) return kind_status(kind);
  return command_status(r->status);
}

/* Exits the op keeping the signals its sources watched from their default
 * action.  Exiting stops the signal sources, which put the dispositions
 * back (SIG_DFL for INT and TERM): an INT or TERM that came while the tool
 * finishes (the report may block on a full pipe) would kill it and lose
 * the run's status.  So the signals are blocked across the exit (the
 * library's threads block everything: they stay pending), then caught
 * into the forwarding pipe, which nobody reads any more: ignored, as GNU
 * timeout ignores the signals that come after its command is reaped. */
static int exit_op(run_state *s, int result) {
  int sigs[NSIG];
  size_t n = 0;
  sigset_t set, old;
  int rc;
  sigemptyset(&set);
  for (int sig = 1; sig < NSIG; sig++)
    if (s->watched[sig]) {
      sigaddset(&set, sig);
      sigs[n++] = sig;
    }
  pthread_sigmask(SIG_BLOCK, &set, &old);
  rc = cx_op_exit(s->op, result);
  (void)sigfwd_catch(sigs, n); /* cannot fail: the pipe exists by now */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

/* Runs the command inside the entered op and exits the op. */
static int supervise_and_exit(run_state *s) {
  run_options *o = s->o;
  supervise_config cfg = {.argv = o->argv,
                          .prog = PROG,
                          .foreground = o->foreground,
                          .stop_signal = o->stop_signal,
                          .grace = o->grace,
                          .clean_group = true,
                          .kill_after_forward = INFINITY,
                          .progress_channel = true,
                          .live = o->progress,
                          .verbose = o->verbose,
                          .death_signal = SIGKILL,
                          .watch_group = true,
                          /* ALRM: the time is up, as for GNU timeout (a
                           * cascade: timeout -s ALRM 60 cancelable run
                           * ...); a signal source for it comes first. */
                          .alarm_signal = s->watched[SIGALRM] ? 0 : SIGALRM,
                          .forward_cancel_signal = true,
                          .cgroup = s->cg.path != NULL ? &s->cg : NULL};
  int rc = supervise(s->op, &cfg, &s->progress, &s->result);
  int result = 0;
  source_set_shutdown(s->sources);
  supervise_stop_escaped(&cfg, &s->result);
  if (s->result.exec_failed)
    fprintf(stderr, PROG ": failed to run command '%s': %s\n", o->argv[0],
            strerror(s->result.error));
  else if (s->result.join_failed)
    fprintf(stderr, PROG ": cannot move the command into the cgroup %s: %s\n",
            s->cg.path, strerror(s->result.error));
  else if (rc != 0)
    fprintf(stderr, PROG ": %s\n", strerror(-rc));
  if (s->result.cancelled)
    result = -ECANCELED;
  else if (rc != 0)
    result = rc;
  return exit_op(s, result);
}

/* Whether @path names the file open on @fd (as /dev/stdout does). */
static bool same_file(const struct stat *st, int fd) {
  struct stat other;
  return fstat(fd, &other) == 0 && other.st_dev == st->st_dev &&
         other.st_ino == st->st_ino;
}

/* Opens --report-file.  "-" is standard output.  A file the tool's standard
 * output or error already has open (/dev/stdout, /dev/stderr, or the log
 * they were redirected to) is written through that descriptor, after what
 * it holds, and a file that is not a regular one (a terminal, a FIFO) is
 * appended to: neither is truncated.  Any other file is replaced.
 * Returns: the stream, or NULL with errno set. */
static FILE *open_report(const char *path) {
  struct stat st;
  int fd = -1;
  if (strcmp(path, "-") == 0) {
    fd = STDOUT_FILENO;
  } else if (stat(path, &st) == 0) {
    if (same_file(&st, STDOUT_FILENO))
      fd = STDOUT_FILENO;
    else if (same_file(&st, STDERR_FILENO))
      fd = STDERR_FILENO;
    else if (!S_ISREG(st.st_mode))
      return fopen(path, "ae");
  }
  if (fd >= 0) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    FILE *f = copy >= 0 ? fdopen(copy, "w") : NULL; /* "w": no truncation */
    if (f == NULL && copy >= 0) close(copy);
    return f;
  }
  return fopen(path, "we");
}

/* Writes the report (and closes --report-file).  A failure is said on
 * stderr but changes no exit status: the command's outcome, which the
 * status carries, must not be lost to a full disk. */
static void write_report(run_state *s, const char *kind, int status) {
  report_input in = {s->op, s->o->argv, &s->result, kind, status};
  int rc = report_write(s->report != NULL ? s->report : stderr, &in);
  if (s->report != NULL) {
    if (fclose(s->report) != 0 && rc == 0) rc = -errno;
    s->report = NULL;
  }
  if (rc == 0) return;
  if (s->o->report_file != NULL)
    fprintf(stderr, PROG ": cannot write the report to '%s': %s\n",
            s->o->report_file, strerror(-rc));
  else
    fprintf(stderr, PROG ": cannot write the report to stderr: %s\n",
            strerror(-rc));
}

/* --cgroup: makes the command's cgroup.  Without a writable cgroup v2,
 * --cgroup fails (exit 125: asked for, it is not silently dropped) and
 * --cgroup=auto goes on without (said with --verbose).
 * Returns: 0, or -errno after the message. */
static int make_cgroup(run_state *s) {
  char why[4300];
  int rc;
  if (s->o->cgroup == RUN_CGROUP_NO) return 0;
  rc = cgroup_create(&s->cg, why, sizeof why);
  if (rc == 0) {
    if (s->o->verbose)
      fprintf(stderr, PROG ": running '%s' in the cgroup %s\n", s->o->argv[0],
              s->cg.path);
    return 0;
  }
  if (s->o->cgroup == RUN_CGROUP_AUTO) {
    if (s->o->verbose)
      fprintf(stderr, PROG ": no cgroup (%s): process group and subreaper\n",
              why);
    return 0;
  }
  fprintf(stderr, PROG ": --cgroup: %s\n", why);
  return rc;
}

/* Removes the command's cgroup (empty by now), saying so when it cannot. */
static void remove_cgroup(run_state *s) {
  char *path = s->cg.path != NULL ? strdup(s->cg.path) : NULL;
  int rc = cgroup_destroy(&s->cg);
  if (rc != 0)
    fprintf(stderr, PROG ": warning: cannot remove the cgroup %s: %s\n",
            path != NULL ? path : "", strerror(-rc));
  free(path);
}

static int run(run_state *s) {
  const char *kind = NULL;
  int status;
  if (make_cgroup(s) != 0) return EXIT_TOOL_ERROR;
  if (s->o->nats != NULL && bus_attach(PROG, s->o->nats, &s->bus) != 0)
    return EXIT_TOOL_ERROR;
  if (create_op(s) != 0 || add_sources(s) != 0 || catch_forwarded(s) != 0)
    return EXIT_TOOL_ERROR;
  if (s->o->serve && serve_start(&s->o->serve_addr, s->o->serve_cancel, NULL,
                                 stderr, &s->server) != 0)
    return EXIT_TOOL_ERROR;
  progress_state_init(&s->progress, s->sources);
  if (progress_attach(s->op, &s->progress) != 0 || cx_op_enter(s->op) != 0) {
    fprintf(stderr, PROG ": cannot start the operation\n");
    return EXIT_TOOL_ERROR;
  }
  if (s->bus != NULL && bus_export(s->bus, s->op) != 0) {
    fprintf(stderr, PROG ": cannot pass the operation's context on\n");
    return EXIT_TOOL_ERROR;
  }
  if (supervise_and_exit(s) != 0) return EXIT_TOOL_ERROR;
  if (cx_op_status(s->op) == CX_STATUS_CANCELLED) kind = cancel_kind(s);
  s->died_of = died_of(s, kind);
  status = exit_status(s, kind);
  if (s->o->report_json) write_report(s, kind, status);
  return status;
}

int run_main(int argc, char **argv) {
  run_options o;
  run_state s;
  int rc = cli_parse_run(argc, argv, &o), status;
  if (rc != 0) {
    cli_free_run(&o);
    if (rc == 2) printf("cancelable %s\n", cx_version_string());
    if (rc < 0) return EXIT_TOOL_ERROR;
    /* --help or --version: 125 when it could not be written (/dev/full). */
    return gnu_close_std(PROG) ? 0 : EXIT_TOOL_ERROR;
  }
  memset(&s, 0, sizeof s);
  s.o = &o;
  s.cg = CGROUP_NONE;
  if (o.verbose) cx_log_set_handler(cx_log_stderr, CX_LOG_WARNING, NULL);
  if (o.report_file != NULL &&
      (s.report = open_report(o.report_file)) == NULL) {
    fprintf(stderr, PROG ": cannot open '%s': %s\n", o.report_file,
            strerror(errno));
    cli_free_run(&o);
    return EXIT_TOOL_ERROR;
  }
  s.sources = source_set_new(o.interval, o.sustain);
  status = s.sources != NULL && sigfwd_init() == 0 ? run(&s) : EXIT_TOOL_ERROR;
  serve_stop(s.server); /* before the op goes: requests may read it */
  bus_detach(s.bus);    /* after exit: its end reaches remote children */
  remove_cgroup(&s);    /* emptied by supervise() */
  cx_op_unref(s.op);
  source_set_free(s.sources);
  if (s.report != NULL) fclose(s.report); /* not written: the tool failed */
  cli_free_run(&o);
  if (s.died_of != 0 && status == 128 + s.died_of)
    sigfwd_die_of(s.died_of); /* returns only when it cannot: 128+N */
  return status;
}
