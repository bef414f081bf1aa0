/* adapters/nats/tests/nats_testlib.h - what the NATS tests share: a real
 * nats-server on 127.0.0.1 (a free port, JetStream in a temporary folder,
 * stopped by its pid) and helper processes whose output lines are read
 * with a time limit. */
#ifndef NATS_TESTLIB_H
#define NATS_TESTLIB_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct nsrv {
  pid_t pid;
  int port;
  char dir[64]; /* the JetStream store and the log */
  char url[64];
} nsrv;

/* The nats-server program (PATH, then /usr/sbin and /usr/bin), or NULL. */
const char *nsrv_program(void);
/* A TCP port of 127.0.0.1 free now. */
int nsrv_free_port(void);
/* Prepares @s (a free port, a temporary folder) without starting it. */
void nsrv_init(nsrv *s);
/* Starts the server of @s and waits until it accepts connections; fails
 * the test otherwise. */
void nsrv_start(nsrv *s);
/* Stops it (SIGTERM, then SIGKILL after 10 s) and reaps it. */
void nsrv_stop(nsrv *s);
/* nsrv_stop() and removes the folder. */
void nsrv_cleanup(nsrv *s);

typedef struct peer {
  pid_t pid;
  int fd;         /* its stdout */
  char buf[4096]; /* bytes read not yet returned */
  size_t len;
} peer;

/* Starts @argv (argv[0] a path) with stdout piped; fails the test on
 * error. */
void peer_start(peer *p, char *const argv[]);
/* peer_start() with @env ("NAME=VALUE" strings, NULL-terminated) added to
 * its environment. */
void peer_start_env(peer *p, char *const argv[], char *const env[]);
/* The next line of its output (without the newline) in @line, waiting at
 * most @seconds; false on timeout or end of output. */
bool peer_line(peer *p, char *line, size_t size, double seconds);
/* Waits at most @seconds for it to end (then SIGKILL); its exit status,
 * or -1 when it was killed. */
int peer_finish(peer *p, double seconds);

#endif /* NATS_TESTLIB_H */
