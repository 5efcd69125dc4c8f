/*
 * util.h: small helpers shared by the library's files (never installed).
 */
#ifndef PRDSHM_INTERNAL_UTIL_H
#define PRDSHM_INTERNAL_UTIL_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * Record the detailed message of a failure for prdshm_last_error() and
 * return @p err, so that callers can write `return prdshm__fail(...)`.
 */
int prdshm__fail(int err, const char *fmt, ...) PRDSHM__PRINTF(2, 3);
/* The same, appending ": strerror(errno)" and mapping errno to a code. */
int prdshm__fail_errno(int err_default, const char *fmt, ...) PRDSHM__PRINTF(2, 3);
/* Forget the last message (successful calls need not call it). */
void prdshm__clear_error(void);

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

/* The resource-name hash stored in lock slots; bump PRDSHM__HASH_VERSION
 * whenever its values change. */
#define PRDSHM__HASH_VERSION 2
uint32_t prdshm__hash(const void *data, size_t len);

/* Copy a C string into a fixed buffer, always terminated, truncated. */
void prdshm__strlcpy(char *dst, const char *src, size_t size);

/* 1 if @p id is 1..PRDSHM_ID_MAX printable ASCII bytes without spaces. */
int prdshm__valid_id(const char *id);

#endif
