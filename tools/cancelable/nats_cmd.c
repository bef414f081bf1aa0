/* tools/cancelable/nats_cmd.c - `cancelable cancel` and `cancelable ps`:
 * cancel and list the ops of every node attached to NATS (see bus.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#include "bus.h"
#include "duration.h"
#include "gnu_compat.h"
#include "ps_serve.h"
#include "serve.h"
#include "tool.h"

#ifdef CX_TOOL_HAVE_NATS
#include <cancelable/nats.h>

#include "cxu_json.h"
#endif

/* What both subcommands take. */
typedef struct nats_args {
  const char *url;
  const char *id, *pattern, *parent, *message;
  int status; /* --status: a cx_status, or -1 */
  double wait;
  bool json;
  bool serve, serve_cancel; /* ps --serve, --serve-cancel */
  serve_address serve_addr;
} nats_args;

static void cancel_usage(FILE *f) {
  fputs(
      "Usage: cancelable cancel --nats=URL [OPTION]... (ID | --name=PATTERN "
      "| --parent=ID | --status=STATUS)\n"
      "Cancel, on every process attached to NATS at URL (cancelable run\n"
      "--nats, or programs using libcancelable-nats), the live operations\n"
      "with id ID, whose name matches the shell PATTERN, whose parent\n"
      "(local or remote) is ID, or whose status is STATUS; print how many\n"
      "each node cancelled.  The request is also stored for the bucket's\n"
      "time to live: processes disconnected now and operations that start\n"
      "later are cancelled too.\n"
      "\n"
      "      --nats=URL         the NATS servers (comma-separated URLs)\n"
      "      --name=PATTERN     by name (fnmatch(3) pattern)\n"
      "      --parent=ID        by parent id\n"
      "      --status=STATUS    by status: running, pending or shielded\n"
      "      --message=TEXT     put TEXT in the cancel message\n"
      "      --wait=DURATION    collect answers for DURATION (default 1s)\n"
      "  -h, --help             this help\n"
      "\n"
      "Output: one line per node that answered, NODE TAB COUNT, then\n"
      "  total TAB N.\n"
      "Exit status: 0 at least one operation was cancelled; 1 none was;\n"
      "  125 bad usage, or no connection to NATS within 5 s.\n",
      f);
}

static void ps_usage(FILE *f) {
  fputs(
      "Usage: cancelable ps --nats=URL [--json | --serve[=ADDR] "
      "[--serve-cancel]]\n"
      "                     [--wait=DURATION]\n"
      "List the live operations of every process attached to NATS at URL,\n"
      "or serve them on one dashboard.\n"
      "\n"
      "      --nats=URL         the NATS servers (comma-separated URLs)\n"
      "      --json             one JSON object: "
      "{\"nodes\":N,\"ops\":[{\"node\",\n"
      "                         \"id\",\"name\",\"status\",\"parent_id\",\n"
      "                         \"remote_parent_id\",\"elapsed\"},...]}\n"
      "      --serve[=ADDR]     serve the HTTP dashboard of every node's\n"
      "                         operations (with a node column) on ADDR\n"
      "                         (PORT, HOST, HOST:PORT; default 127.0.0.1\n"
      "                         and a free port), print its URL and serve\n"
      "                         until SIGINT, SIGTERM or SIGHUP\n"
      "      --serve-cancel     --serve, and the page may cancel operations\n"
      "                         of any node (as cancelable cancel)\n"
      "      --wait=DURATION    collect answers for DURATION (default 1s;\n"
      "                         with --serve, for each refresh and cancel)\n"
      "  -h, --help             this help\n"
      "\n"
      "Output: NODE TAB ID TAB STATUS TAB ELAPSED TAB NAME per operation,\n"
      "  after a header line.\n"
      "Exit status: 0 (with --serve: after a signal); 125 bad usage, no\n"
      "  connection to NATS within 5 s, or the server could not start.\n",
      f);
}

enum {
  OPT_NATS = 256,
  OPT_NAME,
  OPT_PARENT,
  OPT_STATUS,
  OPT_MESSAGE,
  OPT_WAIT,
  OPT_JSON,
  OPT_SERVE,
  OPT_SERVE_CANCEL
};

static const struct option options[] = {
    {"nats", required_argument, NULL, OPT_NATS},
    {"name", required_argument, NULL, OPT_NAME},
    {"parent", required_argument, NULL, OPT_PARENT},
    {"status", required_argument, NULL, OPT_STATUS},
    {"message", required_argument, NULL, OPT_MESSAGE},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"serve", optional_argument, NULL, OPT_SERVE},
    {"serve-cancel", no_argument, NULL, OPT_SERVE_CANCEL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int usage_error(const char *prog, const char *what) {
  fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", prog, what,
          prog);
  return -EINVAL;
}

