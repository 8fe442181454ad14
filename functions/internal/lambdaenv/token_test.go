package lambdaenv_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
	"github.com/symflow/symflow/internal/mototest"
	"github.com/symflow/symflow/shared/task"
)

// awsConfig points the SDK at moto_server in region.
func awsConfig(endpoint, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// store keeps tokens in moto the way an operator would: a secret's
// plaintext value, an SSM SecureString.
type store struct {
	t        *testing.T
	endpoint string
	prefix   string // keeps names apart in the shared moto_server
	n        int
}

func (s *store) secret(region, value string) string {
	s.t.Helper()
	s.n++
	out, err := secretsmanager.NewFromConfig(awsConfig(s.endpoint, region)).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(fmt.Sprintf("symflow/%s-token-%d", s.prefix, s.n)),
		SecretString: aws.String(value),
	})
	if err != nil {
		s.t.Fatalf("create secret: %v", err)
	}
	return *out.ARN
}

func (s *store) parameter(region, value string, typ ssmtypes.ParameterType) string {
	s.t.Helper()
	s.n++
	name := fmt.Sprintf("/symflow/%s-token-%d", s.prefix, s.n)
	client := ssm.NewFromConfig(awsConfig(s.endpoint, region))
	if _, err := client.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ,
	}); err != nil {
		s.t.Fatalf("put parameter: %v", err)
	}
	out, err := client.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name)})
	if err != nil {
		s.t.Fatalf("get parameter %s: %v", name, err)
	}
	return *out.Parameter.ARN
}

// TestSystemToken runs the checks below against one moto_server.
func TestSystemToken(t *testing.T) {
	endpoint := mototest.Start(t)
	t.Run("values", func(t *testing.T) { testSystemTokenValues(t, endpoint) })
	t.Run("read once per process", func(t *testing.T) { testSystemTokenIsReadOncePerProcess(t, endpoint) })
	t.Run("errors", func(t *testing.T) { testSystemTokenErrors(t, endpoint) })
	t.Run("steps", func(t *testing.T) { testStepsReadsSystemToken(t, endpoint) })
}

// testSystemTokenValues reads tokens kept in each way.
func testSystemTokenValues(t *testing.T, endpoint string) {
	s := &store{t: t, endpoint: endpoint, prefix: "values"}
	// The functions' own region; tokens kept elsewhere are read in theirs.
	cfg := awsConfig(endpoint, "us-east-1")
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		arn  string
		want string
	}{
		{"secret", s.secret("us-east-1", "sntrys_secret_token_1"), "sntrys_secret_token_1"},
		{"secret with a trailing newline", s.secret("us-east-1", "sntrys_secret_token_2\n"), "sntrys_secret_token_2"},
		{"secret in another region", s.secret("eu-west-1", "sntrys_secret_token_3"), "sntrys_secret_token_3"},
		{"SecureString parameter", s.parameter("us-east-1", "sntrys_parameter_token_1", ssmtypes.ParameterTypeSecureString), "sntrys_parameter_token_1"},
		{"parameter in another region", s.parameter("ap-southeast-2", "sntrys_parameter_token_2", ssmtypes.ParameterTypeSecureString), "sntrys_parameter_token_2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lambdaenv.SystemToken(ctx, cfg, tc.arn)
			if err != nil {
				t.Fatalf("SystemToken(%s): %v", tc.arn, err)
			}
			if got != tc.want {
				t.Errorf("SystemToken(%s) = %q, want %q", tc.arn, got, tc.want)
			}
		})
	}
}

