/* Functions whose prologues cover the compact unwind encodings: frame
   records with and without saved registers, frameless functions with
   small and large stacks, and functions the compiler can only describe
   with DWARF (stack realignment, floating-point saves, variable arrays). */
int g(int);
double gd(double);
void use(volatile char *);

int leaf(int x) { return x * 3 + 1; }

int call1(int x) { return g(x) + 1; }

int saves2(int a, int b) { int x = g(a); return x + g(b + x) + a; }

int saves6(int a, int b, int c, int d, int e, int f) {
	int x = g(a); int y = g(b + x); int z = g(c + y); int w = g(d + z);
	return x + y + z + w + e + f + g(a + b + c + d + e + f);
}

int saves10(int a, int b, int c, int d, int e, int f, int h, int i, int j, int k) {
	int x = g(a); int y = g(b + x); int z = g(c + y); int w = g(d + z);
	int v = g(e + w); int u = g(f + v); int s = g(h + u);
	return x + y + z + w + v + u + s + a + b + c + d + e + f + h + i + j + k + g(i + j + k);
}

int small_stack(int n) { volatile char buf[64]; buf[n & 63] = 1; use(buf); return buf[3]; }

int mid_stack(int n) { volatile char buf[1500]; buf[n & 1023] = 1; use(buf); return buf[3]; }

int big_stack(int n) { volatile char buf[5000]; buf[n & 4095] = 1; use(buf); return buf[7]; }

int huge_stack(int n) { volatile char buf[300000]; buf[n & 65535] = 1; use(buf); return buf[9]; }

int big_saves(int a, int b, int c) {
	volatile char buf[8000]; int x = g(a); int y = g(b + x); buf[c & 4095] = (char)y; use(buf);
	return x + y + g(c + y) + buf[1];
}

int realign(int n) { __attribute__((aligned(64))) volatile char buf[128]; buf[n & 127] = 1; use(buf); return buf[0]; }

int vla(int n) { volatile char buf[n + 1]; buf[n] = 1; use(buf); return buf[0]; }

double floats(double a, double b) { double x = gd(a) * b; double y = gd(b) * a; return x * y + gd(x + y) * a * b; }

double floats_many(double a, double b, double c, double d) {
	double x = gd(a); double y = gd(b + x); double z = gd(c + y); double w = gd(d + z);
	double v = gd(a + w); double u = gd(b + v); double s = gd(c + u); double t = gd(d + s);
	return a + b + c + d + x + y + z + w + v + u + s + t + gd(x * y * z * w);
}

long mixed(long a, double b) { long x = g((int)a); double y = gd(b) + x; return x + (long)y + g((int)y); }
