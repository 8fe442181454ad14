package crashtest

import (
	"strings"
	"syscall"
	"testing"
)

// Lang is a scenario's source language.
type Lang string

// The languages.
const (
	C   Lang = "c"
	CXX Lang = "c++"
)

// Scenario is a program that crashes in a known way.
type Scenario struct {
	Name string
	Lang Lang
	// Compiler is "gcc" or "clang" (g++ or clang++ for C++). arm64 builds
	// use aarch64-linux-gnu-gcc for gcc, clang --target=aarch64-linux-gnu
	// for clang, and clang for C++ (no arm64 C++ library is installed, so
	// arm64 C++ scenarios use no library: -fno-exceptions -fno-rtti).
	Compiler string
	Flags    []string // optimization and frame-pointer flags; -g is always added
	Source   string   // the program
	// Library, if set, is the source of libcrash.so, which the program
	// links (x86_64 only).
	Library string
	Threads bool   // link with -pthread
	Arches  []Arch // the CPUs it is built for

	// Signal is the signal the program dies of.
	Signal syscall.Signal
	// FaultAddr is si_addr for SIGSEGV: the address the program touches.
	FaultAddr uint64
	// FaultAtPC: si_addr is the faulting instruction (SIGFPE, SIGILL).
	FaultAtPC bool
	// CrashesIn is the program's own function that faults or calls abort.
	CrashesIn string
}

// Supports reports whether the scenario is built for arch.
func (s Scenario) Supports(arch Arch) bool { return slicesContains(s.Arches, arch) }

// program is the executable's name: short, since qemu puts it in the
// guest core's name.
func (s Scenario) program() string { return "crash" }

// compiler returns the compiler command and the flags its CPU needs.
func (s Scenario) compiler(t testing.TB, arch Arch) (cmd []string, flags []string) {
	t.Helper()
	clang := s.Compiler == "clang"
	if arch == ARM64 {
		switch {
		case s.Lang == CXX:
			return []string{Lookup(t, "clang"), "--target=aarch64-linux-gnu", "-x", "c++", "-fno-exceptions", "-fno-rtti"}, []string{"-static"}
		case clang:
			return []string{Lookup(t, "clang"), "--target=aarch64-linux-gnu"}, []string{"-static"}
		}
		return []string{Lookup(t, "aarch64-linux-gnu-gcc")}, []string{"-static"}
	}
	switch {
	case s.Lang == CXX && clang:
		return []string{Lookup(t, "clang++")}, nil
	case s.Lang == CXX:
		return []string{Lookup(t, "g++")}, nil
	case clang:
		return []string{Lookup(t, "clang")}, nil
	}
	return []string{Lookup(t, "gcc")}, nil
}

