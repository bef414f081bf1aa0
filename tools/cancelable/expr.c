/* tools/cancelable/expr.c - parses and prints source expressions such as
 * "(timeout:300 OR signal:TERM) OR (after:60 AND count:1000)"; the grammar
 * is in expr.h.  Pure C: it builds a tree and knows nothing of the library
 * (triggers.c turns the tree into cx_source objects). */
#include "expr.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cxu_utf8.h"
#include "duration.h"
#include "signames.h"

typedef enum tok_kind {
  TOK_END,
  TOK_LPAREN,
  TOK_RPAREN,
  TOK_AND,
  TOK_OR,
  TOK_WORD
} tok_kind;

/* One token.  For words, @value is the text with quotes removed and
 * @colon the index of its first unquoted ':' (SIZE_MAX when none). */
typedef struct token {
  tok_kind kind;
  size_t start; /* offset in the expression text */
  size_t end;
  char *value; /* (owned) TOK_WORD */
  size_t colon;
} token;

typedef struct parser {
  const char *text;
  size_t pos;
  token tok;
  int depth;
  int rc; /* 0, -EINVAL or -ENOMEM: the first failure */
  expr_error *err;
} parser;

static const struct {
  const char *name;
  leaf_kind kind;
} kinds[] = {
    {"timeout", LEAF_TIMEOUT}, {"after", LEAF_TIMEOUT},
    {"signal", LEAF_SIGNAL},   {"file", LEAF_FILE},
    {"cond", LEAF_COND},       {"until", LEAF_COND},
    {"memory", LEAF_MEMORY},   {"mem", LEAF_MEMORY},
    {"cpu", LEAF_CPU},         {"disk", LEAF_DISK},
    {"count", LEAF_COUNT},     {"progress", LEAF_PROGRESS},
};

const char *expr_leaf_kind_name(leaf_kind kind) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (kinds[i].kind == kind) return kinds[i].name;
  return "unknown";
}

const char *expr_leaf_name(const expr_leaf *leaf) {
  return leaf->kind == LEAF_TIMEOUT && leaf->after
             ? "after"
             : expr_leaf_kind_name(leaf->kind);
}

