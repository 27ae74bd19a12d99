package web

import "testing"

func TestOrderDetailShowsTheWholeIDAndWhereTheCancelReasonGoes(t *testing.T) {
	t.Run("whole_id_with_a_copy_button", func(t *testing.T) {
		d := sampleDetail()
		d.ID = "0190a1b2-c3d4-7e5f-8a6b-1234567890ab"
		doc := render(t, OrderDetailPage(testChrome(), d))
		assertText(t, byTestID(doc, "order-id"), d.ID)
		assertAttr(t, byTestID(doc, "copy-id"), "data-copy", "#order-id-value")
		assertAttr(t, byTestID(doc, "copy-id"), "type", "button")
		if byTestID(doc, "order-id").AttrOr("id", "") != "order-id-value" {
			t.Error("the copy button names no element")
		}
		assertCSPSafe(t, doc)
	})
	t.Run("a_stage_without_a_place_for_the_reason_says_so", func(t *testing.T) {
		d := allowAll(sampleDetail())
		ch := testChrome()
		doc := render(t, OrderDetailPage(ch, d))
		assertTestIDCount(t, doc, "cancel-reason-note", 1)
		assertAttr(t, byTestID(doc, "cancel-reason"), "aria-describedby", "cancel-reason-note")

		ch.Stage.KeepsCancelReason = true
		doc = render(t, OrderDetailPage(ch, d))
		assertTestIDCount(t, doc, "cancel-reason-note", 0)
		assertTestIDCount(t, doc, "cancel-reason", 1)
	})
}
