package minidump

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// mdBlock is one block of minidump_dump's output: a title line at column
// 0 and the "key = value" lines indented under it.
type mdBlock struct {
	title  string
	keys   []string
	fields map[string]string
}

func (b *mdBlock) get(key string) (string, bool) {
	v, ok := b.fields[key]
	return v, ok
}

// parseMinidumpDump splits minidump_dump's output into blocks. Lines that
// are neither titles nor fields (memory hex dumps, raw stream contents) are
// skipped; raw streams are checked against the whole text instead.
func parseMinidumpDump(out string) []*mdBlock {
	var blocks []*mdBlock
	var cur *mdBlock
	for _, line := range strings.Split(out, "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "0x"):
			continue
		case !strings.HasPrefix(line, " "):
			cur = &mdBlock{title: strings.TrimSpace(line), fields: map[string]string{}}
			blocks = append(blocks, cur)
		case cur != nil:
			sep := " = "
			if strings.Contains(line, "(type = ") {
				sep = ") = " // crashpad_annotations["name"] (type = 1) = value
			}
			i := strings.Index(line, sep)
			if i < 0 {
				continue
			}
			key := strings.TrimSpace(line[:i])
			if sep == ") = " {
				key += ")"
			}
			val := line[i+len(sep):]
			if len(val) > 0 && val[0] == ' ' {
				val = strings.TrimLeft(val, " ")
			}
			cur.keys = append(cur.keys, key)
			cur.fields[key] = val
		}
	}
	return blocks
}

