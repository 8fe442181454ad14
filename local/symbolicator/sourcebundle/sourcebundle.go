// Package sourcebundle reads Sentry source bundles: the zip archives that
// `sentry-cli difutil bundle-sources` and symbolic's SourceBundleWriter
// write beside a debug file, so that Symbolicator can show the source lines
// around a symbolicated frame.
//
// A bundle is an 8-byte header ("SYSB" and a little-endian u32 version,
// 2 today) followed by a zip archive. The archive holds manifest.json and the
// sources under files/:
//
//	manifest.json
//	files/usr/src/app/main.c
//	files/C/work/app/main.cpp
//
// The manifest maps each zip path to what the debug info calls the file:
//
//	{"files": {"files/usr/src/app/main.c": {"type": "source", "path": "/usr/src/app/main.c"}},
//	 "source_links": {"/usr/src/lib/*": "https://example.com/lib/*"},
//	 "arch": "x86_64", "debug_id": "…", "code_id": "…", "object_name": "app"}
//
// Each file entry may also carry a "url" and "headers" (a "debug-id"
// header gives the file its own debug id, as artifact bundles do); every
// top-level key other than files and source_links is a string attribute.
//
// Lookups follow symbolic's rules (SourceBundleDebugSession): a path is
// found by its form with every run of '/' and '\' replaced by one '/', so a
// Windows path matches however its separators are written; failing that,
// the source_links patterns may give a URL to fetch it from. A file is
// decompressed only when it is asked for, bounded by Limits.
//
// The reader trusts nothing in the archive: the manifest and every file are
// read into at most their limit, whatever size their headers declare, so a
// small archive that expands to gigabytes costs at most the limit in memory.
// A Bundle is immutable once opened and safe for concurrent use.
package sourcebundle

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/symflow/symflow/shared/debugfile"
)

// Magic starts every source bundle that sentry-cli or symbolic writes.
const Magic = "SYSB"

// Limits bounds what Open and the lookups will read. A zero (or negative)
// field takes the value of DefaultLimits.
type Limits struct {
	// MaxFiles bounds the entries of the zip archive, of the manifest's
	// files map and of its source_links map, each.
	MaxFiles int
	// MaxFileBytes bounds one decompressed source file. A larger file is
	// not returned: Lookup fails for it.
	MaxFileBytes int64
	// MaxManifestBytes bounds the decompressed manifest.json. A larger
	// manifest fails Open.
	MaxManifestBytes int64
	// Inflate bounds the bundle's entries, summed: Open fails when their
	// declared sizes add up to more than the bound for a file of the
	// bundle's size (by default the smaller of 2 GiB and 100 times it),
	// so that however many of its files lookups read, the bundle costs at
	// most that. Zero fields take debugfile's defaults.
	Inflate debugfile.InflateLimits
}

// DefaultLimits are generous for real bundles (a large C++ project's
// bundle holds some tens of thousands of files, none near 16 MiB) and keep
// a hostile one from costing more than a few tens of MiB.
var DefaultLimits = Limits{
	MaxFiles:         200_000,
	MaxFileBytes:     16 << 20,
	MaxManifestBytes: 32 << 20,
}

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultLimits.MaxFileBytes
	}
	if l.MaxManifestBytes <= 0 {
		l.MaxManifestBytes = DefaultLimits.MaxManifestBytes
	}
	return l
}

// ErrNotFound is returned by the lookups when the bundle neither holds the
// file nor has a source link for it.
var ErrNotFound = errors.New("sourcebundle: file not in bundle")

// Is reports whether data starts with the source bundle header. This is
// the test Symbolicator applies to a downloaded file to treat it as a
// source bundle: a bare zip archive, even one with a valid manifest, is not
// one to Symbolicator. Open itself accepts both.
func Is(data []byte) bool {
	return bytes.HasPrefix(data, []byte(Magic))
}

