package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/s3"
	"github.com/symflow/symflow/shared/blob"
)

func start(t *testing.T) (*s3.Server, *awss3.Client) {
	t.Helper()
	srv, err := s3.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	endpoint, stop, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv, s3.Client(endpoint)
}

// The production blob store runs unchanged against the local server.
func TestBlobStoreRoundTrip(t *testing.T) {
	_, client := start(t)
	store := blob.New(client)
	ctx := context.Background()
	ref := blob.Ref{Bucket: "results", Key: "results/42/f0e1.json"}
	in := map[string]any{"status": "completed", "frames": float64(3)}
	if err := store.PutJSON(ctx, ref, in); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := store.GetJSON(ctx, ref, &out); err != nil {
		t.Fatal(err)
	}
	if out["status"] != "completed" || out["frames"] != float64(3) {
		t.Fatalf("read back %v, want %v", out, in)
	}
	_, err := store.Open(ctx, blob.Ref{Bucket: "results", Key: "missing.json"})
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing object: got %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "s3://results/missing.json") {
		t.Errorf("error %q does not name the object", err)
	}
}

// The SDK's default client sends streamed uploads aws-chunked with a
// trailing checksum; the server must store the payload, not the framing.
func TestChunkedUpload(t *testing.T) {
	srv, _ := start(t)
	endpoint, stop, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := awss3.New(awss3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{},
	}, func(o *awss3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported })
	data := bytes.Repeat([]byte("0123456789abcdef"), 70000) // > 1 MiB, several chunks
	_, err = client.PutObject(context.Background(), &awss3.PutObjectInput{
		Bucket: aws.String("crashes"), Key: aws.String("crashes/42/e.dmp"), Body: bytes.NewReader(data),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(srv.Root, "crashes", "crashes", "42", "e.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want %d identical bytes", len(got), len(data))
	}
	out, err := client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("crashes"), Key: aws.String("crashes/42/e.dmp")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	back, _ := io.ReadAll(out.Body)
	if !bytes.Equal(back, data) {
		t.Fatalf("GetObject returned %d bytes, want %d", len(back), len(data))
	}
}

func TestListAndDelete(t *testing.T) {
	_, client := start(t)
	ctx := context.Background()
	for _, k := range []string{"42/ab/cd/debuginfo", "42/ab/cd/executable", "7/ef/01/debuginfo"} {
		if _, err := client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("dif"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("dif"), Prefix: aws.String("42/")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	if strings.Join(keys, ",") != "42/ab/cd/debuginfo,42/ab/cd/executable" {
		t.Fatalf("list 42/ = %v", keys)
	}
	if _, err := client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("dif"), Key: aws.String("42/ab/cd/debuginfo")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("dif"), Key: aws.String("42/ab/cd/debuginfo")}); err == nil {
		t.Fatal("deleted object still answers HEAD")
	}
}

// Keys that would escape the root are refused, and nothing is written.
func TestBadKeys(t *testing.T) {
	srv, client := start(t)
	for _, key := range []string{"../escape", "a/../../escape"} {
		_, err := client.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key), Body: strings.NewReader("x")})
		if err == nil {
			t.Errorf("key %q accepted", key)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(srv.Root), "escape")); err == nil {
		t.Fatal("an object escaped the root")
	}
}
