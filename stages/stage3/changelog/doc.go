// Package changelog is stage 3's change log, a transactional outbox: the
// database of record's list of events, appended in the same transaction as
// the change they describe (no dual write: the change and its events commit
// or roll back together), and read in commit order by the relay that
// publishes them to the event bus.
//
// The write model's repository calls Append through Hook inside every save.
// Read hands out the entries no transaction can still precede, each with
// the Position to resume after; a reader keeps its position with
// SavePosition and LoadPosition. ForOrder, Each and Count serve history
// screens and rebuilds of the read database.
//
// Events are stored and sent as JSON. Marshal and Unmarshal are the
// envelope the event bus carries; both the bus and the table decode
// payloads through order.Decode, so events recorded in an older schema
// version (OrderPlaced v1, before currencies) are upcast when read.
package changelog
