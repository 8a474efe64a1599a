/*
 * agent_poll_waker.c - one helper thread per traced process that turns a
 * ring's futex word moving into an eventfd write, so that a poll()/ppoll()
 * on a set mixing ring fds and other fds (hooks/agent_poll.c) sleeps in the
 * real poll() on the other fds plus that eventfd, and wakes at once for
 * either kind.
 *
 * Why a thread: the kernel's poll() can only wait on fds, and a ring's
 * wake-up is a futex word (maps/ringbuf.c ringbuf_wake(), maps/perf_ring.c
 * map_perf_page_wake()); one wait on both needs a second waiter. The
 * alternatives were worse: an eventfd the producers write would have to be
 * passed to every producer process and written at every wake-up whether
 * anyone waits or not (see the head comment of emul/ring_wake.c); an epoll
 * fd made by the supervisor's ring waker would cost a seccomp round trip per
 * ring per call; io_uring's FUTEX_WAITV + POLL_ADD needs io_uring, which
 * sandboxes often disable. The price here is one thread, created at the first
 * mixed wait, that sleeps in futex_waitv(2) with no timeout while nobody is
 * registered, and an eventfd per mixed call.
 *
 * Protocol (the caller in agent_poll.c): count itself in each ring's waiter
 * count, read each word, check the rings are empty, register the words with
 * the values read and an eventfd, poll() with that eventfd in the set,
 * unregister, close the eventfd, uncount. The waiter count makes producers
 * make the FUTEX_WAKE syscall (the Dekker pairing in rings_futex_wait() of
 * agent_poll.c); a word that moved between the caller's read and our
 * futex_waitv() gives EAGAIN, and the rescan finds it. The thread writes a
 * registration's eventfd once (it is then "fired" and no longer watched).
 *
 * Locking: the registration list and the word total are under waker_lock,
 * which the thread holds only while it scans, never while it sleeps; a
 * change bumps waker_ctl, a word the thread also waits on. Eventfds are
 * written under the lock, and a caller unregisters under it before closing
 * its eventfd. fork(): the child has no thread; an atfork handler resets the
 * state so the child's first mixed wait starts one.
 *
 * DIVERGES: at most FUTEX_WAITV_MAX - 1 words are watched at once in a
 * process; a call that would pass that gets -ENOSPC and waits in slices
 * (agent_poll.c).
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static pthread_mutex_t waker_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t waker_once = PTHREAD_ONCE_INIT;
static struct agent_poll_wait *waker_head; /* under waker_lock */
static uint32_t waker_words;		   /* words registered; under waker_lock */
static bool waker_running;		   /* the thread exists in this process; under waker_lock */
static uint32_t waker_ctl;		   /* futex word: bumped on every change */

static void waker_fire(struct agent_poll_wait *w)
{
	uint64_t one = 1;

	w->fired = true;
	if (write(w->efd, &one, sizeof(one)) < 0)
		log_debug("agent: poll waker: eventfd write: %s\n", strerror(errno));
}

static void *waker_main(void *arg)
{
	struct futex_waitv wv[FUTEX_WAITV_MAX];

	(void)arg;
	for (;;) {
		/* Read before the scan: a change after it moves the word, and the wait returns EAGAIN. */
		uint32_t ctl = __atomic_load_n(&waker_ctl, __ATOMIC_SEQ_CST);
		uint32_t n = 0;

		memset(wv, 0, sizeof(wv));
		pthread_mutex_lock(&waker_lock);
		for (struct agent_poll_wait *w = waker_head; w; w = w->next) {
			bool moved = false;

			if (w->fired)
				continue;
			for (uint32_t i = 0; i < w->cnt && !moved; i++)
				moved = __atomic_load_n(w->words[i], __ATOMIC_SEQ_CST) != w->vals[i];
			if (moved) {
				waker_fire(w);
				continue;
			}
			for (uint32_t i = 0; i < w->cnt && n < FUTEX_WAITV_MAX - 1; i++) {
				wv[n].uaddr = (uintptr_t)w->words[i];
				wv[n].val = w->vals[i];
				wv[n++].flags = FUTEX_32; /* shared: the words are in file mappings */
			}
		}
		pthread_mutex_unlock(&waker_lock);
		wv[n].uaddr = (uintptr_t)&waker_ctl;
		wv[n].val = ctl;
		wv[n++].flags = FUTEX_32;
		/* EAGAIN (a word moved), a wake-up: rescan. EFAULT (a caller's
		 * mapping went away after it unregistered) is transient; anything
		 * else unexpected must not make this a busy loop. */
		if (syscall(SYS_futex_waitv, wv, n, 0, NULL, CLOCK_MONOTONIC) < 0 && errno != EAGAIN &&
		    errno != EINTR) {
			struct timespec ts = { 0, 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void ctl_bump(void)
{
	__atomic_fetch_add(&waker_ctl, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &waker_ctl, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&waker_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&waker_lock);
}

static void fork_child(void)
{
	/* The thread and every caller but the forking one are gone. */
	waker_head = NULL;
	waker_words = 0;
	waker_running = false;
	pthread_mutex_unlock(&waker_lock);
}

static void waker_init(void)
{
	if (pthread_atfork(fork_prepare, fork_parent, fork_child))
		log_debug("agent: poll waker: pthread_atfork failed\n");
}

/* Start the thread (under waker_lock), with every signal blocked: the host's
 * handlers must not run on it. */
static int waker_start(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t th;
	int err;

	if (waker_running)
		return 0;
	/* futex_waitv(2) is Linux 5.16: without it agent_poll.c waits in slices. */
	if (syscall(SYS_futex_waitv, NULL, 0, 0, NULL, CLOCK_MONOTONIC) < 0 && errno == ENOSYS)
		return -ENOSYS;
	if (pthread_attr_init(&attr))
		return -ENOMEM;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&th, &attr, waker_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		log_debug("agent: poll waker: pthread_create: %s\n", strerror(err));
		return -err;
	}
	waker_running = true;
	return 0;
}

int agent_poll_waker_add(struct agent_poll_wait *w)
{
	int err;

	if (!w->cnt || w->cnt > FUTEX_WAITV_MAX - 1 || w->efd < 0)
		return -EINVAL;
	pthread_once(&waker_once, waker_init);
	pthread_mutex_lock(&waker_lock);
	if (waker_words + w->cnt > FUTEX_WAITV_MAX - 1) {
		pthread_mutex_unlock(&waker_lock);
		return -ENOSPC;
	}
	err = waker_start();
	if (err) {
		pthread_mutex_unlock(&waker_lock);
		return err;
	}
	w->fired = false;
	w->next = waker_head;
	waker_head = w;
	waker_words += w->cnt;
	pthread_mutex_unlock(&waker_lock);
	ctl_bump();
	return 0;
}

void agent_poll_waker_del(struct agent_poll_wait *w)
{
	pthread_mutex_lock(&waker_lock);
	for (struct agent_poll_wait **pp = &waker_head; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			waker_words -= w->cnt;
			break;
		}
	}
	pthread_mutex_unlock(&waker_lock);
	/* No bump: the thread's next scan drops the words; a wake-up of a stale
	 * one only costs it a rescan. */
}
