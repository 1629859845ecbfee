// Package throttle paces sends per WhatsApp sender number so that every
// herald process on one database together stays under the number's rate.
//
// The Cloud API caps each business phone number (80 msg/s by default, 1,000
// after Meta's upgrade) and answers 130429 when the cap is exceeded.
//
// # One schedule per number
//
// A number's rate is a schedule of slots, one message each, spaced
// 1 / ((rate_per_second × factor − 1) × (1 − Headroom)) apart (the one
// message a second is for a second's edges: it can hold one slot more than
// its length over the spacing, which at 80/s is all Headroom leaves), kept
// in one row of
// throttle_senders (migration 0011). next_slot is the first instant no
// process holds yet. A process that wants n messages runs one statement
// (leaseSQL) that takes the n slots from next_slot on, or from Lead after
// now if the schedule has fallen behind, and moves next_slot past them. The
// row lock orders concurrent leases, so no slot is ever handed out twice,
// whichever process asks: slots of different processes never overlap, and
// together they never exceed the rate. It is a token bucket of burst one in
// its virtual-scheduling form (GCRA), kept in the database instead of in a
// process.
//
// A process takes slots only when it has messages to send, so whoever has
// work gets the whole rate, and an idle process holds none. The first
// design split the rate into equal shares among live processes; a process
// between jobs kept its share for seconds, and three processes reached 84 %
// of the rate (docs/BENCHMARKS.md, "Campaign engine"). Sharing by schedule
// also needs no membership: no heartbeats, no admission, nothing to expire
// when a process dies (its unused slots, a second at most, just pass).
//
// rate_per_second and status are read on every lease, so a new rate
// applies at the next lease and a stopped number grants nothing from then
// on.
//
// # Slots on this process's clock
//
// The lease returns next_slot and the server's clock right after the
// update; the process places the slots on its own clock through its offset
// to the server's (offsetFilter: the lowest reading of the last seconds,
// since a slow answer would place the slots late, onto the next holder's).
// Processes on different hosts therefore need no synchronised clocks.
//
// # Departures
//
// WaitN returns Lead before the first slot; the dispatcher claims its sends
// in between and lets each go through Depart, which waits for its slot.
// Timers fire late now and then (under a millisecond mostly, 5 ms one time
// in a thousand on a quiet 2-core host, far more on a saturated one), so a
// message often leaves a little after its slot. Leaving late is harmless
// while it does not put more messages into a second than that second's
// slots: each process keeps a ledger of the slots it holds and the messages
// it let leave over the last second, and a message leaves only while this
// process's departures in the last second are fewer than its slots in that
// second and Grace before it. Summed over processes, whose slots are
// disjoint, no second carries more than
//
//	rate × (1 − Headroom) × (1 s + Grace)
//
// messages, plus one per process. A message the rule holds back takes one
// more slot (the messages held back meanwhile share one lease) and leaves
// at that one. A process's departures for a number also pass a local token
// bucket (golang.org/x/time/rate) a little faster than the rate with a
// burst of Grace's worth, so that messages that fell behind catch up one at
// a time, not in a group.
//
// Headroom (0.8 % by default) pays for Grace (a third of it by default)
// and for what herald cannot see: the time from Depart to the Cloud API
// counting the message, which varies with the network, the host and the
// process's collector. At 1,000/s that leaves the way to the Cloud API
// about 5 ms of bunching in a second. One number at 1,000/s from three
// worker processes sharing two cores with Postgres and the simulator
// reached 99.0–99.1 % of the rate with no 130429 in most one-minute runs;
// in a busy minute a few answers 130429 came, and the decreases (see
// below) left 98.3–98.7 %. At the earlier default of 1.5 % it never passed
// 98.4 %, and
// drew 130429 too when the host was busy (docs/BENCHMARKS.md, "Campaign
// engine"). Against a real network, raise it (`herald worker --headroom`)
// if a number draws 130429 at its rate. Inbound messages also count
// against the cap (reference §5.1); if they matter, 130429 and the AIMD
// factor take care of them.
//
// # AIMD on 130429
//
// SlowDown multiplies the number's factor by one less the share of this
// process's messages to the number in the last second that drew a 130429,
// kept between DecreaseFactor (0.5) and CalmDecreaseFactor (0.9), and
// floored at MinFactor. A few messages bunched on their way draw a handful
// of 130429s in a second of hundreds of messages: the mild decrease. A cap
// below the rate refuses the share by which the rate exceeds it, and the
// decrease takes the rate to about the cap. (The earlier rule halved the
// factor on any 130429 within 30 s of the last decrease: with the host busy,
// bunching drew a 130429 every few seconds, and one number at 1,000/s fell
// to 89 % of its rate in a minute; docs/BENCHMARKS.md, "Campaign engine".)
// Every whole second without a decrease adds IncreaseStep back, up to 1.
// The factor is
// shared through throttle_senders, not kept per process: the cap belongs to
// the number, so one process's 130429 slows every process's next lease.
// The table stores the factor right after the last decrease and its time,
// by the server's clock; each lease adds the recovery since, so nothing
// writes while the factor climbs back. A decrease applies only if the last
// one is at least a second old, so a burst of 130429s from one overload,
// across processes, counts once. Slots already taken keep their spacing.
package throttle
