/* bench/http.c - benchmarks of the event stream and the HTTP adapter
 * (libcancelable-http), issue 15 §8.  Usage: bench_http SCENARIO, one of
 * H1..H4; built and run by bench/http.sh.  Same output contract as the
 * peers' benchmarks (SCENARIOS.md §1: `ours KEY VALUE UNIT` on stdout,
 * '#' remarks on stderr) and the same harness (§2.3 idle helper thread,
 * §2.4 micro-benchmark rules for H1).
 *
 *   H1  progress report cost on the reporting thread, ns/op:
 *       H1.progress_nosub   cx_report_progress(op, "step", NULL), nobody
 *                           subscribed to the event stream (X1's body);
 *       H1.progress_sub     the same with one subscriber
 *                           (cx_events_subscribe(), a callback counting);
 *       H1.progress_server  the same with an HTTP server running (its
 *                           feed is the subscriber: every event becomes
 *                           an SSE frame), no client.
 *       (A remark says how many events the subscriber got: the queue
 *       coalesces an op's progress when the subscriber lags.)
 *   H2  events per second delivered to 1 SSE client of /api/events while
 *       a producer thread enters and exits ops (2 events each, nothing to
 *       coalesce) as fast as it can: H2.sse_1 events/s (frames with an
 *       id: that reached the client, counted over 2 s after 0.5 s);
 *       H2.feed_1 events/s: the events the server's feed took in (from
 *       /metrics; the others were dropped by its subscription's queue,
 *       which is full, and told as gaps).
 *   H3  the same with 100 clients: H3.sse_100 events/s per client (mean),
 *       H3.sse_100_min (the slowest), H3.sse_100_total (all clients),
 *       H3.feed_100.
 *   H4  10 000 live registered ops: GET /api/ops, each on a connection of
 *       its own as the server closes after every response (connect, send,
 *       response read whole; 5 warm-up, 100 timed requests):
 *       H4.ops_p50 and H4.ops_p99 ms, H4.ops_size KiB; process memory
 *       H4.to_json_p50 ms: cx_registry_to_json() alone (the registry's
 *       share, on the benchmark thread, 20 calls after 5);
 *       H4.rss_base MiB (server started, no op), H4.rss_10k MiB (with the
 *       ops), H4.rss_per_op bytes (the difference per op, the benchmark's
 *       own 8-byte pointer included), H4.rss_served MiB (after the
 *       requests) and H4.rss_peak MiB (VmHWM).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cancelable.h>
#include <cancelable/http.h>

#include "harness.h"

#define CHECK(expr)                                                  \
  do {                                                               \
    if (!(expr)) bench_fail("%s:%d: %s", __FILE__, __LINE__, #expr); \
  } while (0)

static cx_http_server *start_server(void) {
  cx_http_options o = CX_HTTP_OPTIONS_INIT;
  cx_http_server *s;
  o.max_clients = 128;
  CHECK(cx_http_start(&o, &s) == 0);
  return s;
}

/* ---- H1: progress reports */

static void progress_batch(uint64_t n, void *ctx) {
  cx_op *op = ctx;
  for (uint64_t i = 0; i < n; i++) cx_report_progress(op, "step", NULL);
}

static void count_event(const cx_event *e, void *user_data) {
  (void)e;
  atomic_fetch_add_explicit((atomic_ulong *)user_data, 1, memory_order_relaxed);
}

