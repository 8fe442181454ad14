package pdb

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// genProgram writes a freestanding C or C++ program (no headers, no
// runtime) whose shape depends on seed: namespaces, classes with const,
// static and virtual methods, class and function templates, chains of
// inline functions (some forced inline so that -O0 builds have inline
// sites too), extern "C", variadic and function-pointer parameters, and,
// for C on x86, __stdcall and __fastcall functions with decorated public
// names. Everything is reachable from main through volatile sinks so that
// the optimiser keeps it.
func genProgram(seed uint64, cpp bool) string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("/* generated program, seed %d */\n", seed)
	if cpp {
		p("extern \"C\" int _fltused = 0;\n")
	} else {
		p("int _fltused = 0;\n")
	}
	p("static volatile int sink;\n")
	var calls []string

	// Chains of inline helpers: chain k has depth d, h_k_0 calls h_k_1 ...
	chains := 2 + r.IntN(3)
	for k := 0; k < chains; k++ {
		depth := 2 + r.IntN(3)
		for d := depth - 1; d >= 0; d-- {
			attr := "static inline"
			if r.IntN(2) == 0 {
				attr = "static inline __attribute__((always_inline))"
			}
			p("%s int h_%d_%d(int x) {\n", attr, k, d)
			p("  int y = x * %d + %d;\n", 1+r.IntN(7), r.IntN(50))
			if d+1 < depth {
				p("  if (y & %d) y += h_%d_%d(y - %d);\n", 1+r.IntN(3), k, d+1, 1+r.IntN(5))
				p("  y ^= h_%d_%d(x + %d);\n", k, d+1, r.IntN(9))
			} else {
				p("  for (int i = 0; i < (x & 7); i++) y += i * %d;\n", 1+r.IntN(4))
			}
			p("  return y;\n}\n")
		}
		p("__attribute__((noinline)) int chain_%d(int x) { return h_%d_0(x) + h_%d_0(x >> 1); }\n", k, k, k)
		calls = append(calls, fmt.Sprintf("chain_%d(%d)", k, r.IntN(100)))
	}

	if cpp {
		nss := 1 + r.IntN(3)
		for n := 0; n < nss; n++ {
			p("namespace ns%d {\n", n)
			if r.IntN(2) == 0 {
				p("namespace inner {\n")
			}
			p("struct S%d {\n  int a; long b;\n", n)
			p("  __attribute__((noinline)) int get(int x) const { return a * x + (int)b; }\n")
			p("  __attribute__((noinline)) static int stat(const char *p, int n) { return p[0] + n; }\n")
			p("  __attribute__((noinline)) virtual int virt(unsigned long long v, short s) { return (int)(v >> 3) + s + a; }\n")
			p("  inline int small(int x) { return a + x * %d; }\n", 2+r.IntN(5))
			p("  __attribute__((noinline)) int both(int x) { return small(x) + small(x + 1); }\n")
			p("  __attribute__((noinline)) S%d &self(S%d *&&other, const S%d &ref) { return other ? *other : *this; }\n", n, n, n)
			p("};\n")
			p("enum Kind%d { K%dA, K%dB };\n", n, n, n)
			p("__attribute__((noinline)) int shapes(int (*fp)(int), const char *const *pp, S%d &&r, volatile unsigned short *v, bool b, wchar_t w, signed char sc, unsigned char uc, Kind%d k, double d, float fl) { return fp(1) + **pp + r.a + *v + b + w + sc + uc + k + (int)d + (int)fl; }\n", n, n)
			p("template <typename T> struct Box { T v; __attribute__((noinline)) T twice(T k) const { return v + v + k; } };\n")
			p("template <typename T> inline T tmax(T a, T b) { return a > b ? a : b; }\n")
			p("template <typename T, int N> __attribute__((noinline)) T scaled(T v) { return v * N; }\n")
			p("static __attribute__((noinline)) int local_fn(int (*fn)(int), int v) { return fn(v) + tmax(v, %d); }\n", r.IntN(20))
			p("__attribute__((noinline)) int run%d(int x) {\n", n)
			p("  S%d s; s.a = x; s.b = %d;\n", n, r.IntN(9))
			p("  S%d *ps = &s;\n", n)
			p("  Box<int> bi{x}; Box<char> bc{(char)x};\n")
			p("  int r = s.get(x) + S%d::stat(\"q\", x) + s.virt(x, 2) + s.both(x) + s.self((S%d *&&)ps, s).a;\n", n, n)
			p("  r += bi.twice(3) + bc.twice(1) + scaled<int, %d>(x) + (int)scaled<long, 3>(x) + tmax(r, x);\n", 2+r.IntN(5))
			p("  r += local_fn(chain_0, x) + tmax<long long>(x, 9);\n")
			p("  const char *pc = \"p\"; volatile unsigned short vs = 3;\n")
			p("  r += shapes(chain_0, &pc, (S%d &&)s, &vs, true, L'w', -1, 2, K%dB, 1.5, 2.5f);\n", n, n)
			p("  return r;\n}\n")
			if strings.Contains(b.String(), fmt.Sprintf("namespace ns%d {\nnamespace inner", n)) {
				p("} // inner\n")
				calls = append(calls, fmt.Sprintf("ns%d::inner::run%d(%d)", n, n, r.IntN(50)))
			} else {
				calls = append(calls, fmt.Sprintf("ns%d::run%d(%d)", n, n, r.IntN(50)))
			}
			p("}\n")
		}
		p("namespace {\n__attribute__((noinline)) int anon(double d) { return (int)(d * 2.5); }\n}\n")
		calls = append(calls, "anon(1.5)")
		p("extern \"C\" __attribute__((noinline)) int cvar(int n, ...) { return n; }\n")
		calls = append(calls, "cvar(2, 3, 4)")
	} else {
		p("struct pt { int x, y; };\n")
		p("static __attribute__((noinline)) int add(int a, int b) { return a + b; }\n")
		p("__attribute__((noinline)) int __stdcall std_fn(int a, struct pt *p) { return add(a, p->x) * 2; }\n")
		p("__attribute__((noinline)) int __fastcall fast_fn(int a, const char *s) { return a + s[0]; }\n")
		p("__attribute__((noinline)) int var_fn(int n, ...) { return n + 1; }\n")
		p("__attribute__((noinline)) int ptr_fn(int (*f)(int), int **pp, const volatile unsigned char *c) { return f(**pp) + *c; }\n")
		p("__attribute__((noinline)) double dbl(float f, double d) { return f * d; }\n")
		p("struct pt gp = {1, 2};\nint gi = 4; int *gpi = &gi;\nconst unsigned char gc = 7;\n")
		calls = append(calls, "std_fn(3, &gp)", "fast_fn(1, \"z\")", "var_fn(1, 2.0, 3)", "ptr_fn(chain_0, &gpi, &gc)", "(int)dbl(1.5f, 2.0)")
	}

	p("int main(void) {\n  int r = 0;\n")
	for _, c := range calls {
		p("  r += %s;\n", c)
	}
	p("  sink = r;\n  return 0;\n}\n")
	return b.String()
}
