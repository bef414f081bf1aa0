/* tools/cancelable/cli.c - parses the options of `cancelable run` into a
 * run_options; every error names the offending token. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#include "duration.h"
#include "signames.h"

#define PROG "cancelable run"

enum {
  OPT_MAX_MEMORY = 256,
  OPT_MAX_CPU,
  OPT_MAX_DISK,
  OPT_FOREGROUND,
  OPT_PRESERVE,
  OPT_ID,
  OPT_REPORT_FILE,
  OPT_SERVE,
  OPT_SERVE_CANCEL,
  OPT_NATS,
  OPT_TIMEOUT_MESSAGE,
  OPT_CGROUP,
  OPT_SUSTAIN
};

static const struct option long_options[] = {
    {"timeout", required_argument, NULL, 't'},
    {"timeout-message", required_argument, NULL, OPT_TIMEOUT_MESSAGE},
    {"on-signal", required_argument, NULL, 'S'},
    {"until-file", required_argument, NULL, 'f'},
    {"until", required_argument, NULL, 'u'},
    {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
    {"max-cpu", required_argument, NULL, OPT_MAX_CPU},
    {"max-disk", required_argument, NULL, OPT_MAX_DISK},
    {"when", required_argument, NULL, 'w'},
    {"interval", required_argument, NULL, 'i'},
    {"sustain", required_argument, NULL, OPT_SUSTAIN},
    {"stop-signal", required_argument, NULL, 's'},
    {"grace", required_argument, NULL, 'g'},
    {"kill-after", required_argument, NULL, 'k'},
    {"foreground", no_argument, NULL, OPT_FOREGROUND},
    {"cgroup", optional_argument, NULL, OPT_CGROUP},
    {"preserve-status", no_argument, NULL, OPT_PRESERVE},
    {"name", required_argument, NULL, 'n'},
    {"id", required_argument, NULL, OPT_ID},
    {"report", required_argument, NULL, 'r'},
    {"report-file", required_argument, NULL, OPT_REPORT_FILE},
    {"progress", no_argument, NULL, 'p'},
    {"serve", optional_argument, NULL, OPT_SERVE},
    {"serve-cancel", no_argument, NULL, OPT_SERVE_CANCEL},
    {"nats", required_argument, NULL, OPT_NATS},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

void cli_run_usage(FILE *f) {
  fputs(
      "Usage: cancelable run [OPTION]... [--] COMMAND [ARG]...\n"
      "Run COMMAND as a cancellable operation; when a source triggers, stop\n"
      "its process group (stop signal, grace period, then SIGKILL).\n"
      "\n"
      "Sources (any number; the first to trigger cancels):\n"
      "  -t, --timeout=DURATION    cancel DURATION after the start (0, inf: "
      "never);\n"
      "                            SIGALRM to the tool is a timeout too\n"
      "      --timeout-message=TEXT\n"
      "                            the timeout's message in the report\n"
      "                            instead of 'timed out after N s'\n"
      "  -S, --on-signal=SIGS      signals that cancel (comma list, default\n"
      "                            INT,TERM; 'none': forward them instead);\n"
      "                            COMMAND gets INT, TERM, QUIT, HUP\n"
      "                            itself, not the stop signal\n"
      "  -f, --until-file=PATH     cancel when PATH exists\n"
      "  -u, --until=SHELL-CMD     cancel when 'sh -c SHELL-CMD' exits 0\n"
      "      --max-memory=PCT      cancel when system memory use reaches PCT%\n"
      "      --max-cpu=PCT         cancel when system CPU use reaches PCT%\n"
      "      --max-disk=PCT[,PATH] cancel when PATH's file system (default /)\n"
      "                            is PCT% full\n"
      "  -w, --when=EXPR           cancel when the source expression "
      "triggers\n"
      "  -i, --interval=DURATION   between condition checks, the first at\n"
      "                            the start (default 0.1s)\n"
      "      --sustain=DURATION    memory, cpu and disk fire only once over\n"
      "                            their threshold for DURATION (default 0)\n"
      "\n"
      "Stopping:\n"
      "  -s, --stop-signal=SIG     sent to the group on cancel (default "
      "TERM;\n"
      "                            0: none, only KILL after the grace)\n"
      "  -g, --grace=DURATION      then SIGKILL after DURATION\n"
      "  -k, --kill-after=DURATION (the same; default 10s, 'inf': never)\n"
      "      --foreground          no process group of the tool's own:\n"
      "                            signal COMMAND only\n"
      "                            (it may read the terminal; its children\n"
      "                            are not stopped)\n",
      f);
  fputs(
      "      --cgroup[=auto]       run COMMAND in a cgroup v2 of its own,\n"
      "                            killed whole at the end and removed\n"
      "                            (as systemd-run --scope); without a\n"
      "                            writable cgroup v2: exit 125, or with\n"
      "                            'auto' the process group and subreaper\n"
      "\n"
      "Output:\n"
      "  -n, --name=NAME           the operation's name (default: the\n"
      "                            base name of COMMAND)\n"
      "      --id=ID               the operation's id (default a UUID)\n"
      "  -r, --report=json         write the final context as JSON to "
      "stderr\n"
      "      --report-file=FILE    ... or to FILE (- for stdout; implies\n"
      "                            --report=json)\n"
      "  -p, --progress            live status line on a terminal (stderr;\n"
      "                            elsewhere a plain line a second)\n"
      "      --preserve-status     exit with COMMAND's status even when\n"
      "                            cancelled\n"
      "  -v, --verbose             say which signals are sent\n"
      "      --serve[=ADDR]        serve the operation over HTTP (dashboard,\n"
      "                            JSON API, events, metrics) and print its\n"
      "                            URL; ADDR: PORT, HOST or HOST:PORT\n"
      "                            (default 127.0.0.1 and a free port)\n"
      "      --serve-cancel        --serve, and the page may cancel the run\n"
      "                            (with the token in the printed URL; exit\n"
      "                            status 120)\n"
      "      --nats=URL            on NATS at URL: cancellable from anywhere\n"
      "                            (cancelable cancel, 120); COMMAND gets\n"
      "                            its context in $CANCELABLE_CONTEXT\n"
      "  -h, --help                this help;  -V, --version  the version\n"
      "\n"
      "DURATION: a number with an optional suffix s (default), m, h, d;\n"
      "  a positive one is at least 1 ns (1e-10000 fires at once).\n"
      "SIG: a name (TERM, SIGTERM) or a number.\n"
      "EXPR: sources combined with AND, OR and parentheses, e.g.\n"
      "  \"(timeout:300 OR signal:TERM) OR (after:60 AND count:1000)\"\n"
      "  sources: timeout:DUR after:DUR signal[:SIGS] file:PATH cond:CMD\n"
      "  until:CMD memory:PCT cpu:PCT disk:PCT[,PATH] count:N progress:PCT;\n"
      "  quote arguments with blanks: cond:'test -f done'.\n"
      "\n"
      "Progress: COMMAND may write lines \"[PCT%] [CUR[/TOTAL]] [MESSAGE]\"\n"
      "to the descriptor in $CANCELABLE_PROGRESS_FD.\n"
      "\n"
      "At a shell prompt COMMAND shares the tool's job: it reads the\n"
      "terminal, and Ctrl-Z stops both (the time keeps running).  When\n"
      "COMMAND ends, what it left running (its group, daemons that left\n"
      "it) is stopped too.\n",
      f);
  fputs(
      "\n"
      "Exit status:\n"
      "  COMMAND's own when it ends by itself (128+N if killed by signal "
      "N)\n"
      "  124  cancelled by a timeout          120  cancelled otherwise\n"
      "  123  cancelled by a signal           125  the tool failed / bad "
      "usage\n"
      "  122  cancelled by a condition        126  COMMAND not executable\n"
      "  121  cancelled by a resource limit   127  COMMAND not found\n"
      "  --preserve-status: COMMAND's status in every case.\n"
      "  When COMMAND dies of a signal (not that of another source's\n"
      "  cancel), the tool dies of it too: one Ctrl-C stops a shell loop.\n"
      "  A report that cannot be written is an error message on stderr;\n"
      "  it does not change the status.\n",
      f);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Prints an error and the pointer to --help. */
