package bitrix24

import "github.com/b24go/bitrix24/internal/leakybucket"

// NewLeakyBucket returns the limiter a Client paces itself with by default
// (WithRateLimit): a mirror of the portal's leaky bucket that drains perSecond requests a
// second and admits up to burst at once, less a few slots of headroom so that requests
// squeezed together on their way still fit the portal's counter (burst 50 admits 47 at
// once, burst 250 admits 237; the sustained rate is not reduced).
//
// Share one with WithLimiter between clients of one portal in one process, or use it as
// a fallback of a shared limiter. perSecond <= 0 means unlimited; burst < 1 is 1. Wait
// returns ctx's error when ctx ends first, gives the slot back, and fails at once (with
// an error matching context.DeadlineExceeded) when the next slot is after ctx's deadline.
func NewLeakyBucket(perSecond float64, burst int) Limiter {
	return leakybucket.New(perSecond, burst)
}
