/*
 * uprobe_multi.c - LINK_CREATE with BPF_TRACE_UPROBE_MULTI (Linux 6.6) and
 * the link it makes (kernel/trace/bpf_trace.c:
 * bpf_uprobe_multi_link_attach(), bpf_uprobe_multi_link_fill_link_info();
 * kernel/events/uprobes.c: uprobe_register()).
 *
 * One link, many uprobes on one file: the kernel registers a consumer per
 * offset; we write the list (path, offsets, ref_ctr offsets, cookies, flags,
 * pid: struct emu_reg_umulti in emul/registry_layout.h) into the link's
 * backing file before publishing it, and every agent whose process maps the
 * file patches each offset with the same engine as perf-event uprobes
 * (hooks/attach.c). The link holds the program; its last close releases it
 * (lifetime.c -> emu_link_detach()).
 *
 * Checks in the kernel's order: bpf_prog_attach_check_attach_type() in
 * link_cmds.c (a KPROBE program; one loaded for uprobe_multi attaches no
 * other way); then here: link_create.flags (EINVAL; target_fd is ignored), the
 * program's expected_attach_type (EINVAL), flags other than
 * BPF_F_UPROBE_MULTI_RETURN (EINVAL), a missing path, offsets or cnt, or a
 * negative pid (EINVAL), cnt above 1<<20 (E2BIG), the path
 * (strndup_user(): EFAULT; kern_path(): ENOENT, ENOTDIR, EACCES ...; not a
 * regular file: EBADF), the pid (no such process: ESRCH), then per offset
 * the offset (EFAULT; negative: EINVAL), its ref_ctr offset and cookie
 * (EFAULT); last, uprobe_register()'s own checks: an offset past the end of
 * the file or an odd ref_ctr offset is EINVAL.
 *
 * DIVERGES: a path longer than EMU_REG_PATH_MAX - 1 bytes after resolution
 * is ENAMETOOLONG (the kernel takes PATH_MAX). The path is resolved by us in
 * the caller's root and cwd (/proc/<tid>/root, /proc/<tid>/cwd) with our
 * own credentials, which are the caller's (same user).
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/compat.h"
#include "common/log.h"
#include "common/utils.h"

/* strndup_user(upath, PATH_MAX): EFAULT on a fault, EINVAL when no NUL within PATH_MAX. */
static int path_copy_in(const struct emu_target *t, uint64_t upath, char *buf, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		int err = t->ops->read(t, upath + i, &buf[i], 1);

		if (err)
			return err == -ENOENT ? err : -EFAULT;
		if (!buf[i])
			return 0;
	}
	return -EINVAL;
}

/*
 * kern_path(name, LOOKUP_FOLLOW) as the caller would see it: resolve @name
 * under the caller's root (and cwd when relative) into @out, the path as the
 * caller names it with symlinks resolved (what d_path() reports later).
 */
