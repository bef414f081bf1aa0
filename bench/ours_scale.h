/* bench/ours_scale.h - our scenarios of scale (issue 19): contention (X7)
 * and growth (X8), linked into bench_ours.  See ours_scale.c. */
#ifndef BENCH_OURS_SCALE_H
#define BENCH_OURS_SCALE_H

#include <stdint.h>

void x7(void);
void x8(void);
/* ours.c: create, enter, exit and unref @n registered ops (X3's body). */
void x3_batch(uint64_t n, void *ctx);

#endif /* BENCH_OURS_SCALE_H */
