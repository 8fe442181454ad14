__declspec(dllexport) __declspec(noinline) int crash_here(volatile int *p) { return *p + 1; }
__declspec(dllexport) int main(void) { return crash_here((volatile int *)0) * 3; }
