package psi

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller waits on many triggers through one epoll instance. Each trigger is
// registered once, so a wait costs what is ready, not what is watched:
// poll(2) on every trigger set up and tore down one wait queue entry per
// trigger on every call, and with hundreds of cgroups that cost more than
// sampling them. Add, Remove and Wait belong to one goroutine; Wake may be
// called from any.
type Poller struct {
	epfd, wakefd int
	byFD         map[int32]*Trigger
	events       []unix.EpollEvent

	mu     sync.Mutex // guards closed against Wake after Close
	closed bool
}

// NewPoller returns a Poller with nothing to wait on yet.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	return &Poller{epfd: epfd, wakefd: wakefd, byFD: map[int32]*Trigger{}, events: make([]unix.EpollEvent, 64)}, nil
}

// Add starts waiting on t.
func (p *Poller) Add(t *Trigger) error {
	if t.fd < 0 {
		return errors.New("add a closed trigger")
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, t.fd, &unix.EpollEvent{Events: unix.EPOLLPRI, Fd: int32(t.fd)}); err != nil {
		return fmt.Errorf("epoll_ctl add %s: %w", t.Path, err)
	}
	p.byFD[int32(t.fd)] = t
	return nil
}

// Remove stops waiting on t; call it before closing t.
func (p *Poller) Remove(t *Trigger) {
	if t.fd < 0 {
		return
	}
	// A closed descriptor leaves the epoll set by itself; an error here
	// changes nothing.
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, t.fd, nil)
	delete(p.byFD, int32(t.fd))
}

// Len is the number of triggers waited on.
func (p *Poller) Len() int { return len(p.byFD) }

// Wake makes a Wait in progress (or the next one) return at once, with no
// events: to change the set, or to stop. Safe from any goroutine.
func (p *Poller) Wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	var one = [8]byte{1}
	_, _ = unix.Write(p.wakefd, one[:]) // EAGAIN: a wake-up is pending already
}

// Wait blocks until a trigger fires or goes, or Wake is called, and returns
// what happened to the triggers (nothing after a Wake alone).
func (p *Poller) Wait() ([]Event, error) {
	for {
		n, err := unix.EpollWait(p.epfd, p.events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("epoll_wait on PSI triggers: %w", err)
		}
		var evs []Event
		for _, ev := range p.events[:n] {
			if ev.Fd == int32(p.wakefd) {
				var buf [8]byte
				_, _ = unix.Read(p.wakefd, buf[:])
				continue
			}
			t := p.byFD[ev.Fd]
			if t == nil {
				continue // removed since the kernel queued it
			}
			evs = append(evs, Event{
				Trigger: t,
				Fired:   ev.Events&unix.EPOLLPRI != 0,
				Gone:    ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0,
			})
		}
		return evs, nil
	}
}

// Close releases the epoll instance; the triggers stay open.
func (p *Poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	unix.Close(p.wakefd)
	return unix.Close(p.epfd)
}
