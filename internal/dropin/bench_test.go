package dropin

import (
	"strconv"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/policy"
)

// unknownKeysDropIn is an [X-MemRelief] section of n keys memrelief does
// not know, each on its own line.
func unknownKeysDropIn(n int) []byte {
	var b strings.Builder
	b.WriteString("[Service]\nMemoryHigh=1G\n\n[" + Section + "]\nRule=pods\n")
	for i := range n {
		b.WriteString("Colour" + strconv.Itoa(i) + "=1\n")
	}
	return []byte(b.String())
}

// BenchmarkParseUnknownKeys shows a drop-in's cost growing linearly with
// its keys: compare ns/op across the sizes.
func BenchmarkParseUnknownKeys(b *testing.B) {
	for _, n := range []int{1000, 4000, 16000} {
		doc := unknownKeysDropIn(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				var o policy.Override
				if errs := Parse("x.conf", doc, &o); len(errs) != n {
					b.Fatalf("%d errors for %d unknown keys", len(errs), n)
				}
			}
		})
	}
}