// FileInfo is one entry of the manifest's files map.
type FileInfo struct {
	// ZipPath is the entry's name in the archive (the manifest's key).
	ZipPath string
	// Type is "source", "minified_source", "source_map" or
	// "indexed_ram_bundle", or "" when the manifest gives none.
	Type string
	// Path is the file's path as the debug info names it, or "".
	Path string
	// URL is the file's web URL, or "".
	URL string
	// Headers are the entry's headers, keys in ASCII lower case.
	Headers map[string]string
}

// DebugID returns the debug id the entry's "debug-id" header gives it, in
// canonical form, or "" when it has none or the header does not parse.
func (f FileInfo) DebugID() string {
	d, ok := parseDebugID(f.Headers["debug-id"])
	if !ok {
		return ""
	}
	return d
}

// Descriptor is what a lookup found: a file the bundle holds, with its
// contents, or only a URL (from source_links) to fetch it from.
type Descriptor struct {
	// Embedded is set when the bundle holds the file; Contents is then
	// its text (valid UTF-8, possibly empty) and File its manifest entry.
	Embedded bool
	Contents []byte
	File     FileInfo
	// URL is the entry's url for an embedded file, the source_links
	// target otherwise. Symbolicator reports it as the frame's
	// source_link when it is an http(s) URL, and fetches it when the
	// contents are not embedded.
	URL string
}

// Type is the descriptor's file type; a file without one, and a source
// link, are "source" (as symbolic defaults it).
func (d Descriptor) Type() string {
	if d.File.Type == "" {
		return "source"
	}
	return d.File.Type
}

// Bundle is an opened source bundle.
type Bundle struct {
	limits  Limits
	entries map[string]*zip.File // by decoded name; the last of equal names wins
	files   []FileInfo           // sorted by ZipPath
	attrs   map[string]string
	links   []sourceLink // in match order

	byZip     map[string]int // ZipPath → index in files
	byPath    map[string]int // normalized Path → index in files
	byURL     map[string]int
	byDebugID map[debugKey]int
}

type debugKey struct{ id, typ string }

// Open reads the archive's directory and its manifest. It keeps data (it
// does not copy it) and decompresses nothing else; sources are read when a
// lookup asks for them.
//
// Open fails when data is not a zip archive (with or without the SYSB
// header), holds more entries than limits.MaxFiles, declares more
// decompressed bytes than limits.Inflate allows (a *debugfile.InflateError
// naming the entry), has no manifest.json,
// or when the manifest is unreadable, larger than limits.MaxManifestBytes,
// not UTF-8, not a JSON object, or not of the shape symbolic accepts (files
// map of objects with string path/url, a known type, string headers; string
// source_links; string attributes). The error says which.
func Open(data []byte, limits Limits) (*Bundle, error) {
	limits = limits.withDefaults()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// The names are never used as file system paths here, so a
		// reader that only objects to them is used as is.
		return nil, fmt.Errorf("sourcebundle: not a zip archive (%d bytes): %v", len(data), err)
	}
	if len(zr.File) > limits.MaxFiles {
		return nil, fmt.Errorf("sourcebundle: archive has %d entries, more than the limit of %d", len(zr.File), limits.MaxFiles)
	}
	if err := debugfile.CheckZipClaims(zr.File, int64(len(data)), limits.Inflate); err != nil {
		return nil, fmt.Errorf("sourcebundle: %w", err)
	}
	b := &Bundle{limits: limits, entries: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		b.entries[entryName(f)] = f
	}
	mf := b.entries[manifestPath]
	if mf == nil {
		return nil, fmt.Errorf("sourcebundle: archive of %d entries has no %s", len(zr.File), manifestPath)
	}
	raw, err := readEntry(mf, limits.MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(raw, limits.MaxFiles)
	if err != nil {
		return nil, err
	}
	b.attrs = m.attrs
	b.links = m.links
	b.files = m.files
	b.byZip = make(map[string]int, len(m.files))
	b.byPath = make(map[string]int, len(m.files))
	b.byURL = make(map[string]int)
	b.byDebugID = make(map[debugKey]int)
	// symbolic indexes the files in zip path order, each key overwriting
	// an earlier one: of two entries naming the same path, the later zip
	// path wins.
	for i, f := range m.files {
		b.byZip[f.ZipPath] = i
		if f.Path != "" {
			b.byPath[normalizePath(f.Path)] = i
		}
		if f.URL != "" {
			b.byURL[f.URL] = i
		}
		if id := f.DebugID(); id != "" && f.Type != "" {
			b.byDebugID[debugKey{id, f.Type}] = i
		}
	}
	return b, nil
}

