package jsonstring

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func marshal(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) //nolint:errcheck // a string always encodes
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// TestAppend checks the string encoding against
// encoding/json without HTML escaping, byte for byte, on C++ names,
// control characters, invalid UTF-8 and random bytes.
func TestAppend(t *testing.T) {
	cases := []string{
		"", "main", `std::vector<int, std::allocator<int> >::push_back(int&&)`, "a\"b\\c", "\x00\x01\x1f\x7f",
		"tab\tnew\nret\rbell\bform\f", "\u2028\u2029", "\xff\xfe", "caf\xc3\xa9", "\xe2\x82", "日本語 /src/ファイル.cc",
		"operator<=>(A const&, A const&) && std::less<void>",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := Append(nil, s)
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("%q: got %s, encoding/json %s", s, got, want.Bytes())
		}
	}
}

// FuzzAppend: every string is written as encoding/json writes it with
// HTML escaping off.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x01\b\f\n\r\t\x1f", "<&>", "\u2028\u2029", "\xff\xfe", "é✓😀", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Append(nil, s), marshal(s); !bytes.Equal(got, want) {
			t.Fatalf("Append(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}
