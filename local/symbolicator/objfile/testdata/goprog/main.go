// Command goprog is a fixture for the objfile agreement tests: a few
// functions the compiler inlines, a closure and a method.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

type counter struct {
	words map[string]int
}

func (c *counter) add(w string) {
	c.words[normalize(w)]++
}

func normalize(w string) string {
	return strings.ToLower(strings.Trim(w, ".,;:!?"))
}

func top(c *counter, n int) []string {
	keys := make([]string, 0, len(c.words))
	for k := range c.words {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c.words[keys[i]] != c.words[keys[j]] {
			return c.words[keys[i]] > c.words[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}

func main() {
	c := &counter{words: map[string]int{}}
	text := "the quick brown fox jumps over the lazy dog. The dog sleeps."
	if len(os.Args) > 1 {
		text = strings.Join(os.Args[1:], " ")
	}
	for _, w := range strings.Fields(text) {
		c.add(w)
	}
	fmt.Println(top(c, 3))
}
