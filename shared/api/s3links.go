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
