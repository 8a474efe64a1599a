/*
 * thread.c - per-thread records and the grace period that lets detach free a
 * handler list (and the caller free its data) once no thread can still use it.
 *
 * The scheme is userspace RCU's membarrier flavour. A thread that hits a probe
 * makes its record's counter odd while it runs handlers (hook_thread_enter(),
 * a plain store plus a compiler barrier) and even again after (a release
 * store). A writer unpublishes a list, calls membarrier(PRIVATE_EXPEDITED) —
 * which makes every running thread of ours execute a full barrier, so a reader
 * either has its odd counter visible to us or will load the new list — and
 * then waits for each odd counter to change. When membarrier is missing the
 * readers use a real fence instead (hook_thread_need_fence).
 *
 * Records live in mmap()ed memory (not TLS, not malloc: a probe on malloc must
 * not recurse into it), sit on a push-only list, and are recycled when a thread
 * exits (pthread key destructor) or after fork() in the child (only the forking
 * thread survives, and a record left odd by another thread would block detach
 * forever). Expected load: one registration per thread, ever; synchronize only
 * on detach.
 */
#include "config.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "hooks/hooks_int.h"

__thread struct hook_thread *hook_thread_self_tls __attribute__((tls_model("initial-exec")));
/* Set while this thread registers: a probe on mmap() or pthread_setspecific()
 * hit from inside registration must not register again (it would deadlock on
 * threads_alloc_lock). */
static __thread int registering __attribute__((tls_model("initial-exec")));
int hook_thread_need_fence = 1;

static struct hook_thread *threads;	/* push-only list; acquire/release */
static int threads_alloc_lock;		/* spinlock for the bump allocator */
static struct hook_thread *chunk;	/* current mmap()ed chunk of records */
static unsigned int chunk_used, chunk_cnt;
static pthread_key_t thread_key;
static int thread_key_ok;

static void thread_release(struct hook_thread *t)
{
	if (t->shadow) {
		munmap(t->shadow, (size_t)t->cap * sizeof(*t->shadow));
		t->shadow = NULL;
	}
	t->cap = 0;
	t->depth = 0;
	__atomic_store_n(&t->ctr, 0, __ATOMIC_RELAXED);
	/* Pairs with the CAS in hook_thread_register(). */
	__atomic_store_n(&t->in_use, 0, __ATOMIC_RELEASE);
}

static void thread_destructor(void *p)
{
	struct hook_thread *t = p;

	if (hook_thread_self_tls == t)
		hook_thread_self_tls = NULL;
	thread_release(t);
}

/* fork(): only the calling thread exists in the child. */
static void thread_atfork_child(void)
{
	/* Another thread may have held it at fork(); it does not exist here. */
	__atomic_store_n(&threads_alloc_lock, 0, __ATOMIC_RELAXED);
	for (struct hook_thread *t = threads; t; t = t->next)
		if (t != hook_thread_self_tls && t->in_use)
			thread_release(t);
}

int hook_thread_init(void)
{
	int err;

	if (thread_key_ok)
		return 0;
	err = pthread_key_create(&thread_key, thread_destructor);
	if (err) {
		log_debug("hooks: pthread_key_create: %s\n", strerror(err));
		return -err;
	}
	err = pthread_atfork(NULL, NULL, thread_atfork_child);
	if (err) {
		pthread_key_delete(thread_key);
		log_debug("hooks: pthread_atfork: %s\n", strerror(err));
		return -err;
	}
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		__atomic_store_n(&hook_thread_need_fence, 0, __ATOMIC_RELAXED);
	else
		log_debug("hooks: membarrier unavailable (%s): readers use fences\n",
			  strerror(errno));
	/* Pairs with the acquire load in hook_thread_register(). */
	__atomic_store_n(&thread_key_ok, 1, __ATOMIC_RELEASE);
	return 0;
}

HOOK_HOT static struct hook_thread *thread_alloc(void)
{
	struct hook_thread *t = NULL;

	while (__atomic_exchange_n(&threads_alloc_lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
	if (!chunk || chunk_used == chunk_cnt) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (p != MAP_FAILED) {
			chunk = p;
			chunk_used = 0;
			chunk_cnt = 4096 / sizeof(*chunk);
		}
	}
	if (chunk && chunk_used < chunk_cnt) {
		t = &chunk[chunk_used++];
		t->in_use = 1;
		t->next = threads;
		/* Pairs with the acquire loads that walk the list. */
		__atomic_store_n(&threads, t, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&threads_alloc_lock, 0, __ATOMIC_RELEASE);
	return t;
}

/*
 * First hit on this thread: take a free record or make one. Returns NULL (the
 * hit is counted as missed) if memory runs out or the key is not set up.
 */
HOOK_HOT struct hook_thread *hook_thread_register(void)
{
	struct hook_thread *t;

	if (!__atomic_load_n(&thread_key_ok, __ATOMIC_ACQUIRE) || registering)
		return NULL;
	registering = 1;
	for (t = __atomic_load_n(&threads, __ATOMIC_ACQUIRE); t; t = t->next) {
		uint32_t zero = 0;

		if (__atomic_compare_exchange_n(&t->in_use, &zero, 1, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			break;
	}
	if (!t)
		t = thread_alloc();
	if (t) {
		/* Key < PTHREAD_KEY_2NDLEVEL_SIZE in practice: glibc does not allocate here. */
		pthread_setspecific(thread_key, t);
		hook_thread_self_tls = t;
	}
	registering = 0;
	return t;
}

/*
 * Wait until every handler that might have loaded a list unpublished before
 * this call has returned. Called with the control lock held, never from a
 * handler (hook_uprobe_detach() checks).
 */
void hook_thread_synchronize(void)
{
	struct hook_thread *self = hook_thread_self_tls;

	if (!__atomic_load_n(&hook_thread_need_fence, __ATOMIC_RELAXED)) {
		if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
			__atomic_store_n(&hook_thread_need_fence, 1, __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (struct hook_thread *t = __atomic_load_n(&threads, __ATOMIC_ACQUIRE); t; t = t->next) {
		uint64_t c;

		if (t == self)
			continue;
		/* Pairs with the release store in hook_thread_leave(). */
		c = __atomic_load_n(&t->ctr, __ATOMIC_ACQUIRE);
		if (!(c & 1))
			continue;
		for (unsigned int spin = 0; __atomic_load_n(&t->ctr, __ATOMIC_ACQUIRE) == c; spin++) {
			if (spin < 64) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 50 * 1000 };

				nanosleep(&ts, NULL);
			}
		}
	}
}
