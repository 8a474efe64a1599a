/*
 * info.c - BPF_OBJ_GET_INFO_BY_FD (kernel/bpf/syscall.c,
 * bpf_prog_get_info_by_fd(), bpf_map_get_info_by_fd(),
 * bpf_btf_get_info_by_fd(), bpf_link_get_info_by_fd()).
 *
 * The kernel's rules, which clients rely on (bpftool asks prog info with
 * len 232, map 88, btf 32; libbpf asks twice, sizes then buffers):
 *   - info_len larger than our struct: the extra bytes must be zero (E2BIG);
 *   - info_len is clamped to our struct and written back to the attr;
 *   - array fields (xlated insns, map ids, BTF data) report the full count
 *     and copy min(user count, full count) entries.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/compat.h"
#include "common/log.h"
#include "common/utils.h"
#include "emul/fdinfo_text.h"

/* pread() until @n bytes: sysfs files (the kernel's BTF) return short reads. */
static int pread_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Copy in the user's info struct (bpf_check_uarg_tail_zero() + copy_from_user()). */
static int info_in(const struct emu_target *t, uint64_t uinfo, uint32_t ulen, void *info, size_t info_sz,
		   uint32_t *len)
{
	uint8_t buf[EMU_PAGE_SZ];
	int err;

	if (ulen > EMU_PAGE_SZ)
		return -E2BIG;
	err = t->ops->read(t, uinfo, buf, ulen);
	if (err)
		return err == -ENOENT ? err : -EFAULT;
	for (size_t i = info_sz; i < ulen; i++)
		if (buf[i])
			return -E2BIG;
	*len = (uint32_t)MIN((size_t)ulen, info_sz);
	memset(info, 0, info_sz);
	memcpy(info, buf, *len);
	return 0;
}

static int info_out(const struct emu_target *t, uint64_t uattr, uint64_t uinfo, const void *info, uint32_t len)
{
	int err = t->ops->write(t, uinfo, info, len);

	if (err)
		return err == -ENOENT ? err : -EFAULT;
	err = t->ops->write(t, uattr + offsetof(union bpf_attr, info.info_len), &len, sizeof(len));
	return err == -ENOENT ? err : (err ? -EFAULT : 0);
}

