package scraping

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/project"
)

func TestConfigHidesOriginCredentials(t *testing.T) {
	p := project.Project{
		AllowedOrigins: []string{"https://ci:origin-s3cret@assets.example/", "https://cdn.example"},
		Options:        project.Options{Token: "tok"},
	}
	b, _ := json.Marshal(Config(p))
	if strings.Contains(string(b), "origin-s3cret") {
		t.Errorf("scraping config holds origin credentials: %s", b)
	}
	want := []string{"https://%5bhidden-secret%5d@assets.example", "https://cdn.example"}
	if got := Config(p).AllowedOrigins; !reflect.DeepEqual(got, want) {
		t.Errorf("allowed origins %q, want %q", got, want)
	}
}

func TestAddedTokenOrigins(t *testing.T) {
	tests := []struct {
		name         string
		stored, next []string
		want         []string
	}{
		{name: "unchanged", stored: []string{"https://a.example"}, next: []string{"https://a.example"}},
		{name: "normalized the same", stored: []string{"https://a.example"}, next: []string{"HTTPS://A.example/"}},
		{name: "one removed", stored: []string{"https://a.example", "https://b.example"}, next: []string{"https://b.example"}},
		{name: "one added", stored: []string{"https://a.example"}, next: []string{"https://a.example", "https://evil.example"},
			want: []string{"https://evil.example"}},
		{name: "a wildcard pattern is another origin", stored: []string{"https://a.example"}, next: []string{"*.example"},
			want: []string{"*.example"}},
		{name: "stored allowed every origin: the token was sent nowhere", stored: nil, next: []string{"https://evil.example"},
			want: []string{"https://evil.example"}},
		{name: "stored * explicitly", stored: []string{"*"}, next: []string{"https://evil.example"},
			want: []string{"https://evil.example"}},
		{name: "next allows every origin: the token goes nowhere", stored: []string{"https://a.example"}, next: []string{"*", "https://evil.example"}},
		{name: "next unset means *", stored: []string{"https://a.example"}, next: nil},
		{name: "next empty sends nowhere", stored: []string{"https://a.example"}, next: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AddedTokenOrigins(project.Project{AllowedOrigins: tt.stored}, project.Project{AllowedOrigins: tt.next})
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("AddedTokenOrigins = %q, want %q", got, tt.want)
			}
		})
	}
}
