#include "shapes.h"

namespace geo {
namespace {

class Circle : public Shape {
public:
	explicit Circle(double r) : r_(r) {}
	double area() const override { return 3.14159 * detail::square(r_); }
	std::string name() const override { return "circle"; }

private:
	double r_;
};

class Rect : public Shape {
public:
	Rect(double w, double h) : w_(w), h_(h) {}
	double area() const override { return w_ * h_; }
	std::string name() const override { return "rect"; }

private:
	double w_, h_;
};

} // namespace

std::vector<Shape *> make_shapes(int n)
{
	std::vector<Shape *> out;
	for (int i = 0; i < n; i++) {
		if (i % 2)
			out.push_back(new Circle(i));
		else
			out.push_back(new Rect(i, i + 1));
	}
	return out;
}

double total_area(const std::vector<Shape *> &shapes)
{
	std::vector<double> areas;
	for (const Shape *s : shapes)
		areas.push_back(s->area());
	return accumulate(areas);
}

} // namespace geo
