/*
 * syscall_scan.c - find the `syscall` instructions of one loaded object and
 * decide which can be rewritten.
 *
 * Finding instruction boundaries in x86 machine code is the hard part: a
 * `0f 05` byte pair may sit inside an immediate or a displacement. We never
 * guess. Candidates come from a byte search of the executable segment; each
 * is accepted only if a linear disassembly (Capstone) that starts at the
 * beginning of the enclosing function lands exactly on it. Function starts
 * come from the object's .eh_frame_hdr binary search table (the
 * PT_GNU_EH_FRAME segment, LSB "Exception Frame" / DWARF 4 §6.4.1 encodings),
 * which every glibc function, assembly ones included, has. A candidate
 * without an unwind entry is left alone.
 *
 * A "pre" site: the instruction right before the syscall is at least 5
 * bytes long (room for `jmp rel32`), falls through, and is position
 * independent: no branch, call or return, and no %rip-relative operand, so
 * it can run unchanged in the trampoline. Replacing exactly one instruction
 * means no branch target can fall inside the rewritten bytes (a target is
 * always an instruction start); a branch to the `syscall` itself still finds
 * the original instruction. The usual glibc shape, `mov $nr,%eax; syscall`,
 * qualifies, and its immediate gives the trampoline a constant number.
 *
 * Otherwise a "post" site: the syscall plus the position-independent
 * instruction after it (>= 3 bytes, so >= 5 together) are displaced. Now a
 * branch to that second instruction would land inside the new jmp, so the
 * whole function is swept and the site is refused if any direct branch or
 * call targets it, or if the function has any indirect jump (a jump table
 * could), or if some of it does not decode. glibc's `xor %eax,%eax;
 * syscall; cmp $-4096,%rax` (read) is the common case.
 *
 * Workload: once per object at install. Only functions that contain a
 * candidate are disassembled, each once and only as far as needed (to the
 * last candidate, or to the end when a "post" site needs the branch
 * check). Debian 12's libc (526 syscalls in 1.4 MB of text) takes about
 * 4 ms of CPU on the 2-core VM, nearly all of it inside Capstone.
 */
#include "config.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/syscall_int.h"

/* DWARF pointer encodings used by .eh_frame_hdr (LSB 5.0, "DWARF Exception Header Encoding"). */
#define DW_EH_PE_omit 0xff
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_datarel 0x30

/* Longest function prefix we disassemble to reach a candidate. */
#define SCAN_MAX_FUNC 65536

struct fde_table {
	const int32_t *ent; /* pairs {initial_location, fde}, relative to hdr, sorted */
	uintptr_t hdr;
	size_t cnt;
};

static int enc_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		return 4;
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		return 8;
	default:
		return -1;
	}
}

