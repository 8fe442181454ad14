//go:build !race

package symbolicator

const raceEnabled = false