static void fail(parser *p, size_t start, size_t end, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records the first error: the offending token's text and column. */
static void fail(parser *p, size_t start, size_t end, const char *fmt, ...) {
  va_list ap;
  size_t n = end - start;
  if (p->rc != 0) return;
  p->rc = -EINVAL;
  if (p->err == NULL) return;
  p->err->column = start + 1;
  if (start >= strlen(p->text)) {
    snprintf(p->err->token, sizeof p->err->token, "end of expression");
  } else {
    if (n >= sizeof p->err->token)
      n = cxu_utf8_cut(p->text + start, sizeof p->err->token - 1);
    memcpy(p->err->token, p->text + start, n);
    p->err->token[n] = '\0';
  }
  va_start(ap, fmt);
  cxu_utf8_vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
  va_end(ap);
}

static void nomem(parser *p) {
  if (p->rc != 0) return;
  p->rc = -ENOMEM;
  if (p->err != NULL) {
    p->err->column = p->pos + 1;
    p->err->token[0] = '\0';
    snprintf(p->err->message, sizeof p->err->message, "out of memory");
  }
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool ends_word(char c) {
  return c == '\0' || is_blank(c) || c == '(' || c == ')' || c == '&' ||
         c == '|';
}

/* Reads a word at p->pos into @t, removing quotes. */
static void lex_word(parser *p, token *t) {
  const char *s = p->text;
  size_t i = p->pos, n = 0;
  bool bare = true;
  char *v = malloc(strlen(s + i) + 1);
  if (v == NULL) {
    nomem(p);
    return;
  }
  t->colon = SIZE_MAX;
  while (!ends_word(s[i])) {
    char c = s[i];
    if (c == '\'' || c == '"') {
      size_t open = i++;
      bare = false;
      while (s[i] != '\0' && s[i] != c) {
        if (c == '"' && s[i] == '\\' && (s[i + 1] == '"' || s[i + 1] == '\\'))
          i++;
        v[n++] = s[i++];
      }
      if (s[i] == '\0') {
        fail(p, open, open + 1, "unterminated quote");
        free(v);
        return;
      }
      i++;
    } else if (c == '\\') {
      bare = false;
      if (s[i + 1] == '\0') {
        fail(p, i, i + 1, "backslash at the end of the expression");
        free(v);
        return;
      }
      v[n++] = s[i + 1];
      i += 2;
    } else {
      if (c == ':' && t->colon == SIZE_MAX) t->colon = n;
      v[n++] = c;
      i++;
    }
  }
  v[n] = '\0';
  t->end = i;
  p->pos = i;
  if (bare && strcasecmp(v, "and") == 0) {
    t->kind = TOK_AND;
    free(v);
  } else if (bare && strcasecmp(v, "or") == 0) {
    t->kind = TOK_OR;
    free(v);
  } else {
    t->kind = TOK_WORD;
    t->value = v;
  }
}

/* Replaces p->tok with the next token. */
static void advance(parser *p) {
  const char *s = p->text;
  token *t = &p->tok;
  free(t->value);
  memset(t, 0, sizeof *t);
  if (p->rc != 0) return;
  while (is_blank(s[p->pos])) p->pos++;
  t->start = p->pos;
  t->end = p->pos + 1;
  switch (s[p->pos]) {
    case '\0':
      t->kind = TOK_END;
      t->end = p->pos;
      return;
    case '(':
      t->kind = TOK_LPAREN;
      p->pos++;
      return;
    case ')':
      t->kind = TOK_RPAREN;
      p->pos++;
      return;
    case '&':
    case '|':
      t->kind = s[p->pos] == '&' ? TOK_AND : TOK_OR;
      p->pos += s[p->pos + 1] == s[p->pos] ? 2 : 1;
      t->end = p->pos;
      return;
    default:
      lex_word(p, t);
  }
}

/* A percentage in (0, 100], optionally followed by '%'. */
static bool parse_percent(const char *text, double *out) {
  char *end;
  double v;
  if (*text == '\0' || is_blank(*text)) return false;
  v = strtod(text, &end);
  if (end == text) return false;
  if (*end == '%') end++;
  if (*end != '\0' || !(v > 0 && v <= 100)) return false;
  *out = v;
  return true;
}

/* A whole count >= 1 (at most 2^53, exact in a double). */
static bool parse_count(const char *text, double *out) {
  char *end;
  unsigned long long v;
  if (*text < '0' || *text > '9') return false;
  errno = 0;
  v = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < 1 || v > (1ull << 53)) return false;
  *out = (double)v;
  return true;
}

/* Fills @leaf->signals from a comma-separated list. */
static void parse_signals(parser *p, const token *t, const char *list,
                          expr_leaf *leaf) {
  const char *s = list;
  while (p->rc == 0) {
    size_t n = strcspn(s, ",");
    char name[32];
    int signo;
    if (n == 0 || n >= sizeof name) {
      fail(p, t->start, t->end, "bad signal list '%s'", list);
      return;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    signo = signame_parse(name);
    if (signo < 0) {
      fail(p, t->start, t->end, "unknown signal '%s'", name);
      return;
    }
    if (signo == 0 || signo == SIGKILL || signo == SIGSTOP) {
      fail(p, t->start, t->end, "signal '%s' cannot be caught", name);
      return;
    }
    if (leaf->nsignals == EXPR_MAX_SIGNALS) {
      fail(p, t->start, t->end, "more than %d signals", EXPR_MAX_SIGNALS);
      return;
    }
    leaf->signals[leaf->nsignals++] = signo;
    if (s[n] == '\0') return;
    s += n + 1;
  }
}

/* Copies @text into the leaf, or fails when it is empty. */
static void take_text(parser *p, const token *t, const char *text,
                      expr_leaf *leaf, const char *what) {
  if (text == NULL || *text == '\0') {
    fail(p, t->start, t->end, "%s needs %s", expr_leaf_kind_name(leaf->kind),
         what);
    return;
  }
  leaf->text = strdup(text);
  if (leaf->text == NULL) nomem(p);
}

static void parse_disk(parser *p, const token *t, const char *arg,
                       expr_leaf *leaf) {
  char pct[64];
  size_t n = strcspn(arg, ",");
  if (n >= sizeof pct) n = sizeof pct - 1;
  memcpy(pct, arg, n);
  pct[n] = '\0';
  if (!parse_percent(pct, &leaf->value)) {
    fail(p, t->start, t->end, "invalid percentage '%s' (want 0 < P <= 100)",
         pct);
    return;
  }
  if (arg[n] == ',') take_text(p, t, arg + n + 1, leaf, "a path after ','");
}

/* Interprets a word token "KIND[:ARG]" as a source. */
static void parse_leaf_arg(parser *p, const token *t, const char *arg,
                           expr_leaf *leaf) {
  const char *kind = expr_leaf_name(leaf);
  if (arg == NULL && leaf->kind != LEAF_SIGNAL) {
    fail(p, t->start, t->end, "'%s' needs an argument (%s:...)", kind, kind);
    return;
  }
  switch (leaf->kind) {
    case LEAF_TIMEOUT:
      if (duration_parse(arg, &leaf->value) != 0)
        fail(p, t->start, t->end, "invalid duration '%s'", arg);
      else if (!(leaf->value > 0) || isinf(leaf->value))
        fail(p, t->start, t->end, "%s needs a finite duration > 0", kind);
      return;
    case LEAF_SIGNAL:
      parse_signals(p, t, arg != NULL ? arg : "INT,TERM", leaf);
      return;
    case LEAF_FILE:
      take_text(p, t, arg, leaf, "a path");
      return;
    case LEAF_COND:
      take_text(p, t, arg, leaf, "a shell command");
      return;
    case LEAF_DISK:
      parse_disk(p, t, arg, leaf);
      return;
    case LEAF_COUNT:
      if (!parse_count(arg, &leaf->value))
        fail(p, t->start, t->end, "invalid count '%s' (want N >= 1)", arg);
      return;
    case LEAF_MEMORY:
    case LEAF_CPU:
    case LEAF_PROGRESS:
      if (!parse_percent(arg, &leaf->value))
        fail(p, t->start, t->end, "invalid percentage '%s' (want 0 < P <= 100)",
             arg);
      return;
  }
}

static expr_node *new_node(parser *p, expr_kind kind, size_t column) {
  expr_node *n = calloc(1, sizeof *n);
  if (n == NULL) {
    nomem(p);
    return NULL;
  }
  n->kind = kind;
  n->column = column;
  return n;
}

static expr_node *parse_leaf(parser *p) {
  const token *t = &p->tok;
  const char *v = t->value, *arg = NULL;
  char kind[16];
  size_t klen = t->colon == SIZE_MAX ? strlen(v) : t->colon;
  expr_node *n;
  bool found = false;
  if (klen == 0 || klen >= sizeof kind) {
    fail(p, t->start, t->end, "unknown source kind in '%s'", v);
    return NULL;
  }
  memcpy(kind, v, klen);
  kind[klen] = '\0';
  if (t->colon != SIZE_MAX) arg = v + t->colon + 1;
  n = new_node(p, EXPR_LEAF, t->start + 1);
  if (n == NULL) return NULL;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && !found; i++) {
    if (strcasecmp(kind, kinds[i].name) == 0) {
      n->leaf.kind = kinds[i].kind;
      n->leaf.after = strcasecmp(kind, "after") == 0;
      found = true;
    }
  }
  if (!found)
    fail(p, t->start, t->end,
         "unknown source kind '%s' (want timeout, after, signal, file, "
         "cond, until, memory, cpu, disk, count or progress)",
         kind);
  else
    parse_leaf_arg(p, t, arg, &n->leaf);
  if (p->rc != 0) {
    expr_free(n);
    return NULL;
  }
  advance(p);
  return n;
}

static expr_node *parse_or(parser *p);

static expr_node *parse_primary(parser *p) {
  const token *t = &p->tok;
  if (t->kind == TOK_LPAREN) {
    size_t open = t->start;
    expr_node *inner;
    if (++p->depth > EXPR_MAX_DEPTH) {
      fail(p, t->start, t->end, "parentheses nested deeper than %d",
           EXPR_MAX_DEPTH);
      return NULL;
    }
    advance(p);
    inner = parse_or(p);
    if (inner != NULL && t->kind != TOK_RPAREN)
      fail(p, t->start, t->end, "expected ')' to close the '(' at column %zu",
           open + 1);
    if (p->rc != 0) {
      expr_free(inner);
      return NULL;
    }
    p->depth--;
    advance(p);
    return inner;
  }
  if (t->kind == TOK_WORD) return parse_leaf(p);
  if (p->rc == 0)
    fail(p, t->start, t->end,
         "expected a source (such as timeout:30 or signal:TERM) or '('");
  return NULL;
}

/* Appends @child to the group @group (created on the first call). */
static bool add_child(parser *p, expr_node **group, expr_kind kind,
                      expr_node *first, expr_node *child) {
  expr_node *g = *group, **c;
  if (g == NULL) {
    g = new_node(p, kind, first->column);
    if (g == NULL) return false;
    g->children = malloc(sizeof *g->children);
    if (g->children == NULL) {
      free(g);
      nomem(p);
      return false;
    }
    g->children[g->count++] = first;
    *group = g;
  }
  c = realloc(g->children, (g->count + 1) * sizeof *c);
  if (c == NULL) {
    nomem(p);
    return false;
  }
  g->children = c;
  g->children[g->count++] = child;
  return true;
}

/* Parses "operand (OP operand)*" for OP = AND or OR. */
static expr_node *parse_chain(parser *p, tok_kind op, expr_kind kind,
                              expr_node *(*operand)(parser *)) {
  expr_node *first = operand(p), *group = NULL;
  if (first == NULL) return NULL;
  while (p->rc == 0 && p->tok.kind == op) {
    expr_node *next;
    advance(p);
    next = operand(p);
    if (next == NULL) break;
    if (!add_child(p, &group, kind, first, next)) {
      expr_free(next);
      break;
    }
  }
  if (p->rc != 0) {
    if (group != NULL)
      expr_free(group);
    else
      expr_free(first);
    return NULL;
  }
  return group != NULL ? group : first;
}

static expr_node *parse_and(parser *p) {
  return parse_chain(p, TOK_AND, EXPR_AND, parse_primary);
}

static expr_node *parse_or(parser *p) {
  return parse_chain(p, TOK_OR, EXPR_OR, parse_and);
}

/* The first group of @n (at nesting @level, 1 for the root) that sits
 * inside more than EXPR_MAX_DEPTH groups, or NULL.  The recursion is
 * bounded: the parser already refused more than EXPR_MAX_DEPTH
 * parentheses, and precedence at most doubles the groups. */
static const expr_node *too_deep(const expr_node *n, int level) {
  if (n->kind == EXPR_LEAF) return NULL;
  if (level > EXPR_MAX_DEPTH) return n;
  for (size_t i = 0; i < n->count; i++) {
    const expr_node *deep = too_deep(n->children[i], level + 1);
    if (deep != NULL) return deep;
  }
  return NULL;
}

int expr_parse(const char *text, expr_node **out, expr_error *err) {
  parser p;
  expr_node *root;
  if (out != NULL) *out = NULL;
  if (err != NULL) memset(err, 0, sizeof *err);
  if (text == NULL || out == NULL) return -EINVAL;
  memset(&p, 0, sizeof p);
  p.text = text;
  p.err = err;
  advance(&p);
  if (p.rc == 0 && p.tok.kind == TOK_END) {
    fail(&p, p.tok.start, p.tok.end, "empty expression");
    return p.rc;
  }
  root = parse_or(&p);
  if (root != NULL && p.tok.kind != TOK_END)
    fail(&p, p.tok.start, p.tok.end,
         p.tok.kind == TOK_RPAREN ? "')' without a matching '('"
                                  : "expected AND, OR or the end");
  if (p.rc == 0) {
    /* expr_format() parenthesises every group: keep its text parsable. */
    const expr_node *deep = too_deep(root, 1);
    if (deep != NULL)
      fail(&p, deep->column - 1, strlen(text),
           "groups nested deeper than %d (an AND inside an OR is a level)",
           EXPR_MAX_DEPTH);
  }
  free(p.tok.value);
  if (p.rc != 0) {
    expr_free(root);
    return p.rc;
  }
  *out = root;
  return 0;
}

int expr_leaf_parse(leaf_kind kind, const char *arg, expr_leaf *out,
                    expr_error *err) {
  parser p;
  token t;
  memset(out, 0, sizeof *out);
  if (err != NULL) memset(err, 0, sizeof *err);
  memset(&p, 0, sizeof p);
  memset(&t, 0, sizeof t);
  p.text = arg != NULL ? arg : "";
  p.err = err;
  t.end = strlen(p.text);
  out->kind = kind;
  parse_leaf_arg(&p, &t, arg, out);
  if (p.rc != 0) {
    free(out->text);
    out->text = NULL;
  }
  return p.rc;
}

void expr_free(expr_node *node) {
  if (node == NULL) return;
  for (size_t i = 0; i < node->count; i++) expr_free(node->children[i]);
  free(node->children);
  free(node->leaf.text);
  free(node);
}

/* ---- Printing. */

typedef struct sbuf {
  char *s;
  size_t len, cap;
  bool failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap == 0 ? 64 : b->cap;
    char *q;
    while (cap < b->len + n + 1) cap *= 2;
    q = realloc(b->s, cap);
    if (q == NULL) {
      b->failed = true;
      return;
    }
    b->s = q;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_number(sbuf *b, double v) {
  char num[40];
  snprintf(num, sizeof num, "%.17g", v);
  sb_str(b, num);
}

/* Writes @s in double quotes, escaping '"' and '\'. */
static void sb_quoted(sbuf *b, const char *s) {
  sb_add(b, "\"", 1);
  for (; *s != '\0'; s++) {
    if (*s == '"' || *s == '\\') sb_add(b, "\\", 1);
    sb_add(b, s, 1);
  }
  sb_add(b, "\"", 1);
}

static void format_leaf(sbuf *b, const expr_leaf *l) {
  char name[16];
  sb_str(b, expr_leaf_name(l));
  sb_add(b, ":", 1);
  switch (l->kind) {
    case LEAF_SIGNAL:
      for (size_t i = 0; i < l->nsignals; i++) {
        if (i > 0) sb_add(b, ",", 1);
        sb_str(b, signame_name(l->signals[i], name, sizeof name));
      }
      break;
    case LEAF_FILE:
    case LEAF_COND:
      sb_quoted(b, l->text);
      break;
    case LEAF_DISK:
      sb_number(b, l->value);
      if (l->text != NULL) {
        sb_add(b, ",", 1);
        sb_quoted(b, l->text);
      }
      break;
    default:
      sb_number(b, l->value);
      break;
  }
}

static void format_node(sbuf *b, const expr_node *n) {
  if (n->kind == EXPR_LEAF) {
    format_leaf(b, &n->leaf);
    return;
  }
  sb_add(b, "(", 1);
  for (size_t i = 0; i < n->count; i++) {
    if (i > 0) sb_str(b, n->kind == EXPR_AND ? " AND " : " OR ");
    format_node(b, n->children[i]);
  }
  sb_add(b, ")", 1);
}

char *expr_format(const expr_node *node) {
  sbuf b = {NULL, 0, 0, false};
  if (node == NULL) return NULL;
  format_node(&b, node);
  if (b.failed) {
    free(b.s);
    return NULL;
  }
  return b.s;
}
