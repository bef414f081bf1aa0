// bench/cxx.cpp - the benchmark scenarios of SCENARIOS.md for C++20
// std::stop_token / std::stop_source / std::stop_callback (peer `cxx`).
// Usage: bench_cxx SCENARIO (S1..S10, S9_1cpu, S5probe DEPTH).
//
// Mapping (SCENARIOS.md §3):
//   token / destroy        std::stop_source (heap shared state) / destructor
//   is cancelled?          tok.stop_requested()
//   cancel                 src.request_stop()
//   child of P             { stop_source s; stop_callback<Forward>
//                            link(P.get_token(), Forward{&s}); }
//   destroy child          destructors: link deregisters, then s is freed
//   register / unregister  std::stop_callback constructor / destructor
//   timeout scope          a stop_source plus an entry in our own timer: one
//                          thread, an indexed binary min-heap,
//                          condition_variable::wait_until; a fired entry
//                          calls request_stop() outside the lock
//   blocking wait          std::condition_variable_any::wait(lock, token,
//                          pred)
//
// The harness (namespace harness) mirrors bench/harness.c function by
// function: keep the two in step.
#include <semaphore.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stop_token>
#include <string_view>
#include <thread>
#include <vector>

#define BENCH_BARRIER() __asm__ volatile("" ::: "memory")
#define BENCH_ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

