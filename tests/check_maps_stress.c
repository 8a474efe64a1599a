/*
 * check_maps_stress.c - the "maps_stress" suite: many processes hammer one
 * HASH and one ARRAY through their own mappings (map_open_fd), some are
 * SIGKILLed at random instants, and the survivors' work must add up exactly.
 *
 * Why the totals are exactly checkable:
 *  - each worker w owns counter keys (hash key 500+w, array index 16+w) that
 *    only it increments, once per round: a survivor's counters equal ROUNDS;
 *  - shared keys (hash keys 0..15, array indexes 0..15) get one atomic add per
 *    round from every worker; a worker publishes its completed-round count
 *    (array index 32+w) after each round's adds, so every shared total lies in
 *    [sum of published rounds, that + number of killed workers];
 *  - each worker churns 64 private keys (delete, insert with BPF_NOEXIST,
 *    lookup) so bucket locks, the freelist and element recycling are under
 *    constant use; a survivor's private keys must end with exactly the value
 *    of the last round that wrote them.
 * Afterwards the map must be fully usable: every key seen once by
 * get_next_key, every bucket lock free (all keys deleted and the map filled to
 * capacity again, reclaiming what killed writers held), no torn values.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "maps/maps.h"
#include "maps/maps_int.h"
#include "maps/htab.h"

#define WORKERS 8
#define KILLED 3
#define ROUNDS 200000
#define SHARED 16
#define PRIVATE 64
#define MAX_ENTRIES 2048

static uint32_t priv_key(int w, uint32_t j)
{
	return 10000u * (uint32_t)(w + 1) + j;
}

#define LRU_MAX 256

static void worker(int w, int hfd, int afd, int pfd, int lfd)
{
	struct map *h, *a, *pc, *lru;
	uint32_t k;

	if (map_open_fd(hfd, &h) || map_open_fd(afd, &a) || map_open_fd(pfd, &pc) ||
	    map_open_fd(lfd, &lru))
		_exit(10);
	for (uint32_t r = 0; r < ROUNDS; r++) {
		for (k = 0; k < SHARED; k++) {
			uint64_t *hv = map_lookup_elem(h, &k), *av = map_lookup_elem(a, &k);

			if (!hv || !av)
				_exit(11);
			__atomic_fetch_add(hv, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(av, 1, __ATOMIC_RELAXED);
		}
		k = 500 + (uint32_t)w;
		uint64_t *own = map_lookup_elem(h, &k);
		if (!own)
			_exit(12);
		__atomic_fetch_add(own, 1, __ATOMIC_RELAXED);
		k = 16 + (uint32_t)w;
		__atomic_fetch_add((uint64_t *)map_lookup_elem(a, &k), 1, __ATOMIC_RELAXED);

		/* Churn a private key: delete, insert fresh, read it back (copying lookup). */
		uint32_t pk = priv_key(w, r % PRIVATE);
		uint64_t val = ((uint64_t)r << 8) | (uint64_t)w, back = 0;
		long err = map_delete_elem(h, &pk);

		if (err && err != -ENOENT)
			_exit(13);
		if (map_update_elem(h, &pk, &val, BPF_NOEXIST))
			_exit(14);
		if (map_sys_lookup_elem(h, &pk, &back, 0) || back != val)
			_exit(15);
		/* Whole-value syscall-side update of an existing key, and a lookup of it. */
		if (r % 8 == 0) {
			val |= 1ull << 40;
			if (map_sys_update_elem(h, &pk, &val, BPF_EXIST))
				_exit(16);
		}
		/* Per-CPU counter: an atomic add on whichever CPU's slot we are on. */
		k = 0;
		uint64_t *slot = map_lookup_elem(pc, &k);
		if (!slot)
			_exit(17);
		__atomic_fetch_add(slot, 1, __ATOMIC_RELAXED);
		/* LRU: a new key every round keeps the clock hand evicting. */
		uint32_t lk = ((uint32_t)w << 24) | r;
		if (map_update_elem(lru, &lk, &val, BPF_NOEXIST))
			_exit(18);
		k = 32 + (uint32_t)w;
		uint64_t done = r + 1;
		/* Published after this round's adds: pairs with the parent's reads after waitpid. */
		__atomic_store_n((uint64_t *)map_lookup_elem(a, &k), done, __ATOMIC_RELEASE);
	}
	map_put(h);
	map_put(a);
	map_put(pc);
	map_put(lru);
	_exit(0);
}

static uint64_t lookup_u64_at(struct map *m, uint32_t k, int line)
{
	uint64_t v = 0;
	int err = map_sys_lookup_elem(m, &k, &v, 0);

	ck_assert_msg(err == 0, "line %d: lookup of key %#x: %d", line, k, err);
	return v;
}
#define lookup_u64(m, k) lookup_u64_at(m, k, __LINE__)

