package asl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestPathEval(t *testing.T) {
	doc := `{"a":{"b":[10,20,30],"c.d":1,"e":null},"list":[{"id":1,"tags":["x"]},{"id":2,"tags":["y","z"]}],"k":"v"}`
	tests := []struct {
		path  string
		want  string // JSON; "" means not found
		multi bool
	}{
		{"$", doc, false},
		{"$.k", `"v"`, false},
		{"$.a.b[1]", `20`, false},
		{"$.a.b[-1]", `30`, false},
		{"$.a['c.d']", `1`, false},
		{`$.a["c.d"]`, `1`, false},
		{"$.a.e", `null`, false},
		{"$.a.missing", "", false},
		{"$.a.b[5]", "", false},
		{"$.k.x", "", false},
		{"$.list[*].id", `[1,2]`, true},
		{"$.list[*].tags[*]", `["x","y","z"]`, true},
		{"$.a.b[0:2]", `[10,20]`, true},
		{"$.a.b[1:]", `[20,30]`, true},
		{"$.a.b[:-1]", `[10,20]`, true},
		{"$.a.b[::2]", `[10,30]`, true},
		{"$.a.b[0,2]", `[10,30]`, true},
		{"$..id", `[1,2]`, true},
		{"$.list[*].nope", `[]`, true},
		{"$.a.*", `[[10,20,30],1,null]`, true},
		{"$.list..tags[0]", `["x","y"]`, true},
	}
	root := mustDecode(t, doc)
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p, err := compilePath(tc.path)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if p.definite == tc.multi {
				t.Errorf("definite = %v, want %v", p.definite, !tc.multi)
			}
			got, ok := p.eval(root)
			if tc.want == "" {
				if ok {
					t.Fatalf("found %s, want nothing", mustJSON(got))
				}
				return
			}
			if !ok {
				t.Fatalf("found nothing, want %s", tc.want)
			}
			if !jsonEqual(got, mustDecode(t, tc.want)) {
				t.Errorf("got %s, want %s", mustJSON(got), tc.want)
			}
		})
	}
}

