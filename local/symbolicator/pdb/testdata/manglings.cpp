// Declarations whose MSVC manglings exercise the demangler: operators,
// structors, conversions, templates with every kind of argument, pointers
// to functions and members, references, arrays, qualifiers, anonymous
// namespaces, nested classes and local entities.
typedef decltype(nullptr) nullptr_t;
namespace outer {
namespace inner {
struct Vec3 { float x, y, z; };
enum Color { Red, Green };
enum class Mode : short { A, B };
union U { int i; float f; };
class Widget {
 public:
  Widget();
  Widget(const Widget &);
  Widget(Widget &&);
  ~Widget();
  Widget &operator=(const Widget &);
  bool operator==(const Widget &) const;
  bool operator!=(const Widget &) const;
  int operator[](unsigned long) const;
  int operator()(int, char) volatile;
  Widget &operator+=(int);
  Widget &operator<<(const char *);
  operator int() const;
  operator const char *() const;
  int get() const &;
  int take() &&;
  static Widget *make(const Vec3 &, Color, Mode);
  virtual void draw(U *, unsigned char, signed char, wchar_t, char16_t, char32_t);
  int member;
  int method(int);
 protected:
  void prot(long double, double, float, bool);
 private:
  void priv(long long, unsigned long long, short, unsigned short);
  struct Nested { void run(int (*)[4], int (&)[2][3]); };
};
template <typename T, int N> struct Array { T items[N]; T *begin(); const T &at(int) const; };
template <typename... Ts> int pack(Ts...);
template <typename T> T identity(T);
template <auto V> int value();
int callback(int (*)(int, char *), void (*)(void), int (Widget::*)(int), int Widget::*);
int varargs(const char *, ...);
int ptrs(int *const, const int *, volatile int *, const volatile int *, int **, int *&, int *&&);
int nulls(nullptr_t, void *);
}  // namespace inner
}  // namespace outer
namespace {
int hidden(int x) { return x + 1; }
}
struct Global { static int count; int f(); };
extern "C" int use_c(int);

using namespace outer::inner;
void use_all() {
  Widget w, w2(w), w3(static_cast<Widget &&>(w2));
  w = w3; (void)(w == w3); (void)(w != w3); (void)w[1ul];
  volatile Widget &vw = w; vw(1, 'c'); w += 2; w << "x";
  (void)(int)w; (void)(const char *)w; (void)w.get(); (void)static_cast<Widget &&>(w).take();
  Widget::make(Vec3{}, Red, Mode::B); w.draw(nullptr, 0, 0, 0, 0, 0); w.method(1);
  Array<Vec3, 4> a; a.begin(); a.at(1); Array<char *, 2> b; b.begin();
  pack(1, 'c', 2.0); pack(); identity<Widget *>(&w); identity<const Vec3 &>(Vec3{}); value<5>(); value<'c'>();
  callback(nullptr, nullptr, &Widget::method, &Widget::member);
  varargs("x", 1, 2); int i = 0; int *p = &i;
  ptrs(p, p, p, p, &p, p, static_cast<int *&&>(p)); nulls(nullptr, p);
  hidden(1); Global g; g.f(); (void)Global::count; use_c(1);
}