START_TEST(test_stress_kill_exact_totals)
{
	union bpf_attr ha = { 0 }, aa = { 0 }, pa = { 0 }, la = { 0 };
	struct map *h, *a, *pc, *lru;
	pid_t pids[WORKERS];
	bool killed[WORKERS] = { false };
	int n_killed = 0;
	uint64_t zero = 0;
	uint32_t k;

	ha.map_type = BPF_MAP_TYPE_HASH;
	ha.key_size = 4;
	ha.value_size = 8;
	ha.max_entries = MAX_ENTRIES;
	aa.map_type = BPF_MAP_TYPE_ARRAY;
	aa.key_size = 4;
	aa.value_size = 8;
	aa.max_entries = 64;
	pa = ha;
	pa.map_type = BPF_MAP_TYPE_PERCPU_HASH;
	la = ha;
	la.map_type = BPF_MAP_TYPE_LRU_HASH;
	la.max_entries = LRU_MAX;
	ck_assert_int_eq(map_create(&ha, NULL, &h), 0);
	ck_assert_int_eq(map_create(&aa, NULL, &a), 0);
	ck_assert_int_eq(map_create(&pa, NULL, &pc), 0);
	ck_assert_int_eq(map_create(&la, NULL, &lru), 0);
	uint32_t ncpu = map_possible_cpus();
	uint64_t *pzero = calloc(ncpu, 8), *pvals = calloc(ncpu, 8);
	k = 0;
	ck_assert_int_eq(map_sys_update_elem(pc, &k, pzero, BPF_NOEXIST), 0);
	for (k = 0; k < SHARED; k++)
		ck_assert_int_eq(map_sys_update_elem(h, &k, &zero, BPF_NOEXIST), 0);
	for (k = 500; k < 500 + WORKERS; k++)
		ck_assert_int_eq(map_sys_update_elem(h, &k, &zero, BPF_NOEXIST), 0);

	for (int w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		ck_assert_int_ge(pids[w], 0);
		if (pids[w] == 0)
			worker(w, map_fd(h), map_fd(a), map_fd(pc), map_fd(lru));
	}
	/* Kill the first KILLED workers at pseudo-random instants while all are running. */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int w = 0; w < KILLED; w++) {
		struct timespec ts = { 0, (long)(2 + rand() % 150) * 1000000L };

		nanosleep(&ts, NULL);
		kill(pids[w], SIGKILL);
	}
	for (int w = 0; w < WORKERS; w++) {
		int st;

		ck_assert_int_eq(waitpid(pids[w], &st, 0), pids[w]);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
			killed[w] = true;
			n_killed++;
		} else {
			ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %d status %#x", w, st);
		}
	}
	fprintf(stderr, "maps_stress: %d of %d workers killed mid-run\n", n_killed, WORKERS);
	/*
	 * An element a killed writer held comes back through htab_reclaim() when an
	 * insert needs it, at most once a second unless a lock was taken over since:
	 * wait that second out before checking that the full capacity is back.
	 */
	struct timespec sec = { 1, 100000000L };
	nanosleep(&sec, NULL);

	/* Exact per-worker counters and published progress. */
	uint64_t published = 0;
	for (int w = 0; w < WORKERS; w++) {
		uint64_t done = lookup_u64(a, 32 + (uint32_t)w);

		published += done;
		if (!killed[w]) {
			ck_assert_uint_eq(done, ROUNDS);
			ck_assert_uint_eq(lookup_u64(h, 500 + (uint32_t)w), ROUNDS);
			ck_assert_uint_eq(lookup_u64(a, 16 + (uint32_t)w), ROUNDS);
		} else {
			uint64_t c = lookup_u64(h, 500 + (uint32_t)w);

			ck_assert(c >= done && c <= done + 1);
		}
	}
	/* Shared keys: no lost update. */
	for (k = 0; k < SHARED; k++) {
		uint64_t hv = lookup_u64(h, k), av = lookup_u64(a, k);

		ck_assert_msg(hv >= published && hv <= published + (uint64_t)n_killed,
			      "hash key %u: %llu not in [%llu, +%d]", k, (unsigned long long)hv,
			      (unsigned long long)published, n_killed);
		ck_assert_msg(av >= published && av <= published + (uint64_t)n_killed,
			      "array index %u: %llu not in [%llu, +%d]", k, (unsigned long long)av,
			      (unsigned long long)published, n_killed);
	}
	/* Per-CPU counter: the sum over CPUs, same bounds. */
	k = 0;
	ck_assert_int_eq(map_sys_lookup_elem(pc, &k, pvals, 0), 0);
	uint64_t psum = 0;
	for (uint32_t c = 0; c < ncpu; c++)
		psum += pvals[c];
	ck_assert_msg(psum >= published && psum <= published + (uint64_t)n_killed,
		      "per-CPU sum %llu not in [%llu, +%d]", (unsigned long long)psum,
		      (unsigned long long)published, n_killed);
	free(pzero);
	free(pvals);
	/* LRU: never more than max_entries, no key twice; then still exactly full (nothing leaked). */
	{
		uint32_t lkey, lnext, ln = 0;
		uint8_t *lseen = calloc(WORKERS, ROUNDS);

		for (int e = map_sys_get_next_key(lru, NULL, &lnext); !e;
		     e = map_sys_get_next_key(lru, &lkey, &lnext)) {
			uint32_t lw = lnext >> 24, lr = lnext & 0xffffff;

			ck_assert(lw < WORKERS && lr < ROUNDS);
			ck_assert_msg(!lseen[lw * ROUNDS + lr], "LRU key %#x twice", lnext);
			lseen[lw * ROUNDS + lr] = 1;
			lkey = lnext;
			ln++;
		}
		ck_assert_uint_le(ln, LRU_MAX);
		free(lseen);
		for (lkey = 0xff000000u; lkey < 0xff000000u + LRU_MAX; lkey++) {
			uint64_t lv = lkey;

			ck_assert_int_eq(map_sys_update_elem(lru, &lkey, &lv, BPF_NOEXIST), 0);
		}
		/* The newest key is there; the map holds exactly LRU_MAX keys. */
		lkey = 0xff000000u + LRU_MAX - 1;
		ck_assert_uint_eq(lookup_u64(lru, lkey), lkey);
		ln = 0;
		for (int e = map_sys_get_next_key(lru, NULL, &lnext); !e;
		     e = map_sys_get_next_key(lru, &lkey, &lnext)) {
			lkey = lnext;
			ln++;
		}
		if (ln != LRU_MAX) {
			struct htab *ht = lru->priv;

			for (uint32_t i = 0; i < ht->pool_cnt; i++) {
				struct htab_elem *e = htab_elem_at(ht, i);

				if (e->state != HTAB_LINKED)
					fprintf(stderr, "lru: element %u state %u wlock %#llx hash %#x\n", i,
						e->state, (unsigned long long)e->wlock, e->hash);
			}
			for (uint32_t c = 0; c < ht->ncpu; c++) {
				struct htab_fl *fl = (struct htab_fl *)(ht->fl + c * 64);

				fprintf(stderr, "lru: fl %u lock %u head %u op %u idx %u\n", c, fl->lock,
					fl->head, fl->op, fl->op_idx);
			}
			fprintf(stderr, "lru: bump %u dead_seen %u reclaim_seen %u\n", ht->ctl->bump,
				ht->ctl->dead_seen, ht->ctl->reclaim_seen);
		}
		ck_assert_uint_eq(ln, LRU_MAX);
	}
	map_put(pc);
	map_put(lru);
	/* Survivors' private keys hold the last value written to each. */
	for (int w = 0; w < WORKERS; w++) {
		if (killed[w])
			continue;
		for (uint32_t j = 0; j < PRIVATE; j++) {
			uint32_t last = ROUNDS - 1 - ((ROUNDS - 1 - j) % PRIVATE);
			uint64_t want = ((uint64_t)last << 8) | (uint64_t)w;

			if (last % 8 == 0)
				want |= 1ull << 40;
			ck_assert_uint_eq(lookup_u64(h, priv_key(w, j)), want);
		}
	}
	/* Iteration sees every key exactly once; count is consistent with what survived. */
	uint8_t *seen = calloc(1u << 20, 1);
	uint32_t key, next, n = 0, killed_keys = 0;
	int err;
	for (err = map_sys_get_next_key(h, NULL, &next); !err;
	     err = map_sys_get_next_key(h, &key, &next)) {
		ck_assert_uint_lt(next, 1u << 20);
		ck_assert_msg(!seen[next], "key %u seen twice", next);
		seen[next] = 1;
		key = next;
		n++;
		if (next >= 10000 && killed[next / 10000 - 1])
			killed_keys++;
	}
	ck_assert_int_eq(err, -ENOENT);
	ck_assert_uint_eq(n, SHARED + WORKERS + (WORKERS - n_killed) * PRIVATE + killed_keys);
	ck_assert_uint_le(killed_keys, (uint32_t)n_killed * PRIVATE);
	free(seen);

	/* Fully usable: delete everything, then fill to capacity. */
	while (map_sys_get_next_key(h, NULL, &key) == 0)
		ck_assert_int_eq(map_sys_delete_elem(h, &key), 0);
	uint32_t filled = 0;
	for (k = 0; k < MAX_ENTRIES + 10; k++) {
		uint64_t v = k;

		err = map_sys_update_elem(h, &k, &v, BPF_NOEXIST);
		if (err == -E2BIG)
			break;
		ck_assert_int_eq(err, 0);
		filled++;
	}
	fprintf(stderr, "maps_stress: refilled %u of %u elements\n", filled, MAX_ENTRIES);
	if (filled < MAX_ENTRIES) {
		struct htab *ht = h->priv;

		for (uint32_t i = 0; i < ht->pool_cnt; i++) {
			struct htab_elem *e = htab_elem_at(ht, i);

			if (e->state != HTAB_LINKED)
				fprintf(stderr, "maps_stress: element %u state %u wlock %#llx\n", i,
					e->state, (unsigned long long)e->wlock);
		}
		for (uint32_t c = 0; c < ht->ncpu; c++) {
			struct htab_fl *fl = (struct htab_fl *)(ht->fl + c * 64);

			fprintf(stderr, "maps_stress: fl %u lock %u head %u op %u idx %u\n", c,
				fl->lock, fl->head, fl->op, fl->op_idx);
		}
		fprintf(stderr, "maps_stress: bump %u lock %u op %u\n", ht->ctl->bump,
			ht->ctl->bump_lock, ht->ctl->bump_op);
	}
	/* No element lost to the killed writers: the full capacity is back (maps/htab_alloc.c). */
	ck_assert_uint_eq(filled, MAX_ENTRIES);
	for (k = 0; k < filled; k++)
		ck_assert_uint_eq(lookup_u64(h, k), k);
	/* Every array stripe lock is free: whole-value updates of every index go through. */
	for (k = 0; k < 64; k++)
		ck_assert_int_eq(map_sys_update_elem(a, &k, &zero, 0), 0);
	map_put(h);
	map_put(a);
}
END_TEST

