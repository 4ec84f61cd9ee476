package bitrix24

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's list of methods safe to repeat is what isIdempotent decides: every
// listed name and suffix is retried, and the code retries nothing the README omits.
func TestREADMEListsExactlyTheRetriedMethods(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	text := string(data)
	const marker = "Methods safe to repeat:"
	start := strings.Index(text, marker)
	require.GreaterOrEqual(t, start, 0, "README lost its list of methods safe to repeat")
	para := text[start:]
	if end := strings.Index(para, "\n\n"); end >= 0 {
		para = para[:end]
	}

	var names, suffixes []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(para, -1) {
		if s, ok := strings.CutPrefix(m[1], "."); ok {
			suffixes = append(suffixes, s)
		} else {
			names = append(names, m[1])
		}
	}
	var codeNames, codeSuffixes []string
	for m := range idempotentMethods {
		codeNames = append(codeNames, m)
	}
	for s := range idempotentSuffixes {
		codeSuffixes = append(codeSuffixes, s)
	}
	slices.Sort(names)
	slices.Sort(suffixes)
	slices.Sort(codeNames)
	slices.Sort(codeSuffixes)
	assert.Equal(t, codeNames, names, "README names vs idempotentMethods")
	assert.Equal(t, codeSuffixes, suffixes, "README suffixes vs idempotentSuffixes")

	// And the policy reads the lists as the README says: case-insensitive, last segment.
	for _, m := range names {
		assert.True(t, isIdempotent(strings.ToUpper(m)), m)
	}
	for _, s := range suffixes {
		assert.True(t, isIdempotent("crm.deal."+s), s)
		assert.True(t, isIdempotent("CRM.Deal."+strings.ToUpper(s)), s)
		assert.False(t, isIdempotent(s+".add"), s)
	}
	for _, m := range []string{"crm.item.add", "batch", "user.option.delete", "crm.deal.update", "app.option.get.extra.add"} {
		assert.False(t, isIdempotent(m), m)
	}
}
