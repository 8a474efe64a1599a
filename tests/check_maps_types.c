/*
 * check_maps_types.c - the "maps_types" suite: the map types of the second
 * maps stream (ringbuf, perf event array, queue/stack, ...), one TCase per
 * type. Wherever this machine lets us (root), the same sequence runs on the
 * real kernel map of the same type and the results are compared; helpers
 * are compared by running them in the kernel through BPF_PROG_TEST_RUN of a
 * tiny program (tests/check_maps_kprog.h).
 *
 * The ring buffer's consumer is unmodified libbpf: ring_buffer__new() on the
 * map's memfd. libbpf asks the kernel for the map's info and adds the fd to
 * an epoll set; both would fail on a memfd, so this binary interposes
 * syscall() (BPF_OBJ_GET_INFO_BY_FD for our fds) and epoll_ctl() (our fd ->
 * an eventfd our producers' notify callback writes), which is what the
 * supervisor does for a real client.
 */
#include "config.h"

#include <bpf/libbpf.h>
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "maps/helpers.h"
#include "maps/maps.h"
#include "maps/maps_ext.h"
#include "tests/check_maps_kernel.h"
#include "tests/check_maps_kprog.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

/* ---- kernel availability ---- */

static int kernel_ok = -1;

static bool kernel_available(void)
{
	if (kernel_ok < 0) {
		union bpf_attr a = { 0 };
		int fd;

		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		fd = kmap_create_attr(&a);
		kernel_ok = fd >= 0;
		if (fd >= 0)
			close(fd);
		else
			fprintf(stderr, "check_maps_types: kernel maps unavailable (%s)\n",
				strerror(-fd));
	}
	return kernel_ok;
}

static union bpf_attr mk_attr(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t max, uint32_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = max;
	a.map_flags = flags;
	return a;
}

/* Create on both sides; the kernel must agree on the errno. *kfd is -1 without a kernel. */
static int pair_create(const union bpf_attr *a, struct map **m, int *kfd)
{
	int err = map_create(a, NULL, m);

	*kfd = -1;
	if (kernel_available()) {
		int k = kmap_create_attr(a);

		ck_assert_msg((k >= 0 ? 0 : k) == err,
			      "create type %u ksz %u vsz %u max %u flags %#x extra %llu: kernel %d bpftime %d",
			      a->map_type, a->key_size, a->value_size, a->max_entries, a->map_flags,
			      (unsigned long long)a->map_extra, k >= 0 ? 0 : k, err);
		*kfd = k >= 0 ? k : -1;
	}
	if (err)
		*m = NULL;
	return err;
}

#define KCMP(kfd, kexpr, ours, what)                                                           \
	do {                                                                                   \
		if ((kfd) >= 0) {                                                              \
			int kr_ = (kexpr);                                                     \
			ck_assert_msg(kr_ == (ours), "%s: kernel %d bpftime %d", what, kr_,    \
				      (int)(ours));                                            \
		}                                                                              \
	} while (0)

/* ---- interposition so unmodified libbpf can consume our ring buffer ---- */

#define FAKE_MAX 8
static struct {
	int fd;
	struct map *m;
	int efd;
} fakes[FAKE_MAX];

static void fake_add(struct map *m, int efd)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (!fakes[i].m) {
			fakes[i].fd = map_fd(m);
			fakes[i].m = m;
			fakes[i].efd = efd;
			return;
		}
	ck_abort_msg("too many fake fds");
}

static void fake_del(struct map *m)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (fakes[i].m == m)
			fakes[i].m = NULL;
}

static int fake_find(int fd)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (fakes[i].m && fakes[i].fd == fd)
			return i;
	return -1;
}

static long pb_syscall(long nr, long *a, bool *handled);
static int pb_ring_find(int fd);
static int pb_efds[64];

/*
 * Reads six variadic words whatever the caller passed, like glibc's own
 * syscall(); past the register-passed ones that reads the caller's stack,
 * which ASan would flag.
 */
__attribute__((no_sanitize("address"))) long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	{
		bool handled;
		long r = pb_syscall(nr, a, &handled);

		if (handled)
			return r;
	}
	if (nr == __NR_bpf && a[0] == BPF_OBJ_GET_INFO_BY_FD) {
		union bpf_attr *attr = (union bpf_attr *)a[1];
		int i = fake_find((int)attr->info.bpf_fd);

		if (i >= 0) {
			struct bpf_map_info info;
			uint32_t len = attr->info.info_len < sizeof(info) ? attr->info.info_len
									  : sizeof(info);

			map_get_info(fakes[i].m, &info);
			memcpy((void *)(uintptr_t)attr->info.info, &info, len);
			attr->info.info_len = len;
			return 0;
		}
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	static int (*real)(int, int, int, struct epoll_event *);
	int i = fake_find(fd);

	if (!real)
		real = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
	if (i < 0 && (i = pb_ring_find(fd)) >= 0)
		return real(epfd, op, pb_efds[i], ev);
	return real(epfd, op, i >= 0 ? fakes[i].efd : fd, ev);
}

/* ================= RINGBUF ================= */

struct rb_create_case {
	uint32_t ksz, vsz, max, flags;
	uint64_t extra;
	int want;
};

static const struct rb_create_case rb_create_cases[] = {
	{ 0, 0, 4096, 0, 0, 0 },
	{ 0, 0, 8192, 0, 0, 0 },
	{ 0, 0, 1u << 20, 0, 0, 0 },
	{ 4, 0, 4096, 0, 0, -EINVAL },
	{ 0, 8, 4096, 0, 0, -EINVAL },
	{ 0, 0, 0, 0, 0, -EINVAL },
	{ 0, 0, 2048, 0, 0, -EINVAL },
	{ 0, 0, 4095, 0, 0, -EINVAL },
	{ 0, 0, 12288, 0, 0, -EINVAL },
	{ 0, 0, 4096, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ 0, 0, 4096, BPF_F_RDONLY_PROG, 0, -EINVAL },
	{ 0, 0, 4096, BPF_F_MMAPABLE, 0, -EINVAL },
	{ 0, 0, 4096, BPF_F_NUMA_NODE, 0, 0 },
	{ 0, 0, 4096, 0, 1, -EINVAL },
	{ 0, 0, 4096, BPF_F_RDONLY | BPF_F_WRONLY, 0, -EINVAL },
};

START_TEST(test_ringbuf_create_checks_match_kernel)
{
	const struct rb_create_case *c = &rb_create_cases[_i];
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, c->ksz, c->vsz, c->max, c->flags);
	struct map *m;
	int kfd;

	a.map_extra = c->extra;
	ck_assert_int_eq(pair_create(&a, &m, &kfd), c->want);
	if (!m)
		return;
	ck_assert_uint_eq(map_max_entries(m), c->max);
	ck_assert_uint_eq(map_ringbuf_query(m, BPF_RB_RING_SIZE), c->max);
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

START_TEST(test_ringbuf_syscall_ops_enotsupp)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
	uint8_t buf[64] = { 0 }, nk[64];
	struct map *m;
	int kfd, err;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	err = map_sys_lookup_elem(m, NULL, buf, 0);
	ck_assert_int_eq(err, -ENOTSUPP);
	KCMP(kfd, kmap_lookup(kfd, NULL, buf, 0), err, "lookup");
	err = map_sys_update_elem(m, NULL, buf, 0);
	ck_assert_int_eq(err, -ENOTSUPP);
	KCMP(kfd, kmap_update(kfd, NULL, buf, 0), err, "update");
	err = map_sys_delete_elem(m, NULL);
	ck_assert_int_eq(err, -ENOTSUPP);
	KCMP(kfd, kmap_delete(kfd, NULL), err, "delete");
	err = map_sys_get_next_key(m, NULL, nk);
	ck_assert_int_eq(err, -ENOTSUPP);
	KCMP(kfd, kmap_next(kfd, NULL, nk), err, "next_key");
	err = map_sys_lookup_and_delete_elem(m, NULL, buf, 0);
	KCMP(kfd, kmap_lookup_and_delete(kfd, NULL, buf, 0), err, "lookup_and_delete");
	ck_assert_ptr_null(map_lookup_elem(m, buf));
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

/* The consumer's view of a ring: what libbpf maps. */
struct rb_view {
	uint64_t *cons;         /* RW page at offset 0 */
	const uint64_t *prod;   /* RO at offset 4096 */
	const uint8_t *data;    /* prod + 4096, 2 * size bytes */
	uint64_t size;
	void *m1, *m2;
};

static void rb_view_map(int fd, uint64_t size, struct rb_view *v)
{
	v->size = size;
	v->m1 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(v->m1, MAP_FAILED);
	v->m2 = mmap(NULL, 4096 + 2 * size, PROT_READ, MAP_SHARED, fd, 4096);
	ck_assert_ptr_ne(v->m2, MAP_FAILED);
	v->cons = v->m1;
	v->prod = v->m2;
	v->data = (const uint8_t *)v->m2 + 4096;
}

static void rb_view_unmap(struct rb_view *v)
{
	munmap(v->m1, 4096);
	munmap(v->m2, 4096 + 2 * v->size);
}

/*
 * Consume every committed record as libbpf's ringbuf_process_ring() does;
 * append each record's len word (with the DISCARD bit) to @lens. Returns the
 * number of records passed.
 */
static int rb_view_consume(struct rb_view *v, uint32_t *lens, int max)
{
	uint64_t c = __atomic_load_n(v->cons, __ATOMIC_ACQUIRE);
	uint64_t p = __atomic_load_n(v->prod, __ATOMIC_ACQUIRE);
	int n = 0;

	while (c < p) {
		uint32_t len = __atomic_load_n((const uint32_t *)(v->data + (c & (v->size - 1))),
					       __ATOMIC_ACQUIRE);

		if (len & (1u << 31))
			break;
		if (n < max)
			lens[n] = len;
		n++;
		c += ((len & ~(1u << 30)) + 8 + 7) & ~7ull;
		__atomic_store_n(v->cons, c, __ATOMIC_RELEASE);
	}
	return n;
}

/* Kernel programs: reserve(size)+submit/discard, output(8 bytes, flags), query(flag). */
static int kprog_reserve(int mfd, int32_t size, bool discard)
{
	struct bpf_insn p[] = {
		KLD_MAP(BPF_REG_1, mfd),
		KMOV_IMM(BPF_REG_2, size),
		KMOV_IMM(BPF_REG_3, 0),
		KCALL(BPF_FUNC_ringbuf_reserve),
		KJNE_IMM(BPF_REG_0, 0, 2),
		KMOV_IMM(BPF_REG_0, 1),
		KEXIT(),
		KMOV_REG(BPF_REG_1, BPF_REG_0),
		KMOV_IMM(BPF_REG_2, 0),
		KCALL(discard ? BPF_FUNC_ringbuf_discard : BPF_FUNC_ringbuf_submit),
		KMOV_IMM(BPF_REG_0, 0),
		KEXIT(),
	};
	int fd = kprog_load(p, sizeof(p) / sizeof(p[0]));

	ck_assert_msg(fd >= 0, "reserve prog: %d\n%s", fd, kprog_log);
	return fd;
}

static int kprog_output(int mfd, int32_t flags)
{
	struct bpf_insn p[] = {
		KST_DW(BPF_REG_10, -8, 0x5a5a5a5a),
		KLD_MAP(BPF_REG_1, mfd),
		KMOV_REG(BPF_REG_2, BPF_REG_10),
		KADD_IMM(BPF_REG_2, -8),
		KMOV_IMM(BPF_REG_3, 8),
		KMOV_IMM(BPF_REG_4, flags),
		KCALL(BPF_FUNC_ringbuf_output),
		KEXIT(),
	};
	int fd = kprog_load(p, sizeof(p) / sizeof(p[0]));

	ck_assert_msg(fd >= 0, "output prog: %d\n%s", fd, kprog_log);
	return fd;
}

static int kprog_query(int mfd, int32_t flag)
{
	struct bpf_insn p[] = {
		KLD_MAP(BPF_REG_1, mfd),
		KMOV_IMM(BPF_REG_2, flag),
		KCALL(BPF_FUNC_ringbuf_query),
		KEXIT(),
	};
	int fd = kprog_load(p, sizeof(p) / sizeof(p[0]));

	ck_assert_msg(fd >= 0, "query prog: %d\n%s", fd, kprog_log);
	return fd;
}

static uint32_t krun(int pfd)
{
	uint32_t r = 0;

	ck_assert_int_eq(kprog_run(pfd, &r), 0);
	return r;
}

/*
 * One pseudo-random sequence of reserve+submit, reserve+discard, output
 * (with bad flags too) and consumption, on the kernel's ring and ours; after
 * every step the helper results, the positions from bpf_ringbuf_query and
 * every record header the consumer passes must be identical. Covers
 * -EAGAIN/NULL at the "size - 1 bytes ahead" limit and wrapping.
 */
