//go:build !linux

package netns

import (
	"context"
	"fmt"
	"runtime"
)

// RelayMain returns at once: there is no relay outside Linux.
func RelayMain() {}

// Start fails with ErrUnsupported: network namespaces are Linux's.
func Start(ctx context.Context, cmd Command) (*Server, error) {
	if err := cmd.validate(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("netns: %w on %s (Linux only)", ErrUnsupported, runtime.GOOS)
}
