/* examples/hash_files.c - pattern: a real workload cancelled by a timeout,
 * keeping a partial result (the README's demo, run by scripts/demo.sh).
 *
 * Usage: hash_files [DIR] [TIMEOUT_SECONDS]      (default: /usr 3)
 *
 * Walks DIR (without following symbolic links) inside an operation created
 * with a name, a timeout and metadata, and hashes every regular file in
 * 64 KiB chunks with 64-bit FNV-1a.  cx_check() between chunks and between
 * directory entries is the cancellation point: once the timeout fires, the
 * walk stops at the next chunk.  The running tally is the operation's
 * partial result and is copied into its metadata, so both survive the
 * cancel.  Progress goes to stderr; at the end the operation's final
 * context is printed on stdout as JSON.
 *
 * Exit status: 0 when the operation completed or was cancelled, 1 when it
 * failed (for example DIR does not exist), 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L

#include <cancelable.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_SIZE (64 * 1024)
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

/* The partial result: what has been hashed so far. */
struct tally {
  uint64_t files;   /* regular files hashed completely */
  uint64_t bytes;   /* bytes hashed, including a file cut short by a cancel */
  uint64_t skipped; /* files and folders that could not be read */
  uint64_t digest;  /* FNV-1a over the files' hashes, in walk order */
};

/* The state of one walk. */
struct walk {
  cx_op *op;
  struct tally *tally; /* owned by the op (its partial result) */
  unsigned char *buf;  /* CHUNK_SIZE bytes */
  double next_report;  /* cx_op_elapsed() of the next progress line */
};

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= FNV_PRIME;
  }
  return h;
}

/* Copies the tally into the op's metadata (visible to anyone who reads the
 * context, during and after the operation). */
static void publish(struct walk *w) {
  cx_meta *m = cx_meta_new();
  if (m == NULL) return;
  cx_meta_set_int(m, "files_hashed", (int64_t)w->tally->files);
  cx_meta_set_int(m, "bytes_hashed", (int64_t)w->tally->bytes);
  cx_meta_set_int(m, "skipped", (int64_t)w->tally->skipped);
  cx_op_update_metadata(w->op, m);
  cx_meta_free(m);
}

static void progress(struct walk *w, const char *path) {
  double now = cx_op_elapsed(w->op);
  if (now < w->next_report) return;
  w->next_report = now + 0.5;
  fprintf(stderr, "hash_files: %6.2f s  %8" PRIu64 " files  %9.1f MiB  %s\n",
          now, w->tally->files, (double)w->tally->bytes / (1024.0 * 1024.0),
          path);
  publish(w);
}

/* Hashes one regular file.  Returns 0, or -ECANCELED from the cancellation
 * point between chunks.  A file that cannot be read is counted as skipped. */
static int hash_file(struct walk *w, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    w->tally->skipped++;
    return 0;
  }
  uint64_t h = FNV_OFFSET;
  int rc = 0;
  for (;;) {
    /* The current operation's cancellation point: no op argument needed. */
    rc = cx_check(NULL);
    if (rc != 0) break;
    ssize_t n = read(fd, w->buf, CHUNK_SIZE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      w->tally->skipped++;
      break;
    }
    if (n == 0) {
      w->tally->files++;
      w->tally->digest = fnv1a(w->tally->digest, (unsigned char *)&h, sizeof h);
      break;
    }
    h = fnv1a(h, w->buf, (size_t)n);
    w->tally->bytes += (uint64_t)n;
    progress(w, path);
  }
  close(fd);
  return rc;
}

/* A stack of folders still to visit (the walk is iterative). */
struct stack {
  char **paths;
  size_t len, cap;
};

static int push(struct stack *s, char *path) {
  if (s->len == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    char **p = realloc(s->paths, cap * sizeof *p);
    if (p == NULL) return -ENOMEM;
    s->paths = p;
    s->cap = cap;
  }
  s->paths[s->len++] = path;
  return 0;
}

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (p == NULL) return NULL;
  memcpy(p, dir, a);
  size_t at = (a > 0 && dir[a - 1] == '/') ? a : a + 1;
  p[a] = '/';
  memcpy(p + at, name, b + 1);
  return p;
}

/* Visits one folder: hashes its files, pushes its sub-folders. */
static int visit(struct walk *w, struct stack *todo, const char *dir, int top) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    if (top) return -errno; /* the operation fails with this error */
    w->tally->skipped++;
    return 0;
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    rc = cx_check(w->op); /* a cancellation point per entry too */
    if (rc != 0) break;
    char *path = join(dir, e->d_name);
    if (path == NULL) {
      rc = -ENOMEM;
      break;
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
      w->tally->skipped++;
      free(path);
    } else if (S_ISDIR(st.st_mode)) {
      rc = push(todo, path);
      if (rc != 0) free(path);
    } else {
      if (S_ISREG(st.st_mode)) rc = hash_file(w, path);
      free(path);
    }
  }
  closedir(d);
  return rc;
}

static int walk_tree(struct walk *w, const char *root) {
  struct stack todo = {NULL, 0, 0};
  int rc = visit(w, &todo, root, 1);
  while (rc == 0 && todo.len > 0) {
    char *dir = todo.paths[--todo.len];
    rc = visit(w, &todo, dir, 0);
    free(dir);
  }
  while (todo.len > 0) free(todo.paths[--todo.len]);
  free(todo.paths);
  return rc;
}

/* Runs on the exiting thread when the operation ends CANCELLED. */
static void on_cancel(cx_op *op, void *user_data) {
  (void)user_data;
  const char *message = cx_op_cancel_message(op);
  fprintf(stderr, "hash_files: cancelled (%s): %s\n",
          cx_reason_name(cx_op_cancel_reason(op)), message ? message : "");
}