func TestPathErrors(t *testing.T) {
	tests := []struct{ path, want string }{
		{"a.b", "must start with $"},
		{"$.", "ends with '.'"},
		{"$[", "unclosed"},
		{"$['a", "unterminated"},
		{"$[?(@.x)]", "filter"},
		{"$[abc]", "bad index"},
		{"$[1:2:0]", "step 0"},
		{"$x", "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			_, err := compilePath(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSetPath(t *testing.T) {
	tests := []struct{ path, input, value, want, err string }{
		{"$", `{"a":1}`, `2`, `2`, ""},
		{"$.x", `{"a":1}`, `2`, `{"a":1,"x":2}`, ""},
		{"$.x.y.z", `{}`, `true`, `{"x":{"y":{"z":true}}}`, ""},
		{"$.a", `{"a":{"old":1}}`, `"new"`, `{"a":"new"}`, ""},
		{"$.l[1]", `{"l":[1,2,3]}`, `9`, `{"l":[1,9,3]}`, ""},
		{"$.l[7]", `{"l":[1]}`, `9`, "", "out of range"},
		{"$.a.b", `{"a":"str"}`, `1`, "", "cannot set field"},
		{"$.x", `[1]`, `1`, "", "cannot set field"},
	}
	for _, tc := range tests {
		t.Run(tc.path+tc.input, func(t *testing.T) {
			p, err := compilePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			in := mustDecode(t, tc.input)
			before := mustJSON(in)
			got, err := p.setPath(in, mustDecode(t, tc.value))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, mustDecode(t, tc.want)) {
				t.Errorf("got %s, want %s", mustJSON(got), tc.want)
			}
			if mustJSON(in) != before {
				t.Errorf("input changed from %s to %s; setPath must copy", before, mustJSON(in))
			}
		})
	}
}

func TestIntrinsics(t *testing.T) {
	input := mustDecode(t, `{"s":"a,b","n":3,"arr":[1,2,2],"obj":{"k":"v"},"t":"x"}`)
	ctxObj := mustDecode(t, `{"Execution":{"Name":"run-1"}}`)
	tests := []struct {
		expr string
		want string // JSON, or "!substring" for an expected error
	}{
		{`States.Format('a{}b{}', $.n, 'x')`, `"a3bx"`},
		{`States.Format('{}', $$.Execution.Name)`, `"run-1"`},
		{`States.Format('\{\}{}', null)`, `"{}null"`},
		{`States.Format('it\'s \\ {}', true)`, `"it's \\ true"`},
		{`States.Format($.t)`, `"x"`},
		{`States.Format('{} {}', 1)`, `!placeholders`},
		{`States.Format('{}', $.obj)`, `!must be a string, number, boolean or null`},
		{`States.StringToJson('{"a":[1]}')`, `{"a":[1]}`},
		{`States.StringToJson('nope')`, `!not JSON`},
		{`States.JsonToString($.obj)`, `"{\"k\":\"v\"}"`},
		{`States.Array()`, `[]`},
		{`States.Array(1, 'two', $.obj, States.Array(3))`, `[1,"two",{"k":"v"},[3]]`},
		{`States.ArrayPartition($.arr, 2)`, `[[1,2],[2]]`},
		{`States.ArrayPartition($.arr, 0)`, `!positive`},
		{`States.ArrayContains($.arr, 2)`, `true`},
		{`States.ArrayContains($.arr, '2')`, `false`},
		{`States.ArrayRange(0, 10, 5)`, `[0,5,10]`},
		{`States.ArrayRange(0, 3, -1)`, `[]`},
		{`States.ArrayRange(0, 5000, 1)`, `!1000`},
		{`States.ArrayRange(0, 1, 0)`, `!step`},
		{`States.ArrayRange(0.5, 1, 1)`, `!integer`},
		{`States.ArrayGetItem($.arr, 0)`, `1`},
		{`States.ArrayGetItem($.arr, 3)`, `!out of range`},
		{`States.ArrayLength($.arr)`, `3`},
		{`States.ArrayLength($.s)`, `!must be an array`},
		{`States.ArrayUnique($.arr)`, `[1,2]`},
		{`States.Base64Encode('hi')`, `"aGk="`},
		{`States.Base64Decode('aGk=')`, `"hi"`},
		{`States.Base64Decode('***')`, `!base64`},
		{`States.Hash('abc', 'SHA-256')`, `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`},
		{`States.Hash('abc', 'MD5')`, `"900150983cd24fb0d6963f7d28e17f72"`},
		{`States.Hash('abc', 'CRC32')`, `!unsupported algorithm`},
		{`States.JsonMerge($.obj, States.StringToJson('{"k":1,"z":2}'), false)`, `{"k":1,"z":2}`},
		{`States.JsonMerge($.obj, $.obj, true)`, `!deep merge`},
		{`States.MathAdd($.n, -1.5)`, `1.5`},
		{`States.MathAdd(2147483647, 1)`, `2147483648`},
		{`States.MathAdd('1', 1)`, `!must be numbers`},
		{`States.MathRandom(7, 8)`, `7`},
		{`States.MathRandom(8, 8)`, `!greater than start`},
		{`States.StringSplit($.s, ',')`, `["a","b"]`},
		{`States.StringSplit('a,,b', ',')`, `["a","b"]`},
		{`States.ArrayLength(States.StringSplit('a b c', ' '))`, `3`},
		{`States.Nope(1)`, `!unknown function`},
		{`States.Array(`, `!missing argument`},
		{`States.Array(1 2)`, `!expected ',' or ')'`},
		{`States.Array('x)`, `!unterminated string`},
		{`States.Array('\n')`, `!unknown escape`},
		{`States.Array(1) extra`, `!unexpected`},
		{`States.Array($.missing)`, `!selected nothing`},
		{`States.ArrayLength()`, `!takes 1 arguments`},
		{`States.UUID(1)`, `!takes 0 arguments`},
		{`States.Array(true, false, null, -2.5e1)`, `[true,false,null,-25]`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := compileIntrinsic(tc.expr)
			var got any
			if err == nil {
				got, err = evalIntrinsic(e, input, ctxObj)
			}
			if want, isErr := strings.CutPrefix(tc.want, "!"); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %s, error %v; want an error containing %q", mustJSON(got), err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !jsonEqual(got, mustDecode(t, tc.want)) {
				t.Errorf("got %s, want %s", mustJSON(got), tc.want)
			}
		})
	}
}

func TestIntrinsicUUID(t *testing.T) {
	e, err := compileIntrinsic("States.UUID()")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := evalIntrinsic(e, nil, nil)
	b, _ := evalIntrinsic(e, nil, nil)
	s, ok := a.(string)
	if !ok || len(s) != 36 || s[14] != '4' || a == b {
		t.Fatalf("UUID() gave %v and %v, want two different version-4 UUIDs", a, b)
	}
}

