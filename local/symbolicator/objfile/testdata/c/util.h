#ifndef SYMFLOW_UTIL_H
#define SYMFLOW_UTIL_H

#include <stddef.h>

/* Header-defined inline helpers: their code is inlined into callers in
   several translation units, so call sites name this header. */
static inline unsigned mix(unsigned h, unsigned v)
{
	h ^= v;
	h *= 16777619u;
	return h;
}

static inline unsigned hash_bytes(const char *s, size_t n)
{
	unsigned h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = mix(h, (unsigned char)s[i]);
	return h;
}

unsigned checksum(const char *s);
long fib(int n);
long sum_table(const long *t, int n);
void sort_longs(long *t, int n);

#endif
