/* hooks_targets.h - the assembly probe targets of tests/hooks_targets.S. */
#ifndef TESTS_HOOKS_TARGETS_H
#define TESTS_HOOKS_TARGETS_H

#include <stdint.h>

long t_push(long a, long b);
long t_endbr(long a);
long t_nop5(long a);
long t_usdt(long a);
extern const unsigned char t_usdt_site[];
long t_usdt_jmp(long a);
long t_usdt_twin(long a), t_usdt_jmp_twin(long a);
extern const unsigned char t_usdt_jmp_site[];
long t_inner(long a);
extern const unsigned char t_inner_site[];
long t_entryloop(long a);
long t_switch(long a);
extern const unsigned char t_switch_site[];
long t_split(long a), t_split2(long a), t_split3(long a);
long t_nb_pre(long a), t_nb(long a);
extern const unsigned char t_split_cold_site[], t_split2_cold_site[], t_split3_cold_site[];
long t_mov(long a);
/* Unprobed byte-for-byte copies, for the benchmarks. */
long t_push_twin(long a, long b);
long t_nop5_twin(long a);
long t_mov_twin(long a);
long t_riprel(long a);
long t_riplea(long a);
long t_ripcmp(void);
long t_jcc(long a);
long t_tail(long a);
long t_call(long a);
long t_short(void);
long t_tiny(void);
long t_tiny_next(long x);
long t_fall(long x);
long t_fall_next(long x);
long t_jmp8(void);
long t_loop(void);
double t_fadd(double x, double y);
long t_fib(long n);
long t_redzone(long a);
long t_ovf(long a, long b);
long t_invoke(long (*fn)(long), long arg);
extern long t_data, t_data2;
extern uint16_t t_sema;

#endif /* TESTS_HOOKS_TARGETS_H */
