package sources

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// jsonEqual reports whether the Go value got encodes as the JSON text want.
func jsonEqual(t *testing.T, got any, want string) bool {
	t.Helper()
	return reflect.DeepEqual(normJSON(t, got), normJSON(t, json.RawMessage(want)))
}

// normJSON turns v (a Go value, or JSON text as []byte or json.RawMessage)
// into its generic decoding.
func normJSON(t *testing.T, v any) any {
	t.Helper()
	var raw []byte
	switch v := v.(type) {
	case []byte:
		raw = v
	case json.RawMessage:
		raw = v
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			t.Fatalf("marshal %T: %v", v, err)
		}
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("unmarshal %s: %v", raw, err)
	}
	return out
}

const (
	httpOK = `{"type":"http","id":"web","name":"Web","url":"https://symbols.example.com/x/","username":"alice","password":"hunter2","layout":{"type":"symstore","casing":"lowercase"},"filters":{"filetypes":["pe","pdb"],"path_patterns":["*.dll"],"requires_checksum":true}}`
	s3OK   = `{"type":"s3","id":"bucket","name":"Bucket","bucket":"syms","region":"eu-west-1","access_key":"AKIA","secret_key":"s3cr3t-key","prefix":"a/b","layout":{"type":"unified"}}`
	gcsOK  = `{"type":"gcs","id":"gcs","bucket":"syms","client_email":"x@y.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----xyz","layout":{"type":"native","casing":"default"}}`
	ascOK  = `{"type":"appStoreConnect","id":"asc","name":"ASC","appconnectIssuer":"i","appconnectKey":"k","appconnectPrivateKey":"pk-secret","appName":"App","appId":"1","bundleId":"com.x"}`
)

// secretsInFixtures must never appear in an error message.
var secretsInFixtures = []string{"hunter2", "s3cr3t-key", "BEGIN PRIVATE KEY", "pk-secret"}

func TestParseCustomValid(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantIDs []string
		want    string // JSON of the result; "" means: the input minus appStoreConnect
	}{
		{name: "empty string", raw: "", wantIDs: []string{}, want: `[]`},
		{name: "blank", raw: " \n\t", wantIDs: []string{}, want: `[]`},
		{name: "empty array", raw: "[]", wantIDs: []string{}, want: `[]`},
		{name: "http with every field", raw: "[" + httpOK + "]", wantIDs: []string{"web"}},
		{name: "s3", raw: "[" + s3OK + "]", wantIDs: []string{"bucket"}},
		{name: "gcs", raw: "[" + gcsOK + "]", wantIDs: []string{"gcs"}},
		{name: "order kept", raw: "[" + gcsOK + "," + httpOK + "," + s3OK + "]", wantIDs: []string{"gcs", "web", "bucket"}},
		{
			name:    "appStoreConnect dropped",
			raw:     "[" + httpOK + "," + ascOK + "," + s3OK + "]",
			wantIDs: []string{"web", "bucket"},
			want:    "[" + httpOK + "," + s3OK + "]",
		},
		{
			name:    "minimal http",
			raw:     `[{"type":"http","id":"a","url":"http://h","layout":{"type":"native"}}]`,
			wantIDs: []string{"a"},
		},
		{
			name:    "every layout type",
			raw:     layoutsJSON(),
			wantIDs: []string{"l0", "l1", "l2", "l3", "l4", "l5", "l6"},
		},
		{
			name:    "empty filters and empty arrays",
			raw:     `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"ssqp"},"filters":{}},{"type":"http","id":"b","url":"https://h/","layout":{"type":"ssqp"},"filters":{"filetypes":[],"path_patterns":[]}}]`,
			wantIDs: []string{"a", "b"},
		},
		{
			// Sentry's schema declares is_public, has_index and platforms
			// for every kind of source.
			name: "is_public, has_index and platforms",
			raw: `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"is_public":true,"has_index":false,"platforms":["nintendo-switch","native"]},` +
				`{"type":"s3","id":"b","bucket":"x","region":"r","access_key":"k","secret_key":"s","layout":{"type":"unified"},"is_public":false,"has_index":true,"platforms":[]},` +
				`{"type":"gcs","id":"c","bucket":"x","client_email":"e","private_key":"k","layout":{"type":"native"},"has_index":true}]`,
			wantIDs: []string{"a", "b", "c"},
		},
		{
			name:    "every file type, dartsymbolmap included",
			raw:     `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":{"filetypes":["pe","pdb","portablepdb","mach_debug","mach_code","elf_debug","elf_code","wasm_debug","wasm_code","breakpad","sourcebundle","uuidmap","bcsymbolmap","il2cpp","proguard","dartsymbolmap"]}}]`,
			wantIDs: []string{"a"},
		},
		{
			// Sentry types bucket and region as strings with no minimum
			// length.
			name:    "empty s3 bucket and region, empty gcs bucket",
			raw:     `[{"type":"s3","id":"b","bucket":"","region":"","access_key":"","secret_key":"","prefix":"","layout":{"type":"native"}},{"type":"gcs","id":"g","bucket":"","client_email":"","private_key":"","layout":{"type":"native"}}]`,
			wantIDs: []string{"b", "g"},
		},
		{
			// Legacy entries are dropped before validation: whatever their
			// shape, they neither fail the list nor count as duplicates.
			name: "malformed appStoreConnect entries dropped unvalidated",
			raw: "[" + `{"type":"appStoreConnect"},` + httpOK + `,{"type":"appStoreConnect","id":"web","extra":[1]},` +
				`{"type":"appStoreConnect","id":"sentry:x","appconnectIssuer":7},` + s3OK + "]",
			wantIDs: []string{"web", "bucket"},
			want:    "[" + httpOK + "," + s3OK + "]",
		},
		{
			name:    "only appStoreConnect entries",
			raw:     "[" + ascOK + `,{"type":"appStoreConnect","id":""}]`,
			wantIDs: []string{},
			want:    `[]`,
		},
		{
			name:    "ids that only contain sentry later are fine",
			raw:     `[{"type":"http","id":"my-sentry","url":"https://h/","layout":{"type":"native"}},{"type":"http","id":"Sentry-upper","url":"https://h/","layout":{"type":"native"}}]`,
			wantIDs: []string{"my-sentry", "Sentry-upper"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCustom(tt.raw)
			if err != nil {
				t.Fatalf("ParseCustom: %v", err)
			}
			ids := List(got).IDs()
			if !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %q, want %q", ids, tt.wantIDs)
			}
			want := tt.want
			if want == "" {
				want = tt.raw
			}
			if !jsonEqual(t, got, want) {
				b, _ := json.Marshal(got)
				t.Errorf("round trip changed the sources:\n got %s\nwant %s", b, want)
			}
		})
	}
}

