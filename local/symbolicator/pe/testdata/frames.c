/* Functions with varied prologues, for the x64 unwind tests: small and
 * large frames (ALLOC_SMALL, ALLOC_LARGE with 16- and 32-bit sizes),
 * alloca (a frame register, SET_FPREG), many nonvolatile registers
 * (PUSH_NONVOL, SAVE_NONVOL), doubles live across calls (SAVE_XMM128),
 * tail calls (epilogues ending in jmp) and exports. */
typedef unsigned long long u64;

__declspec(noinline) int sink(volatile char *p, int n) { return p[n & 7] + n; }
__declspec(noinline) double dsink(double x) { return x * 1.5; }

__declspec(dllexport) int leaf_add(int a, int b) { return a + b; }

__declspec(dllexport) int small_frame(int n) {
	volatile char buf[24];
	buf[n & 7] = (char)n;
	return sink(buf, n) + 1;
}

__declspec(dllexport) int medium_frame(int n) {
	volatile char buf[70000];
	buf[n % 70000] = 1;
	return sink(buf, n) + buf[n / 2];
}

__declspec(dllexport) int huge_frame(int n) {
	volatile char buf[600000];
	buf[n % 600000] = 2;
	return sink(buf + 100, n) + buf[n / 3];
}

__declspec(dllexport) int dynamic_frame(int n) {
	volatile char *p = __builtin_alloca(n + 16);
	p[0] = (char)n;
	return sink(p, n) + p[n];
}

__declspec(dllexport) u64 many_regs(u64 a, u64 b, u64 c, u64 d) {
	u64 x1 = a * 3, x2 = b * 5, x3 = c * 7, x4 = d * 11, x5 = a ^ b, x6 = c ^ d, x7 = a + d, x8 = b + c;
	volatile char buf[40];
	int r = sink(buf, (int)a);
	r += sink(buf, (int)(x1 + x2));
	return x1 + x2 * x3 + x4 * x5 + x6 * x7 + x8 + r + sink(buf, (int)(x3 ^ x8));
}

__declspec(dllexport) double float_regs(double a, double b, double c) {
	double x = dsink(a), y = dsink(b), z = dsink(c);
	double w = dsink(x + y);
	return x * y + z * w + a * b * c + dsink(w * z);
}

__declspec(dllexport) int tail(int n) {
	if (n > 100)
		return small_frame(n - 1);
	return medium_frame(n + 1);
}

__declspec(dllexport) int recurse(int n) {
	volatile char buf[32];
	buf[0] = (char)n;
	if (n <= 0)
		return sink(buf, 0);
	return recurse(n - 1) + sink(buf, n);
}

__declspec(dllexport) int mixed(int n, double d) {
	volatile char *p = __builtin_alloca(n + 8);
	double x = dsink(d);
	p[0] = (char)x;
	double y = dsink(x + n);
	return sink(p, n) + (int)(x * y);
}

/* Exported by ordinal only (the link gives /export:ordinal_only,@40,NONAME). */
int ordinal_only(int x) { return x ^ 0x5a; }

int main(void) {
	return leaf_add(1, 2) + small_frame(3) + medium_frame(4) + huge_frame(5) + dynamic_frame(6) +
	       (int)many_regs(1, 2, 3, 4) + (int)float_regs(1, 2, 3) + tail(7) + recurse(3) + mixed(2, 1.0) + ordinal_only(9);
}
