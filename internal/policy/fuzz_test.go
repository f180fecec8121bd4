package policy

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse: no input panics or hangs the decoder or the key locator; every
// rejection is an Errors naming the file; every accepted policy prints and
// parses back to itself. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(ruleHead))
	f.Fuzz(func(t *testing.T, data []byte) {
		locate(string(data))
		p, err := Parse("f.toml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			for _, e := range errs {
				if e.File != "f.toml" || e.Msg == "" {
					t.Fatalf("error without file or message: %+v", e)
				}
			}
			return
		}
		var out bytes.Buffer
		if err := Encode(&out, p); err != nil {
			t.Fatal(err)
		}
		q, err := Parse("printed", out.Bytes())
		if err != nil {
			t.Fatalf("printed policy does not parse: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(stripOrigins(p), stripOrigins(q)) {
			t.Fatalf("round trip changed the policy:\n%s", out.String())
		}
	})
}
