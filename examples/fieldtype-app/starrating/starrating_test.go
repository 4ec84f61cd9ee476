package starrating

import "testing"

func TestRating(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "5": 5, " 3 ": 3, "0": 0, "6": 0, "": 0, "x": 0} {
		if got := Rating(in); got != want {
			t.Errorf("Rating(%q) = %d, want %d", in, got, want)
		}
	}
	if Stars(2) != "★★☆☆☆" {
		t.Errorf("Stars(2) = %q", Stars(2))
	}
}
