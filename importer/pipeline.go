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
// and hands the tuples back in file order, as an io.Reader of a binary COPY
// stream. At most 2×workers+2 batches exist at once, which bounds memory
// whatever the size of the file.
type pipeline struct {
	ctx     context.Context
	src     rowSource
	newConv func() *converter
	workers int
	// onBatch is called, in order, for each batch once its tuples have been
	// written to the COPY stream.
	onBatch func(*batch)

	free chan *batch
	in   chan *batch
	out  chan *batch
	done chan struct{}
	wg   sync.WaitGroup

	readErr error // set by the reader before it closes in

	// consumer side (the COPY reader)
	pending map[int]*batch
	nextSeq int
	cur     []byte
	curB    *batch
	started bool
	ended   bool
	inOpen  bool
}

var errPipelineStopped = errors.New("import pipeline stopped")

// copyHeader opens a binary COPY stream: signature, flags, extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends it: a tuple of -1 fields.
var copyTrailer = []byte{0xff, 0xff}

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
	p.inOpen = true
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

// stop ends the goroutines (whether or not the stream was read to the end)
// and waits for them.
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

// Read is the COPY stream: header, tuples in file order, trailer. It
// returns the reader's error, if any, instead of the trailer, so that a
// file that breaks half way never commits.
func (p *pipeline) Read(buf []byte) (int, error) {
	select {
	case <-p.done:
		// pgconn may call again after CopyFrom gave up on a broken
		// connection; the import is over by then.
		return 0, errPipelineStopped
	default:
	}
	if !p.started {
		p.started = true
		p.cur = copyHeader
	}
	for len(p.cur) == 0 {
		if p.curB != nil {
			p.onBatch(p.curB)
			p.curB.rows = p.curB.rows[:0]
			p.free <- p.curB // never blocks: the channel holds every batch
			p.curB = nil
		}
		if p.ended {
			return 0, io.EOF
		}
		b, err := p.nextBatch()
		if err != nil {
			return 0, err
		}
		if b == nil {
			if p.readErr != nil {
				return 0, p.readErr
			}
			p.ended = true
			p.cur = copyTrailer
			continue
		}
		p.curB, p.cur = b, b.buf
	}
	n := copy(buf, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// nextBatch returns the batch with the next sequence number, nil when there
// are no more.
func (p *pipeline) nextBatch() (*batch, error) {
	for {
		if b, ok := p.pending[p.nextSeq]; ok {
			delete(p.pending, p.nextSeq)
			p.nextSeq++
			return b, nil
		}
		if !p.inOpen {
			return nil, nil
		}
		select {
		case b, ok := <-p.out:
			if !ok {
				p.inOpen = false
				continue
			}
			p.pending[b.seq] = b
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		}
	}
}

// compareRowErrors orders errors by line, column and reason.
func compareRowErrors(a, b RowError) int {
	return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Column, b.Column), strings.Compare(a.Reason, b.Reason))
}