static int fde_table_init(struct fde_table *t, const void *eh_frame_hdr)
{
	const uint8_t *h = eh_frame_hdr;
	int ptr_sz, cnt_sz;
	uint64_t cnt = 0;

	if (!h || h[0] != 1 || h[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || h[2] == DW_EH_PE_omit)
		return -ENOENT;
	ptr_sz = enc_size(h[1]);
	cnt_sz = enc_size(h[2]);
	if (ptr_sz < 0 || cnt_sz < 0)
		return -ENOENT;
	memcpy(&cnt, h + 4 + ptr_sz, (size_t)cnt_sz);
	t->hdr = (uintptr_t)h;
	t->ent = (const int32_t *)(h + 4 + ptr_sz + cnt_sz);
	t->cnt = cnt;
	return 0;
}

/* Start of the function containing @addr: the greatest initial_location <= addr;
 * *end gets the next one (or 0 when it is the last). */
static uintptr_t fde_func_start(const struct fde_table *t, uintptr_t addr, uintptr_t *end)
{
	size_t lo = 0, hi = t->cnt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->hdr + (intptr_t)t->ent[2 * mid] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	*end = lo < t->cnt ? t->hdr + (intptr_t)t->ent[2 * lo] : 0;
	return lo ? t->hdr + (intptr_t)t->ent[2 * (lo - 1)] : 0;
}

static bool insn_relocatable(csh detail_h, const uint8_t *code, size_t len, uintptr_t addr)
{
	static const uint8_t bad_groups[] = { CS_GRP_JUMP, CS_GRP_CALL, CS_GRP_RET, CS_GRP_INT,
					      CS_GRP_IRET, CS_GRP_BRANCH_RELATIVE };
	cs_insn *insn = NULL;
	bool ok = false;
	size_t n, i;

	n = cs_disasm(detail_h, code, len, addr, 1, &insn);
	if (n != 1 || insn->size != len)
		goto out;
	for (i = 0; i < sizeof(bad_groups); i++)
		if (cs_insn_group(detail_h, insn, bad_groups[i]))
			goto out;
	for (i = 0; i < insn->detail->x86.op_count; i++) {
		const cs_x86_op *op = &insn->detail->x86.operands[i];

		if (op->type == X86_OP_MEM && (op->mem.base == X86_REG_RIP || op->mem.index == X86_REG_RIP))
			goto out;
		if (op->type == X86_OP_REG && op->reg == X86_REG_RIP)
			goto out;
	}
	ok = true;
out:
	if (insn)
		cs_free(insn, n);
	return ok;
}

/* The syscall number a displaced instruction loads into %eax, or -1. */
static int const_nr(const uint8_t *c, size_t len)
{
	int32_t imm;

	if (len == 5 && c[0] == 0xb8) { /* mov $imm32, %eax */
		memcpy(&imm, c + 1, 4);
		return imm >= 0 && imm < HOOK_SYS_NR_MAX ? imm : -1;
	}
	if (len == 7 && c[0] == 0x48 && c[1] == 0xc7 && c[2] == 0xc0) { /* mov $imm32, %rax */
		memcpy(&imm, c + 3, 4);
		return imm >= 0 && imm < HOOK_SYS_NR_MAX ? imm : -1;
	}
	return -1;
}

static struct hook_sys_site *site_new(struct hook_sys_object *obj)
{
	struct hook_sys_site *st;

	if (obj->site_cnt == obj->site_cap) {
		unsigned int cap = obj->site_cap ? obj->site_cap * 2 : 64;
		void *p = realloc(obj->sites, cap * sizeof(*obj->sites));

		if (!p)
			return NULL;
		obj->sites = p;
		obj->site_cap = cap;
	}
	st = &obj->sites[obj->site_cnt++];
	memset(st, 0, sizeof(*st));
	return st;
}

/*
 * What a linear sweep of a function tells us: where its syscall
 * instructions are and what precedes each, every direct branch or call
 * target, and whether it has an indirect jump (a jump table could lead
 * anywhere). Detail mode is off: branch targets come from the operand text,
 * which Capstone prints as "0x<hex>" for direct targets.
 */
struct func_info {
	uintptr_t start, end; /* the function, [start, end) */
	uintptr_t pos;        /* the sweep has decoded [start, pos) */
	uintptr_t prev;       /* last instruction decoded */
	uint8_t prev_len;
	bool failed;          /* a decode failed: nothing past pos is known */
	bool indirect_jmp;
	uintptr_t *targets;
	size_t target_cnt, target_cap;
	struct func_sys {
		uintptr_t at, prev; /* the syscall and the instruction before it (0: none) */
		uint8_t prev_len;
	} *sys;
	size_t sys_cnt, sys_cap, sys_next;
};

static int grow(void **p, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *np = realloc(*p, ncap * elem);

	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static bool is_branch_mnemonic(const char *m, bool *is_jump)
{
	*is_jump = m[0] == 'j' || !strncmp(m, "loop", 4);
	return *is_jump || !strcmp(m, "call");
}

static void func_begin(struct func_info *f, uintptr_t start, uintptr_t end)
{
	f->start = start;
	f->end = end;
	f->pos = start;
	f->prev = 0;
	f->prev_len = 0;
	f->failed = false;
	f->indirect_jmp = false;
	f->target_cnt = 0;
	f->sys_cnt = 0;
	f->sys_next = 0;
}

/* Continue the function's sweep until it has decoded everything before @limit. */
static int func_sweep_to(csh h, cs_insn *insn, struct func_info *f, uintptr_t limit)
{
	const uint8_t *code = (const uint8_t *)f->pos;
	size_t size = f->end - f->pos;
	uint64_t addr = f->pos;
	int err = 0;

	if (limit > f->end)
		limit = f->end;
	while (!f->failed && addr < limit) {
		uintptr_t at = (uintptr_t)addr;
		bool is_jump;

		if (!cs_disasm_iter(h, &code, &size, &addr, insn)) {
			f->failed = true; /* syscalls found so far stay valid */
			break;
		}
		if (insn->size == 2 && insn->bytes[0] == 0x0f && insn->bytes[1] == 0x05) {
			if (f->sys_cnt == f->sys_cap) {
				err = grow((void **)&f->sys, &f->sys_cap, sizeof(*f->sys));
				if (err)
					break;
			}
			f->sys[f->sys_cnt].at = at;
			f->sys[f->sys_cnt].prev = f->prev;
			f->sys[f->sys_cnt].prev_len = f->prev_len;
			f->sys_cnt++;
		} else if (is_branch_mnemonic(insn->mnemonic, &is_jump)) {
			if (!strncmp(insn->op_str, "0x", 2)) {
				if (f->target_cnt == f->target_cap) {
					err = grow((void **)&f->targets, &f->target_cap,
						   sizeof(*f->targets));
					if (err)
						break;
				}
				f->targets[f->target_cnt++] = (uintptr_t)strtoull(insn->op_str, NULL, 16);
			} else if (is_jump) {
				f->indirect_jmp = true;
			}
		}
		f->prev = at;
		f->prev_len = insn->size;
	}
	f->pos = (uintptr_t)addr;
	return err;
}

/*
 * The instruction after the syscall may be displaced together with it only
 * if nothing can branch to it: the whole function decoded, it has no
 * indirect jump, and no direct branch targets @target.
 */
static bool no_branch_to(const struct func_info *f, uintptr_t target)
{
	size_t i;

	if (f->failed || f->pos != f->end || f->indirect_jmp)
		return false;
	for (i = 0; i < f->target_cnt; i++)
		if (f->targets[i] == target)
			return false;
	return true;
}

/* Decide how the syscall @sc of function @f can be rewritten, if at all, and record it. */
static int site_consider(struct hook_sys_object *obj, csh h, csh dh, cs_insn *insn,
			 struct func_info *f, size_t sys_idx)
{
	const struct func_sys *sc = &f->sys[sys_idx];
	uintptr_t a = sc->at;
	struct hook_sys_site *st;
	cs_insn *next = NULL;
	size_t n, next_len = 0;
	int err;

	/* `mov $imm32, %eax` (b8 id), the usual glibc shape, is position
	 * independent by construction; anything else asks Capstone's details. */
	if (sc->prev_len >= 5 && sc->prev + sc->prev_len == a &&
	    ((sc->prev_len == 5 && *(const uint8_t *)sc->prev == 0xb8) ||
	     insn_relocatable(dh, (const uint8_t *)sc->prev, sc->prev_len, sc->prev))) {
		st = site_new(obj);
		if (!st)
			return -ENOMEM;
		st->addr = sc->prev;
		st->len = sc->prev_len;
		st->pre_len = sc->prev_len;
		memcpy(st->pre, (const void *)sc->prev, sc->prev_len);
		st->back = a + 2;
		st->nr = const_nr(st->pre, sc->prev_len);
		return 0;
	}
	if (a + 2 >= f->end)
		return 0;
	/* Only now is the rest of the function needed: finish its sweep. */
	err = func_sweep_to(h, insn, f, f->end);
	if (err)
		return err;
	if (!no_branch_to(f, a + 2))
		return 0;
	n = cs_disasm(dh, (const uint8_t *)(a + 2), f->end - (a + 2), a + 2, 1, &next);
	if (n == 1)
		next_len = next->size;
	if (next)
		cs_free(next, n);
	if (next_len < 3 || next_len > 13 || a + 2 + next_len > f->end ||
	    !insn_relocatable(dh, (const uint8_t *)(a + 2), next_len, a + 2))
		return 0;
	st = site_new(obj);
	if (!st)
		return -ENOMEM;
	st->addr = a;
	st->len = (uint8_t)(2 + next_len);
	st->post_len = (uint8_t)next_len;
	memcpy(st->post, (const void *)(a + 2), next_len);
	st->back = a + 2 + next_len;
	st->nr = -1;
	return 0;
}

int hook_sys_scan(struct hook_sys_object *obj, const void *eh_frame_hdr)
{
	struct func_info f = { 0 };
	struct fde_table t;
	csh h = 0, dh = 0;
	cs_insn *insn = NULL;
	uintptr_t a;
	int err;

	if (fde_table_init(&t, eh_frame_hdr)) {
		log_debug("syscall hooks: %s has no usable .eh_frame_hdr; not scanned\n", obj->name);
		return 0;
	}
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK ||
	    cs_open(CS_ARCH_X86, CS_MODE_64, &dh) != CS_ERR_OK) {
		err = -ENOMEM;
		goto out;
	}
	cs_option(dh, CS_OPT_DETAIL, CS_OPT_ON);
	insn = cs_malloc(h);
	if (!insn) {
		err = -ENOMEM;
		goto out;
	}
	err = 0;
	for (a = obj->lo; a + 1 < obj->hi; a++) {
		const uint8_t *p = (const uint8_t *)a;
		uintptr_t start, end;

		/* Search the rarer second byte (in glibc's text 0x05 is 8x rarer than 0x0f). */
		p = memchr(p + 1, 0x05, obj->hi - a - 1);
		if (!p)
			break;
		if (p[-1] != 0x0f) {
			a = (uintptr_t)p - 1; /* the loop's a++ resumes at p */
			continue;
		}
		a = (uintptr_t)p - 1;
		if (!(f.start && a >= f.start && a < f.end)) {
			/* First candidate in this function: sweep it once. */
			start = fde_func_start(&t, a, &end);
			if (!start || start < obj->lo || a - start > SCAN_MAX_FUNC)
				continue;
			if (!end || end > obj->hi || end - start > SCAN_MAX_FUNC)
				end = MIN(obj->hi, start + SCAN_MAX_FUNC); /* sweep marked incomplete */
			func_begin(&f, start, end);
		}
		err = func_sweep_to(h, insn, &f, a + 2);
		if (err)
			goto out;
		/* Candidates come in address order, so f.sys is consumed in order. */
		while (f.sys_next < f.sys_cnt && f.sys[f.sys_next].at < a)
			f.sys_next++;
		if (f.sys_next == f.sys_cnt || f.sys[f.sys_next].at != a)
			continue; /* not an instruction boundary: bytes inside another instruction */
		obj->found++;
		err = site_consider(obj, h, dh, insn, &f, f.sys_next);
		if (err)
			goto out;
	}
out:
	free(f.targets);
	free(f.sys);
	if (insn)
		cs_free(insn, 1);
	if (dh)
		cs_close(&dh);
	if (h)
		cs_close(&h);
	return err;
}
