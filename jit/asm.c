/*
 * asm.c - assembler for the conformance text syntax
 * (shared/conformance/README.md §2; the syntax uBPF's and bpf_conformance's
 * test files are written in).
 *
 * Table-driven: a mnemonic is looked up in JIT_OPCODES() (jit/opcodes.h),
 * whose SYNTAX column says which operands follow and whose field rules give
 * the values that select a form (offset 1 for sdiv, imm 16 for le16, imm
 * 0xe1 for xchg ...). So the assembler, decoder and interpreter cannot
 * disagree about an encoding.
 *
 * Two passes: the first records label positions in 8-byte slots (lddw counts
 * two), the second encodes. Jump targets are labels or +N/-N relative to the
 * next slot; the first exit also defines the label "exit".
 * The legacy packet loads, which the conformance assembler does not spell,
 * take uBPF's and rbpf's mnemonics: "ldabsw imm" and "ldindw %rS, imm"
 * (b/h/w; RFC 9669 §5.5).
 * Programs are small (tests, tools), so nothing here is tuned for speed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utils.h"
#include "jit/asm.h"
#include "jit/opcodes.h"

#define MAX_TOKENS 8

struct label {
	char *name;
	uint32_t slot;
};

struct asm_state {
	struct label *labels;
	uint32_t label_cnt;
	uint32_t label_cap;
	char *log;
	size_t log_sz;
	unsigned int line_no;
};

static int fail(struct asm_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct asm_state *st, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (st->log && st->log_sz) {
		n = snprintf(st->log, st->log_sz, "line %u: ", st->line_no);
		if (n >= 0 && (size_t)n < st->log_sz) {
			va_start(ap, fmt);
			vsnprintf(st->log + n, st->log_sz - n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

/* Split @line (modified in place) into tokens; a trailing ',' is dropped and
 * a bracketed memory operand written with spaces is glued back together. */
static int tokenize(char *line, char **tok, int max)
{
	int n = 0;
	char *s = line;

	while (*s) {
		char *start;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		start = s;
		if (*s == '[') {
			while (*s && *s != ']')
				s++;
			if (*s)
				s++;
		} else {
			while (*s && !isspace((unsigned char)*s))
				s++;
		}
		if (*s)
			*s++ = '\0';
		if (n == max)
			return -1;
		tok[n++] = start;
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen(tok[i]);

		if (len > 1 && tok[i][len - 1] == ',')
			tok[i][len - 1] = '\0';
	}
	return n;
}

/* Parse a whole-token integer: optional sign, then 0x hex or decimal. */
static bool parse_num(const char *s, bool *neg, bool *hex, uint64_t *mag)
{
	char *end;

	*neg = false;
	if (*s == '+' || *s == '-')
		*neg = *s++ == '-';
	*hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	if (!isxdigit((unsigned char)s[*hex ? 2 : 0]))
		return false;
	errno = 0;
	*mag = strtoull(s, &end, *hex ? 16 : 10);
	return !errno && !*end;
}

/* imm: hex must fit 32 bits unsigned (the bit pattern is stored), decimal
 * must fit int32 (README §2). */
static int parse_imm32(struct asm_state *st, const char *s, int32_t *out)
{
	bool neg, hex;
	uint64_t m;

	if (!parse_num(s, &neg, &hex, &m))
		return fail(st, "'%s' is not a number", s);
	if (hex && !neg && m <= UINT32_MAX) {
		*out = (int32_t)(uint32_t)m;
		return 0;
	}
	if (!neg && m <= INT32_MAX) {
		*out = (int32_t)m;
		return 0;
	}
	if (neg && m <= (uint64_t)INT32_MAX + 1) {
		*out = (int32_t)(-(int64_t)m);
		return 0;
	}
	return fail(st, "immediate %s does not fit in 32 bits", s);
}

static int parse_imm64(struct asm_state *st, const char *s, uint64_t *out)
{
	bool neg, hex;
	uint64_t m;

	if (!parse_num(s, &neg, &hex, &m))
		return fail(st, "'%s' is not a number", s);
	if (neg && m > (uint64_t)INT64_MAX + 1)
		return fail(st, "immediate %s does not fit in 64 bits", s);
	*out = neg ? -m : m;
	return 0;
}

