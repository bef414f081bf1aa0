/* tests/common/cx_test_registry.c - see cx_test_registry.h. */
#include "cx_test_registry.h"

#include <stdio.h>

#include "cx_test.h"

const char *cx_test_op_names(const cx_op_list *l, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < l->count && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "",
                          cx_op_name(l->ops[i]));
  return buf;
}

const char *cx_test_live_names(const cx_op_filter *f, char *buf, size_t len) {
  cx_op_list l = {0};
  CX_ASSERT_OK(cx_registry_list(f, &l));
  cx_test_op_names(&l, buf, len);
  cx_op_list_free(&l);
  return buf;
}

const char *cx_test_history_names(const cx_op_filter *f, size_t newest,
                                  char *buf, size_t len) {
  cx_op_list l = {0};
  CX_ASSERT_OK(cx_registry_history(f, newest, &l));
  cx_test_op_names(&l, buf, len);
  cx_op_list_free(&l);
  return buf;
}