// num parses a number as minidump_dump prints it: 0x-prefixed hex, or
// decimal (possibly negative).
func num(s string) (uint64, bool) {
	s = strings.Fields(s + " ")[0]
	if strings.HasPrefix(s, "0x") {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		return v, err == nil
	}
	if strings.HasPrefix(s, "-") {
		v, err := strconv.ParseInt(s, 10, 64)
		return uint64(v), err == nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

func unquote(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)
}

// checker compares one dump's Parse result with minidump_dump's output.
type checker struct {
	t        *testing.T
	d        *Dump
	out      string
	compared map[string]int // what was compared, by kind, so tests can require coverage
}

func (c *checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf(format, args...)
}

// wantNum compares a numeric field of block b with want.
func (c *checker) wantNum(b *mdBlock, key string, want uint64, what string) {
	c.t.Helper()
	v, ok := b.get(key)
	if !ok {
		c.errorf("%s: minidump_dump printed no %s", what, key)
		return
	}
	got, ok := num(v)
	if !ok {
		c.errorf("%s: minidump_dump's %s = %q is not a number", what, key, v)
		return
	}
	if got != want {
		c.errorf("%s: %s: minidump_dump says 0x%x, Parse 0x%x", what, key, got, want)
	}
	c.compared["field"]++
}

func (c *checker) wantString(b *mdBlock, key, want, what string) {
	c.t.Helper()
	v, ok := b.get(key)
	if !ok {
		c.errorf("%s: minidump_dump printed no %s", what, key)
		return
	}
	if got := unquote(v); got != want {
		c.errorf("%s: %s: minidump_dump says %q, Parse %q", what, key, got, want)
	}
	c.compared["field"]++
}

// compareWithMinidumpDump checks every field minidump_dump prints that
// Parse decodes as well.
func compareWithMinidumpDump(t *testing.T, data []byte, d *Dump) map[string]int {
	t.Helper()
	out := minidumpDump(t, data)
	c := &checker{t: t, d: d, out: out, compared: map[string]int{}}
	blocks := parseMinidumpDump(out)
	var (
		dirIndex, thread, module, region, threadName = -1, -1, -1, -1, -1
		ctxOwner                                     string
		ctx                                          *Context
		sawThreads, sawModules, sawNames             bool
	)
	memRegions := d.Memory.Regions()
	for _, b := range blocks {
		switch {
		case b.title == "MDRawHeader":
			c.wantNum(b, "stream_count", uint64(len(d.Streams)), "header")
			c.wantNum(b, "time_date_stamp", uint64(d.Timestamp.Unix()), "header")
			c.wantNum(b, "flags", d.Flags, "header")
		case strings.HasPrefix(b.title, "mDirectory["):
			dirIndex, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(b.title, "mDirectory["), "]"))
		case b.title == "MDRawDirectory":
			s := d.Streams[dirIndex]
			what := fmt.Sprintf("directory entry %d", dirIndex)
			c.wantNum(b, "stream_type", uint64(s.Type), what)
			// minidump_dump prints the size as a signed int.
			c.wantNum(b, "location.data_size", uint64(int64(int32(s.Size))), what)
			c.wantNum(b, "location.rva", uint64(s.Offset), what)
		case b.title == "MinidumpThreadList":
			sawThreads = true
			c.wantNum(b, "thread_count", uint64(len(d.Threads)), "thread list")
		case b.title == "MDRawThread":
			thread++
			if thread >= len(d.Threads) {
				c.errorf("minidump_dump printed thread %d, Parse found %d threads", thread, len(d.Threads))
				return c.compared
			}
			th := &d.Threads[thread]
			what := fmt.Sprintf("thread %d", thread)
			c.wantNum(b, "thread_id", uint64(th.ID), what)
			c.wantNum(b, "suspend_count", uint64(th.SuspendCount), what)
			c.wantNum(b, "priority_class", uint64(th.PriorityClass), what)
			c.wantNum(b, "priority", uint64(th.Priority), what)
			c.wantNum(b, "teb", th.TEB, what)
			c.wantNum(b, "stack.start_of_memory_range", th.Stack.Start, what)
			if rva, _ := num(b.fields["stack.memory.rva"]); rva != 0 {
				c.wantNum(b, "stack.memory.data_size", uint64(len(th.Stack.Data)), what)
			}
			ctxOwner, ctx = what, th.Context
			c.compared["thread"]++
		case strings.HasPrefix(b.title, "MDRawContext"):
			c.compareContext(b, ctxOwner, ctx)
		case b.title == "MinidumpModuleList":
			sawModules = true
			c.wantNum(b, "module_count", uint64(len(d.Modules)), "module list")
		case b.title == "MDRawModule":
			module++
			if module >= len(d.Modules) {
				c.errorf("minidump_dump printed module %d, Parse found %d modules", module, len(d.Modules))
				return c.compared
			}
			c.compareModule(b, module)
		case b.title == "MDMemoryDescriptor":
			region++
			start, _ := num(b.fields["start_of_memory_range"])
			size, _ := num(b.fields["memory.data_size"])
			if size == 0 {
				continue
			}
			found := false
			for _, r := range memRegions {
				if r.Start == start && uint64(len(r.Data)) == size {
					found = true
				}
			}
			if !found {
				c.errorf("memory region %d at 0x%x of 0x%x bytes: not in Parse's Memory", region, start, size)
			}
			c.compared["region"]++
		case b.title == "MDException":
			e := d.Exception
			if e == nil {
				c.errorf("minidump_dump printed an exception, Parse found none")
				continue
			}
			what := "exception"
			c.wantNum(b, "thread_id", uint64(e.ThreadID), what)
			c.wantNum(b, "exception_record.exception_code", uint64(e.Code), what)
			c.wantNum(b, "exception_record.exception_flags", uint64(e.Flags), what)
			c.wantNum(b, "exception_record.exception_record", e.Record, what)
			c.wantNum(b, "exception_record.exception_address", e.Address, what)
			c.wantNum(b, "exception_record.number_parameters", uint64(len(e.Parameters)), what)
			for i, p := range e.Parameters {
				c.wantNum(b, fmt.Sprintf("exception_record.exception_information[%2d]", i), p, what)
			}
			ctxOwner, ctx = what, e.Context
			c.compared["exception"]++
		case b.title == "MDAssertion":
			a := d.Assertion
			if a == nil {
				c.errorf("minidump_dump printed an assertion, Parse found none")
				continue
			}
			c.wantString(b, "expression", a.Expression, "assertion")
			c.wantString(b, "function", a.Function, "assertion")
			c.wantString(b, "file", a.File, "assertion")
			c.wantNum(b, "line", uint64(a.Line), "assertion")
			c.wantNum(b, "type", uint64(a.Type), "assertion")
			c.compared["assertion"]++
		case b.title == "MDRawSystemInfo":
			c.compareSystemInfo(b)
		case b.title == "MDRawMiscInfo":
			c.compareMiscInfo(b)
		case b.title == "MDRawBreakpadInfo":
			bi := d.BreakpadInfo
			if bi == nil {
				c.errorf("minidump_dump printed Breakpad info, Parse found none")
				continue
			}
			c.wantNum(b, "validity", uint64(bi.Validity), "Breakpad info")
			if bi.HasDumpThreadID {
				c.wantNum(b, "dump_thread_id", uint64(bi.DumpThreadID), "Breakpad info")
			} else {
				c.wantString(b, "dump_thread_id", "(invalid)", "Breakpad info")
			}
			if bi.HasRequestingThreadID {
				c.wantNum(b, "requesting_thread_id", uint64(bi.RequestingThreadID), "Breakpad info")
			} else {
				c.wantString(b, "requesting_thread_id", "(invalid)", "Breakpad info")
			}
			c.compared["breakpad info"]++
		case b.title == "MDRawCrashpadInfo":
			c.compareCrashpadInfo(b)
		case b.title == "MinidumpThreadNameList":
			sawNames = true
			c.wantNum(b, "thread_name_count", uint64(len(d.ThreadNames)), "thread names")
		case b.title == "MDRawThreadName":
			threadName++
			id, _ := num(b.fields["thread_id"])
			name, ok := d.ThreadNames[uint32(id)]
			if !ok {
				c.errorf("thread name %d: Parse has no name for thread 0x%x", threadName, id)
				continue
			}
			c.wantString(b, "thread_name", name, fmt.Sprintf("thread name %d", threadName))
			c.compared["thread name"]++
		}
	}
	if !sawThreads && len(d.Threads) > 0 {
		c.errorf("Parse found %d threads, minidump_dump printed no thread list", len(d.Threads))
	}
	if !sawModules && len(d.Modules) > 0 {
		c.errorf("Parse found %d modules, minidump_dump printed no module list", len(d.Modules))
	}
	if !sawNames && len(d.ThreadNames) > 0 {
		c.errorf("Parse found %d thread names, minidump_dump printed none", len(d.ThreadNames))
	}
	c.compareStreamChoice()
	c.compareLinuxStreams()
	return c.compared
}

