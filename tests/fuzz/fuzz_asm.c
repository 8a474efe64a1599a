/*
 * fuzz_asm.c - text into the assembler: it must assemble or refuse with a
 * message, never crash; what it assembles must decode or be refused with a
 * message (the assembler encodes anything syntactically valid, the decoder
 * judges it). A program whose every slot decodes must also survive the round
 * trip through the disassembler: its text assembles back to the same words.
 *
 * Built with --enable-fuzzers; without libFuzzer, main() replays files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit/asm.h"
#include "jit/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct bpf_insn *insns = NULL;
	struct jit_decoded *d = NULL;
	uint32_t cnt;
	char log[512];

	if (!text || size > 16384) {
		free(text);
		return 0;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	if (jit_asm_assemble(text, &insns, &cnt, log, sizeof(log)) == 0) {
		size_t cap = (size_t)cnt * 96 + 1, len = 0;
		char *back = malloc(cap);
		int used = 1;

		if (jit_decode_prog(insns, cnt, NULL, &d, log, sizeof(log)) == 0)
			jit_decoded_free(d);
		else if (!log[0])
			abort();
		for (uint32_t i = 0; back && i < cnt && used > 0; i += used) {
			char line[96];

			used = jit_disasm_insn(&insns[i], cnt - i, line, sizeof(line));
			if (used > 0)
				len += snprintf(back + len, cap - len, "%s\n", line);
		}
		if (back && used > 0) {
			struct bpf_insn *again = NULL;
			uint32_t again_cnt = 0;

			if (jit_asm_assemble(back, &again, &again_cnt, log, sizeof(log)) ||
			    again_cnt != cnt || memcmp(again, insns, cnt * sizeof(*insns)))
				abort(); /* the disassembly does not round-trip */
			free(again);
		}
		free(back);
		free(insns);
	} else if (!log[0]) {
		abort(); /* every refusal must say why */
	}
	free(text);
	return 0;
}

#ifndef FUZZ_LIBFUZZER
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t buf[16384];
		size_t n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return 0;
}
#endif
