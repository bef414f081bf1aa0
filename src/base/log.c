/* src/base/log.c - the log handler (silent by default). */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "base/base.h"
#include "util/cxu_utf8.h"

typedef struct handler {
  cx_log_fn fn;
  void *user_data;
  cx_log_level min_level;
} handler;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static handler current;           /* guarded by mu */
static _Atomic bool enabled_any;  /* (atomic) a handler is installed */
static _Atomic int enabled_level; /* (atomic) its min level */

void cx_log_set_handler(cx_log_fn fn, cx_log_level min_level, void *user_data) {
  pthread_mutex_lock(&mu);
  current.fn = fn;
  current.user_data = user_data;
  current.min_level = min_level;
  atomic_store(&enabled_level, (int)min_level);
  atomic_store(&enabled_any, fn != NULL);
  pthread_mutex_unlock(&mu);
}

bool cx__log_enabled(cx_log_level level) {
  return atomic_load_explicit(&enabled_any, memory_order_relaxed) &&
         (int)level >=
             atomic_load_explicit(&enabled_level, memory_order_relaxed);
}

void cx__log(cx_log_level level, const char *op_id, const char *fmt, ...) {
  char text[512];
  handler h;
  va_list ap;
  if (!cx__log_enabled(level)) return;
  pthread_mutex_lock(&mu);
  h = current;
  pthread_mutex_unlock(&mu);
  if (h.fn == NULL || level < h.min_level) return;
  va_start(ap, fmt);
  cxu_utf8_vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  h.fn(level, op_id, text, h.user_data);
}

void cx_log_stderr(cx_log_level level, const char *op_id, const char *message,
                   void *user_data) {
  static const char *const names[] = {"debug", "info", "warning", "error"};
  (void)user_data;
  fprintf(stderr, "cancelable: %s [%s] %s\n",
          (unsigned)level < 4 ? names[level] : "log", op_id ? op_id : "-",
          message);
}