// compareStreamChoice checks which directory entry minidump_dump reads
// for each type against the entry Parse reads (the last of its type).
func (c *checker) compareStreamChoice() {
	re := regexp.MustCompile(`(?m)^  stream type (0x[0-9a-f]+) \(.*\) at index (\d+)$`)
	for _, m := range re.FindAllStringSubmatch(c.out, -1) {
		typ, _ := num(m[1])
		idx, _ := strconv.Atoi(m[2])
		last := -1
		for i, s := range c.d.Streams {
			if uint64(s.Type) == typ {
				last = i
			}
		}
		if last != idx {
			c.errorf("stream type 0x%x: minidump_dump reads entry %d, Parse %d", typ, idx, last)
		}
		c.compared["stream choice"]++
	}
}

// compareLinuxStreams checks the raw Linux streams. minidump_dump prints
// each as "Stream NAME:", its bytes with every NUL shown as "\0" and a
// line break, and two line breaks.
func (c *checker) compareLinuxStreams() {
	for _, s := range []struct {
		name string
		data []byte
	}{
		{"MD_LINUX_CMD_LINE", c.d.Linux.CmdLine},
		{"MD_LINUX_ENVIRON", c.d.Linux.Environ},
		{"MD_LINUX_LSB_RELEASE", c.d.Linux.LSBRelease},
		{"MD_LINUX_PROC_STATUS", c.d.Linux.ProcStatus},
		{"MD_LINUX_CPU_INFO", c.d.Linux.CPUInfo},
		{"MD_LINUX_MAPS", c.d.Linux.Maps},
	} {
		printed := strings.Contains(c.out, "Stream "+s.name+":\n")
		if s.data == nil {
			if printed {
				c.errorf("minidump_dump printed %s, Parse found none", s.name)
			}
			continue
		}
		want := "Stream " + s.name + ":\n" + strings.ReplaceAll(string(s.data), "\x00", "\\0\n") + "\n\n"
		if !strings.Contains(c.out, want) {
			c.errorf("%s: minidump_dump's contents differ from Parse's %d bytes", s.name, len(s.data))
		}
		c.compared["linux stream"]++
	}
}

