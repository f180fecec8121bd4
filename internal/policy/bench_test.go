package policy

import (
	"strconv"
	"strings"
	"testing"
)

// unknownKeysDoc is a valid policy followed by n keys it does not know,
// each on its own line: the input that made parsing quadratic.
func unknownKeysDoc(n int) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString("colour_" + strconv.Itoa(i) + " = 1\n")
	}
	b.WriteString(ruleHead)
	return []byte(b.String())
}

// BenchmarkParseUnknownKeys shows the cost of a policy with many unknown
// keys growing linearly: compare ns/op across the sizes, and divide by n.
func BenchmarkParseUnknownKeys(b *testing.B) {
	for _, n := range []int{1000, 4000, 16000} {
		doc := unknownKeysDoc(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := Parse("p.toml", doc); err == nil {
					b.Fatal("unknown keys accepted")
				}
			}
		})
	}
}
