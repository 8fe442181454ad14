/* Functions with varied frame shapes, for comparing unwind tables with
 * llvm-dwarfdump. No system headers, so that every target compiles it. */
int printf(const char *, ...);
void abort(void) __attribute__((noreturn));
void *memset(void *, int, unsigned long);

typedef __builtin_va_list va_list;

volatile int sink;

__attribute__((noinline)) int leaf(int x) { return x * 3 + 1; }

__attribute__((noinline)) int recurse(int n) {
	if (n <= 1)
		return 1;
	return n * recurse(n - 1) + leaf(n);
}

/* A variable-length array forces a frame pointer. */
__attribute__((noinline)) int vla(int n) {
	int a[n];
	for (int i = 0; i < n; i++)
		a[i] = leaf(i);
	int s = 0;
	for (int i = 0; i < n; i++)
		s += a[i];
	return s;
}

__attribute__((noinline)) int alloca_user(int n) {
	char *p = __builtin_alloca(n + 16);
	memset(p, n, n + 16);
	return p[n] + leaf(p[0]);
}

/* Keeps many values live across calls: every callee-saved register. */
__attribute__((noinline)) long pressure(long a, long b, long c, long d, long e, long f) {
	long x1 = leaf(a), x2 = leaf(b), x3 = leaf(c), x4 = leaf(d), x5 = leaf(e), x6 = leaf(f);
	long y1 = leaf(x1 + x2), y2 = leaf(x3 + x4), y3 = leaf(x5 + x6);
	return x1 * y1 + x2 * y2 + x3 * y3 + x4 * x5 * x6 + leaf(y1 + y2 + y3) + a + b + c + d + e + f;
}

__attribute__((noinline)) int big_frame(int n) {
	char buf[70000];
	memset(buf, n, sizeof buf);
	return buf[n % sizeof buf] + leaf(buf[1]);
}

/* Several returns: GCC saves and restores the CFI state around epilogues. */
__attribute__((noinline)) int early_exits(int n, int *p) {
	if (n == 0)
		return leaf(1);
	int r = leaf(n) + leaf(n + 1);
	if (r > 100) {
		sink = r;
		return r + leaf(p[0]);
	}
	if (p[1] < 0)
		return -1;
	for (int i = 0; i < n; i++)
		r += leaf(p[i & 3]);
	return r;
}

__attribute__((noinline)) int sum(int n, ...) {
	va_list ap;
	__builtin_va_start(ap, n);
	int s = 0;
	for (int i = 0; i < n; i++)
		s += __builtin_va_arg(ap, int);
	__builtin_va_end(ap);
	return s + leaf(s);
}

struct big {
	long a[8];
};

__attribute__((noinline)) struct big make_big(int n) {
	struct big b;
	for (int i = 0; i < 8; i++)
		b.a[i] = leaf(n + i);
	return b;
}

__attribute__((noinline)) int tail(int n) { return recurse(n + 1); }

__attribute__((noinline)) int dispatch(int k, int v) {
	switch (k) {
	case 0: return leaf(v);
	case 1: return recurse(v);
	case 2: return vla(v);
	case 3: return tail(v);
	case 4: return sum(3, v, v, v);
	case 5: return early_exits(v, &k);
	case 6: return make_big(v).a[3];
	default: return k;
	}
}

__attribute__((noinline, noreturn)) void die(int code) {
	printf("fatal %d\n", code);
	abort();
}

__attribute__((cold, noinline)) int cold_path(int x) { return leaf(x) - 7; }

__attribute__((noinline)) int checked(int x) {
	if (__builtin_expect(x < 0, 0)) {
		sink = cold_path(x);
		die(x);
	}
	return leaf(x) + sink;
}

int (*const table[])(int) = {leaf, recurse, vla, alloca_user, big_frame, tail, checked};

int main(int argc, char **argv) {
	int s = 0;
	for (int i = 0; i < 7; i++)
		s += table[i](argc + i);
	s += (int)pressure(argc, 2, 3, 4, 5, 6);
	for (int k = 0; k < 8; k++)
		s += dispatch(k, argc + 2);
	printf("%d %s\n", s, argv[0]);
	return s == 42;
}
