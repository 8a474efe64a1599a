/*
 * prog_cmds.c - BPF_PROG_LOAD and BPF_PROG_BIND_MAP (kernel/bpf/syscall.c,
 * bpf_prog_load(); log rules from kernel/bpf/log.c).
 *
 * A loaded program is kept for two readers: the in-process agent, which
 * finds its instructions in <session>/obj/bpf-prog-<id> (map fds rewritten to
 * map ids, see registry_layout.h), and PROG_TEST_RUN (test_run.c).
 *
 * What PROG_LOAD checks today (insn_check.c): the instruction encoding
 * (opcode, registers, ld_imm64 pairing, jump targets inside the program,
 * the last instruction), map references, helper ids. It does NOT verify
 * memory safety: the PREVAIL-style verifier is a later issue. The log says
 * so whenever a log is requested; we never claim more.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "emul/helpers_sup.h"
#include "emul/insn_check.h"
#include "emul/skb.h"
#include "jit/jit.h"
#include "maps/helpers.h"
#include "maps/maps.h"
#include "maps/maps_ext.h"

#define EMU_INSN_MAX 1000000u /* BPF_COMPLEXITY_LIMIT_INSNS */
#define EMU_LOG_MASK 0xfu     /* BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_STATS | BPF_LOG_FIXED */

static bool prog_type_known(uint32_t t)
{
	return t > BPF_PROG_TYPE_UNSPEC && t <= BPF_PROG_TYPE_SYSCALL;
}

static bool license_is_gpl(const char *l)
{
	/* include/linux/license.h, license_is_gpl_compatible(). */
	static const char *const ok[] = { "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
					  "Dual MIT/GPL", "Dual MPL/GPL" };

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (!strcmp(l, ok[i]))
			return true;
	return false;
}

/* The user's verifier log, with kernel/bpf/log.c's rules. */
struct vlog {
	const struct emu_target *t;
	uint64_t ubuf;
	uint32_t size;
	uint32_t level;
	char text[1024];
	size_t len;
};

static int vlog_init(struct vlog *l, const struct emu_target *t, const union bpf_attr *a)
{
	l->t = t;
	l->ubuf = a->log_buf;
	l->size = a->log_size;
	l->level = a->log_level;
	l->len = 0;
	/* bpf_verifier_log_attr_valid(): buffer and size together, a level with a buffer, known bits. */
	if (!!l->ubuf != !!l->size)
		return -EINVAL;
	if (l->ubuf && l->level == 0)
		return -EINVAL;
	if (l->level & ~EMU_LOG_MASK)
		return -EINVAL;
	if (l->size > (UINT32_MAX >> 2))
		return -EINVAL;
	return 0;
}

