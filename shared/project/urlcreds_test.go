package project

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURLs(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"user and password", "https://alice:hunter2@symbols.example.com/x/", "https://%5Bhidden-secret%5D@symbols.example.com/x/"},
		{"token as user name", "https://ghp_TOKEN@h.example/", "https://%5Bhidden-secret%5D@h.example/"},
		{"empty password", "http://u:@h/", "http://%5Bhidden-secret%5D@h/"},
		{"empty user", "http://:p@h/", "http://%5Bhidden-secret%5D@h/"},
		{"no path", "https://u:p@h", "https://%5Bhidden-secret%5D@h"},
		{"port and query", "https://u:p@h:8443?q=a@b", "https://%5Bhidden-secret%5D@h:8443?q=a@b"},
		{"at sign in the path is no userinfo", "https://h/a@b", "https://h/a@b"},
		{"at sign in the password, last one splits", "https://u:p@ss@h/", "https://%5Bhidden-secret%5D@h/"},
		{"backslash hides more, never less", `https://u:p@evil\@good/`, "https://%5Bhidden-secret%5D@good/"},
		{"no credentials", "https://symbols.example.com/", "https://symbols.example.com/"},
		{"empty userinfo", "https://@h/", "https://@h/"},
		{"not a URL", "alice@example.com", "alice@example.com"},
		{"no scheme", "://u:p@h", "://u:p@h"},
		{"already hidden", "https://%5Bhidden-secret%5D@h/", "https://%5Bhidden-secret%5D@h/"},
		{"raw placeholder is rewritten", "https://[hidden-secret]@h/", "https://%5Bhidden-secret%5D@h/"},
		{"url.Error text", `Get "http://u:p@127.0.0.1:9/x": dial tcp 127.0.0.1:9: connect: connection refused`,
			`Get "http://%5Bhidden-secret%5D@127.0.0.1:9/x": dial tcp 127.0.0.1:9: connect: connection refused`},
		{"url.Error text without path", `Get "http://u:***@h": EOF`, `Get "http://%5Bhidden-secret%5D@h": EOF`},
		{"several URLs", "from https://a:b@x/ to s3://k:s@bucket/p and ftp://h/",
			"from https://%5Bhidden-secret%5D@x/ to s3://%5Bhidden-secret%5D@bucket/p and ftp://h/"},
		{"upper-case scheme", "HTTPS://U:P@H/", "HTTPS://%5Bhidden-secret%5D@H/"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactURLs(tt.in)
			if got != tt.want {
				t.Errorf("RedactURLs(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := RedactURLs(got); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
			if HasURLCredentials(got) {
				t.Errorf("HasURLCredentials(%q) = true after redaction", got)
			}
			if want := got != tt.in && tt.in != "https://[hidden-secret]@h/"; HasURLCredentials(tt.in) != want {
				t.Errorf("HasURLCredentials(%q) = %v, want %v", tt.in, !want, want)
			}
		})
	}
}

