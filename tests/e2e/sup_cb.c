/* sup_cb.c - load tests/e2e/sup_cb.bpf.o (path in argv[1]) with libbpf, fill
 * its maps, run it with PROG_TEST_RUN and print every .bss variable by name
 * (offsets from the object's BTF), so tests/e2e/sup-cb.sh can compare
 * bpftime-run with the kernel. hash_stop_* depend on the hash table's
 * iteration order, which is not the kernel's: only their consistency is
 * printed. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_test_run_opts, topts);
	unsigned char bss[256] = { 0 };
	long long stop_ret = -1, stop_cnt = -2;
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_object *obj;
	struct bpf_map *m;
	struct btf *btf;
	__u32 zero = 0;
	int err, id;

	if (argc != 2)
		return 2;
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed\n");
		return 1;
	}
	for (__u32 k = 0; k < 8; k++) {
		__u64 val = 100 + k;

		bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "arr")), &k, &val, 0);
		val = 1000 * (k + 1);
		if (k < 5)
			bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "hash")), &k,
					    &val, 0);
	}
	err = bpf_prog_test_run_opts(
		bpf_program__fd(bpf_object__find_program_by_name(obj, "run_callbacks")), &topts);
	printf("test_run err %d retval %u\n", err, topts.retval);
	m = bpf_object__find_map_by_name(obj, ".bss");
	btf = bpf_object__btf(obj);
	id = btf ? btf__find_by_name_kind(btf, ".bss", BTF_KIND_DATASEC) : -1;
	if (!m || id < 0 || bpf_map__value_size(m) > sizeof(bss) ||
	    bpf_map_lookup_elem(bpf_map__fd(m), &zero, bss)) {
		printf("no .bss\n");
		return 1;
	}
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const char *name = btf__name_by_offset(btf, btf__type_by_id(btf, vs->type)->name_off);
		long long v = 0;

		if (vs->size == 8)
			memcpy(&v, bss + vs->offset, 8);
		else if (vs->size == 4)
			v = *(__u32 *)(bss + vs->offset);
		/* The kernel inlines bpf_loop when flags and the callback are
		 * constants (inline_bpf_loop() in kernel/bpf/verifier.c) and its
		 * inline code sets -E2BIG with a 32-bit move: the result is
		 * 0xfffffff9, not -7, there. Compare the low half only. */
		if (!strcmp(name, "loop_big_ret"))
			v = (int)(unsigned int)v;
		if (!strcmp(name, "hash_stop_ret"))
			stop_ret = v;
		else if (!strcmp(name, "hash_stop_cnt"))
			stop_cnt = v;
		else
			printf("%s %lld\n", name, v);
	}
	printf("hash_stop consistent %d\n", stop_ret == stop_cnt && stop_ret >= 1 && stop_ret <= 5);
	bpf_object__close(obj);
	return 0;
}
