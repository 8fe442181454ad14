/* What the C runtime would provide: images here link without one. The
 * stack probe is called before large allocations; tests never run the
 * code, so an empty one links and unwinds the same. */
int _fltused = 0;
#ifdef _WIN64
void __chkstk(void) {}
#else
void _chkstk(void) {}
void _alloca_probe(void) {}
#endif