static int parse_off16(struct asm_state *st, const char *s, bool neg_prefix, int16_t *out)
{
	bool neg, hex;
	uint64_t m;
	int64_t v;

	if (!parse_num(s, &neg, &hex, &m) || m > 0x10000)
		return fail(st, "offset '%s' is not a 16-bit number", s);
	v = (neg != neg_prefix) ? -(int64_t)m : (int64_t)m;
	if (v < INT16_MIN || v > INT16_MAX)
		return fail(st, "offset %lld does not fit in 16 bits", (long long)v);
	*out = (int16_t)v;
	return 0;
}

static int parse_reg(struct asm_state *st, const char *s, uint8_t *reg)
{
	char *end;
	long n;

	if (s[0] != '%' || s[1] != 'r' || !isdigit((unsigned char)s[2]))
		return fail(st, "'%s' is not a register (%%r0..%%r10)", s);
	n = strtol(s + 2, &end, 10);
	if (*end || n > 15)
		return fail(st, "invalid register '%s'", s);
	*reg = (uint8_t)n;
	return 0;
}

static bool is_reg(const char *s)
{
	return s[0] == '%';
}

/* [%rN], [%rN+off], [%rN-off] */
static int parse_mem(struct asm_state *st, const char *s, uint8_t *reg, int16_t *off)
{
	char buf[64], *p, *close;
	size_t len = strlen(s);
	bool neg = false;
	int err;

	if (len < 3 || len >= sizeof(buf) || s[0] != '[' || s[len - 1] != ']')
		return fail(st, "'%s' is not a memory operand ([%%rN+off])", s);
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	close = buf + strlen(buf);
	/* Drop spaces so "[%r1 + 4]" reads like "[%r1+4]". */
	for (p = buf; *p;) {
		if (isspace((unsigned char)*p))
			memmove(p, p + 1, strlen(p));
		else
			p++;
	}
	close = buf + strlen(buf);
	p = strpbrk(buf, "+-");
	*off = 0;
	if (p) {
		neg = *p == '-';
		*p++ = '\0';
		if (p == close)
			return fail(st, "'%s' has no offset after the sign", s);
		err = parse_off16(st, p, neg, off);
		if (err)
			return err;
	}
	return parse_reg(st, buf, reg);
}

