package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/symflow/symflow/shared/project"
)

// Project item attributes.
const (
	skConfig            = "CONFIG"
	skInstallPrefix     = "INSTALL#"
	attrConfig          = "config"
	attrInstallation    = "installation"
	attrSlug            = "slug"
	attrUpdatedAt       = "updated_at"
	attrLastDebugUpload = "last_debug_file_upload"
)

func projectPK(id string) string { return "PROJECT#" + id }

// GetProject returns the project with its installations (ordered by UUID),
// secrets included. A project never stored is ErrNotFound.
func (s *Store) GetProject(ctx context.Context, id string) (project.Project, error) {
	if err := checkID("project id", id); err != nil {
		return project.Project{}, fmt.Errorf("get project: %w", err)
	}
	p, err := s.loadProject(ctx, id)
	if err != nil {
		return project.Project{}, fmt.Errorf("get project %s: %w", id, err)
	}
	return p, nil
}

// loadProject reads the project's whole partition with one consistent Query.
func (s *Store) loadProject(ctx context.Context, id string) (project.Project, error) {
	var (
		p         project.Project
		found     bool
		installs  = []project.Installation{}
		startKey  map[string]types.AttributeValue
		partition = projectPK(id)
	)
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.cfg.ProjectsTable),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(partition)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         startKey,
		})
		if err != nil {
			return project.Project{}, err
		}
		for _, item := range out.Items {
			sk := getS(item, attrSK)
			switch {
			case sk == skConfig:
				if err := json.Unmarshal([]byte(getS(item, attrConfig)), &p); err != nil {
					return project.Project{}, fmt.Errorf("decode attribute %s: %w", attrConfig, err)
				}
				ms, err := getN(item, attrLastDebugUpload)
				if err != nil {
					return project.Project{}, err
				}
				if ms != 0 {
					p.LastDebugFileUpload = time.UnixMilli(ms).UTC()
				}
				found = true
			case strings.HasPrefix(sk, skInstallPrefix):
				var inst project.Installation
				if err := json.Unmarshal([]byte(getS(item, attrInstallation)), &inst); err != nil {
					return project.Project{}, fmt.Errorf("decode installation %s: %w", strings.TrimPrefix(sk, skInstallPrefix), err)
				}
				installs = append(installs, inst)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		startKey = out.LastEvaluatedKey
	}
	if !found {
		return project.Project{}, ErrNotFound
	}
	p.ID = id
	p.Installations = installs
	return p, nil
}

// PutProject stores p's configuration, replacing the stored one, and upserts
// each installation p carries; installations stored earlier and absent from p
// are kept. The last debug-file upload time only moves forward: an older
// p.LastDebugFileUpload than the stored one is ignored.
func (s *Store) PutProject(ctx context.Context, p project.Project) error {
	if err := checkID("project id", p.ID); err != nil {
		return fmt.Errorf("put project: %w", err)
	}
	for i, inst := range p.Installations {
		if inst.UUID == "" {
			return fmt.Errorf("put project %s: installations[%d].uuid is empty", p.ID, i)
		}
	}
	cfg := p
	cfg.Installations = nil
	cfg.LastDebugFileUpload = time.Time{}
	doc, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("put project %s: encode configuration: %w", p.ID, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.cfg.ProjectsTable),
		Key:              key(projectPK(p.ID), skConfig),
		UpdateExpression: aws.String("SET #config = :config, #slug = :slug, #updated = :updated"),
		ExpressionAttributeNames: map[string]string{
			"#config": attrConfig, "#slug": attrSlug, "#updated": attrUpdatedAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":config":  strAttr(string(doc)),
			":slug":    strAttr(p.Slug),
			":updated": strAttr(s.cfg.Now().UTC().Format(time.RFC3339Nano)),
		},
	})
	if err != nil {
		return fmt.Errorf("put project %s: %w", p.ID, err)
	}
	if !p.LastDebugFileUpload.IsZero() {
		if err := s.RecordDebugFileUpload(ctx, p.ID, p.LastDebugFileUpload); err != nil {
			return fmt.Errorf("put project %s: %w", p.ID, err)
		}
	}
	for _, inst := range p.Installations {
		if err := s.putInstallation(ctx, p.ID, inst); err != nil {
			return fmt.Errorf("put project %s: %w", p.ID, err)
		}
	}
	return nil
}

