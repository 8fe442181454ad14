package netns

import "testing"

// RelayPID is the relay process id, for tests that kill it.
func RelayPID(s *Server) int { return s.relay.Process.Pid }

// SetRelayExecutable makes Start run path as the relay for the rest of t.
func SetRelayExecutable(t testing.TB, path string) {
	old := relayExecutable
	relayExecutable = func() (string, error) { return path, nil }
	t.Cleanup(func() { relayExecutable = old })
}

// SocketDir is the directory of the relay's socket.
func SocketDir(s *Server) string { return s.dir }
