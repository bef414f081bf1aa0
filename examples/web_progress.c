/* examples/web_progress.c - the reference library's "Web UI progress"
 * pattern in C: a job over items reports its progress every 10 items, and a
 * browser watches it live on the dashboard of libcancelable-http (and may
 * cancel it when --allow-cancel is given).
 *
 *   web_progress [--items N] [--delay SECONDS] [--port PORT]
 *                [--allow-cancel] [--linger SECONDS]
 *
 * Prints the dashboard's URL (with the cancel token in its fragment when
 * cancelling is allowed), runs the job, prints how it ended, keeps serving
 * --linger seconds so that the page shows the end, and exits 0 when the
 * job completed, 1 when it was cancelled. */
#include <cancelable.h>
#include <cancelable/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
  long items;
  double delay, linger;
  unsigned port;
  bool allow_cancel;
} options;

static int parse(int argc, char **argv, options *o) {
  *o = (options){.items = 200, .delay = 0.05, .linger = 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--allow-cancel") == 0) {
      o->allow_cancel = true;
      continue;
    }
    if (v == NULL) return -1;
    if (strcmp(a, "--items") == 0)
      o->items = strtol(v, NULL, 10);
    else if (strcmp(a, "--delay") == 0)
      o->delay = strtod(v, NULL);
    else if (strcmp(a, "--linger") == 0)
      o->linger = strtod(v, NULL);
    else if (strcmp(a, "--port") == 0)
      o->port = (unsigned)strtoul(v, NULL, 10);
    else
      return -1;
    i++;
  }
  return o->items > 0 && o->delay >= 0 ? 0 : -1;
}

/* The work: one item per step, a progress report every 10 items. */
static int process_items(cx_op *op, const options *o) {
  for (long i = 1; i <= o->items; i++) {
    int rc = cx_sleep(op, o->delay); /* a cancellation point */
    if (rc != 0) return rc;
    if (i % 10 == 0 || i == o->items) {
      cx_meta *m = cx_meta_new();
      char msg[64];
      if (m == NULL) return -ENOMEM;
      cx_meta_set_int(m, CX_PROGRESS_CURRENT, i);
      cx_meta_set_int(m, CX_PROGRESS_TOTAL, o->items);
      snprintf(msg, sizeof msg, "processed %ld of %ld items", i, o->items);
      cx_report_progress(op, msg, m);
      cx_meta_free(m);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  cx_http_options ho = CX_HTTP_OPTIONS_INIT;
  cx_op_options oo = CX_OP_OPTIONS_INIT;
  cx_http_server *server;
  options o;
  cx_op *job;
  int rc;
  if (parse(argc, argv, &o) != 0) {
    fprintf(stderr,
            "usage: web_progress [--items N] [--delay SECONDS] [--port PORT]"
            " [--allow-cancel] [--linger SECONDS]\n");
    return 2;
  }
  ho.port = o.port;
  ho.allow_cancel = o.allow_cancel;
  rc = cx_http_start(&ho, &server);
  if (rc != 0) {
    fprintf(stderr, "web_progress: cannot serve: %s\n", cx_strerror(rc));
    return 2;
  }
  if (cx_http_token(server) != NULL)
    printf("dashboard: http://127.0.0.1:%u/#token=%s\n", cx_http_port(server),
           cx_http_token(server));
  else
    printf("dashboard: http://127.0.0.1:%u/\n", cx_http_port(server));
  fflush(stdout);

  oo.name = "web-job";
  oo.register_op = true;
  if ((rc = cx_op_create(&job, &oo)) != 0 || (rc = cx_op_enter(job)) != 0) {
    fprintf(stderr, "web_progress: %s\n", cx_strerror(rc));
    cx_http_stop(server);
    return 2;
  }
  rc = process_items(job, &o);
  cx_op_exit(job, rc);
  printf("job %s%s%s\n", cx_status_name(cx_op_status(job)),
         cx_op_is_cancelled(job) ? ": " : "",
         cx_op_is_cancelled(job) ? cx_op_cancel_message(job) : "");
  fflush(stdout);
  if (o.linger > 0) cx_sleep(NULL, o.linger);
  rc = cx_op_status(job) == CX_STATUS_COMPLETED ? 0 : 1;
  cx_op_unref(job);
  cx_http_stop(server);
  printf("example: ok\n");
  return rc;
}
