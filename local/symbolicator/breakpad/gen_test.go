package breakpad

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genProgram writes a random multi-file C or C++ program into dir and
// returns its source files. The programs are made to exercise what .sym
// files describe: functions in several files, static inline helpers in a
// shared header (inlined across files, nested several levels deep), loops
// and branches that scatter line records, recursion, function pointers,
// and in C++ templates, classes, virtual calls, lambdas and std::vector.
func genProgram(t testing.TB, dir string, seed int64, cxx bool) []string {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	ext := ".c"
	if cxx {
		ext = ".cc"
	}
	nfiles := 2 + r.Intn(3)
	nfuncs := make([]int, nfiles)
	for i := range nfuncs {
		nfuncs[i] = 3 + r.Intn(4)
	}
	fname := func(file, fn int) string { return fmt.Sprintf("f%d_%d", file, fn) }

	var h strings.Builder
	h.WriteString("#pragma once\n")
	if cxx {
		h.WriteString("#include <cstddef>\n#include <vector>\n")
	}
	// A chain of inline helpers: inl0 is a leaf, inlK calls inl(K-1).
	ninl := 3 + r.Intn(4)
	for k := 0; k < ninl; k++ {
		fmt.Fprintf(&h, "static inline int inl%d(int x) {\n", k)
		fmt.Fprintf(&h, "  int y = x * %d + %d;\n", 2+r.Intn(7), r.Intn(100))
		if k > 0 {
			fmt.Fprintf(&h, "  if (y & %d)\n    y += inl%d(y >> 1);\n", 1+r.Intn(8), k-1)
			fmt.Fprintf(&h, "  y ^= inl%d(x + %d);\n", r.Intn(k), r.Intn(9))
		}
		h.WriteString("  return y;\n}\n")
	}
	if cxx {
		h.WriteString(`namespace gen {
template <typename T> struct Acc {
  T total{};
  std::vector<T> items;
  void add(T v) { items.push_back(v); total += v; }
  T pick(int i) const { return items.empty() ? T() : items[static_cast<std::size_t>(i) % items.size()]; }
};
template <typename T> static inline T twice(T v) { return v + v; }
template <typename T, int N> __attribute__((noinline)) T scaled(T v) { return v * N + twice(v); }
class Shape {
 public:
  virtual ~Shape() {}
  virtual int area(int k) const = 0;
};
class Rect : public Shape {
 public:
  explicit Rect(int w) : w_(w) {}
  int area(int k) const override { return w_ * k + inl0(k); }
 private:
  int w_;
};
}  // namespace gen
`)
	}
	for i := 0; i < nfiles; i++ {
		for j := 0; j < nfuncs[i]; j++ {
			fmt.Fprintf(&h, "int %s(int n);\n", fname(i, j))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "gen.h"), []byte(h.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	var sources []string
	for i := 0; i < nfiles; i++ {
		var b strings.Builder
		b.WriteString("#include \"gen.h\"\n")
		for j := 0; j < nfuncs[i]; j++ {
			attr := ""
			if r.Intn(3) > 0 {
				attr = "__attribute__((noinline)) "
			}
			fmt.Fprintf(&b, "%sint %s(int n) {\n  int s = %d;\n", attr, fname(i, j), r.Intn(50))
			for k, nst := 0, 2+r.Intn(5); k < nst; k++ {
				switch r.Intn(7) {
				case 0:
					fmt.Fprintf(&b, "  for (int i = 0; i < n; i++) {\n    s += inl%d(i + s);\n    if (s > %d) s -= %d;\n  }\n", r.Intn(ninl), 1000+r.Intn(5000), r.Intn(900))
				case 1:
					fmt.Fprintf(&b, "  if (n > %d)\n    s += inl%d(n);\n  else\n    s -= inl%d(s);\n", r.Intn(20), r.Intn(ninl), r.Intn(ninl))
				case 2:
					// Calls go only to functions defined earlier, or to
					// earlier files, so that the call graph has no cycles
					// except through the explicit recursion below.
					if j > 0 {
						fmt.Fprintf(&b, "  s += %s(n - 1);\n", fname(i, r.Intn(j)))
					} else if i > 0 {
						fmt.Fprintf(&b, "  s += %s(n / 2);\n", fname(r.Intn(i), 0))
					}
				case 3:
					fmt.Fprintf(&b, "  switch (n %% 4) {\n  case 0: s += inl%d(s); break;\n  case 1: s *= %d; break;\n  default: s ^= inl%d(n); break;\n  }\n", r.Intn(ninl), 2+r.Intn(5), r.Intn(ninl))
				case 4:
					fmt.Fprintf(&b, "  if (n > 1 && n < %d)\n    s += %s(n - 2);\n", 30+r.Intn(30), fname(i, j))
				case 5:
					if cxx {
						fmt.Fprintf(&b, "  {\n    gen::Acc<long> acc;\n    for (int i = 0; i < n %% 7; i++) acc.add(gen::twice<long>(i));\n    s += static_cast<int>(acc.pick(n) + gen::scaled<long, %d>(acc.total));\n  }\n", 2+r.Intn(5))
					} else {
						b.WriteString("  {\n    int v[8];\n    for (int i = 0; i < 8; i++) v[i] = inl0(i * n);\n    s += v[n & 7];\n  }\n")
					}
				case 6:
					if cxx {
						fmt.Fprintf(&b, "  {\n    gen::Rect rc(%d);\n    const gen::Shape &sh = rc;\n    auto f = [&](int k) { return sh.area(k) + inl%d(k); };\n    std::vector<int> m(static_cast<std::size_t>(n %% 5 + 1), f(n));\n    s += m.back();\n  }\n", 1+r.Intn(9), r.Intn(ninl))
					} else {
						fmt.Fprintf(&b, "  {\n    int (*fp)(int) = %s;\n    if (n > 100) s += fp(n - 100);\n  }\n", fname(i, j))
					}
				}
			}
			b.WriteString("  return s;\n}\n")
		}
		name := fmt.Sprintf("unit%d%s", i, ext)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		sources = append(sources, name)
	}
	var m strings.Builder
	m.WriteString("#include \"gen.h\"\n#include <stdio.h>\nint main(int argc, char **argv) {\n  (void)argv;\n  int s = 0;\n")
	for i := 0; i < nfiles; i++ {
		for j := 0; j < nfuncs[i]; j++ {
			fmt.Fprintf(&m, "  s += %s(argc + %d);\n", fname(i, j), r.Intn(10))
		}
	}
	m.WriteString("  printf(\"%d\\n\", s);\n  return 0;\n}\n")
	name := "main" + ext
	if err := os.WriteFile(filepath.Join(dir, name), []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(sources, name)
}
