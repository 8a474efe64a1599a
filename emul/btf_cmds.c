/*
 * btf_cmds.c - BPF_BTF_LOAD and the kernel's own BTF (kernel/bpf/btf.c).
 *
 * BTF_LOAD stores the blob in <session>/obj/btf-<id> after checking its
 * header and section bounds the way btf_parse_hdr() does; the type section
 * itself is not parsed yet (DIVERGES: the kernel validates every type; we
 * accept any type data, which is what a capable kernel does for the valid
 * blobs libbpf's feature probes send).
 *
 * The kernel's vmlinux BTF is BTF id 1 named "vmlinux", as on the kernel:
 * bpftrace finds it only through BTF_GET_NEXT_ID/BTF_GET_FD_BY_ID. Its fd is
 * /sys/kernel/btf/vmlinux itself (world-readable), registered once per
 * session when the registry is created.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"

#define BTF_MAGIC 0xeB9F
#define BTF_MAX_SIZE (16 * 1024 * 1024)
#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"

struct btf_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t flags;
	uint32_t hdr_len;
	uint32_t type_off;
	uint32_t type_len;
	uint32_t str_off;
	uint32_t str_len;
};

int emu_btf_init_vmlinux(struct emu_session *s)
{
	struct emu_reg_slot *slot;
	struct emu_obj *o;
	struct stat st;
	int fd, err;

	fd = open(VMLINUX_BTF, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = emu_obj_adopt(s, EMU_REG_BTF, fd, "vmlinux", 0, &o);
	if (err) {
		close(fd);
		return err;
	}
	slot = o->slot;
	/* The first BTF of a fresh registry: id 1, as the kernel numbers vmlinux. */
	slot->u.btf.kernel_btf = 1;
	slot->u.btf.data_sz = (uint32_t)st.st_size;
	emu_reg_publish(s, slot);
	return 0;
}

int emu_btf_vmlinux(struct emu_session *s, struct emu_obj **out)
{
	return emu_obj_by_id(s, EMU_REG_BTF, 1, out);
}

static int btf_log(const struct emu_target *t, const union bpf_attr *a, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int btf_log(const struct emu_target *t, const union bpf_attr *a, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	size_t n;

	if (!a->btf_log_level || !a->btf_log_buf || !a->btf_log_size)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = MIN(strlen(msg), (size_t)a->btf_log_size - 1);
	msg[n] = 0;
	return t->ops->write(t, a->btf_log_buf, msg, n + 1);
}

int emu_btf_load(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, struct emu_reply *r)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct btf_hdr h;
	struct emu_obj *o;
	uint64_t end;
	int err;

	/* bpf_verifier_log_attr_valid() for the BTF log. */
	if (!!a->btf_log_buf != !!a->btf_log_size || (a->btf_log_buf && !a->btf_log_level) ||
	    (a->btf_log_level & ~0xfu) || a->btf_log_size > (UINT32_MAX >> 2))
		return -EINVAL;
	if (a->btf_size > BTF_MAX_SIZE)
		return -E2BIG;
	if (a->btf_size < sizeof(h)) {
		btf_log(t, a, "btf_header not found\n");
		return -EINVAL;
	}
	data = malloc(a->btf_size);
	if (!data)
		return -ENOMEM;
	err = t->ops->read(t, a->btf, data, a->btf_size);
	if (err)
		return err == -ENOENT ? err : -EFAULT;
	memcpy(&h, data, sizeof(h));
	/* btf_parse_hdr() */
	if (h.magic != BTF_MAGIC) {
		btf_log(t, a, "Invalid magic\n");
		return -EINVAL;
	}
	if (h.version != 1) {
		btf_log(t, a, "Unsupported version\n");
		return -524; /* ENOTSUPP: the kernel-internal errno btf_parse_hdr() leaks to users */
	}
	if (h.flags) {
		btf_log(t, a, "Unsupported flags\n");
		return -EINVAL;
	}
	if (h.hdr_len < sizeof(h) || h.hdr_len > a->btf_size) {
		btf_log(t, a, "Unsupported btf_header\n");
		return -EINVAL;
	}
	for (uint32_t i = sizeof(h); i < h.hdr_len; i++)
		if (data[i]) {
			btf_log(t, a, "Unsupported btf_header\n");
			return -E2BIG;
		}
	if (h.type_off % 4) {
		btf_log(t, a, "Unaligned type_off\n");
		return -EINVAL;
	}
	end = (uint64_t)h.hdr_len + h.str_off + h.str_len;
	if ((uint64_t)h.hdr_len + h.type_off + h.type_len > a->btf_size || end > a->btf_size) {
		btf_log(t, a, "Total section length too long\n");
		return -EINVAL;
	}
	if (h.type_off + h.type_len > h.str_off && h.type_len && h.str_off >= h.type_off) {
		btf_log(t, a, "Section overlap found\n");
		return -EINVAL;
	}
	if (!h.str_len || data[h.hdr_len + h.str_off] != 0 || data[end - 1] != 0) {
		btf_log(t, a, "Invalid string section\n");
		return -EINVAL;
	}
	err = emu_obj_new(s, EMU_REG_BTF, NULL, 0, data, a->btf_size, 0, &o);
	if (err)
		return err;
	o->slot->u.btf.data_sz = a->btf_size;
	emu_reg_publish(s, o->slot);
	return emu_obj_reply_fd(s, o, true, r);
}
