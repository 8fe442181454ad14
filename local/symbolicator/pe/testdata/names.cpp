// C++ exports: mangled names in the export table.
namespace shapes {
struct Point { int x, y; };
__declspec(dllexport) int area(const Point &a, const Point &b) { return (b.x - a.x) * (b.y - a.y); }
__declspec(dllexport) int area(int w, int h) { return w * h; }
}
extern "C" __declspec(dllexport) int plain_c(int v) { return v + 1; }
