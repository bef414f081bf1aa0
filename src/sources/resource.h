/* src/sources/resource.h - the resource source's test seam. */
#ifndef CX_RESOURCE_H
#define CX_RESOURCE_H

/* A probe that replaces the readers of /proc and statvfs: the value, in
 * percent, of resource @what ("memory", "cpu" or "disk"), or -1 when
 * unreadable.  Runs on a condition worker. */
typedef double (*cx__resource_probe_fn)(const char *what);

/* Makes every resource source sample through @fn (NULL: the real readers
 * again), for tests that need values to rise and dip on the virtual
 * clock. */
void cx__resource_set_probe(cx__resource_probe_fn fn);

#endif /* CX_RESOURCE_H */