// Scenarios is the catalogue: C and C++, gcc and clang, -O0 to -O2, with
// and without frame pointers, a crash inside a shared library, a crash in
// one of several threads, abort() and an uncaught C++ exception as well as
// SIGSEGV and SIGFPE.
func Scenarios() []Scenario {
	both := []Arch{AMD64, ARM64}
	x86 := []Arch{AMD64}
	var out []Scenario
	for _, v := range []struct {
		name, compiler string
		flags          []string
	}{
		{"gcc-O0", "gcc", []string{"-O0"}},
		{"gcc-O2", "gcc", []string{"-O2"}},
		{"gcc-O2-fp", "gcc", []string{"-O2", "-fno-omit-frame-pointer"}},
		{"clang-O0", "clang", []string{"-O0"}},
		{"clang-O2-nofp", "clang", []string{"-O2", "-fomit-frame-pointer"}},
	} {
		out = append(out, Scenario{
			Name: "c-null-" + v.name, Lang: C, Compiler: v.compiler, Flags: v.flags,
			Source: nullDerefSource, Arches: both,
			Signal: syscall.SIGSEGV, FaultAddr: 0, CrashesIn: "sum_list",
		})
	}
	out = append(out,
		Scenario{
			Name: "c-fault-addr-gcc-O1", Lang: C, Compiler: "gcc", Flags: []string{"-O1"},
			Source: faultAddrSource, Arches: both,
			Signal: syscall.SIGSEGV, FaultAddr: 0x40, CrashesIn: "store",
		},
		Scenario{
			Name: "c-abort-gcc-O2", Lang: C, Compiler: "gcc", Flags: []string{"-O2"},
			Source: abortSource, Arches: both,
			Signal: syscall.SIGABRT, CrashesIn: "check",
		},
		Scenario{
			Name: "c-abort-clang-O0", Lang: C, Compiler: "clang", Flags: []string{"-O0"},
			Source: abortSource, Arches: both,
			Signal: syscall.SIGABRT, CrashesIn: "check",
		},
		Scenario{
			Name: "c-threads-gcc-O2", Lang: C, Compiler: "gcc", Flags: []string{"-O2"},
			Source: threadsSource, Threads: true, Arches: both,
			Signal: syscall.SIGSEGV, FaultAddr: 8, CrashesIn: "lookup",
		},
		Scenario{
			Name: "c-threads-clang-O0", Lang: C, Compiler: "clang", Flags: []string{"-O0", "-fno-omit-frame-pointer"},
			Source: threadsSource, Threads: true, Arches: both,
			Signal: syscall.SIGSEGV, FaultAddr: 8, CrashesIn: "lookup",
		},
		Scenario{
			Name: "c-shared-lib-gcc-O2-nofp", Lang: C, Compiler: "gcc", Flags: []string{"-O2", "-fomit-frame-pointer"},
			Source: sharedMainSource, Library: sharedLibSource, Arches: x86,
			Signal: syscall.SIGSEGV, FaultAddr: 0x10, CrashesIn: "lib_read",
		},
		Scenario{
			Name: "c-shared-lib-clang-O0", Lang: C, Compiler: "clang", Flags: []string{"-O0"},
			Source: sharedMainSource, Library: sharedLibSource, Arches: x86,
			Signal: syscall.SIGSEGV, FaultAddr: 0x10, CrashesIn: "lib_read",
		},
		Scenario{
			Name: "c-fpe-gcc-O0", Lang: C, Compiler: "gcc", Flags: []string{"-O0"},
			Source: fpeSource, Arches: x86, // arm64 integer division by zero does not trap
			Signal: syscall.SIGFPE, FaultAtPC: true, CrashesIn: "ratio",
		},
		Scenario{
			Name: "cxx-virtual-clang-O2", Lang: CXX, Compiler: "clang", Flags: []string{"-O2"},
			Source: virtualSource, Arches: both,
			Signal: syscall.SIGSEGV, FaultAddr: 0, CrashesIn: "shapes::Shape::area",
		},
		Scenario{
			Name: "cxx-virtual-gcc-O0", Lang: CXX, Compiler: "gcc", Flags: []string{"-O0"},
			Source: virtualSource, Arches: x86,
			Signal: syscall.SIGSEGV, FaultAddr: 0, CrashesIn: "shapes::Shape::area",
		},
		Scenario{
			Name: "cxx-uncaught-gcc-O0", Lang: CXX, Compiler: "gcc", Flags: []string{"-O0"},
			Source: uncaughtSource, Arches: x86,
			Signal: syscall.SIGABRT, CrashesIn: "config::Parser::parse",
		},
		Scenario{
			Name: "cxx-uncaught-clang-O2-nofp", Lang: CXX, Compiler: "clang", Flags: []string{"-O2", "-fomit-frame-pointer"},
			Source: uncaughtSource, Arches: x86,
			Signal: syscall.SIGABRT, CrashesIn: "config::Parser::parse",
		},
	)
	return out
}

// OwnFile reports whether a source file a debugger names is one of the
// scenario's own (main.c, main.cc, lib.c).
func (s Scenario) OwnFile(file string) bool {
	base := file[strings.LastIndexByte(file, '/')+1:]
	return strings.HasPrefix(base, "main.") || (s.Library != "" && strings.HasPrefix(base, "lib."))
}

const nullDerefSource = `#include <stdio.h>
#include <stddef.h>

struct node {
	int value;
	struct node *next;
};

/* Reads one node too many: the third is NULL. */
__attribute__((noinline)) int sum_list(const struct node *n)
{
	int total = 0;
	for (int i = 0; i < 3; i++) {
		total += n->value;
		n = n->next;
	}
	return total;
}

__attribute__((noinline)) int build_and_sum(int v)
{
	struct node b = { v + 1, NULL };
	struct node a = { v, &b };
	return sum_list(&a);
}

__attribute__((noinline)) int run(int argc)
{
	int r = build_and_sum(argc);
	printf("%d\n", r);
	return r;
}

int main(int argc, char **argv)
{
	(void)argv;
	return run(argc) == 0;
}
`

