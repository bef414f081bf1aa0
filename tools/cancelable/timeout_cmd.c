/* tools/cancelable/timeout_cmd.c - `cancelable timeout`: a drop-in for GNU
 * coreutils timeout(1), with its options (-s/--signal, -k/--kill-after,
 * -p/--preserve-status, -f/--foreground, -v/--verbose) and exit statuses
 * (124 timed out, 125 own failure, 126 not executable, 127 not found,
 * 128+N killed by signal N, 137 after SIGKILL), built on an operation with
 * a timeout.  Like GNU timeout, it forwards INT, QUIT, HUP, TERM and the
 * timeout signal to the command, does not stop the command's leftover children
 * when the command ends by itself, and when it dies the command alone gets the
 * timeout signal (`cancelable run` does more). */
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
#include "progress_channel.h"
#include "sigfwd.h"
#include "signames.h"
#include "supervise.h"
#include "tool.h"

#define PROG "cancelable timeout"

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
  fputs(
      "Usage: cancelable timeout [OPTION] DURATION COMMAND [ARG]...\n"
      "Start COMMAND, and kill it if still running after DURATION; a\n"
      "drop-in replacement for GNU timeout(1).\n"
      "\n"
      "  -f, --foreground       do not create a process group for COMMAND\n"
      "                         (it may read the terminal; its children are\n"
      "                         not timed out)\n"
      "  -k, --kill-after=DURATION\n"
      "                         also send KILL if COMMAND is still running\n"
      "                         this long after the first signal\n"
      "  -p, --preserve-status  exit with COMMAND's status even on timeout\n"
      "                         (as GNU's -p; `cancelable run -p` is\n"
      "                         --progress)\n"
      "  -s, --signal=SIGNAL    the signal to send on timeout (default TERM)\n"
      "  -v, --verbose          diagnose every signal sent\n"
      "      --help, --version\n"
      "\n"
      "DURATION: a floating point number with an optional suffix s "
      "(default),\n"
      "m, h or d; 0 disables the timeout, a positive DURATION is at\n"
      "least 1 ns (1e-10000 times out at once).\n"
      "\n"
      "Exit status: 124 if COMMAND times out (and --preserve-status is not\n"
      "given), 125 if this tool fails, 126 if COMMAND is found but cannot\n"
      "be invoked, 127 if COMMAND is not found, 137 if COMMAND (or this\n"
      "tool) is sent KILL, otherwise COMMAND's status (128+N when it is\n"
      "killed by signal N).\n",
      f);
}

static int usage_error(const char *what, const char *token) {
  fprintf(stderr,
          PROG ": %s '%s'\nTry '" PROG " --help' for more information.\n", what,
          token);
  return -EINVAL;
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
        return usage_error("invalid time interval", arg);
      o->kill_after = d > 0 ? d : INFINITY;
      return 0;
    case 's':
      o->signal = signame_parse(arg);
      if (o->signal < 0) return usage_error("invalid signal", arg);
      return 0;
    default:
      return -EINVAL;
  }
}

/* Returns: 0 to run, 1 help printed, 2 version asked, -EINVAL. */
static int parse(int argc, char **argv, timeout_options *o) {
  int opt;
  memset(o, 0, sizeof *o);
  o->kill_after = INFINITY;
  o->signal = SIGTERM;
  optind = 0;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "+:fk:ps:v", long_options, NULL)) !=
         -1) {
    if (opt == 'h') {
      usage(stdout);
      return 1;
    }
    if (opt == 'V') return 2;
    if (opt == ':')
      return usage_error("option requires an argument", argv[optind - 1]);
    if (opt == '?') {
      char s[3] = {'-', (char)optopt, '\0'};
      return usage_error("invalid option", optopt != 0 ? s : argv[optind - 1]);
    }
    if (apply(o, opt, optarg) != 0) return -EINVAL;
  }
  if (argc - optind < 2) {
    fprintf(stderr, PROG ": missing operand\nTry '" PROG
                         " --help' for more information.\n");
    return -EINVAL;
  }
  if (duration_parse(argv[optind], &o->duration) != 0)
    return usage_error("invalid time interval", argv[optind]);
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

/* Whether the tool forwards @signo, as GNU timeout's cleanup() does: INT,
 * QUIT, HUP, TERM and the timeout signal, if it can be caught (GNU's own
 * SIGCHLD handler wins over that one's). */
static bool forwarded(int signo, const timeout_options *o) {
  return signo == SIGINT || signo == SIGQUIT || signo == SIGHUP ||
         signo == SIGTERM ||
         (signo == o->signal && signo != SIGKILL && signo != SIGSTOP &&
          signo != SIGCHLD);
}

/* Routes the forwarded signals to the main loop (sigfwd). */
static int catch_forwarded(const timeout_options *o) {
  int sigs[NSIG];
  size_t n = 0;
  for (int sig = 1; sig < NSIG; sig++)
    if (forwarded(sig, o)) sigs[n++] = sig;
  return sigfwd_catch(sigs, n);
}

static int run(const timeout_options *o) {
  /* If the tool dies, the command gets the timeout signal and nothing else
   * is done, as GNU timeout does since coreutils 9.10 (PR_SET_PDEATHSIG in
   * the child; nothing watches the group). */
  supervise_config cfg = {.argv = o->argv,
                          .prog = PROG,
                          .foreground = o->foreground,
                          .stop_signal = o->signal,
                          .grace = o->kill_after,
                          .kill_after_forward = o->kill_after,
                          .verbose = o->verbose,
                          .death_signal = o->signal};
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
    fprintf(stderr, PROG ": cannot start: %s\n", cx_strerror(rc));
    cx_op_unref(op);
    return EXIT_TOOL_ERROR;
  }
  progress_state_init(&st, NULL);
  rc = supervise(op, &cfg, &st, &res);
  if (res.exec_failed)
    fprintf(stderr, PROG ": failed to run command '%s': %s\n", o->argv[0],
            strerror(res.error));
  else if (rc != 0)
    fprintf(stderr, PROG ": %s\n", strerror(-rc));
  cx_op_exit(op, res.cancelled ? -ECANCELED : rc);
  cx_op_unref(op);
  return exit_status(o, &res);
}

int timeout_main(int argc, char **argv) {
  timeout_options o;
  int rc = parse(argc, argv, &o);
  if (rc == 1) return 0;
  if (rc == 2) {
    printf("cancelable timeout %s\n", cx_version_string());
    return 0;
  }
  if (rc != 0) return EXIT_TOOL_ERROR;
  return run(&o);
}
