//go:build linux

package dynamolocal

import "syscall"

// setParentDeathSignal kills the JVM if the test binary dies without
// stopping it (a panic, a timeout), so no DynamoDB Local outlives its tests.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
