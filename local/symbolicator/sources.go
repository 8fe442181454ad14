package symbolicator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Source types the embedded service understands (SEMANTICS §4).
const (
	sourceFilesystem = "filesystem"
	sourceHTTP       = "http"
	sourceS3         = "s3"
	sourceGCS        = "gcs"
	sourceSentry     = "sentry"
	sourceAzure      = "azure"
)

// source is one entry of a request's "sources". Secrets (headers' values,
// secret_key, token) live here only; they never reach a log line, an error
// message or a candidate.
type source struct {
	ID      string
	Type    string
	Layout  layout
	Filters filters

	// filesystem
	Path string
	// http, sentry
	URL *url.URL
	// http
	Headers            map[string]string
	AcceptInvalidCerts bool
	// s3 (and gcs: bucket, prefix)
	Bucket              string
	Prefix              string
	Region              string
	Endpoint            string
	AccessKey           string
	SecretKey           string
	CredentialsProvider string
	// sentry
	Token string
}

type layout struct {
	Type   string // native, symstore, symstore_index2, ssqp, debuginfod, unified, slashsymbols
	Casing string // default, lowercase, uppercase
}

type filters struct {
	FileTypes        []string
	PathPatterns     []*regexp.Regexp
	RequiresChecksum bool
}

var layoutTypes = map[string]bool{
	"native": true, "symstore": true, "symstore_index2": true, "ssqp": true,
	"debuginfod": true, "unified": true, "slashsymbols": true,
}

var fileTypes = map[string]bool{
	"pe": true, "pdb": true, "portablepdb": true, "mach_debug": true, "mach_code": true,
	"elf_debug": true, "elf_code": true, "wasm_debug": true, "wasm_code": true,
	"breakpad": true, "sourcebundle": true, "uuidmap": true, "bcsymbolmap": true,
	"il2cpp": true, "proguard": true,
	// Sentry's Dart/Flutter obfuscation maps: accepted in filters, never a
	// native debug file.
	"dartsymbolmap": true,
}

