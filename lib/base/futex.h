/*
 * futex.h: doorbells (lib/base/futex.c).
 *
 * A doorbell is a 32-bit word in the segment.  A waker changes the state it
 * guards under the mutex, increments the word, unlocks, then wakes.  A
 * waiter reads the word under the mutex, unlocks, and sleeps only while the
 * word still holds the value it read, so no wake-up is lost.  Unlike a
 * pthread condition variable, a doorbell has no hidden state that a killed
 * waiter could leave inconsistent.
 */
#ifndef PRDSHM_INTERNAL_FUTEX_H
#define PRDSHM_INTERNAL_FUTEX_H

#include <stdint.h>

/* Sleep while *word == expected, at most @p timeout_ns (>= 0).
 * @return 0 when woken or the value differed, PRDSHM_ETIMEDOUT, or
 * PRDSHM_EINTR when a signal handler ran during the sleep (the callers'
 * waits give up with it: see prdshm_lock()). */
int prdshm__futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* Wake every sleeper on @p word. */
void prdshm__futex_wake_all(uint32_t *word);

/* The same as prdshm__futex_wait(), the sleeper tagged with @p bits (not 0):
 * prdshm__futex_wake_bits() then wakes it only if their bits meet, while
 * prdshm__futex_wake_all() wakes it whatever its bits. */
int prdshm__futex_wait_bits(uint32_t *word, uint32_t expected, int64_t timeout_ns,
			    uint32_t bits);

/* Wake the sleepers on @p word whose bits meet @p bits. */
void prdshm__futex_wake_bits(uint32_t *word, uint32_t bits);

/* Increment the doorbell (call holding the mutex that guards its state).
 * Sequentially consistent: the waker then reads the sleeper count, the
 * sleeper counts itself then sleeps on the word, and C11 only orders that
 * store-then-load pair when both sides are seq_cst. */
static inline void prdshm__doorbell_ring(uint32_t *word)
{
	__atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
}

static inline uint32_t prdshm__doorbell_read(const uint32_t *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}
#endif
