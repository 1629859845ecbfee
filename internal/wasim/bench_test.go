package wasim

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSend measures a template send through the real client, without
// webhooks.
func BenchmarkSend(b *testing.B) {
	bn := setup(b, Config{WebhookURL: "-", Rate: -1})
	b.ResetTimer()
	for i := range b.N {
		if _, err := bn.client.SendTemplate(context.Background(), testPhone, promoMessage(fmt.Sprintf("+55119%08d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendWithWebhooks measures the whole path of a message: the send
// and every webhook it causes, until Drain returns.
func BenchmarkSendWithWebhooks(b *testing.B) {
	bn := setup(b, Config{Rate: -1, Failures: DefaultFailureMix()})
	b.ResetTimer()
	for i := range b.N {
		// The default mix refuses a few sends; they are part of the path.
		_, _ = bn.client.SendTemplate(context.Background(), testPhone, promoMessage(fmt.Sprintf("+55119%08d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bn.sim.Drain(ctx); err != nil {
		b.Fatal(err)
	}
}