static int prog_info(struct emu_session *s, const struct emu_target *t, struct emu_obj *o, uint64_t uattr,
		     uint64_t uinfo, uint32_t ulen)
{
	struct emu_reg_prog *rp = &o->slot->u.prog;
	struct bpf_prog_info info;
	uint32_t len, n;
	int err;

	err = info_in(t, uinfo, ulen, &info, sizeof(info), &len);
	if (err)
		return err;
	{
		uint32_t ulen_insns = info.xlated_prog_len, ulen_maps = info.nr_map_ids;
		uint64_t uinsns = info.xlated_prog_insns, umaps = info.map_ids;
		struct bpf_prog_info in = info;

		memset(&info, 0, sizeof(info));
		info.type = o->slot->type;
		info.id = o->id;
		memcpy(info.tag, rp->tag, sizeof(info.tag));
		memcpy(info.name, o->slot->name, sizeof(info.name));
		info.load_time = rp->load_time_ns;
		info.created_by_uid = rp->uid;
		info.gpl_compatible = rp->gpl ? 1 : 0;
		info.btf_id = rp->btf_id;
		/* One source with /proc/self/fdinfo's verified_insns (emul/fdinfo_text.c). */
		info.verified_insns = emu_prog_verified_insns(rp);
		info.nr_map_ids = rp->map_cnt;
		info.map_ids = umaps;
		if (ulen_maps && umaps) {
			n = MIN(ulen_maps, rp->map_cnt);
			err = t->ops->write(t, umaps, rp->map_ids, n * sizeof(uint32_t));
			if (err)
				return -EFAULT;
		}
		/* xlated: the instructions as stored (map refs hold map ids, which is what the kernel
		 * shows after bpf_insn_prepare_dump() too). Not jited: jited_prog_len stays 0. */
		info.xlated_prog_len = rp->insn_cnt * (uint32_t)sizeof(struct bpf_insn);
		info.xlated_prog_insns = uinsns;
		if (ulen_insns && uinsns) {
			_cleanup_free_ uint8_t *buf = NULL;

			n = MIN(ulen_insns, info.xlated_prog_len);
			buf = malloc(n);
			if (!buf)
				return -ENOMEM;
			if (pread_full(o->fd, buf, n))
				return -EIO;
			if (t->ops->write(t, uinsns, buf, n))
				return -EFAULT;
		}
		/* bpf_prog_get_info_by_fd(): BTF extension records come in the kernel's sizes. */
		if ((in.nr_func_info || in.func_info_rec_size) && in.func_info_rec_size != sizeof(struct bpf_func_info))
			return -EINVAL;
		if ((in.nr_line_info || in.line_info_rec_size) && in.line_info_rec_size != sizeof(struct bpf_line_info))
			return -EINVAL;
		info.nr_func_info = rp->func_info_cnt;
		info.nr_line_info = rp->line_info_cnt;
		if (o->priv) {
			struct emu_prog_priv *pp = o->priv;

			if (in.nr_func_info && in.func_info && pp->func_info &&
			    t->ops->write(t, in.func_info, pp->func_info,
					  MIN(in.nr_func_info, rp->func_info_cnt) * sizeof(struct bpf_func_info)))
				return -EFAULT;
			if (in.nr_line_info && in.line_info && pp->line_info &&
			    t->ops->write(t, in.line_info, pp->line_info,
					  MIN(in.nr_line_info, rp->line_info_cnt) * sizeof(struct bpf_line_info)))
				return -EFAULT;
		} else {
			/* DIVERGES: another bpftime-run loaded it; its BTF records stay there. */
			info.nr_func_info = 0;
			info.nr_line_info = 0;
		}
		/* Pointers the caller passed come back untouched; counts we do not keep are 0. */
		info.jited_prog_insns = in.jited_prog_insns;
		info.jited_ksyms = in.jited_ksyms;
		info.jited_func_lens = in.jited_func_lens;
		info.func_info = in.func_info;
		info.line_info = in.line_info;
		info.jited_line_info = in.jited_line_info;
		info.prog_tags = in.prog_tags;
		info.func_info_rec_size = sizeof(struct bpf_func_info);
		info.line_info_rec_size = sizeof(struct bpf_line_info);
	}
	return info_out(t, uattr, uinfo, &info, len);
}

static int btf_info(struct emu_session *s, const struct emu_target *t, struct emu_obj *o, uint64_t uattr,
		    uint64_t uinfo, uint32_t ulen)
{
	struct bpf_btf_info info;
	uint32_t len, ubtf_sz, uname_len;
	uint64_t ubtf, uname;
	const char *name = o->slot->u.btf.kernel_btf ? "vmlinux" : "";
	int err;

	err = info_in(t, uinfo, ulen, &info, sizeof(info), &len);
	if (err)
		return err;
	ubtf = info.btf;
	ubtf_sz = info.btf_size;
	uname = info.name;
	uname_len = info.name_len;
	info.id = o->id;
	info.btf_size = o->slot->u.btf.data_sz;
	info.kernel_btf = o->slot->u.btf.kernel_btf;
	if (ubtf && ubtf_sz) {
		_cleanup_free_ uint8_t *buf = NULL;
		uint32_t n = MIN(ubtf_sz, info.btf_size);

		/* btf_get_info_by_fd(): copy what fits and report the full size; libbpf then
		 * retries with a bigger buffer. */
		buf = malloc(n);
		if (!buf)
			return -ENOMEM;
		if (pread_full(o->fd, buf, n))
			return -EIO;
		if (t->ops->write(t, ubtf, buf, n))
			return -EFAULT;
	}
	info.name_len = (uint32_t)strlen(name);
	if (uname && uname_len) {
		if (uname_len < info.name_len + 1) {
			/* Too short: as much as fits, NUL-terminated, and ENOSPC after the info is out. */
			if (t->ops->write(t, uname, name, uname_len - 1) || t->ops->write(t, uname + uname_len - 1, "", 1))
				return -EFAULT;
			err = info_out(t, uattr, uinfo, &info, len);
			return err ? err : -ENOSPC;
		}
		if (t->ops->write(t, uname, name, info.name_len + 1))
			return -EFAULT;
	} else if (uname || uname_len) {
		return -EINVAL;
	}
	return info_out(t, uattr, uinfo, &info, len);
}

