// Command submit-task is the SubmitTask state's Lambda; see shared/task.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
)

func main() {
	steps := lambdaenv.Must(lambdaenv.Steps(context.Background()))
	lambda.Start(steps.SubmitTask)
}
