package crashupload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
)

// Objects reads the objects of an S3 event: an EventBridge "Object
// Created" event (what the template configures) or an S3 notification
// ({"Records": [...]}, whose keys are URL-encoded). Other events are an
// error naming what was received.
func Objects(raw json.RawMessage) ([]Object, error) {
	var probe struct {
		Records    json.RawMessage `json:"Records"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("event is not a JSON object: %w", err)
	}
	switch {
	case len(probe.Records) > 0:
		var ev events.S3Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("S3 notification: %w", err)
		}
		out := make([]Object, 0, len(ev.Records))
		for i, r := range ev.Records {
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return nil, fmt.Errorf("S3 notification: Records[%d].s3.object.key %q is not URL-encoded: %w", i, r.S3.Object.Key, err)
			}
			out = append(out, Object{Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size})
		}
		return out, nil
	case probe.Source == "aws.s3" && probe.DetailType == "Object Created":
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("EventBridge event: %w", err)
		}
		var d struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size *int64 `json:"size"`
			} `json:"object"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return nil, fmt.Errorf("EventBridge event detail: %w", err)
		}
		if d.Bucket.Name == "" || d.Object.Key == "" {
			return nil, fmt.Errorf("EventBridge event detail lacks bucket.name or object.key")
		}
		size := int64(-1)
		if d.Object.Size != nil {
			size = *d.Object.Size
		}
		return []Object{{Bucket: d.Bucket.Name, Key: d.Object.Key, Size: size}}, nil
	}
	return nil, fmt.Errorf("not an S3 object-created event (source %q, detail-type %q, %d bytes)", probe.Source, probe.DetailType, len(bytes.TrimSpace(raw)))
}

// HandleEvent is the Lambda entry point: it reads the event's objects and
// handles them. A malformed event is logged and dropped — retrying it
// cannot help — while a failure worth retrying is returned.
func (h *Handler) HandleEvent(ctx context.Context, raw json.RawMessage) error {
	objs, err := Objects(raw)
	if err != nil {
		h.log().ErrorContext(ctx, "unreadable event dropped", "error", err)
		return nil
	}
	_, err = h.Handle(ctx, objs)
	return err
}
