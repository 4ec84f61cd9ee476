package bitrix24redis

import "time"

// everyTick calls f every d on its own goroutine until f returns false or stop is called.
// stop waits for a call of f under way to end; call it once.
func everyTick(d time.Duration, f func() bool) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			if !f() {
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
