package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestActionFor(t *testing.T) {
	t.Parallel()

	tests := []struct {
		codes []int
		want  Action
	}{
		{[]int{1, 2, 131000, 131016, 131057, CodeHTTPUnparsed}, ActionRetry},
		{[]int{130429, 4, 80007}, ActionSlowDown},
		{[]int{131056}, ActionRetryRecipientLater},
		{[]int{131049, 130472}, ActionDefer},
		{[]int{131026, 131009, 131021, 130403, 130497, 131051, 131053, 132005, 100, 135000, 131047}, ActionFailRecipient},
		{[]int{131050}, ActionOptOut},
		{[]int{131008, 132000, 132001, 132007, 132012, 132015, 132016, 131048, 131064}, ActionPauseCampaign},
		{[]int{0, 3, 10, 190, 200, 250, 299, 131005, 131031, 131042, 131045, 133010, 368}, ActionStopSender},
		// Unknown codes, and the edges of the 200-299 range.
		{[]int{199, 300, 999999, 2388019, -2}, ActionFailRecipient},
	}
	for _, tt := range tests {
		for _, code := range tt.codes {
			t.Run(fmt.Sprintf("%d", code), func(t *testing.T) {
				t.Parallel()
				require.Equal(t, tt.want, ActionFor(code), "code %d", code)
			})
		}
	}
}

func TestActionString(t *testing.T) {
	t.Parallel()

	want := map[Action]string{
		0:                         "none",
		ActionRetry:               "retry",
		ActionSlowDown:            "slow_down",
		ActionRetryRecipientLater: "retry_recipient_later",
		ActionDefer:               "defer",
		ActionFailRecipient:       "fail_recipient",
		ActionOptOut:              "opt_out",
		ActionPauseCampaign:       "pause_campaign",
		ActionStopSender:          "stop_sender",
		ActionReconcile:           "reconcile",
		42:                        "action(42)",
	}
	for a, s := range want {
		require.Equal(t, s, a.String())
	}
}

func TestCodeTitle(t *testing.T) {
	t.Parallel()

	require.Equal(t, "Message undeliverable", CodeTitle(131026))
	require.Equal(t, "Rate limit hit", CodeTitle(130429))
	require.Equal(t, "API permission denied", CodeTitle(213))
	require.Equal(t, "Error 4242", CodeTitle(4242))
	for code, info := range codes {
		require.NotEmpty(t, info.title, "code %d", code)
	}
}

func TestActionForError(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		err  error
		want Action
	}{
		{"Nil", nil, 0},
		{"OutcomeUnknown", fmt.Errorf("send template x: %w: %w", ErrOutcomeUnknown, context.DeadlineExceeded), ActionReconcile},
		{"NetworkBeforeWrite", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ActionRetry},
		{"WrappedAPIError", fmt.Errorf("send template x: %w", &Error{HTTPStatus: 400, Code: 131050}), ActionOptOut},
		{"Throughput400", &Error{HTTPStatus: 400, Code: 130429}, ActionSlowDown},
		{"Any429", &Error{HTTPStatus: 429, Code: 131000}, ActionSlowDown},
		{"PairLimit429StaysPerRecipient", &Error{HTTPStatus: 429, Code: 131056}, ActionRetryRecipientLater},
		{"Unparsed500", &Error{HTTPStatus: 500, Code: CodeHTTPUnparsed}, ActionRetry},
		{"Unparsed401", &Error{HTTPStatus: 401, Code: CodeHTTPUnparsed}, ActionStopSender},
		{"TokenExpired", &Error{HTTPStatus: 401, Code: 190}, ActionStopSender},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, ActionForError(tt.err))
		})
	}
}
