package bitrix24test

// The operating-time limit of reference §7.2 is modelled by opLimiter (limits.go) and
// checked in Server.execute (pipeline.go): per method, per application or webhook, 10
// buckets of 60 s on the server's clock ([WithClock]), executions over 0.1 s recorded,
// the check before the call (429 OPERATION_TIME_LIMIT), "operating" and
// "operating_reset_at" in time and in each result_time entry, the limit set by
// [WithOperationTimeLimit] and each method's cost by [Server.SetMethodCost].

// OperationTimeLimitRefusals returns how many calls were refused with
// OPERATION_TIME_LIMIT, commands inside batches included.
func (s *Server) OperationTimeLimitRefusals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opRefused
}
