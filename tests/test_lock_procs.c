/*
 * test_lock_procs.c: the lock table across real processes: an exact shared
 * counter, killed holders and waiters, a crash inside a critical section,
 * deadlocks (ABBA, upgrades, threads of one session), no starvation of an
 * EXCLUSIVE request, a huge timeout.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lockfix.h"
#include "testutil.h"

/* ---- processes -------------------------------------------------------- */

static long *shared_counter; /* in a MAP_SHARED anonymous mapping */

static int increment_child(void *arg)
{
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session(NULL, &cs);

	for (int i = 0; i < 10000; i++) {
		TU_CHILD_ASSERT(prdshm_lock(s, "counter", PRDSHM_EXCLUSIVE, 20000, NULL) == 0);
		/* Deliberately non-atomic: only the lock makes it exact. */
		long v = *(volatile long *)shared_counter;
		if (i % 64 == 0)
			sched_yield();
		*(volatile long *)shared_counter = v + 1;
		TU_CHILD_ASSERT(prdshm_unlock(s, "counter") == 0);
	}
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

static void test_four_processes_exact_counter(void)
{
	pid_t pids[4];

	tl_setup(64);
	shared_counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(shared_counter != MAP_FAILED);
	*shared_counter = 0;
	for (int i = 0; i < 4; i++)
		pids[i] = tu_fork(increment_child, NULL);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(tu_wait_child(pids[i], 120000), 0);
	CU_ASSERT_EQUAL(*shared_counter, 40000);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	munmap(shared_counter, 4096);
	tl_teardown();
}

static struct tu_pipes pp;

/* The segment (one partition) and the pipes to the children. */
static void procs_setup(void)
{
	tl_setup(64);
	tu_pipes_open(&pp);
}

static void procs_teardown(void)
{
	tu_pipes_close(&pp);
	tl_teardown();
}

/* Takes "a" and "b" (EXCLUSIVE), reports, then waits to be killed. */
static int holder_child(void *arg)
{
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session("holder", &cs);

	TU_CHILD_ASSERT(prdshm_lock(s, "a", PRDSHM_EXCLUSIVE, 0, "ph") == 0);
	TU_CHILD_ASSERT(prdshm_lock(s, "b", PRDSHM_SHARED, 0, "ph") == 0);
	tu_signal(pp.up[1], 'h');
	for (;;)
		pause();
}

static void test_killed_holder_released_without_cleanup(void)
{
	prdshm_session *s;
	pid_t pid;
	int64_t t0, dt;

	procs_setup();
	pid = tu_fork(holder_child, NULL);
	CU_ASSERT_EQUAL_FATAL(tu_await(pp.up[0], 10000), 'h');
	s = tl_session("waiter");
	CU_ASSERT_EQUAL(prdshm_lock(s, "b", PRDSHM_SHARED, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "a", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	kill(pid, SIGKILL);
	t0 = tu_now_ms();
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	/* No reap, no tool: the blocked request itself frees the dead lock. */
	CU_ASSERT_EQUAL(prdshm_lock(s, "a", PRDSHM_EXCLUSIVE, 5000, NULL), 0);
	dt = tu_now_ms() - t0;
	CU_ASSERT(dt < 1000);
	/* "b" is still held by the dead agent: check says recoverable... */
	CU_ASSERT_EQUAL(tl_healthy(), PRDSHM_EDEADOWNER);
	/* ...until a reap. */
	size_t nreaped = 0;
	CU_ASSERT_EQUAL(prdshm_reap(tl_seg, 0, NULL, NULL, &nreaped), 0);
	CU_ASSERT_EQUAL(nreaped, 1);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	procs_teardown();
}

/* A wait shorter than the first look for dead holders (1 ms) still looks
 * once before it times out: a dead holder must not fail it. */
static void test_short_wait_sweeps_dead_holder(void)
{
	prdshm_session *s;
	pid_t pid;

	procs_setup();
	pid = tu_fork(holder_child, NULL);
	CU_ASSERT_EQUAL_FATAL(tu_await(pp.up[0], 10000), 'h');
	TU_KILL_CHILD(pid, 10000);
	s = tl_session("waiter");
	CU_ASSERT_EQUAL(prdshm_lock(s, "a", PRDSHM_EXCLUSIVE, 1, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_unlock_all(s, NULL), 0);
	prdshm_session_close(s);
	procs_teardown();
}

/* A blocked waiter is released when the holder is killed while it waits. */
static void test_blocked_waiter_gets_lock_of_killed_holder(void)
{
	prdshm_session *s;
	pid_t pid;

	procs_setup();
	pid = tu_fork(holder_child, NULL);
	CU_ASSERT_EQUAL_FATAL(tu_await(pp.up[0], 10000), 'h');
	s = tl_session("waiter");
	CU_ASSERT_EQUAL(prdshm_lock(s, "a", PRDSHM_EXCLUSIVE, 300, NULL), PRDSHM_ETIMEDOUT);
	kill(pid, SIGKILL);
	CU_ASSERT_EQUAL(prdshm_lock(s, "a", PRDSHM_EXCLUSIVE, 5000, NULL), 0);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
	prdshm_session_close(s);
	procs_teardown();
}

/* A child that queues for "x" as agent @c id, says @c say once granted,
 * and releases at once or, with @c release_on, when told so. */
struct x_waiter {
	const char *id;
	char say, release_on;
};

static int x_waiter_child(void *arg)
{
	const struct x_waiter *w = arg;
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session(w->id, &cs);

	TU_CHILD_ASSERT(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 20000, NULL) == 0);
	tu_signal(pp.up[1], w->say);
	if (w->release_on)
		TU_CHILD_ASSERT(tu_await(pp.down[0], 20000) == w->release_on);
	TU_CHILD_ASSERT(prdshm_unlock(s, "x") == 0);
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

/* 1 once "x" has a waiting record (bounded: 10 s). */
static int x_has_waiter(void)
{
	for (int64_t end = tu_now_ms() + 10000; tu_now_ms() < end; usleep(1000)) {
		prdshm_holder h[4] = { PRDSHM_HOLDER_INIT };
		size_t n = 0;

		if (prdshm_lock_query(tl_seg, "x", 0, h, 4, &n) == 0 && n == 2 && h[1].waiting)
			return 1;
	}
	return 0;
}

/* A holder that releases and locks again while another process waits goes
 * behind the waiter: taking its released record back would jump the
 * queue. */
static void test_relock_queues_behind_waiter(void)
{
	prdshm_session *s;
	pid_t pid;

	procs_setup();
	s = tl_session("holder");
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	pid = tu_fork(x_waiter_child, &(struct x_waiter){ "queued", 'g', 'q' });
	CU_ASSERT_FATAL(x_has_waiter());
	CU_ASSERT_EQUAL(prdshm_unlock(s, "x"), 0);
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL), PRDSHM_EBUSY);
	CU_ASSERT_EQUAL(tu_await(pp.up[0], 10000), 'g');
	CU_ASSERT(tl_held_alone_by("x", "queued", PRDSHM_EXCLUSIVE, ""));
	tu_signal(pp.down[1], 'q');
	CU_ASSERT_EQUAL(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 10000, NULL), 0);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	prdshm_session_close(s);
	procs_teardown();
}

/* Re-locks "x" and is stopped (PRDSHM_STOP_AT) just after its take-back's
 * swap, before it looks for waiters; says 'A' once granted. */
static int taker_child(void *arg)
{
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session("taker", &cs);

	TU_CHILD_ASSERT(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 0, NULL) == 0);
	TU_CHILD_ASSERT(prdshm_unlock(s, "x") == 0);
	setenv("PRDSHM_STOP_AT", "lock_reclaim", 1);
	TU_CHILD_ASSERT(prdshm_lock(s, "x", PRDSHM_EXCLUSIVE, 20000, NULL) == 0);
	unsetenv("PRDSHM_STOP_AT");
	tu_signal(pp.up[1], 'A');
	TU_CHILD_ASSERT(prdshm_unlock(s, "x") == 0);
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

/* A take-back whose swap lands just before a waiter counts itself sees the
 * waiter afterwards, gives the record back and queues behind it (the
 * Dekker check after the swap, not the cheap one before it). */
static void test_take_back_gives_way_to_waiter(void)
{
	pid_t taker, waiter;
	char first, second;

	procs_setup();
	taker = tu_start_stopped(taker_child, NULL, 10000);
	/* The taker holds "x" again, stopped before its waiter check. */
	waiter = tu_fork(x_waiter_child, &(struct x_waiter){ "waiter", 'W', 0 });
	CU_ASSERT_FATAL(x_has_waiter());
	kill(taker, SIGCONT);
	first = (char)tu_await(pp.up[0], 10000);
	second = (char)tu_await(pp.up[0], 10000);
	CU_ASSERT_EQUAL(first, 'W');
	CU_ASSERT_EQUAL(second, 'A');
	CU_ASSERT_EQUAL(tu_wait_child(waiter, 10000), 0);
	CU_ASSERT_EQUAL(tu_wait_child(taker, 10000), 0);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	procs_teardown();
}

/* Crash inside a critical section at @p point; the next locker repairs. */
static int crash_child(void *arg)
{
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session("crasher", &cs);

	TU_CHILD_ASSERT(prdshm_lock(s, "keep", PRDSHM_SHARED, 0, NULL) == 0);
	setenv("PRDSHM_CRASH_AT", *(const char *const *)arg, 1);
	/* Walk past every crash point: slot_alloc and lock_link (a new
	 * resource), lock_grant (an upgrade), unlock_ring (a release without
	 * the mutex), lock_reuse (a re-lock of its record), lock_remove (a
	 * release under the mutex). */
	prdshm_lock(s, "victim", PRDSHM_EXCLUSIVE, 0, NULL);
	prdshm_upgrade(s, "keep", 0);
	prdshm_unlock(s, "victim");
	prdshm_lock(s, "victim", PRDSHM_EXCLUSIVE, 0, NULL);
	prdshm_unlock_all(s, NULL);
	return 3; /* the crash point was not reached */
}

static void test_crash_inside_critical_section_is_repaired(void)
{
	const char *points[] = { "slot_alloc", "lock_link", "lock_grant", "unlock_ring",
				 "lock_reuse", "lock_remove" };

	for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		prdshm_session *s;
		pid_t pid;

		tl_setup(64);
		pid = tu_fork(crash_child, &points[k]);
		CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 128 + SIGKILL);
		s = tl_session("next");
		/* The partition mutex is owner-dead: this call repairs it. */
		CU_ASSERT_EQUAL(prdshm_lock(s, "victim", PRDSHM_EXCLUSIVE, 2000, NULL), 0);
		CU_ASSERT_EQUAL(prdshm_lock(s, "keep", PRDSHM_EXCLUSIVE, 2000, NULL), 0);
		CU_ASSERT_EQUAL(tl_healthy(), 0);
		prdshm_session_close(s);
		tl_teardown();
	}
}