static int label_add(struct asm_state *st, const char *name, uint32_t slot)
{
	for (uint32_t i = 0; i < st->label_cnt; i++)
		if (!strcmp(st->labels[i].name, name))
			return fail(st, "label '%s' defined twice", name);
	if (st->label_cnt == st->label_cap) {
		uint32_t cap = st->label_cap ? st->label_cap * 2 : 16;
		struct label *l = realloc(st->labels, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		st->labels = l;
		st->label_cap = cap;
	}
	st->labels[st->label_cnt].name = strdup(name);
	if (!st->labels[st->label_cnt].name)
		return -ENOMEM;
	st->labels[st->label_cnt++].slot = slot;
	return 0;
}

/* A jump target as a displacement from the slot after @slot. */
static int parse_target(struct asm_state *st, const char *s, uint32_t slot, int64_t *rel)
{
	bool neg, hex;
	uint64_t m;

	if (s[0] == '+' || s[0] == '-' || isdigit((unsigned char)s[0])) {
		if (!parse_num(s, &neg, &hex, &m) || m > INT32_MAX)
			return fail(st, "jump target '%s' is not a number", s);
		*rel = neg ? -(int64_t)m : (int64_t)m;
		return 0;
	}
	for (uint32_t i = 0; i < st->label_cnt; i++) {
		if (!strcmp(st->labels[i].name, s)) {
			*rel = (int64_t)st->labels[i].slot - (int64_t)slot - 1;
			return 0;
		}
	}
	return fail(st, "undefined label '%s'", s);
}

/* Find the form named @mn whose source kind matches (@src_is_reg: -1 means
 * either). Accepts the aliases of README §2: "add64" for "add", "swap16"
 * for "bswap16". */
static int row_find(const char *mn, int src_is_reg, enum jit_op *op)
{
	char alt[48];

	for (int pass = 0; pass < 2; pass++) {
		const char *want = mn;

		if (pass == 1) {
			size_t len = strlen(mn);

			if (!strncmp(mn, "swap", 4) && len + 2 <= sizeof(alt))
				snprintf(alt, sizeof(alt), "b%.*s", (int)len, mn);
			else if (len > 2 && len < sizeof(alt) && !strcmp(mn + len - 2, "64"))
				snprintf(alt, sizeof(alt), "%.*s", (int)(len - 2), mn);
			else
				break;
			want = alt;
		}
		for (int i = 0; i < JIT_OP__CNT; i++) {
			const struct jit_opcode_info *r = &jit_opcode_table[i];

			if (strcmp(r->mnemonic, want))
				continue;
			if (src_is_reg >= 0 && (r->syntax == JIT_SYN_ALU || r->syntax == JIT_SYN_JCC) &&
			    (r->src.rule == JIT_F_REG) != src_is_reg)
				continue;
			*op = i;
			return 0;
		}
	}
	return -ENOENT;
}

/* The encoding of form @op with its selecting fields (JIT_F_EQ) filled in. */
static struct bpf_insn insn_of(enum jit_op op)
{
	const struct jit_opcode_info *r = &jit_opcode_table[op];
	struct bpf_insn insn = { .code = r->code };

	if (r->src.rule == JIT_F_EQ)
		insn.src_reg = r->src.val;
	if (r->off.rule == JIT_F_EQ)
		insn.off = r->off.val;
	if (r->imm.rule == JIT_F_EQ)
		insn.imm = r->imm.val;
	return insn;
}

static int want_ops(struct asm_state *st, const char *mn, int have, int want)
{
	if (have == want)
		return 0;
	return fail(st, "'%s' takes %d operand%s, got %d", mn, want, want == 1 ? "" : "s", have);
}

/* Encode one instruction at @slot into @out (2 slots for lddw). */
static int encode(struct asm_state *st, char **tok, int n, uint32_t slot, struct bpf_insn *out)
{
	char mn[48];
	char **opnd = tok + 1;
	int nops = n - 1;
	enum jit_op op;
	const struct jit_opcode_info *r;
	struct bpf_insn insn;
	int64_t rel;
	uint8_t dst = 0, src = 0; /* struct bpf_insn's registers are bit-fields */
	int err;

	/* "lock [fetch] add32" is one mnemonic in the table. */
	if (!strcmp(tok[0], "lock")) {
		int words = n > 2 && !strcmp(tok[1], "fetch") ? 3 : 2;

		if (n <= words)
			return fail(st, "'lock' needs an operation and operands");
		snprintf(mn, sizeof(mn), "lock %s%s", words == 3 ? "fetch " : "", tok[words - 1]);
		opnd = tok + words;
		nops = n - words;
	} else if (!strcmp(tok[0], "call")) {
		/* call [helper] N | call [helper] %rN | call local L | call runtime N */
		if (nops >= 1 && !strcmp(opnd[0], "helper")) {
			opnd++;
			nops--;
		}
		if (nops >= 1 && (!strcmp(opnd[0], "local") || !strcmp(opnd[0], "runtime"))) {
			snprintf(mn, sizeof(mn), "call %s", opnd[0]);
			opnd++;
			nops--;
		} else {
			snprintf(mn, sizeof(mn), "call");
		}
	} else {
		snprintf(mn, sizeof(mn), "%s", tok[0]);
	}

	/* Which form: the source operand's kind picks K or X for ALU and jumps. */
	if (!strcmp(mn, "call"))
		op = nops == 1 && is_reg(opnd[0]) ? JIT_OP_CALLX : JIT_OP_CALL;
	else if (row_find(mn, nops >= 2 ? is_reg(opnd[1]) : -1, &op))
		return fail(st, "unknown mnemonic '%s'", mn);
	r = &jit_opcode_table[op];
	insn = insn_of(op);
	src = insn.src_reg;

	switch (r->syntax) {
	case JIT_SYN_ALU:
		if ((err = want_ops(st, mn, nops, 2)) || (err = parse_reg(st, opnd[0], &dst)))
			return err;
		err = is_reg(opnd[1]) ? parse_reg(st, opnd[1], &src)
				      : parse_imm32(st, opnd[1], &insn.imm);
		break;
	case JIT_SYN_ALU1:
	case JIT_SYN_END:
		if ((err = want_ops(st, mn, nops, 1)))
			return err;
		err = parse_reg(st, opnd[0], &dst);
		break;
	case JIT_SYN_MOVSX:
		if ((err = want_ops(st, mn, nops, 2)) || (err = parse_reg(st, opnd[0], &dst)))
			return err;
		err = parse_reg(st, opnd[1], &src);
		break;
	case JIT_SYN_LDX:
		if ((err = want_ops(st, mn, nops, 2)) || (err = parse_reg(st, opnd[0], &dst)))
			return err;
		err = parse_mem(st, opnd[1], &src, &insn.off);
		break;
	case JIT_SYN_ST:
		if ((err = want_ops(st, mn, nops, 2)) ||
		    (err = parse_mem(st, opnd[0], &dst, &insn.off)))
			return err;
		err = parse_imm32(st, opnd[1], &insn.imm);
		break;
	case JIT_SYN_STX:
	case JIT_SYN_ATOMIC:
		if ((err = want_ops(st, mn, nops, 2)) ||
		    (err = parse_mem(st, opnd[0], &dst, &insn.off)))
			return err;
		err = parse_reg(st, opnd[1], &src);
		break;
	case JIT_SYN_LDDW: {
		uint64_t v = 0;

		if ((err = want_ops(st, mn, nops, 2)) || (err = parse_reg(st, opnd[0], &dst)) ||
		    (err = parse_imm64(st, opnd[1], &v)))
			return err;
		insn.imm = (int32_t)(uint32_t)v;
		insn.dst_reg = dst;
		out[0] = insn;
		out[1] = (struct bpf_insn){ .imm = (int32_t)(uint32_t)(v >> 32) };
		return 0;
	}
	case JIT_SYN_JA:
	case JIT_SYN_JA32:
		if ((err = want_ops(st, mn, nops, 1)) || (err = parse_target(st, opnd[0], slot, &rel)))
			return err;
		if (r->syntax == JIT_SYN_JA32)
			insn.imm = (int32_t)rel;
		else if (rel < INT16_MIN || rel > INT16_MAX)
			return fail(st, "jump of %lld slots does not fit in 16 bits", (long long)rel);
		else
			insn.off = (int16_t)rel;
		break;
	case JIT_SYN_JCC:
		if ((err = want_ops(st, mn, nops, 3)) || (err = parse_reg(st, opnd[0], &dst)))
			return err;
		err = is_reg(opnd[1]) ? parse_reg(st, opnd[1], &src)
				      : parse_imm32(st, opnd[1], &insn.imm);
		if (err || (err = parse_target(st, opnd[2], slot, &rel)))
			return err;
		if (rel < INT16_MIN || rel > INT16_MAX)
			return fail(st, "jump of %lld slots does not fit in 16 bits", (long long)rel);
		insn.off = (int16_t)rel;
		break;
	case JIT_SYN_CALL:
	case JIT_SYN_CALLR:
		if ((err = want_ops(st, mn, nops, 1)))
			return err;
		err = parse_imm32(st, opnd[0], &insn.imm);
		break;
	case JIT_SYN_CALLL:
		if ((err = want_ops(st, mn, nops, 1)) || (err = parse_target(st, opnd[0], slot, &rel)))
			return err;
		insn.imm = (int32_t)rel;
		break;
	case JIT_SYN_CALLX:
		if ((err = want_ops(st, mn, nops, 1)))
			return err;
		err = parse_reg(st, opnd[0], &dst);
		break;
	case JIT_SYN_EXIT:
		err = want_ops(st, mn, nops, 0);
		break;
	case JIT_SYN_LDABS:
		if ((err = want_ops(st, mn, nops, 1)))
			return err;
		err = parse_imm32(st, opnd[0], &insn.imm);
		break;
	case JIT_SYN_LDIND:
		if ((err = want_ops(st, mn, nops, 2)) || (err = parse_reg(st, opnd[0], &src)))
			return err;
		err = parse_imm32(st, opnd[1], &insn.imm);
		break;
	default:
		return fail(st, "internal error: no syntax for '%s'", mn);
	}
	if (err)
		return err;
	insn.dst_reg = dst;
	insn.src_reg = src;
	out[0] = insn;
	return 0;
}

/* Remove the comment and trailing space; NULL if nothing is left. */
static char *line_clean(char *line)
{
	char *hash = strchr(line, '#');
	size_t len;

	if (hash)
		*hash = '\0';
	len = strlen(line);
	while (len && isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
	while (isspace((unsigned char)*line))
		line++;
	return *line ? line : NULL;
}

static bool is_label(const char *line)
{
	size_t len = strlen(line);

	if (len < 2 || line[len - 1] != ':')
		return false;
	for (size_t i = 0; i + 1 < len; i++)
		if (!isalnum((unsigned char)line[i]) && line[i] != '_' && line[i] != '.')
			return false;
	return true;
}

/* Cut the next line out of *@p (modified in place); NULL at the end. */
static char *line_next(char **p)
{
	char *line = *p, *nl;

	if (!line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	*p = nl ? nl + 1 : NULL;
	return line;
}

/* Slots the instruction on @line takes: its first token, read as
 * tokenize() reads it (a trailing ',' dropped), is "lddw" or not. */
static uint32_t insn_slots(const char *line)
{
	size_t len = strcspn(line, " \t\v\f\r");

	if (len && line[len - 1] == ',')
		len--;
	return len == 4 && !strncmp(line, "lddw", 4) ? 2 : 1;
}

int jit_asm_assemble(const char *text, struct bpf_insn **out, uint32_t *insn_cnt, char *log,
		     size_t log_sz)
{
	struct asm_state st = { .log = log, .log_sz = log_sz };
	_cleanup_free_ char *copy = NULL;
	struct bpf_insn *insns = NULL;
	uint32_t slots = 0, slot;
	bool have_exit = false, exit_label = false;
	char *line, *p;
	int err = 0;

	if (log && log_sz)
		log[0] = '\0';

	/* Pass 1: labels. */
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (p = copy; (line = line_next(&p));) {
		char *l = line_clean(line);

		st.line_no++;
		if (!l)
			continue;
		if (is_label(l)) {
			l[strlen(l) - 1] = '\0';
			if (!strcmp(l, "exit"))
				exit_label = true;
			err = label_add(&st, l, slots);
			if (err)
				goto out;
			continue;
		}
		if (!have_exit && !strcmp(l, "exit")) {
			have_exit = true;
			if (!exit_label) {
				err = label_add(&st, "exit", slots);
				if (err)
					goto out;
				exit_label = true;
			}
		}
		slots += insn_slots(l);
	}
	if (!slots) {
		st.line_no = 0;
		err = fail(&st, "no instructions");
		goto out;
	}

	/* Pass 2: encode. */
	insns = calloc(slots, sizeof(*insns));
	if (!insns) {
		err = -ENOMEM;
		goto out;
	}
	free(copy);
	copy = strdup(text);
	if (!copy) {
		err = -ENOMEM;
		goto out;
	}
	slot = 0;
	st.line_no = 0;
	for (p = copy; (line = line_next(&p));) {
		char *tok[MAX_TOKENS];
		char *l = line_clean(line);
		int n;

		st.line_no++;
		if (!l || is_label(l))
			continue;
		n = tokenize(l, tok, MAX_TOKENS);
		if (n < 0) {
			err = fail(&st, "too many operands");
			goto out;
		}
		/* Pass 1 sized the array with insn_slots(); encode() agrees with it
		 * (a mnemonic other than lddw never takes two slots). */
		if (slot + insn_slots(tok[0]) > slots) {
			err = fail(&st, "internal error: instruction count changed between passes");
			goto out;
		}
		err = encode(&st, tok, n, slot, &insns[slot]);
		if (err)
			goto out;
		slot += insn_slots(tok[0]);
	}
	*out = steal_ptr(&insns);
	*insn_cnt = slots;
out:
	for (uint32_t i = 0; i < st.label_cnt; i++)
		free(st.labels[i].name);
	free(st.labels);
	free(insns);
	return err;
}
