package paths

import "testing"

func TestUnderKeepsHostLayout(t *testing.T) {
	r := Under("/fx")
	for got, want := range map[string]string{
		r.Cgroup: "/fx/sys/fs/cgroup", r.Proc: "/fx/proc", r.Etc: "/fx/etc",
		r.Kubelet: "/fx/var/lib/kubelet", r.Log: "/fx/var/log", r.Run: "/fx/run",
		r.Lib: "/fx/var/lib/memrelief", r.Usr: "/fx/usr",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if h := Host(); h.Cgroup != "/sys/fs/cgroup" || h.Proc != "/proc" {
		t.Errorf("Host() = %+v", h)
	}
}
