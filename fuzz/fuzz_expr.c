/* fuzz/fuzz_expr.c - the `-w`/`--when` expression parser of the tool
 * (tools/cancelable/expr.c).  Every input either parses or fails with
 * -EINVAL and an error that names a column inside the text; what parses
 * has a canonical form (expr_format()) that parses back to the same tree
 * and formats to the same text.  The input's first byte also picks a
 * source kind for expr_leaf_parse() of the rest, as options such as
 * --until-file do. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "fuzz_common.h"

/* Whether two leaves say the same (their columns may differ). */
static bool same_leaf(const expr_leaf *a, const expr_leaf *b) {
  if (a->kind != b->kind || a->nsignals != b->nsignals) return false;
  if (!(a->value == b->value || (isnan(a->value) && isnan(b->value))))
    return false;
  if (memcmp(a->signals, b->signals, a->nsignals * sizeof a->signals[0]))
    return false;
  if ((a->text == NULL) != (b->text == NULL)) return false;
  return a->text == NULL || strcmp(a->text, b->text) == 0;
}

/* Whether two trees have the same shape and leaves. */
static bool same_tree(const expr_node *a, const expr_node *b) {
  if (a->kind != b->kind || a->count != b->count) return false;
  if (a->kind == EXPR_LEAF) return same_leaf(&a->leaf, &b->leaf);
  for (size_t i = 0; i < a->count; i++)
    if (!same_tree(a->children[i], b->children[i])) return false;
  return true;
}

/* The checks every error must pass. */
static void check_error(const char *text, int rc, const expr_error *err) {
  FUZZ_CHECK(rc == -EINVAL || rc == -ENOMEM);
  FUZZ_CHECK(memchr(err->token, '\0', sizeof err->token) != NULL);
  FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) != NULL);
  FUZZ_CHECK(err->message[0] != '\0');
  if (rc == -EINVAL)
    FUZZ_CHECK(err->column >= 1 && err->column <= strlen(text) + 1);
}

/* Parses @text; when it parses, its canonical form must round-trip. */
static void check_expression(const char *text) {
  expr_node *tree = (expr_node *)1, *again = NULL;
  expr_error err;
  char *canon, *canon2;
  int rc = expr_parse(text, &tree, &err);
  if (rc != 0) {
    FUZZ_CHECK(tree == NULL);
    check_error(text, rc, &err);
    return;
  }
  canon = expr_format(tree);
  FUZZ_CHECK(canon != NULL);
  rc = expr_parse(canon, &again, &err);
  if (rc != 0) {
    fprintf(stderr, "canonical form '%s' does not parse: column %zu: %s\n",
            canon, err.column, err.message);
    FUZZ_CHECK(rc == 0);
  }
  FUZZ_CHECK(same_tree(tree, again));
  canon2 = expr_format(again);
  FUZZ_CHECK(canon2 != NULL && strcmp(canon, canon2) == 0);
  free(canon);
  free(canon2);
  expr_free(again);
  expr_free(tree);
}

/* expr_leaf_parse() of @arg (nullable) as a source of kind @kind. */
static void check_leaf(leaf_kind kind, const char *arg) {
  expr_leaf leaf;
  expr_error err;
  int rc = expr_leaf_parse(kind, arg, &leaf, &err);
  if (rc != 0) {
    FUZZ_CHECK(leaf.text == NULL);
    check_error(arg != NULL ? arg : "", rc, &err);
    return;
  }
  FUZZ_CHECK(leaf.kind == kind);
  if (kind == LEAF_FILE || kind == LEAF_COND)
    FUZZ_CHECK(leaf.text != NULL && leaf.text[0] != '\0');
  if (kind == LEAF_SIGNAL) FUZZ_CHECK(leaf.nsignals > 0);
  free(leaf.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size);
  check_expression(text);
  if (size > 0)
    check_leaf((leaf_kind)(data[0] % (LEAF_PROGRESS + 1)),
               data[0] >= 0x80 ? NULL : text + 1);
  free(text);
  return 0;
}