func TestStringMatches(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*.log", "a.log", true},
		{"*.log", "a.log.gz", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{`a\\b`, `a\b`, true},
		{"héllo*", "héllo wörld", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	}
	for _, tc := range tests {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"$", "$.a.b", "$..x", "$.l[*].id", "$['a','b']", "$[1:-1:2]", "$.a[-1]", "$$.Map.Item.Value", "$[?(@.x)]"} {
		f.Add(s, `{"a":{"b":[1,{"x":2}]},"l":[{"id":1}],"x":3}`)
	}
	f.Fuzz(func(t *testing.T, path, doc string) {
		p, err := parsePath(path)
		if err != nil {
			return
		}
		root, err := decodeJSON([]byte(doc))
		if err != nil {
			root = map[string]any{"a": []any{1.0, "s"}}
		}
		v, ok := p.eval(root)
		if ok && !p.definite {
			if _, isArr := v.([]any); !isArr {
				t.Fatalf("indefinite path %q returned %T, want an array", path, v)
			}
		}
		if p.isReference() {
			if _, err := p.setPath(root, "v"); err == nil && len(p.segs) > 0 {
				got, ok := p.eval(mustSet(p, root))
				if !ok || got != "v" {
					t.Fatalf("after setting %q, eval gives %v, %v", path, got, ok)
				}
			}
		}
	})
}

func mustSet(p *jsonPath, root any) any {
	out, _ := p.setPath(root, "v")
	return out
}

func FuzzIntrinsic(f *testing.F) {
	for _, s := range []string{
		"States.Format('x{}y', $.a)", "States.Array(1, 'a', $.b, States.Array())", "States.ArrayRange(1, 9, 2)",
		"States.Hash('x', 'SHA-1')", "States.StringSplit('a,b', ',')", `States.Format('\{\}\'')`,
		"States.JsonMerge($.o, $.o, false)", "States.MathRandom(1, 3, 7)", "States.Base64Decode('eA==')",
	} {
		f.Add(s)
	}
	input := map[string]any{"a": "A", "b": []any{1.0}, "o": map[string]any{"k": "v"}}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := compileIntrinsic(src)
		if err != nil {
			return
		}
		v, err := evalIntrinsic(e, input, map[string]any{})
		if err == nil {
			if _, err := encodeJSON(v); err != nil {
				t.Fatalf("%q produced a value that does not encode: %v", src, err)
			}
		}
	})
}

// FuzzParse feeds arbitrary definitions to Parse and runs what it accepts
// briefly: neither may panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "conformance", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var c struct {
			Definition json.RawMessage `json:"definition"`
		}
		if json.Unmarshal(b, &c) == nil {
			f.Add(string(c.Definition))
		}
	}
	inv := InvokerFunc(func(_ context.Context, _ string, in json.RawMessage) (json.RawMessage, error) { return in, nil })
	f.Fuzz(func(t *testing.T, def string) {
		sm, err := Parse([]byte(def))
		if err != nil {
			return
		}
		_ = Mermaid(sm, sm.StateNames(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		ex, err := sm.Run(ctx, "fuzz", json.RawMessage(`{"a":[1,"x",{"b":null}],"s":"2024-01-01T00:00:00Z","n":3}`), Options{Invoker: inv, Clock: NewFakeClock(time.Unix(0, 0))})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if ex.Status == StatusRunning {
			t.Fatalf("execution left RUNNING")
		}
	})
}

// FuzzJSON checks the order-keeping decoder and encoder against
// encoding/json: same values, valid output, same string escaping.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x\u2028y"],"c":{"<>&":1.50}}`, `"\ud800"`, `[]`, `-0.0e+5`, "\"\x7f\xff\"", `{"a":{"a":{"a":{}}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		v, err := decodeJSON([]byte(doc))
		useNumber := func(b []byte) (any, error) {
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				return nil, err
			}
			if !json.Valid(b) {
				return nil, errors.New("invalid JSON")
			}
			return v, nil
		}
		std, stdErr := useNumber([]byte(doc))
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("decodeJSON error %v, encoding/json error %v", err, stdErr)
		}
		if err != nil {
			return
		}
		out, err := encodeJSON(v)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q", out)
		}
		if back, err := useNumber(out); err != nil || !reflect.DeepEqual(back, std) {
			t.Fatalf("round trip of %q gave %q", doc, out)
		}
		if s, ok := v.(string); ok {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s)
			if want := bytes.TrimRight(buf.Bytes(), "\n"); !bytes.Equal(out, want) {
				t.Fatalf("string %q encoded as %s, encoding/json gives %s", s, out, want)
			}
		}
	})
}
