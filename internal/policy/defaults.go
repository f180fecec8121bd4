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
		MaxCgroups:    DefaultMaxCgroups,
	}
}

// DefaultMaxCgroups bounds the cgroups the daemon watches. A busy
// Kubernetes node runs a few hundred pods (the kubelet's default maximum is
// 110); the bound is far above that and keeps the daemon within its unit's
// MemoryMax=128M (BENCHMARKS.md: ~20 KB per watched cgroup with 14 days of
// history on top of ~27 MiB).
const DefaultMaxCgroups = 2000

// DefaultHistoryDir outlives reboots and upgrades: slow leaks take weeks.
const DefaultHistoryDir = "/var/lib/memrelief/history"

// defaultHistory keeps 5-minute points for 6 hours (fast leaks, the charts
// of explain), hourly points for 2 days (a young slow leak) and 4-hour
// points for 14 days (leaks that take weeks to hurt): at most ~6 KiB per
// series in memory (history.DefaultTiers says why these).
func defaultHistory() History {
	return History{
		Enabled:     true,
		Dir:         DefaultHistoryDir,
		Resolutions: []Resolution{{Duration(5 * time.Minute), Duration(6 * time.Hour)}, {Duration(time.Hour), Duration(2 * day)}, {Duration(4 * time.Hour), Duration(14 * day)}},
		SaveEvery:   Duration(15 * time.Minute),
		MinGrowth:   Rate(float64(1<<20) / 86400),
		RemindEvery: Duration(day),
		Horizon:     Duration(30 * day),
		Containers:  true,
	}
}

func defaultReclaim() Reclaim {
	return Reclaim{Batch: DefaultBatch, BudgetPerMinute: DefaultBudgetPerMinute, Timeout: DefaultReclaimTimeout}
}

func defaultTrigger() PSITrigger {
	return PSITrigger{Kind: "some", Stall: DefaultTriggerStall, Window: DefaultTriggerWindow}
}
