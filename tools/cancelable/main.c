/* tools/cancelable/main.c - the `cancelable` command: dispatches to the
 * `run` and `timeout` subcommands (or to `timeout` when invoked under that
 * name, through a symbolic link), and prints help and version. */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "gnu_compat.h"
#include "tool.h"

static void usage(FILE *f) {
  fputs(
      "Usage: cancelable run [OPTION]... [--] COMMAND [ARG]...\n"
      "       cancelable timeout [OPTION] DURATION COMMAND [ARG]...\n"
      "       cancelable cancel --nats=URL [OPTION]... (ID | --name=PATTERN |\n"
      "                         --parent=ID | --status=STATUS)\n"
      "       cancelable ps --nats=URL [--json | --serve[=ADDR] "
      "[--serve-cancel]]\n"
      "                     [--wait=DURATION]\n"
      "       cancelable --help | --version\n"
      "\n"
      "Run COMMAND as a cancellable operation of libcancelable, stopped by\n"
      "a timeout, a signal, a condition, a resource threshold or any\n"
      "combination of them (run), or as a drop-in GNU timeout (timeout);\n"
      "cancel or list the operations of every process on NATS (cancel,\n"
      "ps).  'cancelable COMMAND --help' lists each one's options; man\n"
      "cancelable(1) has the details.\n",
      f);
}

/* The last component of a path. */
static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash != NULL ? slash + 1 : path;
}

/* After --help or --version: 0, or 125 when the text could not be written
 * (GNU's close_stdout(): `cancelable --help >/dev/full`). */
static int printed(void) {
  return gnu_close_std("cancelable") ? 0 : EXIT_TOOL_ERROR;
}

int main(int argc, char **argv) {
  /* A link or a copy named `timeout` is a drop-in GNU timeout. */
  if (argc > 0 && strcmp(base_name(argv[0]), "timeout") == 0)
    return timeout_main(argc, argv, true);
  if (argc < 2) {
    usage(stderr);
    return EXIT_TOOL_ERROR;
  }
  if (strcmp(argv[1], "run") == 0) return run_main(argc - 1, argv + 1);
  if (strcmp(argv[1], "timeout") == 0)
    return timeout_main(argc - 1, argv + 1, false);
  if (strcmp(argv[1], "cancel") == 0) return cancel_main(argc - 1, argv + 1);
  if (strcmp(argv[1], "ps") == 0) return ps_main(argc - 1, argv + 1);
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return printed();
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
    printf("cancelable %s\n", cx_version_string());
    return printed();
  }
  fprintf(stderr,
          "cancelable: unknown command '%s'\n"
          "Try 'cancelable --help' for more information.\n",
          argv[1]);
  return EXIT_TOOL_ERROR;
}
