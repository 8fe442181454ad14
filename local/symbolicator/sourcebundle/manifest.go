package sourcebundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"
)

// manifest is manifest.json as symbolic reads it (SourceBundleManifest).
type manifest struct {
	files []FileInfo // sorted by ZipPath
	links []sourceLink
	attrs map[string]string
}

// fileTypes are the values of a file's "type" symbolic knows; any other
// value makes the whole manifest unreadable to it.
var fileTypes = map[string]bool{
	"source": true, "minified_source": true, "source_map": true, "indexed_ram_bundle": true,
}

// parseManifest decodes raw with the strictness of symbolic's serde model,
// so that a manifest symbolic rejects (and with it the whole bundle) is
// rejected here too: the top level must be an object; "files" an object of
// objects whose "type" is null or a known type, "path" and "url" strings,
// "headers" an object of strings, other keys ignored; "source_links" an
// object of strings; every other top-level value a string. A field named
// twice in one object is an error; a map key named twice keeps the last.
// Nothing may follow the object but white space.
func parseManifest(raw []byte, maxFiles int) (*manifest, error) {
	if !utf8.Valid(raw) {
		return nil, manifestErr("not UTF-8")
	}
	p := &manifestParser{d: json.NewDecoder(bytes.NewReader(raw)), maxFiles: maxFiles}
	p.d.UseNumber()
	m, err := p.top()
	if err != nil {
		return nil, err
	}
	return m, nil
}

func manifestErr(format string, args ...any) error {
	return fmt.Errorf("sourcebundle: "+manifestPath+": "+format, args...)
}

type manifestParser struct {
	d        *json.Decoder
	maxFiles int
}

func (p *manifestParser) token() (json.Token, error) {
	t, err := p.d.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, manifestErr("not JSON: %v", err)
	}
	return t, nil
}

// openObject reads the '{' that must start the value called what.
func (p *manifestParser) openObject(what string) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return manifestErr("%s is %s, not an object", what, describe(t))
	}
	return nil
}

// key reads the next key of the object being read.
func (p *manifestParser) key() (string, error) {
	t, err := p.token()
	if err != nil {
		return "", err
	}
	k, ok := t.(string)
	if !ok {
		return "", manifestErr("not JSON: object key is %s", describe(t))
	}
	return k, nil
}

// closeObject reads the '}' that ends the object being read (More has
// returned false, so only a '}' or a syntax error can come).
func (p *manifestParser) closeObject() error {
	_, err := p.token()
	return err
}

func (p *manifestParser) str(what string) (string, error) {
	t, err := p.token()
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", manifestErr("%s is %s, not a string", what, describe(t))
	}
	return s, nil
}

// skip reads one value of any shape.
func (p *manifestParser) skip() error {
	depth := 0
	for {
		t, err := p.token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func (p *manifestParser) top() (*manifest, error) {
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, manifestErr("is %s, not an object", describe(t))
	}
	m := &manifest{attrs: map[string]string{}}
	var haveFiles, haveLinks bool
	files := map[string]FileInfo{}
	links := map[string]string{}
	for p.d.More() {
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		switch k {
		case "files":
			if haveFiles {
				return nil, manifestErr("duplicate field %q", k)
			}
			haveFiles = true
			if err := p.files(files); err != nil {
				return nil, err
			}
		case "source_links":
			if haveLinks {
				return nil, manifestErr("duplicate field %q", k)
			}
			haveLinks = true
			if err := p.stringMap("source_links", links); err != nil {
				return nil, err
			}
		default:
			v, err := p.str(fmt.Sprintf("attribute %q", k))
			if err != nil {
				return nil, err
			}
			m.attrs[k] = v
		}
	}
	if err := p.closeObject(); err != nil {
		return nil, err
	}
	if t, err := p.d.Token(); err != io.EOF {
		if err != nil {
			return nil, manifestErr("not JSON after the object: %v", err)
		}
		return nil, manifestErr("%s after the object", describe(t))
	}
	m.files = make([]FileInfo, 0, len(files))
	for _, f := range files {
		m.files = append(m.files, f)
	}
	sortFiles(m.files)
	m.links = compileLinks(links)
	return m, nil
}

func (p *manifestParser) files(out map[string]FileInfo) error {
	if err := p.openObject("files"); err != nil {
		return err
	}
	n := 0
	for p.d.More() {
		zipPath, err := p.key()
		if err != nil {
			return err
		}
		if n++; n > p.maxFiles {
			return manifestErr("files has more than the limit of %d entries", p.maxFiles)
		}
		f, err := p.fileInfo(zipPath)
		if err != nil {
			return err
		}
		out[zipPath] = f
	}
	return p.closeObject()
}

// knownFields are the fields of a files entry symbolic reads.
var knownFields = [...]string{"type", "path", "url", "headers"}

func (p *manifestParser) fileInfo(zipPath string) (FileInfo, error) {
	what := fmt.Sprintf("files[%q]", zipPath)
	if err := p.openObject(what); err != nil {
		return FileInfo{}, err
	}
	f := FileInfo{ZipPath: zipPath}
	var seen [len(knownFields)]bool
	for p.d.More() {
		k, err := p.key()
		if err != nil {
			return f, err
		}
		for i, name := range knownFields {
			if k == name {
				if seen[i] {
					return f, manifestErr("%s: duplicate field %q", what, k)
				}
				seen[i] = true
			}
		}
		switch k {
		case "type":
			t, err := p.token()
			if err != nil {
				return f, err
			}
			switch v := t.(type) {
			case nil:
			case string:
				if !fileTypes[v] {
					return f, manifestErr("%s: unknown type %q", what, v)
				}
				f.Type = v
			default:
				return f, manifestErr("%s: type is %s, not a string", what, describe(t))
			}
		case "path":
			if f.Path, err = p.str(what + ".path"); err != nil {
				return f, err
			}
		case "url":
			if f.URL, err = p.str(what + ".url"); err != nil {
				return f, err
			}
		case "headers":
			raw := map[string]string{}
			if err := p.stringMap(what+".headers", raw); err != nil {
				return f, err
			}
			f.Headers = lowerHeaders(raw)
		default:
			if err := p.skip(); err != nil {
				return f, err
			}
		}
	}
	return f, p.closeObject()
}

// stringMap reads an object of strings into out; a key named twice keeps
// its last value. It reads at most maxFiles keys.
func (p *manifestParser) stringMap(what string, out map[string]string) error {
	if err := p.openObject(what); err != nil {
		return err
	}
	n := 0
	for p.d.More() {
		k, err := p.key()
		if err != nil {
			return err
		}
		if n++; n > p.maxFiles {
			return manifestErr("%s has more than the limit of %d entries", what, p.maxFiles)
		}
		v, err := p.str(fmt.Sprintf("%s[%q]", what, k))
		if err != nil {
			return err
		}
		out[k] = v
	}
	return p.closeObject()
}

// lowerHeaders lower-cases the ASCII letters of header names, as symbolic
// does on reading. Of two names that become equal, the one that sorts
// later as written wins (symbolic rebuilds the map in that order).
func lowerHeaders(raw map[string]string) map[string]string {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(raw))
	for _, k := range keys {
		out[asciiLower(k)] = raw[k]
	}
	return out
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// describe names a JSON token's kind for an error.
func describe(t json.Token) string {
	switch v := t.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	}
	return fmt.Sprintf("%T", t)
}
