package project

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool returns the path of an installed tool, failing the test when
// it is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

// parsed is how a reference parser reads one URL.
type parsed struct {
	OK       bool    `json:"ok"`
	Scheme   string  `json:"scheme"`
	Username *string `json:"username"`
	Password *string `json:"password"`
	Hostname *string `json:"hostname"`
	Port     any     `json:"port"`
}

// hasUserinfo reports whether the parser found a user name or password.
func (p parsed) hasUserinfo() bool {
	return p.Username != nil && *p.Username != "" || p.Password != nil && *p.Password != ""
}

func (p parsed) server() string {
	h := ""
	if p.Hostname != nil {
		h = *p.Hostname
	}
	b, _ := json.Marshal(p.Port)
	return p.Scheme + "://" + h + ":" + string(b)
}

// reference runs a reference parser (testdata/urlref.py with python3, or
// testdata/urlref.js with node) over inputs.
func reference(t *testing.T, tool, script string, inputs []string) []parsed {
	t.Helper()
	var in bytes.Buffer
	for _, s := range inputs {
		b, _ := json.Marshal(s)
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command(needTool(t, tool), filepath.Join("testdata", script))
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, script, err, stderr.Bytes())
	}
	var res []parsed
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p parsed
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("%s output %q: %v", script, sc.Bytes(), err)
		}
		res = append(res, p)
	}
	if len(res) != len(inputs) {
		t.Fatalf("%s answered %d lines for %d inputs", script, len(res), len(inputs))
	}
	return res
}

var referenceParsers = []struct{ name, tool, script string }{
	{"python urllib (Sentry)", "python3", "urlref.py"},
	{"WHATWG URL (Symbolicator)", "node", "urlref.js"},
}

