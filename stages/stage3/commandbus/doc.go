// Package commandbus is stage 3's optional command bus (Config.CommandBus
// "async"): an operation beside the stage's core step, plugged in through
// seams rather than branches.
//
//   - Queue is a decorator of the write side: it checks each command's own
//     fields (Validate), queues it on the bus (Watermill's cqrs.CommandBus
//     over NATS JetStream) and acknowledges it as Accepted with its
//     command ID.
//   - Bus takes the commands off the bus, one message at a time across
//     instances, and applies them through the same command handlers as
//     sync mode; RecordApplied, part of the repository's change-log hook,
//     records the command as applied in the change's own transaction, so
//     that a redelivered command is applied once. The commands of
//     concurrent requests travel as one message, a group, stored with one
//     fsync (group.go) and applied in one write transaction
//     (handlegroup.go).
//   - CommandStatus and StatusRoute tell whether a queued command was
//     applied or rejected (GET /api/queries/commands/{id}); Rejections
//     decorates the read side so that the order page shows a command that
//     was accepted and then broke the order's rules.
package commandbus
