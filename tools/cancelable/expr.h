/* tools/cancelable/expr.h - the source expression language of
 * `cancelable run --when=EXPR`.
 *
 * Grammar (keywords and kinds are case-insensitive; AND binds tighter than
 * OR; blanks separate tokens):
 *
 *   expr    := and ( ("OR" | "||" | "|") and )*
 *   and     := primary ( ("AND" | "&&" | "&") primary )*
 *   primary := "(" expr ")" | source
 *   source  := KIND [ ":" ARG ]
 *
 *   KIND:ARG               triggers (reason)
 *   timeout:DUR, after:DUR DUR after start (timeout); DUR as GNU timeout
 *   signal[:SIG,SIG...]    the tool receives one of the signals (signal);
 *                          default INT,TERM
 *   file:PATH              PATH exists (condition)
 *   cond:CMD, until:CMD    `sh -c CMD` exits with status 0 (condition)
 *   memory:PCT, mem:PCT    system memory use reaches PCT % (condition)
 *   cpu:PCT                system CPU use reaches PCT % (condition)
 *   disk:PCT[,PATH]        use of PATH's file system (default /) reaches
 *                          PCT % (condition)
 *   count:N                the command's progress count reaches N
 *                          (condition)
 *   progress:PCT           the command's progress reaches PCT % (condition)
 *
 * ARG is a bare word (no blanks, parentheses, '&' or '|'), or contains
 * quoted parts as in the shell: '...' taken literally, "..." with \" and
 * \\ escapes, and a backslash outside quotes escapes the next character.
 * An AND group triggers once each member has triggered at least once
 * ("after:60 AND count:1000": at least a minute and 1000 items); an OR
 * group triggers on its first member.  Nesting is limited to
 * EXPR_MAX_DEPTH parentheses, and to EXPR_MAX_DEPTH groups within groups
 * (an AND group inside an OR group counts, parenthesised or not), so that
 * the canonical form of expr_format(), which parenthesises every group,
 * stays within the limit and parses back.
 */
#ifndef CANCELABLE_TOOL_EXPR_H
#define CANCELABLE_TOOL_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#define EXPR_MAX_DEPTH 32
#define EXPR_MAX_SIGNALS 64

typedef enum expr_kind { EXPR_OR, EXPR_AND, EXPR_LEAF } expr_kind;

typedef enum leaf_kind {
  LEAF_TIMEOUT,
  LEAF_SIGNAL,
  LEAF_FILE,
  LEAF_COND,
  LEAF_MEMORY,
  LEAF_CPU,
  LEAF_DISK,
  LEAF_COUNT,
  LEAF_PROGRESS
} leaf_kind;

/* A parsed source: what it watches and its argument. */
typedef struct expr_leaf {
  leaf_kind kind;
  bool after;   /* LEAF_TIMEOUT written "after:DUR" (a minimum time): kept so
                   that the formatted expression and the report's
                   cancel_source say "after", as the user wrote */
  double value; /* seconds, percent or count */
  int signals[EXPR_MAX_SIGNALS]; /* LEAF_SIGNAL: the signals */
  size_t nsignals;
  char *text; /* (owned, nullable) file path, shell command or disk path */
} expr_leaf;

/* A node of the expression tree. */
typedef struct expr_node {
  expr_kind kind;
  size_t column;               /* 1-based column where it starts */
  struct expr_node **children; /* (owned) OR / AND: two or more */
  size_t count;
  expr_leaf leaf; /* EXPR_LEAF */
} expr_node;

/* Why a parse failed: the column (1-based) of the offending token, the
 * token itself and what was wrong. */
typedef struct expr_error {
  size_t column;
  char token[64];
  char message[160];
} expr_error;

/* expr_parse: parse @text.
 * @out: receives the tree (free with expr_free()), NULL on error.
 * @err: (nullable) receives the details of a failure.
 * Returns: 0, -EINVAL on a syntax or argument error, -ENOMEM. */
int expr_parse(const char *text, expr_node **out, expr_error *err);

/* expr_leaf_parse: validate @arg as the argument of a @kind source (the
 * text after "KIND:" in an expression; NULL when there is none) and fill
 * @out, as expr_parse() does; for options such as --until-file=PATH.
 * Returns: 0, -EINVAL (with @err filled), -ENOMEM.  Free @out->text. */
int expr_leaf_parse(leaf_kind kind, const char *arg, expr_leaf *out,
                    expr_error *err);

/* expr_free: free a tree.  @node: (nullable). */
void expr_free(expr_node *node);

/* expr_format: the canonical text of a tree (fully parenthesised groups,
 * lower-case kinds, quoted text arguments); expr_parse() of it gives the
 * same tree.
 * Returns: (transfer full) a malloc'ed string, or NULL when out of memory. */
char *expr_format(const expr_node *node);

/* expr_leaf_kind_name: "timeout", "signal", ... */
const char *expr_leaf_kind_name(leaf_kind kind);

/* expr_leaf_name: the keyword of @leaf as written: its kind's name, or
 * "after" for a timeout written so.  Returns: a static string. */
const char *expr_leaf_name(const expr_leaf *leaf);

#endif /* CANCELABLE_TOOL_EXPR_H */