START_TEST(test_ringbuf_helpers_match_kernel)
{
	static const int32_t sizes[] = { 0, 1, 7, 8, 100, 1000, 2040, 4000, 8184 - 8, 9000 };
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, 0, 0, 8192, 0);
	int ksub[10], kdis[10], kout[3], kq[4];
	jit_helper_fn tbl[256] = { 0 };
	struct rb_view kv, bv;
	struct map *m;
	int kfd, i;
	uint32_t seed = 12345;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	if (kfd < 0) {
		map_put(m);
		return; /* nothing to compare with */
	}
	map_helpers_fill(tbl, 256);
	for (i = 0; i < 10; i++) {
		ksub[i] = kprog_reserve(kfd, sizes[i], false);
		kdis[i] = kprog_reserve(kfd, sizes[i], true);
	}
	kout[0] = kprog_output(kfd, 0);
	kout[1] = kprog_output(kfd, BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP);
	kout[2] = kprog_output(kfd, 4);
	kq[0] = kprog_query(kfd, BPF_RB_AVAIL_DATA);
	kq[1] = kprog_query(kfd, BPF_RB_CONS_POS);
	kq[2] = kprog_query(kfd, BPF_RB_PROD_POS);
	kq[3] = kprog_query(kfd, 77);
	rb_view_map(kfd, 8192, &kv);
	rb_view_map(map_fd(m), 8192, &bv);

	for (int step = 0; step < 3000; step++) {
		uint32_t kr, br;
		int op, si;

		seed = seed * 1103515245u + 12345u;
		op = (seed >> 16) % 8;
		si = (seed >> 8) % 10;
		if (op <= 2 || op == 3) {
			bool dis = op == 3;
			void *s;

			kr = krun(dis ? kdis[si] : ksub[si]);
			s = (void *)(uintptr_t)tbl[BPF_FUNC_ringbuf_reserve]((uintptr_t)m,
									     (uint64_t)sizes[si], 0, 0, 0);
			br = s ? 0 : 1;
			if (s) {
				memset(s, 0xab, (size_t)sizes[si]);
				tbl[dis ? BPF_FUNC_ringbuf_discard : BPF_FUNC_ringbuf_submit](
					(uintptr_t)s, 0, 0, 0, 0);
			}
			ck_assert_msg(kr == br, "step %d reserve(%d): kernel %u bpftime %u", step,
				      sizes[si], kr, br);
		} else if (op == 4 || op == 5) {
			uint64_t v = 0x5a5a5a5a, fl = si < 7 ? 0 : si < 9 ? 3 : 4;

			kr = krun(kout[si < 7 ? 0 : si < 9 ? 1 : 2]);
			br = (uint32_t)tbl[BPF_FUNC_ringbuf_output]((uintptr_t)m, (uintptr_t)&v, 8, fl,
								    0);
			ck_assert_msg(kr == br, "step %d output(flags %llu): kernel %d bpftime %d",
				      step, (unsigned long long)fl, (int)kr, (int)br);
		} else {
			uint32_t kl[1024], bl[1024];
			int kn = rb_view_consume(&kv, kl, 1024), bn = rb_view_consume(&bv, bl, 1024);

			ck_assert_int_eq(kn, bn);
			for (i = 0; i < kn && i < 1024; i++)
				ck_assert_msg(kl[i] == bl[i], "step %d record %d: len kernel %#x bpftime %#x",
					      step, i, kl[i], bl[i]);
		}
		ck_assert_uint_eq(krun(kq[0]), (uint32_t)map_ringbuf_query(m, BPF_RB_AVAIL_DATA));
		ck_assert_uint_eq(krun(kq[1]), (uint32_t)map_ringbuf_query(m, BPF_RB_CONS_POS));
		ck_assert_uint_eq(krun(kq[2]),
				  (uint32_t)tbl[BPF_FUNC_ringbuf_query]((uintptr_t)m, BPF_RB_PROD_POS,
									0, 0, 0));
		ck_assert_uint_eq(krun(kq[3]), (uint32_t)map_ringbuf_query(m, 77));
	}
	ck_assert_uint_gt(map_ringbuf_query(m, BPF_RB_PROD_POS), 4 * 8192); /* it wrapped */
	rb_view_unmap(&kv);
	rb_view_unmap(&bv);
	for (i = 0; i < 10; i++) {
		close(ksub[i]);
		close(kdis[i]);
	}
	for (i = 0; i < 3; i++)
		close(kout[i]);
	for (i = 0; i < 4; i++)
		close(kq[i]);
	close(kfd);
	map_put(m);
}
END_TEST

/* The consumer_pos word, as a consumer writes it. */
static volatile uint64_t *rb_cons(struct map *m)
{
	return (volatile uint64_t *)(map_ringbuf_data_area(m) - MAP_RINGBUF_DATA_OFF);
}

/* Helper-level rules that need no kernel: flags, limits, pending records. */
START_TEST(test_ringbuf_reserve_rules)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
	struct map *m;
	void *s1, *s2, *s3;
	uint64_t v = 1;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	ck_assert_ptr_null(map_ringbuf_reserve(m, 8, 1));         /* any flag */
	ck_assert_ptr_null(map_ringbuf_reserve(m, 4096 - 7, 0));  /* len 4104 > size */
	ck_assert_ptr_null(map_ringbuf_reserve(m, 1ull << 40, 0)); /* > RINGBUF_MAX_RECORD_SZ */
	ck_assert_int_eq(map_ringbuf_output(m, &v, 8, 8), -EINVAL);
	/* The producer may get at most size - 1 bytes ahead: 4088 data bytes never fit. */
	ck_assert_ptr_null(map_ringbuf_reserve(m, 4088, 0));
	s1 = map_ringbuf_reserve(m, 4080, 0);
	ck_assert_ptr_nonnull(s1);
	ck_assert_ptr_null(map_ringbuf_reserve(m, 0, 0));
	map_ringbuf_discard(s1, 0);
	ck_assert_uint_eq(map_ringbuf_query(m, BPF_RB_AVAIL_DATA), 4088);
	/* Consumer passes the discarded record. */
	*rb_cons(m) = 4088;
	ck_assert_uint_eq(map_ringbuf_query(m, BPF_RB_AVAIL_DATA), 0);
	/* An uncommitted record blocks as the kernel's pending_pos rule says. */
	s1 = map_ringbuf_reserve(m, 2000, 0);
	s2 = map_ringbuf_reserve(m, 1000, 0);
	ck_assert_ptr_nonnull(s1);
	ck_assert_ptr_nonnull(s2);
	map_ringbuf_submit(s2, 0);
	s3 = map_ringbuf_reserve(m, 1100, 0); /* 2008 + 1008 + 1112 > 4095 */
	ck_assert_ptr_null(s3);
	map_ringbuf_submit(s1, 0);
	ck_assert_ptr_null(map_ringbuf_reserve(m, 1100, 0)); /* the consumer has not moved */
	*rb_cons(m) = 4088 + 2008 + 1008;
	s3 = map_ringbuf_reserve(m, 1100, 0);
	ck_assert_ptr_nonnull(s3);
	map_ringbuf_submit(s3, 0);
	map_put(m);
}
END_TEST

/* The kernel's wakeup rule, counted through the shared sequence and the callback. */
static int notify_calls;

static void count_notify(struct map *m, void *ctx)
{
	notify_calls++;
	ck_assert_ptr_eq(ctx, &notify_calls);
}

START_TEST(test_ringbuf_wakeup_rule)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
	struct map *m;
	uint64_t v = 7;
	uint32_t s0;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	ck_assert_int_eq(map_ringbuf_set_notify(m, count_notify, &notify_calls), 0);
	s0 = map_ringbuf_wake_seq(m);
	ck_assert_int_eq(map_ringbuf_output(m, &v, 8, 0), 0); /* consumer at this record: wake */
	ck_assert_uint_eq(map_ringbuf_wake_seq(m), s0 + 1);
	ck_assert_int_eq(map_ringbuf_output(m, &v, 8, 0), 0); /* consumer behind: no wake */
	ck_assert_uint_eq(map_ringbuf_wake_seq(m), s0 + 1);
	ck_assert_int_eq(map_ringbuf_output(m, &v, 8, BPF_RB_FORCE_WAKEUP), 0);
	ck_assert_uint_eq(map_ringbuf_wake_seq(m), s0 + 2);
	ck_assert_int_eq(notify_calls, 2);
	/* Consumer catches up; NO_WAKEUP suppresses even then. */
	*rb_cons(m) = 48;
	ck_assert_int_eq(map_ringbuf_output(m, &v, 8, BPF_RB_NO_WAKEUP), 0);
	ck_assert_uint_eq(map_ringbuf_wake_seq(m), s0 + 2);
	ck_assert_int_eq(map_ringbuf_wait(m, s0 + 2, 0), 1); /* data is available */
	ck_assert_int_eq(map_ringbuf_set_notify(m, NULL, NULL), 0);
	map_put(m);
}
END_TEST

/* A consumer in one process sleeps in map_ringbuf_wait(); a producer in another wakes it. */
START_TEST(test_ringbuf_wait_cross_process)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
	struct map *m;
	uint64_t v = 9;
	uint32_t seq;
	pid_t pid;
	int st, r;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	seq = map_ringbuf_wake_seq(m);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct map *c;

		usleep(50 * 1000);
		if (map_open_fd(map_fd(m), &c))
			_exit(2);
		_exit(map_ringbuf_output(c, &v, 8, 0) ? 3 : 0);
	}
	r = map_ringbuf_wait(m, seq, 30000);
	ck_assert_int_eq(r, 1);
	ck_assert_uint_eq(map_ringbuf_query(m, BPF_RB_AVAIL_DATA), 16);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_int_eq(map_ringbuf_wait(m, map_ringbuf_wake_seq(m), 10), 1); /* avail > 0 */
	map_put(m);
}
END_TEST

/* A producer killed between reserve and submit: the consumer stalls, reap repairs it. */
START_TEST(test_ringbuf_dead_producer_reaped)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
	uint32_t lens[64];
	struct rb_view v;
	struct map *m;
	uint64_t x = 3;
	pid_t pid;
	int st, i;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (!map_ringbuf_reserve(m, 100, 0))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st));
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(map_ringbuf_output(m, &x, 8, 0), 0);
	rb_view_map(map_fd(m), 4096, &v);
	ck_assert_int_eq(rb_view_consume(&v, lens, 64), 0); /* stalled at the BUSY record */
	ck_assert_int_eq(map_ringbuf_reap(m), 1);
	ck_assert_int_eq(map_ringbuf_reap(m), 0);
	ck_assert_int_eq(rb_view_consume(&v, lens, 64), 6);
	ck_assert_uint_eq(lens[0], 100 | (1u << 30));
	for (i = 1; i < 6; i++)
		ck_assert_uint_eq(lens[i], 8);

	/* Same through the reservation path: fill the ring behind a dead reservation. */
	pid = fork();
	if (pid == 0) {
		if (!map_ringbuf_reserve(m, 2000, 0))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	void *s1 = map_ringbuf_reserve(m, 1500, 0);

	ck_assert_ptr_nonnull(s1);
	map_ringbuf_submit(s1, 0);
	ck_assert_int_eq(rb_view_consume(&v, lens, 64), 0); /* stalled again */
	/* 2008 + 1512 + 1008 > 4095: blocked behind the dead record, which gets reaped. */
	ck_assert_ptr_null(map_ringbuf_reserve(m, 1000, 0));
	ck_assert_int_eq(rb_view_consume(&v, lens, 64), 2);
	ck_assert_uint_eq(lens[0], 2000 | (1u << 30));
	ck_assert_uint_eq(lens[1], 1500);
	s1 = map_ringbuf_reserve(m, 1000, 0);
	ck_assert_ptr_nonnull(s1);
	map_ringbuf_discard(s1, 0);
	rb_view_unmap(&v);
	map_put(m);
}
END_TEST

/* ---- many producer processes, unmodified libbpf consumer ---- */

#define RB_PRODUCERS 3
#define RB_PER_PRODUCER 20000

struct rb_rec {
	uint32_t producer;
	uint32_t seq;
	uint32_t len; /* payload bytes after this struct */
	uint32_t sum;
};

struct rb_consumer_state {
	uint32_t next_seq[RB_PRODUCERS];
	uint64_t total;
	int bad;
};

static uint8_t pay(uint32_t p, uint32_t s, uint32_t i)
{
	return (uint8_t)(p * 131 + s * 7 + i * 13);
}

static int rb_sample(void *ctx, void *data, size_t size)
{
	struct rb_consumer_state *st = ctx;
	const struct rb_rec *r = data;
	const uint8_t *b = (const uint8_t *)(r + 1);

	if (size < sizeof(*r) || r->producer >= RB_PRODUCERS || size != sizeof(*r) + r->len) {
		st->bad++;
		return 0;
	}
	if (r->seq != st->next_seq[r->producer])
		st->bad++;
	st->next_seq[r->producer] = r->seq + 1;
	for (uint32_t i = 0; i < r->len; i++)
		if (b[i] != pay(r->producer, r->seq, i)) {
			st->bad++;
			break;
		}
	st->total++;
	return 0;
}

static void efd_notify(struct map *m, void *ctx)
{
	uint64_t one = 1;

	(void)!write(*(int *)ctx, &one, sizeof(one));
}

static void rb_producer(struct map *m, uint32_t id, int efd, uint64_t *wraps)
{
	const uint8_t *data0 = map_ringbuf_data_area(m);
	uint8_t buf[sizeof(struct rb_rec) + 700];
	uint32_t seed = id * 7919 + 1;

	map_ringbuf_set_notify(m, efd_notify, &efd);
	for (uint32_t s = 0; s < RB_PER_PRODUCER; s++) {
		struct rb_rec *r = (struct rb_rec *)buf;
		uint32_t len;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 700;
		r->producer = id;
		r->seq = s;
		r->len = len;
		r->sum = 0;
		for (uint32_t i = 0; i < len; i++)
			buf[sizeof(*r) + i] = pay(id, s, i);
		for (;;) {
			if (s & 1) {
				if (map_ringbuf_output(m, buf, sizeof(*r) + len, 0) == 0)
					break;
			} else {
				uint8_t *p = map_ringbuf_reserve(m, sizeof(*r) + len, 0);

				if (p) {
					memcpy(p, buf, sizeof(*r) + len);
					/* Records that run past the end of the first copy. */
					if ((uint64_t)(p - data0) + sizeof(*r) + len > 16384)
						__atomic_fetch_add(wraps, 1, __ATOMIC_RELAXED);
					map_ringbuf_submit(p, 0);
					break;
				}
			}
			sched_yield();
		}
	}
}