/* A status an op may have while it is live (a finished op is in no
 * registry's live list). */
static int parse_status(const char *prog, const char *arg, int *out) {
  static const cx_status live[] = {CX_STATUS_PENDING, CX_STATUS_RUNNING,
                                   CX_STATUS_SHIELDED};
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (strcmp(arg, cx_status_name(live[i])) == 0) {
      *out = (int)live[i];
      return 0;
    }
  return usage_error(prog, "--status must be running, pending or shielded");
}

static int apply(const char *prog, int opt, nats_args *a) {
  switch (opt) {
    case OPT_NATS:
      a->url = optarg;
      return 0;
    case OPT_NAME:
      a->pattern = optarg;
      return 0;
    case OPT_PARENT:
      a->parent = optarg;
      return 0;
    case OPT_MESSAGE:
      a->message = optarg;
      return 0;
    case OPT_STATUS:
      return parse_status(prog, optarg, &a->status);
    case OPT_SERVE_CANCEL:
      a->serve_cancel = true;
      /* fall through */
    case OPT_SERVE:
      a->serve = true;
      if (opt == OPT_SERVE && serve_parse_address(optarg, &a->serve_addr) != 0)
        return usage_error(prog, "bad --serve address (PORT, HOST, HOST:PORT)");
      return 0;
    case OPT_JSON:
      a->json = true;
      return 0;
    case OPT_WAIT:
      if (duration_parse(optarg, &a->wait) != 0 || !(a->wait > 0) ||
          a->wait > 60)
        return usage_error(prog,
                           "--wait must be a duration over 0 and up "
                           "to 60s");
      return 0;
    default:
      return usage_error(prog, "unknown option or missing argument");
  }
}

/* Parses the options; 1 after --help. */
static int parse(const char *prog, int argc, char **argv, nats_args *a,
                 void (*help)(FILE *)) {
  int opt;
  memset(a, 0, sizeof(*a));
  a->wait = 1.0;
  a->status = -1;
  serve_parse_address(NULL, &a->serve_addr);
  optind = 0;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
    if (opt == 'h') {
      help(stdout);
      return 1;
    }
    int rc = apply(prog, opt, a);
    if (rc != 0) return rc;
  }
  if (a->url == NULL) return usage_error(prog, "--nats=URL is required");
  if (optind < argc) a->id = argv[optind++];
  if (optind < argc) return usage_error(prog, "too many arguments");
  return 0;
}

#ifdef CX_TOOL_HAVE_NATS

static cx_nats *connect_to(const char *prog, const char *url) {
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  cx_nats *n = NULL;
  o.servers = url;
  o.reconnect_wait = 0.2;
  int rc = cx_nats_attach(&o, &n);
  if (rc == 0 && cx_nats_wait_ready(n, 5.0) != 0) rc = -ETIMEDOUT;
  if (rc != 0) {
    fprintf(stderr, "%s: cannot connect to NATS at '%s': %s\n", prog, url,
            cx_strerror(rc));
    cx_nats_detach(n);
    return NULL;
  }
  return n;
}

static int do_cancel(const nats_args *a) {
  const char *prog = "cancelable cancel";
  cx_nats *n = connect_to(prog, a->url);
  if (n == NULL) return EXIT_TOOL_ERROR;
  cx_op_filter f = CX_OP_FILTER_INIT;
  f.name_pattern = a->pattern;
  f.parent_id = a->parent;
  f.status = a->status;
  cx_nats_answer ans;
  long total = cx_nats_cancel(n, a->id, a->id != NULL ? NULL : &f, a->message,
                              a->wait, &ans);
  if (total < 0) {
    fprintf(stderr, "%s: %s\n", prog, cx_strerror((int)total));
    cx_nats_detach(n);
    return EXIT_TOOL_ERROR;
  }
  for (size_t i = 0; i < ans.count; i++)
    if (strcmp(ans.nodes[i].node, cx_nats_node(n)) != 0)
      printf("%s\t%ld\n", ans.nodes[i].node, ans.nodes[i].cancelled);
  printf("total\t%ld\n", total);
  cx_nats_answer_free(&ans);
  cx_nats_detach(n);
  return total > 0 ? 0 : 1;
}

