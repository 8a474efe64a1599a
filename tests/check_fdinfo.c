/*
 * check_fdinfo.c - the "fdinfo" suite: emul/fdinfo_text.c, the kernel's
 * /proc/<pid>/fdinfo text and memlock figures for bpf objects.
 *
 * The expected memlock values are what the reference kernel (6.18 x86-64,
 * 2 possible CPUs) printed for the same objects (tests/e2e/agent-fdinfo.sh
 * re-checks them against the running kernel); the pre-6.4 figures follow
 * bpf_map_memory_footprint().
 */
#include <check.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emul/fdinfo_text.h"

#define KV(a, b, c) (((a) << 16) + ((b) << 8) + (c))

static struct emu_reg_hdr *reg;

static void reg_setup(void)
{
	reg = calloc(1, EMU_REG_FILE_SZ);
	ck_assert_ptr_nonnull(reg);
}

static void reg_teardown(void)
{
	free(reg);
	reg = NULL;
}

static struct emu_reg_slot *slot(uint32_t i, uint32_t kind, uint32_t id, uint32_t type)
{
	struct emu_reg_slot *s = (void *)((uint8_t *)reg + EMU_REG_HDR_SZ + (size_t)i * EMU_REG_SLOT_SZ);

	s->state = EMU_REG_LIVE;
	s->kind = kind;
	s->id = id;
	s->type = type;
	return s;
}

static struct emu_reg_slot *map_slot(uint32_t type, uint32_t k, uint32_t v, uint32_t n, uint32_t flags)
{
	struct emu_reg_slot *s = slot(0, EMU_REG_MAP, 1, type);

	s->u.map.key_size = k;
	s->u.map.value_size = v;
	s->u.map.max_entries = n;
	s->u.map.map_flags = flags;
	return s;
}

static const char *tp_name_of(uint32_t tp_id)
{
	return tp_id == 700 ? "sys_enter_getpid" : NULL;
}

static const struct emu_fdinfo_env env618 = { KV(6, 18, 44), 2, 0, tp_name_of, NULL };

struct memlock_case {
	uint32_t type, k, v, n, flags;
	uint64_t elems;
	uint64_t want;
};

/* Figures printed by 6.18 for these maps (tests/e2e/agent_fdinfo.c and sup-bpftool.sh create them). */
static const struct memlock_case cases_618[] = {
	{ BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, 0, 344 },
	{ BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0, 0, 320 },
	{ BPF_MAP_TYPE_ARRAY, 4, 12, 100, BPF_F_MMAPABLE, 0, 8192 },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0, 0, 344 },
	{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 8, 0, 0, 376 },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 0, 0, 408 },
	{ BPF_MAP_TYPE_HASH, 4, 8, 64, 0, 0, 6160 },
	{ BPF_MAP_TYPE_HASH, 4, 8, 16, 0, 0, 2320 },
	{ BPF_MAP_TYPE_HASH, 4, 8, 64, BPF_F_NO_PREALLOC, 0, 1920 },
	{ BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_NO_PREALLOC, 0, 1152 },
	{ BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_NO_PREALLOC, 2, 1296 },
	{ BPF_MAP_TYPE_LRU_HASH, 8, 16, 128, 0, 0, 12160 },
	{ BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, 0, 0, 2432 },
	{ BPF_MAP_TYPE_RINGBUF, 0, 0, 16384, 0, 0, 29064 },
};

START_TEST(test_map_memlock_matches_6_18)
{
	const struct memlock_case *c = &cases_618[_i];
	struct emu_fdinfo_env env = env618;

	env.elem_cnt = c->elems;
	ck_assert_uint_eq(emu_map_memlock(map_slot(c->type, c->k, c->v, c->n, c->flags), &env), c->want);
}
END_TEST

