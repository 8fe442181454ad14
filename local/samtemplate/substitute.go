package samtemplate

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// UnknownPlaceholderError names the ${...} placeholders of a definition
// that have no substitution, in order of first appearance.
type UnknownPlaceholderError struct {
	Names []string
}

func (e *UnknownPlaceholderError) Error() string {
	quoted := make([]string, len(e.Names))
	for i, n := range e.Names {
		quoted[i] = "${" + n + "}"
	}
	return fmt.Sprintf("state machine definition uses %s with no DefinitionSubstitutions entry", strings.Join(quoted, ", "))
}

// Substitute replaces every ${Name} in def by subs[Name], as CloudFormation
// does with DefinitionSubstitutions; ${!Text} stands for the literal
// ${Text}. Every placeholder without a substitution is reported in one
// *UnknownPlaceholderError. def is not changed.
func Substitute(def []byte, subs map[string]string) ([]byte, error) {
	var out bytes.Buffer
	var unknown []string
	rest := def
	for {
		i := bytes.Index(rest, []byte("${"))
		if i < 0 {
			out.Write(rest)
			break
		}
		out.Write(rest[:i])
		j := bytes.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("state machine definition: ${ at byte %d has no closing }", len(def)-len(rest)+i)
		}
		name := string(rest[i+2 : i+j])
		rest = rest[i+j+1:]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			out.WriteString("${" + lit + "}")
			continue
		}
		v, ok := subs[name]
		if !ok {
			if !slices.Contains(unknown, name) {
				unknown = append(unknown, name)
			}
			continue
		}
		out.WriteString(v)
	}
	if len(unknown) > 0 {
		return nil, &UnknownPlaceholderError{Names: unknown}
	}
	return out.Bytes(), nil
}

// Placeholders lists the distinct ${Name} placeholders of def in order of
// first appearance (${!Text} escapes excluded).
func Placeholders(def []byte) []string {
	var names []string
	rest := def
	for {
		i := bytes.Index(rest, []byte("${"))
		if i < 0 {
			return names
		}
		j := bytes.IndexByte(rest[i:], '}')
		if j < 0 {
			return names
		}
		name := string(rest[i+2 : i+j])
		rest = rest[i+j+1:]
		if !strings.HasPrefix(name, "!") && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
}