/* A lock holder killed while holding the lock: the next taker gets it, told to repair. */
START_TEST(test_lock_taken_over_from_killed_holder)
{
	union bpf_attr aa = { 0 };
	struct map *a;
	uint32_t k = 0;
	pid_t pid;
	int pfd[2];
	char c;

	aa.map_type = BPF_MAP_TYPE_ARRAY;
	aa.key_size = 4;
	aa.value_size = 8;
	aa.max_entries = 1;
	ck_assert_int_eq(map_create(&aa, NULL, &a), 0);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Hold a BPF spin lock word inside the value, then wait to be killed. */
		uint32_t *lock = map_lookup_elem(a, &k);
		map_lock_acquire((_Atomic uint32_t *)lock);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	kill(pid, SIGKILL);
	/* Not reaped yet: the owner is a zombie, which must count as dead. */
	uint32_t *lock = map_lookup_elem(a, &k);
	ck_assert_uint_eq(*lock, (uint32_t)pid);
	ck_assert_int_eq(map_lock_acquire((_Atomic uint32_t *)lock), 1);
	ck_assert_uint_eq(*lock, (uint32_t)getpid());
	map_lock_release((_Atomic uint32_t *)lock);
	ck_assert_int_eq(map_lock_acquire((_Atomic uint32_t *)lock), 0);
	map_lock_release((_Atomic uint32_t *)lock);
	waitpid(pid, NULL, 0);
	map_put(a);
}
END_TEST