// breakpadRegister maps a register as minidump_dump prints it to the name
// Context.Get takes, or "" for state Context does not decode.
func breakpadRegister(arch, key string) string {
	idx := func(prefix string) int {
		if !strings.HasPrefix(key, prefix+"[") {
			return -1
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(key, prefix+"["), "]")))
		if err != nil {
			return -1
		}
		return n
	}
	switch arch {
	case "amd64":
		switch key {
		case "eflags":
			return "rflags"
		case "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "rip",
			"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15":
			return key
		}
	case "x86":
		switch key {
		case "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags":
			return key
		}
	case "arm":
		if key == "cpsr" || key == "sp" || key == "lr" || key == "pc" || regexp.MustCompile(`^r\d+$`).MatchString(key) {
			return key
		}
	case "arm64":
		switch n := idx("iregs"); {
		case n >= 0 && n < 29:
			return fmt.Sprintf("x%d", n)
		case n == 29:
			return "fp"
		case n == 30:
			return "lr"
		case n == 31:
			return "sp"
		case n == 32:
			return "pc"
		}
		if key == "cpsr" {
			return key
		}
	case "ppc", "ppc64":
		if n := idx("gpr"); n >= 0 {
			return fmt.Sprintf("r%d", n)
		}
		switch key {
		case "srr0", "srr1", "cr", "xer", "lr", "ctr", "mq", "vrsave":
			return key
		}
	case "sparc":
		if n := idx("g_r"); n >= 0 {
			return fmt.Sprintf("g_r%d", n)
		}
		switch key {
		case "ccr", "pc", "npc", "y", "asi", "fprs":
			return key
		}
	case "mips":
		switch n := idx("iregs"); {
		case n >= 16 && n <= 23:
			return fmt.Sprintf("s%d", n-16)
		case n == 28:
			return "gp"
		case n == 29:
			return "sp"
		case n == 30:
			return "fp"
		case n == 31:
			return "ra"
		}
		if key == "epc" {
			return "pc"
		}
	}
	return ""
}

func (c *checker) compareContext(b *mdBlock, owner string, ctx *Context) {
	what := owner + " context"
	if ctx == nil {
		c.errorf("%s: minidump_dump printed %s, Parse has no context", what, b.title)
		return
	}
	matched := map[string]bool{}
	for _, key := range b.keys {
		name := breakpadRegister(ctx.Arch, key)
		if name == "" {
			continue
		}
		want, ok := ctx.Get(name)
		if !ok {
			c.errorf("%s: Parse has no register %s (minidump_dump's %s)", what, name, key)
			continue
		}
		c.wantNum(b, key, want, what)
		matched[name] = true
	}
	for _, name := range ctx.Names() {
		if !matched[name] && !matched[aliasOf(ctx, name)] {
			c.errorf("%s: register %s was not compared: minidump_dump printed no counterpart", what, name)
		}
	}
	if !ctx.OldARM64 {
		// Breakpad converts the old arm64 layout, flags included.
		c.wantNum(b, "context_flags", uint64(ctx.Flags), what)
	}
	c.compared["context"]++
	c.compared["register"] += len(matched)
}

// aliasOf returns the other name Get accepts for the same register.
func aliasOf(ctx *Context, name string) string {
	r := ctx.l.byName[name]
	for n, q := range ctx.l.byName {
		if n != name && q.off == r.off && q.size == r.size {
			return n
		}
	}
	return ""
}