static int path_resolve(const struct emu_target *t, const char *name, char *out, size_t out_sz, struct stat *st)
{
	char via[PATH_MAX + 64], root[PATH_MAX], real[PATH_MAX];
	size_t root_len;
	ssize_t n;

	if (!*name)
		return -ENOENT;
	snprintf(via, sizeof(via), "/proc/%d/root", (int)t->tid);
	n = readlink(via, root, sizeof(root) - 1);
	if (n <= 0)
		return -ENOENT;
	root[n] = 0;
	root_len = strcmp(root, "/") ? (size_t)n : 0;
	if (name[0] == '/')
		snprintf(via, sizeof(via), "/proc/%d/root%s", (int)t->tid, name);
	else
		snprintf(via, sizeof(via), "/proc/%d/cwd/%s", (int)t->tid, name);
	if (!realpath(via, real))
		return -errno;
	if (stat(real, st) < 0)
		return -errno;
	/* realpath() went through the magic root link: strip the caller's root again. */
	if (root_len && (strncmp(real, root, root_len) || (real[root_len] && real[root_len] != '/')))
		return -ENOENT;
	if ((size_t)snprintf(out, out_sz, "%s", real[root_len] ? real + root_len : "/") >= out_sz) {
		log_warn("LINK_CREATE uprobe_multi: path longer than %zu bytes is not supported by bpftime\n",
			 out_sz - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* find_vpid(pid) with PIDTYPE_TGID: a process, not a thread of one. */
static bool tgid_exists(int32_t pid)
{
	char path[64], line[256];
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Tgid:", 5)) {
			ok = atoi(line + 5) == pid;
			break;
		}
	fclose(f);
	return ok;
}

#define U64_CHUNK 512 /* array elements read from the target per call */

/*
 * Elements [i, i + n) of the caller's u64 array @uarr into @out: one read
 * per chunk; when a chunk faults, element by element, so *@ok says how many
 * came in before the first fault (the kernel's __get_user() loop stops
 * there). Returns -ENOENT if the target is gone, else 0.
 */
static int u64s_in(const struct emu_target *t, uint64_t uarr, uint32_t i, uint32_t n, uint64_t *out, uint32_t *ok)
{
	int err = t->ops->read(t, uarr + (uint64_t)i * 8, out, (size_t)n * 8);

	*ok = n;
	if (!err)
		return 0;
	if (err == -ENOENT)
		return err;
	for (uint32_t k = 0; k < n; k++) {
		err = t->ops->read(t, uarr + (uint64_t)(i + k) * 8, &out[k], 8);
		if (err == -ENOENT)
			return err;
		if (err) {
			*ok = k;
			return 0;
		}
	}
	return 0;
}

/* Copy in the three arrays with the kernel's per-element order of checks. */
static int arrays_in(const struct emu_target *t, const struct compat_uprobe_multi_attr *um, uint64_t *offs,
		     uint64_t *refs, uint64_t *cookies)
{
	for (uint32_t i = 0; i < um->cnt; i += U64_CHUNK) {
		uint32_t n = MIN(U64_CHUNK, um->cnt - i), ok_off, ok_ref = n, ok_ck = n;
		int err;

		err = u64s_in(t, um->offsets, i, n, offs + i, &ok_off);
		if (!err && um->ref_ctr_offsets)
			err = u64s_in(t, um->ref_ctr_offsets, i, n, refs + i, &ok_ref);
		if (!err && um->cookies)
			err = u64s_in(t, um->cookies, i, n, cookies + i, &ok_ck);
		if (err)
			return err;
		for (uint32_t k = 0; k < n; k++) {
			if (k >= ok_off)
				return -EFAULT;
			if ((int64_t)offs[i + k] < 0)
				return -EINVAL;
			if (k >= ok_ref || k >= ok_ck)
				return -EFAULT;
		}
	}
	return 0;
}

int emu_uprobe_multi_attach(struct emu_session *s, const struct emu_target *t, union bpf_attr *a,
			    struct emu_obj *prog, struct emu_reply *r)
{
	struct compat_uprobe_multi_attr um;
	_cleanup_free_ uint8_t *file = NULL;
	struct emu_reg_umulti *h;
	uint64_t *offs, *refs, *cookies;
	char name[PATH_MAX];
	struct emu_obj *link;
	struct stat st;
	size_t file_sz;
	int err;

	memcpy(&um, (const char *)a + 16, sizeof(um));
	/* target_fd is not looked at (6.18 still ignores it), flags must be 0. */
	if (a->link_create.flags)
		return -EINVAL;
	if (prog->slot->u.prog.expected_attach_type != COMPAT_BPF_TRACE_UPROBE_MULTI) {
		log_info("LINK_CREATE uprobe_multi: the program was not loaded with expected_attach_type "
			 "BPF_TRACE_UPROBE_MULTI (EINVAL)\n");
		return -EINVAL;
	}
	if (um.flags & ~COMPAT_BPF_F_UPROBE_MULTI_RETURN)
		return -EINVAL;
	if (!um.path || !um.offsets || !um.cnt || (int32_t)um.pid < 0)
		return -EINVAL;
	if (um.cnt > COMPAT_UPROBE_MULTI_CNT_MAX)
		return -E2BIG;
	err = path_copy_in(t, um.path, name, sizeof(name));
	if (err)
		return err;
	file_sz = sizeof(*h) + 3 * (size_t)um.cnt * sizeof(uint64_t);
	file = calloc(1, file_sz);
	if (!file)
		return -ENOMEM;
	h = (struct emu_reg_umulti *)file;
	err = path_resolve(t, name, h->path, sizeof(h->path), &st);
	if (err)
		return err;
	if (!S_ISREG(st.st_mode))
		return -EBADF; /* !d_is_reg() */
	if (um.pid && !tgid_exists((int32_t)um.pid))
		return -ESRCH;
	offs = (uint64_t *)(h + 1);
	refs = offs + um.cnt;
	cookies = refs + um.cnt;
	err = arrays_in(t, &um, offs, refs, cookies);
	if (err)
		return err;
	/* uprobe_register(): "racy, just to catch the obvious mistakes". */
	for (uint32_t i = 0; i < um.cnt; i++)
		if (offs[i] > (uint64_t)st.st_size || (refs[i] & 1))
			return -EINVAL;
	h->magic = EMU_REG_UMULTI_MAGIC;
	h->cnt = um.cnt;
	h->flags = um.flags;
	h->pid = (int32_t)um.pid;
	err = emu_obj_new(s, EMU_REG_LINK, NULL, COMPAT_BPF_LINK_TYPE_UPROBE_MULTI, file, file_sz, 0, &link);
	if (err)
		return err;
	emu_obj_get(prog); /* the link's reference */
	link->slot->u.link.prog_id = prog->id;
	link->slot->u.link.attach_type = COMPAT_BPF_TRACE_UPROBE_MULTI;
	emu_reg_publish(s, link->slot);
	/* Answer once every agent has patched what applies to it (agent_wait.c). */
	emu_agents_wait(s);
	log_debug("LINK_CREATE uprobe_multi %s: %u offsets, link %u, prog %u\n", h->path, um.cnt, link->id,
		  prog->id);
	return emu_obj_reply_fd(s, link, true, r);
}

int emu_uprobe_multi_link_info(const struct emu_target *t, const struct emu_obj *link, void *info_buf)
{
	struct compat_uprobe_multi_info *in = (struct compat_uprobe_multi_info *)((char *)info_buf + 16);
	struct emu_reg_umulti h;
	uint32_t ucount = in->count, path_len;
	int err = 0;

	/* bpf_uprobe_multi_link_fill_link_info() */
	if (!in->path != !in->path_size)
		return -EINVAL;
	if ((in->offsets || in->ref_ctr_offsets || in->cookies) && !ucount)
		return -EINVAL;
	if (pread(link->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != EMU_REG_UMULTI_MAGIC)
		return -EIO;
	h.path[sizeof(h.path) - 1] = 0;
	in->count = h.cnt;
	in->flags = h.flags;
	/* task_pid_nr_ns() of the task the link holds: 0 once that process is gone. */
	in->pid = h.pid && tgid_exists(h.pid) ? (uint32_t)h.pid : 0;
	/* d_path() into min(path_size, PATH_MAX) bytes: ENAMETOOLONG when it does not fit. */
	path_len = (uint32_t)strlen(h.path) + 1;
	if (in->path) {
		if (path_len > MIN(in->path_size, (uint32_t)PATH_MAX))
			return -ENAMETOOLONG;
		if (t->ops->write(t, in->path, h.path, path_len))
			return -EFAULT;
	}
	in->path_size = path_len;
	if (!in->offsets && !in->cookies && !in->ref_ctr_offsets)
		return 0;
	if (ucount < h.cnt)
		err = -ENOSPC;
	else
		ucount = h.cnt;
	for (uint32_t i = 0; i < ucount; i++) {
		uint64_t v[3];

		for (int k = 0; k < 3; k++) {
			off_t at = (off_t)(sizeof(h) + ((size_t)k * h.cnt + i) * sizeof(uint64_t));

			if (pread(link->fd, &v[k], sizeof(v[k]), at) != (ssize_t)sizeof(v[k]))
				return -EIO;
		}
		if (in->offsets && t->ops->write(t, in->offsets + (uint64_t)i * 8, &v[0], 8))
			return -EFAULT;
		if (in->ref_ctr_offsets && t->ops->write(t, in->ref_ctr_offsets + (uint64_t)i * 8, &v[1], 8))
			return -EFAULT;
		if (in->cookies && t->ops->write(t, in->cookies + (uint64_t)i * 8, &v[2], 8))
			return -EFAULT;
	}
	return err;
}
