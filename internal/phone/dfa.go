package phone

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// maxDFAStates bounds the subset construction; libphonenumber's patterns
// need a few hundred states at most, so a pattern that needs more is left to
// the regexp engine (the caller falls back to phonenumbers).
const maxDFAStates = 20000

// errUnsupportedPattern marks a pattern the DFA cannot represent exactly
// (word boundaries, too many states). Callers fall back to phonenumbers.
var errUnsupportedPattern = errors.New("pattern not supported by the digit DFA")

// dfa is a deterministic automaton over the ten ASCII digits, built from a
// Go regular expression by subset construction of its compiled program. It
// answers exactly what regexp.MatchString would for "^(?:p)$" (full) and
// "^(?:p)" (prefix) on strings of digits, without backtracking or
// allocation: each digit is one table lookup.
//
// Anchors are supported the way libphonenumber uses them: "$" (end of text)
// may end an alternative, as in the NANP national prefixes "([2-9]\d{6})$|1";
// "^" holds only at the start. Word boundaries are refused.
type dfa struct {
	next []([10]int32) // next[s][d]: state after digit d, or -1 (dead)
	// acceptNow[s]: a match ends here whatever follows.
	acceptNow []bool
	// acceptAtEnd[s]: a match ends here only if the input ends here ("$").
	acceptAtEnd []bool
}

// compileDFA builds the automaton for pattern (Perl syntax, as regexp.Compile).
func compileDFA(pattern string) (*dfa, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("parse pattern %q: %w", pattern, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("compile pattern %q: %w", pattern, err)
	}
	b := dfaBuilder{prog: prog, index: map[string]int32{}, d: &dfa{}}
	start, err := b.state([]uint32{uint32(prog.Start)}, true)
	if err != nil {
		return nil, err
	}
	if start < 0 {
		// A pattern that matches nothing still gets a (dead) state 0, so
		// that the walkers need no special case.
		b.d.next = append(b.d.next, [10]int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1})
		b.d.acceptNow = append(b.d.acceptNow, false)
		b.d.acceptAtEnd = append(b.d.acceptAtEnd, false)
	}
	for s := 0; s < len(b.sets); s++ {
		for digit := range 10 {
			var seeds []uint32
			for _, pc := range b.sets[s] {
				inst := &prog.Inst[pc]
				if inst.MatchRune(rune('0' + digit)) {
					seeds = append(seeds, inst.Out)
				}
			}
			to := int32(-1)
			if len(seeds) > 0 {
				if to, err = b.state(seeds, false); err != nil {
					return nil, err
				}
			}
			b.d.next[s][digit] = to
		}
	}
	return b.d, nil
}

type dfaBuilder struct {
	prog  *syntax.Prog
	index map[string]int32
	sets  [][]uint32 // consuming instructions of each state
	d     *dfa
}

// state returns the state for the epsilon closure of seeds, creating it if
// new, or -1 when the closure can neither consume nor accept.
func (b *dfaBuilder) state(seeds []uint32, atStart bool) (int32, error) {
	var (
		consuming []uint32
		now, end  bool
		seen      = map[[2]uint32]bool{} // (pc, end-only mode)
		stack     [][2]uint32
	)
	for _, s := range seeds {
		stack = append(stack, [2]uint32{s, 0})
	}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[top] {
			continue
		}
		seen[top] = true
		pc, endOnly := top[0], top[1] == 1
		inst := &b.prog.Inst[pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, [2]uint32{inst.Out, top[1]}, [2]uint32{inst.Arg, top[1]})
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, [2]uint32{inst.Out, top[1]})
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(inst.Arg)
			if op&^(syntax.EmptyBeginText|syntax.EmptyBeginLine|syntax.EmptyEndText|syntax.EmptyEndLine) != 0 {
				return 0, errUnsupportedPattern
			}
			if op&(syntax.EmptyBeginText|syntax.EmptyBeginLine) != 0 && !atStart {
				continue // digits contain no newline: "^" holds only at 0
			}
			mode := top[1]
			if op&(syntax.EmptyEndText|syntax.EmptyEndLine) != 0 {
				mode = 1
			}
			stack = append(stack, [2]uint32{inst.Out, mode})
		case syntax.InstMatch:
			if endOnly {
				end = true
			} else {
				now = true
			}
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if !endOnly { // nothing can be consumed after the end of text
				consuming = append(consuming, pc)
			}
		case syntax.InstFail:
		}
	}
	if len(consuming) == 0 && !now && !end {
		return -1, nil
	}
	slices.Sort(consuming)
	consuming = slices.Compact(consuming)
	var key strings.Builder
	key.WriteString(strconv.FormatBool(now))
	key.WriteString(strconv.FormatBool(end))
	for _, pc := range consuming {
		key.WriteByte(',')
		key.WriteString(strconv.FormatUint(uint64(pc), 10))
	}
	if id, ok := b.index[key.String()]; ok {
		return id, nil
	}
	if len(b.sets) >= maxDFAStates {
		return 0, errUnsupportedPattern
	}
	id := int32(len(b.sets))
	b.index[key.String()] = id
	b.sets = append(b.sets, consuming)
	b.d.next = append(b.d.next, [10]int32{})
	b.d.acceptNow = append(b.d.acceptNow, now)
	b.d.acceptAtEnd = append(b.d.acceptAtEnd, end)
	return id, nil
}

// full reports whether the whole of digits matches, as "^(?:p)$" would.
// digits must hold only '0'…'9'.
func (d *dfa) full(digits string) bool {
	s := int32(0)
	for i := 0; i < len(digits); i++ {
		s = d.next[s][digits[i]-'0']
		if s < 0 {
			return false
		}
	}
	return d.acceptNow[s] || d.acceptAtEnd[s]
}

// prefix reports whether the pattern matches some prefix of digits: empty
// when the empty prefix matches, longer when a non-empty prefix does.
func (d *dfa) prefix(digits string) (empty, longer bool) {
	s := int32(0)
	empty = d.acceptNow[0] || (len(digits) == 0 && d.acceptAtEnd[0])
	for i := 0; i < len(digits); i++ {
		s = d.next[s][digits[i]-'0']
		if s < 0 {
			return empty, false
		}
		if d.acceptNow[s] || (i == len(digits)-1 && d.acceptAtEnd[s]) {
			return empty, true
		}
	}
	return empty, false
}
