package objfile

func openMachO(data []byte, arch string, index bool) (*File, error) {
	return nil, &MalformedError{Kind: "macho", What: "not implemented", Err: ErrUnsupported}
}