START_TEST(test_ringbuf_libbpf_consumer_multiprocess)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_RINGBUF, 0, 0, 16384, 0);
	struct rb_consumer_state st = { 0 };
	struct ring_buffer *rb;
	uint64_t *wraps;
	pid_t pids[RB_PRODUCERS];
	struct map *m;
	int efd, i, stat, wakeups = 0;
	time_t deadline;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(efd, 0);
	fake_add(m, efd);
	rb = ring_buffer__new(map_fd(m), rb_sample, &st, NULL);
	ck_assert_msg(rb != NULL, "ring_buffer__new: %s", strerror(errno));
	wraps = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(wraps, MAP_FAILED);
	*wraps = 0;
	for (i = 0; i < RB_PRODUCERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct map *c;

			if (map_open_fd(map_fd(m), &c))
				_exit(2);
			rb_producer(c, (uint32_t)i, efd, wraps);
			map_put(c);
			_exit(0);
		}
	}
	/*
	 * ring_buffer__poll() is epoll_wait + consume; the eventfd must be
	 * drained BEFORE consuming, else a wakeup sent between libbpf's last
	 * look at the ring and the drain is lost. So: wait on libbpf's own
	 * epoll fd, drain, then ring_buffer__consume().
	 */
	deadline = time(NULL) + 120;
	while (st.total < (uint64_t)RB_PRODUCERS * RB_PER_PRODUCER && time(NULL) < deadline) {
		struct epoll_event ev;
		uint64_t cnt;
		int n;

		n = epoll_wait(ring_buffer__epoll_fd(rb), &ev, 1, 100);
		ck_assert_int_ge(n, 0);
		if (n > 0)
			wakeups++;
		(void)!read(efd, &cnt, sizeof(cnt));
		ck_assert_int_ge(ring_buffer__consume(rb), 0);
	}
	for (i = 0; i < RB_PRODUCERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &stat, 0), pids[i]);
		ck_assert_int_eq(WEXITSTATUS(stat), 0);
	}
	ck_assert_int_eq(ring_buffer__consume(rb), 0);
	ck_assert_int_eq(st.bad, 0);
	ck_assert_uint_eq(st.total, (uint64_t)RB_PRODUCERS * RB_PER_PRODUCER);
	for (i = 0; i < RB_PRODUCERS; i++)
		ck_assert_uint_eq(st.next_seq[i], RB_PER_PRODUCER);
	ck_assert_uint_gt(*wraps, 0);
	ck_assert_int_gt(wakeups, 0);
	ring_buffer__free(rb);
	fake_del(m);
	close(efd);
	munmap(wraps, 4096);
	map_put(m);
}
END_TEST


/* ================= PERF_EVENT_ARRAY and PROG_ARRAY ================= */

struct fd_create_case {
	uint32_t type, ksz, vsz, max, flags;
	int want;
};

static const struct fd_create_case fd_create_cases[] = {
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, 0, 0 },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_PRESERVE_ELEMS, 0 },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 8, 2, 0, -EINVAL },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 8, 4, 2, 0, -EINVAL },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_RDONLY_PROG, -EINVAL },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_WRONLY_PROG, -EINVAL },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_MMAPABLE, -EINVAL },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_NO_PREALLOC, -EINVAL },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_RDONLY, 0 },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_INNER_MAP, -EINVAL },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0, 0 },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, BPF_F_PRESERVE_ELEMS, -EINVAL },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 0, 4, 0, -EINVAL },
	{ BPF_MAP_TYPE_PROG_ARRAY, 0, 4, 4, 0, -EINVAL },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, BPF_F_NUMA_NODE, 0 },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, BPF_F_ZERO_SEED, -EINVAL },
};

START_TEST(test_fd_array_create_checks_match_kernel)
{
	const struct fd_create_case *c = &fd_create_cases[_i];
	union bpf_attr a = mk_attr(c->type, c->ksz, c->vsz, c->max, c->flags);
	struct map *m;
	int kfd;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), c->want);
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

static int perf_open_bpf_output(int cpu)
{
	struct perf_event_attr pa;

	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = PERF_TYPE_SOFTWARE;
	pa.config = PERF_COUNT_SW_BPF_OUTPUT;
	pa.sample_type = PERF_SAMPLE_RAW;
	pa.sample_period = 1;
	pa.wakeup_events = 1;
	return (int)syscall(__NR_perf_event_open, &pa, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static uint32_t kobj_id(int fd, bool prog)
{
	union bpf_attr a;
	struct bpf_prog_info pi;
	struct bpf_map_info mi;

	memset(&a, 0, sizeof(a));
	memset(&pi, 0, sizeof(pi));
	memset(&mi, 0, sizeof(mi));
	a.info.bpf_fd = fd;
	a.info.info_len = prog ? sizeof(pi) : sizeof(mi);
	a.info.info = prog ? (uintptr_t)&pi : (uintptr_t)&mi;
	ck_assert_int_eq(kbpf(BPF_OBJ_GET_INFO_BY_FD, &a), 0);
	return prog ? pi.id : mi.id;
}

/* Syscall-side errnos, with real objects in the kernel's slots and their ids in ours. */
START_TEST(test_prog_array_syscall_ops_match_kernel)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0);
	struct bpf_insn ret0[] = { KMOV_IMM(BPF_REG_0, 0), KEXIT() };
	uint32_t k, v, kv, nk, id = 4242, pid;
	struct map *m;
	int kfd, pfd = -1, err;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	if (kfd >= 0) {
		pfd = kprog_load(ret0, 2);
		ck_assert_int_ge(pfd, 0);
		id = kobj_id(pfd, true);
	}
	k = 1;
	err = map_sys_lookup_elem(m, &k, &v, 0);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_lookup(kfd, &k, &kv, 0), err, "lookup empty");
	err = map_sys_delete_elem(m, &k);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_delete(kfd, &k), err, "delete empty");
	k = 4;
	err = map_sys_delete_elem(m, &k);
	ck_assert_int_eq(err, -E2BIG);
	KCMP(kfd, kmap_delete(kfd, &k), err, "delete oob");
	err = map_sys_update_elem(m, &k, &id, BPF_ANY);
	ck_assert_int_eq(err, -E2BIG);
	KCMP(kfd, kmap_update(kfd, &k, &pfd, BPF_ANY), err, "update oob");
	k = 1;
	err = map_sys_update_elem(m, &k, &id, BPF_NOEXIST);
	ck_assert_int_eq(err, -EINVAL);
	KCMP(kfd, kmap_update(kfd, &k, &pfd, BPF_NOEXIST), err, "update NOEXIST");
	err = map_sys_update_elem(m, &k, &id, BPF_EXIST);
	ck_assert_int_eq(err, -EINVAL);
	KCMP(kfd, kmap_update(kfd, &k, &pfd, BPF_EXIST), err, "update EXIST");
	err = map_sys_update_elem(m, &k, &id, BPF_ANY);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_update(kfd, &k, &pfd, BPF_ANY), err, "update");
	err = map_sys_lookup_elem(m, &k, &v, 0);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_eq(v, id);
	if (kfd >= 0) {
		ck_assert_int_eq(kmap_lookup(kfd, &k, &kv, 0), 0);
		ck_assert_uint_eq(kv, v); /* the kernel answers with the program's id too */
	}
	ck_assert_int_eq(map_prog_array_get(m, 1, &pid), 0);
	ck_assert_uint_eq(pid, id);
	ck_assert_int_eq(map_prog_array_get(m, 0, &pid), -ENOENT);
	ck_assert_int_eq(map_prog_array_get(m, 4, &pid), -ENOENT);
	ck_assert_int_eq(map_prog_array_get(m, UINT32_MAX, &pid), -ENOENT);
	err = map_sys_get_next_key(m, NULL, &nk);
	KCMP(kfd, kmap_next(kfd, NULL, &kv), err, "next NULL");
	ck_assert_uint_eq(nk, 0);
	k = 3;
	err = map_sys_get_next_key(m, &k, &nk);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_next(kfd, &k, &kv), err, "next last");
	err = map_sys_lookup_and_delete_elem(m, &k, &v, 0);
	KCMP(kfd, kmap_lookup_and_delete(kfd, &k, &kv, 0), err, "lookup_and_delete");
	k = 1;
	err = map_sys_delete_elem(m, &k);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_delete(kfd, &k), err, "delete");
	ck_assert_int_eq(map_prog_array_get(m, 1, &pid), -ENOENT);
	/* An fd emul/ could not resolve. */
	v = 0;
	ck_assert_int_eq(map_sys_update_elem(m, &k, &v, BPF_ANY), -EBADF);
	map_put(m);
	if (pfd >= 0)
		close(pfd);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

/* The runtime's perf pages wake by the kernel's rule: every wakeup_events samples, or past the watermark. */
START_TEST(test_perf_page_wakeup_rule)
{
	uint8_t *pg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t *wev, *wm, *seq;

	ck_assert_ptr_ne(pg, MAP_FAILED);
	wev = (uint32_t *)(pg + MAP_PERF_PG_WAKEUP_EVENTS_OFF);
	wm = (uint32_t *)(pg + MAP_PERF_PG_WATERMARK_OFF);
	seq = (uint32_t *)(pg + MAP_PERF_PG_WAKE_SEQ_OFF);
	/* wakeup_events = 2: the second sample wakes, the third does not. */
	*wev = 2;
	ck_assert(!map_perf_page_committed(pg, 24, 1u << 20, 1));
	ck_assert_uint_eq(*seq, 0);
	ck_assert(map_perf_page_committed(pg, 48, 1u << 20, 1));
	ck_assert_uint_eq(*seq, 1);
	ck_assert(!map_perf_page_committed(pg, 72, 1u << 20, 1));
	/* attr.watermark: more than 100 bytes since the last wake-up. */
	memset(pg, 0, 4096);
	*wm = 100;
	ck_assert(!map_perf_page_committed(pg, 64, 4096, 1));
	ck_assert(!map_perf_page_committed(pg, 100, 4096, 1));
	ck_assert(map_perf_page_committed(pg, 128, 4096, 1));
	ck_assert(!map_perf_page_committed(pg, 200, 4096, 1));
	ck_assert(map_perf_page_committed(pg, 256, 4096, 1));
	ck_assert_uint_eq(*seq, 2);
	/* Neither set: half the ring (ring_buffer_init()). */
	memset(pg, 0, 4096);
	ck_assert(!map_perf_page_committed(pg, 2048, 4096, 1));
	ck_assert(map_perf_page_committed(pg, 2056, 4096, 1));
	/* A forced wake-up always bumps the word. */
	map_perf_page_wake(pg);
	ck_assert_uint_eq(*seq, 2);
	munmap(pg, 4096);
}
END_TEST

START_TEST(test_perf_event_array_syscall_ops_match_kernel)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, 0);
	uint32_t k = 0, v, kv, id = 7;
	struct map *m;
	int kfd, efd = -1, err;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	if (kfd >= 0) {
		efd = perf_open_bpf_output(0);
		if (efd < 0) {
			close(kfd);
			kfd = -1;
		}
	}
	err = map_sys_lookup_elem(m, &k, &v, 0);
	ck_assert_int_eq(err, -ENOTSUPP);
	KCMP(kfd, kmap_lookup(kfd, &k, &kv, 0), err, "lookup");
	err = map_sys_delete_elem(m, &k);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_delete(kfd, &k), err, "delete empty");
	err = map_sys_update_elem(m, &k, &id, BPF_ANY);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_update(kfd, &k, &efd, BPF_ANY), err, "update");
	err = map_sys_lookup_elem(m, &k, &v, 0);
	KCMP(kfd, kmap_lookup(kfd, &k, &kv, 0), err, "lookup set");
	k = 2;
	err = map_sys_update_elem(m, &k, &id, BPF_ANY);
	ck_assert_int_eq(err, -E2BIG);
	KCMP(kfd, kmap_update(kfd, &k, &efd, BPF_ANY), err, "update oob");
	k = 0;
	err = map_sys_delete_elem(m, &k);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_delete(kfd, &k), err, "delete");
	map_put(m);
	if (efd >= 0)
		close(efd);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
	sched_yield();
}

/* Sizes of the successful outputs, in ring order, to find each sample's pad bytes. */
static int32_t perf_sizes[1 << 16];
static uint32_t perf_sizes_n;

/*
 * Consume up to @upto bytes of whole records of a perf ring into @out
 * (unwrapped), advancing data_tail; returns bytes. *cursor indexes
 * perf_sizes. The header's misc (user vs kernel context, different by
 * design) and the pad bytes (skipped, not written, by both producers, so
 * stale) are blanked in the copy.
 */
static size_t perf_drain(void *base, uint64_t dsz, uint8_t *out, size_t max, size_t upto,
			 uint32_t *cursor)
{
	struct perf_event_mmap_page *u = base;
	uint64_t head = __atomic_load_n(&u->data_head, __ATOMIC_ACQUIRE), tail = u->data_tail;
	const uint8_t *d = (const uint8_t *)base + 4096;
	size_t n = 0;

	while (tail < head && n < upto) {
		struct perf_event_header eh;

		for (size_t i = 0; i < sizeof(eh); i++)
			((uint8_t *)&eh)[i] = d[(tail + i) & (dsz - 1)];
		ck_assert_uint_le(n + eh.size, max);
		for (size_t i = 0; i < eh.size; i++)
			out[n + i] = d[(tail + i) & (dsz - 1)];
		out[n + 4] = out[n + 5] = 0;
		if (eh.type == PERF_RECORD_SAMPLE) {
			ck_assert_uint_lt(*cursor, perf_sizes_n);
			for (size_t i = 12 + (size_t)perf_sizes[*cursor]; i < eh.size; i++)
				out[n + i] = 0;
			(*cursor)++;
		}
		n += eh.size;
		tail += eh.size;
	}
	__atomic_store_n(&u->data_tail, tail, __ATOMIC_RELEASE);
	return n;
}

/*
 * bpf_perf_event_output into a 1-page ring on both sides: return values,
 * the exact record bytes (header size, raw size, data, zero padding),
 * -ENOSPC when full and the PERF_RECORD_LOST (with the lost count and the
 * event id) in front of the next record that fits.
 */