void ps_put_op_json(cxu_json *j, const cx_nats_op_info *o) {
  cxu_json_object_begin(j);
  cxu_json_key(j, "node");
  cxu_json_string(j, o->node);
  cxu_json_key(j, "id");
  cxu_json_string(j, o->id);
  cxu_json_key(j, "name");
  cxu_json_string(j, o->name);
  cxu_json_key(j, "status");
  cxu_json_string(j, cx_status_name(o->status));
  cxu_json_key(j, "parent_id");
  cxu_json_string(j, o->parent_id);
  cxu_json_key(j, "remote_parent_id");
  cxu_json_string(j, o->remote_parent_id);
  cxu_json_key(j, "elapsed");
  cxu_json_double(j, o->elapsed);
  cxu_json_object_end(j);
}

static int print_json(const cx_nats_op_list *l, size_t nodes) {
  cxu_json j;
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, "nodes");
  cxu_json_int(&j, (int64_t)nodes);
  cxu_json_key(&j, "ops");
  cxu_json_array_begin(&j);
  for (size_t i = 0; i < l->count; i++) ps_put_op_json(&j, &l->ops[i]);
  cxu_json_array_end(&j);
  cxu_json_object_end(&j);
  int rc = cxu_json_error(&j);
  if (rc == 0) printf("%s\n", j.buf);
  cxu_json_free(&j);
  return rc;
}

static int do_ps(const nats_args *a) {
  const char *prog = "cancelable ps";
  cx_nats *n = connect_to(prog, a->url);
  if (n == NULL) return EXIT_TOOL_ERROR;
  if (a->serve) {
    int status = ps_serve(n, a->wait, &a->serve_addr, a->serve_cancel);
    cx_nats_detach(n);
    return status;
  }
  cx_nats_op_list l;
  int rc = cx_nats_list(n, a->wait, &l);
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", prog, cx_strerror(rc));
    cx_nats_detach(n);
    return EXIT_TOOL_ERROR;
  }
  size_t nodes = l.nodes > 0 ? l.nodes - 1 : 0; /* not this one */
  if (a->json) {
    rc = print_json(&l, nodes);
  } else {
    printf("NODE\tID\tSTATUS\tELAPSED\tNAME\n");
    for (size_t i = 0; i < l.count; i++)
      printf("%s\t%s\t%s\t%.3f\t%s\n", l.ops[i].node, l.ops[i].id,
             cx_status_name(l.ops[i].status), l.ops[i].elapsed,
             l.ops[i].name != NULL ? l.ops[i].name : "");
  }
  cx_nats_op_list_free(&l);
  cx_nats_detach(n);
  return rc == 0 ? 0 : EXIT_TOOL_ERROR;
}

#else

static int no_nats(const char *prog) {
  bus *b = NULL;
  (void)bus_attach(prog, "", &b);
  return EXIT_TOOL_ERROR;
}

static int do_cancel(const nats_args *a) {
  (void)a;
  return no_nats("cancelable cancel");
}

static int do_ps(const nats_args *a) {
  (void)a;
  return no_nats("cancelable ps");
}

#endif

int cancel_main(int argc, char **argv) {
  const char *prog = "cancelable cancel";
  nats_args a;
  int rc = parse(prog, argc, argv, &a, cancel_usage);
  if (rc == 1) return gnu_close_std(prog) ? 0 : EXIT_TOOL_ERROR;
  if (rc != 0) return EXIT_TOOL_ERROR;
  int given = (a.id != NULL) + (a.pattern != NULL) + (a.parent != NULL) +
              (a.status >= 0);
  if (given != 1 || a.json || a.serve) {
    usage_error(prog,
                "give exactly one of ID, --name=PATTERN, --parent=ID, "
                "--status=STATUS");
    return EXIT_TOOL_ERROR;
  }
  return do_cancel(&a);
}

int ps_main(int argc, char **argv) {
  const char *prog = "cancelable ps";
  nats_args a;
  int rc = parse(prog, argc, argv, &a, ps_usage);
  if (rc == 1) return gnu_close_std(prog) ? 0 : EXIT_TOOL_ERROR;
  if (rc != 0) return EXIT_TOOL_ERROR;
  if (a.id != NULL || a.pattern != NULL || a.parent != NULL || a.status >= 0 ||
      a.message != NULL || (a.json && a.serve)) {
    usage_error(prog,
                "ps takes only --nats, --wait, and --json or --serve "
                "(--serve-cancel)");
    return EXIT_TOOL_ERROR;
  }
  return do_ps(&a);
}
