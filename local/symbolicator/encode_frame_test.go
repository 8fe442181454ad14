package symbolicator

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/symflow/symflow/internal/jsonstring"
)

// TestAppendPlainMatchesGeneral: a frame without passed-through fields is
// written byte for byte as the general encoder writes it, over generated
// frames with every optional field on and off and strings that need
// escaping.
func TestAppendPlainMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	strs := []string{"", "main", "ns::f<int>(char const*)", `C:\src\a.c`, "a\"b", "tab\tx", "ünï", "\xff", "\u2028", "/usr/src/x.c", strings.Repeat("long/", 40),
		"a long name with a \"quote\" in it", "/a/long/path/with/a/tab\t/in/it.cc", strings.Repeat("x", 16)}
	s := func() string { return strs[rng.IntN(len(strs))] }
	yes, no := true, false
	// One table for every frame, as for an answer's: strings repeat.
	known := new(plainStrings)
	for i := range 20000 {
		src := &rawFrame{Trust: []string{"none", "cfi", "scan", "context"}[rng.IntN(4)]}
		switch rng.IntN(3) {
		case 1:
			src.Adjust = &yes
		case 2:
			src.Adjust = &no
		}
		if rng.IntN(10) == 0 {
			src.Trust = "unknown-trust" // kept through src
		}
		f := &symFrame{
			index: int32(rng.IntN(100)), addr: rng.Uint64() >> rng.IntN(64),
			symbol: s(), function: s(), line: rng.IntN(1 << 20), lang: s(),
		}
		f.setSource(src)
		if rng.IntN(4) > 0 {
			f.mod = &frameModule{pkg: s()}
			if rng.IntN(2) == 0 {
				f.mod.addrMode = "rel:" + string(rune('0'+rng.IntN(10)))
			}
		}
		if rng.IntN(3) > 0 {
			f.path = &cleanedPath{path: s(), name: s()}
		}
		if rng.IntN(2) == 0 {
			f.symAddr, f.hasSymAddr = rng.Uint64()>>rng.IntN(64), true
		}
		if rng.IntN(3) == 0 {
			var pre, post []string
			for range rng.IntN(3) {
				pre = append(pre, s())
			}
			for range rng.IntN(3) {
				post = append(post, s())
			}
			f.setContext(pre, s(), post)
		}
		want, err := f.appendGeneral(nil)
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte("[1,")
		for _, known := range []*plainStrings{nil, known} {
			got := f.appendPlain(slices.Clone(prefix), known)
			if !bytes.Equal(got[len(prefix):], want) {
				t.Fatalf("frame %d %+v (remembered strings %v):\nplain   %s\ngeneral %s", i, f, known != nil, got[len(prefix):], want)
			}
		}
	}
}

// TestAppendJSONPassesFieldsThrough: frames with fields of their own are
// still written by the general encoder.
func TestAppendJSONPassesFieldsThrough(t *testing.T) {
	f := &symFrame{src: &rawFrame{Trust: "none", fields: jsonObject{"platform": []byte(`"native"`), "zz": []byte(`1`)}}, function: "f", symbol: "f"}
	got, err := f.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"function":"f","instruction_addr":"0x0","lineno":0,"original_index":0,"platform":"native","status":"symbolicated","symbol":"f","zz":1}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestPlainJSON checks the eight-bytes-at-a-time test against one byte at
// a time, on every byte value at every position of a word.
func TestPlainJSON(t *testing.T) {
	slow := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	base := []byte("abcdefghijklmnopqrstuvw")
	for n := 0; n <= len(base); n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := slices.Clone(base[:n])
				b[pos] = byte(c)
				if got, want := plainJSON(string(b)), slow(string(b)); got != want {
					t.Fatalf("plainJSON(%q) = %v, want %v", b, got, want)
				}
				if got, want := appendJSONString(nil, string(b)), jsonstring.Append(nil, string(b)); !bytes.Equal(got, want) {
					t.Fatalf("appendJSONString(%q) = %s, want %s", b, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(0x1e + rng.IntN(0x64))
		}
		if got, want := plainJSON(string(b)), slow(string(b)); got != want {
			t.Fatalf("plainJSON(%q) = %v, want %v", b, got, want)
		}
	}
}

// FuzzAppendJSONString: strings are written as jsonstring writes them.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain ascii text", "q\"b\\", "\x00\x1f", "é✓", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendJSONString(nil, s), jsonstring.Append(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
