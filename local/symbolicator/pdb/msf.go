package pdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// msfMagic starts every MSF 7.0 ("big MSF") file. The older
// "Microsoft C/C++ program database 2.00" container is not read, as
// symbolic does not read it either.
const msfMagic = "Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"

// nilStream is the size the directory gives to a stream that does not
// exist (as opposed to one that is empty).
const nilStream = 0xFFFFFFFF

// msf is the multi-stream container: a file of fixed-size blocks, and a
// directory that lists, for every stream, its size and its blocks.
type msf struct {
	data      []byte
	blockSize uint32
	numBlocks uint32
	sizes     []uint32   // per stream; nilStream for absent streams
	blocks    [][]uint32 // per stream, the blocks holding it in order
}

// openMSF reads the superblock and the stream directory. Every block the
// directory names is checked to lie inside the file, and no block may
// belong to two streams (or twice to one): a directory that reused blocks
// could make the streams together far larger than the file.
func openMSF(data []byte) (*msf, error) {
	if len(data) < len(msfMagic) || !bytes.Equal(data[:len(msfMagic)], []byte(msfMagic)) {
		return nil, fmt.Errorf("open pdb: %w", ErrUnsupported)
	}
	c := cursor{b: data, off: len(msfMagic)}
	m := &msf{data: data}
	m.blockSize = c.u32()
	_ = c.u32() // free block map block
	m.numBlocks = c.u32()
	dirBytes := c.u32()
	_ = c.u32() // unknown
	blockMapAddr := c.u32()
	if c.err != nil {
		return nil, malformed("superblock", c.err)
	}
	switch m.blockSize {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768:
	default:
		return nil, malformedf("superblock", "block size %d is not a power of two between 512 and 32768", m.blockSize)
	}
	if have := uint64(len(data)) / uint64(m.blockSize); uint64(m.numBlocks) > have {
		return nil, malformedf("superblock", "%d blocks claimed, the file holds %d", m.numBlocks, have)
	}
	used := make([]uint64, (m.numBlocks+63)/64)
	claim := func(b uint32, what string) error {
		if b == 0 {
			return malformedf(what, "block 0 is the superblock")
		}
		if b >= m.numBlocks {
			return malformedf(what, "block %d past the end of the file (%d blocks)", b, m.numBlocks)
		}
		if used[b/64]&(1<<(b%64)) != 0 {
			return malformedf(what, "block %d is used twice", b)
		}
		used[b/64] |= 1 << (b % 64)
		return nil
	}

	// The directory's blocks are listed in the block map block.
	nDirBlocks := (uint64(dirBytes) + uint64(m.blockSize) - 1) / uint64(m.blockSize)
	if nDirBlocks*uint64(m.blockSize) > uint64(len(data)) || nDirBlocks*4 > uint64(m.blockSize) {
		return nil, malformedf("stream directory", "%d bytes do not fit the file", dirBytes)
	}
	if err := claim(blockMapAddr, "block map"); err != nil {
		return nil, err
	}
	mapBlock := m.block(blockMapAddr)
	dirBlocks := make([]uint32, nDirBlocks)
	for i := range dirBlocks {
		dirBlocks[i] = binary.LittleEndian.Uint32(mapBlock[4*i:])
		if err := claim(dirBlocks[i], "stream directory"); err != nil {
			return nil, err
		}
	}
	dir := m.gather(dirBlocks, dirBytes)

	d := cursor{b: dir}
	n := d.u32()
	if d.err != nil || uint64(n) > uint64(d.left())/4 {
		return nil, malformedf("stream directory", "%d streams do not fit in %d bytes", n, len(dir))
	}
	m.sizes = make([]uint32, n)
	var total uint64
	for i := range m.sizes {
		m.sizes[i] = d.u32()
		if m.sizes[i] != nilStream {
			total += (uint64(m.sizes[i]) + uint64(m.blockSize) - 1) / uint64(m.blockSize)
		}
	}
	if total > uint64(d.left())/4 {
		return nil, malformedf("stream directory", "the streams need %d blocks, the directory lists %d", total, d.left()/4)
	}
	all := make([]uint32, total)
	m.blocks = make([][]uint32, n)
	for i, size := range m.sizes {
		if size == nilStream {
			continue
		}
		k := (size + m.blockSize - 1) / m.blockSize
		m.blocks[i], all = all[:k:k], all[k:]
		for j := range m.blocks[i] {
			b := d.u32()
			if err := claim(b, fmt.Sprintf("stream %d", i)); err != nil {
				return nil, err
			}
			m.blocks[i][j] = b
		}
	}
	return m, nil
}

func (m *msf) block(b uint32) []byte {
	off := uint64(b) * uint64(m.blockSize)
	return m.data[off : off+uint64(m.blockSize)]
}

// gather returns size bytes spread over blocks: a slice of the file when the
// blocks are consecutive (as linkers write them), else a copy.
func (m *msf) gather(blocks []uint32, size uint32) []byte {
	if len(blocks) == 0 {
		return nil
	}
	contiguous := true
	for i := 1; i < len(blocks); i++ {
		if blocks[i] != blocks[0]+uint32(i) {
			contiguous = false
			break
		}
	}
	start := uint64(blocks[0]) * uint64(m.blockSize)
	if contiguous {
		return m.data[start : start+uint64(size) : start+uint64(size)]
	}
	out := make([]byte, 0, size)
	for _, b := range blocks {
		chunk := m.block(b)
		if rest := int(size) - len(out); rest < len(chunk) {
			chunk = chunk[:rest]
		}
		out = append(out, chunk...)
	}
	return out
}

// stream returns the contents of stream i. what names the stream's role in
// errors ("DBI stream"). An absent stream is an error; so is an index past
// the directory.
func (m *msf) stream(i uint32, what string) ([]byte, error) {
	if uint64(i) >= uint64(len(m.sizes)) {
		return nil, malformedf(what, "stream %d out of range (the directory has %d streams)", i, len(m.sizes))
	}
	if m.sizes[i] == nilStream {
		return nil, malformedf(what, "stream %d is absent", i)
	}
	return m.gather(m.blocks[i], m.sizes[i]), nil
}

// optionalStream is stream for streams named by 16-bit indices in other
// streams, where 0xFFFF means "none": ok is false then.
func (m *msf) optionalStream(i uint16, what string) (data []byte, ok bool, err error) {
	if i == 0xFFFF {
		return nil, false, nil
	}
	if uint64(i) < uint64(len(m.sizes)) && m.sizes[i] == nilStream {
		return nil, false, nil
	}
	data, err = m.stream(uint32(i), what)
	return data, err == nil, err
}
