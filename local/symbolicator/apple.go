package symbolicator

import (
	"context"
	"fmt"

	"github.com/symflow/symflow/local/symbolicator/applecrash"
)

// processAppleCrashReport answers POST /applecrashreport as Symbolicator
// does: every binary image becomes a Mach-O module (code_file and
// debug_file the image's path), every thread a stack trace whose frames
// keep the report's image name as package, and the answer carries the
// report's time, system, crash reason and details. The report's own
// symbols are not used: frames are symbolicated from the sources.
func (s *Service) processAppleCrashReport(ctx context.Context, req *symbolicateRequest, data []byte) map[string]any {
	r, err := applecrash.Parse(data)
	if err != nil {
		return failedResponse(fmt.Sprintf("failed to parse apple crash report: %v", err))
	}
	req.Modules = nil
	for i := range r.BinaryImages {
		img := &r.BinaryImages[i]
		m := &rawModule{Type: "macho", CodeID: normalizeCodeID(img.CodeID()), DebugID: normalizeDebugID(img.DebugID()),
			CodeFile: img.Path, DebugFile: img.Path, ImageAddr: img.Addr}
		m.ImageSize, m.HasImageSize = img.ImageSize()
		req.Modules = append(req.Modules, m)
	}
	req.Stacktraces = nil
	for _, th := range r.Threads {
		st := &rawStacktrace{Registers: th.Registers, fields: jsonObject{}}
		st.fields["thread_id"] = rawJSON(th.ID)
		if th.Name != "" {
			st.fields["thread_name"] = rawJSON(th.Name)
		}
		st.fields["is_requesting"] = rawJSON(th.Crashed)
		for _, f := range th.Frames {
			rf := &rawFrame{Addr: f.Address, Trust: "none", fields: jsonObject{}}
			if f.Module != "" {
				rf.fields["package"] = rawJSON(f.Module)
			}
			st.Frames = append(st.Frames, rf)
		}
		req.Stacktraces = append(req.Stacktraces, st)
	}
	req.Signal = nil
	req.Options.CallerFirst = false

	e := newEngine(s, req, false)
	out := e.run(ctx)
	if r.HasTimestamp {
		out["timestamp"] = r.Timestamp.Unix()
	}
	si := r.SystemInfo()
	out["system_info"] = map[string]any{
		"os_name": si.OSName, "os_version": si.OSVersion, "os_build": si.OSBuild,
		"cpu_arch": e.cpuArch(si.CPUArch), "device_model": si.DeviceModel,
	}
	if reason, ok := r.CrashReason(); ok {
		out["crash_reason"] = reason
	}
	if details, ok := r.CrashDetails(); ok {
		out["crash_details"] = details
	}
	out["crashed"] = true
	return out
}