func decodeSource(raw json.RawMessage, p string) (*source, error) {
	o, err := decodeObject(raw, p)
	if err != nil {
		return nil, err
	}
	s := &source{Layout: layout{Type: "native", Casing: "default"}}
	if s.Type, err = o.requiredStr("type", p); err != nil {
		return nil, err
	}
	if s.ID, err = o.requiredStr("id", p); err != nil {
		return nil, err
	}
	switch s.Type {
	case sourceFilesystem, sourceHTTP, sourceS3, sourceGCS, sourceSentry, sourceAzure:
	default:
		return nil, fieldErr(join(p, "type"), "unknown source type %q: expected filesystem, http, s3, gcs or sentry", truncate(s.Type, 40))
	}
	if s.Type != sourceSentry {
		if err := decodeLayoutAndFilters(o, p, s); err != nil {
			return nil, err
		}
	}
	switch s.Type {
	case sourceFilesystem:
		if s.Path, err = o.requiredStr("path", p); err != nil {
			return nil, err
		}
	case sourceHTTP, sourceSentry:
		u, err := o.requiredStr("url", p)
		if err != nil {
			return nil, err
		}
		parsed, perr := url.Parse(u)
		if perr != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			// The URL may carry credentials: name the field, not the value.
			return nil, fieldErr(join(p, "url"), "expected an absolute http or https URL")
		}
		s.URL = parsed
		if s.Type == sourceSentry {
			if s.Token, err = o.requiredStr("token", p); err != nil {
				return nil, err
			}
			break
		}
		if o.has("headers") {
			h, err := decodeObject(o["headers"], join(p, "headers"))
			if err != nil {
				return nil, err
			}
			s.Headers = map[string]string{}
			for k := range h {
				v, ok, err := h.str(k, join(p, "headers"))
				if err != nil {
					return nil, err
				}
				if ok {
					s.Headers[k] = v
				}
			}
		}
		if s.AcceptInvalidCerts, _, err = o.boolean("accept_invalid_certs", p); err != nil {
			return nil, err
		}
	case sourceS3:
		if s.Bucket, err = o.requiredStr("bucket", p); err != nil {
			return nil, err
		}
		if s.Prefix, _, err = o.str("prefix", p); err != nil {
			return nil, err
		}
		if err := decodeRegion(o, p, s); err != nil {
			return nil, err
		}
		if s.AccessKey, _, err = o.str("access_key", p); err != nil {
			return nil, err
		}
		if s.SecretKey, _, err = o.str("secret_key", p); err != nil {
			return nil, err
		}
		s.CredentialsProvider = "static"
		if v, ok, err := o.str("aws_credentials_provider", p); err != nil {
			return nil, err
		} else if ok {
			if v != "static" && v != "container" {
				return nil, fieldErr(join(p, "aws_credentials_provider"), "unknown credentials provider %q: expected static or container", truncate(v, 40))
			}
			s.CredentialsProvider = v
		}
	case sourceGCS, sourceAzure:
		if s.Bucket, _, err = o.str("bucket", p); err != nil {
			return nil, err
		}
		if s.Prefix, _, err = o.str("prefix", p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// defaultS3Region is where a source with an empty region is looked for.
const defaultS3Region = "us-east-1"

func decodeRegion(o jsonObject, p string, s *source) error {
	raw, ok := o["region"]
	if !ok || isNull(raw) {
		return fieldErr(join(p, "region"), "missing field")
	}
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		// Sentry stores an empty region as the user left it; the AWS SDK
		// then falls back to its default region, and so does the service.
		if name == "" {
			name = defaultS3Region
		}
		s.Region = name
		return nil
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return fieldErr(join(p, "region"), "expected a region name or a [name, endpoint] pair")
	}
	if pair[0] == "" {
		return fieldErr(join(p, "region")+"[0]", "empty region")
	}
	ep, err := url.Parse(pair[1])
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		return fieldErr(join(p, "region")+"[1]", "expected an absolute http or https endpoint URL")
	}
	s.Region, s.Endpoint = pair[0], pair[1]
	return nil
}

func decodeLayoutAndFilters(o jsonObject, p string, s *source) error {
	if o.has("layout") {
		lp := join(p, "layout")
		l, err := decodeObject(o["layout"], lp)
		if err != nil {
			return err
		}
		if t, ok, err := l.str("type", lp); err != nil {
			return err
		} else if ok {
			if !layoutTypes[t] {
				return fieldErr(join(lp, "type"), "unknown layout %q: expected native, symstore, symstore_index2, ssqp, debuginfod, unified or slashsymbols", truncate(t, 40))
			}
			s.Layout.Type = t
		}
		if c, ok, err := l.str("casing", lp); err != nil {
			return err
		} else if ok {
			switch c {
			case "default", "lowercase", "uppercase":
				s.Layout.Casing = c
			default:
				return fieldErr(join(lp, "casing"), "unknown casing %q: expected default, lowercase or uppercase", truncate(c, 40))
			}
		}
	}
	if o.has("filters") {
		fp := join(p, "filters")
		f, err := decodeObject(o["filters"], fp)
		if err != nil {
			return err
		}
		types, err := decodeArray(f["filetypes"], join(fp, "filetypes"))
		if err != nil {
			return err
		}
		for i, raw := range types {
			var t string
			if err := json.Unmarshal(raw, &t); err != nil || !fileTypes[t] {
				return fieldErr(index(join(fp, "filetypes"), i), "unknown file type %s", truncate(string(raw), 40))
			}
			s.Filters.FileTypes = append(s.Filters.FileTypes, t)
		}
		pats, err := decodeArray(f["path_patterns"], join(fp, "path_patterns"))
		if err != nil {
			return err
		}
		for i, raw := range pats {
			var pat string
			if err := json.Unmarshal(raw, &pat); err != nil {
				return fieldErr(index(join(fp, "path_patterns"), i), "expected a string")
			}
			re, err := compileGlob(pat)
			if err != nil {
				return fieldErr(index(join(fp, "path_patterns"), i), "%v", err)
			}
			s.Filters.PathPatterns = append(s.Filters.PathPatterns, re)
		}
		if s.Filters.RequiresChecksum, _, err = f.boolean("requires_checksum", fp); err != nil {
			return err
		}
	}
	return nil
}