static void vlog_add(struct vlog *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vlog_add(struct vlog *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!l->level || l->len >= sizeof(l->text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->text + l->len, sizeof(l->text) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len = MIN(l->len + (size_t)n, sizeof(l->text) - 1);
}

/* Copy the log out. Returns 0, -EFAULT, or -ENOSPC when it was truncated (kernel: bpf_vlog_finalize). */
static int vlog_finish(struct vlog *l)
{
	size_t n;

	if (!l->level || !l->ubuf)
		return 0;
	n = MIN(l->len, (size_t)l->size - 1);
	if (l->t->ops->write(l->t, l->ubuf, l->text, n) || l->t->ops->write(l->t, l->ubuf + n, "", 1))
		return -EFAULT;
	return n < l->len ? -ENOSPC : 0;
}

static int insn_err_log(void *cookie, const char *msg)
{
	vlog_add(cookie, "%s\n", msg);
	return 0;
}

struct resolve_ctx {
	struct emu_session *s;
	const struct emu_target *t;
	struct emu_reg_prog *rp;
};

/* Turn the loader's map fd into a map id, and remember the map (resolve_pseudo_ldimm64()). */
static int resolve_map(void *cookie, int32_t fd, uint32_t *map_id)
{
	struct resolve_ctx *c = cookie;
	struct emu_obj *m;
	int err;

	err = emu_fd_lookup(c->s, c->t, fd, EMU_REG_MAP, &m);
	if (err)
		return err;
	*map_id = m->id;
	for (uint32_t i = 0; i < c->rp->map_cnt; i++)
		if (c->rp->map_ids[i] == m->id)
			return 0;
	if (c->rp->map_cnt >= ARRAY_SIZE(c->rp->map_ids))
		return -E2BIG; /* kernel: MAX_USED_MAPS is 64 */
	c->rp->map_ids[c->rp->map_cnt++] = m->id;
	return 0;
}

/*
 * ld_imm64 pseudo forms for the supervisor's own copy of the program (the
 * one PROG_TEST_RUN runs): the stored instructions hold map ids.
 */
static int sup_resolve_ld_imm64(void *cookie, const struct bpf_insn insn[2], uint64_t *value)
{
	struct emu_session *s = cookie; /* lives as long as every program it loads */
	struct emu_obj *m;
	int err;

	if (insn[0].src_reg != BPF_PSEUDO_MAP_FD && insn[0].src_reg != BPF_PSEUDO_MAP_VALUE)
		return -EINVAL;
	err = emu_obj_by_id(s, EMU_REG_MAP, (uint32_t)insn[0].imm, &m);
	if (err)
		return -EBADF;
	return emu_map_ld_imm64(s, m, insn, value);
}

/*
 * bpf_tail_call() in programs run here (PROG_TEST_RUN): the slot holds a
 * program id (emul/map_cmds.c), the program is one this bpftime-run loaded.
 * Index past max_entries: -E2BIG, which does not count toward the limit of
 * 33; an empty slot: -ENOENT, which does (___bpf_prog_run() in
 * kernel/bpf/core.c).
 * DIVERGES: a program another bpftime-run of the session loaded is not
 * runnable here, and its slot reads as empty.
 */
static int sup_tail_call(void *cookie, uint64_t prog_array, uint32_t index, const struct jit_prog **next)
{
	struct emu_session *s = cookie;
	struct map *m = (struct map *)(uintptr_t)prog_array;
	struct emu_prog_priv *pp;
	struct emu_obj *o;
	uint32_t id;

	if (!m || map_type(m) != BPF_MAP_TYPE_PROG_ARRAY)
		return -EINVAL;
	if (index >= map_max_entries(m))
		return -E2BIG;
	if (map_prog_array_get(m, index, &id) || emu_obj_by_id(s, EMU_REG_PROG, id, &o))
		return -ENOENT;
	pp = o->priv;
	if (!pp || !pp->jp)
		return -ENOENT;
	*next = pp->jp;
	return 0;
}

static struct jit_env sup_jit_env(struct emu_session *s)
{
	struct jit_env jenv = {
		.sz = sizeof(jenv),
		.helpers = emu_helpers_sup(),
		.helper_cnt = EMU_HELPER_MAX,
		.resolve_ld_imm64 = sup_resolve_ld_imm64,
		.tail_call = sup_tail_call,
		.cookie = s,
		/* Array lookups inline, as the kernel's map_gen_lookup. */
		.inline_lookup = map_jit_inline_lookup,
		/* LD_ABS/LD_IND: emu_insn_check() admitted them only for skb program types. */
		.packet_pointer = emu_skb_packet_pointer,
	};

	return jenv;
}

static void prog_priv_free(void *p)
{
	struct emu_prog_priv *pp = p;

	if (!pp)
		return;
	jit_prog_free(pp->jp);
	free(pp->func_info);
	free(pp->line_info);
	free(pp);
}

/*
 * func_info / line_info (kernel/bpf/verifier.c, check_btf_func() and
 * check_btf_line()): records of the caller's size, at least the kernel's,
 * a multiple of 4 and at most 252 bytes; we keep the kernel-sized prefix of
 * each, which is what OBJ_GET_INFO_BY_FD returns (bpftool's dump xlated
 * names functions and source lines from them).
 */
static int copy_btf_ext(const struct emu_target *t, uint64_t uptr, uint32_t cnt, uint32_t urec, uint32_t krec,
			void **out)
{
	uint8_t *recs, *tmp;

	if (!cnt)
		return 0;
	if (urec < krec || urec > 252 || urec % 4)
		return -EINVAL;
	if ((uint64_t)cnt * urec > (64u << 20))
		return -E2BIG;
	tmp = malloc((size_t)cnt * urec);
	recs = malloc((size_t)cnt * krec);
	if (!tmp || !recs) {
		free(tmp);
		free(recs);
		return -ENOMEM;
	}
	if (t->ops->read(t, uptr, tmp, (size_t)cnt * urec)) {
		free(tmp);
		free(recs);
		return -EFAULT;
	}
	for (uint32_t i = 0; i < cnt; i++)
		memcpy(recs + (size_t)i * krec, tmp + (size_t)i * urec, krec);
	free(tmp);
	*out = recs;
	return 0;
}

int emu_prog_load(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, struct emu_reply *r)
{
	_cleanup_free_ struct bpf_insn *insns = NULL;
	struct emu_reg_prog rp = { 0 };
	struct resolve_ctx rc = { s, t, &rp };
	struct insn_check_env env = { 0 };
	char name[16], license[128];
	struct vlog log;
	struct jit_prog *jp = NULL;
	void *finfo = NULL, *linfo = NULL;
	struct emu_prog_priv *pp;
	struct emu_obj *o;
	int err, lerr;

	err = vlog_init(&log, t, a);
	if (err)
		return err;
	if (a->prog_flags & ~(BPF_F_STRICT_ALIGNMENT | BPF_F_ANY_ALIGNMENT | BPF_F_TEST_STATE_FREQ |
			      BPF_F_SLEEPABLE | BPF_F_TEST_RND_HI32 | BPF_F_XDP_HAS_FRAGS))
		return -EINVAL;
	/* bpf_prog_load(): an empty program is "too big" too, and this comes before the type. */
	if (a->insn_cnt == 0 || a->insn_cnt > EMU_INSN_MAX)
		return -E2BIG;
	if (!prog_type_known(a->prog_type))
		return -EINVAL;
	err = emu_copy_name(name, a->prog_name);
	if (err)
		return err;
	memset(license, 0, sizeof(license));
	if (a->license) {
		/* strncpy_from_user(): a fault is EFAULT; an unterminated string is cut. */
		for (size_t i = 0; i < sizeof(license) - 1; i++) {
			err = t->ops->read(t, a->license + i, &license[i], 1);
			if (err)
				return err == -ENOENT ? err : -EFAULT;
			if (!license[i])
				break;
		}
	}
	if (a->prog_type == BPF_PROG_TYPE_TRACING || a->prog_type == BPF_PROG_TYPE_LSM ||
	    a->prog_type == BPF_PROG_TYPE_EXT || a->prog_type == BPF_PROG_TYPE_STRUCT_OPS) {
		/* DIVERGES: these attach to kernel functions; bpftime has none. This kernel
		 * (lockdown) answers EPERM too, which bcc reports as missing privilege. */
		log_info("PROG_LOAD: program type %u (kernel-function attach) is not supported by bpftime\n",
			 a->prog_type);
		return -EPERM;
	}
	insns = malloc((size_t)a->insn_cnt * sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	err = t->ops->read(t, a->insns, insns, (size_t)a->insn_cnt * sizeof(*insns));
	if (err)
		return err == -ENOENT ? err : -EFAULT;

	env.cnt = a->insn_cnt;
	env.prog_type = a->prog_type;
	env.resolve_map = resolve_map;
	env.log = insn_err_log;
	env.cookie = &rc;
	env.log_cookie = &log;
	err = emu_insn_check(insns, &env);
	if (err) {
		lerr = vlog_finish(&log);
		return lerr == -EFAULT ? lerr : err;
	}
	{
		struct jit_env jenv = sup_jit_env(s);
		char jlog[256] = "";

		/* The decoder of jit/ has the last word on what can run. */
		err = jit_prog_load(insns, a->insn_cnt, &jenv, &jp, jlog, sizeof(jlog));
		if (err) {
			vlog_add(&log, "%s\n", jlog);
			log_info("PROG_LOAD refused: %s\n", jlog);
			lerr = vlog_finish(&log);
			if (err == -ENOTSUP)
				err = -EINVAL;
			return lerr == -EFAULT ? lerr : err;
		}
	}
	vlog_add(&log, "bpftime: %u instructions decoded and their map references and helper ids checked; "
		       "full verification is not done yet (no verifier in this build)\n",
		 a->insn_cnt);
	/* print_verification_stats(): clients (bpftrace) read the limit from this line. No
	 * states were explored, and the line says so with zeros. */
	{
		uint32_t processed = 0;

		/* The kernel counts instructions, not slots: an ld_imm64 is one. */
		for (uint32_t i = 0; i < a->insn_cnt; i++, processed++)
			if (insns[i].code == (BPF_LD | BPF_IMM | BPF_DW))
				i++;
		vlog_add(&log, "processed %u insns (limit %u) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n",
			 processed, EMU_INSN_MAX);
	}
	lerr = vlog_finish(&log);
	if (lerr == -EFAULT) {
		jit_prog_free(jp);
		return lerr;
	}

	rp.insn_cnt = a->insn_cnt;
	rp.expected_attach_type = a->expected_attach_type;
	rp.prog_flags = a->prog_flags;
	rp.kern_version = a->kern_version;
	rp.load_time_ns = emu_now_boottime_ns();
	rp.uid = (uint32_t)getuid();
	rp.gpl = license_is_gpl(license);
	rp.func_info_cnt = a->func_info_cnt;
	rp.line_info_cnt = a->line_info_cnt;
	if ((a->func_info_cnt || a->line_info_cnt) && !a->prog_btf_fd) {
		jit_prog_free(jp);
		return -EINVAL;
	}
	err = copy_btf_ext(t, a->func_info, a->func_info_cnt, a->func_info_rec_size, sizeof(struct bpf_func_info),
			   &finfo);
	if (!err)
		err = copy_btf_ext(t, a->line_info, a->line_info_cnt, a->line_info_rec_size,
				   sizeof(struct bpf_line_info), &linfo);
	pp = calloc(1, sizeof(*pp));
	if (err || !pp) {
		jit_prog_free(jp);
		free(finfo);
		free(linfo);
		free(pp);
		return err ? err : -ENOMEM;
	}
	pp->jp = jp;
	pp->func_info = finfo;
	pp->line_info = linfo;
	if (a->prog_btf_fd) {
		struct emu_obj *b;

		err = emu_fd_lookup(s, t, (int)a->prog_btf_fd, EMU_REG_BTF, &b);
		if (err) {
			prog_priv_free(pp);
			return err;
		}
		rp.btf_id = b->id;
		emu_obj_get(b);
	}
	emu_insn_tag(insns, a->insn_cnt, rp.tag);

	err = emu_obj_new(s, EMU_REG_PROG, name, a->prog_type, insns, (size_t)a->insn_cnt * sizeof(*insns), 0, &o);
	if (err) {
		prog_priv_free(pp);
		return err;
	}
	o->priv = pp;
	o->priv_free = prog_priv_free;
	o->slot->u.prog = rp;
	/* The program holds its maps (kernel: used_maps). */
	for (uint32_t i = 0; i < rp.map_cnt; i++) {
		struct emu_obj *m;

		if (!emu_obj_by_id(s, EMU_REG_MAP, rp.map_ids[i], &m))
			emu_obj_get(m);
	}
	emu_reg_publish(s, o->slot);
	log_debug("PROG_LOAD: prog id %u '%s' type %u, %u insns\n", o->id, name, a->prog_type, a->insn_cnt);
	return emu_obj_reply_fd(s, o, true, r);
}

int emu_prog_bind_map(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, struct emu_reply *r)
{
	struct emu_obj *p, *m;
	struct emu_reg_prog *rp;
	int err;

	if (a->prog_bind_map.flags)
		return -EINVAL;
	err = emu_fd_lookup(s, t, (int)a->prog_bind_map.prog_fd, EMU_REG_PROG, &p);
	if (err)
		return err;
	err = emu_fd_lookup(s, t, (int)a->prog_bind_map.map_fd, EMU_REG_MAP, &m);
	if (err)
		return err;
	rp = &p->slot->u.prog;
	for (uint32_t i = 0; i < rp->map_cnt; i++)
		if (rp->map_ids[i] == m->id)
			return 0; /* kernel: already bound is success */
	if (rp->map_cnt >= ARRAY_SIZE(rp->map_ids))
		return -E2BIG;
	rp->map_ids[rp->map_cnt++] = m->id;
	emu_obj_get(m);
	r->val = 0;
	return 0;
}

/*
 * A program another bpftime-run of the session loaded: prepare our own copy
 * from its stored instructions (map references hold map ids), so PROG_TEST_RUN
 * works here too. Its BTF records stay with the loader.
 */
int emu_prog_ensure_loaded(struct emu_session *s, struct emu_obj *o)
{
	struct jit_env jenv = sup_jit_env(s);
	_cleanup_free_ struct bpf_insn *insns = NULL;
	uint32_t cnt = o->slot->u.prog.insn_cnt;
	struct emu_prog_priv *pp;
	char jlog[256] = "";
	size_t sz = (size_t)cnt * sizeof(*insns);
	int err;

	if (o->priv)
		return 0;
	insns = malloc(sz ? sz : 1);
	pp = calloc(1, sizeof(*pp));
	if (!insns || !pp) {
		free(pp);
		return -ENOMEM;
	}
	if (pread(o->fd, insns, sz, 0) != (ssize_t)sz) {
		free(pp);
		return -EIO;
	}
	err = jit_prog_load(insns, cnt, &jenv, &pp->jp, jlog, sizeof(jlog));
	if (err) {
		log_warn("program id %u from another bpftime-run cannot be prepared here: %s\n", o->id, jlog);
		free(pp);
		return err;
	}
	o->priv = pp;
	o->priv_free = prog_priv_free;
	return 0;
}
