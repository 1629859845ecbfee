package importer

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
)

// batchRows is how many rows travel together through the pipeline: large
// enough to make channel operations rare, small enough to keep memory flat.
const batchRows = 512

// batch is a run of consecutive rows and, once converted, their COPY tuples.
type batch struct {
	seq    int
	rows   []rawRow
	buf    []byte
	errs   []RowError
	counts rowCounts
}

// pipeline reads rows from a source, converts them on several goroutines
// and hands them back in file order (next). At most 2×workers+2 batches
// exist at once, which bounds memory whatever the size of the file.
type pipeline struct {
	ctx     context.Context
	src     rowSource
	newConv func() *converter
	workers int

	free chan *batch
	in   chan *batch
	out  chan *batch
	done chan struct{}
	wg   sync.WaitGroup

	readErr error // set by the reader before it closes in

	// consumer side, used by one goroutine
	pending map[int]*batch
	nextSeq int
	outOpen bool
}

var errPipelineStopped = errors.New("import pipeline stopped")

func (p *pipeline) start() {
	n := 2*p.workers + 2
	p.free = make(chan *batch, n)
	for range n {
		p.free <- &batch{rows: make([]rawRow, 0, batchRows)}
	}
	p.in = make(chan *batch, p.workers)
	p.out = make(chan *batch, n)
	p.done = make(chan struct{})
	p.pending = map[int]*batch{}
	p.outOpen = true
	p.wg.Add(1)
	go p.read()
	var workers sync.WaitGroup
	for range p.workers {
		workers.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer workers.Done()
			p.convert()
		}()
	}
	go func() {
		workers.Wait()
		close(p.out)
	}()
}

// stop ends the goroutines (whether or not every batch was consumed) and
// waits for them.
func (p *pipeline) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.wg.Wait()
}

func (p *pipeline) read() {
	defer p.wg.Done()
	defer close(p.in)
	for seq := 0; ; seq++ {
		var b *batch
		select {
		case b = <-p.free:
		case <-p.done:
			return
		case <-p.ctx.Done():
			p.readErr = p.ctx.Err()
			return
		}
		b.seq, b.rows = seq, b.rows[:0]
		var eof bool
		for len(b.rows) < batchRows {
			line, cells, err := p.src.next()
			var rerr *RowError
			switch {
			case err == nil:
				b.rows = append(b.rows, rawRow{line: line, cells: cells})
				continue
			case errors.As(err, &rerr):
				b.rows = append(b.rows, rawRow{line: line, err: rerr})
				continue
			case err != io.EOF:
				p.readErr = err
			}
			eof = true
			break
		}
		if len(b.rows) > 0 {
			select {
			case p.in <- b:
			case <-p.done:
				return
			}
		}
		if eof {
			return
		}
	}
}

func (p *pipeline) convert() {
	conv := p.newConv()
	for b := range p.in {
		b.buf, b.errs, b.counts = b.buf[:0], b.errs[:0], rowCounts{}
		for _, r := range b.rows {
			b.buf = conv.convert(b.buf, r, &b.counts, &b.errs)
		}
		// Errors of one row in the order Service.Errors lists them.
		slices.SortStableFunc(b.errs, compareRowErrors)
		select {
		case p.out <- b:
		case <-p.done:
			return
		}
	}
}

// next returns the batch with the next sequence number, nil after the last
// one; then err tells whether the file was read to its end.
func (p *pipeline) next() (*batch, error) {
	select {
	case <-p.done:
		// pgconn may read again after CopyFrom gave up on a broken
		// connection; the import is over by then.
		return nil, errPipelineStopped
	default:
	}
	for {
		if b, ok := p.pending[p.nextSeq]; ok {
			delete(p.pending, p.nextSeq)
			p.nextSeq++
			return b, nil
		}
		if !p.outOpen {
			return nil, p.readErr
		}
		select {
		case b, ok := <-p.out:
			if !ok {
				p.outOpen = false
				continue
			}
			p.pending[b.seq] = b
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		}
	}
}

// release returns a batch next gave out, once its tuples have been used.
func (p *pipeline) release(b *batch) {
	b.rows = b.rows[:0]
	p.free <- b // never blocks: the channel holds every batch
}

// compareRowErrors orders errors by line, column and reason.
func compareRowErrors(a, b RowError) int {
	return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Column, b.Column), strings.Compare(a.Reason, b.Reason))
}

// copyHeader opens a binary COPY stream: signature, flags, extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends it: a tuple of -1 fields.
var copyTrailer = []byte{0xff, 0xff}

// copyStream is an io.Reader of one binary COPY stream holding every row
// of the pipeline, in file order. It returns the pipeline's read error, if
// any, instead of the trailer, so that a file that breaks half way never
// commits. onBatch sees each batch once its tuples are in the stream.
type copyStream struct {
	p       *pipeline
	onBatch func(*batch)
	cur     []byte
	curB    *batch
	started bool
	ended   bool
}

func (s *copyStream) Read(buf []byte) (int, error) {
	if !s.started {
		s.started = true
		s.cur = copyHeader
	}
	for len(s.cur) == 0 {
		if s.curB != nil {
			s.onBatch(s.curB)
			s.p.release(s.curB)
			s.curB = nil
		}
		if s.ended {
			return 0, io.EOF
		}
		b, err := s.p.next()
		if err != nil {
			return 0, err
		}
		if b == nil {
			s.ended = true
			s.cur = copyTrailer
			continue
		}
		s.curB, s.cur = b, b.buf
	}
	n := copy(buf, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// chunk is a run of rows ready to COPY: a whole binary COPY stream.
type chunk struct {
	data []byte
}

// chunker cuts the pipeline's rows into chunks of about chunkBytes, so that
// one chunk can be merged while the next is read.
type chunker struct {
	p          *pipeline
	chunkBytes int
	onBatch    func(*batch)
	free       chan *chunk
	out        chan *chunk
	err        error // set before out is closed
}

// run fills chunks until the rows end; it closes out.
func (c *chunker) run() {
	defer close(c.out)
	cur := c.newChunk()
	if cur == nil {
		return
	}
	for {
		b, err := c.p.next()
		if err != nil || b == nil {
			c.err = err
			if err == nil && len(cur.data) > len(copyHeader) {
				cur.data = append(cur.data, copyTrailer...)
				c.send(cur)
			}
			return
		}
		// Ship the chunk before it outgrows its buffer.
		if len(cur.data) > len(copyHeader) && len(cur.data)+len(b.buf)+len(copyTrailer) > cap(cur.data) {
			cur.data = append(cur.data, copyTrailer...)
			if !c.send(cur) {
				return
			}
			if cur = c.newChunk(); cur == nil {
				return
			}
		}
		cur.data = append(cur.data, b.buf...)
		c.onBatch(b)
		c.p.release(b)
	}
}

func (c *chunker) newChunk() *chunk {
	select {
	case ch := <-c.free:
		if ch.data == nil {
			ch.data = make([]byte, 0, c.chunkBytes)
		}
		ch.data = append(ch.data[:0], copyHeader...)
		return ch
	case <-c.p.done:
		c.err = errPipelineStopped
		return nil
	}
}

func (c *chunker) send(ch *chunk) bool {
	select {
	case c.out <- ch:
		return true
	case <-c.p.done:
		c.err = errPipelineStopped
		return false
	}
}