// compileGlob turns a path pattern into a regular expression with the
// semantics Symbolicator uses (the glob crate, case-insensitive, "*" also
// matching "/"): "*" and "**" match any run, "?" one character, "[…]" a
// class ("[!…]" negated).
func compileGlob(pat string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`(?is)^`)
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			b.WriteString(`.*`)
			for i+1 < len(pat) && pat[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteString(`.`)
		case '[':
			end := strings.IndexByte(pat[i+1:], ']')
			if end == 0 && i+2 < len(pat) {
				// "[]…]": a leading ']' is literal.
				if e2 := strings.IndexByte(pat[i+2:], ']'); e2 >= 0 {
					end = e2 + 1
				}
			}
			if end < 0 {
				return nil, fmt.Errorf("invalid path pattern %q: unclosed [", truncate(pat, 60))
			}
			class := pat[i+1 : i+1+end]
			i += end + 1
			neg := strings.HasPrefix(class, "!")
			if neg {
				class = class[1:]
			}
			if class == "" {
				return nil, fmt.Errorf("invalid path pattern %q: empty character class", truncate(pat, 60))
			}
			b.WriteByte('[')
			if neg {
				b.WriteByte('^')
			}
			for j := 0; j < len(class); j++ {
				ch := class[j]
				if ch == '-' && j > 0 && j < len(class)-1 {
					b.WriteByte('-')
					continue
				}
				b.WriteString(regexp.QuoteMeta(string(ch)))
			}
			b.WriteByte(']')
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("invalid path pattern %q", truncate(pat, 60))
	}
	return re, nil
}

// objectID identifies the module whose debug file is looked for.
type objectID struct {
	Type      string // elf, macho
	CodeID    string
	DebugID   string
	CodeFile  string
	DebugFile string
	Checksum  string
}

// fileTypesFor lists the debug file types looked for for a module, in
// Symbolicator's order for its object type. Native modules look for the
// debug file types of every platform (an application's debug files are not
// always of its executable's format), so an ELF module is also looked for
// as a PDB and a dSYM; an unknown type looks for everything. Types the
// service cannot read are still probed, so that candidates list every
// place Symbolicator would look.
func fileTypesFor(objectType string) []string {
	switch objectType {
	case "elf":
		return []string{"elf_code", "breakpad", "mach_debug", "pdb", "elf_debug"}
	case "macho":
		return []string{"mach_code", "breakpad", "mach_debug", "pdb", "elf_debug"}
	case "pe":
		return []string{"pe", "breakpad", "mach_debug", "pdb", "elf_debug"}
	case "wasm":
		return []string{"wasm_code", "wasm_debug"}
	case "pe_dotnet":
		return []string{"portablepdb"}
	}
	return []string{"pdb", "mach_debug", "elf_debug", "pe", "mach_code", "elf_code", "wasm_code", "wasm_debug", "breakpad", "sourcebundle", "uuidmap", "bcsymbolmap", "portablepdb"}
}

