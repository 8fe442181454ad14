package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// tokens keeps each system token read, by ARN, for the life of the
// process: a Lambda container reads its token once, at init, and warm
// invocations make no call. A rotated token reaches new containers, so a
// rotation must keep the previous token valid for a while (Secrets
// Manager's rotation keeps AWSPREVIOUS).
var tokens struct {
	mu sync.Mutex
	m  map[string]string
}

// SystemToken returns the system token kept at tokenARN: the SecretString
// of a Secrets Manager secret (arn:…:secretsmanager:…:secret:…) or the
// decrypted value of an SSM parameter (arn:…:ssm:…:parameter/…), read
// with cfg's credentials in the ARN's own region. Surrounding whitespace
// is dropped. The first value read for an ARN is kept for the life of the
// process (see tokens); a failed read is not kept, so the next call tries
// again.
//
// It fails on an ARN of another service, a secret with no SecretString or
// holding a JSON document (a console key/value secret: the token must be
// the whole plaintext value), and an empty value, which would otherwise
// reach Symbolicator as an empty token. Errors name the ARN, never the
// value.
func SystemToken(ctx context.Context, cfg aws.Config, tokenARN string) (string, error) {
	tokens.mu.Lock()
	defer tokens.mu.Unlock()
	if v, ok := tokens.m[tokenARN]; ok {
		return v, nil
	}
	v, err := readSystemToken(ctx, cfg, tokenARN)
	if err != nil {
		return "", fmt.Errorf("read the system token from %s: %w", tokenARN, err)
	}
	if tokens.m == nil {
		tokens.m = map[string]string{}
	}
	tokens.m[tokenARN] = v
	return v, nil
}

// errNotTokenARN says which ARNs SystemToken reads.
var errNotTokenARN = errors.New("want the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX) or an SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)")

func readSystemToken(ctx context.Context, cfg aws.Config, tokenARN string) (string, error) {
	a, err := arn.Parse(tokenARN)
	if err != nil || a.Region == "" {
		return "", errNotTokenARN
	}
	var value string
	switch {
	case a.Service == "secretsmanager" && strings.HasPrefix(a.Resource, "secret:"):
		client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region = a.Region })
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tokenARN)})
		if err != nil {
			return "", err
		}
		if out.SecretString == nil {
			return "", errors.New("the secret has no SecretString (a binary secret); store the token as its plaintext value")
		}
		value = strings.TrimSpace(*out.SecretString)
		if strings.HasPrefix(value, "{") {
			return "", errors.New("the secret holds a JSON document (key/value pairs); store the token alone as its plaintext value")
		}
	case a.Service == "ssm" && strings.HasPrefix(a.Resource, "parameter/"):
		client := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.Region = a.Region })
		// GetParameter takes the ARN as the name, for shared parameters too.
		out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(tokenARN), WithDecryption: aws.Bool(true)})
		if err != nil {
			return "", err
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return "", errors.New("the parameter has no value")
		}
		value = strings.TrimSpace(*out.Parameter.Value)
	default:
		return "", errNotTokenARN
	}
	if value == "" {
		return "", errors.New("the value is empty")
	}
	return value, nil
}
