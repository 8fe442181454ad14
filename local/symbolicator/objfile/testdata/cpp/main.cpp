#include <cstdio>
#include <cstdlib>
#include <map>
#include "shapes.h"

namespace app {

template <typename K, typename V>
class Counter {
public:
	void add(const K &k, V v) { counts_[k] += v; }
	V get(const K &k) const
	{
		auto it = counts_.find(k);
		return it == counts_.end() ? V{} : it->second;
	}

private:
	std::map<K, V> counts_;
};

static int scale(int v)
{
	return v * 3 + 1;
}

int run(int n)
{
	Counter<std::string, int> c;
	auto shapes = geo::make_shapes(n);
	for (auto *s : shapes)
		c.add(s->name(), scale(static_cast<int>(s->area())));
	std::printf("area %.2f circles %d rects %d\n", geo::total_area(shapes), c.get("circle"), c.get("rect"));
	std::vector<long> v{1, 2, 3, n};
	int total = static_cast<int>(geo::accumulate(v));
	for (auto *s : shapes)
		delete s;
	return total;
}

} // namespace app

int main(int argc, char **argv)
{
	int n = argc > 1 ? std::atoi(argv[1]) : 6;
	return app::run(n) > 1000 ? 1 : 0;
}
