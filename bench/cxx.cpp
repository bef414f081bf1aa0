// bench/cxx.cpp - the benchmark scenarios of SCENARIOS.md for C++20
// std::stop_token / std::stop_source / std::stop_callback (peer `cxx`).
// Usage: bench_cxx SCENARIO (S1..S10, S9_1cpu, S5probe DEPTH).
// BENCH_SCALE=N sets the size of S4, S5, S7 and S8 (bench/plots.sh's sweep).
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
#include <thread>
#include <vector>

#include "harness.h"


// ---------------------------------------------------------------- harness
// The C harness shared with ours.c and glib.c (bench/harness.c, compiled
// with gcc and linked in), so that every peer obeys the same rules.

#define CHECK(expr) \
  ((expr) ? (void)0 : bench_fail("%s:%d: %s", __FILE__, __LINE__, #expr))

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
  if (hits != 0) bench_fail("S1: hits == %llu", (unsigned long long)hits);
}

static void s1() {
  std::stop_source src;
  std::stop_token tok = src.get_token();
  bench_print("S1", bench_micro("S1", s1_batch, &tok), "ns/op");
}

// ---- S2 token_create_destroy
static void s2_batch(uint64_t n, void *) {
  for (uint64_t i = 0; i < n; i++) {
    std::stop_source p;
    BENCH_ESCAPE(&p);
  }
}

static void s2() { bench_print("S2", bench_micro("S2", s2_batch, nullptr), "ns/op"); }

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
  bench_print("S3", bench_micro("S3", s3_batch, &tok), "ns/op");
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
  int n;  // S4_N unless BENCH_SCALE
  std::optional<std::stop_source> parent;
  ChildArray kids;
};

static void s4_setup(void *p) {
  auto *c = static_cast<S4 *>(p);
  c->parent.emplace();
  c->kids.build(c->n, c->parent->get_token());
}

static void s4_timed(void *p) {
  auto *c = static_cast<S4 *>(p);
  CHECK(c->parent->request_stop());
  for (int i = 0; i < c->n; i++)
    if (!c->kids.kids[i].s.stop_requested()) bench_fail("S4: child %d live", i);
}

static void s4_teardown(void *p) {
  auto *c = static_cast<S4 *>(p);
  c->kids.destroy();
  c->parent.reset();
}

static void s4() {
  S4 c;
  c.n = bench_scale(S4_N);
  double ns = bench_rounds("S4", s4_setup, s4_timed, s4_teardown, &c);
  bench_print("S4.total", ns / 1e6, "ms");
  bench_print("S4.per_child", ns / c.n, "ns/child");
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
  if (!c->chain[c->depth - 1].s.stop_requested()) bench_fail("S5: leaf live");
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
    bench_print_na("S5.stack_per_level", "bytes",
                "propagation is not recursive on the caller's stack");
  else
    bench_print("S5.stack_per_level", per, "bytes");
  bench_remark("S5 stack: canceller local - leaf callback local = %ld bytes "
            "over %d levels", diff, c->depth);
}

static void s5() {
  S5 c{bench_scale(S5_D), {}, nullptr};
  double ns = bench_rounds("S5", s5_setup, s5_timed, s5_teardown, &c);
  bench_print("S5.total", ns / 1e6, "ms");
  bench_print("S5.per_level", ns / c.depth, "ns/level");
  s5_stack_probe(&c);
}

static int s5probe(int depth) {
  S5 c{depth, {}, nullptr};
  s5_setup(&c);
  s5_timed(&c);
  s5_teardown(&c);
  bench_remark("S5probe %d ok", depth);
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
  bench_print("S6", bench_micro("S6", s6_batch, &c), "ns/op");
  if (c.counter != 0) bench_fail("S6: counter == %ld", c.counter);
}

// ---- S7 cancel_with_callbacks
constexpr int S7_CALLBACKS = 1000;

struct S7 {
  int n = S7_CALLBACKS;  // unless BENCH_SCALE
  std::optional<std::stop_source> src;
  std::unique_ptr<std::optional<std::stop_callback<Incr>>[]> cbs;
  long counter = 0;
};

static void s7_setup(void *p) {
  auto *c = static_cast<S7 *>(p);
  c->src.emplace();
  c->counter = 0;
  std::stop_token tok = c->src->get_token();
  for (int i = 0; i < c->n; i++) c->cbs[i].emplace(tok, Incr{&c->counter});
}

static void s7_timed(void *p) {
  auto *c = static_cast<S7 *>(p);
  CHECK(c->src->request_stop());
}

static void s7_teardown(void *p) {
  auto *c = static_cast<S7 *>(p);
  if (c->counter != c->n) bench_fail("S7: counter == %ld", c->counter);
  for (int i = 0; i < c->n; i++) c->cbs[i].reset();
  c->src.reset();
}

