package project

import (
	"encoding/json"
	"testing"
)

func ptr(b bool) *bool { return &b }

func TestOptionDefaults(t *testing.T) {
	tests := []struct {
		name              string
		orgScrape, scrape *bool
		verify            *bool
		wantScrape        bool
		wantVerify        bool
	}{
		{"all unset: defaults true", nil, nil, nil, true, true},
		{"organization off", ptr(false), nil, nil, false, true},
		{"project off", nil, ptr(false), nil, false, true},
		{"both on", ptr(true), ptr(true), nil, true, true},
		{"project on, organization off", ptr(false), ptr(true), nil, false, true},
		{"verify off", nil, nil, ptr(false), true, false},
		{"verify on", nil, nil, ptr(true), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Project{
				Organization: Organization{ScrapeJavaScript: tt.orgScrape},
				Options:      Options{ScrapeJavaScript: tt.scrape, VerifySSL: tt.verify},
			}
			if got := p.ScrapingEnabled(); got != tt.wantScrape {
				t.Errorf("ScrapingEnabled = %v, want %v", got, tt.wantScrape)
			}
			if got := p.VerifySSL(); got != tt.wantVerify {
				t.Errorf("VerifySSL = %v, want %v", got, tt.wantVerify)
			}
		})
	}
}

func TestHasFeature(t *testing.T) {
	tests := []struct {
		name     string
		features []string
		want     bool
	}{
		{"none", nil, false},
		{"present", []string{"x", FeatureCustomSymbolSources}, true},
		{"other only", []string{"symbol-sources"}, false},
		{"case matters", []string{"Custom-Symbol-Sources"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Organization{Features: tt.features}
			if got := o.HasFeature(FeatureCustomSymbolSources); got != tt.want {
				t.Errorf("HasFeature = %v, want %v", got, tt.want)
			}
		})
	}
}

// The option names are the reference's: a configuration written by hand or
// exported from Sentry decodes field for field.
func TestProjectJSONNames(t *testing.T) {
	raw := `{"id":"42","slug":"app","organization":{"slug":"acme","features":["custom-symbol-sources"],"scrape_javascript":false},
		"options":{"symbol_sources":"[]","builtin_symbol_sources":["microsoft"],"scrape_javascript":true,"verify_ssl":false,"token":"t","token_header":"X-T"},
		"allowed_origins":["*"],"last_debug_file_upload":"2026-03-01T12:00:00Z"}`
	var p Project
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatal(err)
	}
	if p.ID != "42" || p.Organization.Slug != "acme" || !p.Organization.HasFeature(FeatureCustomSymbolSources) ||
		p.Options.SymbolSources != "[]" || p.Options.BuiltinSymbolSources[0] != "microsoft" ||
		p.ScrapingEnabled() || p.VerifySSL() || p.Options.Token != "t" || p.Options.TokenHeader != "X-T" ||
		p.AllowedOrigins[0] != "*" || p.LastDebugFileUpload.IsZero() {
		t.Errorf("decoded %+v", p)
	}
}
