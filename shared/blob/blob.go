// Package blob keeps what is too large for Step Functions state (crash files,
// large payloads, Symbolicator results) in S3, and passes references around.
//
// State carries a Ref; only the step that needs the bytes reads them.
package blob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ErrNotFound is returned when the referenced object does not exist.
var ErrNotFound = errors.New("blob not found")

// Ref names one object. It is what state carries instead of the bytes.
type Ref struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// Validate reports what is missing from a reference.
func (r Ref) Validate() error {
	switch {
	case r.Bucket == "":
		return errors.New("bucket is empty")
	case r.Key == "":
		return errors.New("key is empty")
	case strings.HasPrefix(r.Key, "/") || strings.Contains(r.Key, ".."):
		return fmt.Errorf("key %q must be relative and free of parent references", r.Key)
	}
	return nil
}

func (r Ref) String() string { return "s3://" + r.Bucket + "/" + r.Key }

// S3API is the part of the S3 client the store uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Store reads and writes objects in S3.
type Store struct {
	client S3API
}

// New returns a Store over an S3 client built once by the caller.
func New(client S3API) *Store { return &Store{client: client} }

// Open streams an object; the caller closes the reader.
func (s *Store) Open(ctx context.Context, ref Ref) (io.ReadCloser, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("open %s: %w", ref, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key)})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fmt.Errorf("open %s: %w", ref, ErrNotFound)
		}
		return nil, fmt.Errorf("open %s: %w", ref, err)
	}
	return out.Body, nil
}

// Put writes data under ref.
func (s *Store) Put(ctx context.Context, ref Ref, data []byte, contentType string) error {
	if err := ref.Validate(); err != nil {
		return fmt.Errorf("put %s: %w", ref, err)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(ref.Bucket),
		Key:           aws.String(ref.Key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", ref, err)
	}
	return nil
}

// maxJSON bounds what GetJSON reads, so a wrong reference to a huge object
// fails clearly instead of exhausting a Lambda's memory.
const maxJSON = 64 << 20

// GetJSON reads a JSON object into v.
func (s *Store) GetJSON(ctx context.Context, ref Ref, v any) error {
	rc, err := s.Open(ctx, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	if len(data) > maxJSON {
		return fmt.Errorf("read %s: larger than %d bytes", ref, maxJSON)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", ref, err)
	}
	return nil
}

// PutJSON writes v as JSON.
func (s *Store) PutJSON(ctx context.Context, ref Ref, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", ref, err)
	}
	return s.Put(ctx, ref, data, "application/json")
}
