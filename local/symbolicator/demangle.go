package symbolicator

import (
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// demangleName demangles an Itanium C++ or Rust symbol the way Symbolicator
// shows function names: with parameters, without the return type that
// manglings of template functions carry. It returns "" when name is not a
// mangled name it understands.
func demangleName(name string) string {
	if len(name) > 4096 {
		return ""
	}
	if !strings.HasPrefix(name, "_Z") && !strings.HasPrefix(name, "__Z") && !strings.HasPrefix(name, "_R") {
		return ""
	}
	defer func() { _ = recover() }()
	n := strings.TrimPrefix(name, "_") // Mach-O adds a leading underscore.
	if !strings.HasPrefix(n, "_Z") && !strings.HasPrefix(n, "_R") {
		n = name
	}
	if strings.HasPrefix(n, "_Z") {
		if ast, err := demangle.ToAST(n, demangle.NoClones); err == nil {
			if t, ok := ast.(*demangle.Typed); ok {
				if ft, ok := t.Type.(*demangle.FunctionType); ok && ft.Return != nil {
					ft.Return = nil
				}
			}
			return demangle.ASTToString(ast, demangle.NoClones)
		}
	}
	s, err := demangle.ToString(n, demangle.NoClones)
	if err != nil {
		return ""
	}
	return s
}
