/*
 * fdinfo_sizes.c - the sizes of the kernel structures that the kernel's
 * memlock formulas add up (emul/fdinfo_text.c), read from the running
 * kernel's vmlinux BTF.
 *
 * sizeof(struct bpf_array), sizeof(struct bpf_htab) and friends depend on
 * the kernel's version and build configuration, so a table of constants is
 * right for one kernel only. The kernel describes its own types in
 * /sys/kernel/btf/vmlinux (the BTF format of Documentation/bpf/btf.rst:
 * a header, then struct btf_type records each followed by kind-specific
 * data, then a string section); we walk the type records once and pick the
 * STRUCTs by name. The defaults (emu_kstruct_sizes_default(), those of the
 * 6.18 x86-64 reference kernel) stay for any structure the BTF does not
 * name, e.g. without CONFIG_DEBUG_INFO_BTF.
 *
 * Input is a file, not trusted: every offset and length is checked before
 * use, and an unknown kind stops the walk with what was found so far.
 */
#include "emul/fdinfo_text.h"

#include <errno.h>
#include <linux/btf.h>
#include <stddef.h>
#include <string.h>

/* Bytes that follow a struct btf_type of @kind with @vlen entries (btf.rst §2.2); -1 for an unknown kind. */
static long kind_extra(uint32_t kind, uint32_t vlen)
{
	switch (kind) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case 17: /* BTF_KIND_DECL_TAG */
		return 4;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case 18: /* BTF_KIND_TYPE_TAG */
		return 0;
	case BTF_KIND_ARRAY:
		return (long)sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return (long)vlen * (long)sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (long)vlen * (long)sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * (long)sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (long)vlen * (long)sizeof(struct btf_var_secinfo);
	case 19: /* BTF_KIND_ENUM64: name_off, val_lo32, val_hi32 */
		return (long)vlen * 12;
	default:
		return -1;
	}
}

int emu_kstruct_sizes_from_btf(const void *data, size_t sz, struct emu_kstruct_sizes *ks)
{
	static const struct {
		const char *name;
		size_t off;
	} want[] = {
		{ "bpf_prog", offsetof(struct emu_kstruct_sizes, prog) },
		{ "bpf_array", offsetof(struct emu_kstruct_sizes, array) },
		{ "bpf_htab", offsetof(struct emu_kstruct_sizes, htab) },
		{ "bucket", offsetof(struct emu_kstruct_sizes, htab_bucket) },
		{ "htab_elem", offsetof(struct emu_kstruct_sizes, htab_elem) },
		{ "bpf_ringbuf_map", offsetof(struct emu_kstruct_sizes, ringbuf_map) },
	};
	const uint8_t *b = data;
	struct btf_header h;
	size_t t, t_end, s, s_end;
	int found = 0;

	if (sz < sizeof(h))
		return -EINVAL;
	memcpy(&h, b, sizeof(h));
	if (h.magic != BTF_MAGIC || h.hdr_len < sizeof(h) || h.hdr_len > sz)
		return -EINVAL;
	t = (size_t)h.hdr_len + h.type_off;
	t_end = t + h.type_len;
	s = (size_t)h.hdr_len + h.str_off;
	s_end = s + h.str_len;
	if (t_end < t || t_end > sz || s_end < s || s_end > sz)
		return -EINVAL;
	while (t + sizeof(struct btf_type) <= t_end) {
		struct btf_type bt;
		uint32_t kind, vlen;
		long extra;

		memcpy(&bt, b + t, sizeof(bt));
		kind = BTF_INFO_KIND(bt.info);
		vlen = BTF_INFO_VLEN(bt.info);
		extra = kind_extra(kind, vlen);
		if (extra < 0)
			break;
		if (kind == BTF_KIND_STRUCT && bt.name_off < h.str_len) {
			const char *name = (const char *)b + s + bt.name_off;
			size_t max = h.str_len - bt.name_off;

			for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
				if (strnlen(name, max) < max && !strcmp(name, want[i].name)) {
					memcpy((uint8_t *)ks + want[i].off, &bt.size, sizeof(uint32_t));
					found++;
				}
		}
		t += sizeof(struct btf_type) + (size_t)extra;
	}
	return found;
}