/* --- JSON output --------------------------------------------------------- */

static void json_string(const char *s) {
  if (s == NULL) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      printf("\\%c", c);
    } else if (c < 0x20) {
      printf("\\u%04x", c);
    } else {
      putchar(c);
    }
  }
  putchar('"');
}

static void json_time(double t) {
  time_t secs = (time_t)t;
  struct tm tm;
  char buf[32];
  if (t <= 0.0 || gmtime_r(&secs, &tm) == NULL) {
    fputs("null", stdout);
    return;
  }
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  printf("\"%s.%03dZ\"", buf, (int)((t - (double)secs) * 1000.0));
}

static void json_meta(const cx_meta *m) {
  size_t n = cx_meta_count(m);
  printf("{");
  for (size_t i = 0; i < n; i++) {
    const char *key = cx_meta_key_at(m, i);
    const char *s;
    int64_t iv;
    double dv;
    bool bv;
    printf("%s\n    ", i ? "," : "");
    json_string(key);
    printf(": ");
    switch (cx_meta_type_of(m, key)) {
      case CX_META_STRING:
        cx_meta_get_string(m, key, &s);
        json_string(s);
        break;
      case CX_META_INT:
        cx_meta_get_int(m, key, &iv);
        printf("%" PRId64, iv);
        break;
      case CX_META_DOUBLE:
        cx_meta_get_double(m, key, &dv);
        printf("%.17g", dv);
        break;
      case CX_META_BOOL:
        cx_meta_get_bool(m, key, &bv);
        printf("%s", bv ? "true" : "false");
        break;
      default:
        printf("null");
        break;
    }
  }
  printf("%s}", n ? "\n  " : "");
}

static void print_context(cx_op *op) {
  const struct tally *t = cx_op_partial_result(op);
  printf("{\n  \"id\": ");
  json_string(cx_op_id(op));
  printf(",\n  \"name\": ");
  json_string(cx_op_name(op));
  printf(",\n  \"status\": ");
  json_string(cx_status_name(cx_op_status(op)));
  printf(",\n  \"reason\": ");
  json_string(cx_reason_name(cx_op_cancel_reason(op)));
  printf(",\n  \"message\": ");
  json_string(cx_op_cancel_message(op));
  printf(",\n  \"error\": ");
  json_string(cx_op_error(op) ? cx_err_name(cx_op_error(op)) : NULL);
  printf(",\n  \"start_time\": ");
  json_time(cx_op_start_time(op));
  printf(",\n  \"end_time\": ");
  json_time(cx_op_end_time(op));
  printf(",\n  \"elapsed\": %.3f", cx_op_elapsed(op));
  printf(",\n  \"files_hashed\": %" PRIu64, t ? t->files : 0);
  if (t != NULL) {
    printf(",\n  \"partial_result\": {\"files\": %" PRIu64
           ", \"bytes\": %" PRIu64 ", \"skipped\": %" PRIu64
           ", \"digest\": \"%016" PRIx64 "\"}",
           t->files, t->bytes, t->skipped, t->digest);
  } else {
    printf(",\n  \"partial_result\": null");
  }
  cx_meta *m = cx_op_metadata(op);
  printf(",\n  \"metadata\": ");
  json_meta(m);
  cx_meta_free(m);
  printf("\n}\n");
}

static int usage(void) {
  fprintf(stderr, "usage: hash_files [DIR] [TIMEOUT_SECONDS]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/usr";
  double timeout = 3.0;
  if (argc > 3) return usage();
  if (argc > 2) {
    char *end;
    timeout = strtod(argv[2], &end);
    if (end == argv[2] || *end != '\0' || !(timeout > 0.0)) return usage();
  }

  /* The operation: a name, a timeout counted from enter, and metadata. */
  cx_meta *meta = cx_meta_new();
  if (meta == NULL || cx_meta_set_string(meta, "dir", dir) != 0) return 1;
  cx_op_options opts = CX_OP_OPTIONS_INIT;
  opts.name = "hash_files";
  opts.timeout = timeout;
  opts.metadata = meta;
  cx_op *op = NULL;
  int rc = cx_op_create(&op, &opts);
  cx_meta_free(meta);
  if (rc != 0) {
    fprintf(stderr, "hash_files: cx_op_create: %s\n", cx_strerror(rc));
    return rc == -EINVAL ? usage() : 1;
  }
  cx_op_on(op, CX_OP_ON_CANCEL, on_cancel, NULL, NULL);

  /* The tally is the partial result from the start: the op owns it and
   * frees it with the op, so it outlives a cancel. */
  struct walk w = {op, calloc(1, sizeof(struct tally)), malloc(CHUNK_SIZE),
                   0.0};
  if (w.tally == NULL || w.buf == NULL) return 1;
  w.tally->digest = FNV_OFFSET;
  cx_op_set_partial_result(op, w.tally, free);

  rc = cx_op_enter(op);
  if (rc == 0) {
    rc = walk_tree(&w, dir);
    publish(&w);
    cx_op_exit(op, rc);
  } else {
    fprintf(stderr, "hash_files: cx_op_enter: %s\n", cx_strerror(rc));
  }
  free(w.buf);

  fprintf(stderr, "hash_files: %s after %.2f s\n",
          cx_status_name(cx_op_status(op)), cx_op_elapsed(op));
  print_context(op);
  int status = cx_op_status(op) == CX_STATUS_FAILED ? 1 : 0;
  cx_op_unref(op);
  return status;
}
