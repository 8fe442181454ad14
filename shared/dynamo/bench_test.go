package dynamo_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/symflow/symflow/shared/dynamo"
)

// BenchmarkStore measures the store's hot paths on each backend: reading a
// project with its installations, and an optimistic task update.
func BenchmarkStore(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := newStore(b, be.client(b), dynamo.Config{})
			p := fullProject()
			if err := s.PutProject(ctx, p); err != nil {
				b.Fatal(err)
			}
			b.Run("GetProject", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.GetProject(ctx, p.ID); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("UpdateTask", func(b *testing.B) {
				id := fmt.Sprintf("bench%d", tableSeq.Add(1))
				if _, err := s.CreateTask(ctx, dynamo.Task{ProjectID: p.ID, EventID: id}); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					_, err := s.UpdateTask(ctx, p.ID, id, func(t *dynamo.Task) error { t.Polls++; return nil })
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
