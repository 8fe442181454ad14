// Command crash-upload starts a symbolication for each crash file uploaded
// to the crash bucket (EventBridge "Object Created" events); see
// shared/crashupload.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
)

func main() {
	h := lambdaenv.Must(lambdaenv.CrashUpload(context.Background()))
	lambda.Start(h.HandleEvent)
}