// RecordDebugFileUpload records that the project uploaded a debug file at at.
// The stored time only moves forward, so uploads recorded out of order leave
// the newest. A project never stored is ErrNotFound.
func (s *Store) RecordDebugFileUpload(ctx context.Context, projectID string, at time.Time) error {
	if err := checkID("project id", projectID); err != nil {
		return fmt.Errorf("record debug file upload: %w", err)
	}
	if at.IsZero() {
		return fmt.Errorf("record debug file upload for project %s: time is zero", projectID)
	}
	k := key(projectPK(projectID), skConfig)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.cfg.ProjectsTable),
		Key:                      k,
		UpdateExpression:         aws.String("SET #at = :at"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND (attribute_not_exists(#at) OR #at < :at)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#at": attrLastDebugUpload},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": numAttr(at.UnixMilli()),
		},
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("record debug file upload for project %s: %w", projectID, err)
	}
	// The condition failed: either no project, or a newer time is stored.
	exists, err := s.projectExists(ctx, projectID)
	if err != nil {
		return fmt.Errorf("record debug file upload for project %s: %w", projectID, err)
	}
	if !exists {
		return fmt.Errorf("record debug file upload for project %s: %w", projectID, ErrNotFound)
	}
	return nil
}

func (s *Store) projectExists(ctx context.Context, id string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.ProjectsTable),
		Key:            key(projectPK(id), skConfig),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, err
	}
	return len(out.Item) > 0, nil
}

// PutInstallation stores one installation of the project, components and
// client secret included, replacing any stored under the same UUID. A
// project never stored is ErrNotFound.
func (s *Store) PutInstallation(ctx context.Context, projectID string, inst project.Installation) error {
	if err := checkID("project id", projectID); err != nil {
		return fmt.Errorf("put installation: %w", err)
	}
	if inst.UUID == "" {
		return fmt.Errorf("put installation for project %s: uuid is empty", projectID)
	}
	exists, err := s.projectExists(ctx, projectID)
	if err != nil {
		return fmt.Errorf("put installation %s for project %s: %w", inst.UUID, projectID, err)
	}
	if !exists {
		return fmt.Errorf("put installation %s for project %s: project: %w", inst.UUID, projectID, ErrNotFound)
	}
	if err := s.putInstallation(ctx, projectID, inst); err != nil {
		return fmt.Errorf("project %s: %w", projectID, err)
	}
	return nil
}

func (s *Store) putInstallation(ctx context.Context, projectID string, inst project.Installation) error {
	doc, err := json.Marshal(inst)
	if err != nil {
		return fmt.Errorf("put installation %s: encode: %w", inst.UUID, err)
	}
	item := key(projectPK(projectID), skInstallPrefix+inst.UUID)
	item[attrInstallation] = strAttr(string(doc))
	item[attrUpdatedAt] = strAttr(s.cfg.Now().UTC().Format(time.RFC3339Nano))
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.cfg.ProjectsTable),
		Item:      item,
	})
	if err != nil {
		return fmt.Errorf("put installation %s: %w", inst.UUID, err)
	}
	return nil
}

// ListInstallations returns the project's installations ordered by UUID; an
// empty, non-nil slice when it has none. A project never stored is
// ErrNotFound.
func (s *Store) ListInstallations(ctx context.Context, projectID string) ([]project.Installation, error) {
	if err := checkID("project id", projectID); err != nil {
		return nil, fmt.Errorf("list installations: %w", err)
	}
	p, err := s.loadProject(ctx, projectID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("project: %w", err)
		}
		return nil, fmt.Errorf("list installations of project %s: %w", projectID, err)
	}
	return p.Installations, nil
}
