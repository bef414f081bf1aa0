/* adapters/http/src/feed.c - the event feed of /api/events (feed.h). */
#include "feed.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cancelable.h>

#include "cxu_json.h"

struct feed {
  pthread_mutex_t mu;
  pthread_cond_t grew; /* a frame was added, or the feed stops */
  char **frames;       /* frames[pos % cap]: frame of stream position pos */
  uint64_t *seqs;      /* the event seq of each frame (0: a gap) */
  size_t cap;
  uint64_t next; /* the next position written */
  bool stopping;
  feed_counts counts;
  cx_subscription *sub;
};

struct feed_reader {
  feed *f;
  uint64_t pos;  /* next position to send */
  bool reset;    /* send a reset frame first */
  char *partial; /* the frame being sent */
  size_t off;
};

/* ---- writing */

static void put_string(cxu_json *j, const char *key, const char *value) {
  cxu_json_key(j, key);
  cxu_json_string(j, value);
}

/* The event as an SSE frame (malloc'd), or NULL when out of memory. */
static char *format_frame(const cx_event *e) {
  cxu_json j;
  char *meta = NULL, *frame = NULL;
  int n;
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, "seq");
  cxu_json_int(&j, (int64_t)e->seq);
  put_string(&j, "kind", cx_event_kind_name(e->kind));
  cxu_json_key(&j, "time");
  cxu_json_double(&j, e->time);
  if (e->kind == CX_EVENT_GAP) {
    cxu_json_key(&j, "lost");
    cxu_json_int(&j, (int64_t)e->lost);
  } else {
    put_string(&j, "op_id", e->op_id);
    put_string(&j, "name", e->name);
    put_string(&j, "parent_id", e->parent_id);
    put_string(&j, "status", cx_status_name(e->status));
    /* null, not "none", as cx_op_to_json() writes an op not cancelled */
    put_string(&j, "reason",
               e->reason != CX_REASON_NONE ? cx_reason_name(e->reason) : NULL);
    cxu_json_key(&j, "error");
    cxu_json_int(&j, e->error);
    put_string(&j, "message", e->message);
    cxu_json_key(&j, "metadata");
    if (e->metadata != NULL && (meta = cx_meta_to_json(e->metadata)) != NULL)
      cxu_json_raw(&j, meta, strlen(meta));
    else
      cxu_json_null(&j);
    free(meta);
  }
  cxu_json_object_end(&j);
  if (cxu_json_error(&j) == 0) {
    if (e->kind == CX_EVENT_GAP)
      n = asprintf(&frame, "event: gap\ndata: %s\n\n", j.buf);
    else
      n = asprintf(&frame, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", e->seq,
                   cx_event_kind_name(e->kind), j.buf);
    if (n < 0) frame = NULL;
  }
  cxu_json_free(&j);
  return frame;
}

/* The subscriber: one frame per event into the ring. */
static void on_event(const cx_event *e, void *user_data) {
  feed *f = user_data;
  char *frame = format_frame(e), *old;
  if (frame == NULL) return; /* out of memory: readers see a hole */
  pthread_mutex_lock(&f->mu);
  if (e->kind == CX_EVENT_EXITED && (unsigned)e->status < 6 &&
      (unsigned)e->reason < 7)
    f->counts.exited[e->status][e->reason]++;
  else if (e->kind == CX_EVENT_PROGRESS)
    f->counts.progress++;
  else if (e->kind == CX_EVENT_GAP)
    f->counts.lost += e->lost;
  old = f->frames[f->next % f->cap];
  f->frames[f->next % f->cap] = frame;
  f->seqs[f->next % f->cap] = e->kind == CX_EVENT_GAP ? 0 : e->seq;
  f->next++;
  pthread_cond_broadcast(&f->grew);
  pthread_mutex_unlock(&f->mu);
  free(old);
}

