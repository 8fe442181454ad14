/* A signal handler that prints what unwinding through glibc's signal
 * trampoline (__restore_rt) must recover: the interrupted registers the
 * kernel saved, the trampoline's address and stack pointer, and the stack
 * above it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <ucontext.h>

static const char *names[] = {"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi",
			      "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip"};

__attribute__((noinline)) static void handler(int sig, siginfo_t *si, void *ctx) {
	(void)sig;
	(void)si;
	const greg_t *g = ((ucontext_t *)ctx)->uc_mcontext.gregs;
	for (int i = 0; i <= REG_RIP; i++)
		printf("reg %s %#llx\n", names[i], (unsigned long long)g[i]);
	void *ret = __builtin_return_address(0);
	Dl_info info;
	if (!dladdr(ret, &info))
		return;
	/* Built with a frame pointer: the return address is at rbp+8, so the
	 * trampoline runs with rsp = rbp+16. */
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0) + 16;
	printf("module %s\nbase %#llx\nret %#llx\nsp %#llx\n", info.dli_fname, (unsigned long long)(uintptr_t)info.dli_fbase,
	       (unsigned long long)(uintptr_t)ret, (unsigned long long)sp);
	for (uintptr_t a = sp; a < sp + 2048; a += 8)
		printf("mem %#llx %#llx\n", (unsigned long long)a, (unsigned long long)*(uint64_t *)a);
}

int main(void) {
	struct sigaction sa = {0};
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	return 0;
}
