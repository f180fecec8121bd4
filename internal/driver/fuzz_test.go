package driver

import (
	"testing"
)

// The fuzz targets check that no input panics and that a successful parse
// never returns a half-made answer: a driver always comes with the line that
// set it, and only the two real driver names come out.

func validDriver(d Driver) bool { return d == Unknown || d == Systemd || d == Cgroupfs }

func FuzzParseKubeletConfig(f *testing.F) {
	f.Add([]byte("kind: KubeletConfiguration\ncgroupDriver: systemd\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseKubeletConfig(data)
		if err != nil {
			return
		}
		if !validDriver(cfg.driver) || (cfg.driver != Unknown) != (cfg.driverLine > 0) {
			t.Fatalf("driver %q at line %d", cfg.driver, cfg.driverLine)
		}
	})
}

func FuzzParseContainerdConfig(f *testing.F) {
	f.Add([]byte("version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\nSystemdCgroup = true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := parseContainerdConfig(data)
		if err != nil {
			return
		}
		if _, ok := criRuntimeTable[cf.version]; !ok {
			t.Fatalf("accepted version %d", cf.version)
		}
		for name, b := range cf.systemdCgroup {
			if b.line < 0 {
				t.Fatalf("runtime %q: line %d", name, b.line)
			}
		}
	})
}

func FuzzParseCRIOConfig(f *testing.F) {
	f.Add([]byte("[crio.runtime]\ncgroup_manager = \"cgroupfs\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := parseCRIOConfig(data)
		if err != nil {
			return
		}
		if !validDriver(cf.manager) || cf.line < 0 {
			t.Fatalf("manager %q at line %d", cf.manager, cf.line)
		}
	})
}

func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"exec-opts": ["native.cgroupdriver=systemd"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		df, err := parseDockerConfig(data)
		if err != nil {
			return
		}
		if !validDriver(df.driver) || (df.driver != Unknown && df.line <= 0) {
			t.Fatalf("driver %q at line %d", df.driver, df.line)
		}
	})
}

func FuzzTomlKeyLine(f *testing.F) {
	f.Add([]byte("[a.'b.c']\nk = 1\n"), "a", "b.c", "k")
	f.Fuzz(func(t *testing.T, data []byte, a, b, c string) {
		n := tomlKeyLine(data, []string{a, b, c})
		if n < 0 || n > len(data)+1 {
			t.Fatalf("line %d for %d bytes", n, len(data))
		}
	})
}
