#include "util.h"

static inline long clamp(long v, long lo, long hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return v;
}

long sum_table(const long *t, int n)
{
	long s = 0;
	for (int i = 0; i < n; i++)
		s += clamp(t[i], -1000, 1000);
	return s;
}

static void swap(long *a, long *b)
{
	long t = *a;
	*a = *b;
	*b = t;
}

void sort_longs(long *t, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && t[j - 1] > t[j]; j--)
			swap(&t[j - 1], &t[j]);
}
