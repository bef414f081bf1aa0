/* tools/cancelable/signames.c - translates between signal names and
 * numbers, for options such as --signal=TERM. */
#include "signames.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

typedef struct signame {
  const char *name;
  int number;
} signame;

static const signame names[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},     {"QUIT", SIGQUIT},
    {"ILL", SIGILL},       {"TRAP", SIGTRAP},   {"ABRT", SIGABRT},
    {"IOT", SIGABRT},      {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
    {"TERM", SIGTERM},     {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"WINCH", SIGWINCH}, {"POLL", SIGIO},
    {"IO", SIGIO},         {"PWR", SIGPWR},     {"SYS", SIGSYS},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"EXIT", 0},
};

/* Parses a whole decimal number in [0, max]; -1 when it is not one. */
static int parse_number(const char *text, int max) {
  char *end;
  long v;
  if (*text < '0' || *text > '9') return -1;
  errno = 0;
  v = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return -1;
  return (int)v;
}

/* "RTMIN", "RTMIN+N", "RTMAX", "RTMAX-N" (after "SIG" was skipped). */
static int parse_realtime(const char *text) {
  int base, sign, n = 0;
  if (strncasecmp(text, "RTMIN", 5) == 0) {
    base = SIGRTMIN;
    sign = 1;
  } else if (strncasecmp(text, "RTMAX", 5) == 0) {
    base = SIGRTMAX;
    sign = -1;
  } else {
    return -1;
  }
  text += 5;
  if (*text != '\0') {
    if (*text != (sign > 0 ? '+' : '-')) return -1;
    n = parse_number(text + 1, SIGRTMAX - SIGRTMIN);
    if (n < 0) return -1;
  }
  return base + sign * n;
}

int signame_parse(const char *text) {
  int n;
  if (text == NULL || *text == '\0') return -EINVAL;
  n = parse_number(text, SIGRTMAX);
  if (n >= 0) return n;
  if (strncasecmp(text, "SIG", 3) == 0) text += 3;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(text, names[i].name) == 0) return names[i].number;
  n = parse_realtime(text);
  return n >= 0 ? n : -EINVAL;
}

const char *signame_name(int signo, char *buf, size_t size) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].number == signo && signo != 0) return names[i].name;
  if (signo == SIGRTMIN) return "RTMIN";
  if (signo == SIGRTMAX) return "RTMAX";
  if (signo > SIGRTMIN && signo < SIGRTMAX) {
    if (signo - SIGRTMIN <= SIGRTMAX - signo)
      snprintf(buf, size, "RTMIN+%d", signo - SIGRTMIN);
    else
      snprintf(buf, size, "RTMAX-%d", SIGRTMAX - signo);
  } else {
    snprintf(buf, size, "%d", signo);
  }
  return buf;
}
