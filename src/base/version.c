/* src/base/version.c - run-time version. */
#include <cancelable/version.h>

unsigned cx_version(void) { return CX_VERSION_HEX; }

const char *cx_version_string(void) { return CX_VERSION_STRING; }