// allowed reports whether the source's filters let it serve filetype for id.
func (f filters) allowed(id objectID, filetype string) bool {
	if f.RequiresChecksum && id.Checksum == "" {
		return false
	}
	if len(f.FileTypes) > 0 {
		ok := false
		for _, t := range f.FileTypes {
			if t == filetype {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.PathPatterns) == 0 {
		return true
	}
	for _, re := range f.PathPatterns {
		for _, p := range []string{id.CodeFile, id.DebugFile} {
			if p != "" && re.MatchString(strings.ReplaceAll(p, `\`, "/")) {
				return true
			}
		}
	}
	return false
}

// locations returns the paths, relative to the source root, where the
// source's layout keeps files of the given types for id, most preferred
// first and without duplicates.
func (l layout) locations(id objectID, f filters, types []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range types {
		if !f.allowed(id, t) {
			continue
		}
		for _, p := range l.paths(t, id) {
			switch l.Casing {
			case "lowercase":
				p = strings.ToLower(p)
			case "uppercase":
				p = strings.ToUpper(p)
			}
			variants := []string{p}
			if t == "pe" || t == "pdb" {
				// Symbol servers may serve PE and PDB files compressed,
				// named with the last character replaced by '_'.
				variants = []string{p[:len(p)-1] + "_", p}
			}
			for _, v := range variants {
				if !safeLocation(v) || seen[v] {
					continue
				}
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

// safeLocation refuses paths that could leave the source root: the
// identifiers come from the request.
func safeLocation(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return false
		}
	}
	return true
}

func basename(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	if p == "" || p == "." || p == ".." {
		return ""
	}
	return p
}

// machUUID returns the Mach-O UUID as 32 hex digits: the code id when it is
// a UUID, else the debug id's UUID.
func machUUID(id objectID) string {
	if id.CodeID != "" {
		c := strings.ReplaceAll(id.CodeID, "-", "")
		if d, ok := parseDebugID(c); ok && len(c) == 32 {
			return d.simple()
		}
		return ""
	}
	if d, ok := parseDebugID(id.DebugID); ok {
		return d.simple()
	}
	return ""
}

// paths returns where the layout keeps a file of filetype for id, in
// Symbolicator's spelling, before casing is applied.
func (l layout) paths(filetype string, id objectID) []string {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	switch l.Type {
	case "native":
		return nativePaths(filetype, id)
	case "symstore":
		return one(symstorePath(filetype, id, false))
	case "ssqp":
		return one(symstorePath(filetype, id, true))
	case "symstore_index2":
		p := symstorePath(filetype, id, false)
		if len(p) < 2 {
			return one(p)
		}
		if prefix := p[:2]; strings.HasSuffix(prefix, "/") || strings.HasSuffix(prefix, ".") {
			return one(p[:1] + "/" + p)
		}
		return one(p[:2] + "/" + p)
	case "debuginfod":
		if id.CodeID == "" {
			return nil
		}
		switch filetype {
		case "elf_code":
			return one(id.CodeID + "/executable")
		case "elf_debug":
			return one(id.CodeID + "/debuginfo")
		}
	case "unified":
		return one(unifiedPath(filetype, id))
	case "slashsymbols":
		if id.CodeID == "" || basename(id.CodeFile) == "" {
			return nil
		}
		return one(basename(id.CodeFile) + "/" + id.CodeID + "/symbols")
	}
	return nil
}

// gdbPath is GDB's build-id directory name: <code_id[:2]>/<code_id[2:]>.
func gdbPath(id objectID) string {
	if len(id.CodeID) < 2 {
		return ""
	}
	return id.CodeID[:2] + "/" + id.CodeID[2:]
}

// lldbPath is LLDB's UUID directory name: XXXX/XXXX/XXXX/XXXX/XXXX/XXXXXXXXXXXX.
func lldbPath(id objectID) string {
	u := strings.ToUpper(machUUID(id))
	if u == "" {
		return ""
	}
	return u[0:4] + "/" + u[4:8] + "/" + u[8:12] + "/" + u[12:16] + "/" + u[16:20] + "/" + u[20:32]
}

// breakpadID is the debug id as Breakpad writes it: the UUID in upper-case
// hex without dashes, then the age in hex.
func breakpadID(id objectID) string {
	d, ok := parseDebugID(id.DebugID)
	if !ok {
		return ""
	}
	return strings.ToUpper(d.simple()) + strings.ToUpper(strconv.FormatUint(uint64(d.Appendix), 16))
}

// breakpadPath is Breakpad's symbol store name:
// <debug_file>/<BREAKPAD_ID>/<debug_file without .exe, .dll or .pdb>.sym.
// wasm modules have none.
func breakpadPath(id objectID) string {
	file, bid := basename(id.DebugFile), breakpadID(id)
	if id.Type == "wasm" || file == "" || bid == "" {
		return ""
	}
	stem := file
	for _, ext := range []string{".exe", ".dll", ".pdb"} {
		if strings.HasSuffix(stem, ext) {
			stem = strings.TrimSuffix(stem, ext)
			break
		}
	}
	return file + "/" + bid + "/" + stem + ".sym"
}

// pdbSymstorePath is <debug_file>/<GUID><age>/<debug_file>; the ssqp
// convention spells the GUID in lower case and the age in upper case, and
// a portable PDB's age is always ffffffff.
func pdbSymstorePath(id objectID, ssqp bool) string {
	file := basename(id.DebugFile)
	d, ok := parseDebugID(id.DebugID)
	if file == "" || !ok {
		return ""
	}
	age := uint64(d.Appendix)
	if id.Type == "pe_dotnet" {
		age = 0xffffffff
	}
	if ssqp {
		return strings.ToLower(file) + "/" + strings.ToLower(d.simple()) + strings.ToUpper(strconv.FormatUint(age, 16)) + "/" + strings.ToLower(file)
	}
	return file + "/" + strings.ToUpper(d.simple()) + strconv.FormatUint(age, 16) + "/" + file
}

// peSymstorePath is <code_file>/<TIMESTAMP><sizeofimage>/<code_file>.
func peSymstorePath(id objectID, ssqp bool) string {
	file := basename(id.CodeFile)
	if file == "" || len(id.CodeID) < 8 {
		return ""
	}
	if ssqp {
		return strings.ToLower(file) + "/" + id.CodeID + "/" + strings.ToLower(file)
	}
	return file + "/" + strings.ToUpper(id.CodeID[:8]) + strings.ToLower(id.CodeID[8:]) + "/" + file
}

// nativePaths follows each platform's own convention: GDB's build-id
// directories for ELF and wasm, LLDB's UUID directories for Mach-O, symbol
// server names for PE and PDB, Breakpad's store for .sym files, and beside
// them the source bundle (.src.zip), also under the Breakpad name.
func nativePaths(filetype string, id objectID) []string {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	suffixed := func(p, suffix string) []string {
		if p == "" {
			return nil
		}
		return []string{p + suffix}
	}
	switch filetype {
	case "elf_code", "wasm_code":
		return one(gdbPath(id))
	case "elf_debug", "wasm_debug":
		return suffixed(gdbPath(id), ".debug")
	case "mach_code":
		return suffixed(lldbPath(id), ".app")
	case "mach_debug":
		return one(lldbPath(id))
	case "pdb", "portablepdb":
		return one(pdbSymstorePath(id, false))
	case "pe":
		return one(peSymstorePath(id, false))
	case "breakpad":
		return one(breakpadPath(id))
	case "sourcebundle":
		var primary string
		switch id.Type {
		case "pe", "pe_dotnet":
			primary = trimExt(pdbSymstorePath(id, false))
		case "macho":
			primary = lldbPath(id)
		case "elf", "wasm":
			primary = gdbPath(id)
		}
		if primary == "" {
			return nil
		}
		primary += ".src.zip"
		var out []string
		if bp := breakpadPath(id); bp != "" {
			if alt := strings.TrimSuffix(bp, ".sym") + ".src.zip"; alt != primary {
				out = append(out, alt)
			}
		}
		return append(out, primary)
	}
	return nil
}

// trimExt cuts p at its last dot, if any.
func trimExt(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return p
}

func symstorePath(filetype string, id objectID, ssqp bool) string {
	codeFile := basename(id.CodeFile)
	if ssqp {
		codeFile = strings.ToLower(codeFile)
	}
	switch filetype {
	case "elf_code":
		if id.CodeID == "" || codeFile == "" {
			return ""
		}
		return codeFile + "/elf-buildid-" + id.CodeID + "/" + codeFile
	case "elf_debug":
		if id.CodeID == "" {
			return ""
		}
		return "_.debug/elf-buildid-sym-" + id.CodeID + "/_.debug"
	case "mach_code":
		u := machUUID(id)
		if u == "" || codeFile == "" {
			return ""
		}
		return codeFile + "/mach-uuid-" + u + "/" + codeFile
	case "mach_debug":
		u := machUUID(id)
		if u == "" {
			return ""
		}
		return "_.dwarf/mach-uuid-sym-" + u + "/_.dwarf"
	case "pdb", "portablepdb":
		return pdbSymstorePath(id, ssqp)
	case "pe":
		return peSymstorePath(id, ssqp)
	case "sourcebundle":
		// Symbol servers serve source bundles beside PDBs only.
		if id.Type != "pe" {
			return ""
		}
		if p := pdbSymstorePath(id, ssqp); p != "" {
			return trimExt(p) + ".src.zip"
		}
	}
	return ""
}

// unifiedPath is <id[:2]>/<id[2:]>/<kind>, where the id is the code id for
// ELF, the code id or UUID for Mach-O and wasm, and the lower-case Breakpad
// debug id for PE and PDB; Breakpad files and source bundles use their
// module's id.
func unifiedPath(filetype string, id objectID) string {
	suffix := map[string]string{
		"elf_code": "executable", "mach_code": "executable", "pe": "executable", "wasm_code": "executable",
		"elf_debug": "debuginfo", "mach_debug": "debuginfo", "pdb": "debuginfo", "wasm_debug": "debuginfo", "portablepdb": "debuginfo",
		"breakpad": "breakpad", "sourcebundle": "sourcebundle", "uuidmap": "uuidmap", "bcsymbolmap": "bcsymbolmap",
		"il2cpp": "il2cpp",
	}[filetype]
	key := unifiedKey(filetype, id)
	if suffix == "" || len(key) < 3 {
		return ""
	}
	return key[:2] + "/" + key[2:] + "/" + suffix
}

func unifiedKey(filetype string, id objectID) string {
	switch filetype {
	case "sourcebundle", "breakpad", "il2cpp":
		switch id.Type {
		case "elf":
			return unifiedKey("elf_code", id)
		case "macho":
			return unifiedKey("mach_code", id)
		case "pe":
			return unifiedKey("pe", id)
		case "wasm":
			return unifiedKey("wasm_code", id)
		case "pe_dotnet":
			return unifiedKey("portablepdb", id)
		}
		return ""
	case "pe", "pdb", "portablepdb":
		return strings.ToLower(breakpadID(id))
	case "mach_code", "mach_debug", "wasm_code", "wasm_debug", "uuidmap", "bcsymbolmap":
		if id.CodeID != "" {
			return id.CodeID
		}
		if d, ok := parseDebugID(id.DebugID); ok {
			return d.simple()
		}
		return ""
	case "elf_code", "elf_debug":
		return id.CodeID
	}
	return ""
}

// joinURL appends a relative location to a base URL the way Symbolicator
// does: the base is a directory, each segment is percent-encoded and empty
// segments are skipped. The base's query is kept.
func joinURL(base *url.URL, location string) *url.URL {
	u := *base
	segs := strings.Split(strings.TrimSuffix(base.Path, "/"), "/")
	for _, s := range strings.Split(location, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	u.Path = strings.Join(segs, "/")
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	u.RawPath = ""
	return &u
}

// redactURL drops user info from a URL before it is shown in a candidate or
// a log line.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// s3Key joins the source prefix and the location like Symbolicator's
// SourceLocation::prefix.
func s3Key(prefix, location string) string {
	p := strings.Trim(prefix, "/")
	if p == "" {
		return location
	}
	return p + "/" + location
}