START_TEST(test_perf_event_output_matches_kernel)
{
	static const int32_t sizes[] = { 1, 4, 8, 13, 60, 0, 64 };
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, 0);
	struct map_perf_ring_opts o = { .sz = sizeof(o), .id = 11, .data_pages = 1, .cpu = 0,
					.type = PERF_TYPE_SOFTWARE,
					.config = PERF_COUNT_SW_BPF_OUTPUT, .wakeup_events = 1 };
	static uint8_t kout[1 << 16], bout[1 << 16];
	uint8_t stack[64];
	struct map_perf_ring *r;
	void *kbase = NULL, *bbase;
	int kprogs[7], kfd, efd = -1, i;
	uint32_t zero = 0;
	struct map *m;
	uint64_t kid = 0;

	pin_cpu(0);
	for (i = 0; i < 64; i++)
		stack[i] = (uint8_t)(i * 3 + 1);
	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	if (kfd >= 0) {
		efd = perf_open_bpf_output(0);
		ck_assert_int_ge(efd, 0);
		ck_assert_int_eq(ioctl(efd, PERF_EVENT_IOC_ID, &kid), 0);
		kbase = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, efd, 0);
		ck_assert_ptr_ne(kbase, MAP_FAILED);
		ck_assert_int_eq(kmap_update(kfd, &zero, &efd, BPF_ANY), 0);
		for (i = 0; i < 7; i++) {
			struct bpf_insn p[64];
			int n = 0;

			p[n++] = KMOV_REG(BPF_REG_6, BPF_REG_1);
			for (int j = 0; j < 8; j++) {
				uint64_t w;

				memcpy(&w, stack + 8 * j, 8);
				p[n++] = KI(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, 0, 0, (int32_t)(uint32_t)w);
				p[n++] = KI(0, 0, 0, 0, (int32_t)(uint32_t)(w >> 32));
				p[n++] = KSTX_DW(BPF_REG_10, BPF_REG_1, -64 + 8 * j);
			}
			p[n++] = KMOV_REG(BPF_REG_1, BPF_REG_6);
			p[n++] = KI(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_2, BPF_PSEUDO_MAP_FD, 0, kfd);
			p[n++] = KI(0, 0, 0, 0, 0);
			p[n++] = KI(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_3, 0, 0, (int32_t)0xffffffff);
			p[n++] = KI(0, 0, 0, 0, 0);
			p[n++] = KMOV_REG(BPF_REG_4, BPF_REG_10);
			p[n++] = KADD_IMM(BPF_REG_4, -64);
			p[n++] = KMOV_IMM(BPF_REG_5, sizes[i]);
			p[n++] = KCALL(BPF_FUNC_perf_event_output);
			p[n++] = KEXIT();
			kprogs[i] = kprog_load(p, (uint32_t)n);
			ck_assert_msg(kprogs[i] >= 0, "perf output prog: %d\n%s", kprogs[i], kprog_log);
		}
	}
	o.event_id = kid;
	ck_assert_int_eq(map_perf_ring_create(&o, &r), 0);
	ck_assert_int_eq(map_perf_ring_register(r), 0);
	ck_assert_int_eq(map_sys_update_elem(m, &zero, &o.id, BPF_ANY), 0);
	bbase = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, map_perf_ring_fd(r), 0);
	ck_assert_ptr_ne(bbase, MAP_FAILED);
	ck_assert_uint_eq(((struct perf_event_mmap_page *)bbase)->data_size, 4096);
	ck_assert_uint_eq(((struct perf_event_mmap_page *)bbase)->data_offset, 4096);

	uint32_t seed = 99, bcur = 0, kcur = 0;
	int nospc = 0, ok = 0;

	perf_sizes_n = 0;

	for (int step = 0; step < 2000; step++) {
		long br;
		uint32_t kr = 0;

		seed = seed * 1103515245u + 12345u;
		i = (int)((seed >> 16) % 16);
		if (i < 15) {
			i %= 7;
		} else {
			size_t upto = (seed >> 8) % 600;
			size_t bn = perf_drain(bbase, 4096, bout, sizeof(bout), upto, &bcur), kn;

			if (kfd >= 0) {
				kn = perf_drain(kbase, 4096, kout, sizeof(kout), upto, &kcur);
				ck_assert_uint_eq(kn, bn);
				if (getenv("PERF_DEBUG") && memcmp(kout, bout, bn)) {
					for (size_t q = 0; q < bn; q++)
						fprintf(stderr, "%zu: %02x %02x%s\n", q, kout[q], bout[q], kout[q] != bout[q] ? " <<" : "");
				}
				for (size_t q = 0; q < bn; q++)
					ck_assert_msg(kout[q] == bout[q],
						      "step %d: records differ at byte %zu of %zu: kernel %02x bpftime %02x (next kernel %02x %02x %02x %02x)",
						      step, q, bn, kout[q], bout[q], kout[q + 1], kout[q + 2],
						      kout[q + 3], kout[q + 4]);
			}
			continue;
		}
		br = map_perf_event_output(m, BPF_F_CURRENT_CPU, stack, (uint64_t)sizes[i]);
		if (kfd >= 0) {
			ck_assert_int_eq(kprog_run(kprogs[i], &kr), 0);
			ck_assert_msg((int)kr == (int)br, "step %d size %d: kernel %d bpftime %ld", step,
				      sizes[i], (int)kr, br);
		}
		if (br == -ENOSPC) {
			nospc++;
		} else {
			ck_assert_int_eq(br, 0);
			ck_assert_uint_lt(perf_sizes_n, sizeof(perf_sizes) / sizeof(perf_sizes[0]));
			perf_sizes[perf_sizes_n++] = sizes[i];
			ok++;
		}
	}
	ck_assert_int_gt(nospc, 0);
	ck_assert_int_gt(ok, 0);
	/* Argument errors. */
	ck_assert_int_eq(map_perf_event_output(m, 1ull << 32, stack, 8), -EINVAL);
	ck_assert_int_eq(map_perf_event_output(m, 2, stack, 8), -E2BIG);
	ck_assert_int_eq(map_perf_event_output(m, 1, stack, 8), -ENOENT);
	if (map_possible_cpus() > 1) {
		uint32_t one = 1;

		/* Explicit index of a ring bound to CPU 0 while on CPU 1: -EOPNOTSUPP. */
		ck_assert_int_eq(map_sys_update_elem(m, &one, &o.id, BPF_ANY), 0);
		pin_cpu(1);
		ck_assert_int_eq(map_perf_event_output(m, 0, stack, 8), -EOPNOTSUPP);
	}
	munmap(bbase, 2 * 4096);
	map_perf_ring_unregister(o.id);
	map_perf_ring_put(r);
	map_put(m);
	if (kfd >= 0) {
		for (i = 0; i < 7; i++)
			close(kprogs[i]);
		munmap(kbase, 2 * 4096);
		close(efd);
		close(kfd);
	}
}
END_TEST

/* A ring not known in this process is found through the resolver hook. */
static struct map_perf_ring *resolver_ring;
static int resolver_calls;

static int test_resolver(uint32_t id, struct map_perf_ring **out, void *ctx)
{
	resolver_calls++;
	if (id != 77)
		return -ENOENT;
	return map_perf_ring_open(map_perf_ring_fd(resolver_ring), out);
}

START_TEST(test_perf_ring_resolver_and_late_size)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 1, 0);
	struct map_perf_ring_opts o = { .sz = sizeof(o), .id = 77, .cap_pages = 8, .cpu = -1,
					.type = PERF_TYPE_SOFTWARE,
					.config = PERF_COUNT_SW_BPF_OUTPUT };
	uint32_t zero = 0, bad = 78;
	uint64_t v = 1;
	struct map *m;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	ck_assert_int_eq(map_perf_ring_create(&o, &resolver_ring), 0);
	ck_assert_int_eq(map_sys_update_elem(m, &zero, &o.id, BPF_ANY), 0);
	/* Not registered, no resolver: -ENOENT. */
	ck_assert_int_eq(map_perf_event_output(m, 0, &v, 8), -ENOENT);
	map_perf_ring_set_resolver(test_resolver, NULL);
	/* Resolved, but not sized yet (the client has not mmapped): -ENOSPC as a perf event without rb. */
	ck_assert_int_eq(map_perf_event_output(m, 0, &v, 8), -ENOSPC);
	ck_assert_int_eq(resolver_calls, 1);
	ck_assert_int_eq(map_perf_ring_set_pages(resolver_ring, 3), -EINVAL);
	ck_assert_int_eq(map_perf_ring_set_pages(resolver_ring, 16), -EINVAL);
	ck_assert_int_eq(map_perf_ring_set_pages(resolver_ring, 4), 0);
	ck_assert_int_eq(map_perf_ring_set_pages(resolver_ring, 2), -EBUSY);
	ck_assert_int_eq(map_perf_event_output(m, 0, &v, 8), 0);
	ck_assert_int_eq(resolver_calls, 1); /* cached in the registry */
	ck_assert_int_eq(map_sys_update_elem(m, &zero, &bad, BPF_ANY), 0);
	ck_assert_int_eq(map_perf_event_output(m, 0, &v, 8), -ENOENT);
	map_perf_ring_set_resolver(NULL, NULL);
	map_perf_ring_unregister(77);
	map_perf_ring_put(resolver_ring);
	map_put(m);
	/* Not a BPF_OUTPUT event. */
	o.type = PERF_TYPE_HARDWARE;
	o.data_pages = 1;
	ck_assert_int_eq(map_perf_ring_create(&o, &resolver_ring), 0);
	ck_assert_int_eq(map_perf_ring_check_output(resolver_ring, 0), -EINVAL);
	map_perf_ring_put(resolver_ring);
	o.data_pages = 3;
	ck_assert_int_eq(map_perf_ring_create(&o, &resolver_ring), -EINVAL);
}
END_TEST

/* ---- libbpf's perf_buffer reading rings filled by several processes ---- */

#define PB_PRODUCERS 3
#define PB_PER_PRODUCER 20000
#define PB_PAGES 4

static struct map *pb_map;
static struct map_perf_ring *pb_rings[64];
static int pb_nrings;

static int pb_ring_find(int fd)
{
	for (int i = 0; i < pb_nrings; i++)
		if (pb_rings[i] && map_perf_ring_fd(pb_rings[i]) == fd)
			return i;
	return -1;
}

static void pb_notify(struct map_perf_ring *r, void *ctx)
{
	uint64_t one = 1;

	(void)!write(*(int *)ctx, &one, sizeof(one));
}

/* The part of a supervisor libbpf's perf_buffer__new() needs: perf_event_open, ioctl, map update. */
static long pb_syscall(long nr, long *a, bool *handled)
{
	*handled = false;
	if (nr == __NR_perf_event_open && pb_map) {
		const struct perf_event_attr *pa = (const void *)a[0];
		struct map_perf_ring_opts o = { .sz = sizeof(o) };
		int err;

		o.id = 1000 + (uint32_t)pb_nrings;
		o.data_pages = PB_PAGES;
		o.cpu = (int32_t)a[2];
		o.type = pa->type;
		o.config = pa->config;
		o.wakeup_events = pa->watermark ? 0 : pa->wakeup_events;
		o.watermark = pa->watermark ? pa->wakeup_watermark : 0;
		o.event_id = o.id;
		err = map_perf_ring_create(&o, &pb_rings[pb_nrings]);
		*handled = true;
		if (err) {
			errno = -err;
			return -1;
		}
		map_perf_ring_register(pb_rings[pb_nrings]);
		pb_efds[pb_nrings] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		map_perf_ring_set_notify(pb_rings[pb_nrings], pb_notify, &pb_efds[pb_nrings]);
		return map_perf_ring_fd(pb_rings[pb_nrings++]);
	}
	if (nr == __NR_bpf && a[0] == BPF_MAP_UPDATE_ELEM && pb_map) {
		union bpf_attr *attr = (union bpf_attr *)a[1];
		int i;

		if ((int)attr->map_fd != map_fd(pb_map))
			return 0;
		*handled = true;
		i = pb_ring_find(*(int *)(uintptr_t)attr->value);
		uint32_t id = i >= 0 ? map_perf_ring_id(pb_rings[i]) : 0;
		int err = map_sys_update_elem(pb_map, (void *)(uintptr_t)attr->key, &id, attr->flags);

		if (err) {
			errno = -err;
			return -1;
		}
		return 0;
	}
	return 0;
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (pb_ring_find(fd) >= 0)
		return (req == PERF_EVENT_IOC_ENABLE || req == PERF_EVENT_IOC_DISABLE) ? 0 : -1;
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	return real(fd, req, arg);
}

struct pb_state {
	/* Per-CPU rings: a producer that migrates has records in several rings, so
	 * they arrive out of order; each must arrive exactly once. */
	uint8_t seen[PB_PRODUCERS][PB_PER_PRODUCER];
	uint64_t total, lost, markers;
	int bad;
};

static void pb_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct pb_state *st = ctx;
	const struct rb_rec *r = data;
	const uint8_t *b = (const uint8_t *)(r + 1);

	/* The raw size is padded: size is round_up(len + 4, 8) - 4 >= the record. */
	if (size < sizeof(*r) || size != ((sizeof(*r) + r->len + 4 + 7) & ~7u) - 4) {
		st->bad++;
		return;
	}
	if (r->producer == 0xffff) {
		st->markers++;
		return;
	}
	if (r->producer >= PB_PRODUCERS || r->seq >= PB_PER_PRODUCER ||
	    st->seen[r->producer][r->seq]++) {
		st->bad++;
		return;
	}
	for (uint32_t i = 0; i < r->len; i++)
		if (b[i] != pay(r->producer, r->seq, i)) {
			st->bad++;
			break;
		}
	st->total++;
}

static void pb_lost(void *ctx, int cpu, __u64 cnt)
{
	((struct pb_state *)ctx)->lost += cnt;
}


