package sourcebundle

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Symbolicator's own cases for its line trimming (source_context.rs).
const longLine = "The public is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it lives with. The new becomes threatening, the old reassuring."

func TestTrimLineSymbolicatorCases(t *testing.T) {
	unicodeLine := strings.Repeat(".❤️🧡💛💚💙💜", 10)
	for _, tc := range []struct {
		line   string
		column int
		want   string
	}{
		{"foo", 0, "foo"},
		{longLine, 0, "The public is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it li {snip}"},
		{longLine, 10, "The public is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it li {snip}"},
		{longLine, 66, "{snip} blic is more familiar with bad design than good design. It is, in effect, conditioned to prefer bad design, because that is what it lives wi {snip}"},
		{longLine, 190, "{snip} gn. It is, in effect, conditioned to prefer bad design, because that is what it lives with. The new becomes threatening, the old reassuring."},
		{longLine, 9999, "{snip} gn. It is, in effect, conditioned to prefer bad design, because that is what it lives with. The new becomes threatening, the old reassuring."},
		{unicodeLine, 70, "{snip} 🧡💛💚💙💜.❤️🧡💛💚💙💜.❤️🧡💛💚💙💜.❤️🧡💛💚💙💜.❤️🧡💛💚💙💜.❤️🧡💛 {snip}"},
	} {
		if got := trimLine(tc.line, tc.column); got != tc.want {
			t.Errorf("trimLine(%.20q…, %d) =\n%q\nwant\n%q", tc.line, tc.column, got, tc.want)
		}
	}
}

// lorem is the source of Symbolicator's get_context_lines case.
const lorem = `Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Sit amet mattis vulputate enim nulla aliquet porttitor. Dis parturient montes nascetur ridiculus mus mauris vitae ultricies. Eget lorem dolor sed viverra ipsum. Tempor id eu nisl nunc mi ipsum faucibus vitae aliquet. Aliquam etiam erat velit scelerisque in dictum non. Blandit aliquam etiam erat velit. Maecenas sed enim ut sem viverra. Facilisi nullam vehicula ipsum a arcu cursus vitae. Non enim praesent elementum facilisis leo vel. Egestas congue quisque egestas diam in arcu cursus euismod quis. Malesuada fames ac turpis egestas maecenas. Non quam lacus suspendisse faucibus interdum posuere lorem ipsum. Felis eget nunc lobortis mattis aliquam faucibus purus in massa. Posuere morbi leo urna molestie at elementum eu facilisis sed. Cras ornare arcu dui vivamus arcu felis bibendum ut. Nibh tortor id aliquet lectus proin nibh nisl condimentum id.

Netus et malesuada fames ac turpis egestas. Id eu nisl nunc mi ipsum faucibus vitae aliquet nec. Adipiscing commodo elit at imperdiet dui accumsan sit amet. Dui id ornare arcu odio ut sem. In nisl nisi scelerisque eu. Consequat semper viverra nam libero. Lacus laoreet non curabitur gravida arcu ac tortor dignissim convallis. At augue eget arcu dictum. Ac turpis egestas maecenas pharetra. Nisi est sit amet facilisis magna etiam tempor orci. Eget arcu dictum varius duis. Nunc lobortis mattis aliquam faucibus purus in massa tempor. Id leo in vitae turpis. Et malesuada fames ac turpis egestas. Dictum fusce ut placerat orci nulla pellentesque. Cras pulvinar mattis nunc sed blandit libero volutpat sed cras.

Consequat ac felis donec et odio pellentesque diam volutpat commodo. Pulvinar elementum integer enim neque volutpat ac. Mollis aliquam ut porttitor leo a diam sollicitudin. Velit ut tortor pretium viverra suspendisse potenti nullam. Viverra tellus in hac habitasse platea dictumst vestibulum rhoncus. Dictum non consectetur a erat nam at lectus urna duis. Condimentum vitae sapien pellentesque habitant morbi tristique senectus et. Tempus urna et pharetra pharetra massa massa ultricies. Integer malesuada nunc vel risus commodo viverra maecenas. Neque viverra justo nec ultrices dui sapien. Fermentum leo vel orci porta non. A diam maecenas sed enim ut sem viverra aliquet eget. Tincidunt ornare massa eget egestas purus. Curabitur gravida arcu ac tortor dignissim convallis aenean.
`

