/*
 * lock.c - process-shared spinlocks that survive a SIGKILLed holder.
 *
 * Why not a robust pthread mutex: a PTHREAD_MUTEX_ROBUST mutex is 40 bytes,
 * its owner list lives in the dying thread's robust_list (registered per
 * thread by glibc, so it works across processes), but taking it costs a
 * futex-capable CAS plus robust-list bookkeeping on every operation, and the
 * hash table has one lock per bucket: 40 bytes per bucket would triple the
 * bucket array and the cache misses of every update. Our critical sections
 * are a handful of stores with no syscall inside, so a 4-byte spinlock is the
 * kernel's choice too (raw_spin_lock per bucket in kernel/bpf/hashtab.c).
 *
 * The lock word holds the owner's pid (the tgid: SIGKILL takes the whole
 * process, so a thread cannot die alone while holding it). A waiter spins
 * with `pause`, then yields; every MAP_LOCK_CHECK_SPINS iterations it asks
 * whether the owner still exists (kill(pid, 0) == ESRCH, or /proc/<pid>/stat
 * says zombie/dead). If the owner is dead the waiter CASes the word from the
 * dead pid to its own, and map_lock_acquire() returns 1 so the caller can
 * repair the structure the lock protects (every user of these locks keeps its
 * structure consistent at each single store, so repair is at most closing an
 * odd seqcount). Only one waiter can win that CAS.
 *
 * Assumption: all processes of a session share one pid namespace (the
 * supervisor launches the targets itself). A dead owner's pid can be reused
 * (pid_max is often 32768) before anyone checks: after waiting about a second
 * the waiter also reads /proc/<pid>/maps, and a process that maps no
 * "/memfd:bpf-map:" file cannot be inside one of our critical sections, so it
 * counts as gone too. Every process that takes a map lock has the map's file
 * mapped until it drops the map, so this never lets two holders in.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "maps/maps_int.h"

#define MAP_LOCK_CHECK_SPINS (1u << 12)
#define MAP_LOCK_YIELD_SPINS (1u << 10)
#define MAP_LOCK_MAX_BACKOFF 32u
/* About a second of waiting (checks every ~4 ms of backed-off spinning). */
#define MAP_LOCK_STALE_SPINS (MAP_LOCK_CHECK_SPINS * 256u)

uint32_t map_lock_pid;

static void self_reset(void)
{
	__atomic_store_n(&map_lock_pid, (uint32_t)getpid(), __ATOMIC_RELAXED);
}

static void self_init(void)
{
	self_reset();
	/* A forked child must not take locks in its parent's name. */
	pthread_atfork(NULL, NULL, self_reset);
}

/* Before main() for programs, and at first use in any case. */
__attribute__((constructor)) static void self_ctor(void)
{
	map_lock_self_init();
}

uint32_t map_lock_self_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, self_init);
	return map_lock_pid;
}

bool map_lock_owner_dead(uint32_t pid)
{
	char path[64], buf[256];
	ssize_t n;
	int fd;

	if (pid == 0)
		return false;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return true;
	/* kill() succeeds on a zombie: a SIGKILLed child its parent has not reaped yet. */
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* "pid (comm) S ...": comm may contain ')' and spaces, the state follows the last ')'. */
	char *rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ')
		return false;
	return rp[2] == 'Z' || rp[2] == 'X' || rp[2] == 'x';
}

/* Whether @pid maps any bpftime map file; unreadable counts as yes. */
static bool maps_a_map_file(uint32_t pid)
{
	static const char needle[] = "/memfd:bpf-map:";
	char path[64], buf[4096 + sizeof(needle)];
	size_t keep = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	while ((n = read(fd, buf + keep, sizeof(buf) - 1 - keep)) > 0) {
		size_t len = keep + (size_t)n;

		buf[len] = 0;
		if (memmem(buf, len, needle, sizeof(needle) - 1)) {
			close(fd);
			return true;
		}
		/* Keep a tail so a match across two reads is not missed. */
		keep = len < sizeof(needle) ? len : sizeof(needle) - 1;
		memmove(buf, buf + len - keep, keep);
	}
	close(fd);
	return n < 0; /* a read error: assume it does */
}

bool map_lock_owner_gone(uint32_t pid, bool waited_long)
{
	if (map_lock_owner_dead(pid))
		return true;
	return waited_long && !maps_a_map_file(pid);
}

static inline void cpu_relax(void)
{
	__builtin_ia32_pause();
}

int map_lock_acquire_slow(_Atomic uint32_t *lock, uint32_t self)
{
	uint32_t spins = 0;

	for (;;) {
		uint32_t cur = 0;

		/* Pairs with the store-release in map_lock_release(). */
		if (atomic_compare_exchange_weak_explicit(lock, &cur, self, memory_order_acquire,
							  memory_order_relaxed))
			return 0;
		/*
		 * Spin on a plain load so waiters do not bounce the line with CASes, and
		 * back off exponentially: every poll pulls the line away from the holder,
		 * whose next store (the value often shares the line) then pays a transfer.
		 */
		uint32_t backoff = 1;

		while ((cur = atomic_load_explicit(lock, memory_order_relaxed)) != 0) {
			for (uint32_t i = 0; i < backoff; i++)
				cpu_relax();
			if (backoff < MAP_LOCK_MAX_BACKOFF)
				backoff <<= 1;
			spins++;
			if (spins % MAP_LOCK_YIELD_SPINS == 0)
				sched_yield();
			if (spins % MAP_LOCK_CHECK_SPINS == 0 && cur != self &&
			    map_lock_owner_gone(cur, spins >= MAP_LOCK_STALE_SPINS)) {
				uint32_t dead = cur;

				if (atomic_compare_exchange_strong_explicit(
					    lock, &dead, self, memory_order_acquire,
					    memory_order_relaxed)) {
					log_warn("maps: lock holder pid %u is gone; lock taken over and repaired\n",
						 cur);
					return 1;
				}
			}
		}
	}
}

void map_seqlock_repair(struct map_seqlock *sl)
{
	/* The dead holder may have stopped between its two increments. */
	uint32_t s = atomic_load_explicit(&sl->seq, memory_order_relaxed);

	if (s & 1)
		atomic_store_explicit(&sl->seq, s + 1, memory_order_release);
}

void map_seqlock_copy_out(struct map_seqlock *sl, void *dst, const void *src, size_t sz)
{
	uint32_t spins = 0;

	for (;;) {
		uint32_t s = map_seq_read_begin(&sl->seq);

		if (s & 1) {
			cpu_relax();
			if (++spins % MAP_SEQ_WAIT_SPINS == 0) {
				/* Blocks while a live writer works; repairs after a dead one. */
				if (map_lock_acquire(&sl->lock)) {
					s = atomic_load_explicit(&sl->seq, memory_order_relaxed);
					if (s & 1)
						atomic_store_explicit(&sl->seq, s + 1,
								      memory_order_release);
				}
				map_lock_release(&sl->lock);
			}
			continue;
		}
		memcpy(dst, src, sz);
		if (!map_seq_read_retry(&sl->seq, s))
			return;
	}
}