START_TEST(test_map_memlock_counts_cpus)
{
	struct emu_fdinfo_env env = env618;

	/* 832 + 16 buckets * 16 + 4 CPUs * 8 lock ints * 4 + (16 + 4 spare) * 64 + 4 extra_elems pointers * 8 */
	env.cpu_cnt = 4;
	ck_assert_uint_eq(emu_map_memlock(map_slot(BPF_MAP_TYPE_HASH, 4, 8, 16, 0), &env), 2528);
	/* 312 + 4 pointers + 4 * 8 bytes * 4 CPUs */
	ck_assert_uint_eq(emu_map_memlock(map_slot(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 0), &env), 472);
}
END_TEST

START_TEST(test_map_memlock_uses_given_sizes)
{
	struct emu_kstruct_sizes ks;
	struct emu_fdinfo_env env = env618;

	emu_kstruct_sizes_default(&ks);
	ks.array = 400;
	ks.prog = 200;
	env.ks = &ks;
	ck_assert_uint_eq(emu_map_memlock(map_slot(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0), &env), 432);
	/* (4096 - 200) / 8 = 487 instructions fit one page */
	ck_assert_uint_eq(emu_prog_memlock(487, &ks), 4096);
	ck_assert_uint_eq(emu_prog_memlock(488, &ks), 8192);
}
END_TEST

/* A small BTF blob: int, STRUCT bpf_array (400), FUNC_PROTO (2 params), STRUCT bucket (24), then @tail_kind. */
static size_t btf_blob(uint8_t *b, uint32_t tail_kind)
{
	static const char str[] = "\0int\0bpf_array\0bucket\0htab_elem";
	struct btf_header h = { .magic = BTF_MAGIC, .version = BTF_VERSION, .hdr_len = sizeof(h) };
	uint8_t *t = b + sizeof(h);
	struct btf_type bt;
	uint32_t u32;
	struct btf_member mem = { 0 };
	struct btf_param par = { 0 };

	bt = (struct btf_type){ .name_off = 1, .info = BTF_KIND_INT << 24, .size = 4 };
	memcpy(t, &bt, sizeof(bt)), t += sizeof(bt);
	u32 = 32;
	memcpy(t, &u32, 4), t += 4;
	bt = (struct btf_type){ .name_off = 5, .info = BTF_KIND_STRUCT << 24 | 1, .size = 400 };
	memcpy(t, &bt, sizeof(bt)), t += sizeof(bt);
	memcpy(t, &mem, sizeof(mem)), t += sizeof(mem);
	bt = (struct btf_type){ .name_off = 0, .info = BTF_KIND_FUNC_PROTO << 24 | 2, .type = 1 };
	memcpy(t, &bt, sizeof(bt)), t += sizeof(bt);
	memcpy(t, &par, sizeof(par)), t += sizeof(par);
	memcpy(t, &par, sizeof(par)), t += sizeof(par);
	bt = (struct btf_type){ .name_off = 15, .info = BTF_KIND_STRUCT << 24, .size = 24 };
	memcpy(t, &bt, sizeof(bt)), t += sizeof(bt);
	bt = (struct btf_type){ .name_off = 0, .info = tail_kind << 24, .size = 0 };
	memcpy(t, &bt, sizeof(bt)), t += sizeof(bt);
	bt = (struct btf_type){ .name_off = 22, .info = BTF_KIND_STRUCT << 24, .size = 99 };
	memcpy(t, &bt, sizeof(bt)), t += sizeof(bt);
	h.type_off = 0;
	h.type_len = (uint32_t)(t - (b + sizeof(h)));
	h.str_off = h.type_len;
	h.str_len = sizeof(str);
	memcpy(t, str, sizeof(str));
	memcpy(b, &h, sizeof(h));
	return sizeof(h) + h.type_len + h.str_len;
}

