/* tools/cancelable/bus.h - the tool on NATS (libcancelable-nats, when the
 * tool was built with it: CX_TOOL_HAVE_NATS): `run --nats URL` puts the
 * run's op on the bus and passes its context to the command in
 * $CANCELABLE_CONTEXT; `cancel` and `ps` cancel and list ops of every
 * node.  Without the adapter each says what to install. */
#ifndef CANCELABLE_TOOL_BUS_H
#define CANCELABLE_TOOL_BUS_H

#include <cancelable.h>

typedef struct bus bus;

/* bus_attach: attach to the servers @url (comma-separated) as the node
 * "HOSTNAME:PID"; returns at once (the connection is made in the
 * background).  Returns: 0, -ENOTSUP without the adapter, or the
 * adapter's error; each said on stderr, prefixed with @prog. */
int bus_attach(const char *prog, const char *url, bus **out);

/* bus_create_op: cx_op_create(), or, when $CANCELABLE_CONTEXT holds a
 * context, the child of that remote op (its deadline inherited, cancelled
 * with it).  Returns: as cx_op_create(); -EINVAL a malformed context. */
int bus_create_op(bus *b, const cx_op_options *opts, cx_op **out);

/* bus_export: put @op's context in this process's $CANCELABLE_CONTEXT, for
 * the command started next.  Returns: 0 or a negative errno. */
int bus_export(bus *b, cx_op *op);

/* bus_detach: NULL is a no-op. */
void bus_detach(bus *b);

/* `cancelable cancel` and `cancelable ps` (@argv[0] is the subcommand).
 * Return: the tool's exit status. */
int cancel_main(int argc, char **argv);
int ps_main(int argc, char **argv);

#endif /* CANCELABLE_TOOL_BUS_H */
