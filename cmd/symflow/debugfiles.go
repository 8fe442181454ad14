package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/debugfile"
)

const debugFilesUsage = "usage: symflow debug-files upload --project ID [--api URL] PATH [PATH]; symflow debug-files identify PATH [PATH]"

// cmdDebugFiles uploads debug files (ELF, Mach-O, PE, PDB, wasm, source
// bundles) through the API (a running `symflow serve`, or a deployment's
// API URL) or prints their identity.
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
				fmt.Fprintf(stdout, "%s\t%s %s %s code_id=%s debug_id=%s%s\n", p, id.Format, id.Arch, id.FileType, id.CodeID, id.DebugID, debugFileNote(id))
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

// debugFileNote names the separate debug file an object refers to (a PE
// image's PDB, a wasm module's external_debug_info), quoted: it is text
// from the file.
func debugFileNote(id debugfile.Identity) string {
	if id.DebugFile == "" {
		return ""
	}
	return fmt.Sprintf(" debug_file=%q", id.DebugFile)
}

func uploadFiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("debug-files upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	projectID := fs.String("project", "", "project id the files belong to (required)")
	apiURL := fs.String("api", envOr("SYMFLOW_API", "http://127.0.0.1:8080"), "symflow API base URL ($SYMFLOW_API)")
	region := fs.String("sigv4-region", "", "sign requests with SigV4 for execute-api in this region, with the default AWS credentials (automatic for *.execute-api.REGION.amazonaws.com)")
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
	if *region == "" {
		*region = executeAPIRegion(base.Host)
	}
	c := &client{http: &http.Client{Timeout: 5 * time.Minute}, apiHost: base.Host}
	if *region != "" {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(*region))
		if err != nil {
			return fmt.Errorf("AWS credentials for signing: %w", err)
		}
		c.creds, c.region, c.signer = cfg.Credentials, *region, v4.NewSigner()
	}
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
func uploadFile(ctx context.Context, c *client, base, projectID, path string, stdout io.Writer) error {
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

// client calls the API, signing requests to it with SigV4 when a region is
// set (a deployment's API uses AWS_IAM authorization). Presigned S3 URLs
// carry their own signature and are sent as they are.
type client struct {
	http    *http.Client
	apiHost string
	signer  *v4.Signer
	creds   aws.CredentialsProvider
	region  string
}

// executeAPIRegion reads the region from an API Gateway host name
// (ID.execute-api.REGION.amazonaws.com); "" for any other host.
func executeAPIRegion(host string) string {
	parts := strings.Split(strings.Split(host, ":")[0], ".")
	if len(parts) >= 5 && parts[1] == "execute-api" && parts[3] == "amazonaws" {
		return parts[2]
	}
	return ""
}

// call sends one request and decodes a JSON answer; an error answer is
// returned with the API's message.
func call(ctx context.Context, c *client, method, u, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if c.signer != nil && req.URL.Host == c.apiHost {
		creds, err := c.creds.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("AWS credentials: %w", err)
		}
		sum := sha256.Sum256(body)
		if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", c.region, time.Now()); err != nil {
			return fmt.Errorf("sign request: %w", err)
		}
	}
	resp, err := c.http.Do(req)
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
