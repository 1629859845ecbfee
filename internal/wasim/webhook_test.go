package wasim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestWebhooksSignedAndOrdered(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		mix       FailureMix
		wantKinds []string // per message, in order
		check     func(t *testing.T, wamid, to string, msgs []whatsapp.InboundMessage)
	}{
		{
			name:      "Reply",
			mix:       FailureMix{Read: 1, Reply: 1},
			wantKinds: []string{"sent", "delivered", "read", "text"},
			check: func(t *testing.T, wamid, to string, msgs []whatsapp.InboundMessage) {
				require.NotEqual(t, "STOP", msgs[0].Text.Body)
			},
		},
		{
			name:      "Click",
			mix:       FailureMix{Read: 1, Click: 1},
			wantKinds: []string{"sent", "delivered", "read", "button"},
			check: func(t *testing.T, wamid, to string, msgs []whatsapp.InboundMessage) {
				require.Equal(t, &whatsapp.ButtonReply{Payload: "STOP:" + to, Text: "Stop promotions"}, msgs[0].Button)
			},
		},
		{
			name:      "OptOut",
			mix:       FailureMix{Read: 1, OptOut: 1},
			wantKinds: []string{"sent", "delivered", "read", "text"},
			check: func(t *testing.T, wamid, to string, msgs []whatsapp.InboundMessage) {
				require.Equal(t, "STOP", msgs[0].Text.Body)
			},
		},
		{
			name:      "DeliveredNotRead",
			mix:       FailureMix{},
			wantKinds: []string{"sent", "delivered"},
		},
		{
			name:      "AsyncFailure",
			mix:       FailureMix{AsyncCodes: map[int]float64{131050: 1}},
			wantKinds: []string{"failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Small batches and several posters: the order must hold
			// anyway.
			b := setup(t, Config{Failures: tt.mix, WebhookBatch: 3, WebhookConcurrency: 4, WABAID: "waba-7", DisplayPhoneNumber: "15550783881"})

			const n = 20
			wamids := map[string]string{} // wamid → to
			for i := range n {
				to := fmt.Sprintf("+55119%08d", i)
				resp, err := b.send(t, promoMessage(to))
				require.NoError(t, err)
				wamids[resp.WAMID()] = to
			}
			b.drain(t)

			b.recv.mu.Lock()
			require.Zero(t, b.recv.badSig)
			b.recv.mu.Unlock()

			got := b.recv.received()
			for _, id := range got.entryIDs {
				require.Equal(t, "waba-7", id)
			}
			for _, md := range got.metadata {
				require.Equal(t, whatsapp.Metadata{DisplayPhoneNumber: "15550783881", PhoneNumberID: testPhone}, md)
			}

			kinds := map[string][]string{}
			for _, ev := range got.events {
				kinds[ev.wamid] = append(kinds[ev.wamid], ev.kind)
			}
			for _, s := range got.statuses {
				to, ok := wamids[s.ID]
				require.True(t, ok, "status for unknown wamid %s", s.ID)
				require.Equal(t, to[1:], s.RecipientID)
				require.Equal(t, "send:"+to, s.BizOpaqueCallbackData)
				_, err := s.Time()
				require.NoError(t, err)
				switch s.Status {
				case whatsapp.StatusSent, whatsapp.StatusDelivered:
					require.NotNil(t, s.Pricing)
					require.Equal(t, "PMP", s.Pricing.PricingModel)
					require.Equal(t, "regular", s.Pricing.Type)
					require.Equal(t, "marketing", s.Pricing.Category)
					require.True(t, *s.Pricing.Billable)
				case whatsapp.StatusRead:
					require.Nil(t, s.Pricing)
				case whatsapp.StatusFailed:
					require.Nil(t, s.Pricing)
					require.Len(t, s.Errors, 1)
					require.Equal(t, 131050, s.Errors[0].Code)
					require.NotEmpty(t, s.Errors[0].Title)
					require.NotEmpty(t, s.Errors[0].ErrorData.Details)
				}
			}
			inbound := map[string][]whatsapp.InboundMessage{}
			for _, m := range got.messages {
				require.NotNil(t, m.Context)
				to, ok := wamids[m.Context.ID]
				require.True(t, ok)
				require.Equal(t, to[1:], m.From)
				require.Equal(t, "15550783881", m.Context.From)
				require.NotEmpty(t, m.ID)
				inbound[m.Context.ID] = append(inbound[m.Context.ID], m)
			}
			require.Len(t, kinds, n)
			for wamid, k := range kinds {
				require.Equal(t, tt.wantKinds, k, "wamid %s", wamid)
				if tt.check != nil {
					tt.check(t, wamid, wamids[wamid], inbound[wamid])
				}
			}
		})
	}
}

