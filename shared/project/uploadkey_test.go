package project

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestNewUploadKey(t *testing.T) {
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.FixedZone("CET", 3600))
	key, stored, err := NewUploadKey(bytes.NewReader(bytes.Repeat([]byte{0xab}, 16)), now)
	if err != nil {
		t.Fatal(err)
	}
	if key != strings.Repeat("ab", 16) || !ValidUploadKeyShape(key) {
		t.Errorf("key %q", key)
	}
	// echo -n abab… | sha256sum
	if stored.SHA256 != HashUploadKey(key) || len(stored.SHA256) != 64 || strings.Contains(stored.SHA256, key) {
		t.Errorf("stored hash %q", stored.SHA256)
	}
	if stored.Fingerprint != "sha256:"+stored.SHA256[:12] || !stored.CreatedAt.Equal(now) || stored.CreatedAt.Location() != time.UTC {
		t.Errorf("stored %+v", stored)
	}
	doc, _ := json.Marshal(stored)
	if bytes.Contains(doc, []byte(key)) {
		t.Errorf("the stored form holds the key: %s", doc)
	}
	if _, _, err := NewUploadKey(iotest.ErrReader(errors.New("no entropy")), now); err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Errorf("failing random source: %v", err)
	}
	a, _, _ := NewUploadKey(rand.Reader, now)
	b, _, _ := NewUploadKey(rand.Reader, now)
	if a == b || !ValidUploadKeyShape(a) {
		t.Errorf("two random keys %q %q", a, b)
	}
}

func TestAcceptsUploadKey(t *testing.T) {
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	cur, curStored, _ := NewUploadKey(bytes.NewReader(bytes.Repeat([]byte{0xc1}, 16)), now)
	old, oldStored, _ := NewUploadKey(bytes.NewReader(bytes.Repeat([]byte{2}, 16)), now.Add(-time.Hour))
	gone, goneStored, _ := NewUploadKey(bytes.NewReader(bytes.Repeat([]byte{3}, 16)), now.Add(-2*time.Hour))
	oldStored.ExpiresAt = now.Add(time.Minute)
	goneStored.ExpiresAt = now
	p := Project{UploadKeys: []UploadKey{curStored, oldStored, goneStored}}
	for _, tc := range []struct {
		name, key string
		want      bool
	}{
		{"current key", cur, true},
		{"replaced key before it expires", old, true},
		{"replaced key at its expiry", gone, false},
		{"unknown key", strings.Repeat("0", 32), false},
		{"key in upper case", strings.ToUpper(cur), false},
		{"key with a suffix", cur + "0", false},
		{"the stored hash itself", curStored.SHA256, false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.AcceptsUploadKey(tc.key, now); got != tc.want {
				t.Errorf("AcceptsUploadKey(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
	if (Project{}).AcceptsUploadKey(cur, now) {
		t.Error("a project without keys accepted one")
	}
}

func TestRotateUploadKeys(t *testing.T) {
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	k := func(fp string, expires time.Time) UploadKey {
		return UploadKey{SHA256: fp, Fingerprint: fp, ExpiresAt: expires}
	}
	next := k("next", time.Time{})
	fps := func(keys []UploadKey) string {
		var out []string
		for _, k := range keys {
			s := k.Fingerprint
			if !k.ExpiresAt.IsZero() {
				s += "@" + k.ExpiresAt.Sub(now).String()
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		keys []UploadKey
		keep time.Duration
		want string
	}{
		{"first key", nil, 0, "next"},
		{"replace at once", []UploadKey{k("a", time.Time{})}, 0, "next"},
		{"keep the previous a day", []UploadKey{k("a", time.Time{})}, 24 * time.Hour, "next a@24h0m0s"},
		{"a replaced key keeps its own expiry", []UploadKey{k("a", time.Time{}), k("b", now.Add(time.Hour))}, 24 * time.Hour, "next a@24h0m0s b@1h0m0s"},
		{"expired keys are dropped", []UploadKey{k("a", time.Time{}), k("b", now)}, time.Hour, "next a@1h0m0s"},
		{"an immediate rotation revokes replaced keys still live", []UploadKey{k("b", now.Add(time.Hour))}, 0, "next"},
		{"a shorter keep shortens a replaced key's expiry", []UploadKey{k("b", now.Add(48*time.Hour))}, time.Hour, "next b@1h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fps(RotateUploadKeys(tc.keys, next, tc.keep, now)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
