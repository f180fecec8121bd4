package policy

import "time"

// NodeRule is the name of the rule for the node as a whole.
const NodeRule = "node"

// Defaults for values a policy leaves out. The embedded default policy
// spells them all out with the reason for each; these are the fallbacks
// for hand-written policies.
const (
	DefaultInterval        = Duration(2 * time.Second)
	DefaultStateDir        = "/run/memrelief"
	DefaultLogLevel        = "info"
	DefaultNodeBudget      = Size(1 << 30)
	DefaultDwell           = Duration(10 * time.Second)
	DefaultCooldown        = Duration(time.Minute)
	DefaultBatch           = Size(16 << 20)
	DefaultBudgetPerMinute = Size(256 << 20)
	DefaultReclaimTimeout  = Duration(5 * time.Second)
	DefaultVFSStep         = 100
	DefaultExecTimeout     = Duration(10 * time.Second)
	DefaultTriggerStall    = Duration(150 * time.Millisecond)
	DefaultTriggerWindow   = Duration(time.Second)
)

func defaultDaemon() Daemon {
	return Daemon{
		Interval:      DefaultInterval,
		StateDir:      DefaultStateDir,
		LogLevel:      DefaultLogLevel,
		Sinks:         []string{"journal"},
		ReclaimBudget: DefaultNodeBudget,
	}
}

func defaultReclaim() Reclaim {
	return Reclaim{Batch: DefaultBatch, BudgetPerMinute: DefaultBudgetPerMinute, Timeout: DefaultReclaimTimeout}
}

func defaultTrigger() PSITrigger {
	return PSITrigger{Kind: "some", Stall: DefaultTriggerStall, Window: DefaultTriggerWindow}
}
