// Package throttle paces sends per WhatsApp sender number so that every
// herald process on one database together stays under the number's rate.
//
// The Cloud API caps each business phone number (80 msg/s by default, 1,000
// after Meta's upgrade) and answers 130429 when the cap is exceeded. Each
// Limiter paces locally with a golang.org/x/time/rate.Limiter per number and
// learns its share of the number's rate through two tables (migration 0003).
//
// # Shares
//
// A process is a member for a number while it wants to send for it: a Wait
// for the number is in progress or returned within MemberTTL. Every
// Heartbeat each member runs one statement that upserts its throttle_members
// rows (seen_at = now()) for all the numbers it wants and deletes its rows
// for the others, then, in the same round trip, one query that reads each
// number's rate_per_second and status, the shared AIMD factor and the live
// members (seen within MemberTTL). Its local rate is
//
//	rate_per_second × factor / live members × (1 − Headroom)
//
// A rate change in sender_numbers therefore applies within a Heartbeat.
//
// Locally, Waits take slots from the token bucket (Burst 1 by default, so
// an idle member does not save up a bunch). Several Waits may hold slots up
// to 25 ms ahead, so a wake-up a few milliseconds late (common on a busy
// host, and longer than the 1 ms between messages at 1,000/s) does not lose
// its slot; the messages that were due leave together instead. A per-member
// log of the last second's sends then holds a message back while that second
// already carries the member's rate, so those catch-up groups never put more
// than the rate into a one-second window, and the members' sum stays under
// the number's rate. Headroom (1 % by default) is left for what herald does
// not see: the delays between a message leaving (Depart) and Meta counting
// it, a process paused by its host or its collector, network jitter. Depart
// turns most of it into a guard: a member's departures fit its whole share
// into any window of a second plus 8 ms, so messages held up on their way
// by up to 8 ms still fit the share into every second as Meta counts them.
// Measured here, such delays were under 3 ms for 999 messages in 1,000, with
// rare pauses of 10 to 45 ms; 0.5 % left a 130429 about every 20 s at
// 1,000/s (docs/BENCHMARKS.md, "Campaign engine"). Inbound messages also
// count against the cap (reference §5.1); if they matter, 130429 and the
// AIMD factor take care of them.
//
// # Joining without overshoot
//
// Existing members learn of a new member only at their next heartbeat, so a
// member that started sending on joining would push the sum above the rate
// for up to a Heartbeat. A new member therefore sends nothing until every
// live member has provably counted it:
//
//  1. Its first heartbeat inserts its row with admit_after NULL.
//  2. Its next heartbeat, run at once by Tick, sets admit_after = now(). That
//     transaction began after the insert committed, so admit_after is later
//     than the commit.
//  3. It is admitted when every other live member has seen_at > admit_after.
//     A member's seen_at is the start of its heartbeat transaction, and its
//     read runs later in that transaction, so that read saw the new row:
//     the member already divides by n+1.
//
// While it waits, the others already run at rate/(n+1), so the sum stays at
// or below the rate throughout; the new member starts within about two
// Heartbeats. Two members joining together each wait for the other: the one
// that cannot see the other's row yet is admitted first, and the other only
// after the first has re-read. A member seen again after its row expired
// (a long pause) is treated as joining anew, since the others stopped
// counting it. All seen_at and admit_after values come from the database
// server's clock, so process clocks do not matter here (the argument does
// assume that clock is not stepped backwards).
//
// Leaving only lowers the sum. Stop stops local sending, then deletes the
// member's rows, and the others take its share at their next heartbeat. A
// crashed member's rows stop counting after MemberTTL and are deleted by a
// later heartbeat (SKIP LOCKED, in its own transaction, so it never waits).
//
// A member must not keep sending after the others have counted it dead, for
// example while the database is unreachable. Its share is a lease: it sends
// only until MemberTTL − Heartbeat after the start of its last successful
// heartbeat, which is before the others can see its row expire.
//
// Residual excess: a member lowers its local limit a moment after its read
// (the result has to reach it), slots already taken (at most 25 ms ahead)
// keep their place, and a new member may send one Burst at once on
// admission. Each is a few messages at most, and the per-member one-second
// log keeps every member within its own share of any second. A rate lowered
// in sender_numbers applies within a Heartbeat, not at once.
//
// The price of never overshooting is a dip on every join: from the moment
// the others count the new member until it is admitted (up to about two
// Heartbeats) the number runs at n/(n+1) of its rate, and a member whose
// share falls pauses until its last second fits the new share.
//
// # AIMD on 130429
//
// SlowDown multiplies the number's factor by DecreaseFactor (floored at
// MinFactor), or by the milder CalmDecreaseFactor when the last decrease is
// more than CalmAfter old: a lone 130429 is most often a few messages
// bunched on their way, a real overload answers 130429 again; every whole
// second without a decrease adds IncreaseStep back, up to 1. The factor is shared through throttle_senders, not kept per
// process: the cap belongs to the number, so one member's 130429 means every
// member is contributing to the overload, and a per-process factor would
// leave the others at full speed (and make the decrease depend on which
// process happened to hit the error). The member that saw the error slows at
// once; the others at their next heartbeat.
//
// The table stores the factor right after the last decrease and its time;
// each member adds the recovery itself, so nothing writes while the factor
// climbs back. A decrease is written with the member's NowFunc time and
// applies in the database only if the last one is at least a second (or a
// Heartbeat, if longer) older, so a burst of 130429s from one overload,
// across members, counts once. Clock differences between processes shift
// only the recovery, by IncreaseStep per second of difference.
package throttle
