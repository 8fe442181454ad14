// Command api is symflow's HTTP API behind API Gateway (HTTP API, payload
// format 2.0); see shared/api.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
)

func main() {
	srv := lambdaenv.Must(lambdaenv.API(context.Background()))
	lambda.Start(srv.HandleHTTPAPI)
}
