package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// level is a valid rule whose first level's action is left open, so each
// case below adds exactly the lines it is about.
const ruleHead = `[[rule]]
name = "pods"
units = ["kubepods-*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 256M"]
exit.all = ["slab_reclaimable < 192M"]
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"toml syntax", "[daemon]\ninterval = \"2s\nx = 1\n", []string{
			`p.toml:2:15: daemon.interval: strings cannot contain newlines`,
		}},
		{"duplicate key", "[daemon]\ndry_run = true\ndry_run = false\n", []string{
			`p.toml:3:1: daemon.dry_run: Key 'daemon.dry_run' has already been defined.`,
		}},
		{"unknown top-level key", "colour = 1\n" + ruleHead, []string{
			`p.toml:1:1: colour: unknown key`,
		}},
		{"unknown key in second rule", ruleHead + "\n[[rule]]\nname = \"b\"\nunits = [\"b.slice\"]\nunit = 3\n[[rule.level]]\nname = \"x\"\nenter.all = [\"psi_some_avg10 > 1%\"]\nexit.all = [\"psi_some_avg10 < 0.5%\"]\n", []string{
			`p.toml:13:1: rule[1].unit: unknown key`,
		}},
		{"unknown key inline", ruleHead + "dwell = { secs = 3 }\n", []string{
			`p.toml:9:1: rule[0].level[0].dwell: want a duration such as "30s", got a table`,
		}},
		{"size without unit", "[daemon]\nreclaim_budget = \"512\"\n" + ruleHead, []string{
			`p.toml:2:1: daemon.reclaim_budget: size "512": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`,
		}},
		{"duration without unit", ruleHead + "dwell = \"30\"\n", []string{
			`p.toml:9:1: rule[0].level[0].dwell: duration "30": want a number with a unit, for example "30s", "2m", "500ms" or "7d"`,
		}},
		{"wrong type", "[daemon]\ndry_run = \"yes\"\n" + ruleHead, []string{
			`p.toml:2:1: daemon.dry_run: want true or false, got a string`,
		}},
		{"interval out of range", "[daemon]\ninterval = \"10ms\"\n" + ruleHead, []string{
			`p.toml:2:1: daemon.interval: interval 10ms out of range 100ms..10m`,
		}},
		{"unknown sink", "[daemon]\nsinks = [\"journal\", \"pager\"]\n" + ruleHead, []string{
			`p.toml:2:21: daemon.sinks[1]: unknown sink "pager" (want journal, stderr, dbus or metrics)`,
		}},
		{"log level", "[daemon]\nlog_level = \"loud\"\n" + ruleHead, []string{
			`p.toml:2:1: daemon.log_level: unknown log level "loud" (want debug, info, warn or error)`,
		}},
		{"relative state dir", "[daemon]\nstate_dir = \"run\"\n" + ruleHead, []string{
			`p.toml:2:1: daemon.state_dir: state_dir "run" must be an absolute path; want a directory of memrelief's own below /run or /var/run`,
		}},
		{"exit not below enter", strings.Replace(ruleHead, "< 192M", "< 256M", 1), []string{
			`p.toml:8:13: rule[0].level[0].exit.all[0]: exit threshold 256M is not below enter threshold 256M; the level would flap`,
		}},
		{"exit same direction", strings.Replace(ruleHead, "< 192M", "> 192M", 1), []string{
			`p.toml:8:13: rule[0].level[0].exit.all[0]: exit condition "slab_reclaimable > 192M" must use < or <= to undo enter condition "slab_reclaimable >= 256M"`,
		}},
		{"level order", ruleHead + "\n[[rule.level]]\nname = \"high\"\nenter.all = [\"slab_reclaimable >= 128M\"]\nexit.all = [\"slab_reclaimable < 100M\"]\n", []string{
			`p.toml:12:14: rule[0].level[1].enter.all[0]: threshold 128M is not above 256M of the less severe level "elevated"; levels go from least to most severe`,
		}},
		{"duplicate level", ruleHead + "\n[[rule.level]]\nname = \"elevated\"\nenter.all = [\"slab_reclaimable >= 512M\"]\nexit.all = [\"slab_reclaimable < 300M\"]\n", []string{
			`p.toml:11:1: rule[0].level[1].name: duplicate level name "elevated"`,
		}},
		{"missing exit", strings.Replace(ruleHead, "exit.all = [\"slab_reclaimable < 192M\"]\n", "", 1), []string{
			`p.toml:5:1: rule[0].level[0].exit: missing; a level needs exit conditions so it can be left (hysteresis)`,
		}},
		{"too many levels", tooManyLevels(), []string{
			`p.toml:4:1: rule[0].level: 9 levels; a rule has at most 8`,
		}},
		{"no levels", "[[rule]]\nname = \"pods\"\n", []string{
			`p.toml:1:1: rule[0].level: missing; a rule needs at least one level`,
		}},
		{"rule without name", strings.Replace(ruleHead, "name = \"pods\"\n", "", 1), []string{
			`p.toml:1:1: rule[0].name: missing; every rule needs a name so a reload can undo what it changed`,
		}},
		{"bad rule name", strings.Replace(ruleHead, `"pods"`, `"Pods!"`, 1), []string{
			`p.toml:2:1: rule[0].name: rule name "Pods!": use lower-case letters, digits, "-" and "_"`,
		}},
		{"node name reserved", strings.Replace(ruleHead, `"pods"`, `"node"`, 1), []string{
			`p.toml:2:1: rule[0].name: "node" is reserved for the [node] rule`,
		}},
		{"duplicate rule", ruleHead + "\n" + ruleHead, []string{
			`p.toml:11:1: rule[1].name: duplicate rule name "pods" (first at line 1)`,
		}},
		{"malformed glob", strings.Replace(ruleHead, `"kubepods-*.slice"`, `"kubepods-[.slice"`, 1), []string{
			`p.toml:3:10: rule[0].units[0]: malformed glob "kubepods-[.slice": syntax error in pattern`,
		}},
		{"unit glob with slash", strings.Replace(ruleHead, `"kubepods-*.slice"`, `"kubepods/pod*"`, 1), []string{
			`p.toml:3:10: rule[0].units[0]: unit glob "kubepods/pod*" contains "/"; cgroup path globs go in paths`,
		}},
		{"unknown metric", strings.Replace(ruleHead, "slab_reclaimable >=", "slab >=", 1), []string{
			`p.toml:7:14: rule[0].level[0].enter.all[0]: condition "slab >= 256M": unknown metric "slab" (known: psi_some_avg10, psi_some_avg60, psi_full_avg10, psi_full_avg60, psi_stall, slab_reclaimable, slab_reclaimable_share, slab_growth_rate, kernel_memory, memory_current_share_high, memory_current_share_max, node_sreclaimable, negative_dentries, memory_trend, anon_trend, file_trend, slab_reclaimable_trend, slab_unreclaimable_trend, kernel_trend, time_to_memory_high, time_to_memory_max, node_time_to_oom)`,
		}},
		{"unknown comparison", strings.Replace(ruleHead, ">= 256M", "=> 256M", 1), []string{
			`p.toml:7:14: rule[0].level[0].enter.all[0]: condition "slab_reclaimable => 256M": unknown comparison "=>" (want >, >=, < or <=)`,
		}},
		{"wrong threshold kind", strings.Replace(ruleHead, ">= 256M", ">= 25%", 1), []string{
			`p.toml:7:14: rule[0].level[0].enter.all[0]: condition "slab_reclaimable >= 25%": slab_reclaimable takes a size: size "25%": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`,
		}},
		{"percentage over 100", ruleHead + "enter.any = [\"psi_full_avg10 >= 120%\"]\n", []string{
			`p.toml:9:14: rule[0].level[0].enter.any[0]: psi_full_avg10 threshold 120% is over 100%`,
		}},
		{"share of high may exceed 100 but not 1000", ruleHead + "enter.any = [\"memory_current_share_high >= 150%\", \"memory_current_share_high >= 1500%\"]\n", []string{
			`p.toml:9:51: rule[0].level[0].enter.any[1]: memory_current_share_high threshold 1500% is over 1000%`,
		}},
		{"cgroup metric in node rule", "[node]\n[[node.level]]\nname = \"x\"\nenter.all = [\"slab_reclaimable >= 1G\"]\nexit.all = [\"slab_reclaimable < 512M\"]\n", []string{
			`p.toml:4:14: node.level[0].enter.all[0]: slab_reclaimable is a per-cgroup figure; the node rule cannot use it`,
			`p.toml:5:13: node.level[0].exit.all[0]: slab_reclaimable is a per-cgroup figure; the node rule cannot use it`,
		}},
		{"globs in node rule", "[node]\nunits = [\"x.slice\"]\n[[node.level]]\nname = \"x\"\nenter.all = [\"psi_some_avg10 >= 10%\"]\nexit.all = [\"psi_some_avg10 < 5%\"]\n", []string{
			`p.toml:2:1: node.units: does not apply to the node rule`,
		}},
		{"psi window out of range", strings.Replace(ruleHead, "\n[[rule.level]]", "[rule.psi_trigger]\nwindow = \"20s\"\n\n[[rule.level]]", 1), []string{
			`p.toml:5:1: rule[0].psi_trigger.window: window 20s out of range: the kernel accepts 500ms to 10s`,
		}},
		{"psi stall not below window", strings.Replace(ruleHead, "\n[[rule.level]]", "[rule.psi_trigger]\nstall = \"2s\"\nwindow = \"1s\"\n\n[[rule.level]]", 1), []string{
			`p.toml:5:1: rule[0].psi_trigger.stall: stall 2s must be above 0 and below window 1s`,
		}},
		{"psi_stall without a trigger", strings.Replace(ruleHead, `enter.all = ["slab_reclaimable >= 256M"]`, `enter.all = ["slab_reclaimable >= 256M", "psi_stall >= 1"]`, 1), []string{
			`p.toml:1:1: rule[0].psi_trigger: missing; psi_stall counts the events of the rule's kernel PSI trigger, so the rule needs [psi_trigger]`,
		}},
		{"psi kind", strings.Replace(ruleHead, "\n[[rule.level]]", "[rule.psi_trigger]\nkind = \"all\"\n\n[[rule.level]]", 1), []string{
			`p.toml:5:1: rule[0].psi_trigger.kind: unknown kind "all" (want "some" or "full")`,
		}},
		{"action without type", ruleHead + "[[rule.level.action]]\namount = \"1M\"\n", []string{
			`p.toml:9:1: rule[0].level[0].action[0].type: missing; want event, reclaim, vfs_cache_pressure, unit_property, exec or drop_caches`,
		}},
		{"unknown action", ruleHead + "[[rule.level.action]]\ntype = \"kill\"\n", []string{
			`p.toml:10:1: rule[0].level[0].action[0].type: unknown action "kill" (want event, reclaim, vfs_cache_pressure, unit_property, exec or drop_caches)`,
		}},
		{"key of another action", ruleHead + "[[rule.level.action]]\ntype = \"event\"\ntarget = 200\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].target: does not apply to a event action`,
		}},
		{"reclaim without amount", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\n", []string{
			`p.toml:9:1: rule[0].level[0].action[0].amount: missing or 0; reclaim needs an amount ("64M" or "25%")`,
		}},
		{"reclaim percent without base", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"25%\"\n", []string{
			`p.toml:9:1: rule[0].level[0].action[0].of: missing; a percentage amount needs of = "slab_reclaimable" or "memory_current"`,
		}},
		{"reclaim base with bytes", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"64M\"\nof = \"slab_reclaimable\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].of: only applies to a percentage amount`,
		}},
		{"reclaim unknown base", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"25%\"\nof = \"anon\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].of: unknown base "anon" (want "slab_reclaimable" or "memory_current")`,
		}},
		{"reclaim percent over 100", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"150%\"\nof = \"memory_current\"\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].amount: amount 150% is over 100%`,
		}},
		{"reclaim bad amount", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"lots\"\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].amount: amount "lots": want a size ("64M") or a percentage ("25%")`,
		}},
		{"budget 0 with reclaim on", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"64M\"\nbudget_per_minute = \"0\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].budget_per_minute: budget is 0 with reclaim on; nothing could ever be reclaimed`,
		}},
		{"budget below batch", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"64M\"\nbatch = \"32M\"\nbudget_per_minute = \"16M\"\n", []string{
			`p.toml:13:1: rule[0].level[0].action[0].budget_per_minute: budget 16M per minute is below one batch of 32M`,
		}},
		{"node-wide budget 0 with reclaim on", "[daemon]\nreclaim_budget = \"0\"\n" + ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"64M\"\n", []string{
			`p.toml:2:1: daemon.reclaim_budget: is 0 while rule[0].level[0].action[0] reclaims; nothing could ever be reclaimed`,
		}},
		{"batch 0", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"64M\"\nbatch = \"0\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].batch: batch is 0; nothing would be reclaimed`,
		}},
		{"swappiness", ruleHead + "[[rule.level.action]]\ntype = \"reclaim\"\namount = \"64M\"\nswappiness = 300\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].swappiness: swappiness 300 out of range 0..200`,
		}},
		{"vfs target missing", ruleHead + "[[rule.level.action]]\ntype = \"vfs_cache_pressure\"\n", []string{
			`p.toml:9:1: rule[0].level[0].action[0].target: missing; vfs_cache_pressure needs a target above 100`,
		}},
		{"vfs target too low", ruleHead + "[[rule.level.action]]\ntype = \"vfs_cache_pressure\"\ntarget = 50\nstep = 0\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].target: target 50 out of range: above 100 (the kernel default) and at most 10000`,
			`p.toml:12:1: rule[0].level[0].action[0].step: step 0 must be at least 1`,
		}},
		{"unit property name", ruleHead + "[[rule.level.action]]\ntype = \"unit_property\"\nproperty = \"CPUQuota\"\nvalue = \"50%\"\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].property: unsupported property "CPUQuota" (want one of MemoryHigh, MemoryMax, MemoryLow, MemoryMin, MemorySwapMax)`,
		}},
		{"unit property value", ruleHead + "[[rule.level.action]]\ntype = \"unit_property\"\nproperty = \"MemoryHigh\"\nvalue = \"lots\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].value: value "lots": want a size ("2G"), a percentage ("80%") or "infinity"`,
		}},
		{"unit property in node rule", "[node]\n[[node.level]]\nname = \"x\"\nenter.all = [\"psi_some_avg10 >= 10%\"]\nexit.all = [\"psi_some_avg10 < 5%\"]\n[[node.level.action]]\ntype = \"unit_property\"\nproperty = \"MemoryHigh\"\nvalue = \"1G\"\n", []string{
			`p.toml:7:1: node.level[0].action[0].type: unit_property needs a systemd unit; the node rule has none`,
		}},
		{"unit property MemoryMax", ruleHead + "[[rule.level.action]]\ntype = \"unit_property\"\nproperty = \"MemoryMax\"\nvalue = \"2G\"\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].property: MemoryMax is refused: a unit that reaches it is OOM-killed by the kernel, and memrelief never kills; use MemoryHigh, which throttles and reclaims instead`,
		}},
		{"unit property MemoryMin", ruleHead + "[[rule.level.action]]\ntype = \"unit_property\"\nproperty = \"MemoryMin\"\nvalue = \"10%\"\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].property: MemoryMin is refused: memory it protects is never reclaimed, so the kernel OOM-kills other processes when the rest of the node runs out, and memrelief never kills; use MemoryLow, which protects as far as the node can afford`,
		}},
		{"unit property MemoryHigh 1B", ruleHead + "[[rule.level.action]]\ntype = \"unit_property\"\nproperty = \"MemoryHigh\"\nvalue = \"1B\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].value: MemoryHigh 1B is below 16M; it would throttle the unit to a standstill`,
		}},
		{"unit property MemoryHigh 0.5%", ruleHead + "[[rule.level.action]]\ntype = \"unit_property\"\nproperty = \"MemoryHigh\"\nvalue = \"0.5%\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].value: MemoryHigh 0.5% is below 1% of RAM; it would throttle the unit to a standstill`,
		}},
		{"exec relative", ruleHead + "[[rule.level.action]]\ntype = \"exec\"\ncommand = [\"notify\", \"x\"]\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].command: command[0] "notify" must be an absolute path (or set shell = true)`,
		}},
		{"exec NUL and escapes", ruleHead + "[[rule.level.action]]\ntype = \"exec\"\ncommand = [\"/usr/bin/notify\\u0000x\", \"ok\\tfine\", \"\\u001b[31mred\"]\n", []string{
			`p.toml:11:12: rule[0].level[0].action[0].command[0]: program path "/usr/bin/notify\x00x" contains a control character (NUL, escape, ...); memrelief will not run it`,
			`p.toml:11:50: rule[0].level[0].action[0].command[2]: argument "\x1b[31mred" contains a control character (NUL, escape, ...); memrelief will not run it`,
		}},
		{"exec shell line with NUL", ruleHead + "[[rule.level.action]]\ntype = \"exec\"\ncommand = [\"\"\"\nlogger one\nlogger two\\u0000\"\"\"]\nshell = true\n", []string{
			`p.toml:11:12: rule[0].level[0].action[0].command[0]: shell command line "logger one\nlogger two\x00" contains a control character (NUL, escape, ...); memrelief will not run it`,
		}},
		{"exec shell needs one string", ruleHead + "[[rule.level.action]]\ntype = \"exec\"\ncommand = [\"echo\", \"x\"]\nshell = true\n", []string{
			`p.toml:11:1: rule[0].level[0].action[0].command: with shell = true, command must be one string (the shell command line)`,
		}},
		{"exec timeout", ruleHead + "[[rule.level.action]]\ntype = \"exec\"\ncommand = [\"/bin/true\"]\ntimeout = \"1h\"\n", []string{
			`p.toml:12:1: rule[0].level[0].action[0].timeout: timeout 1h out of range: above 0 and at most 10m`,
		}},
		{"drop_caches outside node", ruleHead + "[[rule.level.action]]\ntype = \"drop_caches\"\n", []string{
			`p.toml:10:1: rule[0].level[0].action[0].type: drop_caches is node-wide; only the node rule may use it`,
		}},
		{"drop_caches cooldown", "[node]\n[[node.level]]\nname = \"x\"\nenter.all = [\"psi_some_avg10 >= 10%\"]\nexit.all = [\"psi_some_avg10 < 5%\"]\n[[node.level.action]]\ntype = \"drop_caches\"\n", []string{
			`p.toml:7:1: node.level[0].action[0].type: drop_caches needs a level cooldown of at least 5m (it empties every cache on the node), got 1m`,
		}},
		{"history bad values", "[history]\nresolution = [\"5m\", \"1m/6h\", \"1h/1d\"]\nmin_growth = \"1M\"\nremind_every = \"10s\"\ndir = \"var/lib\"\nbogus = 1\n", []string{
			`p.toml:2:15: history.resolution[0]: resolution "5m": want STEP/SPAN, for example "5m/6h" (a point every 5 minutes, kept for 6 hours)`,
			`p.toml:3:1: history.min_growth: rate "1M": want a size per second, minute, hour or day, for example "1M/s" or "3M/day"`,
			`p.toml:4:1: history.remind_every: remind_every 10s is below 1m; a steady leak would flood the journal`,
			`p.toml:5:1: history.dir: dir "var/lib" must be an absolute path; want a directory of memrelief's own below /var/lib, /var/cache, /run or /var/run`,
			`p.toml:6:1: history.bogus: unknown key`,
		}},
		{"quoted key with a dot", "# c\n  \"daemon.interval\" = 5\n", []string{
			`p.toml:2:3: "daemon.interval": unknown key`,
		}},
		{"dotted key with a quoted part", "\n\ndaemon.\"interval\" = 5\n", []string{
			`p.toml:3:1: daemon.interval: want a duration such as "30s", got an integer`,
		}},
		{"quoted key in a table", "[daemon]\ndry_run = true\n  \"interval\" = 5\n'colour' = 1\n", []string{
			`p.toml:3:3: daemon.interval: want a duration such as "30s", got an integer`,
			`p.toml:4:1: daemon.colour: unknown key`,
		}},
		{"escaped quoted key", "[daemon]\n\"col\\u006Fur\" = 1\n", []string{
			`p.toml:2:1: daemon.colour: unknown key`,
		}},
		{"quoted key defined twice", "[daemon]\ninterval = \"2s\"\n\"interval\" = \"3s\"\n", []string{
			`p.toml:3:1: daemon.interval: Key 'daemon.interval' has already been defined.`,
		}},
		{"table name without ]", "# policy\n\n[daemon\ninterval = \"2s\"\n", []string{
			`p.toml:3:8: expected '.' or ']' to end table name, but got '\n' instead`,
		}},
		{"history tiers", "[history]\nresolution = [\"1h/6h\", \"30m/14d\", \"1m/1d\"]\n", []string{
			`p.toml:2:15: history.resolution[0]: 1h/6h holds 6 points; want 12 to 4096 (fewer give no trend, more cost memory)`,
			`p.toml:2:24: history.resolution[1]: 30m/14d must be coarser and longer than 1h/6h before it`,
			`p.toml:2:35: history.resolution[2]: 1m/1d must be coarser and longer than 30m/14d before it`,
		}},
		{"every error at once", "[daemon]\ninterval = \"1\"\nbogus = 1\n" + strings.Replace(ruleHead, "< 192M", "< 300M", 1) + "[[rule.level.action]]\ntype = \"kill\"\n", []string{
			`p.toml:2:1: daemon.interval: duration "1": want a number with a unit, for example "30s", "2m", "500ms" or "7d"`,
			`p.toml:3:1: daemon.bogus: unknown key`,
			`p.toml:11:13: rule[0].level[0].exit.all[0]: exit threshold 300M is not below enter threshold 256M; the level would flap`,
			`p.toml:13:1: rule[0].level[0].action[0].type: unknown action "kill" (want event, reclaim, vfs_cache_pressure, unit_property, exec or drop_caches)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.toml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s\ngot %+v", tt.doc, p)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("document:\n%s\ngot:\n%s\nwant:\n%s", tt.doc, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if p != nil {
				t.Errorf("Parse returned a policy along with errors")
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	p, err := Parse("p.toml", []byte(ruleHead))
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "p.toml" || len(p.Rules) != 1 || p.Node != nil {
		t.Fatalf("got %+v", p)
	}
	l := p.Rules[0].Levels[0]
	if l.Dwell != DefaultDwell || l.Cooldown != DefaultCooldown || p.Daemon.Interval != DefaultInterval {
		t.Errorf("defaults not applied: %+v %+v", l, p.Daemon)
	}
	if l.Enter.All[0].At != (Origin{"p.toml", 7}) || p.Rules[0].At != (Origin{"p.toml", 1}) {
		t.Errorf("origins: %v %v", l.Enter.All[0].At, p.Rules[0].At)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Col: 7, Key: "k", Msg: "m"}, "f:3:7: k: m"},
		{Error{File: "f", Line: 3, Key: "k", Msg: "m"}, "f:3: k: m"},
		{Error{File: "f", Msg: "m"}, "f: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.e, got, tt.want)
		}
	}
	es := Errors{{File: "a", Line: 1, Msg: "x"}, {File: "a", Line: 2, Msg: "y"}}
	if got := es.Error(); got != "a:1: x\na:2: y" {
		t.Errorf("Errors.Error() = %q", got)
	}
}

// tooManyLevels is a rule with nine well-ordered levels.
func tooManyLevels() string {
	s := "[[rule]]\nname = \"pods\"\nunits = [\"*.slice\"]\n"
	for i := 1; i <= 9; i++ {
		s += fmt.Sprintf("[[rule.level]]\nname = \"l%d\"\nenter.all = [\"slab_reclaimable >= %dM\"]\nexit.all = [\"slab_reclaimable < %dM\"]\n", i, 100*i, 100*i-50)
	}
	return s
}
