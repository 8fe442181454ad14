#pragma once
#include <string>
#include <vector>

namespace geo {

struct Point {
	double x, y;
};

class Shape {
public:
	virtual ~Shape() = default;
	virtual double area() const = 0;
	virtual std::string name() const = 0;
};

template <typename T>
T accumulate(const std::vector<T> &v)
{
	T s{};
	for (const T &x : v)
		s += x;
	return s;
}

namespace detail {
inline double square(double v) { return v * v; }
} // namespace detail

std::vector<Shape *> make_shapes(int n);
double total_area(const std::vector<Shape *> &shapes);

} // namespace geo
