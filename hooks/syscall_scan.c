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
 * A site is patchable when the instruction right before the syscall is at
 * least 5 bytes long (room for `jmp rel32`), falls through, and is position
 * independent: no branch, call or return, and no %rip-relative operand, so it
 * can run unchanged in the trampoline. Replacing exactly one instruction
 * means no branch target can fall inside the rewritten bytes (a target is
 * always an instruction start), so basic-block analysis is not needed; a
 * branch to the `syscall` itself still finds the original instruction.
 * The usual glibc shape, `mov $nr,%eax; syscall`, qualifies, and its
 * immediate gives the trampoline a constant number.
 *
 * Workload: once per object at install; only candidate functions are
 * disassembled, so a 2 MB libc is scanned in a few milliseconds.
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
 * The instruction after the syscall may be displaced together with it only
 * if nothing branches to it: sweep the whole function and reject on any
 * direct branch to @target, on any indirect jump (a jump table could hold
 * it), or on anything that does not decode.
 */
static bool no_branch_to(csh dh, uintptr_t start, uintptr_t end, uintptr_t target)
{
	const uint8_t *code = (const uint8_t *)start;
	size_t size = end - start;
	uint64_t addr = start;
	cs_insn *insn = cs_malloc(dh);
	bool ok = true;

	if (!insn)
		return false;
	while (addr < end) {
		const cs_x86 *x;

		if (!cs_disasm_iter(dh, &code, &size, &addr, insn)) {
			ok = false;
			break;
		}
		if (!cs_insn_group(dh, insn, CS_GRP_JUMP) && !cs_insn_group(dh, insn, CS_GRP_CALL))
			continue;
		x = &insn->detail->x86;
		if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM) {
			if (cs_insn_group(dh, insn, CS_GRP_JUMP)) {
				ok = false; /* indirect jump */
				break;
			}
			continue; /* indirect call: returns after itself, not to target */
		}
		if ((uintptr_t)x->operands[0].imm == target) {
			ok = false;
			break;
		}
	}
	cs_free(insn, 1);
	return ok;
}

/* Disassemble from @start; on landing exactly on the syscall at @site, give the previous insn. */
static bool boundary_prev(csh h, cs_insn *insn, uintptr_t start, uintptr_t site, uintptr_t *prev,
			  size_t *prev_len)
{
	const uint8_t *code = (const uint8_t *)start;
	size_t size = site + 2 - start;
	uint64_t addr = start;

	*prev = 0;
	*prev_len = 0;
	while (addr < site) {
		uintptr_t at = (uintptr_t)addr;

		if (!cs_disasm_iter(h, &code, &size, &addr, insn))
			return false;
		*prev = at;
		*prev_len = insn->size;
	}
	return addr == site;
}

/* Decide how the syscall at @a can be rewritten, if at all, and record it. */
static int site_consider(struct hook_sys_object *obj, csh dh, uintptr_t start, uintptr_t end,
			 uintptr_t a, uintptr_t prev, size_t prev_len)
{
	struct hook_sys_site *st;
	cs_insn *next = NULL;
	size_t n, next_len = 0;

	if (prev_len >= 5 && prev + prev_len == a &&
	    insn_relocatable(dh, (const uint8_t *)prev, prev_len, prev)) {
		st = site_new(obj);
		if (!st)
			return -ENOMEM;
		st->addr = prev;
		st->len = (uint8_t)prev_len;
		st->pre_len = (uint8_t)prev_len;
		memcpy(st->pre, (const void *)prev, prev_len);
		st->back = a + 2;
		st->nr = const_nr(st->pre, prev_len);
		return 0;
	}
	if (a + 2 >= end)
		return 0;
	n = cs_disasm(dh, (const uint8_t *)(a + 2), end - (a + 2), a + 2, 1, &next);
	if (n == 1)
		next_len = next->size;
	if (next)
		cs_free(next, n);
	if (next_len < 3 || next_len > 13 || a + 2 + next_len > end ||
	    !insn_relocatable(dh, (const uint8_t *)(a + 2), next_len, a + 2) ||
	    !no_branch_to(dh, start, end, a + 2))
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
		uintptr_t start, end, prev;
		size_t prev_len;

		p = memchr(p, 0x0f, obj->hi - 1 - a);
		if (!p)
			break;
		a = (uintptr_t)p;
		if (p[1] != 0x05)
			continue;
		start = fde_func_start(&t, a, &end);
		if (!start || start < obj->lo || a - start > SCAN_MAX_FUNC)
			continue;
		if (!end || end > obj->hi || end - start > SCAN_MAX_FUNC)
			end = MIN(obj->hi, a + 2 + 16);
		if (!boundary_prev(h, insn, start, a, &prev, &prev_len))
			continue;
		obj->found++;
		err = site_consider(obj, dh, start, end, a, prev, prev_len);
		if (err)
			goto out;
	}
out:
	if (insn)
		cs_free(insn, 1);
	if (dh)
		cs_close(&dh);
	if (h)
		cs_close(&h);
	return err;
}
