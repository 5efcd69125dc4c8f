/*
 * util.h: small helpers shared by the library's files (never installed).
 */
#ifndef PRDSHM_INTERNAL_UTIL_H
#define PRDSHM_INTERNAL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "prdshm.h"

#define PRDSHM__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define PRDSHM__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define PRDSHM__LIKELY(x) __builtin_expect(!!(x), 1)
#define PRDSHM__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PRDSHM__PRINTF(f, a)
#define PRDSHM__LIKELY(x) (x)
#define PRDSHM__UNLIKELY(x) (x)
#endif

/* ThreadSanitizer builds (GCC defines __SANITIZE_THREAD__, clang has the
 * feature test). */
#if defined(__SANITIZE_THREAD__)
#define PRDSHM__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PRDSHM__TSAN 1
#endif
#endif

/*
 * Record the detailed message of a failure for prdshm_last_error() and
 * return @p err, so that callers can write `return prdshm__fail(...)`.
 */
int prdshm__fail(int err, const char *fmt, ...) PRDSHM__PRINTF(2, 3);
/* The same, appending ": strerror(errno)" and mapping errno to a code. */
int prdshm__fail_errno(int err_default, const char *fmt, ...) PRDSHM__PRINTF(2, 3);

/* Whether the thread's message belongs to its latest call: set by
 * prdshm__fail(), cleared by prdshm__call_begin().  Initial-exec, like the
 * lock path's other thread-locals: a store to it calls nothing. */
extern __thread unsigned char prdshm__error_set __attribute__((tls_model("initial-exec")));

/*
 * The first statement of every public function that returns an error code:
 * the thread's previous message is forgotten, so that after the call
 * prdshm_last_error() is this call's failure or "" (see prdshm.h).  At the
 * entry rather than at each return: one place per function, and a public
 * function the library calls itself (prdshm_lock_many() -> prdshm_lock())
 * clears only what the outer call then sets again if it fails.  A call
 * that handles a failure of its own and then succeeds ends with
 * prdshm__call_ok().  One thread-local store: cheap enough for the lock
 * path (see `make bench`).
 */
static inline void prdshm__call_begin(void)
{
	prdshm__error_set = 0;
}

/* Success, forgetting the failures the call handled itself. */
static inline int prdshm__call_ok(void)
{
	prdshm__error_set = 0;
	return 0;
}

/* The thread's message, kept across the library calls a caller's report
 * callback may make (see report.c). */
struct prdshm__saved_error {
	unsigned char set;
	char msg[512];
};
void prdshm__error_save(struct prdshm__saved_error *e);
void prdshm__error_restore(const struct prdshm__saved_error *e);

/* A spin-wait hint to the CPU. */
static inline void prdshm__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Clocks, in nanoseconds. */
uint64_t prdshm__now_mono(void);
uint64_t prdshm__now_real(void);
/* Wall clock to the last tick (a few ms): for display-only times on hot
 * paths, where it costs a fraction of the precise clock. */
uint64_t prdshm__now_real_coarse(void);

/* Unaligned loads (memcpy compiles to one move). */
static inline uint64_t prdshm__load64(const void *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static inline uint32_t prdshm__load32(const void *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/*
 * The resource-name hash, stored in lock slots (the segment's layout hash
 * includes PRDSHM__HASH_VERSION: bump it whenever the values change).
 * Every lock and unlock hashes the name, so it is inline and takes eight
 * bytes per step (a multiply-xorshift like wyhash's core); the last step
 * reads the final eight bytes even if they overlap the previous step, so
 * there is no byte loop.  MurmurHash3's finaliser mixes both the top bits
 * (the partition) and the low bits (the bucket).
 */
#define PRDSHM__HASH_VERSION 3
static inline uint32_t prdshm__hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ len;
	uint64_t w;

	if (len > 8) {
		for (; len > 8; len -= 8, p += 8) {
			h = (h ^ prdshm__load64(p)) * UINT64_C(0xbf58476d1ce4e5b9);
			h ^= h >> 31;
		}
		w = prdshm__load64(p + len - 8);
	} else if (len >= 4) {
		w = prdshm__load32(p) | (uint64_t)prdshm__load32(p + len - 4) << 32;
	} else if (len > 0) {
		w = p[0] | (uint64_t)p[len / 2] << 8 | (uint64_t)p[len - 1] << 16;
	} else {
		w = 0;
	}
	h = (h ^ w) * UINT64_C(0x94d049bb133111eb);
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return (uint32_t)h;
}

/* 1 if the @p len bytes at @p a and @p b are equal: memcmp for the short
 * names of lock requests, without the call. */
static inline int prdshm__bytes_equal(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;

	if (len >= 8) {
		for (size_t i = 0; i + 8 < len; i += 8)
			if (prdshm__load64(x + i) != prdshm__load64(y + i))
				return 0;
		return prdshm__load64(x + len - 8) == prdshm__load64(y + len - 8);
	}
	if (len >= 4)
		return prdshm__load32(x) == prdshm__load32(y) &&
		       prdshm__load32(x + len - 4) == prdshm__load32(y + len - 4);
	for (size_t i = 0; i < len; i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/* Copy a C string into a fixed buffer, always terminated, truncated. */
void prdshm__strlcpy(char *dst, const char *src, size_t size);

/* 1 if @p id is 1..PRDSHM_ID_MAX printable ASCII bytes without spaces. */
int prdshm__valid_id(const char *id);

#endif
