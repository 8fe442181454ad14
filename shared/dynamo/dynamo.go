// Package dynamo persists symflow's projects, their sentry-app installations,
// in-flight Symbolicator tasks and execution claims in DynamoDB.
//
// # Key design
//
// Two tables, each keyed by a string partition key "pk" and a string sort key
// "sk":
//
//	projects table (Config.ProjectsTable)
//	  pk PROJECT#<project id>  sk CONFIG              the configuration, secrets included
//	  pk PROJECT#<project id>  sk INSTALL#<uuid>      one sentry-app installation with its components
//
//	tasks table (Config.TasksTable)
//	  pk TASK#<project id>#<event id>  sk TASK        one in-flight Symbolicator task
//	  pk EXEC#<project id>#<event id>  sk EXECUTION   the execution claimed for an event
//
// Projects and tasks are split because they differ in everything but their
// key shape: projects are read-mostly and carry secrets, tasks are hot,
// short-lived and expire. Two tables let the template grant the polling
// functions the tasks table only, so a function that never needs a secret
// cannot read one, and let TTL and capacity be set per table. Inside each
// table the single pk/sk shape keeps a project's configuration and
// installations in one partition, read by a single Query.
//
// The configuration and each installation are stored as the JSON encoding of
// the project package's types (attributes "config" and "installation"), so a
// field added there is persisted without a change here. The time of the last
// debug-file upload is its own number attribute, "last_debug_file_upload"
// (Unix milliseconds), so that RecordDebugFileUpload is a single conditional
// update that never moves it backwards and never races a PutProject.
//
// # Time to live
//
// Task items carry the attribute TTLAttribute ("expires_at", Unix seconds,
// type N). The template must enable DynamoDB TTL on the tasks table with
// that attribute name; CreateTables does so too. Execution claims carry no
// expiry: an event keeps its execution.
//
// # Concurrency
//
// UpdateTask is optimistic: it reads the task, applies the caller's change and
// writes it back only if the stored Version is still the one read, retrying
// on conflict a bounded number of times. ClaimExecution and CreateTask are
// conditional puts, so of concurrent callers exactly one wins.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names shared by both tables.
const (
	// TTLAttribute is the tasks table's time-to-live attribute: Unix seconds.
	TTLAttribute = "expires_at"

	attrPK = "pk"
	attrSK = "sk"
)

// Sentinel errors; every error returned wraps at most one of them, and
// errors.Is tells them apart.
var (
	// ErrNotFound: the project, installation or task does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: CreateTask found a task already stored under its key.
	ErrExists = errors.New("already exists")
	// ErrConflict: UpdateTask lost the race for a task every time it tried.
	ErrConflict = errors.New("concurrent update conflict")
)

// Defaults applied by New for zero Config fields.
const (
	DefaultTaskTTL          = 24 * time.Hour
	DefaultUpdateRetries    = 32
	defaultConflictBackoff  = 2 * time.Millisecond
	maxConflictBackoffDelay = 50 * time.Millisecond
)

// Config names the tables and tunes the store.
type Config struct {
	// ProjectsTable holds projects and their installations.
	ProjectsTable string
	// TasksTable holds tasks and execution claims; TTL is on TTLAttribute.
	TasksTable string
	// TaskTTL is how long a task created without ExpiresAt lives;
	// DefaultTaskTTL when zero.
	TaskTTL time.Duration
	// UpdateRetries bounds how often UpdateTask tries after a conflict;
	// DefaultUpdateRetries when zero.
	UpdateRetries int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Store reads and writes symflow's items. It is safe for concurrent use.
type Store struct {
	db  *dynamodb.Client
	cfg Config
}

// New returns a store over db, which the caller builds once per process.
// It fails when a table name is missing.
func New(db *dynamodb.Client, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("dynamo: nil DynamoDB client")
	}
	if cfg.ProjectsTable == "" {
		return nil, errors.New("dynamo: Config.ProjectsTable is empty")
	}
	if cfg.TasksTable == "" {
		return nil, errors.New("dynamo: Config.TasksTable is empty")
	}
	if cfg.TaskTTL <= 0 {
		cfg.TaskTTL = DefaultTaskTTL
	}
	if cfg.UpdateRetries <= 0 {
		cfg.UpdateRetries = DefaultUpdateRetries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{db: db, cfg: cfg}, nil
}

// CreateTables creates both tables (on-demand billing) if they do not exist,
// waits until they are active and enables TTL on the tasks table. It is for
// tests and local mode; in AWS the template creates the tables.
func (s *Store) CreateTables(ctx context.Context) error {
	for _, name := range []string{s.cfg.ProjectsTable, s.cfg.TasksTable} {
		if err := s.createTable(ctx, name); err != nil {
			return err
		}
	}
	_, err := s.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(s.cfg.TasksTable),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && !ttlAlreadyEnabled(err) {
		return fmt.Errorf("enable TTL on table %s: %w", s.cfg.TasksTable, err)
	}
	return nil
}

func (s *Store) createTable(ctx context.Context, name string) error {
	_, err := s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(s.db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	return nil
}

// ttlAlreadyEnabled reports whether UpdateTimeToLive failed only because TTL
// is already on, which DynamoDB answers with a ValidationException.
func ttlAlreadyEnabled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "TimeToLive is already enabled")
}

// isConditionFailed reports whether err is DynamoDB's answer to a false
// ConditionExpression.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// checkID rejects ids that are empty or contain the key separator '#', which
// would make two different keys collide.
func checkID(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", field)
	}
	if strings.Contains(v, "#") {
		return fmt.Errorf("%s %q contains '#'", field, v)
	}
	return nil
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// Attribute readers: a missing or mistyped attribute reads as the zero value,
// so that an item written by an older version still loads.

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %q is not an integer", name, v.Value)
	}
	return n, nil
}

func numAttr(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func strAttr(s string) *types.AttributeValueMemberS {
	return &types.AttributeValueMemberS{Value: s}
}
