package bitrix24

import "time"

// SetAppClock replaces the clock of a's verification cache (before a's first use).
func SetAppClock(a *App, now func() time.Time) {
	st := a.st()
	st.mu.Lock()
	st.now = now
	st.mu.Unlock()
}