func layoutsJSON() string {
	var parts []string
	for i, l := range validLayouts {
		parts = append(parts, `{"type":"http","id":"l`+string(rune('0'+i))+`","url":"https://h/","layout":{"type":"`+l+`"}}`)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestParseCustomInvalid(t *testing.T) {
	// src returns a JSON array of the given entries.
	src := func(entries ...string) string { return "[" + strings.Join(entries, ",") + "]" }
	tests := []struct {
		name      string
		raw       string
		wantField string
		wantMsg   string // substring of the message
	}{
		{"invalid JSON", `[{"type":`, "symbol_sources", "unexpected end"},
		{"syntax error", `[{"type" "http"}]`, "symbol_sources", "invalid JSON"},
		{"trailing data", `[] []`, "symbol_sources", "after the JSON value"},
		{"not an array", `{"type":"http"}`, "symbol_sources", "must be a JSON array, got object"},
		{"null", `null`, "symbol_sources", "must be a JSON array, got null"},
		{"string", `"x"`, "symbol_sources", "must be a JSON array, got string"},
		{"entry not object", `[1]`, "symbol_sources[0]", "must be a JSON object, got number"},
		{"entry null", src(httpOK, `null`), "symbol_sources[1]", "got null"},
		{"missing type", `[{"id":"a"}]`, "symbol_sources[0].type", "required"},
		{"type not string", `[{"type":3,"id":"a"}]`, "symbol_sources[0].type", "must be a string, got number"},
		{"unknown type", src(httpOK, s3OK, `{"type":"ftp","id":"x"}`), "symbol_sources[2].type", `unknown source type "ftp"`},
		{"sentry type not allowed", `[{"type":"sentry","id":"x","url":"https://h/","token":"t"}]`, "symbol_sources[0].type", `unknown source type "sentry"`},
		{"type case matters", `[{"type":"HTTP","id":"x"}]`, "symbol_sources[0].type", `unknown source type "HTTP"`},
		{"missing id", `[{"type":"http","url":"https://h/","layout":{"type":"native"}}]`, "symbol_sources[0].id", "required"},
		{"empty id", `[{"type":"http","id":"","url":"https://h/","layout":{"type":"native"}}]`, "symbol_sources[0].id", "must not be empty"},
		{"id not string", `[{"type":"http","id":7,"url":"https://h/","layout":{"type":"native"}}]`, "symbol_sources[0].id", "must be a string, got number"},
		{"id sentry:", `[{"type":"http","id":"sentry:mine","url":"https://h/","layout":{"type":"native"}}]`, "symbol_sources[0].id", `must not start with "sentry"`},
		{"id sentry prefix without colon", `[{"type":"s3","id":"sentryish","bucket":"b","region":"r","access_key":"a","secret_key":"s","layout":{"type":"native"}}]`, "symbol_sources[0].id", `must not start with "sentry"`},
		{"id sentry:project", `[{"type":"http","id":"sentry:project","url":"https://h/","layout":{"type":"native"}}]`, "symbol_sources[0].id", "reserved"},
		{"duplicate ids", src(httpOK, s3OK, strings.Replace(gcsOK, `"id":"gcs"`, `"id":"web"`, 1)), "symbol_sources[2].id", `duplicate source id "web"`},
		{"unknown top-level field", src(strings.Replace(httpOK, `"name"`, `"colour":"red","name"`, 1)), "symbol_sources[0].colour", `unknown field for a "http" source`},
		{"s3 field on http", src(strings.Replace(httpOK, `"name"`, `"bucket":"b","name"`, 1)), "symbol_sources[0].bucket", "unknown field"},
		{"legacy top-level filetypes", src(strings.Replace(httpOK, `"name"`, `"filetypes":["pe"],"name"`, 1)), "symbol_sources[0].filetypes", "unknown field"},
		{"headers not configurable", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"headers":{"x":"y"}}]`, "symbol_sources[0].headers", "unknown field"},
		{"missing layout", `[{"type":"http","id":"a","url":"https://h/"}]`, "symbol_sources[0].layout", "required"},
		{"layout not object", `[{"type":"http","id":"a","url":"https://h/","layout":"native"}]`, "symbol_sources[0].layout", "must be a JSON object, got string"},
		{"layout missing type", `[{"type":"http","id":"a","url":"https://h/","layout":{"casing":"default"}}]`, "symbol_sources[0].layout.type", "required"},
		{"unknown layout type", src(httpOK, s3OK, `{"type":"http","id":"a","url":"https://h/","layout":{"type":"foo"}}`), "symbol_sources[2].layout.type", `unknown layout type "foo"`},
		{"layout type not string", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":1}}]`, "symbol_sources[0].layout.type", "must be a string, got number"},
		{"unknown casing", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native","casing":"camel"}}]`, "symbol_sources[0].layout.casing", `unknown casing "camel"`},
		{"unknown layout field", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native","depth":2}}]`, "symbol_sources[0].layout.depth", "unknown field of layout"},
		{"filters not object", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":[]}]`, "symbol_sources[0].filters", "must be a JSON object, got array"},
		{"unknown filters field", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":{"size":1}}]`, "symbol_sources[0].filters.size", "unknown field of filters"},
		{"filetypes not array", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":{"filetypes":"pe"}}]`, "symbol_sources[0].filters.filetypes", "must be an array"},
		{"unknown filetype", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":{"filetypes":["pe","exe"]}}]`, "symbol_sources[0].filters.filetypes[1]", `unknown file type "exe"`},
		{"path pattern not string", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":{"path_patterns":["*",1]}}]`, "symbol_sources[0].filters.path_patterns[1]", "must be a string, got number"},
		{"path_patterns not array", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":{"path_patterns":{}}}]`, "symbol_sources[0].filters.path_patterns", "must be an array of strings, got object"},
		{"requires_checksum not bool", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"filters":{"requires_checksum":"yes"}}]`, "symbol_sources[0].filters.requires_checksum", "must be a boolean, got string"},
		{"http missing url", `[{"type":"http","id":"a","layout":{"type":"native"}}]`, "symbol_sources[0].url", "required"},
		{"http empty url", `[{"type":"http","id":"a","url":"","layout":{"type":"native"}}]`, "symbol_sources[0].url", "must not be empty"},
		{"http url not http", `[{"type":"http","id":"a","url":"ftp://h/","layout":{"type":"native"}}]`, "symbol_sources[0].url", "must be an http or https URL"},
		{"http url relative", `[{"type":"http","id":"a","url":"/symbols","layout":{"type":"native"}}]`, "symbol_sources[0].url", "http or https"},
		{"http url without host", `[{"type":"http","id":"a","url":"https:///x","layout":{"type":"native"}}]`, "symbol_sources[0].url", "with a host"},
		{"http url unparsable", `[{"type":"http","id":"a","url":"http://user:hunter2@[::1","layout":{"type":"native"}}]`, "symbol_sources[0].url", "not a valid URL"},
		{"http password not string", `[{"type":"http","id":"a","url":"https://h/","password":1,"layout":{"type":"native"}}]`, "symbol_sources[0].password", "must be a string, got number"},
		{"http username not string", `[{"type":"http","id":"a","url":"https://h/","username":null,"layout":{"type":"native"}}]`, "symbol_sources[0].username", "got null"},
		{"unfilled placeholder", `[{"type":"http","id":"a","url":"https://h/","password":{"hidden-secret":true},"layout":{"type":"native"}}]`, "symbol_sources[0].password", "hidden secret placeholder"},
		{"s3 missing secret_key", src(strings.Replace(s3OK, `"secret_key":"s3cr3t-key",`, "", 1)), "symbol_sources[0].secret_key", "required"},
		{"s3 missing region", src(strings.Replace(s3OK, `"region":"eu-west-1",`, "", 1)), "symbol_sources[0].region", "required"},
		{"s3 bucket not string", src(strings.Replace(s3OK, `"bucket":"syms"`, `"bucket":5`, 1)), "symbol_sources[0].bucket", "must be a string, got number"},
		{"s3 region array", src(strings.Replace(s3OK, `"region":"eu-west-1"`, `"region":["x","http://h"]`, 1)), "symbol_sources[0].region", "must be a string, got array"},
		{"gcs missing private_key", src(strings.Replace(gcsOK, `"private_key":"-----BEGIN PRIVATE KEY-----xyz",`, "", 1)), "symbol_sources[0].private_key", "required"},
		{"gcs missing client_email", src(strings.Replace(gcsOK, `"client_email":"x@y.iam.gserviceaccount.com",`, "", 1)), "symbol_sources[0].client_email", "required"},
		{"gcs region unknown", src(strings.Replace(gcsOK, `"bucket"`, `"region":"x","bucket"`, 1)), "symbol_sources[0].region", `unknown field for a "gcs" source`},
		{"is_public not a boolean", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"is_public":"yes"}]`, "symbol_sources[0].is_public", "must be a boolean, got string"},
		{"has_index null", `[{"type":"s3","id":"a","bucket":"b","region":"r","access_key":"a","secret_key":"s","layout":{"type":"native"},"has_index":null}]`, "symbol_sources[0].has_index", "must be a boolean, got null"},
		{"platforms not an array", `[{"type":"gcs","id":"a","bucket":"b","client_email":"e","private_key":"k","layout":{"type":"native"},"platforms":"native"}]`, "symbol_sources[0].platforms", "must be an array of strings, got string"},
		{"platform not a string", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"platforms":["native",3]}]`, "symbol_sources[0].platforms[1]", "must be a string, got number"},
		{"s3 region null", src(strings.Replace(s3OK, `"region":"eu-west-1"`, `"region":null`, 1)), "symbol_sources[0].region", "must be a string, got null"},
		{"error names the stored index past a dropped legacy entry", src(ascOK, httpOK, `{"type":"http","id":"b","layout":{"type":"native"}}`), "symbol_sources[2].url", "required"},
		{"duplicate ids past a dropped legacy entry", src(ascOK, httpOK, httpOK), "symbol_sources[2].id", `duplicate source id "web"`},
		{"odd field name quoted", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"my field\n":1}]`, `symbol_sources[0]["my field\n"]`, "unknown field"},
		{"long field name cut", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native"},"` + strings.Repeat("k", 300) + `":1}]`, `symbol_sources[0]["` + strings.Repeat("k", 64) + `…"]`, "unknown field"},
		{"odd layout field quoted", `[{"type":"http","id":"a","url":"https://h/","layout":{"type":"native","a.b":1}}]`, `symbol_sources[0].layout["a.b"]`, "unknown field of layout"},
		{"long type is cut", `[{"type":"` + strings.Repeat("x", 500) + `","id":"a"}]`, "symbol_sources[0].type", "unknown source type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCustom(tt.raw)
			if err == nil {
				t.Fatalf("ParseCustom = %v, want an error", got)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
			}
			if ve.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (error: %v)", ve.Field, tt.wantField, err)
			}
			if !strings.Contains(ve.Message, tt.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", ve.Message, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), tt.wantField+": ") {
				t.Errorf("Error() = %q, want it to start with the field", err.Error())
			}
			if len(err.Error()) > 400 {
				t.Errorf("Error() is %d bytes long; messages must stay short", len(err.Error()))
			}
			for _, s := range secretsInFixtures {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q leaks secret %q", err, s)
				}
			}
		})
	}
}
