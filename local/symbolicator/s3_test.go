package symbolicator

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/internal/mototest"
)

func TestS3SourceWithMoto(t *testing.T) {
	s := buildSample(t)
	endpoint := mototest.Start(t)
	ctx := context.Background()
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing-secret", ""),
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("symflow-debug-files")}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	put := func(key, path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("symflow-debug-files"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	prefix := "42/" + s.CodeID[:2] + "/" + s.CodeID[2:] + "/"
	put(prefix+"executable", s.Stripped)
	put(prefix+"debuginfo", s.DebugInfo)

	_, srv := testService(t, Config{AllowLoopback: true})
	src := map[string]any{
		"type": "s3", "id": "sentry:project", "bucket": "symflow-debug-files", "prefix": "/42/",
		"region": []any{"us-east-1", endpoint}, "access_key": "testing", "secret_key": "testing-secret",
		"layout": map[string]any{"type": "unified"},
	}
	inlineAddr, chain := findInlineAddr(t, s)
	resp := postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, inlineAddr, src))
	m, _ := firstResult(t, resp)
	if m["debug_status"] != "found" {
		t.Fatalf("module = %v", m)
	}
	got := candidateStatuses(t, m)
	want := map[string]string{
		"sentry:project s3://symflow-debug-files/" + prefix + "debuginfo":  "ok debug:ok",
		"sentry:project s3://symflow-debug-files/" + prefix + "executable": "ok",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("candidate %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	frames := arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "st")[0], "st")["frames"], "frames")
	checkChain(t, frames, 0, chain, 0, hexAddr(testImageAddr+inlineAddr-s.LoadAddr))
	if strings.Contains(string(resp.Body), "testing-secret") {
		t.Error("the secret key reached the response")
	}

	t.Run("missing object", func(t *testing.T) {
		other := *s
		other.CodeID = strings.Repeat("cd", 20)
		other.DebugID = ""
		m, _ := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(&other, inlineAddr, src)))
		if m["debug_status"] != "missing" {
			t.Errorf("module = %v", m)
		}
		for loc, st := range candidateStatuses(t, m) {
			if st != "notfound" {
				t.Errorf("candidate %s = %q, want notfound", loc, st)
			}
		}
	})
	t.Run("loopback endpoint refused by default", func(t *testing.T) {
		_, strict := testService(t, Config{})
		m, _ := firstResult(t, postJSON(t, strict.URL+"/symbolicate", sampleRequest(s, inlineAddr, src)))
		if m["debug_status"] != "fetching_failed" {
			t.Errorf("module = %v (candidates %v)", m, candidateStatuses(t, m))
		}
		for loc, st := range candidateStatuses(t, m) {
			if !strings.Contains(st, "reserved address") || strings.Contains(st, "testing-secret") {
				t.Errorf("candidate %s = %q, want an error naming the reserved address", loc, st)
			}
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		bad := map[string]any{}
		for k, v := range src {
			bad[k] = v
		}
		bad["bucket"] = "no-such-bucket"
		m, _ := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, inlineAddr, bad)))
		if m["debug_status"] != "missing" {
			t.Errorf("module = %v (candidates %v)", m, candidateStatuses(t, m))
		}
	})
}