func TestContextSymbolicatorCase(t *testing.T) {
	pre, line, post, ok := Context([]byte(lorem), 3, 2)
	if !ok {
		t.Fatal("ok = false")
	}
	wantPre := []string{"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Sit amet mattis  {snip}", ""}
	wantLine := "Netus et malesuada fames ac turpis egestas. Id eu nisl nunc mi ipsum faucibus vitae aliquet nec. Adipiscing commodo elit at imperdiet dui ac {snip}"
	wantPost := []string{"", "Consequat ac felis donec et odio pellentesque diam volutpat commodo. Pulvinar elementum integer enim neque volutpat ac. Mollis aliquam ut po {snip}"}
	if !reflect.DeepEqual(pre, wantPre) || line != wantLine || !reflect.DeepEqual(post, wantPost) {
		t.Errorf("Context(lorem, 3, 2) =\n%q\n%q\n%q", pre, line, post)
	}
	// The same case trimmed around columns 500 and 1000.
	lines := strings.Split(strings.TrimSuffix(lorem, "\n"), "\n")
	for _, tc := range []struct {
		column int
		want   []string
	}{
		{500, []string{
			"{snip} enim ut sem viverra. Facilisi nullam vehicula ipsum a arcu cursus vitae. Non enim praesent elementum facilisis leo vel. Egestas congue quisq {snip}", "",
			"{snip} ci. Eget arcu dictum varius duis. Nunc lobortis mattis aliquam faucibus purus in massa tempor. Id leo in vitae turpis. Et malesuada fames ac {snip}", "",
			"{snip} rna et pharetra pharetra massa massa ultricies. Integer malesuada nunc vel risus commodo viverra maecenas. Neque viverra justo nec ultrices  {snip}",
		}},
		{1000, []string{
			"{snip} ementum eu facilisis sed. Cras ornare arcu dui vivamus arcu felis bibendum ut. Nibh tortor id aliquet lectus proin nibh nisl condimentum id.", "",
			"{snip} a fames ac turpis egestas. Dictum fusce ut placerat orci nulla pellentesque. Cras pulvinar mattis nunc sed blandit libero volutpat sed cras.", "",
			"{snip} ed enim ut sem viverra aliquet eget. Tincidunt ornare massa eget egestas purus. Curabitur gravida arcu ac tortor dignissim convallis aenean.",
		}},
	} {
		for i, l := range lines {
			if got := trimLine(l, tc.column); got != tc.want[i] {
				t.Errorf("column %d, line %d: %q, want %q", tc.column, i+1, got, tc.want[i])
			}
		}
	}
}

