/* helpers_sup.h - the supervisor-side helper table (emul-private, see helpers_sup.c). */
#ifndef EMUL_HELPERS_SUP_H
#define EMUL_HELPERS_SUP_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stdint.h>

#include "jit/jit.h"

#define EMU_HELPER_MAX 212 /* __BPF_FUNC_MAX_ID at Linux 6.1 */

const jit_helper_fn *emu_helpers_sup(void);
/* Whether helper @id does something in a test run (not the "unavailable" stub). */
bool emu_helpers_sup_has(int32_t id);
/* Around one test run: the pid/tgid bpf_get_current_pid_tgid() reports; whether an unavailable helper ran. */
struct emu_session;
void emu_helpers_run_begin(uint64_t pid_tgid, struct emu_session *s);
bool emu_helpers_run_missing(void);
/* From a helper that cannot serve this call: end the run as if the helper were missing (ENOTSUPP). */
void emu_helpers_run_fail(void);

#endif /* EMUL_HELPERS_SUP_H */
