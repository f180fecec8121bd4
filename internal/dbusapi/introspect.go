package dbusapi

import (
	"path"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

func args(dir string, nameTypes ...string) []introspect.Arg {
	out := make([]introspect.Arg, 0, len(nameTypes)/2)
	for i := 0; i+1 < len(nameTypes); i += 2 {
		out = append(out, introspect.Arg{Name: nameTypes[i], Type: nameTypes[i+1], Direction: dir})
	}
	return out
}

func roProp(name, typ string, emits string) introspect.Property {
	return introspect.Property{Name: name, Type: typ, Access: "read", Annotations: []introspect.Annotation{
		{Name: "org.freedesktop.DBus.Property.EmitsChangedSignal", Value: emits}}}
}

// memreliefInterface describes the API. Signal arguments: the cgroup ("/"
// for the node) and unit come first so match rules can filter on them
// (arg0='/kubepods.slice/...'); fields holds every journal field of the
// event under its journal name (LEVEL, RECLAIMED_BYTES, ...).
func memreliefInterface() introspect.Interface {
	return introspect.Interface{
		Name: Interface,
		Methods: []introspect.Method{
			{Name: "GetStatus", Args: args("out", "status", "s", "daemon", "a{sv}", "cgroups", "a"+CgroupStateSignature)},
			{Name: "GetRecentEvents", Args: args("out", "events", "a"+RecentEventSignature)},
			{Name: "GetTrends", Args: args("out", "trends", "a"+TrendSignature)},
			{Name: "GetHistory", Args: append(args("in", "cgroup", "s", "since_usec", "t"),
				args("out", "step_usec", "t", "components", "as", "series", "a"+HistorySeriesSignature)...)},
			{Name: "Reload"},
		},
		Signals: []introspect.Signal{
			{Name: "LevelChanged", Args: args("", "cgroup", "s", "unit", "s", "rule", "s", "level", "s", "previous_level", "s", "message", "s", "fields", "a{ss}")},
			{Name: "ActionTaken", Args: args("", "cgroup", "s", "unit", "s", "rule", "s", "action", "s", "result", "s", "message", "s", "fields", "a{ss}")},
		},
		Properties: []introspect.Property{
			// Fixed for the daemon's lifetime.
			roProp("Mode", "s", "const"),
			roProp("CgroupVersion", "u", "const"),
			roProp("Driver", "s", "const"),
			// Follow reloads.
			roProp("PolicyFile", "s", "true"),
			roProp("DryRun", "b", "true"),
		},
	}
}

// objectXML is the introspection data of ObjectPath.
func objectXML() string {
	return string(introspect.NewIntrospectable(&introspect.Node{
		Name:       string(ObjectPath),
		Interfaces: []introspect.Interface{introspect.IntrospectData, prop.IntrospectData, memreliefInterface()},
	}))
}

type parent struct {
	path dbus.ObjectPath
	xml  string
}

// parents lists "/", "/org" and "/org/memrelief", each introspecting to
// its one child on the way to ObjectPath.
func parents() []parent {
	var out []parent
	p := string(ObjectPath)
	for p != "/" {
		dir, child := path.Dir(p), path.Base(p)
		out = append(out, parent{dbus.ObjectPath(dir), string(introspect.NewIntrospectable(&introspect.Node{
			Name:       dir,
			Interfaces: []introspect.Interface{introspect.IntrospectData},
			Children:   []introspect.Node{{Name: child}},
		}))})
		p = dir
	}
	return out
}

// Introspection returns the XML ObjectPath answers Introspect with.
func Introspection() string { return objectXML() }
