/* adapters/nats/tests/nats_testlib.c - see nats_testlib.h. */
#include "cx_test.h"

#include "nats_testlib.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *nsrv_program(void) {
  static char found[512];
  const char *path = getenv("PATH");
  char dirs[4096];
  snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/usr/bin",
           path != NULL ? path : "");
  for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
       d = strtok_r(NULL, ":", &save)) {
    snprintf(found, sizeof(found), "%s/nats-server", d);
    if (access(found, X_OK) == 0) return found;
  }
  return NULL;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int nsrv_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = loopback(0);
  socklen_t len = sizeof(a);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

void nsrv_init(nsrv *s) {
  memset(s, 0, sizeof(*s));
  s->port = nsrv_free_port();
  snprintf(s->dir, sizeof(s->dir), "/tmp/cx-nats-XXXXXX");
  assert_non_null(mkdtemp(s->dir));
  snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
}

static bool accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = loopback(port);
  bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

void nsrv_start(nsrv *s) {
  const char *prog = nsrv_program();
  assert_non_null(prog);
  char port[16], log[128];
  snprintf(port, sizeof(port), "%d", s->port);
  snprintf(log, sizeof(log), "%s/server.log", s->dir);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(prog, "nats-server", "-a", "127.0.0.1", "-p", port, "-js", "-sd",
          s->dir, (char *)NULL);
    _exit(127);
  }
  s->pid = pid;
  double end = cx_test_now() + 20;
  while (!accepts(s->port)) {
    assert_true(cx_test_now() < end);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
    cx_test_sleep(0.02);
  }
}

void nsrv_stop(nsrv *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  double end = cx_test_now() + 10;
  while (waitpid(s->pid, NULL, WNOHANG) == 0) {
    if (cx_test_now() > end) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
      break;
    }
    cx_test_sleep(0.02);
  }
  s->pid = 0;
}

void nsrv_cleanup(nsrv *s) {
  nsrv_stop(s);
  if (s->dir[0] != '\0') {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->dir);
  }
}

extern char **environ;

void peer_start(peer *p, char *const argv[]) {
  char *none[] = {NULL};
  peer_start_env(p, argv, none);
}

void peer_start_env(peer *p, char *const argv[], char *const env[]) {
  /* The environment is made before fork(): the child only execs. */
  size_t n = 0, k = 0;
  while (environ[n] != NULL) n++;
  while (env[k] != NULL) k++;
  char **all = calloc(n + k + 1, sizeof(*all));
  assert_non_null(all);
  memcpy(all, env, k * sizeof(*all));
  memcpy(all + k, environ, n * sizeof(*all));
  int fds[2];
  memset(p, 0, sizeof(*p));
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    execve(argv[0], argv, all);
    _exit(127);
  }
  free(all);
  close(fds[1]);
  p->pid = pid;
  p->fd = fds[0];
}

bool peer_line(peer *p, char *line, size_t size, double seconds) {
  double end = cx_test_now() + seconds;
  for (;;) {
    char *nl = memchr(p->buf, '\n', p->len);
    if (nl != NULL) {
      size_t n = (size_t)(nl - p->buf);
      snprintf(line, size, "%.*s", (int)n, p->buf);
      memmove(p->buf, nl + 1, p->len - n - 1);
      p->len -= n + 1;
      return true;
    }
    double left = end - cx_test_now();
    struct pollfd pfd = {p->fd, POLLIN, 0};
    if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) return false;
    ssize_t got = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len - 1);
    if (got <= 0) return false;
    p->len += (size_t)got;
  }
}

int peer_finish(peer *p, double seconds) {
  double end = cx_test_now() + seconds;
  int status = 0;
  while (waitpid(p->pid, &status, WNOHANG) == 0) {
    if (cx_test_now() > end) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &status, 0);
      break;
    }
    cx_test_sleep(0.02);
  }
  close(p->fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