// ---------------------------------------------------------------- harness
namespace harness {

static const char *peer_name = "?";
static int reps = 5;
static int64_t rep_ns = 200 * INT64_C(1000000);
static int verbose;

static void init(const char *peer) {
  peer_name = peer;
  // §2.3: a second thread, so that glibc and libstdc++ leave their
  // single-threaded shortcuts.
  std::thread([] {
    for (;;) pause();
  }).detach();
  if (const char *e = getenv("PEERS_REPS"); e && atoi(e) > 0) reps = atoi(e);
  if (const char *e = getenv("PEERS_REP_MS"); e && atoi(e) > 0)
    rep_ns = int64_t(atoi(e)) * 1000000;
  if (const char *e = getenv("PEERS_VERBOSE"); e && !strcmp(e, "1"))
    verbose = 1;
}

static int64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

static double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double percentile(const std::vector<double> &sorted, double p) {
  size_t n = sorted.size();
  size_t rank = size_t(std::ceil(p / 100.0 * double(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  return sorted[rank - 1];
}

using batch_fn = void (*)(uint64_t n, void *ctx);
using step_fn = void (*)(void *ctx);

static double micro(const char *key, batch_fn fn, void *ctx) {
  uint64_t n = 1, batch;
  int64_t t;
  std::vector<double> v(reps);
  for (;;) {
    int64_t t0 = now_ns();
    fn(n, ctx);
    t = now_ns() - t0;
    if (t >= 1000000) break;
    n *= t < 10000 ? 100 : 10;
  }
  batch = uint64_t(double(n) * 10e6 / double(t));
  if (batch < 1) batch = 1;
  fn(batch, ctx);  // warm-up
  for (int r = 0; r < reps; r++) {
    int64_t sum = 0;
    uint64_t ops = 0;
    while (sum < rep_ns) {
      int64_t t0 = now_ns();
      fn(batch, ctx);
      sum += now_ns() - t0;
      ops += batch;
    }
    v[r] = double(sum) / double(ops);
    if (verbose)
      fprintf(stderr, "# %s %s rep %d: %.3f ns/op (batch %llu, %llu ops)\n",
              peer_name, key, r, v[r], (unsigned long long)batch,
              (unsigned long long)ops);
  }
  return median(v);
}

static double rounds(const char *key, step_fn setup, step_fn timed,
                     step_fn teardown, void *ctx) {
  std::vector<double> v(reps);
  setup(ctx);  // warm-up round
  timed(ctx);
  teardown(ctx);
  for (int r = 0; r < reps; r++) {
    int64_t sum = 0;
    long count = 0;
    while (sum < rep_ns) {
      setup(ctx);
      int64_t t0 = now_ns();
      timed(ctx);
      sum += now_ns() - t0;
      teardown(ctx);
      count++;
    }
    v[r] = double(sum) / double(count);
    if (verbose)
      fprintf(stderr, "# %s %s rep %d: %.1f ns/round (%ld rounds)\n",
              peer_name, key, r, v[r], count);
  }
  return median(v);
}

static void print_na(const char *key, const char *unit, const char *why) {
  printf("%s %s NA %s\n", peer_name, key, unit);
  fflush(stdout);
  fprintf(stderr, "# %s %s NA: %s\n", peer_name, key, why);
}

static void print(const char *key, double value, const char *unit) {
  if (!std::isfinite(value)) {
    print_na(key, unit, "not a finite number");
    return;
  }
  double a = std::fabs(value);
  int decimals = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0;
  printf("%s %s %.*f %s\n", peer_name, key, decimals, value, unit);
  fflush(stdout);
}

__attribute__((format(printf, 1, 2))) static void remark(const char *fmt,
                                                         ...) {
  va_list ap;
  fprintf(stderr, "# %s: ", peer_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

[[noreturn]] __attribute__((format(printf, 1, 2))) static void fail(
    const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "# %s: ASSERTION FAILED: ", peer_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

static long status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t len = strlen(field);
  long kib = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, field, len) && line[len] == ':') {
      kib = strtol(line + len + 1, nullptr, 10);
      break;
    }
  }
  fclose(f);
  return kib;
}

constexpr int S10_SCOPES = 1000, S10_ROUNDS = 5;

static void s10_permutation(int *perm, int n) {
  uint64_t x = UINT64_C(0x5eed5eed5eed5eed);
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i >= 1; i--) {
    x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    int j = int((x >> 33) % uint64_t(i + 1));
    std::swap(perm[i], perm[j]);
  }
}

static int s10_timeout_ms(int i) { return 10 + i % 41; }

// p50, p99, max, min of one round's latenesses (ns).
static void s10_round_stats(std::vector<double> late, double out[4]) {
  std::sort(late.begin(), late.end());
  out[0] = percentile(late, 50);
  out[1] = percentile(late, 99);
  out[2] = late.back();
  out[3] = late.front();
}

static void s10_report(double stats[][4], int rounds) {
  static const char *keys[3] = {"S10.p50", "S10.p99", "S10.max"};
  for (int k = 0; k < 3; k++) {
    std::vector<double> col;
    for (int r = 0; r < rounds; r++) col.push_back(stats[r][k] / 1e6);
    print(keys[k], median(col), "ms");
  }
  double mn = INFINITY;
  for (int r = 0; r < rounds; r++) mn = std::min(mn, stats[r][3]);
  print("S10.min", mn / 1e6, "ms");
  if (verbose)
    for (int r = 0; r < rounds; r++)
      fprintf(stderr,
              "# %s S10 round %d: p50 %.4f p99 %.4f max %.4f min %.4f ms\n",
              peer_name, r, stats[r][0] / 1e6, stats[r][1] / 1e6,
              stats[r][2] / 1e6, stats[r][3] / 1e6);
}

constexpr int S9_WARMUP = 100, S9_SAMPLES = 2000;

static void s9_settle(bool one_cpu) {
  if (one_cpu) {
    int64_t end = now_ns() + 100000;
    while (now_ns() < end) {
    }
  } else {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, nullptr);
  }
}

static void s9_report(std::vector<double> lat, bool one_cpu) {
  std::sort(lat.begin(), lat.end());
  print(one_cpu ? "S9.p50_1cpu" : "S9.p50", percentile(lat, 50) / 1e3, "us");
  print(one_cpu ? "S9.p99_1cpu" : "S9.p99", percentile(lat, 99) / 1e3, "us");
  if (verbose)
    fprintf(stderr, "# %s S9%s: min %.2f p90 %.2f max %.2f us\n", peer_name,
            one_cpu ? "_1cpu" : "", lat.front() / 1e3,
            percentile(lat, 90) / 1e3, lat.back() / 1e3);
}

}  // namespace harness

namespace h = harness;

