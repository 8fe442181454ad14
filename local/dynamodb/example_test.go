package dynamodb_test

import (
	"context"
	"fmt"
	"log"

	localdynamodb "github.com/symflow/symflow/local/dynamodb"
	"github.com/symflow/symflow/shared/dynamo"
)

// Local mode runs the store's real code against the embedded server.
func Example() {
	url, stop, err := localdynamodb.New().Start("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	store, err := dynamo.New(localdynamodb.NewClient(url), dynamo.Config{ProjectsTable: "projects", TasksTable: "tasks"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := store.CreateTables(ctx); err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"exec-1", "exec-2"} {
		holder, claimed, err := store.ClaimExecution(ctx, "42", "0123456789abcdef0123456789abcdef", name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, "claimed:", claimed, "execution:", holder)
	}
	// Output:
	// exec-1 claimed: true execution: exec-1
	// exec-2 claimed: false execution: exec-1
}
