package action

import (
	"context"
	"fmt"
)

// VFSCachePressureSysctl is vm.vfs_cache_pressure below /proc.
const VFSCachePressureSysctl = "sys/vm/vfs_cache_pressure"

// SysctlKnob is an integer sysctl as a Knob.
type SysctlKnob struct {
	Sys System
	Rel string // path below /proc: "sys/vm/vfs_cache_pressure"
}

// Spec implements Knob.
func (s SysctlKnob) Spec() KnobSpec { return KnobSpec{Kind: KnobSysctl, Name: s.Rel} }

// Read implements Knob.
func (s SysctlKnob) Read(context.Context) (uint64, error) {
	v, err := s.Sys.Sysctl(s.Rel)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("sysctl %s is negative (%d)", s.Rel, v)
	}
	return uint64(v), nil
}

// Write implements Knob.
func (s SysctlKnob) Write(_ context.Context, v uint64) error { return s.Sys.SetSysctl(s.Rel, int(v)) }

// SaveSide implements Knob: a sysctl write changes nothing else.
func (SysctlKnob) SaveSide(context.Context) (*Side, error) { return nil, nil }

// RestoreSide implements Knob.
func (SysctlKnob) RestoreSide(context.Context, *Side) error { return nil }

var _ Knob = SysctlKnob{}
