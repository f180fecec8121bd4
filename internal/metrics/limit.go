package metrics

import (
	"net"
	"sync"
)

// limitListener hands out at most cap(slots) connections at a time. A
// connection beyond that is accepted and closed at once rather than left
// in the kernel's backlog: a scraper sees a closed connection immediately
// instead of a hang until its own timeout, and the backlog cannot be used
// to queue work for later.
type limitListener struct {
	net.Listener
	slots chan struct{}
	// refused is fired the first time a connection is turned away.
	refused     func(limit int)
	refusedOnce sync.Once
}

func newLimitListener(ln net.Listener, limit int, refused func(int)) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, limit), refused: refused}
}

// Accept returns the next connection for which a slot is free; it returns
// only the underlying listener's errors.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		// Reported before the close, so whoever sees a connection refused
		// can count on the report having been made.
		if l.refused != nil {
			l.refusedOnce.Do(func() { l.refused(cap(l.slots)) })
		}
		c.Close()
	}
}

// limitConn gives its slot back on the first Close; net/http may close a
// connection more than once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
