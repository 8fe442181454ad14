package pdb

import (
	"encoding/binary"
	"testing"
)

// writeMSF lays streams out as an MSF 7.0 file with the given block size:
// the superblock, two free block map blocks, every stream's blocks in
// order, the directory, and last the block map block. A nil stream is
// written as absent. The tests use it to repack linker output into small
// fixtures and to build broken files.
func writeMSF(streams [][]byte, blockSize uint32) []byte {
	bs := int(blockSize)
	blocksFor := func(n int) int { return (n + bs - 1) / bs }
	next := uint32(3)
	lists := make([][]uint32, len(streams))
	for i, s := range streams {
		for j := 0; j < blocksFor(len(s)); j++ {
			lists[i] = append(lists[i], next)
			next++
		}
	}
	dir := binary.LittleEndian.AppendUint32(nil, uint32(len(streams)))
	for _, s := range streams {
		size := uint32(len(s))
		if s == nil {
			size = nilStream
		}
		dir = binary.LittleEndian.AppendUint32(dir, size)
	}
	for _, l := range lists {
		for _, b := range l {
			dir = binary.LittleEndian.AppendUint32(dir, b)
		}
	}
	var dirBlocks []uint32
	for j := 0; j < blocksFor(len(dir)); j++ {
		dirBlocks = append(dirBlocks, next)
		next++
	}
	mapBlock := next
	next++
	out := make([]byte, int(next)*bs)
	copy(out, msfMagic)
	le := binary.LittleEndian
	le.PutUint32(out[32:], blockSize)
	le.PutUint32(out[36:], 1)
	le.PutUint32(out[40:], next)
	le.PutUint32(out[44:], uint32(len(dir)))
	le.PutUint32(out[52:], mapBlock)
	for i, s := range streams {
		for j, b := range lists[i] {
			end := min((j+1)*bs, len(s))
			copy(out[int(b)*bs:], s[j*bs:end])
		}
	}
	for j, b := range dirBlocks {
		end := min((j+1)*bs, len(dir))
		copy(out[int(b)*bs:], dir[j*bs:end])
	}
	for j, b := range dirBlocks {
		le.PutUint32(out[int(mapBlock)*bs+4*j:], b)
	}
	return out
}

// readStreams returns every stream of a PDB (nil for absent ones).
func readStreams(t testing.TB, data []byte) [][]byte {
	t.Helper()
	m, err := openMSF(data)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(m.sizes))
	for i := range out {
		if m.sizes[i] == nilStream {
			continue
		}
		b, err := m.stream(uint32(i), "test")
		if err != nil {
			t.Fatal(err)
		}
		out[i] = append([]byte{}, b...)
		if out[i] == nil {
			out[i] = []byte{}
		}
	}
	return out
}