func TestContext(t *testing.T) {
	numbered := func(n int, eol string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "line %d%s", i, eol)
		}
		return b.String()
	}
	l := func(nums ...int) []string {
		var out []string
		for _, n := range nums {
			out = append(out, fmt.Sprintf("line %d", n))
		}
		return out
	}
	long150 := strings.Repeat("a", 150)
	long151 := strings.Repeat("a", 151)
	// 139 ASCII bytes then a 3-byte character across the 140-byte cut.
	multibyte := strings.Repeat("b", 139) + "€" + strings.Repeat("c", 20)
	for _, tc := range []struct {
		desc   string
		source string
		line   int
		n      int
		ok     bool
		pre    []string
		ctx    string
		post   []string
	}{
		{"middle", numbered(20, "\n"), 10, 5, true, l(5, 6, 7, 8, 9), "line 10", l(11, 12, 13, 14, 15)},
		{"first line", numbered(20, "\n"), 1, 5, true, nil, "line 1", l(2, 3, 4, 5, 6)},
		{"second line", numbered(20, "\n"), 2, 5, true, l(1), "line 2", l(3, 4, 5, 6, 7)},
		{"sixth line", numbered(20, "\n"), 6, 5, true, l(1, 2, 3, 4, 5), "line 6", l(7, 8, 9, 10, 11)},
		{"last line", numbered(20, "\n"), 20, 5, true, l(15, 16, 17, 18, 19), "line 20", nil},
		{"near the end", numbered(20, "\n"), 18, 5, true, l(13, 14, 15, 16, 17), "line 18", l(19, 20)},
		{"past the end", numbered(20, "\n"), 21, 5, false, nil, "", nil},
		{"far past the end", numbered(20, "\n"), 1 << 40, 5, false, nil, "", nil},
		{"line 0 reads as line 1", numbered(20, "\n"), 0, 5, true, nil, "line 1", l(2, 3, 4, 5, 6)},
		{"negative line", numbered(20, "\n"), -1, 5, false, nil, "", nil},
		{"no context lines", numbered(20, "\n"), 10, 0, true, nil, "line 10", nil},
		{"negative n", numbered(20, "\n"), 10, -3, true, nil, "line 10", nil},
		{"huge n", numbered(3, "\n"), 2, 1 << 40, true, l(1), "line 2", l(3)},
		{"no final newline", numbered(3, "\n") + "line 4", 4, 5, true, l(1, 2, 3), "line 4", nil},
		{"CRLF", numbered(5, "\r\n"), 3, 1, true, l(2), "line 3", l(4)},
		{"CRLF last", numbered(5, "\r\n"), 5, 1, true, l(4), "line 5", nil},
		{"lone CR stays", "a\rb\nc\r", 1, 1, true, nil, "a\rb", []string{"c\r"}},
		{"CR CR LF", "a\r\r\nb", 1, 1, true, nil, "a\r", []string{"b"}},
		{"empty file", "", 1, 5, false, nil, "", nil},
		{"empty file, line 0", "", 0, 5, false, nil, "", nil},
		{"one newline", "\n", 1, 5, true, nil, "", nil},
		{"one newline, line 2", "\n", 2, 5, false, nil, "", nil},
		{"blank lines", "\n\n\n", 2, 5, true, []string{""}, "", []string{""}},
		{"150 bytes kept", long150, 1, 0, true, nil, long150, nil},
		{"151 bytes cut", long151, 1, 0, true, nil, strings.Repeat("a", 140) + " {snip}", nil},
		{"cut before a character", multibyte, 1, 0, true, nil, strings.Repeat("b", 139) + " {snip}", nil},
		{"context lines cut too", "x\n" + long151 + "\ny", 1, 1, true, nil, "x", []string{strings.Repeat("a", 140) + " {snip}"}},
		{"not UTF-8", "a\n\xff\nc\n", 1, 1, false, nil, "", nil},
		{"not UTF-8 far away", "a\nb\n" + strings.Repeat("x\n", 100) + "\xc3", 1, 1, false, nil, "", nil},
		{"BOM kept", "\ufeffa\nb", 1, 1, true, nil, "\ufeffa", []string{"b"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			pre, ctx, post, ok := Context([]byte(tc.source), tc.line, tc.n)
			if ok != tc.ok || ctx != tc.ctx || !reflect.DeepEqual(pre, tc.pre) || !reflect.DeepEqual(post, tc.post) {
				t.Errorf("Context(%.30q, %d, %d) = %q, %q, %q, %v; want %q, %q, %q, %v",
					tc.source, tc.line, tc.n, pre, ctx, post, ok, tc.pre, tc.ctx, tc.post, tc.ok)
			}
		})
	}
}
