package project

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"time"
)

// An upload key lets a crashing application post its minidumps to the
// project (the minidump upload routes of shared/api): applications cannot
// sign requests the way operators do, so they carry this key, as Sentry's
// clients carry a DSN's public key.
//
// A key is 128 random bits written as 32 lowercase hex digits, the shape of
// a Sentry DSN's public key, so that a key fits wherever a client expects
// one. The project stores only its SHA-256: a key is shown once, when it is
// made, and cannot be read back. A fast hash is enough here (no bcrypt or
// argon2) because the key is random, not a password a person chose: there is
// no dictionary to try.

// UploadKeyLength is the length of an upload key in characters.
const UploadKeyLength = 32

var uploadKeyPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// UploadKey is one upload key as the project stores it.
type UploadKey struct {
	// SHA256 is the hex SHA-256 of the key. It is cleared wherever a
	// configuration leaves the store.
	SHA256 string `json:"sha256,omitempty"`
	// Fingerprint names the key without revealing it: "sha256:" and the
	// first 12 hex digits of SHA256, so whoever holds a key can tell which
	// one it is (UploadKeyFingerprint).
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
	// ExpiresAt, when set, is when a replaced key stops being accepted:
	// rotation may keep the previous key working for a while, so that
	// applications already in users' hands keep reporting until an update
	// carries the new one.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// HashUploadKey is the stored form of key.
func HashUploadKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// UploadKeyFingerprint is the fingerprint of key (UploadKey.Fingerprint).
func UploadKeyFingerprint(key string) string {
	return "sha256:" + HashUploadKey(key)[:12]
}

// NewUploadKey draws a key from random (crypto/rand.Reader in production)
// and returns it with its stored form, created at now.
func NewUploadKey(random io.Reader, now time.Time) (string, UploadKey, error) {
	var b [UploadKeyLength / 2]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", UploadKey{}, fmt.Errorf("draw upload key: %w", err)
	}
	key := hex.EncodeToString(b[:])
	return key, UploadKey{SHA256: HashUploadKey(key), Fingerprint: UploadKeyFingerprint(key), CreatedAt: now.UTC()}, nil
}

// ValidUploadKeyShape reports whether s looks like an upload key, so that
// a value that cannot be one is refused without a store lookup.
func ValidUploadKeyShape(s string) bool { return uploadKeyPattern.MatchString(s) }

// AcceptsUploadKey reports whether key is one of the project's keys that
// has not expired at now. The comparison takes the same time whichever
// stored hash matches, so its timing tells nothing about the keys.
func (p Project) AcceptsUploadKey(key string, now time.Time) bool {
	if !ValidUploadKeyShape(key) {
		return false
	}
	want := HashUploadKey(key)
	ok := 0
	for _, k := range p.UploadKeys {
		eq := subtle.ConstantTimeCompare([]byte(k.SHA256), []byte(want))
		live := 1
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			live = 0
		}
		ok |= eq & live
	}
	return ok == 1
}

// RotateUploadKeys returns the project's keys after next replaces the
// current ones. Every earlier key stays accepted for at most keepPrevious
// after now (a key already due to expire sooner keeps its own expiry), so
// keepPrevious zero revokes them all at once: rotation because a key leaked
// wants that; rotation on a schedule wants long enough for applications in
// users' hands to update. next comes first; expired keys are dropped.
func RotateUploadKeys(keys []UploadKey, next UploadKey, keepPrevious time.Duration, now time.Time) []UploadKey {
	out := []UploadKey{next}
	if keepPrevious <= 0 {
		return out
	}
	until := now.Add(keepPrevious).UTC()
	for _, k := range keys {
		if k.ExpiresAt.IsZero() || k.ExpiresAt.After(until) {
			k.ExpiresAt = until
		}
		if now.Before(k.ExpiresAt) {
			out = append(out, k)
		}
	}
	return out
}
