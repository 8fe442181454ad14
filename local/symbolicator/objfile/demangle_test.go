package objfile

import "testing"

func TestDemangleName(t *testing.T) {
	tests := []struct{ sym, function string }{
		{"_ZN2ns3fooEi", "ns::foo(int)"},
		// Template functions carry their return type in the mangling; the
		// display name drops it.
		{"_ZN2ns3fooIiEET_S1_", "ns::foo<int>(int)"},
		{"_ZN3foo3barEv.cold", "foo::bar()"},
		{"_ZL5clampiii.constprop.0.isra.0", "clamp(int, int, int)"},
		{"_ZNK3geo12_GLOBAL__N_16Circle4areaEv", "geo::(anonymous namespace)::Circle::area() const"},
		{"fold.part.0", "fold"},
		{"main", "main"},
		{"main.(*counter).add", "main.(*counter).add"},
		// Legacy Rust symbols demangle like C++ (the hash stays, as in
		// llvm-symbolizer); v0 symbols through the Rust demangler.
		{"_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write::h0123456789abcdef"},
		{"_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example"},
		{"_Znot-a-mangling", "_Znot-a-mangling"},
	}
	for _, tt := range tests {
		if got := demangleName(tt.sym); got != tt.function {
			t.Errorf("demangleName(%q) = %q, want %q", tt.sym, got, tt.function)
		}
	}
}