// TestRedactedURLParses checks that a hidden URL is still a valid URL for
// net/url, with the same host, and the placeholder as its user name.
func TestRedactedURLParses(t *testing.T) {
	for _, raw := range []string{
		"https://alice:hunter2@symbols.example.com:8443/p/a/th?q=1#f",
		"http://token@[::1]:3021/",
		"https://a%40b:p%3Aq@h.example/",
	} {
		u, err := url.Parse(RedactURLs(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		orig, _ := url.Parse(raw)
		if u.Host != orig.Host || u.Path != orig.Path || u.RawQuery != orig.RawQuery {
			t.Errorf("%s: redacted to %s, host/path/query changed", raw, u)
		}
		if _, has := u.User.Password(); u.User.Username() != HiddenUserinfo || has {
			t.Errorf("%s: userinfo %v, want the placeholder alone", raw, u.User)
		}
	}
}

func TestBackfillURL(t *testing.T) {
	const stored = "https://alice:hunter2@symbols.example.com/store/"
	tests := []struct {
		name, sent, stored string
		want               string // "" when an error is wanted
		reason             string // part of the error
	}{
		{name: "unchanged", sent: "https://%5Bhidden-secret%5D@symbols.example.com/store/", stored: stored, want: stored},
		{name: "unchanged, raw placeholder", sent: "https://[hidden-secret]@symbols.example.com/store/", stored: stored, want: stored},
		{name: "unchanged, lower-case escapes", sent: "https://%5bhidden-secret%5d@symbols.example.com/store/", stored: stored, want: stored},
		{name: "new path on the same server keeps them", sent: "https://%5Bhidden-secret%5D@symbols.example.com/other/?x=1", stored: stored,
			want: "https://alice:hunter2@symbols.example.com/other/?x=1"},
		{name: "explicit default port is the same server", sent: "https://%5Bhidden-secret%5D@SYMBOLS.example.com:443/store/", stored: stored,
			want: "https://alice:hunter2@SYMBOLS.example.com:443/store/"},
		{name: "new password replaces", sent: "https://alice:new@symbols.example.com/store/", stored: stored, want: "https://alice:new@symbols.example.com/store/"},
		{name: "credentials removed", sent: "https://symbols.example.com/store/", stored: stored, want: "https://symbols.example.com/store/"},
		{name: "new credentials to a new host", sent: "https://bob:pw@evil.example/", stored: stored, want: "https://bob:pw@evil.example/"},
		{name: "other host", sent: "https://%5Bhidden-secret%5D@evil.example/store/", stored: stored, reason: "host or port differs"},
		{name: "other host sharing a suffix", sent: "https://%5Bhidden-secret%5D@symbols.example.com.evil.example/store/", stored: stored, reason: "differs"},
		{name: "other port", sent: "https://%5Bhidden-secret%5D@symbols.example.com:8443/store/", stored: stored, reason: "differs"},
		{name: "scheme downgrade", sent: "http://%5Bhidden-secret%5D@symbols.example.com/store/", stored: stored, reason: "differs"},
		{name: "placeholder hiding a host in its user name", sent: "https://%5Bhidden-secret%5D@evil.example@symbols.example.com/store/", stored: stored,
			want: "https://%5Bhidden-secret%5D@evil.example@symbols.example.com/store/"},
		{name: "backslash trick", sent: `https://%5Bhidden-secret%5D@evil.example\.symbols.example.com/store/`, stored: stored, reason: "differs"},
		{name: "stored has no credentials", sent: "https://%5Bhidden-secret%5D@symbols.example.com/store/", stored: "https://symbols.example.com/store/", reason: "no credentials"},
		{name: "nothing stored", sent: "https://%5Bhidden-secret%5D@symbols.example.com/store/", stored: "", reason: "no credentials"},
		{name: "stored is itself hidden", sent: "https://%5Bhidden-secret%5D@symbols.example.com/store/", stored: "https://%5Bhidden-secret%5D@symbols.example.com/store/", reason: "itself hidden"},
		{name: "text with two URLs, unchanged", sent: "a https://%5Bhidden-secret%5D@x/ b https://%5Bhidden-secret%5D@y/", stored: "a https://1:2@x/ b https://3:4@y/",
			want: "a https://1:2@x/ b https://3:4@y/"},
		{name: "text with two URLs, one new", sent: "a https://%5Bhidden-secret%5D@x/ b https://5:6@y/", stored: "a https://1:2@x/ b https://3:4@y/",
			want: "a https://1:2@x/ b https://5:6@y/"},
		{name: "text with two URLs, changed", sent: "a https://%5Bhidden-secret%5D@x/ c https://%5Bhidden-secret%5D@y/", stored: "a https://1:2@x/ b https://3:4@y/", reason: "more than one URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BackfillURL(tt.sent, tt.stored)
			if tt.reason != "" {
				var he *HiddenURLError
				if !errors.As(err, &he) || !errors.Is(err, ErrHiddenURL) {
					t.Fatalf("BackfillURL = %q, %v; want a *HiddenURLError", got, err)
				}
				if !strings.Contains(err.Error(), tt.reason) {
					t.Errorf("error %q does not say %q", err, tt.reason)
				}
				for _, secret := range []string{"alice", "hunter2", "evil"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q quotes %q", err, secret)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("BackfillURL: %v", err)
			}
			if got != tt.want {
				t.Errorf("BackfillURL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBackfillNeverRedirects is the attack: a writer who can read the
// configuration but not its secrets sends the hidden URL back with
// something else changed. Whatever it changed, the stored credentials end
// up only in a URL naming the stored URL's server, for net/url.
func TestBackfillNeverRedirects(t *testing.T) {
	const stored = "https://alice:hunter2@symbols.example.com:8443/store/"
	hidden := RedactURLs(stored)
	edits := []string{
		"evil.example", "symbols.example.com.evil.example", "symbols.example.com:443", "symbols.example.com:8444",
		"symbols.example.com:8443@evil.example", "evil.example#@symbols.example.com:8443", "evil.example?@symbols.example.com:8443",
		`evil.example\@symbols.example.com:8443`, "[::1]:8443", "symbols.example.com:8443%2F@evil.example",
	}
	for _, e := range edits {
		sent := strings.Replace(hidden, "symbols.example.com:8443", e, 1)
		got, err := BackfillURL(sent, stored)
		if err != nil || !strings.Contains(got, "hunter2") {
			continue // refused, or no stored credentials used
		}
		u, perr := url.Parse(got)
		if perr != nil || u.Host != "symbols.example.com:8443" || u.Scheme != "https" {
			t.Errorf("edit %q: credentials filled into %q", e, got)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://u:p@h/x", "https://h/y", true},
		{"https://h", "https://H:443/", true},
		{"http://h", "http://h:80/a?b#c", true},
		{"https://h", "http://h", false},
		{"https://h", "https://h:8443", false},
		{"https://h", "https://g", false},
		{"https://[hidden-secret]@h/", "https://h/", true},
		{`https://h\@g/`, "https://g/", false},
		{"not a url", "not a url", false},
		{"", "", false},
		{"mailto:a@h", "mailto:a@h", false},
	}
	for _, tt := range tests {
		if got := SameOrigin(tt.a, tt.b); got != tt.want {
			t.Errorf("SameOrigin(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestStripURLCredentials(t *testing.T) {
	u, _ := url.Parse("https://alice:hunter2@h.example/p?q=1")
	stripped, user := StripURLCredentials(u)
	if stripped.String() != "https://h.example/p?q=1" {
		t.Errorf("stripped = %s", stripped)
	}
	if p, _ := user.Password(); user.Username() != "alice" || p != "hunter2" {
		t.Errorf("userinfo = %v", user)
	}
	if u.User == nil {
		t.Error("StripURLCredentials changed its argument")
	}
	plain, _ := url.Parse("https://h/")
	if s, user := StripURLCredentials(plain); s != plain || user != nil {
		t.Errorf("a URL without credentials: %v %v", s, user)
	}
}

func TestRedactJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"value", `{"url": "https://u:p@h/x", "n": 1}`, `{"url": "https://%5Bhidden-secret%5D@h/x", "n": 1}`},
		{"key order and layout kept", "{\n  \"z\": \"https://u:p@h\",\n  \"a\": [\"x\", \"http://t@g/\"]\n}",
			"{\n  \"z\": \"https://%5Bhidden-secret%5D@h\",\n  \"a\": [\"x\", \"http://%5Bhidden-secret%5D@g/\"]\n}"},
		{"escaped slashes and at", `{"u":"https:\/\/u:p\u0040h\/"}`, `{"u":"https://%5Bhidden-secret%5D@h/"}`},
		{"quote in a neighbour string is respected", `{"a":"http://h","b":"x@y"}`, `{"a":"http://h","b":"x@y"}`},
		{"key", `{"https://u:p@h/":1}`, `{"https://%5Bhidden-secret%5D@h/":1}`},
		{"nothing to hide", `{"a":"b@c"}`, `{"a":"b@c"}`},
		{"unterminated string", `{"a":"https://u:p@h/`, `{"a":"https://%5Bhidden-secret%5D@h/`},
		{"invalid escape", `{"a":"\q https://u:p@h/"}`, `{"a":"\q https://%5Bhidden-secret%5D@h/"}`},
		{"html characters are not escaped", `{"a":"<https://u:p@h/>"}`, `{"a":"<https://%5Bhidden-secret%5D@h/>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			got := RedactJSON(in)
			if string(got) != tt.want {
				t.Errorf("RedactJSON = %s\nwant          %s", got, tt.want)
			}
			if string(in) != tt.in {
				t.Error("RedactJSON changed its argument")
			}
		})
	}
}

func TestBackfillJSON(t *testing.T) {
	stored := `{"uri":"/x","link":{"url":"https://alice:hunter2@h.example/a"},"z":["https://t0k@g/"]}`
	hidden := string(RedactJSON([]byte(stored)))
	tests := []struct {
		name, sent, want string
		wantErr          bool
	}{
		{name: "no placeholder", sent: `{"uri":"/y"}`, want: `{"uri":"/y"}`},
		{name: "as read", sent: hidden, want: stored},
		{name: "as read, re-indented", sent: "{\n \"uri\": \"/x\",\n \"link\": {\"url\": \"https://%5Bhidden-secret%5D@h.example/a\"},\n \"z\": [\"https://%5Bhidden-secret%5D@g/\"]\n}", want: stored},
		{name: "as read, one credential replaced", sent: strings.Replace(hidden, `https://%5Bhidden-secret%5D@g/`, `https://new@g/`, 1),
			want: strings.Replace(stored, `https://t0k@g/`, `https://new@g/`, 1)},
		{name: "something else changed", sent: strings.Replace(hidden, `"/x"`, `"/y"`, 1), wantErr: true},
		{name: "host changed", sent: strings.Replace(hidden, `h.example`, `evil.example`, 1), wantErr: true},
		{name: "invalid", sent: `{"a":"https://%5Bhidden-secret%5D@h/"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BackfillJSON([]byte(tt.sent), []byte(stored))
			if tt.wantErr {
				if !errors.Is(err, ErrHiddenURL) {
					t.Fatalf("BackfillJSON = %s, %v; want a *HiddenURLError", got, err)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "alice") {
					t.Errorf("error %q quotes the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("BackfillJSON = %s\nwant           %s", got, tt.want)
			}
		})
	}
}

func TestBackfillJSONNothingStored(t *testing.T) {
	_, err := BackfillJSON([]byte(`{"u":"https://%5Bhidden-secret%5D@h/"}`), nil)
	if !errors.Is(err, ErrHiddenURL) || !strings.Contains(err.Error(), "nothing is stored") {
		t.Errorf("BackfillJSON with nothing stored: %v", err)
	}
}

// FuzzRedactURLs checks, against Go's own URL parser, that no text keeps
// URL credentials after redaction, that redaction is idempotent and keeps
// the host, that a hidden value backfills to itself, and that JSON
// redaction keeps a document valid.
func FuzzRedactURLs(f *testing.F) {
	for _, s := range []string{
		"https://alice:hunter2@h.example/x", "http://t@[::1]:3/", `Get "http://u:p@h": EOF`, "a@b", "://@",
		`https://u:p@evil\@good/`, "https://[hidden-secret]@h/", "x://a@b://c@d/", "https://%zz@h/",
	} {
		f.Add(s, "https://other:pw@h.example/")
	}
	f.Fuzz(func(t *testing.T, text, stored string) {
		r := RedactURLs(text)
		if RedactURLs(r) != r {
			t.Fatalf("not idempotent: %q -> %q -> %q", text, r, RedactURLs(r))
		}
		if HasURLCredentials(r) {
			t.Fatalf("%q keeps credentials after redaction: %q", text, r)
		}
		if u, err := url.Parse(r); err == nil && u.User != nil && u.User.String() != "" {
			if _, has := u.User.Password(); has || u.User.Username() != HiddenUserinfo {
				t.Fatalf("net/url reads userinfo %q in %q (from %q)", u.User, r, text)
			}
		}
		if u, err := url.Parse(text); err == nil && u.User != nil && u.User.String() != "" && u.Scheme != "" {
			ru, err := url.Parse(r)
			if err != nil {
				t.Fatalf("%q parses, its redaction %q does not: %v", text, r, err)
			}
			if ru.Host != u.Host {
				t.Fatalf("redaction moved the host: %q -> %q", u.Host, ru.Host)
			}
		}
		if HasURLCredentials(text) {
			back, err := BackfillURL(r, text)
			if err != nil || back != text {
				t.Fatalf("BackfillURL(RedactURLs(%q)) = %q, %v", text, back, err)
			}
		}
		if got, err := BackfillURL(text, stored); err == nil && got != text {
			// Stored credentials were used: they must be for the stored
			// server, as net/url reads both.
			gu, err1 := url.Parse(got)
			su, err2 := url.Parse(stored)
			if err1 == nil && err2 == nil && gu.Host != "" && !strings.EqualFold(gu.Host, su.Host) &&
				!SameOrigin(got, stored) && !(RedactURLs(text) == RedactURLs(stored)) {
				t.Fatalf("BackfillURL(%q, %q) sent stored credentials to %q", text, stored, gu.Host)
			}
		}
		doc, _ := json.Marshal(map[string]string{text: text})
		var orig map[string]string
		json.Unmarshal(doc, &orig) // as JSON holds it: invalid UTF-8 replaced
		red := RedactJSON(doc)
		var m map[string]string
		if err := json.Unmarshal(red, &m); err != nil {
			t.Fatalf("RedactJSON(%s) = %s, invalid: %v", doc, red, err)
		}
		for k, v := range orig {
			if want := RedactURLs(k); m[want] != RedactURLs(v) {
				t.Fatalf("RedactJSON(%s) = %s, want key and value %q", doc, red, want)
			}
		}
	})
}