#define CHECK(expr) \
  ((expr) ? (void)0 : h::fail("%s:%d: %s", __FILE__, __LINE__, #expr))

// ---------------------------------------------------------------- peer
// A child's link: forwards the parent's stop request to the child source.
struct Forward {
  std::stop_source *child;
  void operator()() const noexcept { child->request_stop(); }
};

// A child: its own source and the link to the parent.  Declaration order
// makes destruction deregister the link first, then free the source.
struct Child {
  std::stop_source s;
  std::stop_callback<Forward> link;
  explicit Child(const std::stop_token &parent) : s(), link(parent, Forward{&s}) {}
};

struct Incr {
  long *counter;
  void operator()() const noexcept { ++*counter; }
};

// ---- the timer for timeout scopes (S8, S10)
using Clock = std::chrono::steady_clock;

struct TimerEntry {
  Clock::time_point deadline{};
  size_t index = SIZE_MAX;  // heap slot; SIZE_MAX when not in the heap
  std::stop_source *source = nullptr;
};

class TimerService {
 public:
  TimerService() : thread_([this] { run(); }) {}
  ~TimerService() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  void arm(TimerEntry *e, Clock::time_point deadline) {
    std::lock_guard lk(mu_);
    e->deadline = deadline;
    e->index = heap_.size();
    heap_.push_back(e);
    sift_up(e->index);
    if (e->index == 0) wake_.notify_one();
  }
  // Removes @e; if it is firing right now, waits until its request_stop()
  // has returned, so the entry and its source may be freed afterwards.
  void disarm(TimerEntry *e) {
    std::unique_lock lk(mu_);
    if (e->index != SIZE_MAX) {
      remove(e);
      return;
    }
    while (firing_ == e) fired_.wait(lk);
  }

 private:
  void set(size_t i, TimerEntry *e) {
    heap_[i] = e;
    e->index = i;
  }
  void sift_up(size_t i) {
    TimerEntry *e = heap_[i];
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (heap_[parent]->deadline <= e->deadline) break;
      set(i, heap_[parent]);
      i = parent;
    }
    set(i, e);
  }
  void sift_down(size_t i) {
    TimerEntry *e = heap_[i];
    size_t n = heap_.size();
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1]->deadline < heap_[child]->deadline)
        child++;
      if (e->deadline <= heap_[child]->deadline) break;
      set(i, heap_[child]);
      i = child;
    }
    set(i, e);
  }
  void remove(TimerEntry *e) {
    size_t i = e->index;
    TimerEntry *last = heap_.back();
    heap_.pop_back();
    e->index = SIZE_MAX;
    if (last == e) return;
    set(i, last);
    if (i > 0 && heap_[(i - 1) / 2]->deadline > last->deadline)
      sift_up(i);
    else
      sift_down(i);
  }
  void run() {
    std::unique_lock lk(mu_);
    while (!stop_) {
      if (heap_.empty()) {
        wake_.wait(lk);
        continue;
      }
      TimerEntry *top = heap_[0];
      if (top->deadline <= Clock::now()) {
        remove(top);
        firing_ = top;
        lk.unlock();
        top->source->request_stop();  // outside the lock
        lk.lock();
        firing_ = nullptr;
        fired_.notify_all();
        continue;
      }
      wake_.wait_until(lk, top->deadline);
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, fired_;
  std::vector<TimerEntry *> heap_;
  TimerEntry *firing_ = nullptr;
  bool stop_ = false;
  std::thread thread_;
};

static TimerService *timer_service() {
  static TimerService *svc = new TimerService;  // never destroyed
  return svc;
}

// A timeout scope: a token (stop_source) and its timer entry.
struct TimeoutScope {
  std::stop_source source;
  TimerEntry entry;
  TimeoutScope() { entry.source = &source; }
  explicit TimeoutScope(Clock::duration d) : TimeoutScope() { arm(d); }
  void arm(Clock::duration d) {
    timer_service()->arm(&entry, Clock::now() + d);
  }
  ~TimeoutScope() { timer_service()->disarm(&entry); }
  TimeoutScope(const TimeoutScope &) = delete;
  TimeoutScope &operator=(const TimeoutScope &) = delete;
};

// ---- S1 check_not_cancelled
static void s1_batch(uint64_t n, void *ctx) {
  const std::stop_token &tok = *static_cast<std::stop_token *>(ctx);
  uint64_t hits = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (tok.stop_requested()) hits++;
    BENCH_BARRIER();
  }
  if (hits != 0) h::fail("S1: hits == %llu", (unsigned long long)hits);
}

static void s1() {
  std::stop_source src;
  std::stop_token tok = src.get_token();
  h::print("S1", h::micro("S1", s1_batch, &tok), "ns/op");
}