static int usage_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, PROG ": ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
  return -EINVAL;
}

void cli_print_expr_error(const char *prog, const char *option,
                          const char *text, const expr_error *err) {
  fprintf(stderr, "%s: %s: column %zu: %s (at '%s')\n  %s\n  %*s^\n", prog,
          option, err->column, err->message, err->token, text,
          (int)(err->column > 0 ? err->column - 1 : 0), "");
}

/* Adds a source given by an option (--until-file=PATH ...). */
static int add_leaf(run_options *o, leaf_kind kind, const char *arg,
                    const char *option) {
  expr_leaf *l = realloc(o->leaves, (o->nleaves + 1) * sizeof *l);
  expr_error err;
  int rc;
  if (l == NULL) return -ENOMEM;
  o->leaves = l;
  rc = expr_leaf_parse(kind, arg, &l[o->nleaves], &err);
  if (rc == -EINVAL) return usage_error("%s: %s", option, err.message);
  if (rc == 0) o->nleaves++;
  return rc;
}

static int add_when(run_options *o, const char *text) {
  expr_node **w = realloc(o->whens, (o->nwhens + 1) * sizeof *w);
  expr_error err;
  int rc;
  if (w == NULL) return -ENOMEM;
  o->whens = w;
  rc = expr_parse(text, &w[o->nwhens], &err);
  if (rc == -EINVAL) {
    cli_print_expr_error(PROG, "--when", text, &err);
    return -EINVAL;
  }
  if (rc == 0) o->nwhens++;
  return rc;
}

static int parse_duration(const char *arg, const char *option, double *out) {
  if (duration_parse(arg, out) != 0)
    return usage_error("invalid duration '%s' for %s", arg, option);
  return 0;
}

