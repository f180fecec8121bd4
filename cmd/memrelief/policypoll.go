package main

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
)

// pollPolicy asks for a reload whenever the policy file's content changes,
// checking every interval until ctx ends. A ConfigMap mounted in a pod is
// updated by the kubelet swapping a symlink, which no SIGHUP announces;
// comparing what the path reads as catches that, an in-place edit, and the
// file appearing or going (the embedded default then applies), and it
// ignores a touch that changes nothing. A reload request that finds one
// pending is dropped: the pending one reads the newest file.
func pollPolicy(ctx context.Context, file string, interval time.Duration, reload chan<- struct{}) {
	last := policyFingerprint(file)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := policyFingerprint(file)
		if now == last {
			continue
		}
		last = now
		select {
		case reload <- struct{}{}:
		default:
		}
	}
}

// policyFingerprint is a digest of what file reads as: its content, or the
// error reading it gives (absent, too large, unreadable), so that each
// change of state counts once.
func policyFingerprint(file string) [sha256.Size]byte {
	data, err := policy.ReadFile(file)
	if err != nil {
		return sha256.Sum256([]byte("error: " + err.Error()))
	}
	return sha256.Sum256(append([]byte("content: "), data...))
}