/* The owner died and its pid now belongs to an unrelated process (no map mapped). */
START_TEST(test_lock_taken_over_from_reused_pid)
{
	_Atomic uint32_t *lock = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	union bpf_attr aa = { 0 };
	struct map *a;
	pid_t pid;

	/* We map a map file ourselves, so we are never "unrelated". */
	aa.map_type = BPF_MAP_TYPE_ARRAY;
	aa.key_size = 4;
	aa.value_size = 8;
	aa.max_entries = 1;
	ck_assert_int_eq(map_create(&aa, NULL, &a), 0);
	ck_assert(!map_lock_owner_gone((uint32_t)getpid(), true));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	/* Stand-in for a reused pid: a live process that maps no bpftime map. */
	struct timespec ts = { 0, 200000000L };
	nanosleep(&ts, NULL);
	ck_assert(!map_lock_owner_dead((uint32_t)pid));
	ck_assert(map_lock_owner_gone((uint32_t)pid, true));
	ck_assert(!map_lock_owner_gone((uint32_t)pid, false));
	atomic_store(lock, (uint32_t)pid);
	ck_assert_int_eq(map_lock_acquire(lock), 1);
	ck_assert_uint_eq(atomic_load(lock), (uint32_t)getpid());
	map_lock_release(lock);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	munmap((void *)lock, 4096);
	map_put(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("maps_stress");
	TCase *tc = tcase_create("stress");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_lock_taken_over_from_killed_holder);
	tcase_add_test(tc, test_lock_taken_over_from_reused_pid);
	tcase_add_test(tc, test_stress_kill_exact_totals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
