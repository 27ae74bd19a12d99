// Package projection is stage 3's read side: the projector's half that keeps
// the read database — a database of its own, apart from the database of
// record — up to date, and the read model that answers the screens from it.
//
// The read database holds tables made for the screens (migrations/read):
// order_views, one denormalized row per order with everything the list
// shows, and order_history, one row per change for the order page. They are
// filled from events by Apply, which is idempotent and ordered per order by
// version: delivery is at least once, the effect is exactly once. When the
// events are not enough — stage 3 entered live after stages 0–2 changed
// orders without events — Reconcile copies the database of record's current
// state over.
//
// Every writer takes the table names from a Tables value, Live or Shadow, so
// that the read database can be rebuilt into a shadow copy while traffic
// goes on and swapped in when it has caught up (CreateShadow, SwapShadow).
//
// The error log (error_log) keeps the events the projector gave up on, and
// the later events of their orders held behind them, until Replay applies
// them again.
package projection
