/*
 * bench.h - shared by the benchmark programs (compiled with clang -target bpf).
 *
 * Every program is self-contained: it builds its data on the stack from a
 * constant seed, so it needs no map and reads nothing from its ctx. The seed
 * passes through OPAQUE() so clang cannot fold the whole computation to a
 * constant at compile time, while the kernel verifier still knows its exact
 * value and walks each bounded loop once (keeping verification under the
 * 1M-instruction limit). All run as BPF_PROG_TYPE_SOCKET_FILTER (SEC
 * "socket"), whose BPF_PROG_TEST_RUN supports repeat.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

/* No system headers: -target bpf has no asm/ include path on Debian, and
 * these programs need only fixed-width types and the section attribute. */
typedef unsigned char __u8;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define OPAQUE(x) asm volatile("" : "+r"(x))
/* Keeps clang from recognising a loop as memcpy/memset/strlen. */
#define BARRIER() asm volatile("" ::: "memory")

#endif /* BENCH_BENCH_H */