/* ABBA: each child takes one, then asks for the other. */
struct abba {
	const char *first, *second;
};

static int abba_child(void *p)
{
	struct abba *x = p;
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session(x->first, &cs);
	int r;

	TU_CHILD_ASSERT(prdshm_lock(s, x->first, PRDSHM_EXCLUSIVE, 0, NULL) == 0);
	tu_signal(pp.up[1], 'l');
	TU_CHILD_ASSERT(tu_await(pp.down[0], 10000) == 'g');
	r = prdshm_lock(s, x->second, PRDSHM_EXCLUSIVE, 10000, NULL);
	if (r == PRDSHM_EDEADLK)
		TU_CHILD_ASSERT(strstr(prdshm_last_error(), "deadlock") != NULL);
	else
		TU_CHILD_ASSERT(r == 0);
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return r == PRDSHM_EDEADLK ? 42 : 0;
}

static void test_abba_deadlock_detected(void)
{
	struct abba x = { "A", "B" }, y = { "B", "A" };
	pid_t p1, p2;
	int s1, s2;
	int64_t t0;

	procs_setup();
	p1 = tu_fork(abba_child, &x);
	p2 = tu_fork(abba_child, &y);
	CU_ASSERT_EQUAL(tu_await(pp.up[0], 10000), 'l');
	CU_ASSERT_EQUAL(tu_await(pp.up[0], 10000), 'l');
	t0 = tu_now_ms();
	tu_signal(pp.down[1], 'g');
	tu_signal(pp.down[1], 'g');
	s1 = tu_wait_child(p1, 10000);
	s2 = tu_wait_child(p2, 10000);
	/* Exactly one victim; the other finishes. */
	CU_ASSERT((s1 == 42 && s2 == 0) || (s1 == 0 && s2 == 42));
	CU_ASSERT(tu_now_ms() - t0 < 2000);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	procs_teardown();
}

