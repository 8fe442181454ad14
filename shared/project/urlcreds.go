package project

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
)

// URL credentials (the userinfo of a URL, "user:password@") are secrets
// like the designated secret fields: a custom symbol source's url, an
// installation's webhook url, a catalog entry or a Sentry URL prefix may
// carry them, and Symbolicator and the apps read them from there (as
// Basic authorization). Wherever such a URL leaves the store (a
// configuration read, workflow state, a log line, an error, a stored
// object) its userinfo is replaced by HiddenUserinfo; only the code that
// makes the request puts the stored userinfo back.
//
// The URL keeps its scheme, host, port, path and query, so a reader still
// sees which server a source or an app points at, and a client that reads
// a configuration, edits something and writes it back (as Sentry's UI
// does) sends the placeholder back, which BackfillURL replaces with the
// stored credentials. The whole userinfo is hidden, not only the password:
// many servers take a token as the user name ("https://TOKEN@host/").

// HiddenUserinfo is the user name that stands for hidden URL credentials:
// the placeholder string the scraping token and client secrets use. In a
// URL it is percent-encoded (%5Bhidden-secret%5D), so the URL stays valid
// for any client that checks it; the raw form is accepted back too.
const HiddenUserinfo = "[hidden-secret]"

// hiddenUserinfoEscaped is HiddenUserinfo as it is written in a URL.
const hiddenUserinfoEscaped = "%5Bhidden-secret%5D"

// userinfoSpan is where one URL's userinfo is in a text: text[start:end],
// just after "scheme://" and just before the "@" that ends it.
type userinfoSpan struct {
	start, end int
}

// userinfoSpans finds the userinfo of every URL in text, as generously as
// the parsers that read these URLs: Go's net/url (symflow), Python's
// urllib (Sentry) and the WHATWG URL standard (Symbolicator's url crate).
//
// A URL starts at a scheme (a run of letters, digits, "+", "-", "."),
// then ":". Its authority follows "//"; for the schemes the WHATWG
// parser treats as special (http, https, ws, wss, ftp) it follows any
// run of "/" and "\", none included ("https:u:p@host/" has userinfo
// there). The authority runs to the first "/", "?" or "#", as Python
// splits it; its userinfo is what comes before the last "@" in it, as
// all three split it. Nothing else ends the authority: not a backslash
// (WHATWG ends it there for special schemes), not a space or a tab
// (WHATWG and Python drop tabs and newlines, and WHATWG takes a space
// into the user name), not a quote. Finding more userinfo than a parser
// would hides too much of a text, never too little.
func userinfoSpans(text string) []userinfoSpan {
	var spans []userinfoSpan
	i := 0
	if strings.HasPrefix(text, "//") {
		// A scheme-relative reference ("//user@host/") has an authority
		// too: net/url and browsers read its userinfo.
		end := 2 + strings.IndexAny(text[2:], "/?#")
		if end < 2 {
			end = len(text)
		}
		if at := strings.LastIndexByte(text[2:end], '@'); at > 0 {
			spans = append(spans, userinfoSpan{start: 2, end: 2 + at})
		}
		i = end
	}
	for i < len(text) {
		j := strings.IndexByte(text[i:], ':')
		if j < 0 {
			return spans
		}
		colon := i + j
		i = colon + 1
		k := colon
		for k > 0 && isSchemeByte(text[k-1]) {
			k--
		}
		if k == colon {
			continue
		}
		start := colon + 1
		if isSpecialScheme(text[k:colon]) {
			for start < len(text) && (text[start] == '/' || text[start] == '\\') {
				start++
			}
			// After "//", Python takes backslashes into the userinfo
			// that WHATWG skips: hide them with it.
			if strings.HasPrefix(text[colon+1:], "//") && !strings.Contains(text[colon+3:start], "/") {
				start = colon + 3
			}
		} else if strings.HasPrefix(text[start:], "//") {
			start += 2
		} else {
			continue
		}
		end := start + strings.IndexAny(text[start:], "/?#")
		if end < start {
			end = len(text)
		}
		if at := strings.LastIndexByte(text[start:end], '@'); at > 0 {
			spans = append(spans, userinfoSpan{start: start, end: start + at})
		}
		i = max(end, i)
	}
	return spans
}

func isSchemeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isSpecialScheme reports whether the WHATWG parser reads an authority
// after scheme whatever slashes follow its ":". The run of scheme bytes
// before a ":" may start earlier than the scheme ("xhttp:"), so only its
// end is compared; hiding more is safe.
func isSpecialScheme(run string) bool {
	run = strings.ToLower(run)
	for _, s := range []string{"http", "https", "ws", "wss", "ftp"} {
		if strings.HasSuffix(run, s) {
			return true
		}
	}
	return false
}

// isHiddenUserinfo reports whether a URL's userinfo is the placeholder,
// percent-encoded (any case of hex digits) or not.
func isHiddenUserinfo(userinfo string) bool {
	u, err := url.PathUnescape(userinfo)
	return err == nil && u == HiddenUserinfo
}

// RedactURLs returns text with the userinfo of every URL in it replaced by
// HiddenUserinfo (percent-encoded): "https://u:p@host/x" becomes
// "https://%5Bhidden-secret%5D@host/x". Everything else is kept byte for
// byte, so a configuration value stays the same URL but for its
// credentials, and an error or log line stays readable. A URL without
// userinfo (or with an empty one, "https://@host/") is unchanged; so is a
// text that has no URL. Hiding is idempotent.
//
// It is applied to single values (a URL, an error's text), not to a whole
// JSON document, whose quotes it would not respect: use RedactJSON there.
func RedactURLs(text string) string {
	spans := userinfoSpans(text)
	if len(spans) == 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	last := 0
	for _, sp := range spans {
		b.WriteString(text[last:sp.start])
		b.WriteString(hiddenUserinfoEscaped)
		last = sp.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// HasURLCredentials reports whether text holds a URL with userinfo that is
// not the hidden placeholder: a value that RedactURLs would change.
func HasURLCredentials(text string) bool {
	for _, sp := range userinfoSpans(text) {
		if !isHiddenUserinfo(text[sp.start:sp.end]) {
			return true
		}
	}
	return false
}

// HasHiddenURL reports whether text holds a URL whose userinfo is the
// HiddenUserinfo placeholder: a value that must be backfilled before it
// is saved or used.
func HasHiddenURL(text string) bool {
	for _, sp := range userinfoSpans(text) {
		if isHiddenUserinfo(text[sp.start:sp.end]) {
			return true
		}
	}
	return false
}

// HiddenURLError says why hidden URL credentials cannot be filled back.
// It never quotes either URL.
type HiddenURLError struct {
	Reason string
}

func (e *HiddenURLError) Error() string { return "hidden URL credentials: " + e.Reason }

// ErrHiddenURL is matched (errors.Is) by every *HiddenURLError.
var ErrHiddenURL = errors.New("hidden URL credentials")

func (e *HiddenURLError) Is(target error) bool { return target == ErrHiddenURL }

// BackfillURL returns the value to save (or to send) for sent, a value
// received with its URL credentials possibly hidden, given stored, the
// value it replaces. A sent value without the placeholder is returned as
// it is: it sets new credentials or none. Otherwise:
//
//   - If sent is stored with its URL credentials hidden (nothing else
//     changed, the usual read-edit-write of a client that left the field
//     alone), each placeholder takes the stored userinfo at its place.
//   - Else, if sent is one URL whose userinfo is the placeholder and
//     stored one URL with credentials, sent takes the stored userinfo
//     only when both have the same scheme, host and port: credentials
//     belong to a server (HTTP's protection space is per origin, RFC
//     7235 §2.2), so a path or query may change, but a client that can
//     read the configuration and not its secrets cannot send them to a
//     server of its own by changing the host and keeping the placeholder.
//     Such a change is refused rather than saved without credentials, so
//     that the writer knows to send them again.
//
// Anything else is a *HiddenURLError.
func BackfillURL(sent, stored string) (string, error) {
	sentSpans := userinfoSpans(sent)
	hidden := false
	for _, sp := range sentSpans {
		if isHiddenUserinfo(sent[sp.start:sp.end]) {
			hidden = true
			break
		}
	}
	if !hidden {
		return sent, nil
	}
	storedSpans := userinfoSpans(stored)
	if len(storedSpans) == 0 {
		return "", &HiddenURLError{Reason: "the stored value has no credentials to fill the placeholder: send them"}
	}
	var out string
	if RedactURLs(sent) == RedactURLs(stored) && len(sentSpans) == len(storedSpans) {
		var b strings.Builder
		last := 0
		for i, sp := range sentSpans {
			b.WriteString(sent[last:sp.start])
			if isHiddenUserinfo(sent[sp.start:sp.end]) {
				b.WriteString(stored[storedSpans[i].start:storedSpans[i].end])
			} else {
				b.WriteString(sent[sp.start:sp.end])
			}
			last = sp.end
		}
		b.WriteString(sent[last:])
		out = b.String()
	} else {
		if len(sentSpans) != 1 || len(storedSpans) != 1 {
			return "", &HiddenURLError{Reason: "the value changed and holds more than one URL: send the credentials again"}
		}
		if !SameOrigin(sent, stored) {
			return "", &HiddenURLError{Reason: "the URL's scheme, host or port differs from the stored URL's, and credentials are kept only for the server they were given for: send them again"}
		}
		sp, ssp := sentSpans[0], storedSpans[0]
		out = sent[:sp.start] + stored[ssp.start:ssp.end] + sent[sp.end:]
		if !SameOrigin(out, stored) {
			return "", &HiddenURLError{Reason: "the URL with the stored credentials would name another server: send them again"}
		}
	}
	if HasHiddenURL(out) {
		return "", &HiddenURLError{Reason: "the stored value is itself hidden"}
	}
	return out, nil
}

// SameOrigin reports whether a and b are both absolute URLs with the same
// scheme, host and port (a missing port is the scheme's default),
// whatever their userinfo, path, query and fragment. A URL that Go's
// net/url does not parse, or that holds a backslash (which the WHATWG
// parser, Symbolicator's, reads as a path separator where net/url does
// not, so the two could see different hosts), is never the same origin.
func SameOrigin(a, b string) bool {
	ua, ok := originOf(a)
	if !ok {
		return false
	}
	ub, ok := originOf(b)
	return ok && ua == ub
}

// originOf is "scheme://host:port" of raw, with its userinfo removed
// before parsing (the raw placeholder is no valid userinfo).
func originOf(raw string) (string, bool) {
	if strings.ContainsRune(raw, '\\') {
		return "", false
	}
	if spans := userinfoSpans(raw); len(spans) > 0 {
		sp := spans[0]
		raw = raw[:sp.start] + raw[sp.end+1:]
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port, true
}

// StripURLCredentials returns raw with its userinfo removed, and the
// userinfo (nil when there was none). It is how a request is made to a
// URL with credentials without the URL carrying them: the caller sends
// them as an Authorization header, so that the request's URL, and every
// error net/http builds from it, holds none.
func StripURLCredentials(u *url.URL) (*url.URL, *url.Userinfo) {
	if u == nil || u.User == nil {
		return u, nil
	}
	c := *u
	c.User = nil
	return &c, u.User
}

// RedactJSON returns doc, a JSON document, with RedactURLs applied to
// every string in it, keys included; everything between the strings is
// kept byte for byte, so a schema keeps its key order and layout. A
// string literal that does not decode is redacted as raw text. doc is not
// changed; when nothing needs hiding it is returned as it is.
func RedactJSON(doc []byte) []byte {
	if bytes.IndexByte(doc, '@') < 0 && !bytes.Contains(doc, []byte(`\u`)) {
		return doc // no userinfo can be spelled without an "@"
	}
	var out []byte
	last := 0
	forEachJSONString(doc, func(start, end int, closed bool) {
		lit := doc[start:end]
		if bytes.IndexByte(lit, ':') < 0 && !bytes.Contains(lit, []byte(`\u`)) && !bytes.HasPrefix(lit, []byte(`"/`)) && !bytes.HasPrefix(lit, []byte(`"\/`)) {
			return // no "://" nor a leading "//", however escaped
		}
		var s string
		var repl []byte
		if closed && json.Unmarshal(lit, &s) == nil {
			r := RedactURLs(s)
			if r == s {
				return
			}
			repl = marshalString(r)
		} else {
			inner := string(literalBody(lit, closed))
			r := RedactURLs(inner)
			if r == inner {
				return
			}
			repl = []byte(`"` + r)
			if closed {
				repl = append(repl, '"')
			}
		}
		if out == nil {
			out = make([]byte, 0, len(doc))
		}
		out = append(out, doc[last:start]...)
		out = append(out, repl...)
		last = end
	})
	if out == nil {
		return doc
	}
	return append(out, doc[last:]...)
}

// forEachJSONString calls fn with the bounds of every string literal of
// doc, quotes included. An unterminated literal at the end is passed too
// (closed false), so that nothing escapes redaction.
func forEachJSONString(doc []byte, fn func(start, end int, closed bool)) {
	for i := 0; i < len(doc); i++ {
		if doc[i] != '"' {
			continue
		}
		start := i
		i++
		for i < len(doc) && doc[i] != '"' {
			if doc[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(doc) {
			fn(start, len(doc), false)
			return
		}
		fn(start, i+1, true)
	}
}

// literalBody is a string literal without its quotes.
func literalBody(lit []byte, closed bool) []byte {
	if closed {
		return lit[1 : len(lit)-1]
	}
	return lit[1:]
}

// marshalString encodes s as a JSON string without HTML escaping.
func marshalString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// BackfillJSON is BackfillURL for a JSON document (a component schema):
// a sent document holding hidden URL credentials is accepted when it is
// the stored one with its credentials hidden, and then each placeholder
// takes the stored userinfo at its place; both are compacted first. A
// document without the placeholder is returned as it is.
func BackfillJSON(sent, stored []byte) ([]byte, error) {
	if !hasHiddenJSON(sent) {
		return sent, nil
	}
	if len(bytes.TrimSpace(stored)) == 0 {
		return nil, &HiddenURLError{Reason: "nothing is stored to fill the placeholder: send the credentials"}
	}
	var cs, cst bytes.Buffer
	if json.Compact(&cs, sent) != nil || json.Compact(&cst, stored) != nil {
		return nil, &HiddenURLError{Reason: "not valid JSON"}
	}
	if !bytes.Equal(RedactJSON(cs.Bytes()), RedactJSON(cst.Bytes())) {
		return nil, &HiddenURLError{Reason: "the document is not the stored one with its URL credentials hidden: send the credentials again"}
	}
	sentDoc, storedDoc := cs.Bytes(), cst.Bytes()
	var storedLits [][2]int
	forEachJSONString(storedDoc, func(s, e int, _ bool) { storedLits = append(storedLits, [2]int{s, e}) })
	var out []byte
	last, n := 0, 0
	var failed error
	forEachJSONString(sentDoc, func(start, end int, _ bool) {
		i := n
		n++
		if failed != nil || i >= len(storedLits) {
			return
		}
		var s, st string
		if json.Unmarshal(sentDoc[start:end], &s) != nil || !HasHiddenURL(s) {
			return
		}
		if json.Unmarshal(storedDoc[storedLits[i][0]:storedLits[i][1]], &st) != nil {
			failed = &HiddenURLError{Reason: "the stored value does not decode"}
			return
		}
		filled, err := BackfillURL(s, st)
		if err != nil {
			failed = err
			return
		}
		out = append(out, sentDoc[last:start]...)
		out = append(out, marshalString(filled)...)
		last = end
	})
	if failed != nil {
		return nil, failed
	}
	if n != len(storedLits) {
		return nil, &HiddenURLError{Reason: "the document is not the stored one with its URL credentials hidden: send the credentials again"}
	}
	return append(out, sentDoc[last:]...), nil
}

// hasHiddenJSON reports whether any string of doc holds the placeholder.
func hasHiddenJSON(doc []byte) bool {
	found := false
	forEachJSONString(doc, func(start, end int, closed bool) {
		if found {
			return
		}
		var s string
		if !closed || json.Unmarshal(doc[start:end], &s) != nil {
			s = string(literalBody(doc[start:end], closed))
		}
		found = HasHiddenURL(s)
	})
	return found
}
