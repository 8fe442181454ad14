package stack

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// StateDirInUseError: another process holds the state folder. Two
// processes on one folder would overwrite each other's tables and run the
// same executions twice.
type StateDirInUseError struct {
	Dir string
	PID int // 0 when unknown
}

func (e *StateDirInUseError) Error() string {
	who := "another symflow process"
	if e.PID > 0 {
		who = fmt.Sprintf("another symflow process (pid %d)", e.PID)
	}
	return fmt.Sprintf("state folder %s is in use by %s: stop it, talk to it through its API, or pass another --state-dir", e.Dir, who)
}

// lockStateDir takes dir for this process until release is called (or the
// process ends: the kernel drops the lock of a killed process).
func lockStateDir(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock state folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return nil, &StateDirInUseError{Dir: dir, PID: pid}
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) //nolint:errcheck // the pid only improves the message above
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
		f.Close()
	}, nil
}