func (c *checker) compareModule(b *mdBlock, i int) {
	m := &c.d.Modules[i]
	what := fmt.Sprintf("module %d (%s)", i, m.Name)
	c.wantNum(b, "base_of_image", m.Base, what)
	c.wantNum(b, "size_of_image", m.Size, what)
	c.wantNum(b, "checksum", uint64(m.Checksum), what)
	c.wantNum(b, "time_date_stamp", uint64(m.Timestamp), what)
	c.wantNum(b, "cv_record.data_size", uint64(len(m.CVRecord)), what)
	c.wantString(b, "(code_file)", m.Name, what)
	c.wantString(b, "(version)", m.Version, what)

	// Breakpad derives the code identifier from the platform, rust-minidump
	// (and Symbolicator) from the CodeView record; they agree where the two
	// match, and Breakpad prints "id" for every macOS module.
	bpCode := unquote(b.fields["(code_identifier)"])
	os := ""
	if c.d.SystemInfo != nil {
		os = c.d.SystemInfo.OS
	}
	switch {
	case os == osLinux && m.CVKind == CVELF && m.CodeID != "",
		os == osWindows && m.CVKind != CVELF && m.CVKind != CVUnknown:
		if strings.ToLower(bpCode) != m.CodeID {
			c.errorf("%s: code id: minidump_dump says %q, Parse %q", what, bpCode, m.CodeID)
		}
		c.compared["code id"]++
	}

	// Breakpad prints a debug identifier of zeros where rust-minidump has
	// none (an all-zero GUID or build id).
	bpDebug := unquote(b.fields["(debug_identifier)"])
	if m.DebugID == "" && strings.Trim(bpDebug, "0") == strings.TrimLeft(fmt.Sprintf("%x", m.debugAge), "0") {
		bpDebug = ""
	}
	if bpDebug != m.BreakpadDebugID() {
		c.errorf("%s: debug id: minidump_dump says %q, Parse %q (%q)", what, bpDebug, m.BreakpadDebugID(), m.DebugID)
	}
	c.compared["debug id"]++

	// Breakpad does not take a BpEL record without build id bytes for an
	// ELF record; rust-minidump does, and names the code file as debug file.
	if !(m.CVKind == CVELF && len(m.CVRecord) == 4) {
		c.wantString(b, "(debug_file)", m.DebugFile, what)
	}
}

func (c *checker) compareSystemInfo(b *mdBlock) {
	s := c.d.SystemInfo
	if s == nil {
		c.errorf("minidump_dump printed system info, Parse found none")
		return
	}
	what := "system info"
	c.wantNum(b, "processor_architecture", uint64(s.ProcessorArchitecture), what)
	c.wantNum(b, "processor_level", uint64(s.ProcessorLevel), what)
	c.wantNum(b, "processor_revision", uint64(s.ProcessorRevision), what)
	c.wantNum(b, "number_of_processors", uint64(s.CPUCount), what)
	c.wantNum(b, "product_type", uint64(s.ProductType), what)
	c.wantNum(b, "major_version", uint64(s.MajorVersion), what)
	c.wantNum(b, "minor_version", uint64(s.MinorVersion), what)
	c.wantNum(b, "build_number", uint64(s.BuildNumber), what)
	c.wantNum(b, "platform_id", uint64(s.PlatformID), what)
	c.wantNum(b, "suite_mask", uint64(s.SuiteMask), what)
	c.wantString(b, "(csd_version)", s.CSDVersion, what)
	c.compared["system info"]++
}

