package sources

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestListJSON(t *testing.T) {
	tests := []struct {
		name string
		list List
		want string
	}{
		{"nil list is an empty array", nil, `[]`},
		{"empty list", List{}, `[]`},
		{"sources in order", List{{"id": "b", "type": "http"}, {"id": "a"}}, `[{"id":"b","type":"http"},{"id":"a"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.list)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func TestSourceJSONRoundTrip(t *testing.T) {
	raw := `[{"id":"x","n":123456789012345678901234567890,"f":1.50,"nested":{"a":[1,{"b":null}]},"t":true},null]`
	var l List
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"f":1.50,"id":"x","n":123456789012345678901234567890,"nested":{"a":[1,{"b":null}]},"t":true},null]`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestSourceUnmarshalErrors(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"not an object", `[1]`, "expected"},
		{"array element broken", `[{"id":}]`, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l List
			err := json.Unmarshal([]byte(tt.raw), &l)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSourceAccessors(t *testing.T) {
	tests := []struct {
		name           string
		s              Source
		id, typ, title string
	}{
		{"all set", Source{"id": "a", "type": "http", "name": "A"}, "a", "http", "A"},
		{"wrong types", Source{"id": 1, "type": nil, "name": []any{}}, "", "", ""},
		{"nil", nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s.ID() != tt.id || tt.s.Type() != tt.typ || tt.s.Name() != tt.title {
				t.Errorf("ID, Type, Name = %q, %q, %q", tt.s.ID(), tt.s.Type(), tt.s.Name())
			}
		})
	}
}

func TestCloneIsDeep(t *testing.T) {
	orig := List{{"id": "a", "headers": map[string]any{"k": "v"}, "list": []any{map[string]any{"x": 1}}, "strs": []string{"s"}}}
	c := orig.Clone()
	c[0]["headers"].(map[string]any)["k"] = "changed"
	c[0]["list"].([]any)[0].(map[string]any)["x"] = 2
	c[0]["strs"].([]string)[0] = "changed"
	if orig[0]["headers"].(map[string]any)["k"] != "v" || orig[0]["list"].([]any)[0].(map[string]any)["x"] != 1 ||
		orig[0]["strs"].([]string)[0] != "s" {
		t.Errorf("Clone shares values: %v", orig)
	}
	if List(nil).Clone() != nil || Source(nil).Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
}

func TestNilCatalog(t *testing.T) {
	var c *Catalog
	if c.Keys() != nil {
		t.Error("Keys of nil catalog")
	}
	if _, ok := c.Lookup("microsoft"); ok {
		t.Error("Lookup in nil catalog found something")
	}
	if _, ok := DefaultCatalog().Lookup("no-such-key"); ok {
		t.Error("Lookup of an unknown key found something")
	}
	if b, _ := c.MarshalJSON(); string(b) != "[]" {
		t.Errorf("nil catalog marshals to %s", b)
	}
}
