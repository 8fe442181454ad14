//go:build unix && !linux

package dynamolocal

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