const manifestPath = "manifest.json"

// Attributes returns a copy of the manifest's attributes: debug_id,
// code_id, object_name, arch, and whatever else the writer set.
func (b *Bundle) Attributes() map[string]string {
	out := make(map[string]string, len(b.attrs))
	for k, v := range b.attrs {
		out[k] = v
	}
	return out
}

// DebugID returns the bundle's debug_id attribute in canonical form
// (lower-case hyphenated UUID, then "-" and the appendix in hex when it is
// not zero), or "" when it is missing or does not parse as a debug id
// (symbolic then takes the nil id, which matches no module).
func (b *Bundle) DebugID() string {
	d, _ := parseDebugID(b.attrs["debug_id"])
	return d
}

// Files returns the manifest's entries in zip path order.
func (b *Bundle) Files() []FileInfo {
	out := make([]FileInfo, len(b.files))
	copy(out, b.files)
	return out
}

// Source returns the text of the file the debug info calls path, as
// Lookup finds it, when the bundle holds it. It returns false for a file
// only reachable through a source link, and for one that cannot be read.
func (b *Bundle) Source(path string) ([]byte, bool) {
	d, err := b.Lookup(path)
	if err != nil || !d.Embedded {
		return nil, false
	}
	return d.Contents, true
}

// Lookup finds the file the debug info calls path, as symbolic's
// source_by_path does: the path with every run of '/' and '\' made one '/'
// (case is kept) is looked up among the manifest's paths; when no entry has
// it, the source_links patterns are tried, which give a URL and no
// contents.
//
// An entry that is found but cannot be read (missing from the archive,
// larger than MaxFileBytes, damaged, not UTF-8) is an error, and the
// source links are then not tried: symbolic fails the lookup the same way,
// and Symbolicator then gives the frame neither context nor link.
func (b *Bundle) Lookup(path string) (Descriptor, error) {
	key := normalizePath(path)
	if i, ok := b.byPath[key]; ok {
		return b.embedded(i)
	}
	if url, ok := resolveLink(b.links, key); ok {
		return Descriptor{URL: url}, nil
	}
	return Descriptor{}, ErrNotFound
}

// LookupURL finds the entry whose url is exactly url (symbolic's
// source_by_url; source links do not apply).
func (b *Bundle) LookupURL(url string) (Descriptor, error) {
	if i, ok := b.byURL[url]; ok {
		return b.embedded(i)
	}
	return Descriptor{}, ErrNotFound
}

// LookupDebugID finds the entry of the given type whose "debug-id" header
// is debugID (compared as debug ids, not as text), as symbolic's
// source_by_debug_id does for artifact bundles. An entry without a type
// is never found this way.
func (b *Bundle) LookupDebugID(debugID, fileType string) (Descriptor, error) {
	id, ok := parseDebugID(debugID)
	if !ok {
		return Descriptor{}, ErrNotFound
	}
	if i, ok := b.byDebugID[debugKey{id, fileType}]; ok {
		return b.embedded(i)
	}
	return Descriptor{}, ErrNotFound
}

func (b *Bundle) embedded(i int) (Descriptor, error) {
	info := b.files[i]
	f := b.entries[info.ZipPath]
	if f == nil {
		return Descriptor{}, fmt.Errorf("sourcebundle: manifest lists %q, which the archive does not hold", info.ZipPath)
	}
	data, err := readEntry(f, b.limits.MaxFileBytes)
	if err != nil {
		return Descriptor{}, err
	}
	if !utf8.Valid(data) {
		// symbolic reads every file into a String: one that is not
		// UTF-8 is an error, not text with replacement characters.
		return Descriptor{}, fmt.Errorf("sourcebundle: %s: not UTF-8 text", info.ZipPath)
	}
	return Descriptor{Embedded: true, Contents: data, File: info, URL: info.URL}, nil
}