static int link_info(struct emu_session *s, const struct emu_target *t, struct emu_obj *o, uint64_t uattr,
		     uint64_t uinfo, uint32_t ulen)
{
	/* 6.6+ struct bpf_link_info is 64 bytes (uprobe_multi); 6.1's header has 48. */
	union {
		struct bpf_link_info info;
		uint8_t raw[COMPAT_BPF_LINK_INFO_SZ];
	} u;
	uint32_t len;
	int err;

	_Static_assert(sizeof(struct bpf_link_info) <= COMPAT_BPF_LINK_INFO_SZ, "bpf_link_info");
	err = info_in(t, uinfo, ulen, &u, sizeof(u), &len);
	if (err)
		return err;
	/* bpf_link_get_info_by_fd(): the type-specific part sees what the caller passed in. */
	u.info.type = o->slot->type;
	u.info.id = o->id;
	u.info.prog_id = o->slot->u.link.prog_id;
	if (o->slot->type == BPF_LINK_TYPE_RAW_TRACEPOINT)
		err = emu_raw_tp_link_info(t, o, &u.info);
	else if (o->slot->type == COMPAT_BPF_LINK_TYPE_UPROBE_MULTI)
		err = emu_uprobe_multi_link_info(t, o, u.raw);
	else
		memset(u.raw + offsetof(struct bpf_link_info, raw_tracepoint), 0,
		       sizeof(u) - offsetof(struct bpf_link_info, raw_tracepoint));
	if (err)
		return err; /* the kernel copies nothing out then, ENOSPC included */
	return info_out(t, uattr, uinfo, &u, len);
}

static int map_info(struct emu_session *s, const struct emu_target *t, struct emu_obj *o, uint64_t uattr,
		    uint64_t uinfo, uint32_t ulen)
{
	struct emu_reg_map *m = &o->slot->u.map;
	struct bpf_map_info info;
	uint32_t len;
	int err;

	err = info_in(t, uinfo, ulen, &info, sizeof(info), &len);
	if (err)
		return err;
	memset(&info, 0, sizeof(info));
	info.type = o->slot->type;
	info.id = o->id;
	info.key_size = m->key_size;
	info.value_size = m->value_size;
	info.max_entries = m->max_entries;
	info.map_flags = m->map_flags;
	memcpy(info.name, o->slot->name, sizeof(info.name));
	info.btf_id = m->btf_id;
	info.btf_key_type_id = m->btf_key_type_id;
	info.btf_value_type_id = m->btf_value_type_id;
	info.map_extra = m->map_extra;
	return info_out(t, uattr, uinfo, &info, len);
}

int emu_info_by_fd(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, uint64_t uattr,
		   struct emu_reply *r)
{
	struct emu_obj *o;
	int err;

	err = emu_fd_lookup(s, t, (int)a->info.bpf_fd, 0, &o);
	if (err)
		return err;
	switch (o->kind) {
	case EMU_REG_PROG:
		return prog_info(s, t, o, uattr, a->info.info, a->info.info_len);
	case EMU_REG_MAP:
		return map_info(s, t, o, uattr, a->info.info, a->info.info_len);
	case EMU_REG_BTF:
		return btf_info(s, t, o, uattr, a->info.info, a->info.info_len);
	case EMU_REG_LINK:
		return link_info(s, t, o, uattr, a->info.info, a->info.info_len);
	default:
		return -EINVAL; /* a perf event fd is not a bpf object */
	}
}
