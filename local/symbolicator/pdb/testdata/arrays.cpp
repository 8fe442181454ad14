// Parameters whose types symbolic writes in its own way: arrays behind
// pointers and references, forward-declared classes, pointers to
// variadic function pointers.
struct Big { int a[5]; };
struct Fwd;
__attribute__((noinline)) int arrs(int (*p)[4], Big (*q)[3], const Fwd *f, int (&m)[2][3], void (**fpp)(int, ...)) { return (*p)[0] + (*q)[1].a[0] + m[1][2] + (f != 0); }
struct Fwd { double d; };
int main() { int a[4] = {1}; Big b[3] = {}; int m[2][3] = {}; return arrs(&a, &b, 0, m, 0); }