func TestWebhookRetriesAndDrain(t *testing.T) {
	t.Parallel()

	t.Run("RetriedUntilDelivered", func(t *testing.T) {
		t.Parallel()
		recv := newReceiver(t, 2) // the first two POSTs answer 500
		b := setup(t, Config{WebhookURL: recv.srv.URL, WebhookMaxAttempts: 5})
		b.recv = recv

		resp, err := b.send(t, promoMessage("+5511987654321"))
		require.NoError(t, err)
		b.drain(t)

		got := recv.received()
		require.Len(t, got.statuses, 2)
		require.Equal(t, resp.WAMID(), got.statuses[0].ID)
		require.Equal(t, whatsapp.StatusSent, got.statuses[0].Status)
		require.Equal(t, whatsapp.StatusDelivered, got.statuses[1].Status)
		st := b.sim.Stats()
		require.Equal(t, 2, st.WebhookFailures)
		require.Equal(t, 2, st.WebhooksPosted)
		require.Zero(t, st.WebhooksDropped)
		require.Equal(t, map[string]int{"sent": 1, "delivered": 1}, st.Events)
	})

	t.Run("DroppedAfterMaxAttempts", func(t *testing.T) {
		t.Parallel()
		recv := newReceiver(t, 0)
		recv.secret = "not-the-simulator-secret" // every POST is refused
		b := setup(t, Config{WebhookURL: recv.srv.URL, WebhookMaxAttempts: 3})

		_, err := b.send(t, promoMessage("+5511987654321"))
		require.NoError(t, err)
		b.drain(t) // returns once the batch is given up

		st := b.sim.Stats()
		require.Equal(t, 3, st.WebhookFailures)
		require.Equal(t, 1, st.WebhooksDropped)
		require.Zero(t, st.WebhooksPosted)
		require.Empty(t, recv.received().statuses)
		recv.mu.Lock()
		require.Equal(t, 3, recv.badSig)
		recv.mu.Unlock()
	})

	t.Run("DrainHonoursContext", func(t *testing.T) {
		t.Parallel()
		recv := newReceiver(t, 0)
		// Not started: nothing posts, so Drain cannot finish.
		sim := New(Config{Templates: testTemplates(), WebhookURL: recv.srv.URL, AppSecret: testSecret}, nil)
		t.Cleanup(sim.Close)

		rec := sendDirect(t, sim, "+5511987654321")
		require.Equal(t, 200, rec)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, sim.Drain(ctx), context.Canceled)

		// Starting late delivers what was queued.
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sim.Start(ctx)
		require.NoError(t, sim.Drain(ctx))
		require.Len(t, recv.received().statuses, 2)
	})

	t.Run("DisabledWebhooksDrainAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{WebhookURL: "-"})
		_, err := b.send(t, promoMessage("+5511987654321"))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.NoError(t, b.sim.Drain(ctx))
		require.Zero(t, b.sim.Stats().WebhooksPosted)
	})
}

