/* examples/loops/uv_echo_server.c - a libuv TCP echo server on 127.0.0.1
 * whose connections are operations (libcancelable-uv).
 *
 * The server is an op cancelled by SIGTERM or SIGINT (cx_op_with_signal());
 * every connection is a child op of it, so the one cancel reaches them all
 * (graceful shutdown).  A connection idle for IDLE seconds is cancelled
 * with reason TIMEOUT by a loop timer restarted on every read.  One watch
 * per op (cx_uv_watch_op()) closes what the cancel concerns, on the loop's
 * thread; all the watches share the hub's one descriptor.
 *
 * Usage: uv_echo_server [PORT [IDLE]]   (PORT 0: any free port; IDLE in
 * seconds, default 1).  Prints "listening on 127.0.0.1:PORT", one line per
 * closed connection, and "shutdown: clean" before exiting 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <cancelable/uv.h>

typedef struct server {
  uv_tcp_t listener;
  cx_uv_hub *hub;
  cx_op *op;          /* the server's: cancelled by SIGTERM/SIGINT */
  cx_uv_watch *watch; /* on op */
  uint64_t idle_ms;
  int open;   /* connections not yet closed */
  int served; /* connections accepted */
} server;

typedef struct conn {
  uv_tcp_t tcp; /* first: the handle's address is the conn's */
  uv_timer_t idle;
  server *srv;
  cx_op *op;          /* child of the server's op */
  cx_uv_watch *watch; /* on op */
  int handles;        /* handles not yet closed (tcp, idle) */
} conn;

typedef struct write_req {
  uv_write_t req;
  uv_buf_t buf;
} write_req;

static void conn_handle_closed(uv_handle_t *handle) {
  conn *c = handle->data;
  if (--c->handles > 0) return;
  c->srv->open--;
  cx_op_unref(c->op);
  free(c);
}

/* The connection's op was cancelled (idle, or the server shutting down). */
static void conn_cancelled(cx_uv_watch *w, cx_token *token, void *data) {
  conn *c = data;
  printf("connection closed: %s (%s)\n", cx_token_cancel_message(token),
         cx_reason_name(cx_token_cancel_reason(token)));
  fflush(stdout);
  cx_uv_watch_stop(w);
  c->watch = NULL;
  uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void on_idle(uv_timer_t *timer) {
  conn *c = timer->data;
  char msg[64];
  snprintf(msg, sizeof msg, "idle for %.3g s", (double)c->srv->idle_ms / 1e3);
  cx_op_cancel(c->op, CX_REASON_TIMEOUT, msg);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(hint);
  buf->len = buf->base != NULL ? hint : 0;
}

static void on_written(uv_write_t *req, int status) {
  write_req *wr = (write_req *)req;
  (void)status;
  free(wr->buf.base);
  free(wr);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  conn *c = stream->data;
  write_req *wr;
  if (n <= 0) {
    free(buf->base);
    if (n < 0) cx_op_cancel(c->op, CX_REASON_MANUAL, "peer closed");
    return;
  }
  uv_timer_again(&c->idle); /* activity: the idle timeout starts over */
  if ((wr = malloc(sizeof *wr)) == NULL) {
    free(buf->base);
    return;
  }
  wr->buf = uv_buf_init(buf->base, (unsigned)n);
  if (uv_write(&wr->req, stream, &wr->buf, 1, on_written) != 0)
    on_written(&wr->req, -1);
}

static void on_connection(uv_stream_t *listener, int status) {
  server *srv = listener->data;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  conn *c;
  if (status < 0 || (c = calloc(1, sizeof *c)) == NULL) return;
  c->srv = srv;
  c->tcp.data = c->idle.data = c;
  uv_tcp_init(listener->loop, &c->tcp);
  uv_timer_init(listener->loop, &c->idle);
  c->handles = 2;
  srv->open++;
  o.name = "connection";
  o.parent = srv->op;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
      cx_op_create(&c->op, &o) != 0 ||
      cx_uv_watch_op(srv->hub, c->op, conn_cancelled, c, &c->watch) != 0) {
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    return;
  }
  srv->served++;
  uv_timer_start(&c->idle, on_idle, srv->idle_ms, srv->idle_ms);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* SIGTERM: stop accepting; the cascade cancels every connection's op. */
static void server_cancelled(cx_uv_watch *w, cx_token *token, void *data) {
  server *srv = data;
  printf("shutting down: %s\n", cx_token_cancel_message(token));
  fflush(stdout);
  cx_uv_watch_stop(w);
  srv->watch = NULL;
  uv_close((uv_handle_t *)&srv->listener, NULL);
}

static int listen_on(server *srv, uv_loop_t *loop, int port) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound, rc;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(loop, &srv->listener);
  srv->listener.data = srv;
  if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection)) != 0)
    return rc;
  uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
  printf("listening on 127.0.0.1:%d\n",
         ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  static const int stop_signals[] = {SIGTERM, SIGINT};
  server srv = {0};
  uv_loop_t loop;
  int port = argc > 1 ? atoi(argv[1]) : 0, rc;
  srv.idle_ms = (uint64_t)((argc > 2 ? atof(argv[2]) : 1.0) * 1000);
  if (uv_loop_init(&loop) != 0 || cx_uv_hub_new(&loop, &srv.hub) != 0 ||
      cx_op_with_signal(&srv.op, NULL, stop_signals, 2, "echo-server") != 0 ||
      cx_op_enter(srv.op) != 0) {
    fprintf(stderr, "example: FAIL: setup\n");
    return 1;
  }
  if ((rc = listen_on(&srv, &loop, port)) != 0 ||
      (rc = cx_uv_watch_op(srv.hub, srv.op, server_cancelled, &srv,
                           &srv.watch)) != 0) {
    fprintf(stderr, "example: FAIL: %s\n", uv_strerror(rc));
    return 1;
  }
  uv_run(&loop, UV_RUN_DEFAULT); /* until the listener and every conn close */
  cx_uv_watch_stop(srv.watch);   /* NULL once it fired */
  cx_uv_hub_close(srv.hub);
  uv_run(&loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&loop);
  cx_op_exit(srv.op, cx_op_is_cancelled(srv.op) ? -ECANCELED : 0);
  printf("shutdown: %s (%s), %d connection(s) served\n",
         srv.open == 0 && rc == 0 ? "clean" : "unclean",
         cx_status_name(cx_op_status(srv.op)), srv.served);
  cx_op_unref(srv.op);
  return srv.open == 0 && rc == 0 ? 0 : 1;
}
