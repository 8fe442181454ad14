package debugfile

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/shared/blob"
)

// S3Presigner presigns PutObject requests with the S3 client's
// credentials: the URL carries the caller's (the API function's) right to
// write the one key, nothing more.
type S3Presigner struct {
	Client *s3.PresignClient
}

// PresignPut returns a URL that accepts one PUT of ref for ttl.
func (p S3Presigner) PresignPut(ctx context.Context, ref blob.Ref, ttl time.Duration) (string, error) {
	req, err := p.Client.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(ref.Bucket),
		Key:    aws.String(ref.Key),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}
