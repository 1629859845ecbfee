package campaigns

import (
	"sync"
	"time"
)

// requesters runs a chunk's requests on goroutines that outlive the chunk.
// A request needs a deep stack (HTTP client, TLS, JSON): a goroutine started
// per request grew and copied its stack each time, about a twentieth of a
// worker's CPU at full speed. A goroutine left idle for requesterIdle ends.
type requesters struct {
	tasks chan func()
}

const requesterIdle = 5 * time.Second

var sendPool = &requesters{tasks: make(chan func())}

// do runs f on an idle requester, or on a new one if none is idle.
func (p *requesters) do(f func()) {
	select {
	case p.tasks <- f:
	default:
		go p.loop(f)
	}
}

func (p *requesters) loop(f func()) {
	idle := time.NewTimer(requesterIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(requesterIdle)
		select {
		case f = <-p.tasks:
		case <-idle.C:
			return
		}
	}
}

// runAll runs fs concurrently on requesters and waits for them.
func (p *requesters) runAll(n int, f func(i int)) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		p.do(func() {
			defer wg.Done()
			f(i)
		})
	}
	wg.Wait()
}
