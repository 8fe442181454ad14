#include <stdio.h>
#include <stdlib.h>
#include "util.h"

static int parse(const char *s)
{
	int v = atoi(s);
	return v < 0 ? -v : v;
}

static __attribute__((noinline)) void report(const char *label, long v)
{
	printf("%s=%ld (%u)\n", label, v, hash_bytes(label, 3));
}

int main(int argc, char **argv)
{
	long t[16];
	int n = argc > 1 ? parse(argv[1]) : 10;
	for (int i = 0; i < 16; i++)
		t[i] = (i * 7919L) % 1013 - 500 + n;
	sort_longs(t, 16);
	report("sum", sum_table(t, 16));
	report("fib", fib(n % 30));
	report("sum", checksum(argc > 2 ? argv[2] : "symflow"));
	return 0;
}