/* Two SHARED holders both upgrade: one is told EDEADLK. */
static void test_upgrade_deadlock(void)
{
	prdshm_session *a;
	pid_t pid;
	int st;

	procs_setup();
	a = tl_session("a");
	CU_ASSERT_EQUAL(prdshm_lock(a, "r", PRDSHM_SHARED, 0, NULL), 0);
	pid = fork();
	if (pid == 0) {
		prdshm_seg *cs = NULL;
		prdshm_session *s = tl_child_session("b", &cs);
		TU_CHILD_ASSERT(prdshm_lock(s, "r", PRDSHM_SHARED, 0, NULL) == 0);
		tu_signal(pp.up[1], 's');
		int r = prdshm_upgrade(s, "r", 10000);
		prdshm_session_close(s);
		prdshm_seg_close(cs);
		_exit(r == PRDSHM_EDEADLK ? 42 : r == 0 ? 0 : 1);
	}
	CU_ASSERT_EQUAL_FATAL(tu_await(pp.up[0], 10000), 's');
	int r = prdshm_upgrade(a, "r", 10000);
	if (r == PRDSHM_EDEADLK)
		prdshm_unlock(a, "r"); /* the victim gives way */
	st = tu_wait_child(pid, 10000);
	CU_ASSERT((r == PRDSHM_EDEADLK && st == 0) || (r == 0 && st == 42));
	prdshm_session_close(a);
	procs_teardown();
}

