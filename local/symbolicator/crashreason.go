package symbolicator

import (
	"fmt"

	"github.com/symflow/symflow/local/symbolicator/minidump"
)

// crashReason names a minidump's exception the way rust-minidump does,
// which Symbolicator reports as "<reason> / <address>": on Linux and
// Android the signal and, when the signal defines it, the si_code
// ("SIGSEGV / SEGV_MAPERR"); on macOS and iOS the Mach exception and code
// ("EXC_BAD_ACCESS / KERN_INVALID_ADDRESS"); on Windows the exception
// ("EXCEPTION_ACCESS_VIOLATION_WRITE"). Codes not listed here are shown
// in hex.
func crashReason(d *minidump.Dump) string {
	ex := d.Exception
	switch d.SystemInfo.OS {
	case "Linux", "Android", "Solaris":
		if ex.Code == 0xFFFFFFFF {
			return "DUMP_REQUESTED"
		}
		name, ok := linuxSignals[ex.Code]
		if !ok {
			return fmt.Sprintf("0x%08x / 0x%08x", ex.Code, ex.Flags)
		}
		if codes := linuxSigCodes[ex.Code]; codes != nil {
			if c, ok := codes[ex.Flags]; ok {
				return name + " / " + c
			}
		}
		return name
	case "Mac OS X", "iOS":
		name, ok := machExceptions[ex.Code]
		if !ok {
			return fmt.Sprintf("0x%08x / 0x%08x", ex.Code, ex.Flags)
		}
		if ex.Code == 1 { // EXC_BAD_ACCESS
			if c, ok := kernReturns[ex.Flags]; ok {
				return name + " / " + c
			}
		}
		return fmt.Sprintf("%s / 0x%08x", name, ex.Flags)
	case "Windows NT":
		if ex.Code == 0xC0000005 && len(ex.Parameters) > 0 {
			switch ex.Parameters[0] {
			case 0:
				return "EXCEPTION_ACCESS_VIOLATION_READ"
			case 1:
				return "EXCEPTION_ACCESS_VIOLATION_WRITE"
			case 8:
				return "EXCEPTION_ACCESS_VIOLATION_EXEC"
			}
		}
		if name, ok := windowsExceptions[ex.Code]; ok {
			return name
		}
	}
	return fmt.Sprintf("0x%08x", ex.Code)
}

var linuxSignals = map[uint32]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
	20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// linuxSigCodes are the si_code values each fault signal defines.
var linuxSigCodes = map[uint32]map[uint32]string{
	4:  {1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC", 6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK"},
	5:  {1: "TRAP_BRKPT", 2: "TRAP_TRACE", 3: "TRAP_BRANCH", 4: "TRAP_HWBKPT"},
	7:  {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR", 4: "BUS_MCEERR_AR", 5: "BUS_MCEERR_AO"},
	8:  {1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF", 5: "FPE_FLTUND", 6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB"},
	11: {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"},
	31: {1: "SYS_SECCOMP"},
}

var machExceptions = map[uint32]string{
	1: "EXC_BAD_ACCESS", 2: "EXC_BAD_INSTRUCTION", 3: "EXC_ARITHMETIC", 4: "EXC_EMULATION",
	5: "EXC_SOFTWARE", 6: "EXC_BREAKPOINT", 7: "EXC_SYSCALL", 8: "EXC_MACH_SYSCALL",
	9: "EXC_RPC_ALERT", 10: "EXC_CRASH", 11: "EXC_RESOURCE", 12: "EXC_GUARD", 13: "EXC_CORPSE_NOTIFY",
}

var kernReturns = map[uint32]string{
	1: "KERN_INVALID_ADDRESS", 2: "KERN_PROTECTION_FAILURE", 8: "KERN_NO_ACCESS",
	9: "KERN_MEMORY_FAILURE", 10: "KERN_MEMORY_ERROR", 13: "KERN_CODESIGN_ERROR",
}

var windowsExceptions = map[uint32]string{
	0x80000003: "EXCEPTION_BREAKPOINT", 0x80000004: "EXCEPTION_SINGLE_STEP",
	0xC0000005: "EXCEPTION_ACCESS_VIOLATION", 0xC0000006: "EXCEPTION_IN_PAGE_ERROR",
	0xC000001D: "EXCEPTION_ILLEGAL_INSTRUCTION", 0xC0000094: "EXCEPTION_INT_DIVIDE_BY_ZERO",
	0xC0000095: "EXCEPTION_INT_OVERFLOW", 0xC00000FD: "EXCEPTION_STACK_OVERFLOW",
	0xC0000409: "EXCEPTION_STACK_BUFFER_OVERRUN", 0xC0000374: "STATUS_HEAP_CORRUPTION",
	0xC000000D: "STATUS_INVALID_PARAMETER", 0xC0000602: "STATUS_FAIL_FAST_EXCEPTION",
	0xE06D7363: "Unhandled C++ Exception", 0xC000008E: "EXCEPTION_FLT_DIVIDE_BY_ZERO",
}
