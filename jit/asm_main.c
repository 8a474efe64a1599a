/*
 * asm_main.c - bpftime-asm: assemble conformance-syntax text
 * (shared/conformance/README.md §2) into eBPF instructions.
 *
 *   bpftime-asm [--hex] [FILE]
 *   bpftime-asm -d [FILE]
 *
 * Reads FILE (or stdin). Writes the raw little-endian instructions to
 * stdout, or with --hex one line of space-separated byte pairs: the program
 * format bpf_conformance's runner feeds its plugins, so
 *   bpftime-asm --hex prog.s | bpftime-conformance-plugin
 * runs a program. The assembler checks syntax only; the decoder judges ISA
 * rules when the program is loaded. -d disassembles raw instructions back to
 * text, one per line, prefixed with the slot index as a comment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit/asm.h"

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: bpftime-asm [--hex] [FILE]\n"
		   "       bpftime-asm -d [FILE]\n"
		   "Assemble eBPF text (bpf_conformance syntax) from FILE or stdin; write raw\n"
		   "little-endian instructions, or with --hex space-separated byte pairs.\n"
		   "With -d, read raw instructions and print them as text.\n");
	return status;
}

static char *slurp_n(FILE *f, size_t *out_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (cap - len < 2) {
			char *b = realloc(buf, cap * 2);

			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	*out_len = len;
	return buf;
}

static int disassemble(FILE *in)
{
	size_t len;
	char *raw = slurp_n(in, &len);
	const struct bpf_insn *insns = (const struct bpf_insn *)raw;
	uint32_t cnt = (uint32_t)(len / sizeof(*insns));
	int status = 0, used;

	if (!raw) {
		fprintf(stderr, "bpftime-asm: out of memory reading the program\n");
		return 1;
	}
	if (len % sizeof(*insns))
		fprintf(stderr, "bpftime-asm: %zu trailing bytes ignored\n", len % sizeof(*insns));
	for (uint32_t i = 0; i < cnt; i += used) {
		char line[128];

		used = jit_disasm_insn(&insns[i], cnt - i, line, sizeof(line));
		if (used < 0) {
			printf("# %u: invalid: %s\n", i, line);
			status = 1;
			used = 1;
			continue;
		}
		printf("%-40s # %u\n", line, i);
	}
	free(raw);
	return status;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int hex = 0, dis = 0;
	FILE *in = stdin;
	struct bpf_insn *insns;
	uint32_t cnt;
	char log[256];
	char *text;
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--hex"))
			hex = 1;
		else if (!strcmp(argv[i], "-d"))
			dis = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return usage(stdout, 0);
		else if (argv[i][0] == '-' && argv[i][1])
			return usage(stderr, 2);
		else if (path)
			return usage(stderr, 2);
		else
			path = argv[i];
	}
	if (path && strcmp(path, "-")) {
		in = fopen(path, "re");
		if (!in) {
			fprintf(stderr, "bpftime-asm: cannot open %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	if (dis) {
		int status = disassemble(in);

		if (in != stdin)
			fclose(in);
		return status;
	}
	{
		size_t len;

		text = slurp_n(in, &len);
	}
	if (in != stdin)
		fclose(in);
	if (!text) {
		fprintf(stderr, "bpftime-asm: out of memory reading the program\n");
		return 1;
	}
	err = jit_asm_assemble(text, &insns, &cnt, log, sizeof(log));
	free(text);
	if (err) {
		fprintf(stderr, "bpftime-asm: %s%s\n", path ? path : "<stdin>",
			err == -ENOMEM ? ": out of memory" : "");
		fprintf(stderr, "bpftime-asm: %s\n", log);
		return 1;
	}
	if (hex) {
		const uint8_t *b = (const uint8_t *)insns;

		for (size_t i = 0; i < cnt * sizeof(*insns); i++)
			printf("%s%02x", i ? " " : "", b[i]);
		printf("\n");
	} else if (fwrite(insns, sizeof(*insns), cnt, stdout) != cnt) {
		fprintf(stderr, "bpftime-asm: write failed: %s\n", strerror(errno));
		free(insns);
		return 1;
	}
	free(insns);
	return fflush(stdout) ? 1 : 0;
}
