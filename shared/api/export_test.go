package api

// Hooks for the tests of package api_test.

// FormFile is one file of an upload form.
type FormFile struct {
	Filename string
	Data     []byte
}

// CrashpadForm builds an upload body as Crashpad's handler does (see
// crashpadForm).
func CrashpadForm(fields map[string]string, files map[string]FormFile, gz bool) ([]byte, string) {
	fs := make(map[string]formFile, len(files))
	for k, f := range files {
		fs[k] = formFile{f.Filename, f.Data}
	}
	return crashpadForm(fields, fs, gz)
}

// MsgpackEncode writes v as MessagePack (see msgpackEncode).
func MsgpackEncode(v any) []byte { return msgpackEncode(v) }
