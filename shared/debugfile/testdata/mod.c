__attribute__((noinline)) int wasm_helper(int x) { return x * 7 + 1; }
int wasm_entry(int y) { return wasm_helper(y) + wasm_helper(y + 1); }
