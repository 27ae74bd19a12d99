package metrics

// The names of Staircase's metrics, in one place so that dashboards and
// the tests that scrape /metrics read the same names the code writes.
// Code shows its figures from the metrics it holds, never by name.
const (
	HTTPRequests        = "staircase_http_requests_total"
	HTTPDuration        = "staircase_http_request_duration_seconds"
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
	ProjectionLastLag   = "staircase_projection_last_lag_seconds"
	ProjectionNewest    = "staircase_projection_newest_event_timestamp_seconds"
	BusPending          = "staircase_bus_pending_messages"
)

// Namespace prefixes the metrics that libraries register for Staircase
// (Watermill's router metrics: staircase_handler_execution_time_seconds …).
const Namespace = "staircase"
