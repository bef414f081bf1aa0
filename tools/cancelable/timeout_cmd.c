/* tools/cancelable/timeout_cmd.c - `cancelable timeout`: a drop-in for GNU
 * coreutils timeout(1), with its options (-s/--signal, -k/--kill-after,
 * -p/--preserve-status, -f/--foreground, -v/--verbose) and exit statuses
 * (124 timed out, 125 own failure, 126 not executable, 127 not found,
 * 128+N killed by signal N, 137 after SIGKILL), built on an operation with
 * a timeout.  Like GNU timeout, it forwards INT, QUIT, HUP, TERM and the
 * timeout signal to the command, takes ALRM for "time is up", does not stop
 * the command's leftover children when the command ends by itself, and when
 * it dies the command alone gets the timeout signal (`cancelable run` does
 * more).  Its messages are GNU's word for word (getopt's, the quoting, the
 * write error at exit), under its own name or, run as `timeout`, under
 * that one. */
#include <cancelable.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "duration.h"
#include "gnu_compat.h"
#include "progress_channel.h"
#include "sigfwd.h"
#include "signames.h"
#include "supervise.h"
#include "tool.h"

/* How the tool names itself: "cancelable timeout", or, run as `timeout`
 * (a link or a copy of that name), argv[0] as given, as GNU timeout does
 * (its messages say "timeout:" when it is found in PATH). */
static char subcommand_name[] = "cancelable timeout";
static char *prog = subcommand_name; /* also argv[0] for getopt's messages */

typedef struct timeout_options {
  double duration;   /* 0 or INFINITY: no timeout */
  double kill_after; /* INFINITY: none */
  int signal;
  bool foreground, preserve_status, verbose;
  char **argv;
} timeout_options;