// ---- S2 token_create_destroy
static void s2_batch(uint64_t n, void *) {
  for (uint64_t i = 0; i < n; i++) {
    std::stop_source p;
    BENCH_ESCAPE(&p);
  }
}

static void s2() { h::print("S2", h::micro("S2", s2_batch, nullptr), "ns/op"); }

// ---- S3 child_create_destroy
static void s3_batch(uint64_t n, void *ctx) {
  const std::stop_token &parent = *static_cast<std::stop_token *>(ctx);
  for (uint64_t i = 0; i < n; i++) {
    std::stop_source s;
    std::stop_callback<Forward> link(parent, Forward{&s});
  }
}

static void s3() {
  std::stop_source parent;
  std::stop_token tok = parent.get_token();
  h::print("S3", h::micro("S3", s3_batch, &tok), "ns/op");
  CHECK(!parent.stop_requested());
}

// Children built in place in one array, in index order.
struct ChildArray {
  Child *kids = nullptr;
  int n = 0;
  void build(int count, const std::stop_token &parent) {
    kids = static_cast<Child *>(::operator new(sizeof(Child) * size_t(count)));
    for (n = 0; n < count; n++) new (&kids[n]) Child(parent);
  }
  void destroy() {
    for (int i = 0; i < n; i++) kids[i].~Child();
    ::operator delete(kids);
    kids = nullptr;
    n = 0;
  }
};

// ---- S4 cascade_cancel_wide
constexpr int S4_N = 100000;

struct S4 {
  std::optional<std::stop_source> parent;
  ChildArray kids;
};

static void s4_setup(void *p) {
  auto *c = static_cast<S4 *>(p);
  c->parent.emplace();
  c->kids.build(S4_N, c->parent->get_token());
}

static void s4_timed(void *p) {
  auto *c = static_cast<S4 *>(p);
  CHECK(c->parent->request_stop());
  for (int i = 0; i < S4_N; i++)
    if (!c->kids.kids[i].s.stop_requested()) h::fail("S4: child %d live", i);
}

static void s4_teardown(void *p) {
  auto *c = static_cast<S4 *>(p);
  c->kids.destroy();
  c->parent.reset();
}

static void s4() {
  S4 c;
  double ns = h::rounds("S4", s4_setup, s4_timed, s4_teardown, &c);
  h::print("S4.total", ns / 1e6, "ms");
  h::print("S4.per_child", ns / S4_N, "ns/child");
}

// ---- S5 cascade_cancel_deep
constexpr int S5_D = 10000;

// Descendant i (1..depth) is chain[i-1], a child of descendant i-1 (the
// root for i = 1).  Built in place, in order.
struct S5 {
  int depth;
  std::optional<std::stop_source> root;
  Child *chain = nullptr;
};

static void s5_setup(void *p) {
  auto *c = static_cast<S5 *>(p);
  c->root.emplace();
  c->chain =
      static_cast<Child *>(::operator new(sizeof(Child) * size_t(c->depth)));
  new (&c->chain[0]) Child(c->root->get_token());
  for (int i = 1; i < c->depth; i++)
    new (&c->chain[i]) Child(c->chain[i - 1].s.get_token());
}

static void s5_timed(void *p) {
  auto *c = static_cast<S5 *>(p);
  CHECK(c->root->request_stop());
  if (!c->chain[c->depth - 1].s.stop_requested()) h::fail("S5: leaf live");
}

static void s5_teardown(void *p) {
  auto *c = static_cast<S5 *>(p);
  for (int i = c->depth - 1; i >= 0; i--) c->chain[i].~Child();
  ::operator delete(c->chain);
  c->chain = nullptr;
  c->root.reset();
}

static uintptr_t leaf_local;

struct LeafProbe {
  void operator()() const noexcept {
    volatile char local = 0;
    leaf_local = reinterpret_cast<uintptr_t>(&local);
  }
};

__attribute__((noinline)) static void s5_stack_probe(S5 *c) {
  volatile char local = 0;
  s5_setup(c);
  {
    std::stop_callback<LeafProbe> probe(c->chain[c->depth - 1].s.get_token(),
                                        LeafProbe{});
    c->root->request_stop();
  }
  s5_teardown(c);
  long diff = long(reinterpret_cast<uintptr_t>(&local) - leaf_local);
  double per = double(diff) / c->depth;
  if (per < 1.0)
    h::print_na("S5.stack_per_level", "bytes",
                "propagation is not recursive on the caller's stack");
  else
    h::print("S5.stack_per_level", per, "bytes");
  h::remark("S5 stack: canceller local - leaf callback local = %ld bytes "
            "over %d levels", diff, c->depth);
}

