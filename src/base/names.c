/* src/base/names.c - names of statuses, reasons and error codes. */
#include "cx_config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <cancelable/common.h>

bool cx_status_is_terminal(cx_status status) {
  return status == CX_STATUS_COMPLETED || status == CX_STATUS_CANCELLED ||
         status == CX_STATUS_FAILED;
}

bool cx_status_is_success(cx_status status) {
  return status == CX_STATUS_COMPLETED;
}

bool cx_status_is_cancelled(cx_status status) {
  return status == CX_STATUS_CANCELLED;
}

const char *cx_status_name(cx_status status) {
  switch (status) {
#define CX_XX_(name, value, text) \
  case CX_STATUS_##name:          \
    return text;
    CX_STATUS_MAP(CX_XX_)
#undef CX_XX_
  }
  return "unknown";
}

const char *cx_reason_name(cx_reason reason) {
  switch (reason) {
#define CX_XX_(name, value, text) \
  case CX_REASON_##name:          \
    return text;
    CX_REASON_MAP(CX_XX_)
#undef CX_XX_
  }
  return "unknown";
}

/* The errors this library returns, with their names and texts. */
#define CX_ERRNO_MAP(XX)                                                \
  XX(EINVAL, "invalid argument")                                        \
  XX(ENOMEM, "out of memory")                                           \
  XX(ECANCELED, "operation cancelled")                                  \
  XX(ETIMEDOUT, "timed out")                                            \
  XX(EBUSY, "busy: already started or in use")                          \
  XX(EPERM, "not the innermost operation of this thread")               \
  XX(EMFILE, "too many open files in this process")                     \
  XX(ENFILE, "too many open files in the system")                       \
  XX(EAGAIN, "resource temporarily unavailable")                        \
  XX(ENOENT, "no such entry")                                           \
  XX(EPROTOTYPE, "value has another type")                              \
  XX(ESRCH, "signal-safe cancel not prepared (cx_signal_safe_prepare)") \
  XX(EINTR, "interrupted")                                              \
  XX(EBADF, "bad file descriptor")                                      \
  XX(ENOSYS, "not supported")

const char *cx_strerror(int err) {
  if (err == INT_MIN) return "unknown error"; /* has no positive */
  if (err < 0) err = -err;
  if (err == 0) return "success";
  switch (err) {
#define CX_XX_(name, text) \
  case name:               \
    return text;
    CX_ERRNO_MAP(CX_XX_)
#undef CX_XX_
    default:
      break;
  }
#if defined(CX_HAVE_STRERRORNAME_NP)
  /* Work results may be any errno: glibc's static descriptions. */
  if (strerrordesc_np(err) != NULL) return strerrordesc_np(err);
#endif
  return "unknown error";
}

const char *cx_err_name(int err) {
  if (err == INT_MIN) return "UNKNOWN"; /* has no positive */
  if (err < 0) err = -err;
  if (err == 0) return "OK";
  switch (err) {
#define CX_XX_(name, text) \
  case name:               \
    return #name;
    CX_ERRNO_MAP(CX_XX_)
#undef CX_XX_
    default:
      break;
  }
#if defined(CX_HAVE_STRERRORNAME_NP)
  if (strerrorname_np(err) != NULL) return strerrorname_np(err);
#endif
  return "UNKNOWN";
}