// readEntry decompresses f, which must declare at most max bytes, and
// checks its size and CRC.
//
// The declared size is a claim: it bounds the buffer (so a lie costs at
// most max bytes), and archive/zip fails an entry that expands past it or
// stops short of it. A size no compressed data of the entry's length could
// expand to is refused before anything is read.
func readEntry(f *zip.File, max int64) ([]byte, error) {
	name := entryName(f)
	size := f.UncompressedSize64
	if size > uint64(max) {
		return nil, fmt.Errorf("sourcebundle: %s: declares %d bytes, more than the limit of %d", name, size, max)
	}
	if most, ok := debugfile.ZipExpansion(f); ok && size > most {
		return nil, fmt.Errorf("sourcebundle: %s: declares %d bytes, more than its %d compressed bytes can hold", name, size, f.CompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("sourcebundle: %s: %v", name, err)
	}
	defer rc.Close()
	// One byte more than declared, so that the read that must end the
	// entry (and check its CRC) runs.
	buf := make([]byte, size+1)
	n, err := io.ReadFull(rc, buf)
	switch {
	case uint64(n) > size:
		return nil, fmt.Errorf("sourcebundle: %s: expands past its declared %d bytes", name, size)
	case err != nil && err != io.ErrUnexpectedEOF && err != io.EOF:
		return nil, fmt.Errorf("sourcebundle: %s: %v", name, err)
	case uint64(n) < size:
		return nil, fmt.Errorf("sourcebundle: %s: %d bytes of the declared %d", name, n, size)
	}
	return buf[:n:n], nil
}

// entryName decodes an entry's name as the zip reader Symbolicator uses
// does: UTF-8 when the entry's flag says so (invalid bytes replaced),
// code page 437 otherwise, unless an Info-ZIP Unicode Path extra field
// whose CRC matches the raw name gives the UTF-8 name.
func entryName(f *zip.File) string {
	raw := f.Name
	if f.Flags&0x800 != 0 {
		return strings.ToValidUTF8(raw, "\uFFFD")
	}
	if up, ok := unicodePath(f.Extra, raw); ok {
		return up
	}
	return decodeCP437(raw)
}

// unicodePath returns the name in an Info-ZIP Unicode Path extra field
// (id 0x7075: version 1, CRC-32 of the raw name, UTF-8 name) when its CRC
// matches raw.
func unicodePath(extra []byte, raw string) (string, bool) {
	for len(extra) >= 4 {
		id := uint16(extra[0]) | uint16(extra[1])<<8
		n := int(uint16(extra[2]) | uint16(extra[3])<<8)
		extra = extra[4:]
		if n > len(extra) {
			return "", false
		}
		body := extra[:n]
		extra = extra[n:]
		if id != 0x7075 || len(body) < 5 || body[0] != 1 {
			continue
		}
		sum := uint32(body[1]) | uint32(body[2])<<8 | uint32(body[3])<<16 | uint32(body[4])<<24
		if sum != crc32.ChecksumIEEE([]byte(raw)) || !utf8.Valid(body[5:]) {
			continue
		}
		return string(body[5:]), true
	}
	return "", false
}

// cp437High maps the bytes 0x80–0xFF of code page 437 to Unicode.
var cp437High = []rune("ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0")

func decodeCP437(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(cp437High[c-0x80])
		}
	}
	return sb.String()
}

// normalizePath replaces every run of '/' and '\' with one '/', as symbolic
// does for both the manifest's paths and the looked-up one.
func normalizePath(p string) string {
	if !strings.ContainsRune(p, '\\') && !strings.Contains(p, "//") {
		return p
	}
	var sb strings.Builder
	sb.Grow(len(p))
	sep := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || c == '\\' {
			if !sep {
				sb.WriteByte('/')
			}
			sep = true
			continue
		}
		sep = false
		sb.WriteByte(c)
	}
	return sb.String()
}

func sortFiles(files []FileInfo) {
	sort.Slice(files, func(i, j int) bool { return files[i].ZipPath < files[j].ZipPath })
}
