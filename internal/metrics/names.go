package metrics

// The names of Staircase's metrics, shared by what counts them (stage 3,
// the BFF) and what shows them (the architecture page), so the two cannot
// drift apart.
const (
	HTTPRequests        = "staircase_http_requests_total"
	StageActive         = "staircase_stage_active"
	SideRequests        = "staircase_cqrs_requests_total"
	BusCommands         = "staircase_command_bus_commands_total"
	RelayPublished      = "staircase_relay_events_published_total"
	ProjectorApplied    = "staircase_projector_events_applied_total"
	ProjectorDuplicate  = "staircase_projector_events_duplicate_total"
	ProjectorGapRetries = "staircase_projector_gap_retries_total"
	ProjectorParked     = "staircase_projector_events_parked_total"
	ProjectorHeld       = "staircase_projector_events_held_total"
	ProjectionLag       = "staircase_projection_lag_seconds"
	ProjectionNewest    = "staircase_projection_newest_event_timestamp_seconds"
	BusPending          = "staircase_bus_pending_messages"
)
