// Functions with cleanups and handlers: their encodings name a
// personality routine and an LSDA.
struct S { ~S(); };
void g();
int cleanup() { S s; g(); return 1; }
int handler() { try { g(); } catch (...) { return 2; } return 0; }
int both(int n) { S s; try { g(); } catch (int) { return n; } return 0; }
int plain(int n) { return n + 5; }
