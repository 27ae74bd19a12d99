package bff

import (
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/order"
)

// TestAQueuedCommandSaysQueuedUntilApplied: a command the command bus only
// queued (an ack with Accepted) is not "saved": the order page says it is
// queued, whether the registry or only the redirect knows it.
func TestAQueuedCommandSaysQueuedUntilApplied(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	id := testPlace(t, st, "Queued Quinn")
	st.catchUp(id)

	// This process queued the ship: the ack says v1 and Accepted.
	s.writes.recordStatus(id, ackVersion(order.Ack{ID: id, Version: 1, Accepted: true}), order.Shipped)
	s.writes.recordAck(id, order.Ack{ID: id, Version: 1, Accepted: true})
	_, doc := get(t, s, "/orders/"+id.String()+"?v=2")
	banner := strings.TrimSpace(doc.Find(`[data-testid="syncing-banner"]`).Text())
	if !strings.HasPrefix(banner, "Queued — the change becomes v2 when the command handler applies it") || strings.Contains(banner, "Saved") {
		t.Errorf("queued banner %q", banner)
	}

	// Another instance queued it: only the redirect says so.
	other := testPlace(t, st, "Other Olga")
	st.catchUp(other)
	_, doc = get(t, s, "/orders/"+other.String()+"?done=accepted&v=2")
	if banner := doc.Find(`[data-testid="syncing-banner"]`).Text(); !strings.Contains(banner, "Queued") {
		t.Errorf("banner after an accepted redirect %q", banner)
	}
	// An applied command is saved.
	_, doc = get(t, s, "/orders/"+other.String()+"?done=ship&v=2")
	if banner := doc.Find(`[data-testid="syncing-banner"]`).Text(); !strings.HasPrefix(strings.TrimSpace(banner), "Saved as v2") {
		t.Errorf("banner after an applied command %q", banner)
	}
}
