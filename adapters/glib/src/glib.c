/* adapters/glib/src/glib.c - libcancelable-glib: a GSource that dispatches
 * once when a token is cancelled, and a two-way bridge with GCancellable.
 *
 * The source follows GLib's GCancellableSource (gio/gcancellable.c): the
 * cancel sets the source's ready time, and a dispose function (GLib 2.64)
 * parts the two.  The cancel reaches the source through a box shared with
 * the token's callback: the callback calls g_source_set_ready_time() under
 * the box's lock only while the source is alive, and the source's dispose
 * (where the source still has a reference) clears it under the same lock;
 * the finalize then unregisters without waiting. */
#include <errno.h>
#include <pthread.h>

#include <cancelable/glib.h>

typedef struct source_box {
  gint refs;          /* (atomic) the source's and the token callback's */
  pthread_mutex_t mu; /* a leaf: held around one g_source_set_ready_time()
                        (pthreads, which ThreadSanitizer sees) */
  GSource *source;    /* guarded by mu: NULL once the source is disposed */
} source_box;

typedef struct token_source {
  GSource base;
  cx_token *token; /* (owned ref) */
  source_box *box; /* (owned ref) */
  cx_callback *cb; /* the registration, or NULL once it ran at once */
} token_source;

static void box_unref(void *data) {
  source_box *box = data;
  if (!g_atomic_int_dec_and_test(&box->refs)) return;
  pthread_mutex_destroy(&box->mu);
  g_free(box);
}

static int source_cancelled(cx_token *token, void *data) {
  source_box *box = data;
  (void)token;
  pthread_mutex_lock(&box->mu);
  if (box->source != NULL) g_source_set_ready_time(box->source, 0);
  pthread_mutex_unlock(&box->mu);
  return 0;
}

static gboolean source_dispatch(GSource *source, GSourceFunc callback,
                                gpointer user_data) {
  token_source *ts = (token_source *)source;
  g_source_set_ready_time(source, -1);
  if (callback != NULL)
    ((cx_glib_token_func)(void (*)(void))callback)(ts->token, user_data);
  return G_SOURCE_REMOVE; /* once */
}

static void source_dispose(GSource *source) {
  token_source *ts = (token_source *)source;
  pthread_mutex_lock(&ts->box->mu);
  ts->box->source = NULL; /* a cancel from now on touches nothing */
  pthread_mutex_unlock(&ts->box->mu);
}

static void source_finalize(GSource *source) {
  token_source *ts = (token_source *)source;
  /* Never waits: a callback running elsewhere saw box->source NULL (or
   * ran before the dispose) and drops the box's last reference itself. */
  if (ts->cb != NULL) cx_callback_unregister_nowait(ts->cb);
  box_unref(ts->box);
  cx_token_unref(ts->token);
}

static GSourceFuncs token_source_funcs = {
    .dispatch = source_dispatch,
    .finalize = source_finalize,
};

GSource *cx_glib_token_source_new(cx_token *token) {
  GSource *source;
  token_source *ts;
  source_box *box;
  if (token == NULL) return NULL;
  source = g_source_new(&token_source_funcs, sizeof(token_source));
  ts = (token_source *)source;
  g_source_set_name(source, "cancelable token source");
  g_source_set_dispose_function(source, source_dispose);
  box = g_new0(source_box, 1);
  pthread_mutex_init(&box->mu, NULL);
  box->source = source;
  box->refs = 2;
  ts->box = box;
  ts->token = cx_token_ref(token);
  if (cx_token_on_cancel(token, source_cancelled, box, box_unref, 0, &ts->cb) <
      0) {
    box->refs = 1;          /* the callback's was never taken */
    g_source_unref(source); /* finalize releases the box and the token */
    return NULL;
  }
  return source;
}

GSource *cx_glib_op_source_new(cx_op *op) {
  return op == NULL ? NULL : cx_glib_token_source_new(cx_op_token(op));
}

/* ---- The bridge: three holders (the user, the token's callback, the
 * GCancellable's handler), each releasing one reference. */
struct cx_glib_bridge {
  gint refs;        /* (atomic) */
  cx_token *token;  /* (owned ref) immutable */
  GCancellable *gc; /* (owned ref) immutable */
  cx_callback *cb;  /* the user's side: the registration, or NULL */
  gulong handler;   /* the user's side: the handler id, or 0 */
};

static void bridge_unref(gpointer data) {
  cx_glib_bridge *b = data;
  if (!g_atomic_int_dec_and_test(&b->refs)) return;
  cx_token_unref(b->token);
  g_object_unref(b->gc);
  g_free(b);
}

static int token_cancelled(cx_token *token, void *data) {
  (void)token;
  g_cancellable_cancel(((cx_glib_bridge *)data)->gc); /* once: GLib's */
  return 0;
}

static void gc_cancelled(GCancellable *gc, gpointer data) {
  (void)gc;
  /* Returns false when the token was cancelled first: no loop. */
  cx_token_cancel(((cx_glib_bridge *)data)->token, CX_REASON_MANUAL,
                  "GCancellable cancelled");
}

int cx_glib_bridge_new(cx_token *token, GCancellable *cancellable,
                       cx_glib_bridge **out) {
  cx_glib_bridge *b;
  int rc;
  if (out != NULL) *out = NULL;
  if (token == NULL || cancellable == NULL || out == NULL) return -EINVAL;
  if (!G_IS_CANCELLABLE(cancellable)) return -EINVAL;
  b = g_new0(cx_glib_bridge, 1);
  b->refs = 3;
  b->token = cx_token_ref(token);
  b->gc = g_object_ref(cancellable);
  rc = cx_token_on_cancel(token, token_cancelled, b, bridge_unref, 0, &b->cb);
  if (rc < 0) {
    b->refs = 1;
    bridge_unref(b);
    return rc;
  }
  /* A cancelled GCancellable runs the handler here and releases its
   * reference at once (handler id 0). */
  b->handler = g_cancellable_connect(cancellable, G_CALLBACK(gc_cancelled), b,
                                     bridge_unref);
  *out = b;
  return 0;
}

void cx_glib_bridge_free(cx_glib_bridge *b) {
  if (b == NULL) return;
  if (b->cb != NULL) cx_callback_unregister_nowait(b->cb);
  if (b->handler != 0) g_cancellable_disconnect(b->gc, b->handler);
  bridge_unref(b);
}