/*
 * A waiting EXCLUSIVE request is granted before the SHARED requests that
 * arrive after it, although SHARED holds keep overlapping: FIFO, not "a
 * SHARED request joins SHARED holders".  Readers stream overlapping SHARED
 * holds; the parent sees the writer's request queued and says so; a reader
 * request made after that and granted before the writer's grant breaks
 * FIFO.  (If the readers could pass, the writer would starve until the
 * stream ends, and every reader grant meanwhile would count.)
 */
struct stream {
	long grants;     /* SHARED grants so far */
	long x_queued;   /* the parent saw the EXCLUSIVE request queued */
	long x_granted;  /* the writer holds, or held, the resource */
	long after;      /* SHARED requests made after x_queued was set... */
	long passed;     /* ...of which granted before x_granted */
	long stop;
};
static struct stream *stream;

static long stream_get(const long *field)
{
	return __atomic_load_n(field, __ATOMIC_SEQ_CST);
}

static void stream_add(long *field, long v)
{
	__atomic_add_fetch(field, v, __ATOMIC_SEQ_CST);
}

static int shared_stream_child(void *arg)
{
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session(NULL, &cs);
	int64_t end = tu_now_ms() + 10000; /* in case the parent died */

	while (!stream_get(&stream->stop) && tu_now_ms() < end) {
		long queued = stream_get(&stream->x_queued), mine;
		int64_t until;

		if (prdshm_lock(s, "hot", PRDSHM_SHARED, 20000, NULL) != 0)
			return 1;
		if (queued) {
			stream_add(&stream->after, 1);
			if (!stream_get(&stream->x_granted))
				stream_add(&stream->passed, 1);
		}
		/* Hold it until another reader's grant overlaps ours (at most
		 * 5 ms): were SHARED requests let past the writer, the stream
		 * would then never leave the resource free. */
		mine = __atomic_add_fetch(&stream->grants, 1, __ATOMIC_SEQ_CST);
		until = tu_now_ms() + 5;
		while (stream_get(&stream->grants) == mine && tu_now_ms() < until)
			usleep(100);
		prdshm_unlock(s, "hot");
	}
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

static int exclusive_writer_child(void *arg)
{
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session("writer", &cs);

	TU_CHILD_ASSERT(prdshm_lock(s, "hot", PRDSHM_EXCLUSIVE, 20000, NULL) == 0);
	stream_add(&stream->x_granted, 1);
	prdshm_unlock(s, "hot");
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

/* Poll (bounded) until *field reaches @p v. */
static int stream_await(const long *field, long v)
{
	int64_t until = tu_now_ms() + 20000;

	while (stream_get(field) < v && tu_now_ms() < until)
		usleep(1000); /* polling shared memory: no descriptor */
	return stream_get(field) >= v;
}

/* Poll (bounded) until "hot" has a waiting EXCLUSIVE record. */
static int exclusive_queued(void)
{
	int64_t until = tu_now_ms() + 20000;

	while (tu_now_ms() < until) {
		prdshm_holder h[8] = { PRDSHM_HOLDER_INIT };
		size_t n = 0;

		CU_ASSERT_EQUAL_FATAL(prdshm_lock_query(tl_seg, "hot", 0, h, 8, &n), 0);
		for (size_t i = 0; i < n && i < 8; i++)
			if (h[i].waiting && h[i].mode == PRDSHM_EXCLUSIVE)
				return 1;
		usleep(200); /* polling the table: no descriptor */
	}
	return 0;
}

static void test_exclusive_not_starved_by_shared_stream(void)
{
	pid_t pids[3], writer;

	tl_setup(64);
	stream = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(stream != MAP_FAILED);
	memset(stream, 0, sizeof(*stream));
	for (int i = 0; i < 3; i++)
		pids[i] = tu_fork(shared_stream_child, NULL);
	CU_ASSERT_FATAL(stream_await(&stream->grants, 30)); /* the stream runs */
	writer = tu_fork(exclusive_writer_child, NULL);
	CU_ASSERT(exclusive_queued());
	stream_add(&stream->x_queued, 1);
	CU_ASSERT_EQUAL(tu_wait_child(writer, 30000), 0);
	/* Later requests came, and were served after the writer. */
	CU_ASSERT(stream_await(&stream->after, 10));
	stream_add(&stream->stop, 1);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(tu_wait_child(pids[i], 30000), 0);
	printf("  %ld shared grants, %ld requested after the writer queued, %ld of them "
	       "before its grant\n",
	       stream->grants, stream->after, stream->passed);
	CU_ASSERT_EQUAL(stream->x_granted, 1);
	CU_ASSERT_EQUAL(stream->passed, 0);
	CU_ASSERT_EQUAL(tl_healthy(), 0);
	munmap(stream, 4096);
	tl_teardown();
}

/* A timeout too large to add to the clock means "no deadline", not "now". */
static int release_later_child(void *arg)
{
	prdshm_seg *cs = NULL;
	prdshm_session *s = tl_child_session("slow", &cs);

	TU_CHILD_ASSERT(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, 0, NULL) == 0);
	tu_signal(pp.up[1], 'h');
	usleep(200000); /* the hold the parent must outlast, not a sync */
	prdshm_session_close(s);
	prdshm_seg_close(cs);
	return 0;
}

static void test_huge_timeout_waits(void)
{
	prdshm_session *s;
	pid_t pid;

	procs_setup();
	pid = tu_fork(release_later_child, NULL);
	CU_ASSERT_EQUAL_FATAL(tu_await(pp.up[0], 10000), 'h');
	s = tl_session("patient");
	CU_ASSERT_EQUAL(prdshm_lock(s, "r", PRDSHM_EXCLUSIVE, INT64_MAX, NULL), 0);
	CU_ASSERT_EQUAL(tu_wait_child(pid, 10000), 0);
	prdshm_session_close(s);
	procs_teardown();
}

/* Threads sharing a session may wait on two records at once; the deadlock
 * detector must follow each of them. */
struct shared_wait {
	prdshm_session *s;
	const char *res;
	const char *give_way; /* what a deadlock victim releases */
	int result;
};

static void *shared_wait_thread(void *p)
{
	struct shared_wait *w = p;

	w->result = prdshm_lock(w->s, w->res, PRDSHM_EXCLUSIVE, 5000, NULL);
	if (w->result == 0)
		prdshm_unlock(w->s, w->res);
	else if (w->result == PRDSHM_EDEADLK && w->give_way)
		prdshm_unlock(w->s, w->give_way);
	return NULL;
}

static void test_deadlock_with_session_shared_by_threads(void)
{
	prdshm_session *S, *T, *U;
	struct shared_wait s1, s2, t;
	pthread_t th1, th2, tht;

	tl_setup(64);
	S = tl_session("S");
	T = tl_session("T");
	U = tl_session("U");
	CU_ASSERT_EQUAL(prdshm_lock(U, "R3", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(T, "R1", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	CU_ASSERT_EQUAL(prdshm_lock(S, "R2", PRDSHM_EXCLUSIVE, 0, NULL), 0);
	s1 = (struct shared_wait){ S, "R1", "R2", 1 };
	s2 = (struct shared_wait){ S, "R3", NULL, 1 };
	t = (struct shared_wait){ T, "R2", "R1", 1 };
	pthread_create(&th2, NULL, shared_wait_thread, &s2); /* S waits for U */
	pthread_create(&th1, NULL, shared_wait_thread, &s1); /* S waits for T */
	pthread_create(&tht, NULL, shared_wait_thread, &t);  /* T waits for S */
	pthread_join(tht, NULL);
	if (t.result == 0)
		prdshm_unlock(T, "R1");
	pthread_join(th1, NULL);
	/* The S <-> T cycle is broken by one EDEADLK, not by a timeout. */
	CU_ASSERT(t.result == PRDSHM_EDEADLK || s1.result == PRDSHM_EDEADLK);
	CU_ASSERT(t.result == 0 || s1.result == 0);
	prdshm_unlock(U, "R3");
	pthread_join(th2, NULL);
	CU_ASSERT_EQUAL(s2.result, 0);
	prdshm_session_close(S);
	prdshm_session_close(T);
	prdshm_session_close(U);
	tl_teardown();
}

const tu_test tu_tests[] = {
	TU(test_relock_queues_behind_waiter),
	TU(test_take_back_gives_way_to_waiter),
	TU(test_four_processes_exact_counter),
	TU(test_killed_holder_released_without_cleanup),
	TU(test_blocked_waiter_gets_lock_of_killed_holder),
	TU(test_short_wait_sweeps_dead_holder),
	TU(test_crash_inside_critical_section_is_repaired),
	TU(test_abba_deadlock_detected),
	TU(test_upgrade_deadlock),
	TU(test_exclusive_not_starved_by_shared_stream),
	TU(test_huge_timeout_waits),
	TU(test_deadlock_with_session_shared_by_threads),
	{ NULL, NULL },
};
const char *tu_suite = "lock_procs";