// runMix sends n sends (distinct recipients) through a simulator with mix
// and seed, waits for every webhook and returns the simulator.
func runMix(t *testing.T, mix FailureMix, seed int64, n int) *Server {
	t.Helper()
	recv := newReceiver(t, 0)
	sim := New(Config{
		Templates: testTemplates(), Failures: mix, Seed: seed, Rate: -1,
		WebhookURL: recv.srv.URL, AppSecret: testSecret, WebhookFlushInterval: 5 * time.Millisecond,
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(func() {
		sim.Close()
		cancel()
	})
	sim.Start(ctx)
	for i := range n {
		sendDirect(t, sim, fmt.Sprintf("+55119%08d", i))
	}
	require.NoError(t, sim.Drain(ctx))
	return sim
}

// requireShare asserts got/total is within tol of want.
func requireShare(t *testing.T, name string, got, total int, want, tol float64) {
	t.Helper()
	require.Positive(t, total, name)
	share := float64(got) / float64(total)
	require.InDelta(t, want, share, tol, "%s: %d of %d", name, got, total)
}

func TestFailureMixProportions(t *testing.T) {
	t.Parallel()

	mix := FailureMix{
		HTTP500:    0.05,
		SyncCodes:  map[int]float64{131026: 0.05, 131000: 0.02},
		AsyncCodes: map[int]float64{131049: 0.10, 131050: 0.05},
		Read:       0.5,
		Reply:      0.2, Click: 0.2, OptOut: 0.1,
	}
	const n = 3000
	sim := runMix(t, mix, 42, n)
	st := sim.Stats()

	// Tolerances are about four standard deviations for these counts.
	requireShare(t, "http500", st.HTTP500, n, 0.05, 0.015)
	requireShare(t, "sync 131026", st.Rejected[131026], n, 0.05, 0.015)
	requireShare(t, "sync 131000", st.Rejected[131000], n, 0.02, 0.01)
	require.Equal(t, n, st.Accepted+st.HTTP500+st.Rejected[131026]+st.Rejected[131000])
	require.Equal(t, st.Accepted, len(sim.Records()))

	requireShare(t, "async 131049", st.AsyncFailures[131049], st.Accepted, 0.10, 0.02)
	requireShare(t, "async 131050", st.AsyncFailures[131050], st.Accepted, 0.05, 0.015)
	require.Equal(t, st.Events["failed"], st.AsyncFailures[131049]+st.AsyncFailures[131050])
	require.Equal(t, st.Accepted, st.Events["sent"]+st.Events["failed"])
	require.Equal(t, st.Events["sent"], st.Events["delivered"])
	requireShare(t, "read", st.Events["read"], st.Events["delivered"], 0.5, 0.04)
	requireShare(t, "reply", st.Events["reply"], st.Events["read"], 0.2, 0.05)
	requireShare(t, "click", st.Events["click"], st.Events["read"], 0.2, 0.05)
	requireShare(t, "opt_out", st.Events["opt_out"], st.Events["read"], 0.1, 0.04)
	require.Zero(t, st.WebhooksDropped)

}

func TestFailureMixDeterministic(t *testing.T) {
	t.Parallel()

	mix := DefaultFailureMix()
	mix.AsyncCodes = map[int]float64{131049: 0.2}
	mix.HTTP500 = 0.1
	const n = 500
	first := runMix(t, mix, 42, n)
	again := runMix(t, mix, 42, n)
	other := runMix(t, mix, 43, n)

	// The same seed and the same requests meet the same fate.
	require.Equal(t, first.Stats().Events, again.Stats().Events)
	require.Equal(t, first.Stats().Rejected, again.Stats().Rejected)
	recs, recsAgain := first.Records(), again.Records()
	require.Len(t, recsAgain, len(recs))
	for i := range recs {
		require.Equal(t, recs[i].WAMID, recsAgain[i].WAMID)
		require.Equal(t, recs[i].To, recsAgain[i].To)
	}
	// Another seed does not.
	require.NotEqual(t, first.Stats().Events, other.Stats().Events)
}

func TestDefaultFailureMixDelivers(t *testing.T) {
	t.Parallel()

	const n = 2000
	st := runMix(t, DefaultFailureMix(), 7, n).Stats()
	require.GreaterOrEqual(t, float64(st.Events["delivered"]), 0.9*float64(n),
		"delivered %d of %d sent", st.Events["delivered"], n)
	requireShare(t, "async failures", st.Events["failed"], st.Accepted, 0.024, 0.01)
	requireShare(t, "read", st.Events["read"], st.Events["delivered"], 0.6, 0.04)
	require.Positive(t, st.Events["reply"])
	require.Positive(t, st.Events["click"])
	require.Positive(t, st.Events["opt_out"])
}