static void s5() {
  S5 c{S5_D, {}, nullptr};
  double ns = h::rounds("S5", s5_setup, s5_timed, s5_teardown, &c);
  h::print("S5.total", ns / 1e6, "ms");
  h::print("S5.per_level", ns / S5_D, "ns/level");
  s5_stack_probe(&c);
}

static int s5probe(int depth) {
  S5 c{depth, {}, nullptr};
  s5_setup(&c);
  s5_timed(&c);
  s5_teardown(&c);
  h::remark("S5probe %d ok", depth);
  return 0;
}

// ---- S6 callback_register_unregister
struct S6 {
  std::stop_token tok;
  long counter = 0;
};

static void s6_batch(uint64_t n, void *ctx) {
  auto *c = static_cast<S6 *>(ctx);
  for (uint64_t i = 0; i < n; i++) {
    std::stop_callback<Incr> cb(c->tok, Incr{&c->counter});
  }
}

static void s6() {
  std::stop_source src;
  S6 c{src.get_token(), 0};
  h::print("S6", h::micro("S6", s6_batch, &c), "ns/op");
  if (c.counter != 0) h::fail("S6: counter == %ld", c.counter);
}

// ---- S7 cancel_with_callbacks
constexpr int S7_CALLBACKS = 1000;

struct S7 {
  std::optional<std::stop_source> src;
  std::optional<std::stop_callback<Incr>> cbs[S7_CALLBACKS];
  long counter = 0;
};

static void s7_setup(void *p) {
  auto *c = static_cast<S7 *>(p);
  c->src.emplace();
  c->counter = 0;
  std::stop_token tok = c->src->get_token();
  for (auto &cb : c->cbs) cb.emplace(tok, Incr{&c->counter});
}

static void s7_timed(void *p) {
  auto *c = static_cast<S7 *>(p);
  CHECK(c->src->request_stop());
}

static void s7_teardown(void *p) {
  auto *c = static_cast<S7 *>(p);
  if (c->counter != S7_CALLBACKS) h::fail("S7: counter == %ld", c->counter);
  for (auto &cb : c->cbs) cb.reset();
  c->src.reset();
}

static void s7() {
  static S7 c;
  double ns = h::rounds("S7", s7_setup, s7_timed, s7_teardown, &c);
  h::print("S7.total", ns / 1e3, "us");
  h::print("S7.per_callback", ns / S7_CALLBACKS, "ns/callback");
}

// ---- S8 timeout_scope_not_fired
constexpr int S8_BACKGROUND = 100000;

static void s8_batch(uint64_t n, void *) {
  for (uint64_t i = 0; i < n; i++) {
    TimeoutScope scope(std::chrono::seconds(60));
  }
}

static void s8() {
  long base = h::status_kib("VmRSS");
  timer_service();  // start the timer machinery
  // The background scopes live in one array (built in place, as a program
  // keeping many scopes alive would hold them).
  auto bg = std::make_unique<std::optional<TimeoutScope>[]>(S8_BACKGROUND);
  for (int i = 0; i < S8_BACKGROUND; i++)
    bg[i].emplace(std::chrono::seconds(60));
  h::print("S8.op", h::micro("S8", s8_batch, nullptr), "ns/op");
  long peak = h::status_kib("VmHWM");
  for (int i = 0; i < S8_BACKGROUND; i++)
    if (bg[i]->source.stop_requested()) h::fail("S8: scope %d fired", i);
  h::print("S8.peak_rss", peak / 1024.0, "MiB");
  h::print("S8.base_rss", base / 1024.0, "MiB");
  h::print("S8.bytes_per_timeout", (peak - base) * 1024.0 / S8_BACKGROUND,
           "bytes");
  bg.reset();
}

// ---- S9 wake_latency (the protocol of harness.c's bench_s9_run)
static struct {
  sem_t go, ready, done;
  std::stop_source *token;  // handed over under `go`
  int64_t t1;               // reported under `done`
} s9s;

