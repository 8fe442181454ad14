package symbolicator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSourcesLocalModeReachesLoopbackOnly: local mode (AllowLoopback) lets a
// source reach loopback and nothing else reserved: cloud metadata,
// link-local and private addresses are refused, directly or by a redirect,
// and an allowed host does not open a metadata service. Refused addresses
// are refused before connecting, so these tests send them no packet.
func TestSourcesLocalModeReachesLoopbackOnly(t *testing.T) {
	s := buildSample(t)
	dir := t.TempDir()
	s.putUnified(t, dir)
	files := http.FileServer(http.Dir(dir))
	var hits atomic.Int64
	symsrv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		files.ServeHTTP(w, r)
	}))
	redirector := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/security-credentials/", http.StatusFound)
	}))
	unified := func(id, url string) map[string]any {
		return map[string]any{"type": "http", "id": id, "url": url, "layout": map[string]any{"type": "unified"}}
	}

	for name, cfg := range map[string]Config{
		"AllowLoopback": {AllowLoopback: true},
		"AllowedHosts":  {AllowLoopback: true, AllowedHosts: []string{"169.254.169.254", "fd00:ec2::254", "169.254.1.1", "10.0.0.1"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, srv := testService(t, cfg)
			before := hits.Load()
			m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], unified("loopback", symsrv.URL))))
			if m["debug_status"] != "found" || f["function"] != "main" || hits.Load() == before {
				t.Fatalf("loopback source in local mode: module %v frame %v", m, f)
			}
			refused := []struct{ url, reason string }{
				{"http://169.254.169.254/", "cloud metadata address"},
				{"http://[fd00:ec2::254]/", "cloud metadata address"},
				{"http://[::ffff:169.254.169.254]/", "cloud metadata address"},
				{redirector.URL + "/", "cloud metadata address"},
			}
			if len(cfg.AllowedHosts) == 0 {
				refused = append(refused,
					struct{ url, reason string }{"http://169.254.1.1/", "link-local address"},
					struct{ url, reason string }{"http://10.0.0.1/", "private address"},
				)
			}
			for _, tt := range refused {
				m, _ := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], unified("remote", tt.url))))
				if m["debug_status"] != "fetching_failed" {
					t.Errorf("%s: debug_status = %v, want fetching_failed", tt.url, m["debug_status"])
				}
				statuses := candidateStatuses(t, m)
				if len(statuses) == 0 {
					t.Errorf("%s: no candidates", tt.url)
				}
				for loc, st := range statuses {
					if !strings.HasPrefix(st, "error ") || !strings.Contains(st, tt.reason) {
						t.Errorf("%s: candidate %s = %q, want an error saying %q", tt.url, loc, st, tt.reason)
					}
				}
			}
		})
	}
}

func newLoopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
