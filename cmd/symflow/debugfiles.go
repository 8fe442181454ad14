package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/debugfile"
)

const debugFilesUsage = "usage: symflow debug-files upload --project ID [--api URL] PATH [PATH]; symflow debug-files identify PATH [PATH]"

// cmdDebugFiles uploads debug files through the API (a running `symflow
// serve`, or a deployment's API URL) or prints their identity.
func cmdDebugFiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{2, errors.New(debugFilesUsage)}
	}
	switch args[0] {
	case "identify":
		return identifyFiles(args[1:], stdout)
	case "upload":
		return uploadFiles(ctx, args[1:], stdout, stderr)
	}
	return &exitError{2, fmt.Errorf("unknown debug-files command %q; %s", args[0], debugFilesUsage)}
}

func identifyFiles(paths []string, stdout io.Writer) error {
	if len(paths) == 0 {
		return &exitError{2, errors.New(debugFilesUsage)}
	}
	failed := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err == nil {
			var id debugfile.Identity
			if id, err = debugfile.Identify(data); err == nil {
				fmt.Fprintf(stdout, "%s\t%s %s %s code_id=%s debug_id=%s\n", p, id.Format, id.Arch, id.FileType, id.CodeID, id.DebugID)
				continue
			}
		}
		fmt.Fprintf(stdout, "%s\t%v\n", p, err)
		failed++
	}
	if failed > 0 {
		return &exitError{1, fmt.Errorf("%d of %d files not identified", failed, len(paths))}
	}
	return nil
}

func uploadFiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("debug-files upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	projectID := fs.String("project", "", "project id the files belong to (required)")
	apiURL := fs.String("api", envOr("SYMFLOW_API", "http://127.0.0.1:8080"), "symflow API base URL ($SYMFLOW_API)")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *projectID == "" || len(paths) == 0 {
		return &exitError{2, errors.New(debugFilesUsage)}
	}
	base, err := url.Parse(strings.TrimRight(*apiURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return &exitError{2, fmt.Errorf("--api %q is not an http(s) URL", *apiURL)}
	}
	c := &http.Client{Timeout: 5 * time.Minute}
	failed := 0
	for _, p := range paths {
		if err := uploadFile(ctx, c, base.String(), *projectID, p, stdout); err != nil {
			fmt.Fprintf(stdout, "%s\trejected: %v\n", p, err)
			failed++
		}
	}
	if failed > 0 {
		return &exitError{1, fmt.Errorf("%d of %d files not uploaded", failed, len(paths))}
	}
	return nil
}

// uploadFile identifies the file first (so a non-debug file is refused
// without a round trip), then sends it in the request body when small, or
// asks for presigned URLs and PUTs it there when large.
func uploadFile(ctx context.Context, c *http.Client, base, projectID, path string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	id, err := debugfile.Identify(data)
	if err != nil {
		return err
	}
	if _, err := debugfile.Objects(projectID, id); err != nil {
		return err
	}
	project := url.PathEscape(projectID)
	if len(data) <= api.DefaultMaxDebugFileBytes {
		var out api.DebugFileUploaded
		if err := call(ctx, c, http.MethodPost, base+"/v1/projects/"+project+"/debug-files", "application/octet-stream", data, &out); err != nil {
			return err
		}
		for _, o := range out.Objects {
			fmt.Fprintf(stdout, "%s\t%s %s code_id=%s debug_id=%s -> s3://%s/%s\n", path, id.Format, id.FileType, id.CodeID, id.DebugID, o.Bucket, o.Key)
		}
		return nil
	}
	req, _ := json.Marshal(id)
	var ups api.PresignedUploads
	if err := call(ctx, c, http.MethodPost, base+"/v1/projects/"+project+"/debug-files/uploads", "application/json", req, &ups); err != nil {
		return err
	}
	for _, u := range ups.Uploads {
		if err := call(ctx, c, http.MethodPut, u.URL, "application/octet-stream", data, nil); err != nil {
			return fmt.Errorf("upload to presigned URL for %s: %w", u.Key, err)
		}
		fmt.Fprintf(stdout, "%s\t%s %s code_id=%s debug_id=%s -> s3://%s/%s (presigned)\n", path, id.Format, id.FileType, id.CodeID, id.DebugID, u.Bucket, u.Key)
	}
	return nil
}

// call sends one request and decodes a JSON answer; an error answer is
// returned with the API's message.
func call(ctx context.Context, c *http.Client, method, u, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error api.Error `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s (%d %s)", e.Error.Message, resp.StatusCode, e.Error.Code)
		}
		return fmt.Errorf("%s %s: %s", method, req.URL.Redacted(), resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
