package kubernetes

import (
	"errors"

	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// DecodeStrict decodes one YAML manifest as the API server's strict field
// validation does: an unknown field, a duplicate one, or one spelt in
// another case is an error. (yaml.UnmarshalStrict goes through
// encoding/json, which matches names case-insensitively: it took "hostPid"
// for hostPID.) The manifests' tests and the end-to-end harness, which
// runs the DaemonSet as the manifest says, read them through it.
func DecodeStrict(data []byte, into any) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	problems, err := sjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(problems...)
}
