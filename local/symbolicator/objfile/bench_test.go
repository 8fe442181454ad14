package objfile

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkSymbolize symbolizes the same addresses of a Go binary with
// objfile (index build included), llvm-symbolizer and addr2line (one
// batched process each), and reports addresses per second and the speedups.
// The warm sub-benchmark measures Lookup alone on an open File.
func BenchmarkSymbolize(b *testing.B) {
	llvm, a2l := tool(b, "llvm-symbolizer"), tool(b, "addr2line")
	bin := buildGo(b, b.TempDir())
	data, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10_000, 100_000} {
		addrs := sampleAddrs(b, bin, n)
		b.Run(fmt.Sprintf("addrs=%dk", n/1000), func(b *testing.B) {
			var ours, ref, binutils time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				f, err := Open(data)
				if err != nil {
					b.Fatal(err)
				}
				for _, a := range addrs {
					f.Lookup(a)
				}
				ours += time.Since(start)

				start = time.Now()
				runBatch(b, llvm, []string{"--obj=" + bin, "--inlining", "--functions=linkage"}, addrs)
				ref += time.Since(start)

				start = time.Now()
				runBatch(b, a2l, []string{"-a", "-f", "-i", "-C", "-e", bin}, addrs)
				binutils += time.Since(start)
			}
			total := float64(len(addrs) * b.N)
			b.ReportMetric(total/ours.Seconds(), "objfile-addrs/s")
			b.ReportMetric(total/ref.Seconds(), "llvm-symbolizer-addrs/s")
			b.ReportMetric(total/binutils.Seconds(), "addr2line-addrs/s")
			b.ReportMetric(ref.Seconds()/ours.Seconds(), "x-faster-than-llvm-symbolizer")
			b.ReportMetric(binutils.Seconds()/ours.Seconds(), "x-faster-than-addr2line")
		})
	}
	b.Run("open", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			if _, err := Open(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	// One iteration looks up all 100k addresses, so that -benchtime 1x
	// (as make bench runs) still measures something.
	b.Run("warm-100k", func(b *testing.B) {
		f, err := Open(data)
		if err != nil {
			b.Fatal(err)
		}
		addrs := sampleAddrs(b, bin, 100_000)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for _, a := range addrs {
				f.Lookup(a)
			}
		}
		b.ReportMetric(float64(b.N*len(addrs))/b.Elapsed().Seconds(), "lookups/s")
	})
}
