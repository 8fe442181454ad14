package debugfile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/symflow/symflow/shared/blob"
)

// Putter writes objects (blob.Store).
type Putter interface {
	Put(ctx context.Context, ref blob.Ref, data []byte, contentType string) error
}

// UploadRecorder records a project's last debug-file upload (dynamo.Store).
// It fails with an error wrapping dynamo.ErrNotFound for an unknown
// project.
type UploadRecorder interface {
	RecordDebugFileUpload(ctx context.Context, projectID string, at time.Time) error
}

// Presigner makes a URL that lets its holder PUT one object for a while.
type Presigner interface {
	PresignPut(ctx context.Context, ref blob.Ref, ttl time.Duration) (url string, err error)
}

// Store keeps debug files in the debug-files bucket.
type Store struct {
	Bucket    string
	Blobs     Putter
	Projects  UploadRecorder
	Presigner Presigner // nil: no presigned uploads
	// Inflate bounds how far an uploaded file's compressed sections may
	// expand (zero: the defaults, which the embedded Symbolicator uses
	// too), so that a file the service would refuse is refused here.
	Inflate InflateLimits
	Now     func() time.Time
}

// Stored is one object written (or to be written) for a debug file.
type Stored struct {
	Bucket string `json:"bucket"`
	Object
}

// Upload identifies data, checks that its compressed parts stay within
// the decompression bound, records the upload for the project (which fails
// for an unknown project before anything is written) and stores the file
// under every unified-layout name it answers to. A file that is not a
// debug file is a *RejectedError; one whose compressed parts claim or
// inflate past the bound (or disagree with their claims) an
// *InflateError naming the part.
func (s *Store) Upload(ctx context.Context, projectID string, data []byte) (Identity, []Stored, error) {
	id, err := Identify(data)
	if err != nil {
		return Identity{}, nil, err
	}
	if err := CheckInflation(data, s.Inflate); err != nil {
		return id, nil, err
	}
	objs, err := Objects(projectID, id)
	if err != nil {
		return id, nil, err
	}
	if err := s.Projects.RecordDebugFileUpload(ctx, projectID, s.now()); err != nil {
		return id, nil, err
	}
	out := make([]Stored, 0, len(objs))
	for _, o := range objs {
		if err := s.Blobs.Put(ctx, blob.Ref{Bucket: s.Bucket, Key: o.Key}, data, "application/octet-stream"); err != nil {
			return id, nil, fmt.Errorf("store debug file: %w", err)
		}
		out = append(out, Stored{Bucket: s.Bucket, Object: o})
	}
	return id, out, nil
}

// PresignedUpload is where a client PUTs a large debug file.
type PresignedUpload struct {
	Stored
	Method    string    `json:"method"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PresignTTL is how long a presigned upload URL is valid.
const PresignTTL = 15 * time.Minute

// ErrNoPresigner: the store was built without a Presigner.
var ErrNoPresigner = errors.New("presigned uploads are not configured")

var (
	hexPattern    = regexp.MustCompile(`^(?:[0-9a-f]{2}){1,40}$`)
	uuidPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	peCodePattern = regexp.MustCompile(`^[0-9a-f]{9,16}$`)
)

// maxDebugFileName bounds an identity's debug_file: a CodeView record's
// PDB path holds at most 1023 bytes (goblin's bound), each of which may
// become a three-byte U+FFFD when it is not UTF-8.
const maxDebugFileName = 4096

// CheckIdentity validates an identity a client computed (for presigned
// uploads, where symflow never sees the file) and names the wrong field.
// It asks of each format what Objects needs to name the file and what
// Identify would have produced: an ELF's build id, a Mach-O's UUID, a PE
// image's or PDB's debug id with its age, a wasm module's build id (or a
// debug id that is not the nil UUID).
func CheckIdentity(id Identity) (field, message string, ok bool) {
	switch id.Format {
	case "elf", "macho", "pe", "pdb", "wasm":
	default:
		return "format", "must be elf, macho, pe, pdb or wasm", false
	}
	windows := id.Format == "pe" || id.Format == "pdb"
	switch {
	case id.Format == "elf" && !hexPattern.MatchString(id.CodeID):
		return "code_id", "must be the build id: 2 to 80 lowercase hex digits, two for each byte", false
	case id.Format == "macho" && !uuidPattern.MatchString(id.DebugID):
		return "debug_id", "must be the LC_UUID as a lowercase hyphenated UUID", false
	case windows && !debugIDPattern.MatchString(id.DebugID):
		return "debug_id", "must be the CodeView GUID and age: a lowercase hyphenated UUID, then -<age in lowercase hex> unless the age is 0", false
	case id.Format == "pe" && id.CodeID != "" && !peCodePattern.MatchString(id.CodeID):
		return "code_id", "must be TimeDateStamp (8 digits) and SizeOfImage in lowercase hex", false
	case id.Format == "pdb" && id.CodeID != "":
		return "code_id", "must be empty: a PDB has no code id", false
	case id.Format == "wasm" && id.CodeID != "" && !hexPattern.MatchString(id.CodeID):
		return "code_id", "must be the build_id section in hex: 2 to 80 lowercase hex digits, two for each byte", false
	case id.Format == "wasm" && id.CodeID == "" && (!uuidPattern.MatchString(id.DebugID) || id.DebugID == WasmDebugID(nil)):
		return "code_id", "must be the build_id section in hex: a wasm module without one cannot be stored", false
	case !windows && id.DebugID != "" && !uuidPattern.MatchString(id.DebugID):
		return "debug_id", "must be a lowercase hyphenated UUID", false
	case id.Format == "pe" && id.FileType != "executable" && id.FileType != "both":
		return "file_type", "must be executable, or both for an image with DWARF", false
	case id.Format == "pdb" && id.FileType != "debuginfo":
		return "file_type", "must be debuginfo", false
	case id.FileType != "executable" && id.FileType != "debuginfo" && id.FileType != "both":
		return "file_type", "must be executable, debuginfo or both", false
	case len(id.DebugFile) > maxDebugFileName || !utf8.ValidString(id.DebugFile):
		return "debug_file", fmt.Sprintf("must be UTF-8 text of at most %d bytes", maxDebugFileName), false
	}
	return "", "", true
}

// PresignUploads records the upload for the project and returns one
// presigned PUT URL per object the file with identity id is stored as.
// The client computed id; symflow cannot check the file behind it.
func (s *Store) PresignUploads(ctx context.Context, projectID string, id Identity) ([]PresignedUpload, error) {
	if s.Presigner == nil {
		return nil, ErrNoPresigner
	}
	if f, msg, ok := CheckIdentity(id); !ok {
		return nil, reject("%s %s", f, msg)
	}
	objs, err := Objects(projectID, id)
	if err != nil {
		return nil, err
	}
	if err := s.Projects.RecordDebugFileUpload(ctx, projectID, s.now()); err != nil {
		return nil, err
	}
	expires := s.now().Add(PresignTTL)
	out := make([]PresignedUpload, 0, len(objs))
	for _, o := range objs {
		url, err := s.Presigner.PresignPut(ctx, blob.Ref{Bucket: s.Bucket, Key: o.Key}, PresignTTL)
		if err != nil {
			return nil, fmt.Errorf("presign %s: %w", o.Key, err)
		}
		out = append(out, PresignedUpload{Stored: Stored{Bucket: s.Bucket, Object: o}, Method: "PUT", URL: url, ExpiresAt: expires})
	}
	return out, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
