/* crashy: the sample program whose crash `make run` symbolicates.
 * Built with `make sample-debug-file` (gcc -O2 -g); the binary is shipped so
 * that the sample event's addresses stay valid whatever compiler a machine has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config {
	const char *name;
	int *limits;
};

static inline int checked_limit(const struct config *cfg, int i)
{
	return cfg->limits[i] * 2; /* cfg->limits is NULL: the crash */
}

__attribute__((noinline)) int parse_limits(const struct config *cfg, int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += checked_limit(cfg, i);
	return total;
}

__attribute__((noinline)) int load_config(const char *name)
{
	struct config cfg = { name, NULL };
	int n = (int)strlen(name);
	return parse_limits(&cfg, n);
}

__attribute__((noinline)) int run(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "default.conf";
	int r = load_config(name);
	printf("%d\n", r);
	return r;
}

int main(int argc, char **argv)
{
	return run(argc, argv) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