START_TEST(test_kstruct_sizes_from_btf)
{
	uint8_t b[512];
	struct emu_kstruct_sizes ks, def;
	size_t n;

	emu_kstruct_sizes_default(&def);
	/* A known kind (PTR) in between: all three structs are found. */
	n = btf_blob(b, BTF_KIND_PTR);
	ks = def;
	ck_assert_int_eq(emu_kstruct_sizes_from_btf(b, n, &ks), 3);
	ck_assert_uint_eq(ks.array, 400);
	ck_assert_uint_eq(ks.htab_bucket, 24);
	ck_assert_uint_eq(ks.htab_elem, 99);
	ck_assert_uint_eq(ks.htab, def.htab);
	/* An unknown kind stops the walk: what follows keeps its default. */
	n = btf_blob(b, 31);
	ks = def;
	ck_assert_int_eq(emu_kstruct_sizes_from_btf(b, n, &ks), 2);
	ck_assert_uint_eq(ks.htab_elem, def.htab_elem);
	/* Truncated or not BTF: -EINVAL, nothing changed. */
	ks = def;
	ck_assert_int_eq(emu_kstruct_sizes_from_btf(b, n - 10, &ks), -EINVAL);
	ck_assert_int_eq(emu_kstruct_sizes_from_btf(b, 8, &ks), -EINVAL);
	b[0] ^= 0xff;
	ck_assert_int_eq(emu_kstruct_sizes_from_btf(b, n, &ks), -EINVAL);
	ck_assert_uint_eq(ks.array, def.array);
}
END_TEST

START_TEST(test_kstruct_sizes_of_running_kernel)
{
	FILE *f = fopen("/sys/kernel/btf/vmlinux", "r");
	struct emu_kstruct_sizes ks;
	uint8_t *buf;
	size_t n;

	if (!f)
		return; /* no vmlinux BTF here: the defaults are all there is */
	buf = malloc(64u << 20);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, 64u << 20, f);
	fclose(f);
	emu_kstruct_sizes_default(&ks);
	/* Every structure the formulas use is named in a BPF-enabled kernel's BTF. */
	ck_assert_int_eq(emu_kstruct_sizes_from_btf(buf, n, &ks), 6);
	ck_assert_uint_gt(ks.array, 200);
	free(buf);
}
END_TEST

START_TEST(test_map_memlock_before_6_4_is_footprint)
{
	struct emu_fdinfo_env env = { KV(6, 1, 0), 2, 0, NULL, NULL };

	/* round_up(4 * round_up(4 + 8, 8), 4096) */
	ck_assert_uint_eq(emu_map_memlock(map_slot(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0), &env), 4096);
	/* per-CPU: value_size is round_up(8, 8) * 2 CPUs; 1000 * round_up(4 + 16, 8) = 24000 -> 24576 */
	ck_assert_uint_eq(emu_map_memlock(map_slot(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 1000, 0), &env), 24576);
	/* fd maps count sizeof(u32) values */
	ck_assert_uint_eq(emu_map_memlock(map_slot(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1024, 0), &env), 8192);
}
END_TEST

START_TEST(test_prog_memlock_pages)
{
	ck_assert_uint_eq(emu_prog_memlock(2, NULL), 4096);
	ck_assert_uint_eq(emu_prog_memlock(500, NULL), 4096);
	ck_assert_uint_eq(emu_prog_memlock(501, NULL), 8192);
	ck_assert_uint_eq(emu_prog_memlock(600, NULL), 8192);
}
END_TEST

START_TEST(test_kver_parse)
{
	ck_assert_uint_eq(emu_kver_parse("6.18.44-fc-v669"), KV(6, 18, 44));
	ck_assert_uint_eq(emu_kver_parse("6.1.0-26-amd64"), KV(6, 1, 0));
	ck_assert_uint_eq(emu_kver_parse("5.10"), KV(5, 10, 0));
	ck_assert_uint_eq(emu_kver_parse("4.19.300"), KV(4, 19, 255));
	ck_assert_uint_eq(emu_kver_parse("linux"), 0);
	ck_assert_uint_eq(emu_kver_parse(NULL), 0);
}
END_TEST

