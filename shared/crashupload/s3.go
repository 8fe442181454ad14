package crashupload

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/symflow/symflow/shared/blob"
)

// S3API is the part of the S3 client the quarantine uses.
type S3API interface {
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, opts ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// ReasonMetadata is the metadata key (x-amz-meta-symflow-quarantine-reason)
// that carries why an object was quarantined.
const ReasonMetadata = "symflow-quarantine-reason"

// S3Quarantine moves refused objects to QuarantinePrefix in the same
// bucket (copy, then delete): outside crashes/, so the move triggers
// nothing, and the lifecycle rule of the bucket expires them.
type S3Quarantine struct {
	Client S3API
}

// Quarantine copies obj to quarantine/<key> with the reason in its
// metadata, then deletes obj. A missing obj is blob.ErrNotFound.
func (q S3Quarantine) Quarantine(ctx context.Context, obj blob.Ref, reason string) (blob.Ref, error) {
	to := blob.Ref{Bucket: obj.Bucket, Key: QuarantinePrefix + obj.Key}
	_, err := q.Client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(to.Bucket),
		Key:               aws.String(to.Key),
		CopySource:        aws.String(url.PathEscape(obj.Bucket) + "/" + escapeKey(obj.Key)),
		MetadataDirective: s3types.MetadataDirectiveReplace,
		Metadata:          map[string]string{ReasonMetadata: asciiReason(reason)},
	})
	if err != nil {
		if isNoSuchKey(err) {
			return blob.Ref{}, fmt.Errorf("quarantine %s: %w", obj, blob.ErrNotFound)
		}
		return blob.Ref{}, fmt.Errorf("quarantine %s: copy: %w", obj, err)
	}
	if _, err := q.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)}); err != nil {
		return to, fmt.Errorf("quarantine %s: copied to %s, delete: %w", obj, to, err)
	}
	return to, nil
}

func isNoSuchKey(err error) bool {
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// escapeKey URL-encodes each segment of a key for CopySource.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// asciiReason keeps metadata to the printable ASCII S3 accepts, and short.
func asciiReason(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 512; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
