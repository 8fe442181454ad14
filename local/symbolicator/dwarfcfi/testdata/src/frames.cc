// C++ with exceptions: CIEs with personality and LSDA augmentations
// ("zPLR"), landing pads and cleanups. No system headers.
extern "C" int printf(const char *, ...);

namespace shapes {

struct Error {
	int code;
};

struct Guard {
	int *p;
	explicit Guard(int *q) : p(q) { ++*p; }
	~Guard() { --*p; printf("release %d\n", *p); }
};

struct Base {
	virtual ~Base() {}
	virtual int value(int x) = 0;
};

struct Thrower : Base {
	int depth;
	explicit Thrower(int d) : depth(d) {}
	int value(int x) override {
		Guard g(&depth);
		if (x > depth)
			throw Error{x};
		return x * 2;
	}
};

template <typename T> __attribute__((noinline)) T twice(T v, Base &b) {
	Guard g(reinterpret_cast<int *>(&v));
	return static_cast<T>(b.value(static_cast<int>(v)) + b.value(1));
}

__attribute__((noinline)) int catcher(Base &b, int n) {
	int caught = 0;
	for (int i = 0; i < n; i++) {
		try {
			caught += twice<long>(i, b);
		} catch (const Error &e) {
			caught += e.code;
		} catch (...) {
			caught--;
		}
	}
	return caught;
}

__attribute__((noinline)) int nested(Base &b, int n) {
	int local = n;
	Guard g1(&local);
	try {
		Guard g2(&local);
		auto f = [&](int k) { return b.value(k + local); };
		return f(n) + f(n + 1);
	} catch (Error &e) {
		throw Error{e.code + 1};
	}
}

} // namespace shapes

int main(int argc, char **) {
	shapes::Thrower t(argc + 2);
	int r = shapes::catcher(t, 6);
	try {
		r += shapes::nested(t, argc + 5);
	} catch (const shapes::Error &e) {
		r += e.code;
	}
	printf("%d\n", r);
	return r == 7;
}