START_TEST(test_perf_buffer_libbpf_consumer_multiprocess)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, map_possible_cpus(), 0);
	struct perf_buffer *pb;
	static struct pb_state st;
	uint64_t *fails;
	pid_t pids[PB_PRODUCERS];
	time_t deadline;
	int i, stat;

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(map_create(&a, NULL, &pb_map), 0);
	fake_add(pb_map, -1);
	pb = perf_buffer__new(map_fd(pb_map), PB_PAGES, pb_sample, pb_lost, &st, NULL);
	ck_assert_msg(pb != NULL, "perf_buffer__new: %s", strerror(errno));
	ck_assert_int_eq(pb_nrings, (int)map_possible_cpus());
	fails = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(fails, MAP_FAILED);
	for (i = 0; i < PB_PRODUCERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			uint8_t buf[sizeof(struct rb_rec) + 300];
			uint32_t seed = (uint32_t)i * 31 + 7;

			for (uint32_t s = 0; s < PB_PER_PRODUCER; s++) {
				struct rb_rec *r = (struct rb_rec *)buf;

				seed = seed * 1103515245u + 12345u;
				r->producer = (uint32_t)i;
				r->seq = s;
				r->len = (seed >> 16) % 300;
				for (uint32_t j = 0; j < r->len; j++)
					buf[sizeof(*r) + j] = pay((uint32_t)i, s, j);
				for (;;) {
					long e = map_perf_event_output(pb_map, BPF_F_CURRENT_CPU, buf,
								       sizeof(*r) + r->len);

					if (e == 0)
						break;
					if (e != -ENOSPC)
						_exit(3);
					__atomic_fetch_add(fails, 1, __ATOMIC_RELAXED);
					sched_yield();
				}
			}
			_exit(0);
		}
	}
	deadline = time(NULL) + 120;
	while (st.total < (uint64_t)PB_PRODUCERS * PB_PER_PRODUCER && time(NULL) < deadline) {
		struct epoll_event ev[8];
		uint64_t cnt;
		int n = epoll_wait(perf_buffer__epoll_fd(pb), ev, 8, 100);

		ck_assert_int_ge(n, 0);
		/* Drain the eventfds before consuming (see the ringbuf test). */
		for (int j = 0; j < pb_nrings; j++)
			(void)!read(pb_efds[j], &cnt, sizeof(cnt));
		ck_assert_int_ge(perf_buffer__consume(pb), 0);
	}
	for (i = 0; i < PB_PRODUCERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &stat, 0), pids[i]);
		ck_assert_int_eq(WEXITSTATUS(stat), 0);
	}
	/* A marker on every ring flushes lost counts still pending there. */
	for (i = 0; i < pb_nrings; i++) {
		struct rb_rec mk = { 0xffff, 0, 0, 0 };

		pin_cpu(i);
		ck_assert_int_eq(perf_buffer__consume(pb), 0);
		ck_assert_int_eq(map_perf_event_output(pb_map, BPF_F_CURRENT_CPU, &mk, sizeof(mk)), 0);
	}
	ck_assert_int_ge(perf_buffer__consume(pb), 0);
	ck_assert_int_eq(st.bad, 0);
	ck_assert_uint_eq(st.total, (uint64_t)PB_PRODUCERS * PB_PER_PRODUCER);
	ck_assert_uint_eq(st.markers, (uint64_t)pb_nrings);
	for (i = 0; i < PB_PRODUCERS; i++)
		for (int j = 0; j < PB_PER_PRODUCER; j++)
			ck_assert_msg(st.seen[i][j] == 1, "producer %d record %d seen %d times", i, j,
				      st.seen[i][j]);
	/* Every failed output was reported to libbpf's lost callback, exactly once. */
	ck_assert_uint_eq(st.lost, *fails);
	fprintf(stderr, "perf_buffer: %llu records, %llu lost and retried\n",
		(unsigned long long)st.total, (unsigned long long)st.lost);
	perf_buffer__free(pb);
	for (i = 0; i < pb_nrings; i++) {
		map_perf_ring_unregister(map_perf_ring_id(pb_rings[i]));
		map_perf_ring_put(pb_rings[i]);
		pb_rings[i] = NULL;
		close(pb_efds[i]);
	}
	pb_nrings = 0;
	fake_del(pb_map);
	map_put(pb_map);
	pb_map = NULL;
	munmap(fails, 4096);
}
END_TEST

/* ================= QUEUE, STACK, BLOOM_FILTER ================= */

struct qs_create_case {
	uint32_t type, ksz, vsz, max, flags;
	uint64_t extra;
	int want;
};

static const struct qs_create_case qs_create_cases[] = {
	{ BPF_MAP_TYPE_QUEUE, 0, 8, 4, 0, 0, 0 },
	{ BPF_MAP_TYPE_QUEUE, 4, 8, 4, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_QUEUE, 0, 0, 4, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_QUEUE, 0, 8, 0, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_QUEUE, 0, 8, 4, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ BPF_MAP_TYPE_QUEUE, 0, 8, 4, BPF_F_RDONLY_PROG, 0, 0 },
	{ BPF_MAP_TYPE_QUEUE, 0, 8, 4, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG, 0, -EINVAL },
	{ BPF_MAP_TYPE_QUEUE, 0, (4u << 20) + 1, 1, 0, 0, -E2BIG },
	{ BPF_MAP_TYPE_QUEUE, 0, 8, 4, 0, 1, -EINVAL },
	{ BPF_MAP_TYPE_STACK, 0, 3, 100, BPF_F_NUMA_NODE, 0, 0 },
	{ BPF_MAP_TYPE_STACK, 0, 3, 100, BPF_F_ZERO_SEED, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK, 0, 3, 100, BPF_F_MMAPABLE, 0, -EINVAL },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 100, 0, 0, 0 },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 100, BPF_F_ZERO_SEED, 3, 0 },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 100, 0, 15, 0 },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 100, 0, 16, -EINVAL },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 4, 4, 100, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 0, 100, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 0, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 100, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, (4u << 20) + 1, 100, 0, 0, -E2BIG },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 1u << 30, 0, 15, 0 },
};

START_TEST(test_qs_bloom_create_checks_match_kernel)
{
	const struct qs_create_case *c = &qs_create_cases[_i];
	union bpf_attr a = mk_attr(c->type, c->ksz, c->vsz, c->max, c->flags);
	struct map *m;
	int kfd;

	a.map_extra = c->extra;
	ck_assert_int_eq(pair_create(&a, &m, &kfd), c->want);
	if (m) {
		struct bpf_map_info info;

		map_get_info(m, &info);
		ck_assert_uint_eq(info.map_extra, c->extra);
	}
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

/* A random sequence of every syscall command on a queue or stack, on both sides. */
START_TEST(test_queue_stack_ops_match_kernel)
{
	uint32_t type = _i ? BPF_MAP_TYPE_STACK : BPF_MAP_TYPE_QUEUE;
	union bpf_attr a = mk_attr(type, 0, 12, 5, 0);
	static const uint64_t fl[] = { BPF_ANY, BPF_EXIST, BPF_NOEXIST, 3, BPF_F_LOCK };
	uint8_t v[12], bv[12], kv[12], nk[4];
	uint32_t seed = 4321 + (uint32_t)_i;
	struct map *m;
	int kfd, err, kr, pushes = 0, pops = 0, full = 0;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	for (int step = 0; step < 4000; step++) {
		int op;

		seed = seed * 1103515245u + 12345u;
		op = (int)((seed >> 16) % 10);
		memset(v, (int)(seed >> 8), sizeof(v));
		memcpy(v, &step, sizeof(step));
		memset(bv, 0x55, sizeof(bv));
		memset(kv, 0x55, sizeof(kv));
		if (op < 4) {
			uint64_t f = fl[(seed >> 4) % 5];

			err = map_sys_update_elem(m, NULL, v, f);
			KCMP(kfd, kmap_update(kfd, NULL, v, f), err, "push");
			pushes += err == 0;
			full += err == -E2BIG;
		} else if (op < 6) {
			err = map_sys_lookup_elem(m, NULL, bv, 0);
			if (kfd >= 0) {
				kr = kmap_lookup(kfd, NULL, kv, 0);
				ck_assert_int_eq(kr, err);
				if (!err)
					ck_assert(memcmp(kv, bv, sizeof(bv)) == 0);
			}
		} else if (op < 9) {
			uint64_t f = op == 8 && (seed & 64) ? BPF_F_LOCK : 0;

			err = map_sys_lookup_and_delete_elem(m, NULL, bv, f);
			if (kfd >= 0) {
				kr = kmap_lookup_and_delete(kfd, NULL, kv, f);
				ck_assert_msg(kr == err, "pop(flags %llu): kernel %d bpftime %d",
					      (unsigned long long)f, kr, err);
				if (!err)
					ck_assert(memcmp(kv, bv, sizeof(bv)) == 0);
			}
			pops += err == 0;
		} else if (seed & 128) {
			err = map_sys_delete_elem(m, NULL);
			ck_assert_int_eq(err, -EINVAL);
			KCMP(kfd, kmap_delete(kfd, NULL), err, "delete");
		} else {
			err = map_sys_get_next_key(m, NULL, nk);
			ck_assert_int_eq(err, -EINVAL);
			KCMP(kfd, kmap_next(kfd, NULL, nk), err, "next_key");
		}
	}
	ck_assert_int_gt(pushes, 100);
	ck_assert_int_gt(pops, 100);
	ck_assert_int_gt(full, 0);
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

/* Exact FIFO/LIFO order, BPF_EXIST overwrite, and the helper wrappers' values. */
START_TEST(test_queue_stack_helpers_order)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_QUEUE, 0, 4, 3, 0);
	jit_helper_fn t[256] = { 0 };
	struct map *q, *s;
	uint32_t v, i;

	map_helpers_fill(t, 256);
	ck_assert_int_eq(map_create(&a, NULL, &q), 0);
	a.map_type = BPF_MAP_TYPE_STACK;
	ck_assert_int_eq(map_create(&a, NULL, &s), 0);
	for (i = 1; i <= 3; i++) {
		ck_assert_uint_eq(t[BPF_FUNC_map_push_elem]((uintptr_t)q, (uintptr_t)&i, 0, 0, 0), 0);
		ck_assert_uint_eq(t[BPF_FUNC_map_push_elem]((uintptr_t)s, (uintptr_t)&i, 0, 0, 0), 0);
	}
	i = 4;
	ck_assert_uint_eq(t[BPF_FUNC_map_push_elem]((uintptr_t)q, (uintptr_t)&i, BPF_ANY, 0, 0),
			  (uint64_t)-E2BIG);
	ck_assert_uint_eq(t[BPF_FUNC_map_push_elem]((uintptr_t)q, (uintptr_t)&i, BPF_NOEXIST, 0, 0),
			  (uint64_t)-EINVAL);
	ck_assert_uint_eq(t[BPF_FUNC_map_push_elem]((uintptr_t)q, (uintptr_t)&i, BPF_EXIST, 0, 0), 0);
	ck_assert_uint_eq(t[BPF_FUNC_map_push_elem]((uintptr_t)s, (uintptr_t)&i, BPF_EXIST, 0, 0), 0);
	/* Queue: 1 was dropped; 2 3 4. Stack: 1 was dropped (the oldest); 4 3 2. */
	ck_assert_uint_eq(t[BPF_FUNC_map_peek_elem]((uintptr_t)q, (uintptr_t)&v, 0, 0, 0), 0);
	ck_assert_uint_eq(v, 2);
	for (i = 2; i <= 4; i++) {
		ck_assert_uint_eq(t[BPF_FUNC_map_pop_elem]((uintptr_t)q, (uintptr_t)&v, 0, 0, 0), 0);
		ck_assert_uint_eq(v, i);
		ck_assert_uint_eq(t[BPF_FUNC_map_pop_elem]((uintptr_t)s, (uintptr_t)&v, 0, 0, 0), 0);
		ck_assert_uint_eq(v, 6 - i);
	}
	v = 77;
	ck_assert_uint_eq(t[BPF_FUNC_map_pop_elem]((uintptr_t)q, (uintptr_t)&v, 0, 0, 0),
			  (uint64_t)-ENOENT);
	ck_assert_uint_eq(v, 0); /* zeroed, as the kernel */
	ck_assert_ptr_null(map_lookup_elem(q, NULL));
	ck_assert_int_eq(map_update_elem(q, NULL, &v, 0), -EINVAL);
	ck_assert_int_eq(map_delete_elem(q, NULL), -EINVAL);
	map_put(q);
	map_put(s);
}
END_TEST

/* Producers and consumers in several processes: every pushed value is popped exactly once. */
START_TEST(test_queue_multiprocess_exact)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_QUEUE, 0, 8, 64, 0);
	enum { NPROC = 4, PER = 20000 };
	uint64_t *seen;
	struct map *m;
	pid_t pids[NPROC];
	int i, st;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	seen = mmap(NULL, NPROC * PER, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(seen, MAP_FAILED);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			uint8_t *cnt = (uint8_t *)seen;
			uint32_t pushed = 0, popped = 0;

			/* Even processes push 2 * PER and pop PER; odd ones pop PER. */
			while (popped < PER || (!(i & 1) && pushed < 2 * PER)) {
				uint64_t v;

				if (!(i & 1) && pushed < 2 * PER) {
					v = (uint64_t)(i / 2) * 2 * PER + pushed;
					if (map_push_elem(m, &v, 0) == 0)
						pushed++;
				}
				if (popped >= PER)
					continue;
				if (map_pop_elem(m, &v) == 0) {
					if (v >= (uint64_t)NPROC * PER)
						_exit(4);
					__atomic_fetch_add(&cnt[v], 1, __ATOMIC_RELAXED);
					popped++;
				} else {
					sched_yield();
				}
			}
			_exit(0);
		}
	}
	for (i = 0; i < NPROC; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert_int_eq(WEXITSTATUS(st), 0);
	}
	for (i = 0; i < NPROC * PER; i++)
		ck_assert_msg(((uint8_t *)seen)[i] == 1, "value %d popped %d times", i,
			      ((uint8_t *)seen)[i]);
	ck_assert_int_eq(map_pop_elem(m, seen), -ENOENT);
	munmap(seen, NPROC * PER);
	map_put(m);
}
END_TEST

