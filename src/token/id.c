/* src/token/id.c - UUID v4 ids from a per-thread xoshiro256** generator,
 * seeded once per thread (and again in a fork child) from getrandom(2), so
 * an id costs no system call. */
#include "cx_config.h"

#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#if defined(CX_HAVE_GETRANDOM)
#include <sys/random.h>
#endif

#include "runtime/alloc.h"
#include "runtime/fork.h"
#include "token/token.h"

static _Thread_local uint64_t state[4];
static _Thread_local bool seeded;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static void seed(void) {
  uint64_t s[4] = {0, 0, 0, 0}, mix;
  ssize_t got = -1;
  struct timespec ts;
#if defined(CX_HAVE_GETRANDOM)
  got = getrandom(s, sizeof s, GRND_NONBLOCK);
#endif
  if (got != (ssize_t)sizeof s) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      got = read(fd, s, sizeof s);
      close(fd);
    }
  }
  /* Mixed in always, so that even a failed read gives distinct streams. */
  clock_gettime(CLOCK_REALTIME, &ts);
  mix = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
        ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&state;
  for (int i = 0; i < 4; i++) state[i] = s[i] ^ splitmix(&mix);
  seeded = true;
}

void cx__id_random(uint64_t out[2]) {
  for (int i = 0; i < 2; i++) {
    uint64_t result, t;
    if (!seeded) seed();
    result = rotl(state[1] * 5, 7) * 9;
    t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    out[i] = result;
  }
}

void cx__id_format(const uint64_t bits[2], char *out) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  int j = 0;
  for (int i = 0; i < 8; i++) {
    b[i] = (unsigned char)(bits[0] >> (8 * i));
    b[8 + i] = (unsigned char)(bits[1] >> (8 * i));
  }
  b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[j++] = '-';
    out[j++] = hex[b[i] >> 4];
    out[j++] = hex[b[i] & 0x0F];
  }
  out[j] = '\0';
}

const char *cx__id_lazy(_Atomic(char *) *slot) {
  char *id = atomic_load_explicit(slot, memory_order_acquire), *expected;
  uint64_t bits[2];
  if (id != NULL) return id;
  id = cx__malloc(CX_ID_LEN + 1);
  if (id == NULL) return NULL;
  cx__id_random(bits);
  cx__id_format(bits, id);
  expected = NULL;
  if (!atomic_compare_exchange_strong(slot, &expected, id)) {
    cx__free(id); /* another thread made it first */
    return expected;
  }
  return id;
}

/* The forking thread is the child's only thread: reseed it so parent and
 * child never draw the same ids. */
static void fork_child(void) { seeded = false; }

static const cx__fork_hooks fork_hooks = {NULL, NULL, fork_child};

__attribute__((constructor)) static void register_fork_hooks(void) {
  cx__fork_register(&fork_hooks);
}