static const struct option long_options[] = {
    {"foreground", no_argument, NULL, 'f'},
    {"kill-after", required_argument, NULL, 'k'},
    {"preserve-status", no_argument, NULL, 'p'},
    {"signal", required_argument, NULL, 's'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

static void usage(FILE *f) {
  fprintf(f,
          "Usage: %s [OPTION] DURATION COMMAND [ARG]...\n"
          "  or:  %s [OPTION]\n",
          prog, prog);
  fputs(
      "Start COMMAND, and kill it if still running after DURATION; a\n"
      "drop-in replacement for GNU timeout(1).\n"
      "\n"
      "  -f, --foreground       when not run from a shell prompt, let COMMAND\n"
      "                         read the terminal and get its signals; its\n"
      "                         children are not timed out then (at a\n"
      "                         prompt COMMAND shares the tool's job: it\n"
      "                         reads the terminal, Ctrl-Z stops both)\n"
      "  -k, --kill-after=DURATION\n"
      "                         also send KILL if COMMAND is still running\n"
      "                         this long after the first signal\n"
      "  -p, --preserve-status  exit with COMMAND's status even on timeout\n"
      "                         (as GNU's -p; `cancelable run -p` is\n"
      "                         --progress)\n"
      "  -s, --signal=SIGNAL    the signal to send on timeout (default TERM;\n"
      "                         0: only KILL after --kill-after stops it)\n"
      "  -v, --verbose          diagnose to standard error every signal sent\n"
      "      --help, --version\n"
      "\n"
      "DURATION: a floating point number with an optional suffix s "
      "(default),\n"
      "m, h or d; 0 disables the timeout, a positive DURATION is at\n"
      "least 1 ns (1e-10000 times out at once).\n"
      "\n"
      "SIGALRM sent to this tool means the time is up: COMMAND gets SIGNAL\n"
      "as at the timeout (for cascaded timeouts).  INT, QUIT, HUP, TERM\n"
      "and SIGNAL are forwarded to COMMAND.  Run as 'timeout' (a link or a\n"
      "copy of that name), this tool is `cancelable timeout`.\n"
      "\n"
      "Exit status: 124 if COMMAND times out (and --preserve-status is not\n"
      "given), 125 if this tool fails, 126 if COMMAND is found but cannot\n"
      "be invoked, 127 if COMMAND is not found, 137 if COMMAND (or this\n"
      "tool) is sent KILL, otherwise COMMAND's status; when COMMAND is\n"
      "killed by signal N (the time not being up), this tool dies of N\n"
      "too, so the shell sees 128+N and an interrupted loop stops.\n",
      f);
}

/* GNU's pointer to --help, after the error message. */
static int try_help(void) {
  fprintf(stderr, "Try '%s --help' for more information.\n", prog);
  return -EINVAL;
}

/* "PROG: FORMAT" with @arg quoted as GNU does, then try_help(). */
static int usage_error(const char *before, const char *arg, const char *after) {
  char *quoted = gnu_quote(arg);
  fprintf(stderr, "%s: %s%s%s\n", prog, before, quoted != NULL ? quoted : arg,
          after);
  free(quoted);
  return try_help();
}

static int apply(timeout_options *o, int opt, const char *arg) {
  double d;
  switch (opt) {
    case 'f':
      o->foreground = true;
      return 0;
    case 'p':
      o->preserve_status = true;
      return 0;
    case 'v':
      o->verbose = true;
      return 0;
    case 'k':
      if (duration_parse(arg, &d) != 0)
        return usage_error("invalid time interval ", arg, "");
      o->kill_after = d > 0 ? d : INFINITY;
      return 0;
    case 's':
      o->signal = signame_parse(arg);
      if (o->signal < 0) return usage_error("", arg, ": invalid signal");
      return 0;
    default:
      return try_help(); /* getopt said what is wrong */
  }
}

/* Returns: 0 to run, 1 help printed, 2 version asked, -EINVAL.  The
 * errors are GNU timeout's, word for word: getopt's own for the options
 * (opterr), and a bare pointer to --help for a missing operand. */
static int parse(int argc, char **argv, timeout_options *o) {
  char *argv0 = argv[0];
  int opt, rc = 0;
  memset(o, 0, sizeof *o);
  o->kill_after = INFINITY;
  o->signal = SIGTERM;
  optind = 0;
  opterr = 1;
  argv[0] = prog;
  while (rc == 0 && (opt = getopt_long(argc, argv, "+fk:ps:v", long_options,
                                       NULL)) != -1) {
    if (opt == 'h') {
      usage(stdout);
      rc = 1;
    } else if (opt == 'V') {
      rc = 2;
    } else {
      rc = apply(o, opt, optarg);
    }
  }
  argv[0] = argv0;
  if (rc != 0) return rc;
  if (argc - optind < 2) return try_help();
  if (duration_parse(argv[optind], &o->duration) != 0)
    return usage_error("invalid time interval ", argv[optind], "");
  o->argv = argv + optind + 1;
  return 0;
}

/* GNU timeout's exit status for the outcome. */
static int exit_status(const timeout_options *o, const supervise_result *r) {
  bool preserve = o->preserve_status;
  int status;
  if (r->exec_failed)
    return r->error == ENOENT ? EXIT_ENOENT : EXIT_CANNOT_INVOKE;
  if (!r->ran || r->error != 0) return EXIT_TOOL_ERROR;
  if (WIFEXITED(r->status)) {
    status = WEXITSTATUS(r->status);
  } else if (WIFSIGNALED(r->status)) {
    /* Killed: 137 even after a timeout, so callers can tell. */
    if (r->cancelled && WTERMSIG(r->status) == SIGKILL) preserve = true;
    status = 128 + WTERMSIG(r->status);
  } else {
    status = EXIT_TOOL_ERROR;
  }
  return r->cancelled && !preserve ? EXIT_TIMEDOUT : status;
}

/* Whether the tool catches @signo, as GNU timeout's cleanup() does: INT,
 * QUIT, HUP, TERM and the timeout signal, forwarded to the command, if it
 * can be caught (GNU's own SIGCHLD handler wins over that one's), and ALRM,
 * the time is up (supervise_config.alarm_signal). */
static bool caught(int signo, const timeout_options *o) {
  return signo == SIGINT || signo == SIGQUIT || signo == SIGHUP ||
         signo == SIGTERM || signo == SIGALRM ||
         (signo == o->signal && signo != SIGKILL && signo != SIGSTOP &&
          signo != SIGCHLD);
}

/* Routes the caught signals to the main loop (sigfwd). */
static int catch_forwarded(const timeout_options *o) {
  int sigs[NSIG];
  size_t n = 0;
  for (int sig = 1; sig < NSIG; sig++)
    if (caught(sig, o)) sigs[n++] = sig;
  return sigfwd_catch(sigs, n);
}

/* Runs the command; *@timed_out tells whether the time was up, and
 * *@died_of the signal that killed the command when it was not (0: none). */
static int run(const timeout_options *o, bool *timed_out, int *died_of) {
  /* If the tool dies, the command gets the timeout signal and nothing else
   * is done, as GNU timeout does since coreutils 9.10 (PR_SET_PDEATHSIG in
   * the child; nothing watches the group). */
  supervise_config cfg = {.argv = o->argv,
                          .prog = prog,
                          .foreground = o->foreground,
                          .stop_signal = o->signal,
                          .grace = o->kill_after,
                          .kill_after_forward = o->kill_after,
                          .verbose = o->verbose,
                          .death_signal = o->signal,
                          .gnu_messages = true,
                          .alarm_signal = SIGALRM,
                          .alarm_kill = !isinf(o->kill_after)};
  cx_op_options opts = CX_OP_OPTIONS_INIT;
  supervise_result res;
  progress_state st;
  char *name = strdup(o->argv[0]);
  cx_op *op = NULL;
  int rc;
  if (name == NULL) return EXIT_TOOL_ERROR;
  opts.name = basename(name);
  if (o->duration > 0 && !isinf(o->duration)) opts.timeout = o->duration;
  rc = cx_op_create(&op, &opts);
  free(name);
  if (rc == 0) rc = sigfwd_init();
  if (rc == 0) rc = catch_forwarded(o);
  if (rc == 0) rc = cx_op_enter(op);
  if (rc != 0) {
    fprintf(stderr, "%s: cannot start: %s\n", prog, cx_strerror(rc));
    cx_op_unref(op);
    return EXIT_TOOL_ERROR;
  }
  progress_state_init(&st, NULL);
  rc = supervise(op, &cfg, &st, &res);
  if (res.exec_failed) {
    char *quoted = gnu_quote(o->argv[0]);
    fprintf(stderr, "%s: failed to run command %s: %s\n", prog,
            quoted != NULL ? quoted : o->argv[0], strerror(res.error));
    free(quoted);
  } else if (rc != 0) {
    fprintf(stderr, "%s: %s\n", prog, strerror(-rc));
  } else if (WIFSIGNALED(res.status) && WCOREDUMP(res.status)) {
    fprintf(stderr, "%s: the monitored command dumped core\n", prog);
  }
  cx_op_exit(op, res.cancelled ? -ECANCELED : rc);
  cx_op_unref(op);
  *timed_out = res.cancelled;
  *died_of = res.ran && !res.cancelled && !res.exec_failed && rc == 0 &&
                     WIFSIGNALED(res.status)
                 ? WTERMSIG(res.status)
                 : 0;
  /* GNU timeout sends KILL to its whole process group, itself included,
   * unless --foreground: its caller sees a death by SIGKILL, not exit 137.
   * Ours reaps the command first, then dies of it the same way. */
  if (res.killed && !o->foreground && res.ran && WIFSIGNALED(res.status) &&
      WTERMSIG(res.status) == SIGKILL)
    *died_of = SIGKILL;
  return exit_status(o, &res);
}

int timeout_main(int argc, char **argv, bool as_timeout) {
  timeout_options o;
  bool timed_out = false;
  int rc, status, died_of = 0;
  if (as_timeout) prog = argv[0];
  rc = parse(argc, argv, &o);
  if (rc == 2) {
    if (as_timeout)
      printf("timeout (cancelable) %s\n", cx_version_string());
    else
      printf("cancelable timeout %s\n", cx_version_string());
  }
  if (rc == 1 || rc == 2)
    status = 0;
  else if (rc != 0)
    status = EXIT_TOOL_ERROR;
  else
    status = run(&o, &timed_out, &died_of);
  /* As GNU timeout's close_stdout(): a write error, such as --help to
   * /dev/full or a -v line to a full stderr, exits 125 (its
   * exit_failure), also after a timeout. */
  if (!gnu_close_std(prog))
    status = EXIT_TOOL_ERROR;
  else if (died_of > 0 && status == 128 + died_of)
    sigfwd_die_of(died_of); /* returns only when it cannot: then 128+N */
  return status;
}