func (c *checker) compareMiscInfo(b *mdBlock) {
	m := c.d.MiscInfo
	if m == nil {
		c.errorf("minidump_dump printed misc info, Parse found none")
		return
	}
	what := "misc info"
	c.wantNum(b, "size_of_info", uint64(m.SizeOfInfo), what)
	field := func(key string, v uint64) {
		if s, ok := b.get(key); ok && s != "(invalid)" {
			c.wantNum(b, key, v, what)
		} else if v != 0 {
			c.errorf("%s: %s: minidump_dump has none, Parse 0x%x", what, key, v)
		}
	}
	field("process_id", uint64(m.ProcessID))
	if !m.ProcessCreateTime.IsZero() {
		c.wantNum(b, "process_create_time", uint64(m.ProcessCreateTime.Unix()), what)
	}
	field("process_user_time", uint64(m.ProcessUserTime))
	field("process_kernel_time", uint64(m.ProcessKernelTime))
	field("processor_max_mhz", uint64(m.ProcessorMaxMHz))
	field("processor_current_mhz", uint64(m.ProcessorCurrentMHz))
	field("processor_mhz_limit", uint64(m.ProcessorMHzLimit))
	field("processor_max_idle_state", uint64(m.ProcessorMaxIdleState))
	field("processor_current_idle_state", uint64(m.ProcessorCurrentIdleState))
	field("process_integrity_level", uint64(m.ProcessIntegrityLevel))
	field("process_execute_flags", uint64(m.ProcessExecuteFlags))
	field("protected_process", uint64(m.ProtectedProcess))
	field("time_zone_id", uint64(m.TimeZoneID))
	if tz := m.TimeZone; tz != nil {
		c.wantNum(b, "time_zone.bias", uint64(int64(tz.Bias)), what)
		c.wantString(b, "time_zone.standard_name", tz.StandardName, what)
		c.wantNum(b, "time_zone.standard_bias", uint64(int64(tz.StandardBias)), what)
		c.wantString(b, "time_zone.daylight_name", tz.DaylightName, what)
		c.wantNum(b, "time_zone.daylight_bias", uint64(int64(tz.DaylightBias)), what)
	}
	if m.BuildString != "" || m.DbgBldStr != "" {
		c.wantString(b, "build_string", m.BuildString, what)
		c.wantString(b, "dbg_bld_str", m.DbgBldStr, what)
	}
	if m.Version >= 5 {
		c.wantNum(b, "xstate_data.context_size", uint64(m.XStateContextSize), what)
		c.wantNum(b, "xstate_data.enabled_features", m.XStateEnabledFeatures, what)
		if m.Flags1&misc5ProcessCookie != 0 {
			// minidump_dump prints the cookie as a signed number.
			c.wantNum(b, "process_cookie", uint64(int64(int32(m.ProcessCookie))), what)
		}
	}
	c.compared["misc info"]++
}

func (c *checker) compareCrashpadInfo(b *mdBlock) {
	ci := c.d.CrashpadInfo
	if ci == nil {
		c.errorf("minidump_dump printed Crashpad info, Parse found none")
		return
	}
	what := "Crashpad info"
	c.wantNum(b, "version", uint64(ci.Version), what)
	c.wantString(b, "report_id", ci.ReportID, what)
	c.wantString(b, "client_id", ci.ClientID, what)
	c.wantNum(b, "address_mask", ci.AddressMask, what)
	want := map[string]string{}
	for k, v := range ci.SimpleAnnotations {
		want[fmt.Sprintf("simple_annotations[%q]", k)] = v
	}
	for i, m := range ci.Modules {
		p := fmt.Sprintf("module_list[%d].", i)
		want[p+"minidump_module_list_index"] = strconv.Itoa(m.ModuleIndex)
		want[p+"version"] = strconv.Itoa(int(m.Version))
		for j, s := range m.ListAnnotations {
			want[fmt.Sprintf("%slist_annotations[%d]", p, j)] = s
		}
		for k, v := range m.SimpleAnnotations {
			want[fmt.Sprintf("%ssimple_annotations[%q]", p, k)] = v
		}
		for k, a := range m.AnnotationObjects {
			v := fmt.Sprintf("%X", a.Value)
			if a.Type == 1 {
				v = string(a.Value)
			}
			want[fmt.Sprintf("%scrashpad_annotations[%q] (type = %d)", p, k, a.Type)] = v
		}
	}
	for _, key := range b.keys {
		if !strings.Contains(key, "[") {
			continue
		}
		if _, ok := want[key]; !ok {
			c.errorf("%s: minidump_dump printed %s = %q, Parse has no such entry", what, key, b.fields[key])
		}
	}
	for key, v := range want {
		c.wantString(b, key, v, what)
	}
	c.compared["crashpad info"]++
}

// utf16String is a helper for tests that build UTF-16 fields.
func utf16String(s string, n int) []uint16 {
	u := utf16.Encode([]rune(s))
	out := make([]uint16, n)
	copy(out, u)
	return out
}
