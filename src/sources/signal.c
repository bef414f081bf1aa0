/* src/sources/signal.c - the signal source, on the process-wide signal
 * dispatcher (src/runtime/signals.c). */
#include "cx_config.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/signals.h"
#include "sources/sources.h"

#define MAX_SIGNALS 64

typedef struct signal_state signal_state;

typedef struct watch {
  cx__sigwatch w; /* first: the dispatcher hands it back */
  signal_state *owner;
  int signo;
} watch;

struct signal_state {
  cx_source *source;
  size_t count;
  watch watches[]; /* count */
};

/* "SIGTERM" for 15: the C library's abbreviation where it has one. */
static void signal_name(int signo, char *out, size_t len) {
#if defined(CX_HAVE_SIGABBREV_NP)
  const char *abbrev = sigabbrev_np(signo);
  if (abbrev != NULL) {
    snprintf(out, len, "SIG%s", abbrev);
    return;
  }
#endif
  if (signo >= SIGRTMIN && signo <= SIGRTMAX)
    snprintf(out, len, "SIGRTMIN+%d", signo - SIGRTMIN);
  else
    snprintf(out, len, "signal");
}

static void on_signal(cx__sigwatch *w, int signo) {
  watch *wt = (watch *)w;
  char name[32], msg[64];
  signal_name(signo, name, sizeof name);
  snprintf(msg, sizeof msg, "received signal %s (%d)", name, signo);
  cx__source_fire(wt->owner->source, CX_REASON_SIGNAL, msg);
}

static void stop(cx_source *src, void *user_data) {
  signal_state *st = user_data;
  (void)src;
  for (size_t i = 0; i < st->count; i++) cx__signal_unwatch(&st->watches[i].w);
}

static int start(cx_source *src, void *user_data) {
  signal_state *st = user_data;
  for (size_t i = 0; i < st->count; i++) {
    int rc;
    st->watches[i].owner = st;
    rc = cx__signal_watch(&st->watches[i].w, st->watches[i].signo, on_signal);
    if (rc != 0) {
      while (i-- > 0) cx__signal_unwatch(&st->watches[i].w);
      return rc;
    }
  }
  (void)src;
  return 0;
}

static const cx_source_ops signal_ops = {sizeof(cx_source_ops), start, stop,
                                         cx__free};

int cx_source_signal(cx_source **out, const int *signals, size_t count) {
  static const int defaults[] = {SIGINT, SIGTERM};
  signal_state *st;
  if (out != NULL) *out = NULL;
  if (out == NULL || count > MAX_SIGNALS || (count > 0 && signals == NULL))
    return -EINVAL;
  if (count == 0) {
    signals = defaults;
    count = 2;
  }
  for (size_t i = 0; i < count; i++)
    if (!cx__signal_valid(signals[i])) return -EINVAL;
  st = cx__calloc(1, sizeof *st + count * sizeof st->watches[0]);
  if (st == NULL) return -ENOMEM;
  st->count = count;
  for (size_t i = 0; i < count; i++) st->watches[i].signo = signals[i];
  st->source =
      cx__source_alloc(&signal_ops, st, CX_REASON_SIGNAL, "signal", false);
  if (st->source == NULL) {
    cx__free(st);
    return -ENOMEM;
  }
  *out = st->source;
  return 0;
}
