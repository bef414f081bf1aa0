/* adapters/nats/tests/nats_peer.c - another process for the NATS tests.
 *
 *   nats_peer op URL NODE NAME TIMEOUT RECONNECT_WAIT
 *     attaches, waits until connected (at most 20 s), enters an op NAME
 * (TIMEOUT seconds, 0: none; a child of the context in $CANCELABLE_CONTEXT when
 * set), prints "ready ID", waits for its cancel (at most 60 s) and prints
 *     "cancelled REASON ELAPSED NODE|MESSAGE" (NODE: its
 *     cancelled_by_node, or -), or "alive" when it was not cancelled.
 *   nats_peer cancel URL NODE (id|pattern|parent) VALUE WAIT
 *     prints "node NAME COUNT" per answer and "total N". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cancelable.h>
#include <cancelable/nats.h>

static cx_nats *attach(const char *url, const char *node, double wait) {
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  o.servers = url;
  o.node = node;
  o.reconnect_wait = wait;
  cx_nats *n = NULL;
  int err = cx_nats_attach(&o, &n);
  if (err != 0) {
    fprintf(stderr, "attach: %s\n", cx_strerror(err));
    exit(2);
  }
  return n;
}

static void report(cx_op *op) {
  cx_meta *m = cx_op_metadata(op);
  const char *by = "-";
  if (m != NULL) (void)cx_meta_get_string(m, "cancelled_by_node", &by);
  printf("cancelled %s %.3f %s %.3f %s|%s\n",
         cx_reason_name(cx_op_cancel_reason(op)), cx_op_elapsed(op),
         cx_op_name(op), cx_token_cancel_time(cx_op_token(op)), by,
         cx_op_cancel_message(op));
  cx_meta_free(m);
}

/* With NATS_PEER_SPAWN=NODE: starts `nats_peer op URL NODE NAME-child 0
 * WAIT` as the child of @op (its context in $CANCELABLE_CONTEXT), on the
 * same stdout. */
static pid_t spawn_child(cx_nats *n, cx_op *op, char **argv) {
  const char *spawn = getenv("NATS_PEER_SPAWN");
  char *context = NULL, name[256], node[128];
  if (spawn == NULL || cx_nats_context(n, op, &context) != 0) return -1;
  snprintf(node, sizeof(node), "%s", spawn);
  snprintf(name, sizeof(name), "%s-child", argv[4]);
  char *args[] = {argv[0], "op", argv[2], node, name, "0", argv[6], NULL};
  /* Set before fork(): the child only execs (this process is done with
   * both variables). */
  setenv(CX_NATS_CONTEXT_ENV, context, 1);
  unsetenv("NATS_PEER_SPAWN");
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], args);
    _exit(127);
  }
  free(context);
  return pid;
}

static int run_op(char **argv) {
  cx_nats *n = attach(argv[2], argv[3], atof(argv[6]));
  (void)cx_nats_wait_ready(n, 20); /* stored cancels applied first */
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = argv[4];
  o.timeout = atof(argv[5]);
  o.register_op = true;
  cx_op *op = NULL;
  const char *context = getenv(CX_NATS_CONTEXT_ENV);
  int err = context != NULL ? cx_nats_op_create(n, context, &o, &op)
                            : cx_op_create(&op, &o);
  if (err == 0) err = cx_op_enter(op);
  if (err != 0) {
    fprintf(stderr, "op: %s\n", cx_strerror(err));
    return 2;
  }
  printf("ready %s\n", cx_op_id(op));
  fflush(stdout);
  pid_t child = spawn_child(n, op, argv);
  if (cx_token_wait(cx_op_token(op), 60) == 0)
    report(op);
  else
    printf("alive\n");
  fflush(stdout);
  cx_op_exit(op, cx_op_is_cancelled(op) ? -ECANCELED : 0);
  cx_op_unref(op);
  cx_nats_detach(n);
  if (child > 0) waitpid(child, NULL, 0);
  return 0;
}

static int run_cancel(char **argv) {
  cx_nats *n = attach(argv[2], argv[3], 0.1);
  if (cx_nats_wait_ready(n, 20) != 0) {
    fprintf(stderr, "not connected\n");
    return 2;
  }
  cx_op_filter f = CX_OP_FILTER_INIT;
  const char *id = NULL;
  if (strcmp(argv[4], "id") == 0)
    id = argv[5];
  else if (strcmp(argv[4], "pattern") == 0)
    f.name_pattern = argv[5];
  else
    f.parent_id = argv[5];
  cx_nats_answer a;
  long total =
      cx_nats_cancel(n, id, id != NULL ? NULL : &f, "test", atof(argv[6]), &a);
  for (size_t i = 0; total >= 0 && i < a.count; i++)
    printf("node %s %ld\n", a.nodes[i].node, a.nodes[i].cancelled);
  printf("total %ld\n", total);
  cx_nats_answer_free(&a);
  cx_nats_detach(n);
  return total >= 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 7 && strcmp(argv[1], "op") == 0) return run_op(argv);
  if (argc == 7 && strcmp(argv[1], "cancel") == 0) return run_cancel(argv);
  fprintf(stderr, "usage: see nats_peer.c\n");
  return 2;
}