// urlInputs are URL-like texts built from tricky parts: schemes with and
// without slashes and with backslashes, userinfo with the characters
// parsers disagree on, hosts, and tails that hold an "@".
func urlInputs() []string {
	schemes := []string{"http", "https", "HTTPS", "ftp", "wss", "s3", "git+ssh"}
	seps := []string{"://", ":", ":/", `:\\`, `://\`, ":///", `:/\`}
	users := []string{"", "u", "u:p", "u:p@q", ":p", "u:", "%5Bhidden-secret%5D", "[hidden-secret]", "u\tp", "u p",
		`a\b`, "a#b", "a/b", "a?b", `u"p`, "u<p>", "tok%40en"}
	hosts := []string{"h.example", "[::1]", "h.example:8443", "H.EXAMPLE:443", "127.0.0.1:9"}
	tails := []string{"", "/", "/a@b", "?q=a@b", "#f@g", `\x@y`, "/p?x#y", " z@w", "\t@t"}
	var out []string
	for _, s := range schemes {
		for _, sep := range seps {
			for _, u := range users {
				for _, h := range hosts {
					for _, tl := range tails {
						ui := ""
						if u != "" {
							ui = u + "@"
						}
						out = append(out, s+sep+ui+h+tl)
					}
				}
			}
		}
	}
	return out
}

// TestRedactURLsAgainstReferenceParsers checks RedactURLs against the
// parsers that read these URLs outside symflow: after redaction neither
// finds a user name or password other than the placeholder, and both
// still find the same server.
func TestRedactURLsAgainstReferenceParsers(t *testing.T) {
	inputs := urlInputs()
	redacted := make([]string, len(inputs))
	for i, s := range inputs {
		redacted[i] = RedactURLs(s)
	}
	for _, ref := range referenceParsers {
		t.Run(ref.name, func(t *testing.T) {
			before := reference(t, ref.tool, ref.script, inputs)
			after := reference(t, ref.tool, ref.script, redacted)
			withCreds, failures := 0, 0
			for i := range inputs {
				b, a := before[i], after[i]
				if b.hasUserinfo() {
					withCreds++
				}
				if a.hasUserinfo() {
					pw := ""
					if a.Password != nil {
						pw = *a.Password
					}
					if *a.Username != "%5Bhidden-secret%5D" || pw != "" {
						failures++
						t.Errorf("%q redacted to %q: the parser reads user %q password %q", inputs[i], redacted[i], *a.Username, pw)
					}
				}
				// Where net/url refuses the URL, the parsers may disagree
				// on where its userinfo ends ("http://u@h\\x@y" is user u
				// at h for WHATWG, user u@h\\x at y for Python), and
				// hiding both changes the server some parser sees. Such a
				// URL cannot be saved (symflow validates with net/url and
				// wants a host), so only those URLs must keep their server.
				gu, goErr := url.Parse(inputs[i])
				saveable := goErr == nil && gu.Host != "" && gu.Opaque == ""
				if saveable && b.OK && b.hasUserinfo() && (!a.OK || a.server() != b.server()) {
					failures++
					t.Errorf("%q redacted to %q: server %s became %s (ok %v)", inputs[i], redacted[i], b.server(), a.server(), a.OK)
				}
				if failures > 20 {
					t.Fatal("too many failures")
				}
			}
			t.Logf("%d inputs, %d with credentials for this parser, all hidden", len(inputs), withCreds)
			if withCreds < 100 {
				t.Errorf("only %d inputs hold credentials for this parser: the test proves little", withCreds)
			}
		})
	}
}

// TestBackfillURLAgainstReferenceParsers is the redirection attack seen
// by the parsers that make the requests: a writer edits the hidden URL in
// every tricky way and sends it back. Whenever BackfillURL puts the stored
// credentials in, both parsers read the result as naming the stored
// server, with the stored credentials.
func TestBackfillURLAgainstReferenceParsers(t *testing.T) {
	const stored = "https://alice:hunter2@h.example:8443/store/"
	hosts := []string{
		"h.example:8443", "evil.example", "h.example:8443.evil.example", "h.example:8443@evil.example",
		`evil.example\@h.example:8443`, `h.example:8443\@evil.example`, `evil.example\.h.example:8443`,
		"evil.example#@h.example:8443", "evil.example?@h.example:8443", "evil.example%2F@h.example:8443",
		"h.example:8443%2F@evil.example", "evil.example%40h.example:8443", "h.example%3A8443", "H.Example:8443",
		"h.example:08443", "h.example.:8443", "[::1]:8443", "h.example:8443\t", "h.exa\tmple:8443", "h.example:8443 ",
		"xn--h-example:8443", "h\u3002example:8443", "h%2eexample:8443", "0x7f.1:8443",
	}
	schemes := []string{"https://", "HTTPS://", "http://", "https:", `https:\\`, "https:/", "https:///", "wss://"}
	users := []string{"%5Bhidden-secret%5D", "[hidden-secret]", "%5bhidden-secret%5d", "%5Bhidden-secret%5D:", "x@%5Bhidden-secret%5D"}
	tails := []string{"/store/", "/", "", "/other?x=1", `\store`, "#frag"}
	var sent, got []string
	for _, s := range schemes {
		for _, u := range users {
			for _, h := range hosts {
				for _, tl := range tails {
					in := s + u + "@" + h + tl
					out, err := BackfillURL(in, stored)
					if err == nil && strings.Contains(out, "hunter2") {
						sent = append(sent, in)
						got = append(got, out)
					}
				}
			}
		}
	}
	if len(got) < 20 {
		t.Fatalf("only %d edits were backfilled: the test proves little", len(got))
	}
	for _, ref := range referenceParsers {
		t.Run(ref.name, func(t *testing.T) {
			want := reference(t, ref.tool, ref.script, []string{stored})[0]
			res := reference(t, ref.tool, ref.script, got)
			for i, p := range res {
				if !p.OK {
					continue // the parser refuses it: nothing is sent
				}
				if p.server() != want.server() || p.Username == nil || *p.Username != *want.Username {
					t.Errorf("sent %q, backfilled to %q: the parser sends user %v to %s, want %s",
						sent[i], got[i], p.Username, p.server(), want.server())
				}
			}
			t.Logf("%d backfilled edits all name the stored server", len(got))
		})
	}
}