static void s7() {
  S7 c;
  c.n = bench_scale(S7_CALLBACKS);
  c.cbs =
      std::make_unique<std::optional<std::stop_callback<Incr>>[]>(size_t(c.n));
  double ns = bench_rounds("S7", s7_setup, s7_timed, s7_teardown, &c);
  bench_print("S7.total", ns / 1e3, "us");
  bench_print("S7.per_callback", ns / c.n, "ns/callback");
}

// ---- S8 timeout_scope_not_fired
constexpr int S8_BACKGROUND = 100000;

static void s8_batch(uint64_t n, void *) {
  for (uint64_t i = 0; i < n; i++) {
    TimeoutScope scope(std::chrono::seconds(60));
  }
}

static void s8() {
  long base = bench_status_kib("VmRSS");
  int n = bench_scale(S8_BACKGROUND);
  timer_service();  // start the timer machinery
  // The background scopes live in one array (built in place, as a program
  // keeping many scopes alive would hold them).
  auto bg = std::make_unique<std::optional<TimeoutScope>[]>(size_t(n));
  for (int i = 0; i < n; i++)
    bg[i].emplace(std::chrono::seconds(60));
  bench_print("S8.op", bench_micro("S8", s8_batch, nullptr), "ns/op");
  long peak = bench_status_kib("VmHWM");
  for (int i = 0; i < n; i++)
    if (bg[i]->source.stop_requested()) bench_fail("S8: scope %d fired", i);
  bench_print("S8.peak_rss", peak / 1024.0, "MiB");
  bench_print("S8.base_rss", base / 1024.0, "MiB");
  bench_print("S8.bytes_per_timeout", (peak - base) * 1024.0 / n,
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
    s9s.t1 = bench_now_ns();
    sem_post(&s9s.done);
  }
}

static void s9(bool one_cpu) {
  std::vector<double> lat;
  sem_init(&s9s.go, 0, 0);
  sem_init(&s9s.ready, 0, 0);
  sem_init(&s9s.done, 0, 0);
  std::thread waiter(s9_waiter);
  for (int i = 0; i < BENCH_S9_WARMUP + BENCH_S9_SAMPLES; i++) {
    auto *src = new std::stop_source;
    s9s.token = src;
    sem_post(&s9s.go);
    sem_wait(&s9s.ready);
    bench_s9_settle(one_cpu);
    int64_t t0 = bench_now_ns();
    src->request_stop();
    sem_wait(&s9s.done);
    if (i >= BENCH_S9_WARMUP) lat.push_back(double(s9s.t1 - t0));
    delete src;
  }
  s9s.token = nullptr;
  sem_post(&s9s.go);
  waiter.join();
  bench_s9_report(lat.data(), lat.size(), one_cpu);
}

// ---- S10 timer_accuracy
static int64_t s10_fired[BENCH_S10_SCOPES];
static std::atomic<int> s10_count;

struct Record {
  int i;
  void operator()() const noexcept {
    s10_fired[i] = bench_now_ns();
    s10_count.fetch_add(1);
  }
};

static void s10() {
  int perm[BENCH_S10_SCOPES];
  double stats[BENCH_S10_ROUNDS][4];
  int rounds = std::min(bench_reps(), int(BENCH_S10_ROUNDS));
  bench_s10_permutation(perm, BENCH_S10_SCOPES);
  timer_service();
  for (int r = 0; r < rounds; r++) {
    auto scopes = std::make_unique<std::optional<TimeoutScope>[]>(BENCH_S10_SCOPES);
    auto cbs = std::make_unique<std::optional<std::stop_callback<Record>>[]>(
        BENCH_S10_SCOPES);
    std::vector<double> deadline(BENCH_S10_SCOPES), late(BENCH_S10_SCOPES);
    int64_t give_up = bench_now_ns() + 5 * INT64_C(1000000000);
    s10_count = 0;
    for (int k = 0; k < BENCH_S10_SCOPES; k++) {
      int i = perm[k];
      scopes[i].emplace();
      cbs[i].emplace(scopes[i]->source.get_token(), Record{i});
      scopes[i]->arm(std::chrono::milliseconds(bench_s10_timeout_ms(i)));
      // The deadline stored in the heap entry (its clock is CLOCK_MONOTONIC).
      deadline[i] = double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               scopes[i]->entry.deadline.time_since_epoch())
                               .count());
    }
    while (s10_count.load() < BENCH_S10_SCOPES) {
      if (bench_now_ns() > give_up) bench_fail("S10: timers did not fire");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (int i = 0; i < BENCH_S10_SCOPES; i++)
      late[i] = double(s10_fired[i]) - deadline[i];
    for (int i = 0; i < BENCH_S10_SCOPES; i++) {
      cbs[i].reset();
      scopes[i].reset();
    }
    bench_s10_round_stats(late.data(), late.size(), stats[r]);
  }
  bench_s10_report(stats, rounds);
}

static void s9_settled() { s9(false); }
static void s9_one_cpu() { s9(true); }

static const bench_scenario scenarios[] = {BENCH_STANDARD_SCENARIOS,
                                           {nullptr, nullptr}};

int main(int argc, char **argv) {
  return bench_main("cxx", argc, argv, scenarios, s5probe);
}