/* BPF_F_ZERO_SEED: same bits as the kernel, so every peek (false positives too) agrees. */
START_TEST(test_bloom_filter_matches_kernel)
{
	static const uint32_t vsz[] = { 4, 7, 24, 13, 64 };
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_BLOOM_FILTER, 0, vsz[_i], 40, BPF_F_ZERO_SEED);
	uint8_t v[64], nk[4];
	uint32_t seed = 77 + (uint32_t)_i;
	int kfd, err, hits = 0, fp = 0;
	struct map *m;

	a.map_extra = 3;
	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	for (int i = 0; i < 40; i++) {
		memset(v, 0, sizeof(v));
		memcpy(v, &i, sizeof(i));
		v[vsz[_i] - 1] ^= (uint8_t)(i * 7);
		err = map_sys_update_elem(m, NULL, v, BPF_ANY);
		ck_assert_int_eq(err, 0);
		KCMP(kfd, kmap_update(kfd, NULL, v, BPF_ANY), err, "push");
		ck_assert_int_eq(map_peek_elem(m, v), 0); /* no false negatives */
	}
	for (int i = 0; i < 4000; i++) {
		seed = seed * 1103515245u + 12345u;
		for (uint32_t j = 0; j < vsz[_i]; j++)
			v[j] = (uint8_t)(seed >> (j % 24));
		if (i < 40) {
			memset(v, 0, sizeof(v));
			memcpy(v, &i, sizeof(i));
			v[vsz[_i] - 1] ^= (uint8_t)(i * 7);
		}
		err = map_sys_lookup_elem(m, NULL, v, 0);
		KCMP(kfd, kmap_lookup(kfd, NULL, v, 0), err, "peek");
		hits += err == 0;
		fp += err == 0 && i >= 40;
	}
	ck_assert_int_ge(hits, 40);
	err = map_sys_update_elem(m, NULL, v, BPF_NOEXIST);
	ck_assert_int_eq(err, -EINVAL);
	KCMP(kfd, kmap_update(kfd, NULL, v, BPF_NOEXIST), err, "push NOEXIST");
	err = map_sys_delete_elem(m, NULL);
	ck_assert_int_eq(err, -EOPNOTSUPP);
	KCMP(kfd, kmap_delete(kfd, NULL), err, "delete");
	err = map_sys_get_next_key(m, NULL, nk);
	ck_assert_int_eq(err, -EOPNOTSUPP);
	KCMP(kfd, kmap_next(kfd, NULL, nk), err, "next_key");
	err = map_sys_lookup_and_delete_elem(m, NULL, v, 0);
	ck_assert_int_eq(err, -ENOTSUPP);
	KCMP(kfd, kmap_lookup_and_delete(kfd, NULL, v, 0), err, "lookup_and_delete");
	ck_assert_int_eq(map_pop_elem(m, v), -EOPNOTSUPP);
	ck_assert_int_eq(map_push_elem(m, v, BPF_EXIST), -EINVAL);
	if (fp)
		fprintf(stderr, "bloom vsz %u: %d false positives, same as the kernel\n", vsz[_i], fp);
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

/* ================= STACK_TRACE ================= */

static const struct qs_create_case st_create_cases[] = {
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 8, 4, 0, 0, 0 },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 127 * 8, 4, 0, 0, 0 },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 128 * 8, 4, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 12, 4, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 0, 4, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 8, 8, 4, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 8, 0, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 8, 4, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 8, 4, BPF_F_RDONLY_PROG, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 32, 4, BPF_F_STACK_BUILD_ID, 0, 0 },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 40, 4, BPF_F_STACK_BUILD_ID, 0, -EINVAL },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 8, (1u << 31) + 1, 0, 0, -E2BIG },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 8, 5, BPF_F_NUMA_NODE, 0, 0 },
};

START_TEST(test_stack_trace_create_checks_match_kernel)
{
	const struct qs_create_case *c = &st_create_cases[_i];
	union bpf_attr a = mk_attr(c->type, c->ksz, c->vsz, c->max, c->flags);
	struct map *m;
	int kfd;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), c->want);
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

static int kprog_stackid(int mfd, uint32_t flags)
{
	struct bpf_insn p[] = {
		KLD_MAP(BPF_REG_2, mfd),
		KMOV_IMM(BPF_REG_3, (int32_t)flags),
		KCALL(BPF_FUNC_get_stackid),
		KEXIT(),
	};
	int fd = kprog_load_type(BPF_PROG_TYPE_RAW_TRACEPOINT, p, sizeof(p) / sizeof(p[0]));

	ck_assert_msg(fd >= 0, "get_stackid prog: %d\n%s", fd, kprog_log);
	return fd;
}

static int krun_tp(int pfd)
{
	uint32_t r = 0;

	ck_assert_int_eq(kprog_run_raw_tp(pfd, &r), 0);
	return (int)r;
}

/*
 * The kernel collects a real (kernel) stack; we read it back and feed the
 * same instruction pointers to map_get_stackid(): same id (jhash2 and bucket
 * choice), same stored value, and the same -EEXIST / BPF_F_REUSE_STACKID /
 * BPF_F_FAST_STACK_CMP outcomes when stacks collide in a 1-bucket map.
 */
START_TEST(test_stack_trace_matches_kernel)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_STACK_TRACE, 4, 127 * 8, 1, 0);
	uint64_t kv[127], bv[127], ips[127];
	uint32_t id, nk, kn, nr;
	struct map *m;
	int kfd, p0, p1, p1r, p1f, err;
	long r;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	id = 0;
	err = map_sys_lookup_elem(m, &id, bv, 0);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_lookup(kfd, &id, kv, 0), err, "lookup empty");
	err = map_sys_get_next_key(m, NULL, &nk);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_next(kfd, NULL, &kn), err, "next empty");
	err = map_sys_update_elem(m, &id, bv, BPF_ANY);
	ck_assert_int_eq(err, -EINVAL);
	KCMP(kfd, kmap_update(kfd, &id, kv, BPF_ANY), err, "update");
	id = 1;
	err = map_sys_delete_elem(m, &id);
	ck_assert_int_eq(err, -E2BIG);
	KCMP(kfd, kmap_delete(kfd, &id), err, "delete oob");
	err = map_sys_lookup_elem(m, &id, bv, 0);
	KCMP(kfd, kmap_lookup(kfd, &id, kv, 0), err, "lookup oob");
	if (kfd < 0) {
		map_put(m);
		return;
	}
	p0 = kprog_stackid(kfd, 0);
	p1 = kprog_stackid(kfd, 1);
	p1r = kprog_stackid(kfd, 1 | BPF_F_REUSE_STACKID);
	p1f = kprog_stackid(kfd, 1 | BPF_F_FAST_STACK_CMP);

	ck_assert_int_eq(krun_tp(p0), 0);
	id = 0;
	ck_assert_int_eq(kmap_lookup(kfd, &id, kv, 0), 0);
	for (nr = 0; nr < 127 && kv[nr]; nr++)
		ips[nr] = kv[nr];
	ck_assert_uint_gt(nr, 1);
	ck_assert_uint_lt(nr, 127); /* the whole stack fits, so skip=1 sees ips[1..] */
	r = map_get_stackid(m, ips, nr, 0);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(map_sys_lookup_elem(m, &id, bv, 0), 0);
	ck_assert(memcmp(kv, bv, sizeof(kv)) == 0);
	/* Same stack again: same id. */
	ck_assert_int_eq(krun_tp(p0), 0);
	ck_assert_int_eq(map_get_stackid(m, ips, nr, 0), 0);
	/* Another stack (one frame skipped) in the only bucket. */
	ck_assert_int_eq(krun_tp(p1), -EEXIST);
	ck_assert_int_eq(map_get_stackid(m, ips, nr, 1), -EEXIST);
	/* Reuse takes a new record before freeing the old one: none is free. */
	ck_assert_int_eq(krun_tp(p1r), -ENOMEM);
	ck_assert_int_eq(map_get_stackid(m, ips, nr, 1 | BPF_F_REUSE_STACKID), -ENOMEM);
	ck_assert_int_eq(kmap_lookup(kfd, &id, kv, 0), 0);
	ck_assert_int_eq(map_sys_lookup_elem(m, &id, bv, 0), 0);
	ck_assert(memcmp(kv, bv, sizeof(kv)) == 0);
	/* The fast compare only short-cuts equal hashes. */
	ck_assert_int_eq(krun_tp(p1f), -EEXIST);
	ck_assert_int_eq(map_get_stackid(m, ips, nr, 1 | BPF_F_FAST_STACK_CMP), -EEXIST);
	ck_assert_int_eq(map_get_stackid(m, ips, nr, BPF_F_FAST_STACK_CMP), 0);
	/* Iteration, delete, and lookup_and_delete as the kernel has them. */
	err = map_sys_get_next_key(m, NULL, &nk);
	ck_assert_int_eq(kmap_next(kfd, NULL, &kn), err);
	ck_assert_uint_eq(nk, kn);
	err = map_sys_get_next_key(m, &nk, &nk);
	ck_assert_int_eq(kmap_next(kfd, &kn, &kn), err);
	memset(bv, 0x11, sizeof(bv));
	err = map_sys_lookup_and_delete_elem(m, &id, bv, 0);
	KCMP(kfd, kmap_lookup_and_delete(kfd, &id, kv, 0), err, "lookup_and_delete");
	ck_assert_int_eq(err, 0);
	ck_assert(memcmp(kv, bv, sizeof(kv)) == 0);
	ck_assert_int_eq(krun_tp(p0), 0);
	ck_assert_int_eq(map_get_stackid(m, ips, nr, 0), 0);
	err = map_sys_delete_elem(m, &id);
	KCMP(kfd, kmap_delete(kfd, &id), err, "delete");
	ck_assert_int_eq(err, 0);
	err = map_sys_delete_elem(m, &id);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_delete(kfd, &id), err, "delete again");
	/* Flags and limits. */
	ck_assert_int_eq(map_get_stackid(m, ips, nr, 1ull << 12), -EINVAL);
	ck_assert_int_eq(map_get_stackid(m, ips, 3, 3), -EFAULT);
	close(p0);
	close(p1);
	close(p1r);
	close(p1f);
	close(kfd);
	map_put(m);
}
END_TEST

/* Free records run out before buckets do; the collector hook feeds the helper. */
static int fake_collect(void *ctx, int user, uint64_t *ips, uint32_t max_depth, void *cookie)
{
	uint32_t n = max_depth < 5 ? max_depth : 5;

	if (!user)
		return 0; /* no kernel stack in user space */
	for (uint32_t i = 0; i < n; i++)
		ips[i] = 0x400000 + (uintptr_t)ctx * 16 + i;
	return (int)n;
}

START_TEST(test_stack_trace_helper_and_enomem)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_STACK_TRACE, 4, 16, 3, 0);
	jit_helper_fn t[256] = { 0 };
	uint64_t v[2];
	struct map *m;
	int ids = 0, enomem = 0, eexist = 0;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	map_helpers_fill(t, 256);
	ck_assert_int_eq((long)t[BPF_FUNC_get_stackid](1, (uintptr_t)m, BPF_F_USER_STACK, 0, 0), -EFAULT);
	map_stack_set_collector(fake_collect, NULL);
	/* Kernel stack: nothing to skip past. */
	ck_assert_int_eq((long)t[BPF_FUNC_get_stackid](1, (uintptr_t)m, 0, 0, 0), -EFAULT);
	for (uintptr_t c = 1; c < 200; c++) {
		long r = (long)t[BPF_FUNC_get_stackid](c, (uintptr_t)m, BPF_F_USER_STACK, 0, 0);

		if (r >= 0) {
			uint32_t id = (uint32_t)r;

			ck_assert_uint_lt(r, 4); /* n_buckets = roundup_pow_of_two(3) */
			ck_assert_int_eq(map_sys_lookup_elem(m, &id, v, 0), 0);
			/* value_size / 8 = 2 frames kept of the 5 collected (skip 0). */
			ck_assert_uint_eq(v[0], 0x400000 + c * 16);
			ck_assert_uint_eq(v[1], 0x400000 + c * 16 + 1);
			ids++;
		} else if (r == -ENOMEM) {
			enomem++;
		} else {
			ck_assert_int_eq(r, -EEXIST);
			eexist++;
		}
	}
	ck_assert_int_eq(ids, 3);   /* 3 records for 4 buckets */
	ck_assert_int_gt(eexist, 0);
	ck_assert_int_gt(enomem, 0);
	/* Free one record; then a colliding stack replaces its bucket with BPF_F_REUSE_STACKID. */
	{
		uint32_t id0;
		uintptr_t c;
		long r = 0;

		ck_assert_int_eq(map_sys_get_next_key(m, NULL, &id0), 0);
		ck_assert_int_eq(map_sys_delete_elem(m, &id0), 0);
		for (c = 1000; c < 3000; c++) {
			r = (long)t[BPF_FUNC_get_stackid](c, (uintptr_t)m, BPF_F_USER_STACK, 0, 0);
			if (r == -EEXIST)
				break;
			ck_assert_int_ge(r, 0);
			id0 = (uint32_t)r;
			ck_assert_int_eq(map_sys_delete_elem(m, &id0), 0);
		}
		ck_assert_int_eq(r, -EEXIST);
		r = (long)t[BPF_FUNC_get_stackid](c, (uintptr_t)m, BPF_F_USER_STACK | BPF_F_REUSE_STACKID,
						  0, 0);
		ck_assert_int_ge(r, 0);
		id0 = (uint32_t)r;
		ck_assert_int_eq(map_sys_lookup_elem(m, &id0, v, 0), 0);
		ck_assert_uint_eq(v[0], 0x400000 + c * 16);
	}
	map_stack_set_collector(NULL, NULL);
	map_put(m);
}
END_TEST

/* ================= ARRAY_OF_MAPS, HASH_OF_MAPS ================= */

/* Our maps standing for kernel map fds: the test's stand-in for emul/'s fd table. */
static struct {
	int kfd;
	struct map *m;
} mim_fds[16];

static int mim_fd_resolve(int fd, struct map **out, void *ctx)
{
	for (int i = 0; i < 16; i++)
		if (mim_fds[i].m && mim_fds[i].kfd == fd) {
			*out = map_get(mim_fds[i].m);
			return 0;
		}
	return -EBADF;
}

/* An inner map on both sides, our copy carrying the kernel map's id. */
static int mim_inner_new(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t max, uint32_t flags,
			 struct map **out)
{
	union bpf_attr a = mk_attr(type, ksz, vsz, max, flags);
	struct map_create_opts o = { .sz = sizeof(o), .spin_lock_off = -1 };
	int kfd = -1;
	static uint32_t fake_id = 900000;

	if (kernel_available()) {
		kfd = kmap_create_attr(&a);
		ck_assert_int_ge(kfd, 0);
		o.id = kobj_id(kfd, false);
	} else {
		o.id = ++fake_id;
		kfd = 100000 + (int)o.id; /* a number no real fd has */
	}
	ck_assert_int_eq(map_create(&a, &o, out), 0);
	ck_assert_int_eq(map_in_map_register(*out), 0);
	for (int i = 0; i < 16; i++)
		if (!mim_fds[i].m) {
			mim_fds[i].kfd = kfd;
			mim_fds[i].m = *out;
			return kfd;
		}
	ck_abort_msg("too many inner maps");
	return -1;
}

