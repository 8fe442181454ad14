package dynamodb

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// NewClient returns an aws-sdk-go-v2 DynamoDB client for the embedded
// server at url (as returned by Start): region us-east-1, static dummy
// credentials, and no lookup of the environment, shared config files or
// instance metadata, so local mode never reaches AWS.
func NewClient(url string) *awsdynamodb.Client {
	return awsdynamodb.New(awsdynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("symflowlocal", "symflowlocal", ""),
	})
}
