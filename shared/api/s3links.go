package api

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/shared/blob"
)

// S3ResultLinks presigns GetObject with the API function's credentials:
// the link grants reading the one result object, for a while.
type S3ResultLinks struct {
	Client *s3.PresignClient
}

// PresignGet returns a URL that downloads ref for ttl.
func (l S3ResultLinks) PresignGet(ctx context.Context, ref blob.Ref, ttl time.Duration) (string, error) {
	req, err := l.Client.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

// S3CrashUploads presigns PutObject into the crash bucket with the API
// function's credentials: the URL lets its holder write the one key, for a
// while, with exactly the declared length (Content-Length is signed), so a
// client cannot use it to store more than it asked for.
type S3CrashUploads struct {
	Client *s3.PresignClient
}

// PresignPut returns a URL that accepts one PUT of size bytes to ref for
// ttl.
func (u S3CrashUploads) PresignPut(ctx context.Context, ref blob.Ref, size int64, ttl time.Duration) (string, error) {
	req, err := u.Client.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(ref.Bucket),
		Key:           aws.String(ref.Key),
		ContentLength: aws.Int64(size),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}