START_TEST(test_format_map_text_exact)
{
	struct emu_reg_slot *s = map_slot(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0);
	char buf[1024];
	int n;

	s->u.map.frozen = 1;
	n = emu_fdinfo_format(reg, s, &env618, buf, sizeof(buf));
	ck_assert_str_eq(buf, "map_type:\t2\nkey_size:\t4\nvalue_size:\t8\nmax_entries:\t4\nmap_flags:\t0x0\n"
			      "map_extra:\t0x0\nmemlock:\t344\nmap_id:\t1\nfrozen:\t1\n");
	ck_assert_int_eq(n, (int)strlen(buf));
}
END_TEST

START_TEST(test_format_prog_and_owner)
{
	struct emu_reg_slot *p = slot(3, EMU_REG_PROG, 7, BPF_PROG_TYPE_SOCKET_FILTER);
	struct emu_reg_slot *m = slot(4, EMU_REG_MAP, 9, BPF_MAP_TYPE_PROG_ARRAY);
	static const uint8_t tag[8] = { 0x59, 0xf4, 0xa9, 0x31, 0x74, 0x4d, 0xcd, 0xc6 };
	char buf[1024];

	memcpy(p->u.prog.tag, tag, 8);
	p->u.prog.insn_cnt = 2;
	p->u.prog.map_cnt = 1;
	p->u.prog.map_ids[0] = 9;
	m->u.map.key_size = 4;
	m->u.map.value_size = 4;
	m->u.map.max_entries = 8;
	ck_assert_int_gt(emu_fdinfo_format(reg, p, &env618, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "prog_type:\t1\nprog_jited:\t0\nprog_tag:\t59f4a931744dcdc6\nmemlock:\t4096\nprog_id:\t7\n"
			      "run_time_ns:\t0\nrun_cnt:\t0\nrecursion_misses:\t0\nverified_insns:\t0\n");
	ck_assert_int_gt(emu_fdinfo_format(reg, m, &env618, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "memlock:\t376\nmap_id:\t9\nfrozen:\t0\nowner_prog_type:\t1\nowner_jited:\t0\n"));
	/* The owner is gone: no owner lines. */
	p->state = EMU_REG_RELEASED;
	ck_assert_int_gt(emu_fdinfo_format(reg, m, &env618, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(strstr(buf, "owner_prog_type"));
}
END_TEST

START_TEST(test_format_perf_link_uprobe)
{
	struct emu_reg_slot *p = slot(1, EMU_REG_PROG, 3, BPF_PROG_TYPE_KPROBE);
	struct emu_reg_slot *pe = slot(2, EMU_REG_PERF, 5, EMU_REG_PERF_UPROBE);
	struct emu_reg_slot *l = slot(3, EMU_REG_LINK, 1, BPF_LINK_TYPE_PERF_EVENT);
	char buf[1024];

	p->u.prog.tag[0] = 0xab;
	pe->u.perf.offset = 0x18a0;
	strcpy(pe->u.perf.path, "/tmp/probe");
	l->u.link.prog_id = 3;
	l->u.link.perf_id = 5;
	l->u.link.bpf_cookie = 42;
	ck_assert_int_gt(emu_fdinfo_format(reg, l, &env618, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "link_type:\tperf\nlink_id:\t1\nprog_tag:\tab00000000000000\nprog_id:\t3\n"
			      "name:\t/tmp/probe\noffset:\t0x18a0\nref_ctr_offset:\t0x0\nevent_type:\tuprobe\ncookie:\t42\n");
	pe->u.perf.flags = EMU_REG_PERF_RETPROBE;
	ck_assert_int_gt(emu_fdinfo_format(reg, l, &env618, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "event_type:\turetprobe\n"));
}
END_TEST

START_TEST(test_format_perf_link_tracepoint)
{
	struct emu_reg_slot *p = slot(1, EMU_REG_PROG, 3, BPF_PROG_TYPE_TRACEPOINT);
	struct emu_reg_slot *pe = slot(2, EMU_REG_PERF, 5, EMU_REG_PERF_TRACEPOINT);
	struct emu_reg_slot *l = slot(3, EMU_REG_LINK, 1, BPF_LINK_TYPE_PERF_EVENT);
	struct emu_fdinfo_env old = env618;
	char buf[1024];

	pe->u.perf.tp_id = 700;
	l->u.link.prog_id = 3;
	l->u.link.perf_id = 5;
	l->u.link.bpf_cookie = 7;
	ck_assert_int_gt(emu_fdinfo_format(reg, l, &env618, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "prog_id:\t3\ntp_name:\tsys_enter_getpid\nevent_type:\ttracepoint\ncookie:\t7\n"));
	/* An unknown id: the generic lines only. */
	pe->u.perf.tp_id = 1;
	ck_assert_int_gt(emu_fdinfo_format(reg, l, &env618, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(strstr(buf, "tp_name"));
	/* 6.1 prints no per-link lines. */
	pe->u.perf.tp_id = 700;
	old.kver = KV(6, 1, 0);
	ck_assert_int_gt(emu_fdinfo_format(reg, l, &old, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(strstr(buf, "tp_name"));
	(void)p;
}
END_TEST

START_TEST(test_format_btf_perf_and_bad_kind)
{
	char buf[64];

	ck_assert_int_eq(emu_fdinfo_format(reg, slot(0, EMU_REG_BTF, 12, 0), &env618, buf, sizeof(buf)), 11);
	ck_assert_str_eq(buf, "btf_id:\t12\n");
	ck_assert_int_eq(emu_fdinfo_format(reg, slot(1, EMU_REG_PERF, 1, EMU_REG_PERF_UPROBE), &env618, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(emu_fdinfo_format(reg, slot(2, 99, 1, 0), &env618, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(test_format_small_buffer_enospc)
{
	char buf[16];

	ck_assert_int_eq(emu_fdinfo_format(reg, map_slot(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0), &env618, buf, sizeof(buf)),
			 -ENOSPC);
	ck_assert_int_eq(emu_fdinfo_format(reg, map_slot(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0), &env618, buf, 0), -ENOSPC);
}
END_TEST

START_TEST(test_link_names_are_the_kernels)
{
	ck_assert_str_eq(emu_fdinfo_link_name(EMU_REG_PROG), "anon_inode:bpf-prog");
	ck_assert_str_eq(emu_fdinfo_link_name(EMU_REG_MAP), "anon_inode:bpf-map");
	ck_assert_str_eq(emu_fdinfo_link_name(EMU_REG_LINK), "anon_inode:bpf_link");
	ck_assert_str_eq(emu_fdinfo_link_name(EMU_REG_BTF), "anon_inode:btf");
	ck_assert_str_eq(emu_fdinfo_link_name(EMU_REG_PERF), "anon_inode:[perf_event]");
	ck_assert_ptr_null(emu_fdinfo_link_name(0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdinfo");
	TCase *tc = tcase_create("fdinfo_text");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, reg_setup, reg_teardown);
	tcase_add_loop_test(tc, test_map_memlock_matches_6_18, 0, (int)(sizeof(cases_618) / sizeof(cases_618[0])));
	tcase_add_test(tc, test_map_memlock_counts_cpus);
	tcase_add_test(tc, test_map_memlock_uses_given_sizes);
	tcase_add_test(tc, test_kstruct_sizes_from_btf);
	tcase_add_test(tc, test_kstruct_sizes_of_running_kernel);
	tcase_add_test(tc, test_map_memlock_before_6_4_is_footprint);
	tcase_add_test(tc, test_prog_memlock_pages);
	tcase_add_test(tc, test_kver_parse);
	tcase_add_test(tc, test_format_map_text_exact);
	tcase_add_test(tc, test_format_prog_and_owner);
	tcase_add_test(tc, test_format_perf_link_uprobe);
	tcase_add_test(tc, test_format_perf_link_tracepoint);
	tcase_add_test(tc, test_format_btf_perf_and_bad_kind);
	tcase_add_test(tc, test_format_small_buffer_enospc);
	tcase_add_test(tc, test_link_names_are_the_kernels);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