/* One option; @opt is getopt's value. */
static int apply(run_options *o, int opt, const char *arg) {
  int signo;
  switch (opt) {
    case 't':
      return parse_duration(arg, "--timeout", &o->timeout);
    case 'S':
      o->signals_given = true;
      if (strcmp(arg, "none") == 0) {
        o->no_signals = true;
        return 0;
      }
      return add_leaf(o, LEAF_SIGNAL, arg, "--on-signal");
    case 'f':
      return add_leaf(o, LEAF_FILE, arg, "--until-file");
    case 'u':
      return add_leaf(o, LEAF_COND, arg, "--until");
    case OPT_MAX_MEMORY:
      return add_leaf(o, LEAF_MEMORY, arg, "--max-memory");
    case OPT_MAX_CPU:
      return add_leaf(o, LEAF_CPU, arg, "--max-cpu");
    case OPT_MAX_DISK:
      return add_leaf(o, LEAF_DISK, arg, "--max-disk");
    case 'w':
      return add_when(o, arg);
    case 'i':
      if (parse_duration(arg, "--interval", &o->interval) != 0) return -EINVAL;
      if (!(o->interval > 0) || isinf(o->interval))
        return usage_error("--interval must be finite and > 0, not '%s'", arg);
      return 0;
    case OPT_SUSTAIN:
      if (parse_duration(arg, "--sustain", &o->sustain) != 0) return -EINVAL;
      if (isinf(o->sustain))
        return usage_error("--sustain must be finite, not '%s'", arg);
      return 0;
    case 's':
      signo = signame_parse(arg);
      if (signo < 0) return usage_error("invalid signal '%s'", arg);
      o->stop_signal = signo;
      return 0;
    case 'g':
    case 'k':
      return parse_duration(arg, "--grace", &o->grace);
    case OPT_FOREGROUND:
      o->foreground = true;
      return 0;
    case OPT_CGROUP:
      if (arg == NULL) {
        o->cgroup = RUN_CGROUP_YES;
        return 0;
      }
      if (strcmp(arg, "auto") != 0)
        return usage_error("invalid value '%s' for --cgroup (only 'auto')",
                           arg);
      o->cgroup = RUN_CGROUP_AUTO;
      return 0;
    case OPT_PRESERVE:
      o->preserve_status = true;
      return 0;
    case 'n':
      o->name = arg;
      return 0;
    case OPT_ID:
      o->id = arg;
      return 0;
    case 'r':
      if (strcmp(arg, "json") != 0)
        return usage_error("unknown report format '%s' (only json)", arg);
      o->report_json = true;
      return 0;
    case OPT_REPORT_FILE:
      o->report_file = arg;
      o->report_json = true;
      return 0;
    case 'p':
      o->progress = true;
      return 0;
    case OPT_SERVE:
      o->serve = true;
      if (serve_parse_address(arg, &o->serve_addr) != 0)
        return usage_error(
            "invalid address '%s' for --serve (PORT, HOST or HOST:PORT, "
            "HOST numeric and not a wildcard such as 0.0.0.0: the "
            "machine's own address)",
            arg);
      return 0;
    case OPT_TIMEOUT_MESSAGE:
      o->timeout_message = arg;
      return 0;
    case OPT_NATS:
      if (*arg == '\0') return usage_error("--nats needs a URL");
      o->nats = arg;
      return 0;
    case OPT_SERVE_CANCEL:
      o->serve = true;
      o->serve_cancel = true;
      return 0;
    case 'v':
      o->verbose = true;
      return 0;
    default:
      return -EINVAL;
  }
}

/* Reports getopt's complaint about argv[optind - 1]. */
static int bad_option(int opt, char **argv) {
  const char *token = argv[optind - 1];
  if (opt == ':') return usage_error("option '%s' needs an argument", token);
  if (optopt != 0 && token[1] != '-') {
    char s[3] = {'-', (char)optopt, '\0'};
    return usage_error("unknown option '%s'", s);
  }
  return usage_error("unknown option '%s'", token);
}

int cli_parse_run(int argc, char **argv, run_options *o) {
  int opt, rc;
  memset(o, 0, sizeof *o);
  o->interval = CX_CONDITION_INTERVAL_DEFAULT;
  o->stop_signal = SIGTERM;
  o->grace = 10.0;
  serve_parse_address(NULL, &o->serve_addr);
  optind = 0; /* GNU: reinitialise */
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "+:t:S:f:u:w:i:s:g:k:n:r:pvhV",
                            long_options, NULL)) != -1) {
    if (opt == 'h') {
      cli_run_usage(stdout);
      return 1;
    }
    if (opt == 'V') return 2;
    if (opt == '?' || opt == ':') return bad_option(opt, argv);
    rc = apply(o, opt, optarg);
    if (rc != 0) return rc;
  }
  if (optind >= argc) return usage_error("missing COMMAND");
  if (o->timeout_message != NULL && !(o->timeout > 0 && !isinf(o->timeout)))
    return usage_error("--timeout-message needs a finite --timeout");
  o->argv = argv + optind;
  return 0;
}

void cli_free_run(run_options *o) {
  for (size_t i = 0; i < o->nleaves; i++) free(o->leaves[i].text);
  free(o->leaves);
  for (size_t i = 0; i < o->nwhens; i++) expr_free(o->whens[i]);
  free(o->whens);
  memset(o, 0, sizeof *o);
}
