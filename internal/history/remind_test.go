package history

import (
	"testing"
	"time"
)

func TestReminderSequences(t *testing.T) {
	h := time.Hour
	day := 24 * h
	grow := func(in time.Duration) Observation { return Observation{Growing: true, In: in, HasIn: in >= 0} }
	noLimit := Observation{Growing: true}
	quiet := Observation{}
	type step struct {
		at   time.Duration
		o    Observation
		want Reason
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"steady leak: first, then daily, nothing between", []step{
			{0, grow(30 * day), ReasonFirst},
			{h, grow(30*day - h), ReasonNone},
			{23 * h, grow(29 * day), ReasonNone},
			{day, grow(29 * day), ReasonDaily},
			{day + time.Minute, grow(29 * day), ReasonNone},
			{2 * day, grow(28 * day), ReasonDaily},
		}},
		{"forecast halves: sooner than daily", []step{
			{0, grow(20 * h), ReasonFirst},
			{2 * h, grow(12 * h), ReasonNone},
			{3 * h, grow(10 * h), ReasonCloser},
			{3*h + 30*time.Minute, grow(4 * h), ReasonNone}, // within MinGap
			{4 * h, grow(4 * h), ReasonCloser},
			{5 * h, grow(3 * h), ReasonNone},
		}},
		{"forecast appears where there was none", []step{
			{0, noLimit, ReasonFirst},
			{2 * h, grow(5 * day), ReasonCloser},
			{3 * h, grow(5 * day), ReasonNone},
		}},
		{"reached limit does not fire every tick", []step{
			{0, grow(2 * h), ReasonFirst},
			{2 * h, grow(0), ReasonCloser},
			{4 * h, grow(0), ReasonNone},
			{26 * h, grow(0), ReasonDaily},
		}},
		{"stops after an hour quiet, then first again", []step{
			{0, grow(10 * day), ReasonFirst},
			{h, quiet, ReasonNone},
			{h + 30*time.Minute, grow(10 * day), ReasonNone}, // back before it cleared
			{2 * h, quiet, ReasonNone},
			{3 * h, quiet, ReasonStopped},
			{4 * h, quiet, ReasonNone},
			{5 * h, grow(9 * day), ReasonFirst},
		}},
		{"never growing never fires", []step{
			{0, quiet, ReasonNone},
			{10 * day, quiet, ReasonNone},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Reminder
			var p ReminderPolicy
			for i, s := range tc.steps {
				var got Reason
				r, got = p.Step(r, s.o, t0.Add(s.at))
				if got != s.want {
					t.Fatalf("step %d at +%v: %v, want %v (state %+v)", i, s.at, got, s.want, r)
				}
			}
		})
	}
}

func TestReminderCustomPolicy(t *testing.T) {
	p := ReminderPolicy{Every: time.Hour, MinGap: time.Minute, ClearAfter: time.Minute}
	r, why := p.Step(Reminder{}, Observation{Growing: true}, t0)
	if why != ReasonFirst {
		t.Fatal(why)
	}
	if _, why = p.Step(r, Observation{Growing: true}, t0.Add(time.Hour)); why != ReasonDaily {
		t.Errorf("hourly policy after an hour: %v", why)
	}
}