static uint32_t map_id_of(struct map *m);

static void mim_inner_free(int kfd, struct map *m)
{
	for (int i = 0; i < 16; i++)
		if (mim_fds[i].m == m)
			mim_fds[i].m = NULL;
	map_in_map_unregister(map_id_of(m));
	map_put(m);
	if (kfd >= 0 && kfd < 100000)
		close(kfd);
}

static uint32_t map_id_of(struct map *m)
{
	struct bpf_map_info info;

	map_get_info(m, &info);
	return info.id;
}

START_TEST(test_map_in_map_matches_kernel)
{
	uint32_t outer_type = _i ? BPF_MAP_TYPE_HASH_OF_MAPS : BPF_MAP_TYPE_ARRAY_OF_MAPS;
	struct map *in1, *in2, *bad, *nested = NULL, *m;
	int k1, k2, kbad, kfd, err;
	uint32_t key, v, kv, id1, id2, idbad, nk, kn;
	union bpf_attr a;

	map_in_map_set_resolvers(mim_fd_resolve, NULL, NULL);
	k1 = mim_inner_new(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, &in1);
	k2 = mim_inner_new(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, &in2);
	kbad = mim_inner_new(BPF_MAP_TYPE_ARRAY, 4, 8, 5, 0, &bad); /* max_entries differs */
	id1 = map_id_of(in1);
	id2 = map_id_of(in2);
	idbad = map_id_of(bad);

	/* Creation: bad value size, unknown inner fd, then a good one. */
	a = mk_attr(outer_type, 4, 8, 4, 0);
	a.inner_map_fd = (uint32_t)k1;
	ck_assert_int_eq(pair_create(&a, &m, &kfd), -EINVAL);
	a = mk_attr(outer_type, 4, 4, 4, 0);
	a.inner_map_fd = 9999;
	ck_assert_int_eq(pair_create(&a, &m, &kfd), -EBADF);
	a = mk_attr(outer_type, 4, 4, 4, BPF_F_RDONLY_PROG);
	a.inner_map_fd = (uint32_t)k1;
	if (_i == 0)
		ck_assert_int_eq(pair_create(&a, &m, &kfd), -EINVAL);
	a = mk_attr(outer_type, 4, 4, 4, 0);
	a.inner_map_fd = (uint32_t)k1;
	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);

	/* A map of maps cannot be an inner map. */
	{
		union bpf_attr b = mk_attr(outer_type, 4, 4, 2, 0);
		struct map_create_opts o = { .sz = sizeof(o), .spin_lock_off = -1, .id = 12345678 };
		int kn2 = -1;

		b.inner_map_fd = (uint32_t)kfd;
		if (kfd >= 0) {
			kn2 = kmap_create_attr(&b);
			ck_assert_int_eq(kn2, -EINVAL);
		}
		/* Our side: register the outer map under kfd's number, then try. */
		for (int i = 0; i < 16; i++)
			if (!mim_fds[i].m) {
				mim_fds[i].kfd = kfd >= 0 ? kfd : 99999;
				mim_fds[i].m = m;
				break;
			}
		b.inner_map_fd = (uint32_t)(kfd >= 0 ? kfd : 99999);
		ck_assert_int_eq(map_create(&b, &o, &nested), -EINVAL);
		for (int i = 0; i < 16; i++)
			if (mim_fds[i].m == m)
				mim_fds[i].m = NULL;
	}

	key = 1;
	err = map_sys_lookup_elem(m, &key, &v, 0);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_lookup(kfd, &key, &kv, 0), err, "lookup empty");
	err = map_sys_update_elem(m, &key, &idbad, BPF_ANY);
	ck_assert_int_eq(err, -EINVAL);
	KCMP(kfd, kmap_update(kfd, &key, &kbad, BPF_ANY), err, "update mismatched inner");
	err = map_sys_update_elem(m, &key, &id1, BPF_ANY);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_update(kfd, &key, &k1, BPF_ANY), err, "update");
	err = map_sys_lookup_elem(m, &key, &v, 0);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_eq(v, id1);
	if (kfd >= 0) {
		ck_assert_int_eq(kmap_lookup(kfd, &key, &kv, 0), 0);
		ck_assert_uint_eq(kv, v); /* the kernel also answers with the inner map's id */
	}
	key = 3;
	err = map_sys_update_elem(m, &key, &id2, BPF_NOEXIST);
	KCMP(kfd, kmap_update(kfd, &key, &k2, BPF_NOEXIST), err, "update NOEXIST");
	err = map_sys_update_elem(m, &key, &id2, BPF_ANY);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_update(kfd, &key, &k2, BPF_ANY), err, "update 2");
	key = 7;
	err = map_sys_update_elem(m, &key, &id2, BPF_ANY);
	KCMP(kfd, kmap_update(kfd, &key, &k2, BPF_ANY), err, "update key 7");
	/* Helper lookup gives the inner map itself. */
	key = 1;
	ck_assert_ptr_eq(map_lookup_elem(m, &key), in1);
	key = 3;
	ck_assert_ptr_eq(map_lookup_elem(m, &key), in2);
	key = 2;
	ck_assert_ptr_null(map_lookup_elem(m, &key));
	ck_assert_int_eq(map_update_elem(m, &key, &id1, BPF_ANY), -EINVAL);
	err = map_sys_get_next_key(m, NULL, &nk);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_next(kfd, NULL, &kn), err, "next_key NULL");
	if (_i == 0 && kfd >= 0)
		ck_assert_uint_eq(nk, kn); /* array order is defined */
	key = 1;
	err = map_sys_lookup_and_delete_elem(m, &key, &v, 0);
	KCMP(kfd, kmap_lookup_and_delete(kfd, &key, &kv, 0), err, "lookup_and_delete");
	err = map_sys_delete_elem(m, &key);
	ck_assert_int_eq(err, 0);
	KCMP(kfd, kmap_delete(kfd, &key), err, "delete");
	err = map_sys_delete_elem(m, &key);
	ck_assert_int_eq(err, -ENOENT);
	KCMP(kfd, kmap_delete(kfd, &key), err, "delete again");
	ck_assert_ptr_null(map_lookup_elem(m, &key));
	map_put(m);
	if (kfd >= 0)
		close(kfd);
	mim_inner_free(k1, in1);
	mim_inner_free(k2, in2);
	mim_inner_free(kbad, bad);
	map_in_map_set_resolvers(NULL, NULL, NULL);
}
END_TEST

/* An inner map unknown to this process is opened through the id resolver. */
static struct map *idres_map;

static int mim_id_resolve(uint32_t id, struct map **out, void *ctx)
{
	if (!idres_map || map_id_of(idres_map) != id)
		return -ENOENT;
	return map_open_fd(map_fd(idres_map), out);
}

START_TEST(test_map_in_map_id_resolver)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_HASH, 8, 8, 16, 0);
	struct map_create_opts o = { .sz = sizeof(o), .spin_lock_off = -1, .id = 4711 };
	struct map *inner, *outer, *seen;
	uint32_t key = 0, id = 4711;
	uint64_t k = 5, v = 6;
	int fake = 424242;

	ck_assert_int_eq(map_create(&a, &o, &inner), 0);
	for (int i = 0; i < 16; i++)
		if (!mim_fds[i].m) {
			mim_fds[i].kfd = fake;
			mim_fds[i].m = inner;
			break;
		}
	map_in_map_set_resolvers(mim_fd_resolve, mim_id_resolve, NULL);
	a = mk_attr(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0);
	a.inner_map_fd = (uint32_t)fake;
	ck_assert_int_eq(map_create(&a, NULL, &outer), 0);
	/* Not registered and no way to resolve yet: -EBADF, as an fd that is no map. */
	ck_assert_int_eq(map_sys_update_elem(outer, &key, &id, BPF_ANY), -EBADF);
	idres_map = inner;
	ck_assert_int_eq(map_sys_update_elem(outer, &key, &id, BPF_ANY), 0);
	seen = map_lookup_elem(outer, &key);
	ck_assert_ptr_nonnull(seen);
	ck_assert_ptr_ne(seen, inner); /* a second handle on the same shared map */
	ck_assert_int_eq(map_update_elem(seen, &k, &v, BPF_ANY), 0);
	ck_assert_int_eq(map_sys_lookup_elem(inner, &k, &v, 0), 0);
	ck_assert_uint_eq(v, 6);
	idres_map = NULL;
	for (int i = 0; i < 16; i++)
		if (mim_fds[i].m == inner)
			mim_fds[i].m = NULL;
	map_in_map_unregister(4711);
	map_in_map_set_resolvers(NULL, NULL, NULL);
	map_put(outer);
	map_put(inner);
}
END_TEST

/* ================= LPM_TRIE ================= */

static const struct qs_create_case lpm_create_cases[] = {
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 100, BPF_F_NO_PREALLOC, 0, 0 },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 100, 0, 0, -EINVAL },
	{ BPF_MAP_TYPE_LPM_TRIE, 4, 8, 100, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ BPF_MAP_TYPE_LPM_TRIE, 5, 8, 100, BPF_F_NO_PREALLOC, 0, 0 },
	{ BPF_MAP_TYPE_LPM_TRIE, 260, 8, 100, BPF_F_NO_PREALLOC, 0, 0 },
	{ BPF_MAP_TYPE_LPM_TRIE, 261, 8, 100, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 0, 100, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 0, BPF_F_NO_PREALLOC, 0, -EINVAL },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 100, BPF_F_NO_PREALLOC | BPF_F_MMAPABLE, 0, -EINVAL },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 100, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG, 0, 0 },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 100, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED, 0, -EINVAL },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 1000000, BPF_F_NO_PREALLOC, 0, 0 },
};

START_TEST(test_lpm_create_checks_match_kernel)
{
	const struct qs_create_case *c = &lpm_create_cases[_i];
	union bpf_attr a = mk_attr(c->type, c->ksz, c->vsz, c->max, c->flags);
	struct map *m;
	int kfd;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), c->want);
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

/* Walk both tries with get_next_key from NULL: identical sequences (the kernel's postorder). */
static int lpm_walk_compare(struct map *m, int kfd, uint32_t ksz)
{
	uint8_t bk[24], kk[24], bn[24], kn[24];
	int cnt = 0, err, kerr;
	bool first = true;

	for (;;) {
		err = map_sys_get_next_key(m, first ? NULL : bk, bn);
		if (kfd >= 0) {
			kerr = kmap_next(kfd, first ? NULL : kk, kn);
			ck_assert_int_eq(kerr, err);
			if (!err)
				ck_assert_msg(memcmp(kn, bn, ksz) == 0, "walk step %d differs", cnt);
		}
		if (err) {
			ck_assert_int_eq(err, -ENOENT);
			return cnt;
		}
		memcpy(bk, bn, ksz);
		memcpy(kk, bn, ksz);
		first = false;
		ck_assert_int_lt(++cnt, 10000);
	}
}

START_TEST(test_lpm_ops_match_kernel)
{
	/* IPv4-like, an odd 3-byte key, and IPv6-like keys with a bigger trie. */
	uint32_t ds = _i == 0 ? 4 : _i == 1 ? 3 : 16, ksz = 4 + ds;
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_LPM_TRIE, ksz, 8, _i == 2 ? 400 : 60,
				   BPF_F_NO_PREALLOC);
	static const uint64_t fl[] = { BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3 };
	uint32_t seed = 2024 + (uint32_t)_i;
	uint8_t key[24];
	uint64_t v, bv, kv;
	struct map *m;
	int kfd, err, kr, hits = 0, nospc = 0, walks = 0;

	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	ck_assert_int_eq(lpm_walk_compare(m, kfd, ksz), 0);
	for (int step = 0; step < (_i == 2 ? 20000 : 6000); step++) {
		uint32_t plen, op;

		seed = seed * 1103515245u + 12345u;
		op = (seed >> 16) % 16;
		/* Few distinct high bits so prefixes nest and collide often. */
		plen = (seed >> 4) % (ds * 8 + 3); /* a few invalid lengths too */
		memcpy(key, &plen, 4);
		for (uint32_t j = 0; j < ds; j++) {
			seed = seed * 1103515245u + 12345u;
			key[4 + j] = (uint8_t)((seed >> 16) & (j == 0 ? 0xe1 : 0xff));
		}
		v = step;
		if (op < 6) {
			uint64_t f = fl[(seed >> 8) % 4];

			err = map_sys_update_elem(m, key, &v, f);
			KCMP(kfd, kmap_update(kfd, key, &v, f), err, "update");
			nospc += err == -ENOSPC;
		} else if (op < 9) {
			err = map_sys_delete_elem(m, key);
			KCMP(kfd, kmap_delete(kfd, key), err, "delete");
		} else if (op < 15) {
			bv = kv = 0;
			err = map_sys_lookup_elem(m, key, &bv, 0);
			if (kfd >= 0) {
				kr = kmap_lookup(kfd, key, &kv, 0);
				ck_assert_msg(kr == err, "step %d lookup /%u: kernel %d bpftime %d", step,
					      plen, kr, err);
				if (!err)
					ck_assert_msg(kv == bv, "step %d lookup /%u: kernel %llu bpftime %llu",
						      step, plen, (unsigned long long)kv,
						      (unsigned long long)bv);
			}
			if (!err) {
				uint64_t *p = map_lookup_elem(m, key);

				ck_assert_ptr_nonnull(p);
				ck_assert_uint_eq(*p, bv);
				hits++;
			} else {
				ck_assert_ptr_null(map_lookup_elem(m, key));
			}
		} else {
			lpm_walk_compare(m, kfd, ksz);
			walks++;
		}
	}
	ck_assert_int_gt(hits, 100);
	ck_assert_int_gt(nospc, 0);
	ck_assert_int_gt(lpm_walk_compare(m, kfd, ksz), 10);
	/* Walking from a key that is not in the trie restarts at the first (the kernel too). */
	{
		uint8_t k2[24] = { 0 }, n1[24], n2[24], kn1[24];
		uint32_t l2 = ds * 8;

		memcpy(k2, &l2, 4);
		memset(k2 + 4, 0x1e, ds); /* 0x1e & 0xe1 == 0: never generated above */
		ck_assert_int_eq(map_sys_delete_elem(m, k2), -ENOENT);
		ck_assert_int_eq(map_sys_get_next_key(m, k2, n1), 0);
		ck_assert_int_eq(map_sys_get_next_key(m, NULL, n2), 0);
		ck_assert(memcmp(n1, n2, ksz) == 0);
		if (kfd >= 0) {
			ck_assert_int_eq(kmap_next(kfd, k2, kn1), 0);
			ck_assert(memcmp(n1, kn1, ksz) == 0);
		}
	}
	fprintf(stderr, "lpm data %u: %d lookup hits, %d -ENOSPC, %d full walks compared\n", ds, hits,
		nospc, walks);
	map_put(m);
	if (kfd >= 0)
		close(kfd);
}
END_TEST

