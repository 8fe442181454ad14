package objfile

import (
	"regexp"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// cloneSuffix matches the suffixes GCC and LLVM give to specialised or
// split copies of a function.
var cloneSuffix = regexp.MustCompile(`(\.(constprop|isra|part|cold|lto_priv|localalias|llvm|specialized)(\.[0-9]+)*)+$`)

// demangleName returns the display name of a raw symbol: C++ and Rust names
// demangled in LLVM's style with parameters but without a return type, and
// clone suffixes dropped. Other names are returned as they are (minus clone
// suffixes).
func demangleName(sym string) string {
	base := sym
	if strings.IndexByte(sym, '.') >= 0 {
		base = cloneSuffix.ReplaceAllString(sym, "")
	}
	if strings.HasPrefix(base, "_R") { // Rust v0: no parameters or return type in the mangling
		if s, err := demangle.ToString(base); err == nil {
			return s
		}
		return sym
	}
	if !strings.HasPrefix(base, "_Z") {
		return base
	}
	ast, err := demangle.ToAST(base, demangle.NoClones)
	if err != nil {
		return sym
	}
	if t, ok := ast.(*demangle.Typed); ok {
		if ft, ok := t.Type.(*demangle.FunctionType); ok && ft.Return != nil {
			c := *ft
			c.Return = nil
			ast = &demangle.Typed{Name: t.Name, Type: &c}
		}
	}
	return demangle.ASTToString(ast)
}