static void h1(void) {
  cx_op *op;
  cx_subscription *sub;
  cx_http_server *s;
  atomic_ulong delivered = 0;
  double plain, subscribed, served;
  int64_t t0;
  CHECK(cx_op_create(&op, NULL) == 0);
  CHECK(cx_op_enter(op) == 0);
  plain = bench_micro("H1.nosub", progress_batch, op);
  CHECK(cx_events_subscribe(&sub, count_event, &delivered, NULL, 0) == 0);
  /* Reports made while subscribed: the batches the harness times, counted
   * from the clock (the harness does not say how many it ran). */
  t0 = bench_now_ns();
  subscribed = bench_micro("H1.sub", progress_batch, op);
  CHECK(cx_events_unsubscribe(sub) == 0);
  bench_remark("H1: the subscriber got %lu events in %.1f s",
               (unsigned long)atomic_load(&delivered),
               (double)(bench_now_ns() - t0) / 1e9);
  s = start_server();
  served = bench_micro("H1.server", progress_batch, op);
  cx_http_stop(s);
  bench_print("H1.progress_nosub", plain, "ns/op");
  bench_print("H1.progress_sub", subscribed, "ns/op");
  bench_print("H1.progress_server", served, "ns/op");
  CHECK(cx_op_exit(op, 0) == 0);
  cx_op_unref(op);
}

/* ---- raw HTTP clients */

static int connect_to(const cx_http_server *s) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  a.sin_port = htons((uint16_t)cx_http_port(s));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
  return fd;
}

static void send_get(int fd, const cx_http_server *s, const char *path) {
  char req[256];
  int n =
      snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
               path, cx_http_port(s));
  CHECK(send(fd, req, (size_t)n, MSG_NOSIGNAL) == n);
}

/* Reads a response head into @buf (NUL-ended); returns the number of
 * bytes read past it (left at the start of @buf). */
static size_t read_head(int fd, char *buf, size_t size, size_t *head_len) {
  size_t len = 0;
  char *end;
  buf[0] = '\0';
  while ((end = strstr(buf, "\r\n\r\n")) == NULL) {
    ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
    CHECK(n > 0);
    len += (size_t)n;
    buf[len] = '\0';
    CHECK(len < size - 1);
  }
  *head_len = (size_t)(end + 4 - buf);
  CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
  memmove(buf, end + 4, len - *head_len);
  return len - *head_len;
}

/* One GET of @path on @fd, the response read whole (its head says how
 * long the body is); returns the body's size, and the body (valid until
 * the next call) in *@body unless NULL. */
static size_t http_get_body(int fd, const cx_http_server *s, const char *path,
                            const char **body) {
  static char *buf;
  static size_t cap;
  size_t len = 0, head = 0, length = 0;
  send_get(fd, s, path);
  for (;;) {
    ssize_t n;
    if (cap - len < 65536) {
      cap = cap * 2 + 65536;
      buf = realloc(buf, cap + 1);
      CHECK(buf != NULL);
    }
    n = recv(fd, buf + len, cap - len, 0);
    CHECK(n > 0);
    len += (size_t)n;
    buf[len] = '\0';
    if (head == 0) {
      char *end = strstr(buf, "\r\n\r\n"), *cl;
      if (end == NULL) continue;
      head = (size_t)(end + 4 - buf);
      CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
      cl = strcasestr(buf, "\r\nContent-Length: ");
      CHECK(cl != NULL && cl < end);
      length = strtoul(cl + 18, NULL, 10);
    }
    if (len >= head + length) {
      CHECK(len == head + length); /* nothing more was asked for */
      if (body != NULL) *body = buf + head;
      return length;
    }
  }
}

/* The EXITED events the server's feed took in (from /metrics): the ops
 * of H2 and H3 complete without a reason. */
static uint64_t feed_exits(const cx_http_server *s) {
  static const char key[] =
      "cancelable_op_exits_total{status=\"completed\",reason=\"none\"} ";
  const char *body, *at;
  int fd = connect_to(s);
  http_get_body(fd, s, "/metrics", &body);
  close(fd);
  at = strstr(body, key);
  return at != NULL ? strtoull(at + sizeof key - 1, NULL, 10) : 0;
}

/* ---- H2, H3: events per second to SSE clients */

enum { MAX_CLIENTS = 100 };

