/* adapters/http/src/feed.h - the server's event feed: one subscription to
 * the event stream (cancelable/events.h) that writes each event as a
 * Server-Sent Events frame into a ring of the latest frames, and readers
 * (one per /api/events client, each on its connection's thread) that
 * follow the ring with a cursor.  A reader that falls a whole ring behind
 * gets a "reset" frame and goes on from the newest frame kept; one that
 * asks to resume from an event that left the ring gets a "reset" frame and
 * goes on from the next event: it never slows the work or the other
 * readers. */
#ifndef CX_HTTP_FEED_H
#define CX_HTTP_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct feed feed;

/* Starts a feed keeping the last @capacity frames.  0 or -errno. */
int feed_start(size_t capacity, feed **out);
/* Wakes every reader to end its stream (before the server stops). */
void feed_stop(feed *f);
/* Unsubscribes and frees (no reader may run any more). */
void feed_free(feed *f);

/* What the feed counted since it started (for /metrics). */
typedef struct feed_counts {
  uint64_t exited[6][7]; /* [cx_status][cx_reason] */
  uint64_t progress;     /* progress events received */
  uint64_t lost;         /* events the feed's queue dropped (gaps) */
} feed_counts;
void feed_get_counts(feed *f, feed_counts *out);

typedef struct feed_reader feed_reader;

/* A reader from the next event on, or, with @resume, from the event after
 * the one whose seq is @last_id.  NULL when out of memory. */
feed_reader *feed_reader_new(feed *f, bool resume, uint64_t last_id);
void feed_reader_free(void *reader);
/* Copies the next bytes of the stream into @buf (at most @max): as many
 * whole frames as fit (one copy and one write for a burst of events),
 * waiting for an event (a heartbeat comment after @heartbeat seconds
 * without one).
 * Returns: the number of bytes, or -1 at the end (the feed stops). */
ssize_t feed_read(feed_reader *r, char *buf, size_t max, double heartbeat);

#endif /* CX_HTTP_FEED_H */
