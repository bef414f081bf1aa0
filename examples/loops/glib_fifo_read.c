/* examples/loops/glib_fifo_read.c - cancel a GFile read with our timeout
 * (libcancelable-glib).
 *
 * The file is a FIFO that never gets data.  g_file_read() opens it (the
 * program holds a write end itself, so the open does not block), and the
 * read waits in the GLib main loop on a pollable stream over the same
 * descriptor.  Its GCancellable is bridged to a token made by
 * cx_token_with_timeout(): when the timeout fires (on the library's timer
 * thread) the bridge cancels the GCancellable, and the read completes
 * with G_IO_ERROR_CANCELLED.  A token source (cx_glib_token_source_new())
 * reports the cancel on the loop as well.
 *
 * Usage: glib_fifo_read FIFO_PATH [SECONDS]   (the FIFO is made, and
 * removed at the end; SECONDS defaults to 0.3).  Prints "read cancelled:
 * timed out after N s" and "example: ok". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cancelable/glib.h>
#include <gio/gfiledescriptorbased.h>
#include <gio/gunixinputstream.h>

typedef struct state {
  GMainLoop *loop;
  cx_token *timeout;
  char buf[64];
  int pending; /* the read and the token source */
  int failed;
} state;

static void finish_one(state *st) {
  if (--st->pending == 0) g_main_loop_quit(st->loop);
}

static void on_read(GObject *stream, GAsyncResult *res, gpointer data) {
  state *st = data;
  GError *err = NULL;
  gssize n = g_input_stream_read_finish(G_INPUT_STREAM(stream), res, &err);
  if (n < 0 && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    printf("read cancelled: %s\n", cx_token_cancel_message(st->timeout));
  else if ((st->failed = 1))
    printf("example: FAIL: read returned %zd (%s)\n", n,
           err != NULL ? err->message : "no error");
  g_clear_error(&err);
  finish_one(st);
}

static void on_token(cx_token *token, gpointer data) {
  printf("token cancelled on the loop: reason %s\n",
         cx_reason_name(cx_token_cancel_reason(token)));
  finish_one(data);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "glib_fifo";
  double seconds = argc > 2 ? atof(argv[2]) : 0.3;
  state st = {.pending = 2};
  GCancellable *gc = g_cancellable_new();
  cx_glib_bridge *bridge = NULL;
  GFileInputStream *file_in;
  GInputStream *in;
  GSource *source;
  GFile *file;
  GError *err = NULL;
  int writer;
  unlink(path);
  if (mkfifo(path, 0600) != 0 || (writer = open(path, O_RDWR)) < 0) {
    printf("example: FAIL: fifo %s: %s\n", path, strerror(errno));
    return 1;
  }
  file = g_file_new_for_path(path);
  if ((file_in = g_file_read(file, NULL, &err)) == NULL) {
    printf("example: FAIL: g_file_read: %s\n", err->message);
    return 1;
  }
  /* The same descriptor as a pollable stream: its read waits in the
   * loop, watching the GCancellable (a GLocalFileInputStream's read
   * would block a worker thread that no cancel can interrupt). */
  in = g_unix_input_stream_new(
      g_file_descriptor_based_get_fd(G_FILE_DESCRIPTOR_BASED(file_in)), FALSE);
  if (cx_token_with_timeout(&st.timeout, seconds) != 0 ||
      cx_glib_bridge_new(st.timeout, gc, &bridge) != 0) {
    printf("example: FAIL: setup\n");
    return 1;
  }
  st.loop = g_main_loop_new(NULL, FALSE);
  source = cx_glib_token_source_new(st.timeout);
  g_source_set_callback(source, (GSourceFunc)(void (*)(void))on_token, &st,
                        NULL);
  g_source_attach(source, NULL);
  g_input_stream_read_async(in, st.buf, sizeof st.buf, G_PRIORITY_DEFAULT, gc,
                            on_read, &st);
  g_main_loop_run(st.loop);
  g_source_unref(source);
  cx_glib_bridge_free(bridge);
  cx_token_unref(st.timeout);
  g_object_unref(in);
  g_object_unref(file_in);
  g_object_unref(file);
  g_object_unref(gc);
  g_main_loop_unref(st.loop);
  close(writer);
  unlink(path);
  if (st.failed) return 1;
  printf("example: ok\n");
  return 0;
}
