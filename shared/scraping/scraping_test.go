package scraping

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/project"
)

func ptr(b bool) *bool { return &b }

func TestConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*project.Project)
		want   string // JSON
	}{
		{
			name: "defaults: enabled, every origin, verify ssl",
			want: `{"enabled":true,"headers":{},"allowed_origins":["*"],"verify_ssl":true}`,
		},
		{
			name:   "organization disables",
			mutate: func(p *project.Project) { p.Organization.ScrapeJavaScript = ptr(false) },
			want:   `{"enabled":false,"headers":{},"allowed_origins":[],"verify_ssl":true}`,
		},
		{
			name:   "project disables",
			mutate: func(p *project.Project) { p.Options.ScrapeJavaScript = ptr(false) },
			want:   `{"enabled":false,"headers":{},"allowed_origins":[],"verify_ssl":true}`,
		},
		{
			name: "both explicitly enabled",
			mutate: func(p *project.Project) {
				p.Organization.ScrapeJavaScript = ptr(true)
				p.Options.ScrapeJavaScript = ptr(true)
			},
			want: `{"enabled":true,"headers":{},"allowed_origins":["*"],"verify_ssl":true}`,
		},
		{
			name: "disabled sends neither token nor origins, keeps verify_ssl",
			mutate: func(p *project.Project) {
				p.Options.ScrapeJavaScript = ptr(false)
				p.Options.VerifySSL = ptr(false)
				p.Options.Token = "tok"
				p.AllowedOrigins = []string{"https://a.example"}
			},
			want: `{"enabled":false,"headers":{},"allowed_origins":[],"verify_ssl":false}`,
		},
		{
			name:   "verify_ssl off",
			mutate: func(p *project.Project) { p.Options.VerifySSL = ptr(false) },
			want:   `{"enabled":true,"headers":{},"allowed_origins":["*"],"verify_ssl":false}`,
		},
		{
			name: "token with named origins: default header",
			mutate: func(p *project.Project) {
				p.AllowedOrigins = []string{"https://b.example", "https://a.example"}
				p.Options.Token = "tok"
			},
			want: `{"enabled":true,"headers":{"X-Sentry-Token":"tok"},"allowed_origins":["https://a.example","https://b.example"],"verify_ssl":true}`,
		},
		{
			name: "token with the project's own header",
			mutate: func(p *project.Project) {
				p.AllowedOrigins = []string{"https://a.example"}
				p.Options.Token = "tok"
				p.Options.TokenHeader = "X-Scrape-Auth"
			},
			want: `{"enabled":true,"headers":{"X-Scrape-Auth":"tok"},"allowed_origins":["https://a.example"],"verify_ssl":true}`,
		},
		{
			name:   "token but every origin allowed: not sent",
			mutate: func(p *project.Project) { p.Options.Token = "tok" },
			want:   `{"enabled":true,"headers":{},"allowed_origins":["*"],"verify_ssl":true}`,
		},
		{
			name: "token but * among the origins: not sent",
			mutate: func(p *project.Project) {
				p.AllowedOrigins = []string{"https://a.example", "*"}
				p.Options.Token = "tok"
			},
			want: `{"enabled":true,"headers":{},"allowed_origins":["*","https://a.example"],"verify_ssl":true}`,
		},
		{
			name: "token header without token: nothing",
			mutate: func(p *project.Project) {
				p.AllowedOrigins = []string{"https://a.example"}
				p.Options.TokenHeader = "X-Scrape-Auth"
			},
			want: `{"enabled":true,"headers":{},"allowed_origins":["https://a.example"],"verify_ssl":true}`,
		},
		{
			name: "origins normalized: lowercase, no trailing slash, no empties, no duplicates",
			mutate: func(p *project.Project) {
				p.AllowedOrigins = []string{"HTTPS://A.example/", "", "https://a.example", "/", "*.b.example//"}
			},
			want: `{"enabled":true,"headers":{},"allowed_origins":["*.b.example","https://a.example"],"verify_ssl":true}`,
		},
		{
			name:   "explicitly empty origins allow nothing",
			mutate: func(p *project.Project) { p.AllowedOrigins = []string{} },
			want:   `{"enabled":true,"headers":{},"allowed_origins":[],"verify_ssl":true}`,
		},
		{
			name: "only empty origins allow nothing, token sent to none",
			mutate: func(p *project.Project) {
				p.AllowedOrigins = []string{"", "/"}
				p.Options.Token = "tok"
			},
			want: `{"enabled":true,"headers":{"X-Sentry-Token":"tok"},"allowed_origins":[],"verify_ssl":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := project.Project{ID: "1", Slug: "web", Organization: project.Organization{Slug: "acme"}}
			if tt.mutate != nil {
				tt.mutate(&p)
			}
			got, err := json.Marshal(Config(p))
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			if err := json.Unmarshal([]byte(tt.want), &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestConfigDoesNotShareOrigins(t *testing.T) {
	p := project.Project{AllowedOrigins: []string{"https://a.example"}}
	s := Config(p)
	s.AllowedOrigins[0] = "changed"
	if p.AllowedOrigins[0] != "https://a.example" {
		t.Error("Config shares the project's origins slice")
	}
}

func TestHideBackfill(t *testing.T) {
	p := project.Project{AllowedOrigins: []string{"https://a.example"}, Options: project.Options{Token: "secret-token", TokenHeader: "X-Auth"}}
	stored := Config(p)
	hidden := stored.Hide()
	b, _ := json.Marshal(hidden)
	if strings.Contains(string(b), "secret-token") {
		t.Fatalf("hidden config leaks the token: %s", b)
	}
	if stored.Headers["X-Auth"] != "secret-token" {
		t.Fatal("Hide changed its receiver")
	}
	var fromState Scraping
	if err := json.Unmarshal(b, &fromState); err != nil {
		t.Fatal(err)
	}
	back, err := Backfill(fromState, stored)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, stored) {
		t.Errorf("round trip = %+v, want %+v", back, stored)
	}

	tests := []struct {
		name   string
		stored Scraping
	}{
		{"header gone from the store", Scraping{Headers: map[string]string{}}},
		{"stored value hidden too", Scraping{Headers: map[string]string{"X-Auth": HiddenValue}}},
		{"nothing stored", Scraping{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Backfill(hidden, tt.stored)
			var me *MissingHeaderError
			if !errors.As(err, &me) || me.Header != "X-Auth" {
				t.Fatalf("Backfill error = %v, want a *MissingHeaderError for X-Auth", err)
			}
			if !strings.Contains(err.Error(), "X-Auth") {
				t.Errorf("error %q does not name the header", err)
			}
		})
	}
}
