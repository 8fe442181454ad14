package sources

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultCatalog(t *testing.T) {
	c := DefaultCatalog()
	wantKeys := []string{"microsoft", "nuget", "citrix", "intel", "amd", "nvidia", "chromium",
		"unity", "mozilla", "autodesk", "electron", "ubuntu", "ios"}
	if got := c.Keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Fatalf("Keys = %q, want %q (catalog order is the JSON key order)", got, wantKeys)
	}
	for _, key := range wantKeys {
		t.Run(key, func(t *testing.T) {
			s, ok := c.Lookup(key)
			if !ok {
				t.Fatal("missing")
			}
			if want := "sentry:" + key; s.ID() != want {
				t.Errorf("id = %q, want %q", s.ID(), want)
			}
			if s.Name() == "" {
				t.Error("no name")
			}
			if s.Type() == TypeAlias {
				return
			}
			if s.Type() != TypeHTTP {
				t.Errorf("type = %q, want http", s.Type())
			}
			u, _ := s["url"].(string)
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || !strings.HasSuffix(u, "/") {
				t.Errorf("url = %q, want an http(s) URL ending in /", u)
			}
			// A catalog entry must be a valid source as far as the custom
			// rules go (bar the reserved id and catalog-only fields).
			c := s.Clone()
			c["id"] = "check"
			delete(c, "is_public")
			delete(c, "has_index")
			delete(c, "headers")
			if f, ok := c["filters"].(map[string]any); ok {
				if fts, ok := f["filetypes"].([]any); ok {
					for _, ft := range fts {
						if err := checkEnum("filetypes", "file type", ft, validFileTypes); err != nil {
							t.Error(err)
						}
					}
				}
			}
			if err := checkLayout("layout", c["layout"]); err != nil {
				t.Error(err)
			}
		})
	}

	tests := []struct {
		key, path string
		want      string
	}{
		{"microsoft", "layout", `{"type":"symstore"}`},
		{"microsoft", "filters", `{"filetypes":["pe","pdb","portablepdb"]}`},
		{"nuget", "filters", `{"filetypes":["portablepdb"],"requires_checksum":true}`},
		{"electron", "layout", `{"type":"native"}`},
		{"electron", "filters", `{"filetypes":["pdb","breakpad","sourcebundle"],"path_patterns":["*electron*","*ffmpeg*","*libEGL*","*libGLESv2*","*node*","*slack*","*vk_swiftshader*"]}`},
		{"ubuntu", "layout", `{"type":"debuginfod"}`},
		{"ubuntu", "url", `"https://debuginfod.ubuntu.com/buildid/"`},
		{"ubuntu", "filters", `{"filetypes":["elf_code","elf_debug"]}`},
		{"ios", "sources", `["ios-source","tvos-source"]`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"."+tt.path, func(t *testing.T) {
			s, _ := c.Lookup(tt.key)
			if !jsonEqual(t, s[tt.path], tt.want) {
				b, _ := json.Marshal(s[tt.path])
				t.Errorf("%s = %s, want %s", tt.path, b, tt.want)
			}
		})
	}
}

func TestCatalogLookupReturnsCopy(t *testing.T) {
	c := DefaultCatalog()
	s, _ := c.Lookup("microsoft")
	s["url"] = "https://evil.example/"
	s["filters"].(map[string]any)["filetypes"] = []any{}
	again, _ := c.Lookup("microsoft")
	if again["url"] != "https://msdl.microsoft.com/download/symbols/" {
		t.Errorf("changing a looked-up source changed the catalog: url = %v", again["url"])
	}
	if !jsonEqual(t, again["filters"], `{"filetypes":["pe","pdb","portablepdb"]}`) {
		t.Errorf("changing a looked-up source changed the catalog: filters = %v", again["filters"])
	}
}

func TestParseCatalog(t *testing.T) {
	testCatalog, err := os.ReadFile("testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		raw      string
		wantKeys []string
	}{
		{"object keeps key order", `{"b":{"type":"http","id":"sentry:b"},"a":{"type":"http","id":"sentry:a"},"c":{"type":"alias","id":"sentry:c","sources":[]}}`, []string{"b", "a", "c"}},
		{"array form", `[{"key":"z","source":{"type":"http","id":"z"}},{"key":"y","source":{"type":"s3","id":"y"}}]`, []string{"z", "y"}},
		{"empty object", `{}`, []string{}},
		{"empty array", ` [ ] `, []string{}},
		{"test catalog", string(testCatalog), []string{"zeta", "ios-source", "tvos-source", "ios", "apple", "macos-source", "loop-a", "loop-b", "alpha"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCatalog([]byte(tt.raw))
			if err != nil {
				t.Fatalf("ParseCatalog: %v", err)
			}
			got := c.Keys()
			if !reflect.DeepEqual(got, tt.wantKeys) {
				t.Errorf("Keys = %q, want %q", got, tt.wantKeys)
			}
			// The array form written by MarshalJSON parses back to the same.
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseCatalog(b)
			if err != nil {
				t.Fatalf("reparse %s: %v", b, err)
			}
			if !reflect.DeepEqual(back.Keys(), got) {
				t.Errorf("reparsed keys = %q, want %q", back.Keys(), got)
			}
		})
	}
}

func TestParseCatalogKeepsNumbers(t *testing.T) {
	raw, err := os.ReadFile("testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCatalog(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.Lookup("alpha")
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"size":12345678901234567890`) {
		t.Errorf("number lost precision: %s", b)
	}
}

func TestParseCatalogInvalid(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantKey string
		wantMsg string
	}{
		{"empty", ``, "", "must be a JSON object or array"},
		{"string", `"x"`, "", "must be a JSON object or array"},
		{"broken object", `{"a":{"type":"http","id":"x"}`, "", "invalid JSON"},
		{"broken array", `[{"key":"a","source":{}}`, "", "invalid JSON"},
		{"trailing data", `{"a":{"type":"http","id":"x"}} {}`, "", "after the JSON value"},
		{"entry not object", `{"a":[1]}`, "", `entry "a": must be a JSON object, got array`},
		{"duplicate key", `{"a":{"type":"http","id":"x"},"a":{"type":"http","id":"y"}}`, "a", "duplicate key"},
		{"no key in array form", `[{"source":{"type":"http","id":"x"}}]`, "", "entry 0 has no key"},
		{"source null in array form", `[{"key":"a","source":null}]`, "a", "must be a JSON object"},
		{"missing id", `{"a":{"type":"http"}}`, "a", "id must be a non-empty string"},
		{"empty id", `{"a":{"type":"http","id":""}}`, "a", "id must be a non-empty string"},
		{"missing type", `{"a":{"id":"x"}}`, "a", "type must be a non-empty string"},
		{"alias without sources", `{"a":{"type":"alias","id":"x"}}`, "a", "alias needs sources"},
		{"alias sources not array", `{"a":{"type":"alias","id":"x","sources":"b"}}`, "a", "alias needs sources"},
		{"alias source key not string", `{"a":{"type":"alias","id":"x","sources":["b",2]}}`, "a", "sources[1] must be a string, got number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalog([]byte(tt.raw))
			var ce *CatalogError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want a *CatalogError", err)
			}
			if ce.Key != tt.wantKey {
				t.Errorf("Key = %q, want %q", ce.Key, tt.wantKey)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}