static void s9_waiter() {
  std::mutex mu;
  std::condition_variable_any cv;
  for (;;) {
    sem_wait(&s9s.go);
    std::stop_source *src = s9s.token;
    if (!src) break;
    std::stop_token tok = src->get_token();
    sem_post(&s9s.ready);  // "about to block"
    {
      std::unique_lock lk(mu);
      cv.wait(lk, tok, [] { return false; });
    }
    s9s.t1 = h::now_ns();
    sem_post(&s9s.done);
  }
}

static void s9(bool one_cpu) {
  std::vector<double> lat;
  sem_init(&s9s.go, 0, 0);
  sem_init(&s9s.ready, 0, 0);
  sem_init(&s9s.done, 0, 0);
  std::thread waiter(s9_waiter);
  for (int i = 0; i < h::S9_WARMUP + h::S9_SAMPLES; i++) {
    auto *src = new std::stop_source;
    s9s.token = src;
    sem_post(&s9s.go);
    sem_wait(&s9s.ready);
    h::s9_settle(one_cpu);
    int64_t t0 = h::now_ns();
    src->request_stop();
    sem_wait(&s9s.done);
    if (i >= h::S9_WARMUP) lat.push_back(double(s9s.t1 - t0));
    delete src;
  }
  s9s.token = nullptr;
  sem_post(&s9s.go);
  waiter.join();
  h::s9_report(lat, one_cpu);
}

// ---- S10 timer_accuracy
static int64_t s10_fired[h::S10_SCOPES];
static std::atomic<int> s10_count;

struct Record {
  int i;
  void operator()() const noexcept {
    s10_fired[i] = h::now_ns();
    s10_count.fetch_add(1);
  }
};

static void s10() {
  int perm[h::S10_SCOPES];
  double stats[h::S10_ROUNDS][4];
  int rounds = std::min(h::reps, h::S10_ROUNDS);
  h::s10_permutation(perm, h::S10_SCOPES);
  timer_service();
  for (int r = 0; r < rounds; r++) {
    auto scopes = std::make_unique<std::optional<TimeoutScope>[]>(h::S10_SCOPES);
    auto cbs = std::make_unique<std::optional<std::stop_callback<Record>>[]>(
        h::S10_SCOPES);
    std::vector<double> deadline(h::S10_SCOPES), late(h::S10_SCOPES);
    int64_t give_up = h::now_ns() + 5 * INT64_C(1000000000);
    s10_count = 0;
    for (int k = 0; k < h::S10_SCOPES; k++) {
      int i = perm[k];
      scopes[i].emplace();
      cbs[i].emplace(scopes[i]->source.get_token(), Record{i});
      scopes[i]->arm(std::chrono::milliseconds(h::s10_timeout_ms(i)));
      // The deadline stored in the heap entry (its clock is CLOCK_MONOTONIC).
      deadline[i] = double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               scopes[i]->entry.deadline.time_since_epoch())
                               .count());
    }
    while (s10_count.load() < h::S10_SCOPES) {
      if (h::now_ns() > give_up) h::fail("S10: timers did not fire");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (int i = 0; i < h::S10_SCOPES; i++)
      late[i] = double(s10_fired[i]) - deadline[i];
    for (int i = 0; i < h::S10_SCOPES; i++) {
      cbs[i].reset();
      scopes[i].reset();
    }
    h::s10_round_stats(late, stats[r]);
  }
  h::s10_report(stats, rounds);
}

int main(int argc, char **argv) {
  std::string_view s = argc > 1 ? argv[1] : "";
  h::init("cxx");
  if (s == "S1") s1();
  else if (s == "S2") s2();
  else if (s == "S3") s3();
  else if (s == "S4") s4();
  else if (s == "S5") s5();
  else if (s == "S5probe" && argc > 2) return s5probe(atoi(argv[2]));
  else if (s == "S6") s6();
  else if (s == "S7") s7();
  else if (s == "S8") s8();
  else if (s == "S9") s9(false);
  else if (s == "S9_1cpu") s9(true);
  else if (s == "S10") s10();
  else {
    fprintf(stderr, "usage: %s S1..S10|S9_1cpu|S5probe DEPTH\n", argv[0]);
    return 64;
  }
  return 0;
}
