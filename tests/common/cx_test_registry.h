/* tests/common/cx_test_registry.h - compact views of registry lists for
 * the registry tests: the names of a list's ops, joined with ','. */
#ifndef CX_TEST_REGISTRY_H
#define CX_TEST_REGISTRY_H

#include <cancelable.h>

/* The names of @l's ops joined with ',' into @buf (@len bytes, cut short
 * when it fills); returns @buf. */
const char *cx_test_op_names(const cx_op_list *l, char *buf, size_t len);
/* The names of the live ops cx_registry_list(@f) gives (asserting that it
 * succeeds), as cx_test_op_names(); returns @buf. */
const char *cx_test_live_names(const cx_op_filter *f, char *buf, size_t len);
/* The same for cx_registry_history(@f, @newest). */
const char *cx_test_history_names(const cx_op_filter *f, size_t newest,
                                  char *buf, size_t len);

#endif /* CX_TEST_REGISTRY_H */