int feed_start(size_t capacity, feed **out) {
  feed *f = calloc(1, sizeof *f);
  pthread_condattr_t attr;
  int rc;
  *out = NULL;
  if (f == NULL) return -ENOMEM;
  f->cap = capacity;
  f->frames = calloc(capacity, sizeof *f->frames);
  f->seqs = calloc(capacity, sizeof *f->seqs);
  pthread_mutex_init(&f->mu, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&f->grew, &attr);
  pthread_condattr_destroy(&attr);
  rc = f->frames != NULL && f->seqs != NULL
           ? cx_events_subscribe(&f->sub, on_event, f, NULL, 4096)
           : -ENOMEM;
  if (rc != 0) {
    feed_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

void feed_get_counts(feed *f, feed_counts *out) {
  pthread_mutex_lock(&f->mu);
  *out = f->counts;
  pthread_mutex_unlock(&f->mu);
}

void feed_stop(feed *f) {
  pthread_mutex_lock(&f->mu);
  f->stopping = true;
  pthread_cond_broadcast(&f->grew);
  pthread_mutex_unlock(&f->mu);
}

void feed_free(feed *f) {
  if (f == NULL) return;
  if (f->sub != NULL) cx_events_unsubscribe(f->sub);
  for (size_t i = 0; f->frames != NULL && i < f->cap; i++) free(f->frames[i]);
  free(f->frames);
  free(f->seqs);
  pthread_cond_destroy(&f->grew);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

/* ---- reading */

feed_reader *feed_reader_new(feed *f, bool resume, uint64_t last_id) {
  feed_reader *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->f = f;
  pthread_mutex_lock(&f->mu);
  r->pos = f->next;
  if (resume) {
    /* Exactly after the frame of @last_id, gap frames included; when that
     * frame is not kept (too old, or an id of another run of the program
     * whose seqs started again), a reset. */
    uint64_t oldest = f->next > f->cap ? f->next - f->cap : 0, p;
    r->reset = true;
    for (p = oldest; p < f->next; p++)
      if (f->seqs[p % f->cap] == last_id && last_id != 0) {
        r->pos = p + 1;
        r->reset = false;
        break;
      }
  }
  pthread_mutex_unlock(&f->mu);
  return r;
}

void feed_reader_free(void *reader) {
  feed_reader *r = reader;
  if (r == NULL) return;
  free(r->partial);
  free(r);
}

/* Copies what is left of the partial frame. */
static ssize_t send_partial(feed_reader *r, char *buf, size_t max) {
  size_t left = strlen(r->partial + r->off), n = left < max ? left : max;
  memcpy(buf, r->partial + r->off, n);
  r->off += n;
  if (r->off == strlen(r->partial)) {
    free(r->partial);
    r->partial = NULL;
    r->off = 0;
  }
  return (ssize_t)n;
}

static struct timespec deadline_after(double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)seconds;
  ts.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Copies whole frames from the reader's position into @buf while they fit
 * (a frame larger than @max goes through the partial frame); the bytes
 * copied.  Under the feed's lock. */
static size_t copy_frames_locked(feed_reader *r, char *buf, size_t max) {
  feed *f = r->f;
  size_t n = 0;
  while (r->pos < f->next) {
    const char *frame = f->frames[r->pos % f->cap];
    size_t len = frame != NULL ? strlen(frame) : 0;
    if (len > max - n) {
      if (n == 0) { /* larger than the whole buffer: send it in parts */
        r->partial = strdup(frame); /* (no memory: a hole) */
        r->pos++;
      }
      break;
    }
    memcpy(buf + n, frame, len); /* a hole (NULL) is skipped */
    n += len;
    r->pos++;
  }
  return n;
}

ssize_t feed_read(feed_reader *r, char *buf, size_t max, double heartbeat) {
  static const char beat[] = ": heartbeat\n\n";
  static const char reset[] = "event: reset\ndata: {}\n\n";
  feed *f = r->f;
  struct timespec until = deadline_after(heartbeat);
  size_t n = 0;
  if (r->partial != NULL) return send_partial(r, buf, max);
  pthread_mutex_lock(&f->mu);
  while (n == 0 && r->partial == NULL) {
    bool timed_out = false;
    while (!f->stopping && !r->reset && r->pos == f->next && !timed_out)
      timed_out = pthread_cond_timedwait(&f->grew, &f->mu, &until) == ETIMEDOUT;
    if (f->stopping) {
      pthread_mutex_unlock(&f->mu);
      return -1;
    }
    if (f->next - r->pos > f->cap) r->reset = true; /* a whole ring behind */
    if (r->reset) {
      /* Then the newest frame when it fell behind, so that the client has
       * the latest state at once, also when nothing follows for a while
       * (a resume that failed goes on with the next event). */
      r->reset = false;
      r->pos = f->next - r->pos > f->cap ? f->next - 1 : f->next;
      r->partial = strdup(reset);
    } else if (r->pos < f->next) {
      n = copy_frames_locked(r, buf, max); /* 0: holes only, or no memory */
    } else if (timed_out) {
      r->partial = strdup(beat);
      until = deadline_after(heartbeat); /* (no memory: try again later) */
    }
  }
  pthread_mutex_unlock(&f->mu);
  return n > 0 ? (ssize_t)n : send_partial(r, buf, max);
}