// testSystemTokenIsReadOncePerProcess changes the stored token after the
// first read: the process keeps the value it read, as a Lambda container
// does, and makes no second call.
func testSystemTokenIsReadOncePerProcess(t *testing.T, endpoint string) {
	s := &store{t: t, endpoint: endpoint, prefix: "once"}
	cfg := awsConfig(endpoint, "us-east-1")
	ctx := context.Background()

	secretARN := s.secret("us-east-1", "first-token")
	paramARN := s.parameter("us-east-1", "first-param-token", ssmtypes.ParameterTypeSecureString)
	for _, a := range []string{secretARN, paramARN} {
		if _, err := lambdaenv.SystemToken(ctx, cfg, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := secretsmanager.NewFromConfig(cfg).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretARN), SecretString: aws.String("rotated-token"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(paramARN), Value: aws.String("rotated-param-token"), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	// The store answers with the new values...
	cur, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil || *cur.SecretString != "rotated-token" {
		t.Fatalf("moto did not rotate the secret: %v", err)
	}
	// ...the process keeps the ones it read.
	for a, want := range map[string]string{secretARN: "first-token", paramARN: "first-param-token"} {
		got, err := lambdaenv.SystemToken(ctx, cfg, a)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("second SystemToken(%s) = %q, want the first value %q", a, got, want)
		}
	}
}

// testSystemTokenErrors checks that every refusal names the ARN and what
// is wrong, never the value, and that a failed read is not kept: once the
// secret exists, the next call reads it.
func testSystemTokenErrors(t *testing.T, endpoint string) {
	s := &store{t: t, endpoint: endpoint, prefix: "errors"}
	cfg := awsConfig(endpoint, "us-east-1")
	ctx := context.Background()

	const jsonValue = `{"token":"json-token-shown-nowhere"}`
	binary := func() string {
		s.n++
		out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(fmt.Sprintf("symflow/binary-%d", s.n)), SecretBinary: []byte("binary-token-shown-nowhere"),
		})
		if err != nil {
			t.Fatal(err)
		}
		return *out.ARN
	}()
	for _, tc := range []struct {
		name, arn string
		want      []string
	}{
		{"not an ARN", "symflow/system-token", []string{"symflow/system-token", "want the ARN of a Secrets Manager secret"}},
		{"another service", "arn:aws:s3:::symflow-tokens/system-token", []string{"arn:aws:s3:::symflow-tokens/system-token", "want the ARN"}},
		{"no region", "arn:aws:secretsmanager::123456789012:secret:t-abcdef", []string{"secret:t-abcdef", "want the ARN"}},
		{"missing secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:symflow/none-AbCdEf", []string{"secret:symflow/none-AbCdEf", "ResourceNotFound"}},
		{"missing parameter", "arn:aws:ssm:us-east-1:123456789012:parameter/symflow/none", []string{"parameter/symflow/none", "ParameterNotFound"}},
		{"JSON secret", s.secret("us-east-1", jsonValue), []string{"JSON document", "plaintext value"}},
		{"blank secret", s.secret("us-east-1", " \n"), []string{"value is empty"}},
		{"binary secret", binary, []string{"no SecretString"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lambdaenv.SystemToken(ctx, cfg, tc.arn)
			if err == nil {
				t.Fatalf("SystemToken(%s) = %q, want an error", tc.arn, got)
			}
			msg := err.Error()
			for _, w := range append(tc.want, tc.arn) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			for _, secret := range []string{"json-token-shown-nowhere", "binary-token-shown-nowhere"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows the stored value", msg)
				}
			}
		})
	}

	t.Run("a failed read is not kept", func(t *testing.T) {
		s.n++
		name := fmt.Sprintf("symflow/later-%d", s.n)
		// A guess at the ARN fails; the real one, once created, reads.
		client := secretsmanager.NewFromConfig(cfg)
		out, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("   ")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lambdaenv.SystemToken(ctx, cfg, *out.ARN); err == nil {
			t.Fatal("a blank secret was accepted")
		}
		if _, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: out.ARN, SecretString: aws.String("late-token")}); err != nil {
			t.Fatal(err)
		}
		got, err := lambdaenv.SystemToken(ctx, cfg, *out.ARN)
		if err != nil || got != "late-token" {
			t.Fatalf("after the secret got a value: SystemToken = %q, %v; want late-token", got, err)
		}
	})
}

// testStepsReadsSystemToken builds the step functions' handler as Lambda
// does, from the environment the template sets, and checks that the
// token reaches the source settings from where SYSTEM_TOKEN_ARN points.
func testStepsReadsSystemToken(t *testing.T, endpoint string) {
	s := &store{t: t, endpoint: endpoint, prefix: "steps"}
	tokenARN := s.secret("us-east-1", "steps-token")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":          endpoint,
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         "test",
		"AWS_SECRET_ACCESS_KEY":     "test",
		"AWS_EC2_METADATA_DISABLED": "true",
		lambdaenv.EnvProjectsTable:  "projects",
		lambdaenv.EnvTasksTable:     "tasks",
		task.EnvResultsBucket:       "results",
		task.EnvSymbolicatorURL:     "http://127.0.0.1:9/",
		task.EnvSystemToken:         "",
		lambdaenv.EnvSystemTokenARN: tokenARN,
	} {
		t.Setenv(k, v)
	}
	steps, err := lambdaenv.Steps(context.Background())
	if err != nil {
		t.Fatalf("Steps: %v", err)
	}
	if steps.Settings.SystemToken != "steps-token" {
		t.Errorf("Settings.SystemToken = %q, want the secret's value", steps.Settings.SystemToken)
	}

	t.Run("token in two places", func(t *testing.T) {
		t.Setenv(task.EnvSystemToken, "plain-token-shown-nowhere")
		_, err := lambdaenv.Steps(context.Background())
		if err == nil || !strings.Contains(err.Error(), lambdaenv.EnvSystemTokenARN) || !strings.Contains(err.Error(), task.EnvSystemToken) {
			t.Fatalf("Steps with both set: %v, want an error naming both variables", err)
		}
		if strings.Contains(err.Error(), "plain-token-shown-nowhere") {
			t.Errorf("error %q shows the token", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		t.Setenv(lambdaenv.EnvSystemTokenARN, "arn:aws:ssm:us-east-1:123456789012:parameter/symflow/missing")
		if _, err := lambdaenv.Steps(context.Background()); err == nil || !strings.Contains(err.Error(), "parameter/symflow/missing") {
			t.Fatalf("Steps with a missing parameter: %v, want an error naming it", err)
		}
	})
}
