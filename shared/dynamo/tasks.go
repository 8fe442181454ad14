package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Task item attributes.
const (
	skTask          = "TASK"
	skExecution     = "EXECUTION"
	attrProjectID   = "project_id"
	attrEventID     = "event_id"
	attrExecutionID = "execution_id"
	attrRequestID   = "request_id"
	attrWorkerID    = "worker_id"
	attrStatus      = "status"
	attrAttempts    = "attempts"
	attrResubmits   = "resubmits"
	attrPolls       = "polls"
	attrCreatedAt   = "created_at"
	attrVersion     = "version"
	attrExecName    = "execution_name"
)

// Task is one event's in-flight Symbolicator task: which request on which
// worker, and the counters the workflow's budget reads.
type Task struct {
	ProjectID   string
	EventID     string
	ExecutionID string
	// RequestID is Symbolicator's request id; empty while none is submitted.
	RequestID string
	// WorkerID is the x-sentry-worker-id the task was submitted with.
	WorkerID string
	Status   string
	// Attempts counts submissions, Resubmits the submissions after a lost
	// task or an unavailable service, Polls the status queries.
	Attempts  int
	Resubmits int
	Polls     int
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is when DynamoDB may delete the item (TTLAttribute); zero
	// means never.
	ExpiresAt time.Time
	// Version is the store's: 1 after CreateTask, one more after each
	// UpdateTask. Callers do not set it.
	Version int64
}

func taskPK(projectID, eventID string) string { return "TASK#" + projectID + "#" + eventID }
func execPK(projectID, eventID string) string { return "EXEC#" + projectID + "#" + eventID }

func checkTaskKey(projectID, eventID string) error {
	if err := checkID("project id", projectID); err != nil {
		return err
	}
	return checkID("event id", eventID)
}

// GetTask returns the event's task; ErrNotFound if there is none.
func (s *Store) GetTask(ctx context.Context, projectID, eventID string) (Task, error) {
	if err := checkTaskKey(projectID, eventID); err != nil {
		return Task{}, fmt.Errorf("get task: %w", err)
	}
	t, err := s.getTask(ctx, projectID, eventID)
	if err != nil {
		return Task{}, fmt.Errorf("get task %s/%s: %w", projectID, eventID, err)
	}
	return t, nil
}

func (s *Store) getTask(ctx context.Context, projectID, eventID string) (Task, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.TasksTable),
		Key:            key(taskPK(projectID, eventID), skTask),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Task{}, err
	}
	if len(out.Item) == 0 {
		return Task{}, ErrNotFound
	}
	return decodeTask(out.Item)
}

// CreateTask stores t as a new task and returns it as stored: Version 1,
// CreatedAt and UpdatedAt set to now when zero, ExpiresAt to now + TaskTTL
// when zero. A task already stored for the event is ErrExists.
func (s *Store) CreateTask(ctx context.Context, t Task) (Task, error) {
	if err := checkTaskKey(t.ProjectID, t.EventID); err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	now := s.cfg.Now().UTC()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	if t.ExpiresAt.IsZero() {
		t.ExpiresAt = now.Add(s.cfg.TaskTTL)
	}
	t.Version = 1
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.cfg.TasksTable),
		Item:                     encodeTask(t),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if isConditionFailed(err) {
		return Task{}, fmt.Errorf("create task %s/%s: %w", t.ProjectID, t.EventID, ErrExists)
	}
	if err != nil {
		return Task{}, fmt.Errorf("create task %s/%s: %w", t.ProjectID, t.EventID, err)
	}
	return decodeTask(encodeTask(t)) // normalised as a later GetTask reads it
}

// UpdateTask reads the event's task, lets fn change it and writes it back if
// no one else wrote it meanwhile; on a conflict it reads again and calls fn
// again, up to Config.UpdateRetries times, then fails with ErrConflict. fn
// may run several times and must only change the task it is given; an error
// from fn aborts the update and is returned wrapped. fn must not change the
// key (ProjectID, EventID). UpdatedAt is set to now and Version incremented.
// The item is written whole, so only Task's attributes survive an update.
// A missing task is ErrNotFound.
func (s *Store) UpdateTask(ctx context.Context, projectID, eventID string, fn func(*Task) error) (Task, error) {
	if err := checkTaskKey(projectID, eventID); err != nil {
		return Task{}, fmt.Errorf("update task: %w", err)
	}
	if fn == nil {
		return Task{}, fmt.Errorf("update task %s/%s: nil update function", projectID, eventID)
	}
	for attempt := 0; attempt < s.cfg.UpdateRetries; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, conflictBackoff(attempt)); err != nil {
				return Task{}, fmt.Errorf("update task %s/%s: %w", projectID, eventID, err)
			}
		}
		cur, err := s.getTask(ctx, projectID, eventID)
		if err != nil {
			return Task{}, fmt.Errorf("update task %s/%s: %w", projectID, eventID, err)
		}
		next := cur
		if err := fn(&next); err != nil {
			return Task{}, fmt.Errorf("update task %s/%s: %w", projectID, eventID, err)
		}
		if next.ProjectID != projectID || next.EventID != eventID {
			return Task{}, fmt.Errorf("update task %s/%s: the update changed the task's key", projectID, eventID)
		}
		next.Version = cur.Version + 1
		next.UpdatedAt = s.cfg.Now().UTC()
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.cfg.TasksTable),
			Item:                     encodeTask(next),
			ConditionExpression:      aws.String("#v = :v"),
			ExpressionAttributeNames: map[string]string{"#v": attrVersion},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v": numAttr(cur.Version),
			},
		})
		if err == nil {
			return decodeTask(encodeTask(next))
		}
		if !isConditionFailed(err) {
			return Task{}, fmt.Errorf("update task %s/%s: %w", projectID, eventID, err)
		}
		// Someone else wrote (or deleted) the task since we read it.
	}
	return Task{}, fmt.Errorf("update task %s/%s: %d tries: %w", projectID, eventID, s.cfg.UpdateRetries, ErrConflict)
}

