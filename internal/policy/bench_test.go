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
		b.WriteString("k" + strconv.Itoa(i) + "=1\n") // short, so 16k fit MaxFileBytes
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
				_, err := Parse("p.toml", doc)
				if errs, ok := err.(Errors); !ok || len(errs) != n {
					b.Fatalf("%d unknown keys: %v", n, err)
				}
			}
		})
	}
}
