package dataplane

import (
	"sync"
	"time"
)

// h1Pool keeps the idle keep-alive connections of an h1Client per target
// address, oldest first, at most maxIdle each. A timer (no goroutine while
// it waits) closes those idle for idleTimeout.
type h1Pool struct {
	maxIdle     int           // 0 keeps none
	idleTimeout time.Duration // 0: no limit, as in http.Transport

	mu      sync.Mutex
	idle    map[string][]*h1Conn
	janitor *time.Timer // nil until a connection is first put back
	armed   bool        // the janitor will run
}

// get takes the newest idle connection to addr and says how long it sat
// idle; nil if there is none. Expired connections are closed.
func (p *h1Pool) get(addr string) (*h1Conn, time.Duration) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[addr]
	n := len(list)
	if n == 0 {
		return nil, 0
	}
	pc := list[n-1]
	idleFor := now.Sub(pc.idleSince)
	if p.expired(idleFor) { // the newest is expired: so are the others
		closeAll(list)
		p.idle[addr] = list[:0]
		return nil, 0
	}
	list[n-1] = nil
	p.idle[addr] = list[:n-1]
	return pc, idleFor
}

// put makes pc idle, or closes it if addr has maxIdle idle already.
func (p *h1Pool) put(pc *h1Conn) {
	p.mu.Lock()
	list := p.idle[pc.addr]
	if len(list) >= p.maxIdle {
		p.mu.Unlock()
		pc.close()
		return
	}
	if p.idle == nil {
		p.idle = make(map[string][]*h1Conn)
	}
	pc.reused = true
	pc.idleSince = time.Now()
	p.idle[pc.addr] = append(list, pc)
	if !p.armed && p.idleTimeout > 0 {
		p.armed = true
		p.arm(p.idleTimeout)
	}
	p.mu.Unlock()
}

func (p *h1Pool) expired(idleFor time.Duration) bool {
	return p.idleTimeout > 0 && idleFor >= p.idleTimeout
}

// arm schedules the janitor; p.mu is held.
func (p *h1Pool) arm(d time.Duration) {
	if p.janitor == nil {
		p.janitor = time.AfterFunc(d, p.sweep)
		return
	}
	p.janitor.Reset(d)
}

// sweep closes the expired connections and schedules itself for the next
// expiry while any connection is idle.
func (p *h1Pool) sweep() {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	next := time.Duration(-1)
	for addr, list := range p.idle {
		i := 0
		for i < len(list) && p.expired(now.Sub(list[i].idleSince)) {
			i++
		}
		closeAll(list[:i])
		if i == len(list) {
			delete(p.idle, addr)
			continue
		}
		n := copy(list, list[i:])
		clear(list[n:])
		p.idle[addr] = list[:n]
		if left := p.idleTimeout - now.Sub(list[0].idleSince); next < 0 || left < next {
			next = left
		}
	}
	p.armed = next >= 0
	if p.armed {
		p.arm(next)
	}
}

// closeIdle closes every idle connection; the pool stays usable.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, list := range p.idle {
		closeAll(list)
	}
	clear(p.idle)
}

// closeAll closes the connections of list and clears it.
func closeAll(list []*h1Conn) {
	for i, pc := range list {
		pc.close()
		list[i] = nil
	}
}