// conflictBackoff spreads retrying writers apart: a random delay up to a
// bound that grows with the attempt.
func conflictBackoff(attempt int) time.Duration {
	limit := defaultConflictBackoff * time.Duration(attempt)
	if limit > maxConflictBackoffDelay {
		limit = maxConflictBackoffDelay
	}
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// DeleteTask forgets the event's task. Deleting a task that does not exist
// is not an error, so a retried step that already deleted it succeeds.
func (s *Store) DeleteTask(ctx context.Context, projectID, eventID string) error {
	if err := checkTaskKey(projectID, eventID); err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.cfg.TasksTable),
		Key:       key(taskPK(projectID, eventID), skTask),
	})
	if err != nil {
		return fmt.Errorf("delete task %s/%s: %w", projectID, eventID, err)
	}
	return nil
}

// ClaimExecution makes executionName the one execution of the event, unless
// an execution was claimed before. It returns the name holding the claim and
// whether this call made the claim: the first caller gets (executionName,
// true), every later one (the first's name, false) — also a retry by the
// first caller with the same name, which can tell by comparing the names.
func (s *Store) ClaimExecution(ctx context.Context, projectID, eventID, executionName string) (existing string, claimed bool, err error) {
	if err := checkTaskKey(projectID, eventID); err != nil {
		return "", false, fmt.Errorf("claim execution: %w", err)
	}
	if executionName == "" {
		return "", false, fmt.Errorf("claim execution for %s/%s: execution name is empty", projectID, eventID)
	}
	item := key(execPK(projectID, eventID), skExecution)
	item[attrProjectID] = strAttr(projectID)
	item[attrEventID] = strAttr(eventID)
	item[attrExecName] = strAttr(executionName)
	item[attrCreatedAt] = strAttr(s.cfg.Now().UTC().Format(time.RFC3339Nano))
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.cfg.TasksTable),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return executionName, true, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return "", false, fmt.Errorf("claim execution for %s/%s: %w", projectID, eventID, err)
	}
	// The failed put returns the claim it lost to, read in the same atomic
	// step, so no second read is needed.
	name := getS(ccf.Item, attrExecName)
	if name == "" {
		// Claims are never deleted, so this is a damaged item.
		return "", false, fmt.Errorf("claim execution for %s/%s: stored claim has no %s", projectID, eventID, attrExecName)
	}
	return name, false, nil
}

func encodeTask(t Task) map[string]types.AttributeValue {
	item := key(taskPK(t.ProjectID, t.EventID), skTask)
	item[attrProjectID] = strAttr(t.ProjectID)
	item[attrEventID] = strAttr(t.EventID)
	for name, v := range map[string]string{
		attrExecutionID: t.ExecutionID,
		attrRequestID:   t.RequestID,
		attrWorkerID:    t.WorkerID,
		attrStatus:      t.Status,
	} {
		if v != "" {
			item[name] = strAttr(v)
		}
	}
	item[attrAttempts] = numAttr(int64(t.Attempts))
	item[attrResubmits] = numAttr(int64(t.Resubmits))
	item[attrPolls] = numAttr(int64(t.Polls))
	item[attrCreatedAt] = strAttr(t.CreatedAt.UTC().Format(time.RFC3339Nano))
	item[attrUpdatedAt] = strAttr(t.UpdatedAt.UTC().Format(time.RFC3339Nano))
	if !t.ExpiresAt.IsZero() {
		item[TTLAttribute] = numAttr(t.ExpiresAt.Unix())
	}
	item[attrVersion] = numAttr(t.Version)
	return item
}

func decodeTask(item map[string]types.AttributeValue) (Task, error) {
	t := Task{
		ProjectID:   getS(item, attrProjectID),
		EventID:     getS(item, attrEventID),
		ExecutionID: getS(item, attrExecutionID),
		RequestID:   getS(item, attrRequestID),
		WorkerID:    getS(item, attrWorkerID),
		Status:      getS(item, attrStatus),
	}
	var errs []error
	num := func(name string) int64 {
		n, err := getN(item, name)
		errs = append(errs, err)
		return n
	}
	tm := func(name string) time.Time {
		s := getS(item, name)
		if s == "" {
			return time.Time{}
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s: %q is not an RFC 3339 time", name, s))
		}
		return v
	}
	t.Attempts = int(num(attrAttempts))
	t.Resubmits = int(num(attrResubmits))
	t.Polls = int(num(attrPolls))
	t.Version = num(attrVersion)
	t.CreatedAt = tm(attrCreatedAt)
	t.UpdatedAt = tm(attrUpdatedAt)
	if exp := num(TTLAttribute); exp != 0 {
		t.ExpiresAt = time.Unix(exp, 0).UTC()
	}
	if err := errors.Join(errs...); err != nil {
		return Task{}, fmt.Errorf("decode task: %w", err)
	}
	return t, nil
}
