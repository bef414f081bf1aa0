/* adapters/uv/src/uv.c - libcancelable-uv: a hub (one notifier behind one
 * uv_poll handle) per loop, watches on it, uv_cancel() on cancel, and a
 * loop timer at an op's deadline.  Loop-thread state only: the notifier
 * carries everything that crosses threads. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <cancelable/uv.h>

struct cx_uv_hub {
  uv_poll_t poll;        /* data: the hub */
  cx_notifier *notifier; /* (owned ref) */
  size_t watches;        /* watches not stopped */
  size_t waiting;        /* watches neither delivered nor stopped */
};

struct cx_uv_watch {
  cx_uv_hub *hub;
  cx_watch *watch; /* (owned) the notifier's */
  cx_uv_cancel_cb cb;
  void *user_data;
  bool delivered;
};

/* The poll handle keeps the loop alive only while a watch waits. */
static void update_ref(cx_uv_hub *hub) {
  if (hub->waiting > 0)
    uv_ref((uv_handle_t *)&hub->poll);
  else
    uv_unref((uv_handle_t *)&hub->poll);
}

static void deliver(cx_watch *w, cx_token *token, void *user_data,
                    void *drain_data) {
  cx_uv_watch *uw = user_data;
  (void)w;
  (void)drain_data;
  uw->delivered = true;
  uw->hub->waiting--;
  update_ref(uw->hub);
  uw->cb(uw, token, uw->user_data);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)status; /* an error leaves the eventfd as it is: drain anyway */
  (void)events;
  cx_notifier_drain(((cx_uv_hub *)poll->data)->notifier, deliver, NULL);
}

int cx_uv_hub_new(uv_loop_t *loop, cx_uv_hub **out) {
  cx_uv_hub *hub;
  int rc;
  if (out != NULL) *out = NULL;
  if (loop == NULL || out == NULL) return -EINVAL;
  if ((hub = calloc(1, sizeof *hub)) == NULL) return -ENOMEM;
  if ((rc = cx_notifier_new(&hub->notifier)) != 0) {
    free(hub);
    return rc;
  }
  rc = uv_poll_init(loop, &hub->poll, cx_notifier_fd(hub->notifier));
  if (rc != 0) {
    cx_notifier_unref(hub->notifier);
    free(hub);
    return rc;
  }
  hub->poll.data = hub;
  rc = uv_poll_start(&hub->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    uv_close((uv_handle_t *)&hub->poll, (uv_close_cb)free);
    cx_notifier_unref(hub->notifier);
    return rc;
  }
  update_ref(hub);
  *out = hub;
  return 0;
}

static void hub_closed(uv_handle_t *handle) {
  cx_uv_hub *hub = handle->data;
  cx_notifier_unref(hub->notifier);
  free(hub);
}

int cx_uv_hub_close(cx_uv_hub *hub) {
  if (hub == NULL) return -EINVAL;
  if (hub->watches > 0) return -EBUSY;
  uv_close((uv_handle_t *)&hub->poll, hub_closed);
  return 0;
}

int cx_uv_watch_token(cx_uv_hub *hub, cx_token *token, cx_uv_cancel_cb cb,
                      void *user_data, cx_uv_watch **out) {
  cx_uv_watch *uw;
  int rc;
  if (out != NULL) *out = NULL;
  if (hub == NULL || token == NULL || cb == NULL || out == NULL) return -EINVAL;
  if ((uw = calloc(1, sizeof *uw)) == NULL) return -ENOMEM;
  uw->hub = hub;
  uw->cb = cb;
  uw->user_data = user_data;
  if ((rc = cx_notifier_watch(&uw->watch, hub->notifier, token, uw)) != 0) {
    free(uw);
    return rc;
  }
  hub->watches++;
  hub->waiting++;
  update_ref(hub);
  *out = uw;
  return 0;
}

int cx_uv_watch_op(cx_uv_hub *hub, cx_op *op, cx_uv_cancel_cb cb,
                   void *user_data, cx_uv_watch **out) {
  if (op == NULL) {
    if (out != NULL) *out = NULL;
    return -EINVAL;
  }
  return cx_uv_watch_token(hub, cx_op_token(op), cb, user_data, out);
}

void cx_uv_watch_stop(cx_uv_watch *uw) {
  if (uw == NULL) return;
  cx_watch_stop(uw->watch); /* never delivered after this, never waits */
  uw->hub->watches--;
  if (!uw->delivered) {
    uw->hub->waiting--;
    update_ref(uw->hub);
  }
  free(uw);
}

static void cancel_req(cx_uv_watch *uw, cx_token *token, void *req) {
  (void)uw;
  (void)token;
  uv_cancel(req); /* -EBUSY when it already runs: it completes normally */
}

int cx_uv_watch_cancel_req(cx_uv_hub *hub, cx_token *token, uv_req_t *req,
                           cx_uv_watch **out) {
  if (req == NULL) {
    if (out != NULL) *out = NULL;
    return -EINVAL;
  }
  return cx_uv_watch_token(hub, token, cancel_req, req, out);
}

int cx_uv_timer_start_deadline(uv_timer_t *timer, const cx_op *op,
                               uv_timer_cb cb) {
  double remaining, ms;
  if (timer == NULL || op == NULL || cb == NULL) return -EINVAL;
  remaining = cx_op_remaining(op);
  if (isinf(remaining)) return -ENOENT;
  ms = ceil(remaining * 1000.0);
  uv_update_time(timer->loop);
  return uv_timer_start(timer, cb, ms > 0 ? (uint64_t)ms : 0, 0);
}