/* ================= hostile clients ================= */

/*
 * A client holding a map's fd can write anything into it. Scribble random
 * words over the body (not the header page, which maps/ copies once at open,
 * and not the process-shared lock word: a client that writes a live pid
 * there can stall producers, a documented limit), then run every operation:
 * nothing may crash or touch memory outside the map (ASan build).
 */
struct hostile_case {
	uint32_t type, ksz, vsz, max, flags;
	uint32_t lock_off;
};

static const struct hostile_case hostile_cases[] = {
	{ BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0, 4096 + 64 },
	{ BPF_MAP_TYPE_QUEUE, 0, 12, 9, 0, 0 },
	{ BPF_MAP_TYPE_STACK, 0, 12, 9, 0, 0 },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 16, BPF_F_NO_PREALLOC, 0 },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 32, 8, 0, 0 },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 16, 0, UINT32_MAX },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 8, 0, UINT32_MAX },
};

START_TEST(test_hostile_client_writes)
{
	const struct hostile_case *c = &hostile_cases[_i];
	union bpf_attr a = mk_attr(c->type, c->ksz, c->vsz, c->max, c->flags);
	uint8_t key[16], val[64], nk[16];
	uint64_t ips[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint32_t seed = 99 + (uint32_t)_i;
	struct map *m, *m2;
	struct stat st;
	uint8_t *body;
	size_t body_sz;

	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	ck_assert_int_eq(fstat(map_fd(m), &st), 0);
	body_sz = (size_t)st.st_size - 4096;
	body = mmap(NULL, body_sz, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd(m), 0);
	ck_assert_ptr_ne(body, MAP_FAILED);
	for (int round = 0; round < 3000; round++) {
		for (int w = 0; w < 4; w++) {
			uint32_t off, word;

			seed = seed * 1103515245u + 12345u;
			off = (seed >> 8) % (uint32_t)(body_sz / 4) * 4;
			/* Hit the control words at the start of a page more often than the rest. */
			if (w == 0)
				off = (off % 256) + (seed & 1 ? 4096 : 0);
			if (off + 4 > body_sz || (off >= c->lock_off && off < c->lock_off + 4))
				continue;
			seed = seed * 1103515245u + 12345u;
			word = seed & 4 ? seed : seed % 64;
			memcpy(body + off, &word, 4);
		}
		memset(key, 0, sizeof(key));
		memset(val, 0, sizeof(val));
		key[0] = (uint8_t)(seed % 40);
		key[4] = (uint8_t)seed;
		switch (c->type) {
		case BPF_MAP_TYPE_RINGBUF: {
			void *smp = map_ringbuf_reserve(m, seed % 3000, 0);

			if (smp) {
				memset(smp, 0x5a, seed % 3000);
				map_ringbuf_submit(smp, 0);
			}
			map_ringbuf_output(m, val, 16, BPF_RB_FORCE_WAKEUP);
			map_ringbuf_query(m, BPF_RB_AVAIL_DATA);
			map_ringbuf_reap(m);
			map_ringbuf_wait(m, map_ringbuf_wake_seq(m) + 1, 0);
			break;
		}
		case BPF_MAP_TYPE_STACK_TRACE:
			map_get_stackid(m, ips, 1 + seed % 8, seed & 1 ? BPF_F_REUSE_STACKID : 0);
			break;
		default:
			map_push_elem(m, val, seed & 1 ? BPF_EXIST : BPF_ANY);
			map_pop_elem(m, val);
			map_peek_elem(m, val);
			break;
		}
		map_sys_update_elem(m, key, val, BPF_ANY);
		map_sys_lookup_elem(m, key, val, 0);
		map_lookup_elem(m, key);
		map_sys_get_next_key(m, key, nk);
		map_sys_get_next_key(m, NULL, nk);
		map_sys_delete_elem(m, key);
		map_sys_lookup_and_delete_elem(m, key, val, 0);
	}
	/* A second process-local handle still opens (the header was not touched). */
	ck_assert_int_eq(map_open_fd(map_fd(m), &m2), 0);
	map_put(m2);
	munmap(body, body_sz);
	map_put(m);
}
END_TEST

/* The same for a perf ring: everything in its control page and data is client-writable. */
START_TEST(test_hostile_perf_ring)
{
	struct map_perf_ring_opts o = { .sz = sizeof(o), .id = 5, .data_pages = 2, .cpu = -1,
					.type = PERF_TYPE_SOFTWARE,
					.config = PERF_COUNT_SW_BPF_OUTPUT, .wakeup_events = 1 };
	struct map_perf_ring *r;
	uint8_t data[300] = { 0 };
	uint32_t seed = 5;
	uint8_t *base;

	ck_assert_int_eq(map_perf_ring_create(&o, &r), 0);
	base = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, map_perf_ring_fd(r), 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	for (int round = 0; round < 2000; round++) {
		uint32_t off, word;

		seed = seed * 1103515245u + 12345u;
		off = (seed >> 8) % (3 * 4096 / 4) * 4;
		if (round & 1)
			off = 1024 + (off % 1200); /* data_head/tail and bpftime's private words */
		seed = seed * 1103515245u + 12345u;
		word = seed & 4 ? seed : seed % 64;
		if (off != 2048 + 8) /* the lock word (see above) */
			memcpy(base + off, &word, 4);
		map_perf_ring_output(r, data, seed % sizeof(data));
	}
	munmap(base, 3 * 4096);
	map_perf_ring_put(r);
}
END_TEST

/* ================= batch commands on every type ================= */

struct batch_case {
	uint32_t type, ksz, vsz, max, flags;
	bool inner;
};

static const struct batch_case batch_cases[] = {
	{ BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0, false },
	{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, 0, false },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2, 0, false },
	{ BPF_MAP_TYPE_QUEUE, 0, 8, 4, 0, false },
	{ BPF_MAP_TYPE_STACK, 0, 8, 4, 0, false },
	{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 4, 0, false },
	{ BPF_MAP_TYPE_STACK_TRACE, 4, 8, 4, 0, false },
	{ BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, true },
	{ BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, 0, true },
	{ BPF_MAP_TYPE_LPM_TRIE, 8, 8, 4, BPF_F_NO_PREALLOC, false },
};

/*
 * LOOKUP_BATCH, LOOKUP_AND_DELETE_BATCH, DELETE_BATCH and UPDATE_BATCH
 * (the last two with count 0, so no element is needed) on empty maps of
 * each type give the kernel's errno: most of these types have no update
 * batch in the kernel (-ENOTSUPP), LPM and the maps of maps do.
 */
START_TEST(test_batch_errnos_match_kernel)
{
	const struct batch_case *c = &batch_cases[_i];
	union bpf_attr a = mk_attr(c->type, c->ksz, c->vsz, c->max, c->flags);
	uint8_t keys[64] = { 0 }, vals[64] = { 0 }, out[8];
	struct map *in = NULL, *m;
	int kin = -1, kfd, err;

	if (c->inner) {
		map_in_map_set_resolvers(mim_fd_resolve, NULL, NULL);
		kin = mim_inner_new(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, &in);
		a.inner_map_fd = (uint32_t)kin;
	}
	ck_assert_int_eq(pair_create(&a, &m, &kfd), 0);
	for (int cmd = 0; cmd < 4; cmd++) {
		struct map_batch b = { .keys = keys, .values = vals, .out_batch = out, .count = 1 };
		uint32_t kcount = 1;
		int kcmd = cmd == 0 ? BPF_MAP_LOOKUP_BATCH
			   : cmd == 1 ? BPF_MAP_LOOKUP_AND_DELETE_BATCH
			   : cmd == 2 ? BPF_MAP_DELETE_BATCH : BPF_MAP_UPDATE_BATCH;

		if (cmd == 3) {
			b.count = 0;
			kcount = 0;
			err = map_sys_update_batch(m, &b);
		} else if (cmd == 2) {
			b.count = 0;
			kcount = 0;
			err = map_sys_delete_batch(m, &b);
		} else if (cmd == 1) {
			err = map_sys_lookup_and_delete_batch(m, &b);
		} else {
			err = map_sys_lookup_batch(m, &b);
		}
		if (kfd >= 0)
			ck_assert_msg(kmap_batch(kcmd, kfd, NULL, out, keys, vals, &kcount, 0) == err,
				      "type %u batch cmd %d: bpftime %d", c->type, kcmd, err);
	}
	if (c->type == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
		/* Empty slots are skipped; out_batch is the last index visited. */
		uint32_t bk[4] = { 0 }, bvals[4] = { 0 }, kk[4] = { 0 }, kvals[4] = { 0 };
		uint32_t bout = 77, kout = 77, key = 1, id = map_id_of(in), kcount = 4;
		struct map_batch b = { .keys = bk, .values = bvals, .out_batch = &bout, .count = 4 };

		ck_assert_int_eq(map_sys_update_elem(m, &key, &id, BPF_ANY), 0);
		err = map_sys_lookup_batch(m, &b);
		ck_assert_int_eq(err, -ENOENT);
		ck_assert_uint_eq(b.count, 1);
		ck_assert_uint_eq(bk[0], 1);
		ck_assert_uint_eq(bvals[0], id);
		if (kfd >= 0) {
			ck_assert_int_eq(kmap_update(kfd, &key, &kin, BPF_ANY), 0);
			ck_assert_int_eq(kmap_batch(BPF_MAP_LOOKUP_BATCH, kfd, NULL, &kout, kk, kvals,
						    &kcount, 0), err);
			ck_assert_uint_eq(kcount, b.count);
			ck_assert_uint_eq(kk[0], bk[0]);
			ck_assert_uint_eq(kvals[0], bvals[0]);
			ck_assert_uint_eq(kout, bout);
		}
	}
	map_put(m);
	if (kfd >= 0)
		close(kfd);
	if (in) {
		mim_inner_free(kin, in);
		map_in_map_set_resolvers(NULL, NULL, NULL);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("maps_types");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("ringbuf");
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_ringbuf_create_checks_match_kernel, 0,
			    sizeof(rb_create_cases) / sizeof(rb_create_cases[0]));
	tcase_add_test(tc, test_ringbuf_syscall_ops_enotsupp);
	tcase_add_test(tc, test_ringbuf_helpers_match_kernel);
	tcase_add_test(tc, test_ringbuf_reserve_rules);
	tcase_add_test(tc, test_ringbuf_wakeup_rule);
	tcase_add_test(tc, test_ringbuf_wait_cross_process);
	tcase_add_test(tc, test_ringbuf_dead_producer_reaped);
	tcase_add_test(tc, test_ringbuf_libbpf_consumer_multiprocess);
	suite_add_tcase(s, tc);

	tc = tcase_create("perf_event_array");
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_fd_array_create_checks_match_kernel, 0,
			    sizeof(fd_create_cases) / sizeof(fd_create_cases[0]));
	tcase_add_test(tc, test_perf_event_array_syscall_ops_match_kernel);
	tcase_add_test(tc, test_perf_page_wakeup_rule);
	tcase_add_test(tc, test_perf_event_output_matches_kernel);
	tcase_add_test(tc, test_perf_ring_resolver_and_late_size);
	tcase_add_test(tc, test_perf_buffer_libbpf_consumer_multiprocess);
	suite_add_tcase(s, tc);

	tc = tcase_create("prog_array");
	tcase_add_test(tc, test_prog_array_syscall_ops_match_kernel);
	suite_add_tcase(s, tc);

	tc = tcase_create("queue_stack");
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_qs_bloom_create_checks_match_kernel, 0,
			    sizeof(qs_create_cases) / sizeof(qs_create_cases[0]));
	tcase_add_loop_test(tc, test_queue_stack_ops_match_kernel, 0, 2);
	tcase_add_test(tc, test_queue_stack_helpers_order);
	tcase_add_test(tc, test_queue_multiprocess_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("bloom_filter");
	tcase_add_loop_test(tc, test_bloom_filter_matches_kernel, 0, 5);
	suite_add_tcase(s, tc);

	tc = tcase_create("stack_trace");
	tcase_add_loop_test(tc, test_stack_trace_create_checks_match_kernel, 0,
			    sizeof(st_create_cases) / sizeof(st_create_cases[0]));
	tcase_add_test(tc, test_stack_trace_matches_kernel);
	tcase_add_test(tc, test_stack_trace_helper_and_enomem);
	suite_add_tcase(s, tc);

	tc = tcase_create("map_in_map");
	tcase_add_loop_test(tc, test_map_in_map_matches_kernel, 0, 2);
	tcase_add_test(tc, test_map_in_map_id_resolver);
	suite_add_tcase(s, tc);

	tc = tcase_create("lpm_trie");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_lpm_create_checks_match_kernel, 0,
			    sizeof(lpm_create_cases) / sizeof(lpm_create_cases[0]));
	tcase_add_loop_test(tc, test_lpm_ops_match_kernel, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("batch");
	tcase_add_loop_test(tc, test_batch_errnos_match_kernel, 0,
			    sizeof(batch_cases) / sizeof(batch_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_hostile_client_writes, 0,
			    sizeof(hostile_cases) / sizeof(hostile_cases[0]));
	tcase_add_test(tc, test_hostile_perf_ring);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