typedef struct crowd {
  int n;
  int fds[MAX_CLIENTS];
  _Atomic uint64_t frames[MAX_CLIENTS]; /* event frames received */
  atomic_bool stop;
} crowd;

/* Counts the lines that start with "id: " (event frames; gap, reset and
 * heartbeat frames have none). */
static void *read_crowd(void *p) {
  crowd *cw = p;
  struct pollfd pf[MAX_CLIENTS];
  int match[MAX_CLIENTS];
  static char buf[1 << 16];
  for (int i = 0; i < cw->n; i++) {
    pf[i] = (struct pollfd){.fd = cw->fds[i], .events = POLLIN};
    match[i] = 0;
  }
  while (!atomic_load(&cw->stop)) {
    if (poll(pf, (nfds_t)cw->n, 50) <= 0) continue;
    for (int i = 0; i < cw->n; i++) {
      ssize_t got;
      uint64_t frames = 0;
      if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      got = recv(pf[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (got <= 0) {
        if (got == 0 || (errno != EAGAIN && errno != EINTR)) pf[i].fd = -1;
        continue;
      }
      for (ssize_t k = 0; k < got; k++) {
        if (buf[k] == '\n') {
          match[i] = 0;
        } else if (match[i] >= 0) {
          if (buf[k] == "id: "[match[i]]) {
            if (++match[i] == 4) {
              frames++;
              match[i] = -1;
            }
          } else {
            match[i] = -1;
          }
        }
      }
      atomic_fetch_add_explicit(&cw->frames[i], frames, memory_order_relaxed);
    }
  }
  return NULL;
}

static atomic_bool producing;
static atomic_ulong produced;

static void *produce(void *p) {
  (void)p;
  while (atomic_load_explicit(&producing, memory_order_relaxed)) {
    cx_op *op;
    CHECK(cx_op_create(&op, NULL) == 0);
    CHECK(cx_op_enter(op) == 0);
    CHECK(cx_op_exit(op, 0) == 0);
    cx_op_unref(op);
    atomic_fetch_add_explicit(&produced, 2, memory_order_relaxed);
  }
  return NULL;
}

static void sse(int clients) {
  static crowd cw;
  cx_http_server *s = start_server();
  pthread_t reader, producer;
  uint64_t before[MAX_CLIENTS], total = 0, least = UINT64_MAX, fed;
  unsigned long made;
  char buf[4096];
  int64_t t0, t1;
  memset(&cw, 0, sizeof cw);
  cw.n = clients;
  for (int i = 0; i < clients; i++) {
    size_t head;
    cw.fds[i] = connect_to(s);
    send_get(cw.fds[i], s, "/api/events");
    read_head(cw.fds[i], buf, sizeof buf, &head);
  }
  CHECK(pthread_create(&reader, NULL, read_crowd, &cw) == 0);
  atomic_store(&producing, true);
  CHECK(pthread_create(&producer, NULL, produce, NULL) == 0);
  usleep(500 * 1000); /* warm-up */
  for (int i = 0; i < clients; i++) before[i] = atomic_load(&cw.frames[i]);
  made = atomic_load(&produced);
  fed = feed_exits(s);
  t0 = bench_now_ns();
  usleep(2000 * 1000);
  t1 = bench_now_ns();
  made = atomic_load(&produced) - made;
  fed = 2 * (feed_exits(s) - fed); /* an entered event per exit */
  for (int i = 0; i < clients; i++) {
    uint64_t got = atomic_load(&cw.frames[i]) - before[i];
    total += got;
    if (got < least) least = got;
  }
  atomic_store(&producing, false);
  CHECK(pthread_join(producer, NULL) == 0);
  cx_http_stop(s);
  atomic_store(&cw.stop, true);
  CHECK(pthread_join(reader, NULL) == 0);
  for (int i = 0; i < clients; i++) close(cw.fds[i]);
  double secs = (double)(t1 - t0) / 1e9;
  bench_remark("%d client(s): the producer made %.0f events/s", clients,
               (double)made / secs);
  if (clients == 1) {
    bench_print("H2.sse_1", (double)total / secs, "events/s");
    bench_print("H2.feed_1", (double)fed / secs, "events/s");
  } else {
    bench_print("H3.feed_100", (double)fed / secs, "events/s");
    bench_print("H3.sse_100", (double)total / clients / secs, "events/s");
    bench_print("H3.sse_100_min", (double)least / secs, "events/s");
    bench_print("H3.sse_100_total", (double)total / secs, "events/s");
  }
}

static void h2(void) { sse(1); }
static void h3(void) { sse(MAX_CLIENTS); }

/* ---- H4: /api/ops with 10 000 live ops */

enum { LIVE = 10000, WARM = 5, TIMED = 100 };

static void h4(void) {
  cx_http_server *s = start_server();
  cx_op **ops = malloc(LIVE * sizeof *ops);
  double lat[TIMED];
  long base_kib, ops_kib, kib;
  size_t size = 0;
  CHECK(ops != NULL);
  cx_registry_clear();
  base_kib = bench_status_kib("VmRSS");
  for (int i = 0; i < LIVE; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    char name[32];
    snprintf(name, sizeof name, "job-%d", i);
    o.name = name;
    o.register_op = true;
    CHECK(cx_op_create(&ops[i], &o) == 0);
    CHECK(cx_op_enter(ops[i]) == 0);
  }
  ops_kib = bench_status_kib("VmRSS");
  for (int i = 0; i < WARM + TIMED; i++) {
    int64_t t0 = bench_now_ns();
    int fd = connect_to(s);
    size = http_get_body(fd, s, "/api/ops", NULL);
    close(fd);
    if (i >= WARM) lat[i - WARM] = (double)(bench_now_ns() - t0);
  }
  kib = bench_status_kib("VmRSS");
  /* The registry's own share: cx_registry_to_json() in this thread. */
  double json_ns[WARM + TIMED / 5];
  for (int i = 0; i < WARM + TIMED / 5; i++) {
    int64_t t0 = bench_now_ns();
    char *json = NULL;
    CHECK(cx_registry_to_json(NULL, false, &json) == 0);
    json_ns[i] = (double)(bench_now_ns() - t0);
    free(json);
  }
  bench_print("H4.to_json_p50", bench_median(json_ns + WARM, TIMED / 5) / 1e6,
              "ms");
  bench_sort(lat, TIMED);
  bench_print("H4.ops_p50", bench_percentile(lat, TIMED, 50) / 1e6, "ms");
  bench_print("H4.ops_p99", bench_percentile(lat, TIMED, 99) / 1e6, "ms");
  bench_print("H4.ops_size", (double)size / 1024, "KiB");
  bench_print("H4.rss_base", (double)base_kib / 1024, "MiB");
  bench_print("H4.rss_10k", (double)ops_kib / 1024, "MiB");
  bench_print("H4.rss_per_op", (double)(ops_kib - base_kib) * 1024 / LIVE,
              "bytes");
  bench_print("H4.rss_served", (double)kib / 1024, "MiB");
  bench_print("H4.rss_peak", (double)bench_status_kib("VmHWM") / 1024, "MiB");
  for (int i = LIVE - 1; i >= 0; i--) {
    CHECK(cx_op_exit(ops[i], 0) == 0);
    cx_op_unref(ops[i]);
  }
  free(ops);
  cx_http_stop(s);
}

static const bench_scenario scenarios[] = {
    {"H1", h1}, {"H2", h2}, {"H3", h3}, {"H4", h4}, {NULL, NULL}};

static int no_probe(int depth) {
  (void)depth;
  fprintf(stderr, "bench_http: no S5probe here\n");
  return 64;
}

int main(int argc, char **argv) {
  return bench_main("ours", argc, argv, scenarios, no_probe);
}
