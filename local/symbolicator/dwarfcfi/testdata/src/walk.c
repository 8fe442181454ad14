/* A call chain of differently shaped frames. The innermost function saves
 * its registers with getcontext and prints them, the stack above them and
 * the return address every function of the chain received: unwinding the
 * printed state with the binary's call frame information must find those
 * return addresses again. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#define LEVELS 6
static ucontext_t uc;
static uintptr_t ras[LEVELS];
static uintptr_t stack_end; /* above main's frame: argv lives there */
volatile int sink;

#define RECORD(i) (ras[i] = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0)))

__attribute__((noinline)) static void dump(void) {
#if defined(__x86_64__)
	const greg_t *g = uc.uc_mcontext.gregs;
	printf("reg rsp %#llx\nreg rip %#llx\nreg rbp %#llx\nreg rbx %#llx\n", (unsigned long long)g[REG_RSP],
	       (unsigned long long)g[REG_RIP], (unsigned long long)g[REG_RBP], (unsigned long long)g[REG_RBX]);
	printf("reg r12 %#llx\nreg r13 %#llx\nreg r14 %#llx\nreg r15 %#llx\n", (unsigned long long)g[REG_R12],
	       (unsigned long long)g[REG_R13], (unsigned long long)g[REG_R14], (unsigned long long)g[REG_R15]);
	uintptr_t sp = (uintptr_t)g[REG_RSP];
#elif defined(__aarch64__)
	const mcontext_t *m = &uc.uc_mcontext;
	for (int i = 19; i <= 28; i++)
		printf("reg x%d %#llx\n", i, (unsigned long long)m->regs[i]);
	printf("reg fp %#llx\nreg lr %#llx\nreg sp %#llx\nreg pc %#llx\n", (unsigned long long)m->regs[29],
	       (unsigned long long)m->regs[30], (unsigned long long)m->sp, (unsigned long long)m->pc);
	uintptr_t sp = (uintptr_t)m->sp;
#endif
	for (int i = 0; i < LEVELS; i++)
		printf("ra %d %#llx\n", i, (unsigned long long)ras[i]);
	for (uintptr_t a = sp; a < stack_end; a += 8)
		printf("mem %#llx %#llx\n", (unsigned long long)a, (unsigned long long)*(uint64_t *)a);
}

__attribute__((noinline)) static int innermost(int x) {
	RECORD(0);
	volatile int local = x;
	getcontext(&uc);
	if (sink++ == 0)
		dump();
	return local + 1;
}

/* Keeps values live in callee-saved registers across the call. */
__attribute__((noinline)) static int pressure(int a) {
	RECORD(1);
	int b = a * 3, c = a ^ 5, d = a + 7, e = a * a, f = a - 9;
	int r = innermost(a + b);
	return r + a + b + c + d + e + f + sink;
}

/* A variable-length array: the CFA is computed from the frame pointer. */
__attribute__((noinline)) static int vla(int n) {
	RECORD(2);
	char buf[n + 32];
	memset(buf, n, sizeof buf);
	int r = pressure(buf[n]);
	return r + buf[3];
}

__attribute__((noinline)) static int big(int n) {
	RECORD(3);
	volatile char buf[5000];
	buf[n] = (char)n;
	int r = vla(n + 1);
	return r + buf[n];
}

__attribute__((noinline)) static int recurse(int n) {
	RECORD(4);
	if (n > 0)
		return recurse(n - 1) + 1;
	return big(n + 8) + 1;
}

__attribute__((noinline)) int top(int n) {
	RECORD(5);
	return recurse(0) + n;
}

int main(int argc, char **argv) {
	stack_end = (uintptr_t)argv & ~(uintptr_t)7;
	return top(argc) == 12345;
}
