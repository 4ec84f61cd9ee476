package bitrix24_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// realDir holds answers recorded from real portals (and the docs' examples); SOURCES.md
// says where each comes from.
const realDir = "testdata/real"

// realKind is how a corpus file reaches the SDK.
type realKind int

const (
	realCall      realKind = iota // a REST answer to one method: Call
	realBatch                     // a REST answer to batch: Batch
	realToken                     // an answer of the token endpoint: refresh and Exchange
	realEvent                     // an event POST: ParseEvent
	realPlacement                 // an app page or placement POST: ParseAppRequest
)

// realFile is one corpus file and the answers (or bodies) it holds.
type realFile struct {
	name    string
	kind    realKind
	answers []json.RawMessage // REST and token answers, and JSON renderings of events
	raw     []byte            // the file as it is
}

// realFiles reads every corpus file. A fast_bitrix24 module's "response" may hold a list
// of answers (the pages of one walk); each is replayed.
func realFiles(t *testing.T) []realFile {
	t.Helper()
	entries, err := os.ReadDir(realDir)
	require.NoError(t, err)
	var out []realFile
	for _, e := range entries {
		name := e.Name()
		if name == "SOURCES.md" || e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(realDir, name))
		require.NoError(t, err)
		f := realFile{name: name, raw: raw}
		switch ext := filepath.Ext(name); ext {
		case ".json":
			require.True(t, json.Valid(raw), name)
			f.answers = []json.RawMessage{raw}
		case ".pyrepr":
			v, err := pyLiteral(string(raw))
			require.NoError(t, err, name)
			f.answers = []json.RawMessage{v}
		case ".py":
			m, err := pyAssignments(string(raw))
			require.NoError(t, err, name)
			resp, ok := m["response"]
			require.True(t, ok, "%s has no response", name)
			if resp[0] == '[' {
				require.NoError(t, json.Unmarshal(resp, &f.answers), name)
			} else {
				f.answers = []json.RawMessage{resp}
			}
		case ".form", ".query":
		default:
			t.Fatalf("%s: unknown kind of corpus file", name)
		}
		f.kind = classify(f)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func classify(f realFile) realKind {
	switch {
	case strings.HasPrefix(f.name, "phpsdk_placement"):
		return realPlacement
	case strings.HasSuffix(f.name, ".form") || strings.HasPrefix(f.name, "docs_event"):
		return realEvent
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(f.answers[0], &top)
	if _, ok := top["access_token"]; ok || strings.Contains(f.name, "token") || strings.Contains(f.name, "oauth") || strings.Contains(f.name, "grant") {
		return realToken
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(top["result"], &inner) == nil {
		if _, ok := inner["result_error"]; ok {
			return realBatch
		}
	}
	return realCall
}

// TestRealCorpusSources: the corpus holds at least 40 files marked "recorded", and
// SOURCES.md names every file, and no file it does not hold.
func TestRealCorpusSources(t *testing.T) {
	t.Parallel()
	sources, err := os.ReadFile(filepath.Join(realDir, "SOURCES.md"))
	require.NoError(t, err)
	listed := map[string]string{}
	for _, line := range strings.Split(string(sources), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		kind := strings.TrimSpace(cells[2])
		require.Contains(t, []string{"recorded", "docs"}, kind, name)
		require.NotEmpty(t, strings.TrimSpace(cells[3]), "%s: repository", name)
		require.NotEmpty(t, strings.TrimSpace(cells[5]), "%s: commit or URL", name)
		listed[name] = kind
	}
	recorded := 0
	files := realFiles(t)
	for _, f := range files {
		kind, ok := listed[f.name]
		require.True(t, ok, "%s is not in SOURCES.md", f.name)
		if kind == "recorded" {
			recorded++
		}
		delete(listed, f.name)
	}
	require.Empty(t, listed, "SOURCES.md lists files the corpus lacks")
	require.GreaterOrEqual(t, recorded, 40)
	kinds := map[realKind]int{}
	for _, f := range files {
		kinds[f.kind]++
	}
	for _, k := range []realKind{realCall, realBatch, realToken, realEvent, realPlacement} {
		require.NotZero(t, kinds[k], "no corpus file of kind %d", k)
	}
}