const faultAddrSource = `#include <stdint.h>

typedef void (*store_fn)(int *slot, int v);

__attribute__((noinline)) void store(int *slot, int v)
{
	*slot = v; /* slot is 0x40 */
}

__attribute__((noinline)) void apply(store_fn f, uintptr_t base, int v)
{
	f((int *)base + 16, v);
}

int main(int argc, char **argv)
{
	store_fn volatile f = store;
	(void)argv;
	apply(f, 0, argc);
	return 0;
}
`

const abortSource = `#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "check failed: %s\n", what);
		abort();
	}
}

__attribute__((noinline)) int validate(int n)
{
	check(n > 100, "n > 100");
	return n;
}

int main(int argc, char **argv)
{
	(void)argv;
	return validate(argc) == 0;
}
`

const threadsSource = `#include <pthread.h>
#include <stddef.h>
#include <unistd.h>

static pthread_barrier_t started;
static const int table[4] = { 1, 2, 3, 4 };

struct job {
	int id;
	const int *data;
};

/* Job 2 has no data: reads address 2 * sizeof(int). */
__attribute__((noinline)) int lookup(const struct job *j)
{
	return j->data[j->id];
}

__attribute__((noinline)) void park(void)
{
	for (;;)
		pause();
}

__attribute__((noinline)) void *worker(void *arg)
{
	const struct job *j = arg;
	pthread_barrier_wait(&started);
	if (j->data != NULL)
		park();
	usleep(100 * 1000); /* let the others park */
	return (void *)(long)lookup(j);
}

int main(void)
{
	struct job jobs[3] = { { 0, table }, { 1, table }, { 2, NULL } };
	pthread_t t[3];
	pthread_barrier_init(&started, NULL, 4);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, worker, &jobs[i]);
	pthread_barrier_wait(&started);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	return 0;
}
`

const sharedLibSource = `typedef int (*visit_fn)(const int *p);

__attribute__((noinline)) int lib_read(const int *p)
{
	return *p; /* p is 0x10 for the third item */
}

__attribute__((noinline)) int lib_walk(const int **items, int n, visit_fn visit)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += visit(items[i]);
	return total;
}
`

const sharedMainSource = `#include <stdint.h>

extern int lib_read(const int *p);
extern int lib_walk(const int **items, int n, int (*visit)(const int *));

__attribute__((noinline)) int visit_item(const int *p)
{
	return lib_read(p) + 1;
}

int main(int argc, char **argv)
{
	static const int a = 1, b = 2;
	const int *items[] = { &a, &b, (const int *)(uintptr_t)0x10 };
	(void)argv;
	return lib_walk(items, 3, visit_item) + argc;
}
`

const fpeSource = `__attribute__((noinline)) int ratio(int a, int b)
{
	return a / b; /* b is 0 */
}

__attribute__((noinline)) int average(const int *v, int n, int count)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += v[i];
	return ratio(s, count);
}

int main(int argc, char **argv)
{
	int v[] = { 1, 2, 3 };
	(void)argv;
	return average(v, 3, argc - 1);
}
`

// virtualSource uses no C++ library, so that it builds for arm64 too.
const virtualSource = `namespace shapes {

struct Shape {
	int sides;
	explicit Shape(int s) : sides(s) {}
	virtual int area(const int *scale) const { return sides * *scale; }
};

struct Square : Shape {
	Square() : Shape(4) {}
	int area(const int *scale) const override { return sides * sides * *scale; }
};

template <typename T>
__attribute__((noinline)) int total_area(const T *const *items, int n, const int *scale)
{
	int sum = 0;
	for (int i = 0; i < n; i++)
		sum += items[i]->area(scale);
	return sum;
}

} // namespace shapes

__attribute__((noinline)) int measure(const int *scale)
{
	shapes::Shape tri(3);
	shapes::Square sq;
	const shapes::Shape *items[] = { &tri, &sq };
	return shapes::total_area(items, 2, scale);
}

int main(int argc, char **)
{
	const int *volatile scale = nullptr;
	return measure(scale) + argc;
}
`

const uncaughtSource = `#include <stdexcept>
#include <string>
#include <utility>

namespace config {

class Parser {
public:
	explicit Parser(std::string text) : text_(std::move(text)) {}
	__attribute__((noinline)) int parse() const
	{
		if (text_.empty())
			throw std::runtime_error("empty configuration");
		return static_cast<int>(text_.size());
	}

private:
	std::string text_;
};

} // namespace config

__attribute__((noinline)) int load(const char *text)
{
	config::Parser p(text);
	return p.parse();
}

int main(int argc, char **)
{
	return load(argc > 5 ? "x" : "");
}
`
