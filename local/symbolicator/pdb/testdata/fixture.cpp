// Source of the fixture PDBs (testdata/fixture-*.pdb, rebuilt with
// go test -run TestFixtures -update-fixtures).
extern "C" int _fltused = 0;
namespace fx {
struct Point { int x, y; __attribute__((noinline)) int sum() const { return x + y; } };
template <typename T> inline __attribute__((always_inline)) T twice(T v) { return v + v; }
static inline __attribute__((always_inline)) int helper(int v) { return twice(v) * 3; }
__attribute__((noinline)) int compute(const Point &p, int n) {
  int r = 0;
  for (int i = 0; i < n; i++) r += helper(p.sum() + i);
  return r;
}
}  // namespace fx
extern "C" __attribute__((noinline)) int plain(int a) { return a * 7; }
static volatile int sink;
int main() {
  fx::Point p{1, 2};
  sink = fx::compute(p, sink) + plain(sink);
  return 0;
}
